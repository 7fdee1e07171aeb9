"""The strict grammar of every string that eqprop-hw writes into a SPICE netlist.

A netlist is a program for ngspice: a line break inside a name or an expression would start a
new line, and a new line can be a ``.control`` block that runs shell commands. So every string
that reaches a netlist line passes this module twice: when a spec is loaded (the error names the
file and line) and again in the netlist writers (so no path goes around it). Strings are
checked, never escaped: anything outside the grammar is refused.

Names (``re.fullmatch``, ASCII only: no whitespace or control character of any kind can pass)

=========  ======================================  ====  ==================================
kind       characters                              max   where
=========  ======================================  ====  ==================================
element    ``[A-Z][A-Z0-9_]*`` (first: its type)   128   element lines, ``alter`` commands
node       ``[a-z0-9_]+``                          128   element lines, ``v(...)``
model      ``[A-Z][A-Z0-9_]*``                     128   ``.model`` and diode lines
parameter  ``[A-Z][A-Z0-9]*``                      16    ``.model`` parameter keys
port       ``[A-Za-z0-9_][A-Za-z0-9_.+-]*``        64    ``*@ input`` / ``*@ output`` lines
title      ``[A-Za-z0-9_][A-Za-z0-9_.-]*``         80    the title line (the spec's name)
cider      ``[a-z][a-z0-9]*([.][a-z0-9]+)*``       16    CIDER sub-card keywords (``x.mesh``)
=========  ======================================  ====  ==================================

Behavioural expressions (``V=expr`` or ``I=expr`` of a B source) are parsed by a recursive-
descent parser, not pattern-matched; the grammar (lowest precedence first)::

    source   := ('V' | 'I') '=' expr
    expr     := or ('?' expr ':' expr)?
    or       := and ('||' and)*
    and      := compare ('&&' compare)*
    compare  := sum (('<' | '>' | '<=' | '>=' | '==' | '!=') sum)*
    sum      := product (('+' | '-') product)*
    product  := unary (('*' | '/') unary)*
    unary    := ('-' | '+' | '!') unary | power
    power    := primary (('^' | '**') unary)?
    primary  := NUMBER | CONSTANT | FUNCTION '(' expr (',' expr)* ')'
              | 'v(' NODE (',' NODE)? ')' | 'i(' ELEMENT ')' | '(' expr ')' | '{' expr '}'

NUMBER is a SPICE number (``1e-3``, ``4.7k``, ``2meg``), CONSTANT one of :data:`CONSTANTS`,
FUNCTION one of :data:`FUNCTIONS` (the math functions the importer allows, and ngspice's
``u``, ``uramp``, ``limit``, ``ddt``...). Expressions hold at most :data:`MAX_EXPR_CHARS`
characters and nest at most :data:`MAX_EXPR_DEPTH` deep.

Finally, :func:`join_lines` is the only way netlist text is made from lines: it refuses a line
that holds a line break or any character outside printable ASCII.

Examples
--------
>>> name_problem("R1", "element") is None
True
>>> name_problem("R1\\n.control", "element")
"holds the control character U+000A (a line break); an element name is an upper-case letter (its type), then upper-case letters, digits and '_'"
>>> parse_expression("I=1e-3*tanh(v(a,b)/0.1)").nodes
('a', 'b')
>>> join_lines(["t", "R1 a 0 1k", ".end"])
't\\nR1 a 0 1k\\n.end\\n'
"""

from __future__ import annotations

import decimal
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from eqprop_hw.errors import CircuitError, quote

#: SPICE's ground node: node ``"0"`` of every netlist (the reference of all voltages).
GROUND = "0"

#: Longest element, node or model name (characters).
MAX_NAME_CHARS = 128
#: Longest port (input or output) name.
MAX_PORT_CHARS = 64
#: Longest title (the spec's ``name``).
MAX_TITLE_CHARS = 80
#: Longest behavioural expression (characters).
MAX_EXPR_CHARS = 1000
#: Deepest nesting of parentheses, braces, calls and operators in an expression.
MAX_EXPR_DEPTH = 64

