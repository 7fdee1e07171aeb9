"""Includes, library sections, ``.func``/``.if`` resolution and subcircuit structure.

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset).
"""

from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass, field, replace

from eqprop_hw.errors import NetlistError
from eqprop_hw.circuit.spice_import.lines import (Line, MAX_FILE_BYTES, VENDOR_NAME_RE,
                                                  check_node_name, fail, first_word, logical_lines,
                                                  read_text, split_tokens, unquote)
from eqprop_hw.circuit.spice_import.expressions import (GROUP_RE, MAX_FUNCTIONS,
                                                        evaluate_expression, expand_calls,
                                                        func_definition, params_list,
                                                        split_positional)


#: Deepest chain of ``.include``/``.lib`` files.
MAX_INCLUDE_DEPTH = 8

#: Most ``.include``/``.lib`` files read by one import, counting every repeat (guards against
#: a file including the next one many times at each level: fan-out ** depth reads).
MAX_INCLUDED_FILES = 1000

#: Most bytes read by one import over all its included files together.
MAX_INCLUDED_BYTES = MAX_FILE_BYTES

#: Deepest nesting of ``.if`` blocks.
MAX_IF_DEPTH = 16


@dataclass
class _Subckt:
    name: str
    pins: list
    defaults: list
    where: Line
    body: list = field(default_factory=list)

    def local_elements(self) -> frozenset:
        """Upper-case names of the elements defined directly in the body."""
        return frozenset(first_word(line.text).upper() for line in self.body
                         if not line.meta and not line.text.startswith("."))


@dataclass
class Scope:
    """Name mapping of one (sub)circuit level: ``path`` is ``""`` at top level."""

    path: str
    params: dict
    pins: dict = field(default_factory=dict)
    local: frozenset = frozenset()
    where: Line | None = None
    globals: frozenset = frozenset()

    def node(self, local: str) -> str:
        if not self.path or local == "0" or local in self.globals:
            return local
        return self.pins.get(local, f"{local}_{self.path.lower()}")

    def creates(self, local: str) -> bool:
        """Whether this level owns the node (not ground, not a pin, not a .global node)."""
        return local != "0" and local not in self.pins and \
            (not self.path or local not in self.globals)

    def element(self, local: str) -> str:
        return f"{local}_{self.path}" if self.path else local

    def control(self, local: str) -> str:
        return self.element(local) if local in self.local else local

    def describe(self) -> str:
        return f"instance {self.path}" if self.path else "the top level"


def _subckt_header(line: Line, node_name=None) -> _Subckt:
    """Parse ``.subckt NAME pins... [params:] a=1 ...``."""
    words = [t.text for t in split_tokens(line.text, line)][1:]
    positional, assigns = split_positional(words)
    if not positional:
        fail(".subckt needs a name: .subckt NAME pin1 pin2 ...", line)
    name = positional[0].upper()
    if not VENDOR_NAME_RE.fullmatch(name) or len(name) > 128:
        fail(f"invalid subcircuit name {positional[0]!r} (letters, digits, '_', '.', '+', "
              "'-')", line)
    pins = []
    for pin in positional[1:]:
        node = (node_name or check_node_name)(pin, line, f"subcircuit {name}")
        if node == "0":
            fail(f"subcircuit {name}: ground cannot be a pin", line)
        if node in pins:
            fail(f"subcircuit {name}: pin {node!r} listed twice", line)
        pins.append(node)
    return _Subckt(name, pins, params_list(assigns, line, f"subcircuit {name}"), line)


