"""Reading netlist text: logical lines, tokens, names and located errors.

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset).
"""

from __future__ import annotations

import re
from pathlib import Path
from dataclasses import dataclass

from eqprop_hw.errors import NetlistError
from eqprop_hw.io.fileio import read_bounded


#: Largest netlist or included file read (bytes).
MAX_FILE_BYTES = 64 * 1024 * 1024

_ELEMENT_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]*")


NODE_RE = re.compile(r"[a-z0-9_]+")

#: Vendor node names (``in+``, ``out-``, ``n.1``, ``vdd!``) mapped to grammar names.
VENDOR_NODE_RE = re.compile(r"[a-z0-9_][a-z0-9_+\-.#!]*", re.A)

NODE_CHAR_MAP = {"+": "_p", "-": "_n", ".": "_", "#": "_h", "!": "_x"}


#: Vendor model and subcircuit names (``1N4148``, ``nch.1``, ``f-p-det``).
VENDOR_NAME_RE = re.compile(r"[A-Z0-9_][A-Z0-9_.+\-]*", re.A)

PARAM_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")


KV_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.S)

_BAD_CHAR_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")

_EOL_DOLLAR_RE = re.compile(r"\$(?=\s|$)")


_GROUPING = re.compile(r"[(){}',=]")


@dataclass(frozen=True)
class Line:
    """One logical netlist line (continuations joined, comments stripped)."""

    text: str
    source: str
    line: int
    meta: bool = False
    #: The ``+`` continuation lines joined into ``text``, as ``(line number, text after the
    #: '+')``: CIDER models read each one as a sub-card (:mod:`eqprop_hw.circuit.cider`).
    parts: tuple = ()


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int


def fail(message: str, where: Line | None = None):
    """Raise a NetlistError located at ``where``."""
    if where is None:
        raise NetlistError(message)
    raise NetlistError(message, where.source, where.line)


def split_tokens(text: str, where: Line) -> list[_Token]:
    """Split on blanks and commas, keeping ``(...)``, ``{...}`` and ``'...'`` groups whole.

    ``key = value`` is merged into one ``key=value`` token.
    """
    if _GROUPING.search(text) is None:
        return [_Token(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    raw, position, n = [], 0, len(text)
    closing = {"(": ")", "{": "}"}
    while position < n:
        if text[position].isspace() or text[position] == ",":
            position += 1
            continue
        start, stack = position, []
        while position < n:
            char = text[position]
            if stack and stack[-1] == "'":
                if char == "'":
                    stack.pop()
            elif char in closing:
                stack.append(closing[char])
            elif char == "'":
                stack.append("'")
            elif char in ")}":
                if not stack or stack[-1] != char:
                    fail(f"unbalanced {char!r} at column {position + 1}", where)
                stack.pop()
            elif not stack and (char.isspace() or char == ","):
                break
            position += 1
        if stack:
            fail(f"unclosed group starting at column {start + 1} (missing {stack[-1]!r})",
                  where)
        raw.append(_Token(text[start:position], start, position))
    return _merge_equals(raw)


def _merge_equals(tokens: list[_Token]) -> list[_Token]:
    """Join ``a = b``, ``a= b`` and ``a =b`` into single ``a=b`` tokens."""
    out: list[_Token] = []
    for token in tokens:
        if out and (out[-1].text.endswith("=") or token.text.startswith("=")):
            last = out.pop()
            token = _Token(last.text + token.text, last.start, token.end)
        out.append(token)
    return out


def first_word(text: str) -> str:
    return text.split(None, 1)[0] if text.strip() else ""


def check_element_name(text: str, where: Line) -> str:
    """Upper-case element name, validated."""
    name = text.upper()
    if not _ELEMENT_NAME_RE.fullmatch(name):
        fail(f"invalid element name {text!r}: use letters, digits and '_' only, starting with "
              "the element letter", where)
    return name


def check_node_name(text: str, where: Line, element: str) -> str:
    """Lower-case node name (``gnd`` -> ``0``), validated."""
    node = text.lower()
    if node == "gnd":
        return "0"
    if not NODE_RE.fullmatch(node):
        fail(f"{element}: invalid node name {text!r}: use letters, digits and '_' only", where)
    return node


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def is_expression(text: str) -> bool:
    return len(text) >= 2 and ((text[0] == "{" and text[-1] == "}") or
                               (text[0] == "'" and text[-1] == "'"))


def read_text(path: Path, source: str) -> str:
    """Read a file as UTF-8 (else Latin-1), size-limited; errors name the file.

    At most :data:`MAX_FILE_BYTES` bytes are read (counted as read, so a FIFO or a device
    cannot stream forever: both are refused as not regular files). A file that is not UTF-8
    is read as Latin-1 (vendor netlists carry ``\xb5`` or ``\xe9`` in comments); the code
    itself must still be ASCII, which :func:`logical_lines` checks line by line."""
    data = read_bounded(path, MAX_FILE_BYTES, NetlistError, "netlist")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _strip_comment(text: str) -> str:
    """Remove ``;`` and ``$ `` end-of-line comments."""
    cut = text.find(";")
    if cut < 0:
        cut = len(text)
    dollar = _EOL_DOLLAR_RE.search(text, 0, cut)
    if dollar is not None:
        cut = dollar.start()
    return text[:cut].rstrip()


def logical_lines(text: str, source: str, main: bool) -> tuple[str | None, list[Line]]:
    """Split text into the title (main file only) and logical lines.

    Metadata (``*@``) lines are kept (flagged) in the main file and are comments elsewhere.
    """
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    title, out, last_card, continued = None, [], None, {}
    for index, raw in enumerate(physical):
        lineno = index + 1
        if raw.endswith("\r"):
            raw = raw[:-1]
        bad = _BAD_CHAR_RE.search(raw)
        if bad is not None:
            what = "NUL byte" if bad.group() == "\x00" else \
                f"control character U+{ord(bad.group()):04X}"
            raise NetlistError(f"{what} in netlist text (binary or corrupted file?)", source,
                               lineno)
        if main and index == 0:
            title = raw.strip()
            continue
        stripped = raw.strip()
        if not stripped or (stripped.startswith("*") and not (main and stripped.startswith("*@"))):
            continue
        content = stripped[2:].strip() if stripped.startswith("*@") else _strip_comment(stripped)
        if not content:
            continue
        odd = _NON_ASCII_RE.search(content)
        if odd is not None:
            raise NetlistError(f"non-ASCII character {odd.group()!r} outside a comment "
                               "(SPICE netlists are ASCII)", source, lineno)
        if stripped.startswith("*@"):
            out.append(Line(content, source, lineno, meta=True))
        elif content.startswith("+"):
            if last_card is None:
                raise NetlistError("continuation line '+' with no line before it to continue",
                                   source, lineno)
            continued.setdefault(last_card, []).append((lineno, content[1:].strip()))
        else:
            out.append(Line(content, source, lineno))
            last_card = len(out) - 1
    for index, parts in continued.items():   # joined once: linear in the number of lines
        previous = out[index]
        out[index] = Line(" ".join([previous.text] + [text for _number, text in parts]),
                          previous.source, previous.line, parts=tuple(parts))
    return title, out