_NAMES = {
    # kind: (pattern, longest, what it is)
    "element": (re.compile(r"[A-Z][A-Z0-9_]*", re.A), MAX_NAME_CHARS,
                "an upper-case letter (its type), then upper-case letters, digits and '_'"),
    "node": (re.compile(r"[a-z0-9_]+", re.A), MAX_NAME_CHARS,
             "lower-case letters, digits and '_'"),
    "model": (re.compile(r"[A-Z][A-Z0-9_]*", re.A), MAX_NAME_CHARS,
              "an upper-case letter, then upper-case letters, digits and '_'"),
    "parameter": (re.compile(r"[A-Z][A-Z0-9]*", re.A), 16,
                  "upper-case letters and digits, starting with a letter"),
    "port": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", re.A), MAX_PORT_CHARS,
             "letters, digits, '_', '.', '+' and '-', not starting with '.', '+' or '-'"),
    "title": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", re.A), MAX_TITLE_CHARS,
              "letters, digits, '_', '.' and '-', not starting with '.' or '-'"),
    # CIDER sub-card names, parameters and word values (eqprop_hw.circuit.cider writes only
    # keywords of its fixed tables; this is the last gate): no '=', blank, '/' or '+'.
    "cider": (re.compile(r"[a-z][a-z0-9]*(?:\.[a-z0-9]+)*", re.A), 16,
              "lower-case letters and digits in words joined by single dots, starting with "
              "a letter"),
}
NAME_KINDS = tuple(_NAMES)

#: Functions allowed in behavioural expressions: name -> (fewest, most arguments). Each one is
#: loaded and evaluated by ngspice 39 in a B source (tests/test_netlist_grammar.py); ngspice 39
#: has no atan2, hypot, int or pwrs there, crashes (segmentation fault) on min or max with
#: other than two arguments, so those take exactly two, and its limit() gives values outside
#: its bounds (limit(2, 0, 1) = 2, limit(0.3, -1, 1) = -0.7), so limit is left out.
FUNCTIONS = {
    **{name: (1, 1) for name in (
        "sqrt", "exp", "ln", "log", "log10", "sin", "cos", "tan", "asin", "acos", "atan",
        "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "abs", "floor", "ceil", "nint",
        "sgn", "u", "u2", "uramp", "ddt")},
    "pow": (2, 2), "pwr": (2, 2), "min": (2, 2), "max": (2, 2),
}
#: Names that stand for a value in behavioural expressions.
CONSTANTS = frozenset(("time", "temper", "hertz", "pi"))

_PRINTABLE = re.compile(r"[\x20-\x7e]", re.A)
_VISIBLE = re.compile(r"[\x21-\x7e]", re.A)
#: Printable ASCII and the line feed: what joined netlist text may hold (deleted by translate).
_ALLOWED_BYTES = bytes(range(0x20, 0x7f)) + b"\n"
_TOKEN = re.compile(r"(?P<space>[ \t]+)|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[A-Za-z]*)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\*\*|&&|\|\||[<>=!]=|[-+*/^(),<>?:{}!])", re.A)
_SCALES = (("meg", "1e6"), ("mil", "25.4e-6"), ("f", "1e-15"), ("p", "1e-12"), ("n", "1e-9"),
           ("u", "1e-6"), ("m", "1e-3"), ("k", "1e3"), ("g", "1e9"), ("t", "1e12"))