class StructureReader:
    """Includes, library sections, ``.func``/``.if`` resolution and subcircuit structure.

    A part of :class:`eqprop_hw.circuit.spice_import.importer.Importer` (the state lives there).
    """

    def functions(self, lines: list) -> list:
        """Take the top-level ``.func`` definitions out and expand their calls in values.

        ``.func NAME(a, b) {body}`` (also ``= {body}``, ``'body'``): the body may call math
        functions and functions defined BEFORE it, so there is no recursion; a call is
        replaced by the body with each argument parenthesized, inside ``{...}`` and
        ``'...'`` values, and the expanded value must stay within :data:`MAX_EXPR_CHARS`
        (a doubling bomb is refused). At most :data:`MAX_FUNCTIONS` definitions.
        """
        funcs, out, depth = {}, [], 0
        for line in lines:
            word = "" if line.meta else first_word(line.text).lower()
            depth += (word == ".subckt") - (word == ".ends")
            if word != ".func":
                out.append(line)
                continue
            if depth > 0:
                fail(".func inside a subcircuit is not supported (define it at the top "
                      "level); refused", line)
            if len(funcs) >= MAX_FUNCTIONS:
                fail(f"more than {MAX_FUNCTIONS} .func definitions", line)
            name, args, body = func_definition(line, funcs)
            funcs[name] = (args, body)
        if not funcs:
            return lines
        return [line if line.meta or not GROUP_RE.search(line.text) else
                replace(line, text=expand_calls(line.text, funcs, line))
                for line in out]

    def conditionals(self, lines: list) -> list:
        """Resolve top-level ``.if (c)`` / ``.elseif (c)`` / ``.else`` / ``.endif`` blocks.

        Conditions are constant expressions over the ``.param`` values defined before them
        (at the top level, in branches taken); the lines of branches not taken are left out
        and noted. Blocks nest at most :data:`MAX_IF_DEPTH` deep; a block inside a subcircuit
        (its condition could depend on instance parameters) is refused.
        """
        out, params, stack, in_subckt = [], {}, [], 0
        for line in lines:
            word = "" if line.meta else first_word(line.text).lower()
            if word in (".if", ".elseif", ".else", ".endif"):
                if in_subckt:
                    fail(f"{word} inside a subcircuit is not supported; refused", line)
                self._conditional(word, line, params, stack)
                continue
            if stack and not all(frame["active"] for frame in stack):
                continue
            in_subckt += (word == ".subckt") - (word == ".ends")
            if word == ".param" and not in_subckt:
                self._param(line, params)
            out.append(line)
        if stack:
            fail(".if block is never closed: no .endif before the end of the file",
                  stack[-1]["line"])
        return out

    def _conditional(self, word: str, line: Line, params: dict, stack: list) -> None:
        """One ``.if``-family card: update the stack of open blocks."""
        outer = all(frame["active"] for frame in stack)
        if word == ".if":
            if len(stack) >= MAX_IF_DEPTH:
                fail(f".if blocks nested deeper than {MAX_IF_DEPTH}", line)
            taken = outer and self._condition(line, params)
            stack.append({"line": line, "active": taken, "done": taken, "else": False,
                          "start": line})
            return
        if not stack:
            fail(f"{word} without a matching .if", line)
        frame, outer = stack[-1], all(frame["active"] for frame in stack[:-1])
        if not frame["active"] and outer:
            self.note("left out", f".if branch not taken ({self.where(frame['start'], line.line)})")
        if word == ".endif":
            stack.pop()
            return
        if frame["else"]:
            fail(f"{word} after .else (the .if at line {frame['line'].line})", line)
        frame["start"] = line
        if word == ".else":
            frame["else"] = True
            frame["active"] = outer and not frame["done"]
        else:
            frame["active"] = outer and not frame["done"] and self._condition(line, params)
        frame["done"] = frame["done"] or frame["active"]

    @staticmethod
    def _condition(line: Line, params: dict) -> bool:
        """The value of ``.if (expr)`` / ``.elseif (expr)``: nonzero is true."""
        text = line.text.split(None, 1)[1].strip() if len(line.text.split()) > 1 else ""
        if not (text.startswith("(") and text.endswith(")")):
            fail(f"{first_word(line.text).lower()} needs a condition in parentheses, e.g. "
                  ".if (a == 1)", line)
        try:
            return evaluate_expression(text, params) != 0
        except ValueError as error:
            fail(f"{first_word(line.text).lower()} {text[:40]}: cannot evaluate: {error} "
                  "(conditions may use .param values defined before them)", line)

    # -- reading and includes ---------------------------------------------------------
    def expand(self, lines: list, directory: Path | None, depth: int, stack: tuple) -> list:
        """Expand includes and library sections; drop .control blocks (or refuse them)."""
        out, index = [], 0
        while index < len(lines):
            line = lines[index]
            word = "" if line.meta else first_word(line.text).lower()
            if word == ".end":
                break
            if word == ".control":   # never run, never written: left out and noted
                end = self._skip_to(lines, index, ".endc")
                self.note("left out", f".control block ({self.where(line, lines[end].line)})")
                index = end
            elif word in (".include", ".inc"):
                out += self._include(line, directory, depth, stack)
            elif word == ".lib":
                args = [t.text for t in split_tokens(line.text, line)][1:]
                if len(args) == 1:
                    index = self._section_end(lines, index, unquote(args[0]).lower())
                elif len(args) == 2:
                    out += self._library(line, args, directory, depth, stack)
                else:
                    fail(".lib takes a file and a section: .lib FILE SECTION", line)
            elif word in (".endc", ".endl"):
                fail(f"{word} without a matching "
                      f"{'.control' if word == '.endc' else '.lib SECTION'}", line)
            else:
                out.append(line)
            index += 1
        return out

    @staticmethod
    def _skip_to(lines: list, index: int, end: str) -> int:
        """Index of the line closing the block opened at ``index``.

        Raises NetlistError (at the opening line) when nothing closes it: the rest of the
        file would otherwise be dropped without a word.
        """
        for position in range(index + 1, len(lines)):
            if not lines[position].meta and first_word(lines[position].text).lower() == end:
                return position
        fail(f"{first_word(lines[index].text).lower()} block is never closed: no {end} "
              "before the end of the file", lines[index])

    @staticmethod
    def _section_end(lines: list, index: int, section: str) -> int:
        """Index of the ``.endl`` closing the ``.lib SECTION`` definition opened at ``index``.

        Raises NetlistError, at the opening line, when the section has no ``.endl`` (before
        the end of the file or before the next ``.lib SECTION``), and at the ``.endl`` when
        it names another section: either would silently drop or merge elements.
        """
        for position in range(index + 1, len(lines)):
            entry = lines[position]
            words = [] if entry.meta else entry.text.split()
            word = words[0].lower() if words else ""
            if word == ".endl":
                if len(words) > 1 and unquote(words[1]).lower() != section:
                    fail(f".endl {words[1]} closes section {section!r} (opened at line "
                          f"{lines[index].line}): the names differ", entry)
                return position
            if word == ".lib" and len(words) == 2:
                fail(f".lib section {section!r} has no .endl before .lib {words[1]} at line "
                      f"{entry.line}", lines[index])
        fail(f".lib section {section!r} has no .endl before the end of the file",
              lines[index])

    def _resolve(self, line: Line, name: str, directory: Path | None) -> Path:
        """The included file, which must lie inside the netlist's folder."""
        card = first_word(line.text).lower()
        if not name:
            fail(f"{card} needs a file name", line)
        if self.root is None or directory is None:
            fail(f"{card} {name}: cannot include files into a netlist given as text without "
                  "base_dir; import the netlist file instead", line)
        try:
            candidate = Path(name)
            resolved = (candidate if candidate.is_absolute() else directory / candidate).resolve()
        except (OSError, RuntimeError, ValueError) as error:
            fail(f"{card} {name}: cannot resolve the path ({error})", line)
        if not self.allow_unsafe and not resolved.is_relative_to(self.root):
            fail(f"{card} {name} refused: it resolves to {resolved}, outside the netlist's "
                  f"folder {self.root}; only files inside that folder may be included "
                  "(copy the file there)", line)
        try:
            regular = resolved.is_file()
        except OSError:
            regular = False
        if not regular:
            fail(f"{card} {name}: no such file {resolved} (or not a regular file)", line)
        return resolved

    def _read_included(self, line: Line, resolved: Path, key: tuple, depth: int,
                       stack: tuple) -> list:
        if key in stack:
            fail(f"recursive {first_word(line.text).lower()}: {resolved} is already being "
                  "read (a file includes itself)", line)
        if depth >= MAX_INCLUDE_DEPTH:
            fail(f"includes nested deeper than {MAX_INCLUDE_DEPTH} files", line)
        self.included_files += 1
        if self.included_files > MAX_INCLUDED_FILES:
            fail(f"more than {MAX_INCLUDED_FILES} .include/.lib files read in all "
                  "(counting repeats)", line)
        text = read_text(resolved, str(resolved))
        self.included_bytes += len(text.encode("utf-8"))
        if self.included_bytes > MAX_INCLUDED_BYTES:
            fail(f"included files add up to more than {MAX_INCLUDED_BYTES} bytes "
                  "(counting repeats)", line)
        _title, lines = logical_lines(text, str(resolved), main=False)
        return lines

    def _include(self, line: Line, directory, depth: int, stack: tuple) -> list:
        args = [t.text for t in split_tokens(line.text, line)][1:]
        if len(args) != 1:
            fail(".include takes one file name: .include FILE", line)
        resolved = self._resolve(line, unquote(args[0]), directory)
        key = (resolved, None)
        lines = self._read_included(line, resolved, key, depth, stack)
        return self.expand(lines, resolved.parent, depth + 1, stack + (key,))

    def _library(self, line: Line, args: list, directory, depth: int, stack: tuple) -> list:
        resolved = self._resolve(line, unquote(args[0]), directory)
        section = unquote(args[1]).lower()
        key = (resolved, section)
        lines = self._read_included(line, resolved, key, depth, stack)
        found = []
        for position, entry in enumerate(lines):
            words = [] if entry.meta else entry.text.split()
            if len(words) == 2 and words[0].lower() == ".lib" and \
                    unquote(words[1]).lower() == section:
                found.append(position)
        if not found:
            fail(f".lib {args[0]} {args[1]}: section {args[1]!r} not found in {resolved}", line)
        if len(found) > 1:
            fail(f".lib {args[0]} {args[1]}: section {args[1]!r} is defined twice in "
                  f"{resolved} (lines {lines[found[0]].line} and {lines[found[1]].line})", line)
        try:
            end = self._section_end(lines, found[0], section)
        except NetlistError as error:
            fail(f".lib {args[0]} {args[1]}: {error}", line)
        body = lines[found[0] + 1:end]
        return self.expand(body, resolved.parent, depth + 1, stack + (key,))

    # -- structure ----------------------------------------------------------------------
    def split(self, lines: list) -> tuple[list, list]:
        """Separate top-level lines, metadata and (hoisted) subcircuit definitions."""
        top, meta, open_defs = [], [], []
        for line in lines:
            if line.meta:
                if not open_defs:
                    meta.append(line)
                continue
            word = first_word(line.text).lower()
            if word == ".subckt":
                sub = _subckt_header(line, self.node)
                if sub.name in self.subckts or any(d.name == sub.name for d in open_defs):
                    first = self.subckts.get(sub.name) or next(d for d in open_defs
                                                                if d.name == sub.name)
                    fail(f"subcircuit {sub.name} defined twice (first at line "
                          f"{first.where.line})", line)
                open_defs.append(sub)
            elif word == ".ends":
                if not open_defs:
                    fail(".ends without a matching .subckt", line)
                sub = open_defs.pop()
                words = line.text.split()
                if len(words) > 1 and words[1].upper() != sub.name:
                    fail(f".ends {words[1]} closes subcircuit {sub.name} (opened at line "
                          f"{sub.where.line})", line)
                self.subckts[sub.name] = sub
            elif open_defs:
                open_defs[-1].body.append(line)
            else:
                top.append(line)
        if open_defs:
            fail(f"subcircuit {open_defs[-1].name} has no .ends", open_defs[-1].where)
        return top, meta