_UNITS_AFTER_SCALE = frozenset(("", "ohm", "ohms", "f", "h", "v", "a", "s", "hz"))
_UNITS_ALONE = frozenset(("", "ohm", "ohms", "v", "h", "s", "hz"))
_NUMBER_RE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)([a-z]*)", re.A)
_DECIMAL = decimal.Context(prec=400, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


class NetlistTextError(CircuitError):
    """A string that would be written into a netlist is outside the grammar."""


# -- characters ---------------------------------------------------------------------------
def describe_character(char: str) -> str:
    """``U+000A (a line break)``-style description of one character."""
    code = f"U+{ord(char):04X}"
    if char in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029":
        return f"the control character {code} (a line break)" if unicodedata.category(char) \
            == "Cc" else f"the character {code} (a line break)"
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
        return f"the control character {code}"
    if char.isspace():
        return f"the white-space character {code}"
    if ord(char) > 0x7E:
        return f"the non-ASCII character {code}"
    return f"the character {char!r}"


def _first_bad(text: str, allowed: re.Pattern) -> str | None:
    """The first character of ``text`` that ``allowed`` (one character class) rejects."""
    for char in text:
        if not allowed.fullmatch(char):
            return char
    return None


# -- names ----------------------------------------------------------------------------------
def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


_CRASHES = ("is ngspice's temperature variable: ngspice 39 crashes (segmentation fault) on a "
            "netlist using it as a name; choose another name")
#: Names that match the grammar but mean something else to ngspice: (kind, lower-case name)
#: -> the reason they are refused.
_SPICE_WORDS = {
    ("node", "gnd"): ("is ground in SPICE (ngspice joins it to node 0, the native solver would "
                      "not); write 0 for ground or choose another name"),
    ("node", "temper"): _CRASHES,
    ("model", "temper"): _CRASHES,
}


def name_problem(text, kind: str) -> str | None:
    """Why ``text`` is not a valid name of ``kind`` (see the module table), or None.

    Parameters
    ----------
    text : object
        The candidate name (anything: non-strings are refused).
    kind : {"element", "node", "model", "parameter", "port", "title"}

    Returns
    -------
    str or None
        The reason, one line without the name itself (callers show the name with
        :func:`shown`); None when the name is valid.

    Examples
    --------
    >>> name_problem("out", "node") is None
    True
    >>> name_problem("out put", "node")
    "holds the white-space character U+0020; a node name is lower-case letters, digits and '_'"
    """
    pattern, longest, rule = _NAMES[kind]
    if not isinstance(text, str):
        return f"must be a string; {_article(kind)} {kind} name is {rule}"
    if pattern.fullmatch(text):
        if len(text) > longest:
            return f"is {len(text)} characters long; a {kind} name has at most {longest}"
        if kind == "model" and "VDMOS" in text.upper():
            return ("holds 'VDMOS': ngspice 39 takes such a .model line for a VDMOS model and "
                    "hangs loading it; choose another name")
        return _SPICE_WORDS.get((kind, text.lower()))
    if not text:
        return f"is empty; {_article(kind)} {kind} name is {rule}"
    char = _first_bad(text, _VISIBLE)
    what = describe_character(char) if char is not None else None
    if what is not None:
        return f"holds {what}; {_article(kind)} {kind} name is {rule}"
    return f"is not valid; {_article(kind)} {kind} name is {rule}"


def check_name(text, kind: str, what: str | None = None) -> str:
    """Return ``text`` if it is a valid name of ``kind``, else raise :class:`NetlistTextError`.

    ``what`` names the thing in the message (default ``"<kind> name"``).

    Examples
    --------
    >>> check_name("VIN", "element")
    'VIN'
    """
    problem = name_problem(text, kind)
    if problem is not None:
        label = what or f"{kind} name"
        raise NetlistTextError(f"invalid {label} {quote(str(text))}: it {problem}")
    return text


def check_names(names: Iterable[str], kind: str, what: str | None = None) -> None:
    """Check many names of one kind at once (a few passes over all of them joined).

    Raises :class:`NetlistTextError` for the first invalid one, as :func:`check_name`.
    """
    names = list(names)
    if not names:
        return
    try:
        joined = "\n".join(names)
    except TypeError:
        joined = None
    if joined is not None:
        chars, first = _BLOCKS[kind]
        if chars.fullmatch(joined) and joined.count("\n") == len(names) - 1 and \
                not first.search("\n" + joined + "\n") and \
                not _LONG[kind].search(joined):
            return
    for name in names:
        check_name(name, kind, what)


#: Per kind: the characters of many names joined by line breaks, and what may not follow a
#: line break in "\n" + joined + "\n" (a bad first character, or an empty name); together the
#: same as the kind's pattern matched whole on each name.
_BLOCKS = {
    "element": (re.compile(r"[A-Z0-9_\n]*", re.A), re.compile(r"\n[0-9_\n]")),
    "node": (re.compile(r"[a-z0-9_\n]*", re.A), re.compile(r"\n\n")),
    "model": (re.compile(r"[A-Z0-9_\n]*", re.A), re.compile(r"\n[0-9_\n]")),
    "parameter": (re.compile(r"[A-Z0-9\n]*", re.A), re.compile(r"\n[0-9\n]")),
    "port": (re.compile(r"[A-Za-z0-9_.+\-\n]*", re.A), re.compile(r"\n[.+\-\n]")),
    "title": (re.compile(r"[A-Za-z0-9_.\-\n]*", re.A), re.compile(r"\n[.\-\n]")),
    "cider": (re.compile(r"[a-z0-9.\n]*", re.A), re.compile(r"\n[0-9.\n]|\.\.|\.\n")),
}


_LONG = {kind: re.compile(rf"[^\n]{{{longest + 1}}}") for kind, (_p, longest, _r) in _NAMES.items()}


# -- names the writers reserve ---------------------------------------------------------------
#: Element and node names that the netlist writers give their own elements (nudging sources and
#: resistors, lc flux integrators, target and sequence-bank sources), per network family. A
#: spec may not use them: a user's node called ``ynudge0`` would be wired to a nudging source.
RESERVED = {
    "resistive": (re.compile(r"[VRGB]NUDGE[A-Z0-9_]*", re.A),
                  re.compile(r"ynudge[0-9]+|nudgebeta", re.A)),
    "lc": (re.compile(r"(?:[VBC](?:NUDGE|TGT|FLX_|LVAL_|UF_|UR_|GF_|GR_|YF|YR|Q)|BTGT)"
                      r"[A-Z0-9_]*", re.A),
           re.compile(r"(?:flx_|lval_|uf_|ur_|gf_|gr_)[a-z0-9_]*|(?:tgt|yf|yr)[0-9][a-z0-9_]*"
                      r"|nudgebeta", re.A)),
}


def reserved_problem(name: str, kind: str, family: str) -> str | None:
    """Why ``name`` (an ``element`` or ``node`` name) is reserved by the ``family``'s writer
    (``"resistive"`` or ``"lc"``), or None.

    Examples
    --------
    >>> reserved_problem("ynudge0", "node", "resistive")
    'is reserved: the netlist writer names its own nodes like this (ynudge0, ynudge1, ..., nudgebeta); rename it (a netlist exported with --beta: export it without --beta to import it)'
    >>> reserved_problem("out", "node", "resistive") is None
    True
    """
    elements, nodes = RESERVED[family]
    pattern = elements if kind == "element" else nodes
    if not isinstance(name, str) or not pattern.fullmatch(name):
        return None
    examples = {("resistive", "element"): "VNUDGE0, RNUDGE0, GNUDGE0, BNUDGE0, VNUDGEBETA",
                ("resistive", "node"): "ynudge0, ynudge1, ..., nudgebeta",
                ("lc", "element"): "VNUDGEBETA, VTGT0, BNUDGE0, BFLX_N1, CFLX_N1, VLVAL_L1, ...",
                ("lc", "node"): "flx_n1, tgt0, lval_l1, uf_..., gf_0, yf0_0, nudgebeta, ..."}
    hint = " (a netlist exported with --beta: export it without --beta to import it)" \
        if family == "resistive" else ""
    return (f"is reserved: the netlist writer names its own {kind}s like this "
            f"({examples[family, kind]}); rename it{hint}")


def check_not_reserved(names: Iterable[str], kind: str, family: str) -> None:
    """Raise :class:`NetlistTextError` for the first of ``names`` that the ``family``'s writer
    reserves (:func:`reserved_problem`); one pass over all names joined."""
    names = list(names)
    pattern = RESERVED[family][0 if kind == "element" else 1]
    if not re.search(rf"(?m)^(?:{pattern.pattern})$", "\n".join(names)):
        return
    for name in names:
        problem = reserved_problem(name, kind, family)
        if problem is not None:
            raise NetlistTextError(f"{kind} name {name!r} {problem}")


# -- numbers ----------------------------------------------------------------------------------
def parse_spice_number(text: str) -> float:
    """Parse a SPICE number with an optional scale suffix and unit.

    Parameters
    ----------
    text : str
        E.g. ``"10k"``, ``"2.2u"``, ``"1meg"``, ``"3MEG"`` (3e6), ``"3m"`` (3e-3), ``"4.7nF"``,
        ``"1e-9"``. Case-insensitive. After the suffix only a unit (``ohm F H V A s Hz``) may
        follow.

    Returns
    -------
    float
        The value, correctly rounded from the decimal text (``2.2k`` gives exactly 2200.0).

    Raises
    ------
    ValueError
        If the text is not such a number or the value is not finite.

    Examples
    --------
    >>> parse_spice_number("4.7k"), parse_spice_number("1MEG")
    (4700.0, 1000000.0)
    """
    if len(text) > 100:
        raise ValueError("number text longer than 100 characters")
    match = _NUMBER_RE.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"not a number: {text!r}")
    mantissa, letters = match.groups()
    factor, unit, units = None, letters, _UNITS_ALONE
    for suffix, scale in _SCALES:
        if letters.startswith(suffix):
            factor, unit, units = scale, letters[len(suffix):], _UNITS_AFTER_SCALE
            break
    if unit not in units:
        raise ValueError(f"unknown suffix {letters!r} in {text!r}")
    if factor is None:
        value = float(mantissa)
    else:
        try:
            value = float(_DECIMAL.multiply(decimal.Decimal(mantissa), decimal.Decimal(factor)))
        except decimal.DecimalException:
            raise ValueError(f"{text!r} is out of range") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


# -- behavioural expressions --------------------------------------------------------------------
@dataclass(frozen=True)
class Expression:
    """A parsed behavioural source expression.

    Attributes
    ----------
    kind : str
        ``"V"`` (a voltage source) or ``"I"`` (a current source).
    nodes : tuple of str
        Nodes read by ``v(...)``, lower case, in order of appearance (repeats kept).
    sources : tuple of str
        Voltage sources whose current ``i(...)`` reads, upper case.
    functions : tuple of str
        Functions called, lower case.
    """

    kind: str
    nodes: tuple
    sources: tuple
    functions: tuple


class ExpressionError(ValueError):
    """A behavioural expression outside the grammar (the message says where and why)."""


class _Parser:
    """Recursive-descent parser of the grammar in the module docstring."""

    def __init__(self, text: str, offset: int):
        self.text = text
        self.tokens = self._tokens(text, offset)
        self.index = 0
        self.depth = 0
        self.nodes: list = []
        self.sources: list = []
        self.functions: list = []

    @staticmethod
    def _tokens(text: str, offset: int) -> list:
        out, position = [], offset
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                raise ExpressionError(f"{describe_character(text[position])} at character "
                                      f"{position + 1} is not allowed")
            if match.lastgroup != "space":
                out.append((match.lastgroup, match.group(), match.start()))
            position = match.end()
        return out

    # -- token helpers
    def peek(self, value: str | None = None):
        token = self.tokens[self.index] if self.index < len(self.tokens) else None
        if value is None or token is None:
            return token
        return token if token[0] == "op" and token[1] == value else None

    def take(self, value: str | None = None):
        token = self.peek(value) if value is not None else self.peek()
        if token is None:
            expected = f"{value!r}" if value else "a value"
            raise ExpressionError(f"expected {expected} at the end of the expression")
        self.index += 1
        return token

    def expect(self, value: str):
        token = self.peek()
        if token is None or token[0] != "op" or token[1] != value:
            found = "the end of the expression" if token is None else \
                f"{token[1]!r} at character {token[2] + 1}"
            raise ExpressionError(f"expected {value!r}, found {found}")
        self.index += 1

    def nested(self, parse):
        self.depth += 1
        if self.depth > MAX_EXPR_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_EXPR_DEPTH} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    # -- grammar
    def expression(self):
        self.nested(self.logical_or)
        if self.peek("?"):
            self.index += 1
            self.nested(self.expression)
            self.expect(":")
            self.nested(self.expression)

    def _binary(self, operators, operand):
        operand()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in operators:
            self.index += 1
            operand()

    def logical_or(self):
        self._binary(("||",), self.logical_and)

    def logical_and(self):
        self._binary(("&&",), self.compare)

    def compare(self):
        self._binary(("<", ">", "<=", ">=", "==", "!="), self.sum)

    def sum(self):
        self._binary(("+", "-"), self.product)

    def product(self):
        self._binary(("*", "/"), self.unary)

    def unary(self):
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in ("-", "+", "!"):
            self.index += 1
            self.nested(self.unary)
            return
        self.power()

    def power(self):
        self.primary()
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in ("^", "**"):
            self.index += 1
            self.nested(self.unary)

    def primary(self):
        kind, text, start = self.take()
        if kind == "num":
            try:
                parse_spice_number(text)
            except ValueError:
                raise ExpressionError(f"malformed number {text!r} at character {start + 1}") \
                    from None
            return
        if kind == "op" and text in ("(", "{"):
            self.nested(self.expression)
            self.expect(")" if text == "(" else "}")
            return
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} at character {start + 1}")
        low = text.lower()
        if not self.peek("("):
            if low not in CONSTANTS:
                raise ExpressionError(
                    f"unknown name {text!r} at character {start + 1} (allowed: v(node), "
                    f"i(ELEMENT), {', '.join(sorted(CONSTANTS))}, numbers and functions)")
            return
        self.index += 1
        if low in ("v", "i"):
            self._probe(low, text, start)
            return
        if low not in FUNCTIONS:
            raise ExpressionError(f"function {text!r} at character {start + 1} is not allowed "
                                  f"(allowed: {', '.join(sorted(FUNCTIONS))}, v, i)")
        fewest, most = FUNCTIONS[low]
        count = 1
        self.nested(self.expression)
        while self.peek(","):
            self.index += 1
            count += 1
            self.nested(self.expression)
        self.expect(")")
        if not fewest <= count <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise ExpressionError(f"{low}() takes {wanted} argument(s), got {count}")
        self.functions.append(low)

    def _probe(self, low: str, text: str, start: int):
        args = []
        while True:
            token = self.peek()
            if token is None or token[0] not in ("name", "num"):
                break
            args.append(token[1])
            self.index += 1
            if self.peek(",") and low == "v" and len(args) < 2:
                self.index += 1
                continue
            break
        if not args or not self.peek(")"):
            what = "one or two node names" if low == "v" else "one element name"
            raise ExpressionError(f"{text}() at character {start + 1} takes {what}")
        self.index += 1
        for arg in args:
            if low == "v":
                problem = name_problem(arg.lower(), "node")
                if problem:
                    raise ExpressionError(f"v({arg}): the node name {problem}")
                self.nodes.append(arg.lower())
            else:
                problem = name_problem(arg.upper(), "element")
                if problem:
                    raise ExpressionError(f"i({arg}): the element name {problem}")
                self.sources.append(arg.upper())


def parse_expression(text) -> Expression:
    """Parse a behavioural source's ``V=expr`` / ``I=expr`` (see the module's grammar).

    Parameters
    ----------
    text : str

    Returns
    -------
    Expression

    Raises
    ------
    ExpressionError
        Naming the first thing outside the grammar (character, name, function, nesting).

    Examples
    --------
    >>> e = parse_expression("V = 2*v(in) > 1 ? 1m : -1m")
    >>> e.kind, e.nodes
    ('V', ('in',))
    >>> parse_expression("I=1\\n.control")
    Traceback (most recent call last):
    ...
    eqprop_hw.circuit.spice_grammar.ExpressionError: the control character U+000A (a line break) at character 4 is not allowed
    """
    if not isinstance(text, str):
        raise ExpressionError("must be a string")
    if len(text) > MAX_EXPR_CHARS:
        raise ExpressionError(f"is {len(text)} characters long; at most {MAX_EXPR_CHARS}")
    bad = _first_bad(text, _PRINTABLE)
    if bad is not None:
        raise ExpressionError(f"{describe_character(bad)} at character {text.index(bad) + 1} "
                              "is not allowed")
    head = re.match(r"[ ]*([VvIi])[ ]*=", text)
    if head is None:
        raise ExpressionError("must start with V= (a voltage source) or I= (a current source)")
    parser = _Parser(text, head.end())
    if not parser.tokens:
        raise ExpressionError("the expression after '=' is empty")
    parser.expression()
    if parser.index != len(parser.tokens):
        _kind, token, start = parser.tokens[parser.index]
        raise ExpressionError(f"unexpected {token!r} at character {start + 1}")
    return Expression(head.group(1).upper(), tuple(parser.nodes), tuple(parser.sources),
                      tuple(parser.functions))


def check_expression(text, element: str = "") -> Expression:
    """:func:`parse_expression`, raising :class:`NetlistTextError` naming ``element``."""
    try:
        return parse_expression(text)
    except ExpressionError as error:
        where = f"element {element}: " if element else ""
        raise NetlistTextError(f"{where}behavioural expression {quote(str(text))}: {error}") \
            from None


# -- lines ---------------------------------------------------------------------------------------
def join_lines(lines: Sequence[str]) -> str:
    """Netlist text from the lines a writer produced: refuses any line that would split.

    Every line must be printable ASCII (``' '`` to ``'~'``): no line break of any kind, no
    other control character, nothing outside ASCII. This is the last gate before text reaches
    a file or ngspice; the writers check each string before, so a refusal here is a bug in a
    writer.

    Returns
    -------
    str
        The lines joined by ``"\\n"``, with a final ``"\\n"``.

    Raises
    ------
    NetlistTextError
        Naming the line number and the character.
    """
    lines = list(lines)
    text = "\n".join(lines)
    if text.count("\n") == len(lines) - 1 and text.isascii() and \
            not text.encode("ascii").translate(None, _ALLOWED_BYTES):
        return text + "\n"
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            raise NetlistTextError(f"netlist line {number} is not text")
        bad = _first_bad(line, _PRINTABLE)
        if bad is not None:
            raise NetlistTextError(f"netlist line {number} ({quote(line)}) holds "
                                   f"{describe_character(bad)}; refused")
    raise NetlistTextError("netlist lines do not join into a netlist")  # pragma: no cover


def check_lines(lines: Sequence[str]) -> list[str]:
    """The same gate as :func:`join_lines` for a list of lines (returned as a list)."""
    join_lines(lines)
    return list(lines)
