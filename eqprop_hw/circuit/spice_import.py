"""Import SPICE netlists as ``graph`` specs: the inverse of :mod:`eqprop_hw.circuit.netlist`.

:func:`import_netlist` reads a netlist file and returns a plain ``graph`` spec mapping that
:func:`eqprop_hw.circuit.spec.parse_spec` accepts; :func:`spec_to_yaml` writes such a mapping as
deterministic YAML. A netlist written by :func:`eqprop_hw.circuit.netlist.write_netlist` round-trips:
export -> import -> build -> export gives the same bytes (input values are baked into the source
DC values and nudging elements become ordinary elements).

Nothing in a netlist is ever executed. Values and ``.param`` expressions are evaluated by a
small evaluator over Python's :mod:`ast` that allows only numbers, parameter names,
``+ - * / ** ^``, parentheses and math functions.

Supported subset
----------------
* The first line is the title. ``eqprop-hw NAME`` (our exporter) gives the spec name ``NAME``;
  any other title gives a name made from the file stem (or ``imported``).
* ``*`` comment lines, ``;`` and ``$ `` end-of-line comments, ``+`` continuation lines.
  Element names are upper-cased, node names lower-cased, ``gnd`` is ground ``0``.
* Elements ``R C L D V I E G F H B`` (see :data:`ELEMENT_SYNTAX`) and ``X`` subcircuit
  instances. Values are numbers with SPICE suffixes (``f p n u m k meg g t mil``, optionally
  followed by a unit: ``10k``, ``2.2uF``, ``1meg``; note ``3MEG`` is 3e6 but ``3M`` is 3e-3),
  or ``{expr}`` / ``'expr'`` (with ngspice's ``c ? a : b``, comparisons and ``&& || !``).
  V and I take ``[DC] x``, ``AC`` and one waveform (PULSE SIN PWL EXP SFFM): the value is the
  DC value, else the waveform at t = 0 as ngspice defines it (:func:`_waveform_at_zero`).
  ``m=`` is folded into R, C, L and diode values; ``ic=``, ``ac=`` and ``tc1=``/``tc2=`` (at
  TNOM only) are accepted.
* Behavioural sources ``B n+ n- V=expr`` / ``I=expr`` whose identifiers are math functions,
  ``v(node)``, ``v(a,b)``, ``i(VSOURCE)``, numbers, ``time``, ``temper``, ``hertz``, ``pi`` or
  ``.param`` names (replaced by their values). The spec keeps the text after the nodes.
* Cards: ``.param``, ``.model NAME D(...)`` (diode parameters of
  :data:`eqprop_hw.circuit.graph.DIODE_DC_PARAMS` and :data:`~eqprop_hw.circuit.graph.DIODE_AC_PARAMS`
  only), ``.subckt``/``.ends``, ``.include``/``.inc``, ``.lib FILE SECTION`` (and ``.lib
  SECTION`` ... ``.endl`` definitions), ``.options`` (the numeric options of
  :data:`eqprop_hw.circuit.spec.OPTION_NAMES` are kept, every other option is ignored),
  ``.temp``, ``.global``, ``.func`` (expanded, no recursion), ``.if``/``.elseif``/``.else``/
  ``.endif`` (constant conditions), and ``.control`` blocks and the analysis/output cards of
  :data:`IGNORED_CARDS`, left out (never run, never written). Models of other types and
  subcircuits that nothing uses are ignored. Vendor node names (``IN+``) and model names
  (``1N4148``) are mapped to grammar names. Everything left out, renamed, folded, accepted
  or ignored is listed in the ``notes`` (see :func:`import_netlist_text`).
* Metadata comments written by the exporter: ``*@ input NAME SRC:gain ...``,
  ``*@ output NAME NODE``, ``*@ trainable PATTERN ...``. Without a ``*@ eqprop-hw netlist``
  header and without ``*@ trainable`` lines the spec has no ``trainable`` key (so the spec's
  default applies); with the header and no ``*@ trainable`` line nothing is trainable.

Subcircuit flattening
---------------------
Instances are expanded in place. Inside instance ``XA`` (path ``XA``; an instance ``XB`` inside
it has path ``XA_XB``) an element ``R1`` becomes ``R1_XA`` (``R1_XA_XB``): the element letter
stays first. An internal node ``mid`` becomes ``mid_xa`` (``mid_xa_xb``); pins map to the
nodes of the instance line, ground ``0`` stays global. ``.model`` cards inside a subcircuit are
global; nested ``.subckt`` definitions are hoisted to global scope. The controlling source of an
F or H element, and ``i(...)`` in a B expression, is renamed when it names an element of the
same subcircuit and otherwise refers to a top-level element. Every flattened element and node
name is checked for collisions with all other names; a collision is an error naming both lines.
Parameters: instance overrides (``XA n1 n2 NAME a=5``) are evaluated with the caller's values;
the defaults of ``.subckt NAME pins [params:] a=1 b={2*a}`` that are not overridden are then
evaluated in order with the global ``.param`` values, the overrides and the earlier defaults;
``.param`` cards inside the body are evaluated last, in the instance's scope.

Not checked here
----------------
The import checks names, node counts, values, models, references (F/H controls, ``v()`` and
``i()`` in B expressions, metadata) and validates the result with
:func:`~eqprop_hw.circuit.spec.parse_spec`; whether the circuit is simulable (floating nodes) is checked
by :func:`eqprop_hw.circuit.build.build_circuit`. Negative resistances (a netlist nudged with a negative
beta) are refused: eqprop-hw circuits need positive conductances.

Refused
-------
ngspice control commands outside a ``.control`` block (``shell``, ``exec``, ``source``, ...),
``.exec``, ``.csparam``, ``.nodeset`` and every ``.`` card not listed above, a ``.param``
defined twice at the top level, ``4k7`` notation (ngspice reads it as 4k), a ``.lib`` section
without ``.endl`` (before the end of the file or the next ``.lib SECTION``), an ``.endl NAME``
closing another section, a section defined twice, a ``.control`` without ``.endc``,
``.include``/``.lib``
of a file outside the netlist's folder (after resolving symlinks and ``..``), include recursion
deeper than :data:`MAX_INCLUDE_DEPTH`, behavioural expressions with other identifiers or
characters, XSPICE ``A`` devices, and other semiconductors and lines (``Q M J Z S W T O U K``
...). With ``allow_unsafe=True`` includes may read files outside the folder; nothing else
changes (no card is skipped); B expressions must still parse in the grammar every netlist
writer enforces (:mod:`eqprop_hw.circuit.spice_grammar`), and elements that a spec cannot
represent (``A``, ``Q``, ...) are still refused.

Every error is a :class:`~eqprop_hw.errors.NetlistError` naming the file and line.

Examples
--------
>>> spec = import_netlist_text("demo\\nV1 in 0 DC 1\\nR1 in out 10k\\nR2 out 0 {2*5k}\\n.end\\n")
>>> [(e["name"], e["nodes"], e.get("r", e.get("dc"))) for e in spec["elements"]]
[('V1', ['in', '0'], 1.0), ('R1', ['in', 'out'], 10000.0), ('R2', ['out', '0'], 10000.0)]
>>> print(spec_to_yaml(spec).splitlines()[4])
  - {name: V1, nodes: [in, '0'], dc: 1.0}
"""

from __future__ import annotations

import ast
import decimal
import fnmatch
import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from eqprop_hw.errors import NetlistError, SpecError
from eqprop_hw.io.fileio import read_bounded
from eqprop_hw.circuit.graph import DIODE_AC_PARAMS, DIODE_DATASHEET_PARAMS, DIODE_DC_PARAMS, NODE_COUNT
from eqprop_hw.circuit.spec import NAME_RE, OPTION_NAMES, parse_spec
from eqprop_hw.circuit.spice_grammar import FUNCTIONS as GRAMMAR_FUNCTIONS
from eqprop_hw.circuit.spice_grammar import MAX_EXPR_DEPTH, ExpressionError, parse_expression
from eqprop_hw.circuit.spice_grammar import parse_spice_number

#: Largest netlist or included file read (bytes).
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Deepest chain of ``.include``/``.lib`` files.
MAX_INCLUDE_DEPTH = 8
#: Most ``.include``/``.lib`` files read by one import, counting every repeat (guards against
#: a file including the next one many times at each level: fan-out ** depth reads).
MAX_INCLUDED_FILES = 1000
#: Most bytes read by one import over all its included files together.
MAX_INCLUDED_BYTES = MAX_FILE_BYTES
#: Deepest chain of nested subcircuit instances.
MAX_SUBCKT_DEPTH = 16
#: Most elements a flattened netlist may have (guards against exponential subcircuits): the
#: spec written for 4e5 resistors is 24.5 MiB, within the 32 MiB a spec file may hold
#: (eqprop_hw.circuit.spec.MAX_SPEC_BYTES); mnist_size has 1.6e5.
MAX_ELEMENTS = 400_000
#: Longest expression evaluated (characters).
MAX_EXPR_CHARS = 1000

#: Element syntax, used in error messages.
ELEMENT_SYNTAX = {
    "R": "Rname n+ n- resistance", "C": "Cname n+ n- capacitance",
    "L": "Lname n+ n- inductance", "D": "Dname anode cathode MODEL [area]",
    "V": "Vname n+ n- [DC] value", "I": "Iname n+ n- [DC] value",
    "E": "Ename n+ n- nc+ nc- gain", "G": "Gname n+ n- nc+ nc- transconductance",
    "F": "Fname n+ n- VCONTROL gain", "H": "Hname n+ n- VCONTROL transresistance",
    "B": "Bname n+ n- V=expr | I=expr", "X": "Xname node... SUBCKT [params: name=value ...]",
}

#: Analysis and output cards: left out (never run, never written) and listed in the notes.
IGNORED_CARDS = frozenset((".op", ".tran", ".dc", ".ac", ".tf", ".noise", ".four", ".save",
                           ".print", ".plot", ".probe", ".width", ".title", ".sens", ".pz",
                           ".disto", ".meas", ".measure", ".ic"))
#: Most items listed in one note (the rest are counted).
MAX_NOTE_ITEMS = 20
OPTION_CARDS = frozenset((".options", ".option", ".opt"))

#: Words that start ngspice control-language commands (refused outside and inside .control).
CONTROL_COMMANDS = frozenset((
    "shell", "sh", "exec", "system", "source", "load", "run", "set", "unset", "let", "alter",
    "altermod", "write", "wrdata", "wrs2p", "cd", "echo", "quit", "exit", "codemodel", "osdi",
    "bg", "rusage", "setcs", "remcirc", "reset", "destroy", "listing", "edit"))

_UNSUPPORTED = {
    "Q": "bipolar transistor", "M": "MOSFET", "J": "JFET", "Z": "MESFET", "S": "voltage switch",
    "W": "current switch", "T": "transmission line", "O": "lossy transmission line",
    "U": "RC line", "K": "coupled inductor", "N": "OSDI device", "P": "coupled line",
    "Y": "transmission line",
}

_ELEMENT_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]*")
_NODE_RE = re.compile(r"[a-z0-9_]+")
#: Vendor node names (``in+``, ``out-``, ``n.1``, ``vdd!``) mapped to grammar names.
_VENDOR_NODE_RE = re.compile(r"[a-z0-9_][a-z0-9_+\-.#!]*", re.A)
_NODE_CHAR_MAP = {"+": "_p", "-": "_n", ".": "_", "#": "_h", "!": "_x"}
#: Vendor model and subcircuit names (``1N4148``, ``nch.1``, ``f-p-det``).
_VENDOR_NAME_RE = re.compile(r"[A-Z0-9_][A-Z0-9_.+\-]*", re.A)
_PARAM_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
_KV_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.S)
_BAD_CHAR_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_EOL_DOLLAR_RE = re.compile(r"\$(?=\s|$)")
_GROUPING = re.compile(r"[(){}',=]")

_FUNCTIONS = {
    "sqrt": (1, 1, math.sqrt), "exp": (1, 1, math.exp), "ln": (1, 1, math.log),
    "log": (1, 1, math.log), "log10": (1, 1, math.log10), "sin": (1, 1, math.sin),
    "cos": (1, 1, math.cos), "tan": (1, 1, math.tan), "asin": (1, 1, math.asin),
    "acos": (1, 1, math.acos), "atan": (1, 1, math.atan), "sinh": (1, 1, math.sinh),
    "cosh": (1, 1, math.cosh), "tanh": (1, 1, math.tanh), "asinh": (1, 1, math.asinh),
    "acosh": (1, 1, math.acosh), "atanh": (1, 1, math.atanh), "abs": (1, 1, abs),
    "floor": (1, 1, math.floor), "ceil": (1, 1, math.ceil), "int": (1, 1, math.trunc),
    "nint": (1, 1, round), "sgn": (1, 1, lambda x: float((x > 0) - (x < 0))),
    "pow": (2, 2, math.pow), "atan2": (2, 2, math.atan2), "hypot": (2, 2, math.hypot),
    "min": (1, 64, min), "max": (1, 64, max),
}
_CONSTANTS = {"pi": math.pi}
#: Functions allowed in B expressions: the netlist grammar's (eqprop_hw.circuit.spice_grammar).
_B_FUNCTIONS = frozenset(GRAMMAR_FUNCTIONS)
_B_CONSTANTS = frozenset(("time", "temper", "hertz", "pi"))
_RESERVED_PARAMS = frozenset(_FUNCTIONS) | _B_FUNCTIONS | _B_CONSTANTS | {"v", "i", "gnd"}

_EXPR_TOKEN_RE = re.compile(r"(?P<space>\s+)|(?P<num>(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?[a-z]*)"
                            r"|(?P<name>[a-z_][a-z0-9_]*)|(?P<op>\*\*|[-+*/^(),])", re.A)
_B_TOKEN_RE = re.compile(r"(?P<space>\s+)|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\w*)"
                         r"|(?P<name>[A-Za-z_]\w*)"
                         r"|(?P<op>\*\*|&&|\|\||[<>=!]=|[-+*/^(),<>?:{}!])", re.A)


# -- small pure helpers -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Line:
    """One logical netlist line (continuations joined, comments stripped)."""

    text: str
    source: str
    line: int
    meta: bool = False


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int


def _fail(message: str, where: _Line | None = None):
    """Raise a NetlistError located at ``where``."""
    if where is None:
        raise NetlistError(message)
    raise NetlistError(message, where.source, where.line)


def _python_source(text: str) -> str:
    """Translate a SPICE expression to Python source made of floats, names and operators."""
    pieces, position, low = [], 0, text.lower()
    while position < len(low):
        match = _EXPR_TOKEN_RE.match(low, position)
        if match is None:
            raise ValueError(f"character {text[position]!r} is not allowed")
        position = match.end()
        kind, token = match.lastgroup, match.group()
        if kind == "num":
            pieces.append(repr(parse_spice_number(token)))
        elif kind == "op":
            pieces.append("**" if token == "^" else token)
        else:
            pieces.append(" " if kind == "space" else token)
    return "".join(pieces)


def _eval_node(node: ast.AST, params: dict) -> float:
    """Evaluate one whitelisted AST node (numbers, names, + - * / **, math calls)."""
    if isinstance(node, ast.Constant) and type(node.value) is float:
        return node.value
    if isinstance(node, ast.Name):
        if node.id in params:
            return params[node.id]
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ValueError(f"unknown parameter {node.id!r}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _eval_node(node.operand, params)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult,
                                                            ast.Div, ast.Pow)):
        left, right = _eval_node(node.left, params), _eval_node(node.right, params)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right
        return math.pow(left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        entry = _FUNCTIONS.get(node.func.id)
        if entry is None:
            raise ValueError(f"function {node.func.id!r} is not allowed (allowed: "
                             f"{', '.join(sorted(_FUNCTIONS))})")
        low, high, function = entry
        if not low <= len(node.args) <= high or \
                any(isinstance(arg, ast.Starred) for arg in node.args):
            raise ValueError(f"wrong number of arguments to {node.func.id}()")
        return float(function(*[_eval_node(arg, params) for arg in node.args]))
    raise ValueError("only numbers, parameter names, + - * / ^ ** and math functions are allowed")


_CONDITIONAL_CHARS = re.compile(r"[?:<>=!&|]")
_COND_TOKEN_RE = re.compile(r"(?P<space>\s+)|(?P<num>(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?[a-z]*)"
                            r"|(?P<name>[a-z_][a-z0-9_]*)"
                            r"|(?P<op>\*\*|&&|\|\||[<>=!]=|[-+*/^(),?:<>!])", re.A)
_COMPARE = {"<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


class _Conditional:
    """Recursive-descent parser of a ``.param`` expression with conditional forms.

    The grammar is :mod:`eqprop_hw.circuit.spice_grammar`'s (without ``v()``/``i()``); the
    result is a tree of tuples evaluated by :meth:`value`. Nesting is bounded by
    :data:`~eqprop_hw.circuit.spice_grammar.MAX_EXPR_DEPTH`.
    """

    def __init__(self, text: str):
        self.tokens, position, low = [], 0, text.lower()
        while position < len(low):
            match = _COND_TOKEN_RE.match(low, position)
            if match is None:
                raise ValueError(f"character {text[position]!r} is not allowed")
            if match.lastgroup != "space":
                self.tokens.append((match.lastgroup, match.group()))
            position = match.end()
        self.index, self.depth = 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple:
        if self.index >= len(self.tokens) or \
                (expected is not None and self.tokens[self.index][1] != expected):
            raise ValueError(f"malformed expression (expected {expected or 'more'!r})")
        self.index += 1
        return self.tokens[self.index - 1]

    def parse(self) -> tuple:
        if not self.tokens:
            raise ValueError("empty expression")
        tree = self.expr()
        if self.index != len(self.tokens):
            raise ValueError(f"malformed expression (unexpected {self.peek()!r})")
        return tree

    def expr(self) -> tuple:
        self.depth += 1
        if self.depth > MAX_EXPR_DEPTH:
            raise ValueError(f"expression nested deeper than {MAX_EXPR_DEPTH}")
        tree = self.chain(0)
        if self.peek() == "?":
            self.take()
            yes = self.expr()
            self.take(":")
            tree = ("if", tree, yes, self.expr())
        self.depth -= 1
        return tree

    _LEVELS = (("||",), ("&&",), tuple(_COMPARE), ("+", "-"), ("*", "/"))

    def chain(self, level: int) -> tuple:
        """A left-associative chain of the operators of ``_LEVELS[level]``."""
        if level == len(self._LEVELS):
            return self.unary()
        first, rest = self.chain(level + 1), []
        while self.peek() in self._LEVELS[level]:
            operator = self.take()[1]
            rest.append((operator, self.chain(level + 1)))
        return ("chain", first, rest) if rest else first

    def unary(self) -> tuple:
        if self.peek() in ("-", "+", "!"):
            operator = self.take()[1]
            self.depth += 1
            if self.depth > MAX_EXPR_DEPTH:
                raise ValueError(f"expression nested deeper than {MAX_EXPR_DEPTH}")
            tree = ("unary", operator, self.unary())
            self.depth -= 1
            return tree
        base = self.primary()
        if self.peek() in ("^", "**"):
            self.take()
            return ("chain", base, [("^", self.unary())])
        return base

    def primary(self) -> tuple:
        kind, text = self.take()
        if kind == "num":
            return ("num", parse_spice_number(text))
        if kind == "name" and self.peek() == "(":
            self.take("(")
            args = [self.expr()]
            while self.peek() == ",":
                self.take()
                args.append(self.expr())
            self.take(")")
            return ("call", text, args)
        if kind == "name":
            return ("name", text)
        if text == "(":
            tree = self.expr()
            self.take(")")
            return tree
        raise ValueError(f"malformed expression (unexpected {text!r})")

    def value(self, tree: tuple, params: dict) -> float:
        kind = tree[0]
        if kind == "num":
            return tree[1]
        if kind == "name":
            if tree[1] in params:
                return params[tree[1]]
            if tree[1] in _CONSTANTS:
                return _CONSTANTS[tree[1]]
            raise ValueError(f"unknown parameter {tree[1]!r}")
        if kind == "if":
            return self.value(tree[2] if self.value(tree[1], params) != 0 else tree[3], params)
        if kind == "unary":
            operand = self.value(tree[2], params)
            return {"-": -operand, "+": operand, "!": float(operand == 0)}[tree[1]]
        if kind == "call":
            entry = _FUNCTIONS.get(tree[1])
            if entry is None:
                raise ValueError(f"function {tree[1]!r} is not allowed (allowed: "
                                 f"{', '.join(sorted(_FUNCTIONS))})")
            low, high, function = entry
            if not low <= len(tree[2]) <= high:
                raise ValueError(f"wrong number of arguments to {tree[1]}()")
            return float(function(*[self.value(arg, params) for arg in tree[2]]))
        result = self.value(tree[1], params)
        for operator, operand in tree[2]:
            right = self.value(operand, params)
            if operator in _COMPARE:
                result = float(_COMPARE[operator](result, right))
            elif operator in ("&&", "||"):
                result = float((result != 0 and right != 0) if operator == "&&"
                               else (result != 0 or right != 0))
            elif operator == "^":
                result = math.pow(result, right)
            else:
                result = {"+": result + right, "-": result - right, "*": result * right,
                          "/": result / right if right != 0 else _divide_by_zero()}[operator]
        return result


def _divide_by_zero() -> float:
    raise ZeroDivisionError


def _evaluate_conditional(text: str, params: dict) -> float:
    """Evaluate an expression with conditional forms (see :func:`evaluate_expression`)."""
    try:
        parser = _Conditional(text)
        value = parser.value(parser.parse(), params)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("numeric overflow") from None
    except RecursionError:
        raise ValueError("malformed expression") from None
    except (TypeError, ValueError) as error:
        raise ValueError(str(error) or "math domain error") from None
    if not isinstance(value, float) or not math.isfinite(value):
        raise ValueError(f"result {value!r} is not a finite number")
    return value


def evaluate_expression(text: str, params: dict | None = None) -> float:
    """Safely evaluate a ``.param``-style expression (never ``eval``).

    Parameters
    ----------
    text : str
        E.g. ``"2*a + 1k"`` or ``"sqrt(r1*r2)"``; numbers may carry SPICE suffixes and ``^``
        is a power. Case-insensitive.
    params : dict of str to float, optional
        Parameter values by lower-case name.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        On any other construct, an unknown name, a math error or a non-finite result.

    Notes
    -----
    Expressions with ngspice's conditional forms (``c ? a : b``, ``< > <= >= == !=``,
    ``&& || !``; true is 1, false 0) are parsed by :class:`_Conditional`, which follows the
    precedence of :mod:`eqprop_hw.circuit.spice_grammar` and evaluates only the branch taken.
    """
    params = params or {}
    if len(text) > MAX_EXPR_CHARS:
        raise ValueError(f"expression longer than {MAX_EXPR_CHARS} characters")
    if _CONDITIONAL_CHARS.search(text):
        return _evaluate_conditional(text, params)
    source = _python_source(text)
    if not source.strip():
        raise ValueError("empty expression")
    try:
        tree = ast.parse(source.strip(), mode="eval")
        value = _eval_node(tree.body, params)
    except (SyntaxError, RecursionError, MemoryError):
        raise ValueError("malformed expression") from None
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("numeric overflow") from None
    except (TypeError, ValueError) as error:
        raise ValueError(str(error) or "math domain error") from None
    if not isinstance(value, float) or not math.isfinite(value):
        raise ValueError(f"result {value!r} is not a finite number")
    return value


def _tokens(text: str, where: _Line) -> list[_Token]:
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
                    _fail(f"unbalanced {char!r} at column {position + 1}", where)
                stack.pop()
            elif not stack and (char.isspace() or char == ","):
                break
            position += 1
        if stack:
            _fail(f"unclosed group starting at column {start + 1} (missing {stack[-1]!r})",
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


def _first_word(text: str) -> str:
    return text.split(None, 1)[0] if text.strip() else ""


def _element_name(text: str, where: _Line) -> str:
    """Upper-case element name, validated."""
    name = text.upper()
    if not _ELEMENT_NAME_RE.fullmatch(name):
        _fail(f"invalid element name {text!r}: use letters, digits and '_' only, starting with "
              "the element letter", where)
    return name


def _node_name(text: str, where: _Line, element: str) -> str:
    """Lower-case node name (``gnd`` -> ``0``), validated."""
    node = text.lower()
    if node == "gnd":
        return "0"
    if not _NODE_RE.fullmatch(node):
        _fail(f"{element}: invalid node name {text!r}: use letters, digits and '_' only", where)
    return node


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _is_expression(text: str) -> bool:
    return len(text) >= 2 and ((text[0] == "{" and text[-1] == "}") or
                               (text[0] == "'" and text[-1] == "'"))


def _value(text: str, params: dict, where: _Line, what: str) -> float:
    """A number with a SPICE suffix, or a ``{expr}``/``'expr'`` evaluated safely."""
    if _is_expression(text):
        try:
            return evaluate_expression(text[1:-1], params)
        except ValueError as error:
            _fail(f"{what}: cannot evaluate {text!r}: {error}", where)
    try:
        return parse_spice_number(text)
    except ValueError:
        hint = ""
        match = re.fullmatch(r"(\d+)([a-z]+)(\d+)", text.lower())
        if match and match.group(2) in ("r", "k", "m", "meg", "u", "n", "p"):
            _fail(f"{what}: {text!r} is {match.group(1)}{match.group(2)}{match.group(3)} "
                  f"notation, which ngspice reads as {match.group(1)}"
                  f"{'' if match.group(2) == 'r' else match.group(2)} (it ignores the digits "
                  f"after the letter); write {match.group(1)}.{match.group(3)}"
                  f"{'' if match.group(2) == 'r' else match.group(2)}; refused", where)
        if text.lower() in params:
            hint = f"; write {{{text.lower()}}} to use the parameter"
        _fail(f"{what}: malformed value {text!r} (expected a number with an optional SPICE "
              f"suffix f p n u m k meg g t, e.g. 10k or 2.2u, or {{expression}}){hint}", where)


def _behavioural_form_hint(words: list) -> str:
    """A hint when ``words`` contain an E/G behavioural form (``VALUE=``, ``POLY(...)``)."""
    for word in words:
        if re.match(r"(VALUE|POLY|TABLE|LAPLACE|CUR|VOL|FREQ)\s*[=({]", word, re.I):
            return " (behavioural VALUE/POLY/TABLE forms are not supported; use a B source)"
    return ""


#: Transient waveforms of independent sources (their value at t = 0 is the DC value ngspice
#: uses for an operating point when no DC value is given): name -> (fewest, most arguments).
WAVEFORMS = {"PULSE": (2, 7), "SIN": (2, 6), "EXP": (2, 6), "PWL": (2, 2000),
             "SFFM": (2, 7)}
_SOURCE_WORDS = frozenset(WAVEFORMS) | {"AC", "DC", "DISTOF1", "DISTOF2", "AM", "TRNOISE",
                                        "TRRANDOM", "EXTERNAL", "PORTNUM", "Z0", "PWR", "FREQ"}


def _source_keyword(word: str) -> str | None:
    """The source keyword ``word`` starts (``PULSE(0 1)`` -> ``PULSE``), or None."""
    match = re.match(r"([A-Za-z][A-Za-z0-9]*)(?=$|\s*\(|=)", word)
    if match is None or match.group(1).upper() not in _SOURCE_WORDS:
        return None
    return match.group(1).upper()


#: Deepest nesting of ``.if`` blocks.
MAX_IF_DEPTH = 16
#: Most ``.func`` definitions in one netlist.
MAX_FUNCTIONS = 1000
_FUNC_RE = re.compile(r"\.func\s+([A-Za-z_]\w*)\s*\(([^()]*)\)\s*=?\s*(.*)", re.S | re.I)
_GROUP_RE = re.compile(r"\{[^{}]*\}|'[^']*'")
_CALL_RE = re.compile(r"([A-Za-z_]\w*)\s*\(")


def _func_definition(line: _Line, funcs: dict) -> tuple:
    """``(name, [args], body)`` of a ``.func`` line; names and calls checked."""
    match = _FUNC_RE.fullmatch(line.text.strip())
    if match is None:
        _fail(".func needs NAME(args) {expression}, e.g. .func f(x, y) {x*y + 1}", line)
    name, body = match.group(1).lower(), match.group(3).strip()
    if _is_expression(body):
        body = body[1:-1]
    if not body or len(body) > MAX_EXPR_CHARS:
        _fail(f".func {name}: the body must hold 1 to {MAX_EXPR_CHARS} characters", line)
    if name in _RESERVED_PARAMS or name in funcs:
        _fail(f".func {name}: the name is a built-in function or defined twice; refused", line)
    args = [a.strip().lower() for a in match.group(2).split(",")] if match.group(2).strip() \
        else []
    if len(set(args)) != len(args) or not all(_PARAM_NAME_RE.fullmatch(a) and
                                              a not in _RESERVED_PARAMS for a in args):
        _fail(f".func {name}: arguments must be distinct parameter names", line)
    for call in _CALL_RE.finditer(body):
        called = call.group(1).lower()
        if called not in _FUNCTIONS and called not in funcs:
            _fail(f".func {name}: calls {call.group(1)!r}, which is neither a math function "
                  "nor a .func defined before it (no recursion); refused", line)
    return name, args, body


def _expand_calls(text: str, funcs: dict, where: _Line) -> str:
    """``text`` with user-function calls inside ``{...}``/``'...'`` values expanded."""
    def group(match: re.Match) -> str:
        value = match.group()
        for _round in range(len(funcs) + 1):
            expanded = _expand_once(value, funcs, where)
            if len(expanded) > MAX_EXPR_CHARS:
                _fail(f"{value[:40]!r}: .func calls expand to more than {MAX_EXPR_CHARS} "
                      "characters; refused", where)
            if expanded == value:
                return value
            value = expanded
        return value
    return _GROUP_RE.sub(group, text)


def _expand_once(text: str, funcs: dict, where: _Line) -> str:
    """One pass: each call of a user function replaced by its body."""
    out, position = [], 0
    for call in _CALL_RE.finditer(text):
        name = call.group(1).lower()
        if name not in funcs or call.start() < position:
            continue
        depth, index, args, start = 1, call.end(), [], call.end()
        while index < len(text) and depth:
            char = text[index]
            depth += (char == "(") - (char == ")")
            if (char == "," and depth == 1) or depth == 0:
                args.append(text[start:index].strip())
                start = index + 1
            index += 1
        if depth:
            _fail(f"call of .func {name}: unbalanced parentheses", where)
        params, body = funcs[name]
        if args == [""] and not params:
            args = []
        if len(args) != len(params):
            _fail(f"call of .func {name}: {len(args)} arguments, expected {len(params)}", where)
        values = dict(zip(params, args))
        body = re.sub(r"\b[A-Za-z_]\w*\b",
                      lambda m: f"({values[m.group().lower()]})" if m.group().lower() in values
                      else m.group(), body)
        out += [text[position:call.start()], f"({body})"]
        position = index
    return "".join(out) + text[position:]


def _keyword_group(word: str) -> bool:
    """Whether ``word`` is a parenthesized source group such as ``(PWL 0 1 1n 2)``."""
    if not (word.startswith("(") and word.endswith(")")) or not word[1:-1].strip():
        return False
    return re.split(r"[\s(]", word[1:-1].strip())[0].upper() in _SOURCE_WORDS


def _waveform_at_zero(key: str, values: list, where: _Line, label: str) -> float:
    """A waveform's value at t = 0, as ngspice 39 computes it for an operating point.

    PULSE(V1 V2 TD ...) and EXP(V1 V2 TD1 ...) give V1; SIN(VO VA FREQ TD THETA PHASE)
    gives VO + VA sin(PHASE) (PHASE in degrees); SFFM(VO VA FC MDI FS PHASEC PHASES) gives
    VO + VA sin(PHASEC + MDI sin(PHASES)); PWL(T1 V1 T2 V2 ...) gives V1. A negative delay,
    a PULSE phase or PWL times that are negative or decreasing are refused: their value at
    t = 0 depends on more of the waveform.
    """
    fewest, most = WAVEFORMS[key]
    if not fewest <= len(values) <= most:
        _fail(f"{label}: {key} takes {fewest} to {most} values, got {len(values)}", where)
    if key in ("PULSE", "EXP", "SIN") and len(values) > 2 and values[2] < 0:
        _fail(f"{label}: {key} with a negative delay is not supported (its value at t = 0 "
              "depends on the waveform); refused", where)
    if key in ("PULSE", "EXP"):
        return values[0]
    if key == "SIN":
        phase = values[5] if len(values) > 5 else 0.0
        return values[0] + values[1] * math.sin(phase * math.pi / 180.0)
    if key == "SFFM":
        phasec = values[5] if len(values) > 5 else 0.0
        phases = values[6] if len(values) > 6 else 0.0
        return values[0] + values[1] * math.sin(phasec * math.pi / 180.0 + values[3] *
                                                math.sin(phases * math.pi / 180.0)) \
            if len(values) > 3 else values[0] + values[1] * math.sin(phasec * math.pi / 180.0)
    if len(values) % 2:
        _fail(f"{label}: PWL needs time-value pairs, got {len(values)} numbers", where)
    times = values[0::2]
    if times[0] < 0 or any(b < a for a, b in zip(times, times[1:])):
        _fail(f"{label}: PWL times must start at 0 or later and not decrease", where)
    return values[1]


def _read_text(path: Path, source: str) -> str:
    """Read a file as UTF-8 (else Latin-1), size-limited; errors name the file.

    At most :data:`MAX_FILE_BYTES` bytes are read (counted as read, so a FIFO or a device
    cannot stream forever: both are refused as not regular files). A file that is not UTF-8
    is read as Latin-1 (vendor netlists carry ``\xb5`` or ``\xe9`` in comments); the code
    itself must still be ASCII, which :func:`_logical_lines` checks line by line."""
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


def _logical_lines(text: str, source: str, main: bool) -> tuple[str | None, list[_Line]]:
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
            out.append(_Line(content, source, lineno, meta=True))
        elif content.startswith("+"):
            if last_card is None:
                raise NetlistError("continuation line '+' with no line before it to continue",
                                   source, lineno)
            continued.setdefault(last_card, []).append(content[1:].strip())
        else:
            out.append(_Line(content, source, lineno))
            last_card = len(out) - 1
    for index, parts in continued.items():   # joined once: linear in the number of lines
        previous = out[index]
        out[index] = _Line(" ".join([previous.text] + parts), previous.source, previous.line)
    return title, out


def _spec_name(title: str | None, stem: str | None) -> str:
    """The spec name: from an ``eqprop-hw NAME`` title, else the sanitized file stem."""
    words = (title or "").split()
    if len(words) == 2 and words[0] == "eqprop-hw" and NAME_RE.fullmatch(words[1]) and \
            len(words[1]) <= 80:
        return words[1]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem or "")
    name = re.sub(r"^[.-]+", "", name)[:80]
    return name if name and NAME_RE.fullmatch(name) else "imported"


# -- subcircuits and scopes ---------------------------------------------------------------
@dataclass
class _Subckt:
    name: str
    pins: list
    defaults: list
    where: _Line
    body: list = field(default_factory=list)

    def local_elements(self) -> frozenset:
        """Upper-case names of the elements defined directly in the body."""
        return frozenset(_first_word(line.text).upper() for line in self.body
                         if not line.meta and not line.text.startswith("."))


@dataclass
class _Scope:
    """Name mapping of one (sub)circuit level: ``path`` is ``""`` at top level."""

    path: str
    params: dict
    pins: dict = field(default_factory=dict)
    local: frozenset = frozenset()
    where: _Line | None = None
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


def _params_list(tokens: list[str], where: _Line, what: str) -> list[tuple[str, str]]:
    """``[params:] a=1 b={2*a}`` tokens as (lower name, value text) pairs."""
    pairs = []
    for token in tokens:
        if token.lower() == "params:":
            continue
        if token.lower().startswith("params:"):
            token = token[7:]
        match = _KV_RE.fullmatch(token)
        if match is None or not match.group(2):
            _fail(f"{what}: expected name=value, got {token!r}", where)
        name = match.group(1).lower()
        if not _PARAM_NAME_RE.fullmatch(name) or name in _RESERVED_PARAMS:
            _fail(f"{what}: invalid parameter name {match.group(1)!r} (letters, digits and '_'; "
                  "not a function or reserved name)", where)
        pairs.append((name, match.group(2)))
    return pairs


def _split_positional(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Split tokens into leading positional words and trailing ``params:``/``k=v`` words."""
    for position, token in enumerate(tokens):
        if token.lower().startswith("params:") or _KV_RE.fullmatch(token):
            return tokens[:position], tokens[position:]
    return tokens, []


def _subckt_header(line: _Line, node_name=None) -> _Subckt:
    """Parse ``.subckt NAME pins... [params:] a=1 ...``."""
    words = [t.text for t in _tokens(line.text, line)][1:]
    positional, assigns = _split_positional(words)
    if not positional:
        _fail(".subckt needs a name: .subckt NAME pin1 pin2 ...", line)
    name = positional[0].upper()
    if not _VENDOR_NAME_RE.fullmatch(name) or len(name) > 128:
        _fail(f"invalid subcircuit name {positional[0]!r} (letters, digits, '_', '.', '+', "
              "'-')", line)
    pins = []
    for pin in positional[1:]:
        node = (node_name or _node_name)(pin, line, f"subcircuit {name}")
        if node == "0":
            _fail(f"subcircuit {name}: ground cannot be a pin", line)
        if node in pins:
            _fail(f"subcircuit {name}: pin {node!r} listed twice", line)
        pins.append(node)
    return _Subckt(name, pins, _params_list(assigns, line, f"subcircuit {name}"), line)


# -- behavioural expressions --------------------------------------------------------------
def _b_tokens(text: str, where: _Line, name: str) -> list[tuple[str, str, int, int]]:
    out, position = [], 0
    while position < len(text):
        match = _B_TOKEN_RE.match(text, position)
        if match is None:
            _fail(f"{name}: character {text[position]!r} is not allowed in a behavioural "
                  "expression", where)
        if match.lastgroup != "space":
            out.append((match.lastgroup, match.group(), match.start(), match.end()))
        position = match.end()
    return out


def _check_balance(tokens: list, where: _Line, name: str) -> None:
    depth = {"(": 0, "{": 0}
    for kind, text, _s, _e in tokens:
        if kind == "op" and text in "({":
            depth[text] += 1
        elif kind == "op" and text in ")}":
            key = "(" if text == ")" else "{"
            depth[key] -= 1
            if depth[key] < 0:
                _fail(f"{name}: unbalanced {text!r} in behavioural expression", where)
    if any(depth.values()):
        _fail(f"{name}: unclosed parenthesis or brace in behavioural expression", where)


def _probe_args(tokens: list, start: int, where: _Line, name: str, probe: str,
                most: int) -> tuple[list, int]:
    """The argument tokens of ``v(...)`` / ``i(...)`` starting at the ``(``; and the end index."""
    args, index = [], start + 1
    while True:
        if index >= len(tokens) or tokens[index][0] not in ("name", "num"):
            break
        args.append(tokens[index])
        index += 1
        if index < len(tokens) and tokens[index][1] == "," and len(args) < most:
            index += 1
            continue
        break
    if not args or index >= len(tokens) or tokens[index][1] != ")":
        what = "one or two node names" if probe == "v" else "one voltage source name"
        _fail(f"{name}: {probe}() takes {what}", where)
    return args, index


def _behavioural(raw: str, scope: _Scope, where: _Line, name: str,
                 allow_unsafe: bool) -> tuple[str, list, list]:
    """Check a B expression; return (text with renames/params applied, nodes, sources)."""
    match = re.match(r"\s*([VvIi])\s*=", raw)
    if match is None:
        _fail(f"{name}: a behavioural source needs V=expression or I=expression after its "
              f"two nodes, got {raw!r}", where)
    if len(raw) > MAX_EXPR_CHARS:
        _fail(f"{name}: behavioural expression longer than {MAX_EXPR_CHARS} characters", where)
    tokens = _b_tokens(raw[match.end():], where, name)
    if not tokens:
        _fail(f"{name}: empty behavioural expression", where)
    _check_balance(tokens, where, name)
    offset, edits, nodes, sources = match.end(), [], [], []
    index = 0
    while index < len(tokens):
        kind, text, start, end = tokens[index]
        following = tokens[index + 1][1] if index + 1 < len(tokens) else None
        low = text.lower()
        if kind == "num":
            try:
                parse_spice_number(text)
            except ValueError:
                _fail(f"{name}: malformed number {text!r} in behavioural expression", where)
        elif kind == "name" and following == "(" and low in ("v", "i"):
            args, index = _probe_args(tokens, index + 1, where, name, low, 2 if low == "v" else 1)
            for _k, arg, a_start, a_end in args:
                if low == "v":
                    local = _node_name(arg, where, name)
                    nodes.append(scope.node(local))
                    if scope.path:
                        edits.append((a_start, a_end, scope.node(local)))
                else:
                    local = _element_name(arg, where)
                    sources.append(scope.control(local))
                    if scope.path:
                        edits.append((a_start, a_end, scope.control(local)))
        elif kind == "name" and following == "(":
            if low not in _B_FUNCTIONS and not allow_unsafe:
                _fail(f"{name}: function {text!r} is not allowed in a behavioural expression "
                      f"(allowed: math functions such as {', '.join(sorted(_FUNCTIONS)[:12])}, "
                      "..., v(), i()); refused", where)
        elif kind == "name":
            if low in scope.params and low not in _B_CONSTANTS:
                value = scope.params[low]
                edits.append((start, end, repr(value) if value >= 0 else f"({value!r})"))
            elif low not in _B_CONSTANTS and not allow_unsafe:
                _fail(f"{name}: unknown identifier {text!r} in behavioural expression (allowed: "
                      "v(node), i(VSOURCE), time, temper, pi, .param names, math functions); "
                      "refused", where)
        index += 1
    body = raw[match.end():]
    for start, end, replacement in sorted(edits, reverse=True):
        body = body[:start] + replacement + body[end:]
    text = (raw[:offset] + body).strip()
    try:    # the grammar every netlist writer enforces (eqprop_hw.circuit.spice_grammar)
        parse_expression(text)
    except ExpressionError as error:
        _fail(f"{name}: behavioural expression {text[:60]!r}: {error}; refused", where)
    return text, nodes, sources


# -- the importer -------------------------------------------------------------------------
class _Importer:
    """State of one import: options, models, elements and the name registries."""

    def __init__(self, root: Path | None, allow_unsafe: bool):
        self.root = root
        self.allow_unsafe = allow_unsafe
        self.params: dict = {}
        self.models: dict = {}
        self.model_lines: dict = {}
        self.options: dict = {}
        self.subckts: dict = {}
        self.elements: list = []
        self.element_lines: dict = {}
        self.element_types: dict = {}
        self.node_owner: dict = {}
        self.instances: set = set()
        self.deferred: list = []
        self.sizes: dict = {}
        self.included_files = 0
        self.included_bytes = 0
        self.notes: dict = {}
        self.other_models: dict = {}
        self.used_subckts: set = set()
        self.globals: set = set()
        self.node_aliases: dict = {}
        self.alias_values: set = set()
        self.words: set = set()
        self.model_alias: dict = {}
        self.main_source: str | None = None

    def note(self, kind: str, item: str) -> None:
        """Record one note item under ``kind`` (``left out``, ``renamed``, ``ignored``...)."""
        self.notes.setdefault(kind, []).append(item)

    def where(self, line: _Line, last: int | None = None) -> str:
        """``line 8`` / ``lines 12-20`` (``FILE:8`` for an included file)."""
        span = f"{line.line}-{last}" if last is not None and last != line.line else \
            str(line.line)
        if line.source != self.main_source:
            return f"{Path(line.source).name}:{span}"
        return f"line{'s' if '-' in span else ''} {span}"

    def node(self, text: str, where: _Line, element: str) -> str:
        """A node name; a vendor name (``IN+``) is mapped to a grammar name (``in_p``).

        The mapping is deterministic: each character of :data:`_NODE_CHAR_MAP` is replaced,
        and ``_1``, ``_2``... appended while the result equals a word of the netlist or
        another mapped name. Mappings are listed in the ``renamed`` note.
        """
        low = text.lower()
        if low == "gnd" or _NODE_RE.fullmatch(low) or len(low) > 128 or \
                not _VENDOR_NODE_RE.fullmatch(low):
            return _node_name(text, where, element)
        if low in self.node_aliases:
            return self.node_aliases[low]
        base = "".join(_NODE_CHAR_MAP.get(char, char) for char in low)
        candidate, count = base, 0
        while candidate in self.words or candidate in self.alias_values:
            count += 1
            candidate = f"{base}_{count}"
        self.node_aliases[low] = candidate
        self.alias_values.add(candidate)
        self.note("renamed", f"{text} -> {candidate}")
        return candidate

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
            word = "" if line.meta else _first_word(line.text).lower()
            depth += (word == ".subckt") - (word == ".ends")
            if word != ".func":
                out.append(line)
                continue
            if depth > 0:
                _fail(".func inside a subcircuit is not supported (define it at the top "
                      "level); refused", line)
            if len(funcs) >= MAX_FUNCTIONS:
                _fail(f"more than {MAX_FUNCTIONS} .func definitions", line)
            name, args, body = _func_definition(line, funcs)
            funcs[name] = (args, body)
        if not funcs:
            return lines
        return [line if line.meta or not _GROUP_RE.search(line.text) else
                _Line(_expand_calls(line.text, funcs, line), line.source, line.line, line.meta)
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
            word = "" if line.meta else _first_word(line.text).lower()
            if word in (".if", ".elseif", ".else", ".endif"):
                if in_subckt:
                    _fail(f"{word} inside a subcircuit is not supported; refused", line)
                self._conditional(word, line, params, stack)
                continue
            if stack and not all(frame["active"] for frame in stack):
                continue
            in_subckt += (word == ".subckt") - (word == ".ends")
            if word == ".param" and not in_subckt:
                self._param(line, params)
            out.append(line)
        if stack:
            _fail(".if block is never closed: no .endif before the end of the file",
                  stack[-1]["line"])
        return out

    def _conditional(self, word: str, line: _Line, params: dict, stack: list) -> None:
        """One ``.if``-family card: update the stack of open blocks."""
        outer = all(frame["active"] for frame in stack)
        if word == ".if":
            if len(stack) >= MAX_IF_DEPTH:
                _fail(f".if blocks nested deeper than {MAX_IF_DEPTH}", line)
            taken = outer and self._condition(line, params)
            stack.append({"line": line, "active": taken, "done": taken, "else": False,
                          "start": line})
            return
        if not stack:
            _fail(f"{word} without a matching .if", line)
        frame, outer = stack[-1], all(frame["active"] for frame in stack[:-1])
        if not frame["active"] and outer:
            self.note("left out", f".if branch not taken ({self.where(frame['start'], line.line)})")
        if word == ".endif":
            stack.pop()
            return
        if frame["else"]:
            _fail(f"{word} after .else (the .if at line {frame['line'].line})", line)
        frame["start"] = line
        if word == ".else":
            frame["else"] = True
            frame["active"] = outer and not frame["done"]
        else:
            frame["active"] = outer and not frame["done"] and self._condition(line, params)
        frame["done"] = frame["done"] or frame["active"]

    @staticmethod
    def _condition(line: _Line, params: dict) -> bool:
        """The value of ``.if (expr)`` / ``.elseif (expr)``: nonzero is true."""
        text = line.text.split(None, 1)[1].strip() if len(line.text.split()) > 1 else ""
        if not (text.startswith("(") and text.endswith(")")):
            _fail(f"{_first_word(line.text).lower()} needs a condition in parentheses, e.g. "
                  ".if (a == 1)", line)
        try:
            return evaluate_expression(text, params) != 0
        except ValueError as error:
            _fail(f"{_first_word(line.text).lower()} {text[:40]}: cannot evaluate: {error} "
                  "(conditions may use .param values defined before them)", line)

    def collect_words(self, lines: list) -> None:
        """Every lower-case word of the netlist: mapped names must differ from all of them."""
        for line in lines:
            self.words.update(re.split(r"[\s,(){}=']+", line.text.lower()))

    def note_unused(self) -> None:
        """Note the models of other types and the subcircuits that no element uses."""
        used = {item.get("model") for item in self.elements}
        unused = [f"{name} ({kind})" for name, kind in self.other_models.items()
                  if name not in used]
        if unused:
            self.note("ignored", "unused models " + ", ".join(unused))
        subs = [name for name in self.subckts if name not in self.used_subckts]
        if subs:
            self.note("ignored", "unused subcircuits " + ", ".join(subs))

    def note_lines(self) -> list:
        """The notes as lines: ``KIND: item, item, ... (and N more)``."""
        out = []
        for kind, items in self.notes.items():
            shown = ", ".join(items[:MAX_NOTE_ITEMS])
            if len(items) > MAX_NOTE_ITEMS:
                shown += f" and {len(items) - MAX_NOTE_ITEMS} more"
            out.append(f"{kind}: {shown}")
        return out

    # -- reading and includes ---------------------------------------------------------
    def expand(self, lines: list, directory: Path | None, depth: int, stack: tuple) -> list:
        """Expand includes and library sections; drop .control blocks (or refuse them)."""
        out, index = [], 0
        while index < len(lines):
            line = lines[index]
            word = "" if line.meta else _first_word(line.text).lower()
            if word == ".end":
                break
            if word == ".control":   # never run, never written: left out and noted
                end = self._skip_to(lines, index, ".endc")
                self.note("left out", f".control block ({self.where(line, lines[end].line)})")
                index = end
            elif word in (".include", ".inc"):
                out += self._include(line, directory, depth, stack)
            elif word == ".lib":
                args = [t.text for t in _tokens(line.text, line)][1:]
                if len(args) == 1:
                    index = self._section_end(lines, index, _unquote(args[0]).lower())
                elif len(args) == 2:
                    out += self._library(line, args, directory, depth, stack)
                else:
                    _fail(".lib takes a file and a section: .lib FILE SECTION", line)
            elif word in (".endc", ".endl"):
                _fail(f"{word} without a matching "
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
            if not lines[position].meta and _first_word(lines[position].text).lower() == end:
                return position
        _fail(f"{_first_word(lines[index].text).lower()} block is never closed: no {end} "
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
                if len(words) > 1 and _unquote(words[1]).lower() != section:
                    _fail(f".endl {words[1]} closes section {section!r} (opened at line "
                          f"{lines[index].line}): the names differ", entry)
                return position
            if word == ".lib" and len(words) == 2:
                _fail(f".lib section {section!r} has no .endl before .lib {words[1]} at line "
                      f"{entry.line}", lines[index])
        _fail(f".lib section {section!r} has no .endl before the end of the file",
              lines[index])

    def _resolve(self, line: _Line, name: str, directory: Path | None) -> Path:
        """The included file, which must lie inside the netlist's folder."""
        card = _first_word(line.text).lower()
        if not name:
            _fail(f"{card} needs a file name", line)
        if self.root is None or directory is None:
            _fail(f"{card} {name}: cannot include files into a netlist given as text without "
                  "base_dir; import the netlist file instead", line)
        try:
            candidate = Path(name)
            resolved = (candidate if candidate.is_absolute() else directory / candidate).resolve()
        except (OSError, RuntimeError, ValueError) as error:
            _fail(f"{card} {name}: cannot resolve the path ({error})", line)
        if not self.allow_unsafe and not resolved.is_relative_to(self.root):
            _fail(f"{card} {name} refused: it resolves to {resolved}, outside the netlist's "
                  f"folder {self.root}; only files inside that folder may be included "
                  "(copy the file there)", line)
        try:
            regular = resolved.is_file()
        except OSError:
            regular = False
        if not regular:
            _fail(f"{card} {name}: no such file {resolved} (or not a regular file)", line)
        return resolved

    def _read_included(self, line: _Line, resolved: Path, key: tuple, depth: int,
                       stack: tuple) -> list:
        if key in stack:
            _fail(f"recursive {_first_word(line.text).lower()}: {resolved} is already being "
                  "read (a file includes itself)", line)
        if depth >= MAX_INCLUDE_DEPTH:
            _fail(f"includes nested deeper than {MAX_INCLUDE_DEPTH} files", line)
        self.included_files += 1
        if self.included_files > MAX_INCLUDED_FILES:
            _fail(f"more than {MAX_INCLUDED_FILES} .include/.lib files read in all "
                  "(counting repeats)", line)
        text = _read_text(resolved, str(resolved))
        self.included_bytes += len(text.encode("utf-8"))
        if self.included_bytes > MAX_INCLUDED_BYTES:
            _fail(f"included files add up to more than {MAX_INCLUDED_BYTES} bytes "
                  "(counting repeats)", line)
        _title, lines = _logical_lines(text, str(resolved), main=False)
        return lines

    def _include(self, line: _Line, directory, depth: int, stack: tuple) -> list:
        args = [t.text for t in _tokens(line.text, line)][1:]
        if len(args) != 1:
            _fail(".include takes one file name: .include FILE", line)
        resolved = self._resolve(line, _unquote(args[0]), directory)
        key = (resolved, None)
        lines = self._read_included(line, resolved, key, depth, stack)
        return self.expand(lines, resolved.parent, depth + 1, stack + (key,))

    def _library(self, line: _Line, args: list, directory, depth: int, stack: tuple) -> list:
        resolved = self._resolve(line, _unquote(args[0]), directory)
        section = _unquote(args[1]).lower()
        key = (resolved, section)
        lines = self._read_included(line, resolved, key, depth, stack)
        found = []
        for position, entry in enumerate(lines):
            words = [] if entry.meta else entry.text.split()
            if len(words) == 2 and words[0].lower() == ".lib" and \
                    _unquote(words[1]).lower() == section:
                found.append(position)
        if not found:
            _fail(f".lib {args[0]} {args[1]}: section {args[1]!r} not found in {resolved}", line)
        if len(found) > 1:
            _fail(f".lib {args[0]} {args[1]}: section {args[1]!r} is defined twice in "
                  f"{resolved} (lines {lines[found[0]].line} and {lines[found[1]].line})", line)
        try:
            end = self._section_end(lines, found[0], section)
        except NetlistError as error:
            _fail(f".lib {args[0]} {args[1]}: {error}", line)
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
            word = _first_word(line.text).lower()
            if word == ".subckt":
                sub = _subckt_header(line, self.node)
                if sub.name in self.subckts or any(d.name == sub.name for d in open_defs):
                    first = self.subckts.get(sub.name) or next(d for d in open_defs
                                                                if d.name == sub.name)
                    _fail(f"subcircuit {sub.name} defined twice (first at line "
                          f"{first.where.line})", line)
                open_defs.append(sub)
            elif word == ".ends":
                if not open_defs:
                    _fail(".ends without a matching .subckt", line)
                sub = open_defs.pop()
                words = line.text.split()
                if len(words) > 1 and words[1].upper() != sub.name:
                    _fail(f".ends {words[1]} closes subcircuit {sub.name} (opened at line "
                          f"{sub.where.line})", line)
                self.subckts[sub.name] = sub
            elif open_defs:
                open_defs[-1].body.append(line)
            else:
                top.append(line)
        if open_defs:
            _fail(f"subcircuit {open_defs[-1].name} has no .ends", open_defs[-1].where)
        return top, meta

    def cards(self, top: list) -> None:
        """Top-level ``.param``, then ``.model`` (everywhere) and ``.options``."""
        first: dict = {}
        for line in top:
            if _first_word(line.text).lower() == ".param":
                words = [t.text for t in _tokens(line.text, line)][1:]
                for name, _text in _params_list(words, line, ".param"):
                    if name in first:   # ngspice would use the last value everywhere
                        _fail(f".param {name} defined twice (lines {first[name].line} and "
                              f"{line.line}): ngspice uses the last value everywhere, also "
                              "in lines before it; refused (keep one definition)", line)
                    first[name] = line
                self._param(line, self.params)
        model_lines = [line for line in top if _first_word(line.text).lower() == ".model"]
        for sub in self.subckts.values():
            model_lines += [line for line in sub.body
                            if _first_word(line.text).lower() == ".model"]
        for line in sorted(model_lines, key=lambda ln: (ln.source, ln.line)):
            self._model(line)
        for line in top:
            if _first_word(line.text).lower() in OPTION_CARDS:
                self._options(line)
        for line in top:
            word = _first_word(line.text).lower()
            if word == ".temp":
                self._temp(line)
            elif word == ".global":
                for text in line.text.split()[1:]:
                    node = self.node(text, line, ".global")
                    if node != "0":
                        self.globals.add(node)
        for sub in self.subckts.values():
            for line in sub.body:
                if _first_word(line.text).lower() in (".global", ".temp"):
                    _fail(f"{_first_word(line.text).lower()} inside subcircuit {sub.name}: "
                          "only allowed at the top level; refused", line)

    def _temp(self, line: _Line) -> None:
        """``.temp T`` (degC): the circuit temperature, as ``options.temp``."""
        words = [t.text for t in _tokens(line.text, line)][1:]
        if len(words) != 1:
            _fail(f".temp takes one temperature (degC), got {len(words)} values (several "
                  "would run the analysis once per temperature); refused", line)
        value = _value(words[0], self.params, line, ".temp")
        if "temp" in self.options and self.options["temp"] != value:
            _fail(f".temp {words[0]} contradicts .options temp={self.options['temp']!r}; "
                  "refused", line)
        self.options["temp"] = value

    def _param(self, line: _Line, params: dict) -> None:
        words = [t.text for t in _tokens(line.text, line)][1:]
        if not words:
            _fail(".param needs name=value pairs", line)
        for name, text in _params_list(words, line, ".param"):
            try:
                params[name] = parse_spice_number(text)
            except ValueError:
                expression = text[1:-1] if _is_expression(text) else text
                try:
                    params[name] = evaluate_expression(expression, params)
                except ValueError as error:
                    _fail(f".param {name}: cannot evaluate {text!r}: {error}", line)

    def _model(self, line: _Line) -> None:
        match = re.match(r"\.model\s+(\S+)\s*(.*)", line.text, re.I | re.S)
        if match is None:
            _fail(".model needs a name and a type: .model NAME D(IS=... N=...)", line)
        name = match.group(1).upper()
        if not _VENDOR_NAME_RE.fullmatch(name) or len(name) > 120:
            _fail(f"invalid model name {match.group(1)!r} (letters, digits, '_', '.', '+', "
                  "'-')", line)
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):   # 1N4148, nch.1: a grammar name
            raw, base = name, re.sub(r"[.+\-]", "_", name)
            base = base if base[0].isalpha() else "D" + base
            name, count = base, 0
            while name.lower() in self.words or name in self.model_alias.values():
                count += 1
                name = f"{base}_{count}"
            self.model_alias[raw] = name
            self.note("renamed", f"model {match.group(1)} -> {name}")
        kind = re.match(r"([A-Za-z][A-Za-z0-9_]*)\s*(.*)", match.group(2), re.S)
        if kind is None:
            _fail(f"model {name}: missing model type (only D, diode, is supported)", line)
        if name in self.models or name in self.other_models:
            _fail(f"model {name} defined twice (first at line {self.model_lines[name].line})",
                  line)
        if kind.group(1).upper() != "D":   # kept aside: an error only when an element uses it
            self.other_models[name] = kind.group(1).upper()
            self.model_lines[name] = line
            return
        body = kind.group(2).strip()
        if body.startswith("("):
            if not body.endswith(")"):
                _fail(f"model {name}: unbalanced parentheses in the parameter list", line)
            body = body[1:-1]
        allowed = tuple(DIODE_DC_PARAMS) + tuple(DIODE_DATASHEET_PARAMS) + DIODE_AC_PARAMS
        values = {}
        for token in _tokens(body, line):
            pair = _KV_RE.fullmatch(token.text)
            if pair is None:
                _fail(f"model {name}: expected PARAM=value, got {token.text!r}", line)
            key = pair.group(1).upper()
            if key not in allowed:
                _fail(f"model {name}: unsupported diode parameter {key} (supported: "
                      f"{' '.join(allowed)})", line)
            if key in values:
                _fail(f"model {name}: parameter {key} given twice", line)
            values[key] = _value(pair.group(2), self.params, line, f"model {name} {key}")
        checks = {"IS": values.get("IS", 1.0) > 0, "N": values.get("N", 1.0) > 0,
                  "RS": values.get("RS", 0.0) >= 0}
        for key, ok in checks.items():
            if not ok:
                _fail(f"model {name}: {key} must be {'>= 0' if key == 'RS' else 'positive'}, "
                      f"got {values[key]!r}", line)
        self.models[name] = {key: values[key] for key in allowed if key in values}
        self.model_lines[name] = line

    def _options(self, line: _Line) -> None:
        for token in _tokens(line.text, line)[1:]:
            pair = _KV_RE.fullmatch(token.text)
            if pair is None or pair.group(1).lower() not in OPTION_NAMES:
                continue  # flags and options the spec does not know are ignored
            key = pair.group(1).lower()
            value = _value(pair.group(2), self.params, line, f".options {key}")
            if key not in ("temp", "tnom") and value <= 0:
                _fail(f".options {key} must be positive, got {value!r}", line)
            self.options[key] = value

    # -- elements ----------------------------------------------------------------------
    def body(self, lines: list, scope: _Scope, stack: tuple) -> None:
        """Process the element lines of one level (top or a subcircuit instance)."""
        for line in lines:
            word = _first_word(line.text)
            low = word.lower()
            if low.startswith("."):
                self._card(line, low, scope)
            elif low in CONTROL_COMMANDS:   # refused, also with allow_unsafe
                _fail(f"{word!r} looks like an ngspice control command; control commands "
                      "outside a .control block are refused (rename the element if it is "
                      "one)", line)
            elif word[:1].upper() == "X":
                self._instance(line, scope, stack)
            elif word[:1].upper() in NODE_COUNT:
                self._element(line, scope)
            elif word[:1].upper() == "A":
                _fail(f"XSPICE device {word} refused: code models are not supported", line)
            elif word[:1].upper() in _UNSUPPORTED:
                _fail(f"unsupported element {word} ({_UNSUPPORTED[word[:1].upper()]}): only "
                      "R C L D V I E G F H B elements and X subcircuit instances are supported",
                      line)
            else:
                _fail(f"cannot parse line starting {word[:20]!r}: expected an element (R1 a b "
                      "1k), a .card or a * comment", line)

    def _card(self, line: _Line, word: str, scope: _Scope) -> None:
        if word in (".param", ".model", ".temp", ".global"):
            return
        if word in IGNORED_CARDS:
            self.note("left out", f"{word} ({self.where(line)})")
            return
        if word in OPTION_CARDS:
            if scope.path:
                _fail(".options inside a subcircuit is not supported; move it to the top level",
                      line)
            return
        # every other card is refused, also with allow_unsafe: skipping a card that changes
        # the circuit would change the answer without a word
        reasons = {".exec": "it runs commands", ".csparam": "it passes values to control scripts",
                   ".nodeset": "it can select another operating point",
                   ".shell": "it runs shell commands"}
        reason = reasons.get(word, "not in the supported subset (.param .model .subckt .ends "
                                   ".include .lib .options and analysis cards)")
        _fail(f"card {word} refused: {reason}", line)

    def _register(self, name: str, kind: str, item: dict, line: _Line) -> None:
        if name in self.element_lines:
            first = self.element_lines[name]
            _fail(f"duplicate element name {name} (first defined at {first.source}:"
                  f"{first.line}); rename one of them", line)
        if len(self.elements) >= MAX_ELEMENTS:
            _fail(f"more than {MAX_ELEMENTS} elements after flattening subcircuits", line)
        self.element_lines[name] = line
        self.element_types[name] = kind
        self.elements.append(item)

    def _map_nodes(self, texts: list, scope: _Scope, line: _Line, element: str) -> list:
        """Map local node names to final ones, checking flattened names for collisions."""
        out = []
        for text in texts:
            local = self.node(text, line, element)
            final = scope.node(local)
            if scope.creates(local):
                owner = self.node_owner.setdefault(final, (scope.path, scope, line))
                if owner[0] != scope.path:
                    _fail(f"{element}: node {final!r} of {scope.describe()} collides with node "
                          f"{final!r} of {owner[1].describe()} (line {owner[2].line}); rename "
                          "one of them", line)
            out.append(final)
        return out

    def _element(self, line: _Line, scope: _Scope) -> None:
        tokens = _tokens(line.text, line)
        local = _element_name(tokens[0].text, line)
        kind, name = local[0], scope.element(local)
        label = name if not scope.path else f"{local} (in {scope.describe()})"
        count = NODE_COUNT[kind]
        args = [t.text for t in tokens[1:]]
        hint = _behavioural_form_hint(args[:count + 1])
        if hint:
            _fail(f"{label}: unsupported element form{hint}", line)
        if len(args) < count:
            _fail(f"{label}: needs {count} nodes, got {len(args)} "
                  f"(syntax: {ELEMENT_SYNTAX[kind]})", line)
        nodes = self._map_nodes(args[:count], scope, line, label)
        item = {"name": name, "nodes": nodes}
        if kind == "B":
            raw = line.text[tokens[1 + count].start:] if len(tokens) > 1 + count else ""
            expr, probes, sources = _behavioural(raw, scope, line, label, self.allow_unsafe)
            item["expr"] = expr
            self.deferred.append((line, label, probes, sources))
        else:
            self._values(kind, args[count:], item, scope, line, label)
        if kind in "VLEH" and nodes[0] == nodes[1]:
            _fail(f"{label}: both terminals on node {nodes[0]!r} (a shorted source)", line)
        self._register(name, kind, item, line)

    def _values(self, kind: str, rest: list, item: dict, scope: _Scope, line: _Line,
                label: str) -> None:
        """Fill the value keys of a non-B element from the tokens after its nodes."""
        params = scope.params
        if kind in "VI":
            item["dc"] = self._source_value(rest, params, line, label)
        elif kind in "FH":
            if len(rest) != 2:
                _fail(f"{label}: expected a controlling voltage source and a gain "
                      f"(syntax: {ELEMENT_SYNTAX[kind]})", line)
            control = scope.control(_element_name(rest[0], line))
            item["gain"] = _value(rest[1], params, line, f"{label} gain")
            item["control"] = control
            self.deferred.append((line, label, [], [control]))
        elif kind == "D":
            if not 1 <= len(rest) <= 3:
                _fail(f"{label}: expected a model name and an optional area "
                      f"(syntax: {ELEMENT_SYNTAX[kind]})", line)
            model = rest[0].upper()
            model = self.model_alias.get(model, model)
            if model in self.other_models:
                _fail(f"{label}: model {rest[0]} is a{'n' if self.other_models[model][0] in 'AEINOU' else ''} "
                      f"{self.other_models[model]} model, not a diode (type D)", line)
            if model not in self.models:
                _fail(f"{label}: unknown diode model {rest[0]!r} (defined: "
                      f"{', '.join(self.models) or 'none'}; add a .model {model} D(...) card)",
                      line)
            item["model"] = model
            area, multiplier = 1.0, 1.0
            for position, word in enumerate(rest[1:]):
                pair = _KV_RE.fullmatch(word)
                key = pair.group(1).lower() if pair else ("area" if position == 0 else None)
                if key not in ("area", "m"):
                    _fail(f"{label}: unsupported diode parameter "
                          f"{(pair.group(1) if pair else word)!r} (supported: area, m); "
                          "refused", line)
                number = _value(pair.group(2) if pair else word, params, line,
                                f"{label} {key}")
                if number <= 0:
                    _fail(f"{label}: diode {key} must be positive, got {number!r}", line)
                if key == "area":
                    area = number
                else:
                    multiplier = number
            if multiplier != 1.0:   # m parallel diodes: area * m (IS, IBV, 1/RS scale alike)
                self.note("folded", f"{label} m={multiplier!r} ({self.where(line)})")
            if area * multiplier != 1.0:
                item["area"] = area * multiplier
        else:
            key = {"R": "r", "C": "c", "L": "l"}.get(kind, "gain")
            hint = _behavioural_form_hint(rest[:1])
            positional, assigns = _split_positional(rest)
            if kind in "RCL" and not positional and assigns and \
                    assigns[0].lower().startswith(f"{key}="):
                positional, assigns = [assigns[0][len(key) + 1:]], assigns[1:]
            if len(positional) != 1 or (assigns and kind not in "RCL"):
                _fail(f"{label}: expected exactly one value after the nodes, got "
                      f"{len(rest)} (syntax: {ELEMENT_SYNTAX[kind]}){hint}", line)
            text = positional[0]
            pair = _KV_RE.fullmatch(text)
            if pair is not None:
                _fail(f"{label}: unsupported parameter {pair.group(1)!r}{hint}", line)
            value = _value(text, params, line, f"{label} value")
            if kind in "RCL" and value <= 0:
                what = {"R": "resistance", "C": "capacitance", "L": "inductance"}[kind]
                extra = (" (a negative nudging resistance cannot be imported: eqprop-hw "
                         "circuits need positive conductances)") if kind == "R" else ""
                _fail(f"{label}: {what} must be positive, got {value!r}{extra}", line)
            if assigns:
                value = self._instance_params(kind, value, assigns, params, line, label)
            item[key] = value

    def _instance_params(self, kind: str, value: float, assigns: list, params: dict,
                         line: _Line, label: str) -> float:
        """Fold ``m=`` into an R, C or L value; note those that leave DC alone; refuse others.

        ``m`` (parallel devices) gives R/m, C*m, L/m. ``ic=`` (C, L: transient initial
        condition) and ``ac=`` (R: AC resistance) do not change an operating point; ``tc1=``
        and ``tc2=`` do not either while the circuit temperature equals TNOM (both default
        27 degC), and are refused at another temperature (they would change R there).
        """
        multiplier, left = 1.0, []
        for name, text in _params_list(assigns, line, label):
            number = _value(text, params, line, f"{label} {name}")
            if name == "m":
                if number <= 0:
                    _fail(f"{label}: m (parallel devices) must be positive, got {number!r}",
                          line)
                multiplier *= number
            elif (name == "ic" and kind in "CL") or (name == "ac" and kind == "R"):
                left.append(f"{name}=")
            elif name in ("tc1", "tc2", "tc") and kind in "RC":
                temp = self.options.get("temp", 27.0)
                tnom = self.options.get("tnom", 27.0)
                if number != 0 and temp != tnom:
                    _fail(f"{label}: {name}={text} changes the value at {temp!r} degC (TNOM "
                          f"{tnom!r}): temperature coefficients are not modelled; refused",
                          line)
                left.append(f"{name}=")
            else:
                _fail(f"{label}: unsupported instance parameter {name!r} (supported: m, and "
                      "ic on C and L, ac on R, tc1/tc2 at TNOM); refused", line)
        if left:
            self.note("accepted", f"{label} {' '.join(left)} (no effect on the operating "
                                  f"point; {self.where(line)})")
        if multiplier != 1.0:
            self.note("folded", f"{label} m={multiplier!r} ({self.where(line)})")
        return value / multiplier if kind in "RL" else value * multiplier

    def _source_value(self, rest: list, params: dict, line: _Line, label: str) -> float:
        """The value ngspice uses for a source in an operating point.

        ``[DC] value``, then optionally ``AC mag [phase]`` and one waveform (``PULSE SIN PWL
        EXP SFFM``, with or without parentheses). The DC value if given, else the waveform's
        value at t = 0 as ngspice 39 computes it (see :func:`_waveform_at_zero`), else 0.
        AC and waveform specifications are left out and noted; other source keywords
        (``AM``, ``TRNOISE``, ...) are refused by name.
        """
        dc, words, index = None, list(rest), 0
        if words and words[0].upper() == "DC":
            if len(words) < 2:
                _fail(f"{label}: DC needs a value", line)
            dc, index = _value(words[1], params, line, f"{label} DC value"), 2
        elif words and words[0].upper().startswith("DC="):
            dc, index = _value(words[0][3:], params, line, f"{label} DC value"), 1
        elif words and not _source_keyword(words[0]):
            dc, index = _value(words[0], params, line, f"{label} value"), 1
        waveform, left = None, []
        while index < len(words):
            word = words[index]
            if _keyword_group(word):   # ngspice's (PWL ...) (AC 1) groups
                words[index:index + 1] = [t.text for t in _tokens(word[1:-1], line)]
                continue
            key = _source_keyword(word)
            if key == "DC" and dc is None and index + 1 < len(words):   # AC 1 DC 0
                dc = _value(words[index + 1], params, line, f"{label} DC value")
                index += 2
            elif key == "AC":
                index += 1
                count = 0
                while index < len(words) and count < 2 and not _source_keyword(words[index]) \
                        and not _keyword_group(words[index]):
                    _value(words[index], params, line, f"{label} AC value")
                    index, count = index + 1, count + 1
                left.append("AC")
            elif key in WAVEFORMS:
                if waveform is not None:
                    _fail(f"{label}: two waveforms ({waveform[0]} and {key})", line)
                inner = word[len(key):].strip()
                index += 1
                if not inner:
                    args = []
                    while index < len(words) and not _source_keyword(words[index]) and \
                            not _keyword_group(words[index]):
                        args.append(words[index])
                        index += 1
                    if len(args) == 1 and args[0].startswith("("):
                        args = [t.text for t in _tokens(args[0][1:-1], line)]
                else:
                    if not (inner.startswith("(") and inner.endswith(")")):
                        _fail(f"{label}: malformed {key} specification {word!r}", line)
                    args = [t.text for t in _tokens(inner[1:-1], line)]
                while index < len(words) and _KV_RE.fullmatch(words[index]) and \
                        not _source_keyword(words[index]):   # PWL(...) r=0 td=1n
                    args.append(words[index])
                    index += 1
                waveform = (key, args)
                left.append(key)
            elif key in ("DISTOF1", "DISTOF2"):
                index += 1
                while index < len(words) and not _source_keyword(words[index]):
                    index += 1
                left.append(key)
            else:
                _fail(f"{label}: unsupported source specification {word!r} (supported: [DC] "
                      "value, AC, PULSE, SIN, PWL, EXP, SFFM); refused", line)
        if left:
            self.note("left out", f"{label} {'/'.join(left)} ({self.where(line)})")
        if waveform is not None:   # checked even when the DC value is used
            key, args = waveform
            for option in [a for a in args if _KV_RE.fullmatch(a)]:   # PWL r= and td=
                name, text = _KV_RE.fullmatch(option).groups()
                if key != "PWL" or name.lower() not in ("r", "td"):
                    _fail(f"{label}: {key} option {name}= is not supported; refused", line)
                if _value(text, params, line, f"{label} PWL {name}") < 0:
                    _fail(f"{label}: PWL {name}= must not be negative (the value at t = 0 "
                          "would depend on it); refused", line)
                args = [a for a in args if a is not option]
            values = [_value(a, params, line, f"{label} {key} value") for a in args]
            at_zero = _waveform_at_zero(key, values, line, label)
            if dc is None:
                return at_zero
        return 0.0 if dc is None else dc

    def _instance(self, line: _Line, scope: _Scope, stack: tuple) -> None:
        words = [t.text for t in _tokens(line.text, line)]
        local = _element_name(words[0], line)
        positional, assigns = _split_positional(words[1:])
        if not positional:
            _fail(f"{local}: missing subcircuit name (syntax: {ELEMENT_SYNTAX['X']})", line)
        sub_name = positional[-1].upper()
        sub = self.subckts.get(sub_name)
        if sub is None:
            _fail(f"{local}: unknown subcircuit {positional[-1]!r} (defined: "
                  f"{', '.join(sorted(self.subckts)) or 'none'})", line)
        if len(positional) - 1 != len(sub.pins):
            _fail(f"{local}: subcircuit {sub_name} has {len(sub.pins)} pins "
                  f"({' '.join(sub.pins)}), got {len(positional) - 1} nodes", line)
        if sub_name in stack:
            _fail(f"{local}: subcircuit {sub_name} instantiates itself "
                  f"({' -> '.join(stack + (sub_name,))})", line)
        if len(stack) >= MAX_SUBCKT_DEPTH:
            _fail(f"{local}: subcircuits nested deeper than {MAX_SUBCKT_DEPTH}", line)
        if len(self.elements) + self._flat_size(sub_name, ()) > MAX_ELEMENTS:
            _fail(f"{local}: flattening subcircuit {sub_name} would give more than "
                  f"{MAX_ELEMENTS} elements", line)
        path = f"{scope.path}_{local}" if scope.path else local
        if path in self.instances:
            _fail(f"duplicate subcircuit instance {local}", line)
        self.instances.add(path)
        self.used_subckts.add(sub_name)
        label = local if not scope.path else f"{local} (in {scope.describe()})"
        nodes = self._map_nodes(positional[:-1], scope, line, label)
        params = dict(self.params)
        declared = {name for name, _text in sub.defaults}
        overrides = {}
        for name, text in _params_list(assigns, line, label):
            if name not in declared:
                _fail(f"{label}: subcircuit {sub_name} has no parameter {name!r} (declared: "
                      f"{', '.join(sorted(declared)) or 'none'})", line)
            overrides[name] = _value(text, scope.params, line, f"{label} {name}")
        params.update(overrides)
        for name, text in sub.defaults:
            if name not in overrides:
                params[name] = _value(text, params, sub.where, f"subcircuit {sub_name} {name}")
        shared = sorted(set(sub.pins) & self.globals)
        if shared:
            _fail(f"{label}: pin {shared[0]!r} of subcircuit {sub_name} is a .global node "
                  "(ambiguous: renamed by the instance or shared by all?); refused", line)
        inner = _Scope(path, params, dict(zip(sub.pins, nodes)), sub.local_elements(), line,
                       frozenset(self.globals))
        for body_line in sub.body:
            if _first_word(body_line.text).lower() == ".param":
                self._param(body_line, params)
        self.body(sub.body, inner, stack + (sub_name,))

    def _flat_size(self, name: str, stack: tuple) -> int:
        """Number of elements one instance of subcircuit ``name`` flattens to (capped)."""
        if name in self.sizes:
            return self.sizes[name]
        sub = self.subckts.get(name)
        if sub is None or name in stack:
            return 0  # reported when the instance is expanded
        size = 0
        for line in sub.body:
            word = _first_word(line.text)
            if word[:1].upper() == "X":
                positional, _assigns = _split_positional(line.text.split()[1:])
                if positional:
                    size += self._flat_size(positional[-1].upper(), stack + (name,))
            elif not word.startswith("."):
                size += 1
            size = min(size, MAX_ELEMENTS + 1)
        self.sizes[name] = size
        return size

    def check_references(self) -> None:
        """F/H controls and B probes must name V sources and nodes of the circuit."""
        nodes = {node for item in self.elements for node in item["nodes"]} | {"0"}
        for line, label, probes, sources in self.deferred:
            for node in probes:
                if node not in nodes:
                    _fail(f"{label}: v({node}) names no node of the circuit", line)
            for source in sources:
                if self.element_types.get(source) != "V":
                    _fail(f"{label}: {source} is not a voltage source of the circuit (F, H "
                          "and i() need a V element)", line)

    # -- metadata ----------------------------------------------------------------------
    def metadata(self, meta: list) -> dict:
        """``inputs``/``outputs``/``trainable`` from ``*@`` lines."""
        out = {"inputs": [], "outputs": []}
        header, trainable = False, None
        nodes = {node for item in self.elements for node in item["nodes"]}
        for line in meta:
            words = line.text.split()
            kind = words[0].lower() if words else ""
            if kind == "eqprop-hw":
                if words[1:] != ["netlist", "1"]:
                    _fail(f"unsupported eqprop-hw netlist version {' '.join(words[1:])!r} "
                          "(expected 'netlist 1')", line)
                header = True
            elif kind == "input":
                out["inputs"].append(self._meta_input(words, line))
            elif kind == "output":
                if len(words) != 3:
                    _fail("*@ output needs a name and a node: *@ output NAME NODE", line)
                node = _node_name(words[2], line, f"output {words[1]}")
                if node not in nodes:
                    _fail(f"*@ output {words[1]}: node {node!r} is not in the circuit", line)
                out["outputs"].append({"name": words[1], "node": node})
            elif kind == "trainable":
                trainable = (trainable or []) + [self._meta_pattern(w, line) for w in words[1:]]
        if trainable is not None or header:
            out["trainable"] = trainable or []
        return out

    def _meta_input(self, words: list, line: _Line) -> dict:
        if len(words) < 3:
            _fail("*@ input needs a name and SOURCE:gain pairs", line)
        sources = {}
        for word in words[2:]:
            source, _colon, gain = word.rpartition(":")
            if not source:
                _fail(f"*@ input {words[1]}: expected SOURCE:gain, got {word!r}", line)
            source = _element_name(source, line)
            if self.element_types.get(source, "") not in ("V", "I"):
                _fail(f"*@ input {words[1]}: {source} is not a V or I source of the circuit",
                      line)
            if source in sources:
                _fail(f"*@ input {words[1]}: source {source} listed twice", line)
            try:
                sources[source] = parse_spice_number(gain)
            except ValueError:
                _fail(f"*@ input {words[1]}: malformed gain {gain!r}", line)
        return {"name": words[1], "sources": sources}

    def _meta_pattern(self, word: str, line: _Line) -> str:
        pattern = word.upper()
        if not re.fullmatch(r"[A-Z0-9_*?\[\]!]+", pattern):
            _fail(f"*@ trainable: invalid pattern {word!r}", line)
        if not any(fnmatch.fnmatchcase(name, pattern) for name in self.element_lines):
            _fail(f"*@ trainable: pattern {word!r} matches no element", line)
        return pattern


def _spec_error(error: SpecError, importer: _Importer, source: str) -> NetlistError:
    """Translate a spec validation error into a NetlistError at the offending line."""
    message = str(error)
    if error.source is not None and message.startswith(f"{error.source}: "):
        message = message[len(error.source) + 2:]
    line = None
    match = re.search(r"elements\[(\d+)\]", message)
    if match and int(match.group(1)) < len(importer.elements):
        line = importer.element_lines[importer.elements[int(match.group(1))]["name"]]
    match = re.search(r"models\.([A-Za-z0-9_]+)", message)
    if match and match.group(1).upper() in importer.model_lines:
        line = importer.model_lines[match.group(1).upper()]
    if line is not None:
        return NetlistError(f"invalid netlist: {message}", line.source, line.line)
    return NetlistError(f"invalid netlist: {message}", source)


def _import(text: str, source: str, base_dir: Path | None, allow_unsafe: bool,
            stem: str | None, main_path: Path | None, notes: list | None = None) -> dict:
    if not isinstance(text, str):
        raise NetlistError(f"netlist text must be str, got {type(text).__name__}", source)
    if not text.strip():
        raise NetlistError("empty netlist (expected a title line and elements)", source)
    root = None
    if base_dir is not None:
        try:
            root = Path(base_dir).resolve()
        except (OSError, RuntimeError, ValueError) as error:
            raise NetlistError(f"cannot resolve base_dir {base_dir!r}: {error}", source) from None
    title, lines = _logical_lines(text, source, main=True)
    importer = _Importer(root, allow_unsafe)
    importer.main_source = source
    stack = ((main_path, None),) if main_path is not None else ()
    lines = importer.expand(lines, root, 0, stack)
    lines = importer.functions(lines)
    lines = importer.conditionals(lines)
    importer.collect_words(lines)
    top, meta = importer.split(lines)
    importer.cards(top)
    importer.body(top, _Scope("", importer.params), ())
    if not importer.elements:
        raise NetlistError("the netlist has no elements", source, 1)
    importer.check_references()
    importer.note_unused()
    extra = importer.metadata(meta)
    description = f"imported from {Path(source).name}"
    if title and not title.startswith("eqprop-hw"):
        description += ": " + "".join(c if c.isprintable() else "?" for c in title[:200])
    spec = {"name": _spec_name(title, stem), "kind": "graph", "description": description}
    if importer.models:
        spec["models"] = importer.models
    spec["elements"] = importer.elements
    spec.update(extra)
    if importer.options:
        spec["options"] = {key: importer.options[key] for key in OPTION_NAMES
                           if key in importer.options}
    try:
        parse_spec(spec, source)
    except SpecError as error:
        raise _spec_error(error, importer, source) from None
    if notes is not None:
        notes.extend(importer.note_lines())
    return spec


def import_netlist_text(text: str, source: str = "<string>", base_dir=None,
                        allow_unsafe: bool = False, notes: list | None = None) -> dict:
    """Import SPICE netlist text as a ``graph`` spec mapping.

    Parameters
    ----------
    text : str
        The netlist; its first line is the title.
    source : str
        Name used in error messages.
    base_dir : str or Path, optional
        Folder that ``.include``/``.lib`` files are read from (and must lie inside). Without
        it includes are refused.
    allow_unsafe : bool
        Allow includes outside ``base_dir``. Control commands and unknown cards stay refused
        and B expressions must still parse in the netlist grammar.
    notes : list, optional
        If given, one line per kind of note is appended: what was left out (``.control``
        blocks, analysis cards, source waveforms), renamed (vendor node and model names) or
        ignored (unused models and subcircuits), e.g. ``"left out: .control block (lines
        12-20), .tran (line 8)"``.

    Returns
    -------
    dict
        A plain ``graph`` spec (``name, kind, description, [models], elements, inputs,
        outputs, [trainable], [options]``) accepted by :func:`eqprop_hw.circuit.spec.parse_spec`.

    Raises
    ------
    NetlistError
        Naming the file and line of the first problem, or the refused construct.
    """
    return _import(text, source, base_dir, allow_unsafe, None, None, notes)


def import_netlist(path, allow_unsafe: bool = False, notes: list | None = None) -> dict:
    """Import a SPICE netlist file as a ``graph`` spec mapping.

    Includes are read relative to the including file and only from the netlist's own folder
    (see :func:`import_netlist_text` for ``allow_unsafe``).

    Parameters
    ----------
    path : str or Path
        The netlist file.
    allow_unsafe : bool
        See :func:`import_netlist_text`.
    notes : list, optional
        See :func:`import_netlist_text`.

    Returns
    -------
    dict
        The spec mapping; its name comes from an ``eqprop-hw NAME`` title, else from the
        file name.

    Raises
    ------
    NetlistError
        If the file is missing, unreadable, not UTF-8 text, or fails to import.
    """
    path = Path(path)
    source = str(path)
    text = _read_text(path, source)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError) as error:
        raise NetlistError(f"cannot resolve path: {error}", source) from None
    return _import(text, source, resolved.parent, allow_unsafe, path.stem, resolved, notes)


# -- YAML -------------------------------------------------------------------------------------
TOP_ORDER = ("name", "kind", "description", "models", "elements", "inputs", "outputs",
             "trainable", "options")
_PLAIN_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+*?-]*")


def _yaml_float(value: float) -> str:
    """Float text that YAML 1.1 (PyYAML) reads back as the same double."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


_YAML_WORDS = frozenset(("y", "n", "yes", "no", "true", "false", "on", "off", "null"))


@functools.lru_cache(maxsize=4096)
def _plain_ok(text: str) -> bool:
    """Whether ``text`` can be written as a plain YAML scalar and read back as itself."""
    if not _PLAIN_RE.fullmatch(text):
        return False
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_*]*", text) and text.lower() not in _YAML_WORDS:
        return True
    try:   # also in flow context: values are written inside [..] and {key: ..}
        return (yaml.safe_load(text) == text and yaml.safe_load(f"[{text}]") == [text]
                and yaml.safe_load(f"{{{text}: 0}}") == {text: 0})
    except yaml.YAMLError:
        return False


def _yaml_scalar(value) -> str:
    """One YAML scalar: plain where that reads back identically, else double-quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _yaml_float(value)
    text = str(value)
    if _plain_ok(text):
        return text
    if re.fullmatch(r"[\x20-\x7e]*", text):
        return "'" + text.replace("'", "''") + "'"
    return yaml.safe_dump(text, default_style='"', width=float("inf"),
                          allow_unicode=True).rstrip("\n").removesuffix("\n...")


def _yaml_flow(value) -> str:
    """A value in YAML flow style (``{a: 1, b: [x, y]}``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_yaml_scalar(k)}: {_yaml_flow(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_flow(v) for v in value) + "]"
    return _yaml_scalar(value)


def spec_to_yaml(spec_dict: dict) -> str:
    """Deterministic, readable YAML text of a spec mapping.

    Keys come in the order ``name, kind, description, models, elements, inputs, outputs,
    trainable, options`` (then any others in their given order); list entries that are
    mappings (elements, inputs, outputs) are written one per line in flow style, nested
    mappings (models, options) one key per line. Floats use ``repr`` so they round-trip
    exactly; ``yaml.safe_load`` of the text gives back an equal mapping.

    Parameters
    ----------
    spec_dict : dict
        A spec mapping of plain dicts, lists, strings, numbers, booleans and None.

    Returns
    -------
    str
        YAML text ending with a newline.

    Raises
    ------
    TypeError
        If ``spec_dict`` is not a mapping.
    """
    if not isinstance(spec_dict, dict):
        raise TypeError(f"spec must be a dict, got {type(spec_dict).__name__}")
    keys = [k for k in TOP_ORDER if k in spec_dict] + [k for k in spec_dict if k not in TOP_ORDER]
    lines = []
    for key in keys:
        value, label = spec_dict[key], _yaml_scalar(key)
        if isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
            lines.append(f"{label}:")
            lines += [f"  - {_yaml_flow(item)}" for item in value]
        elif isinstance(value, dict) and value:
            lines.append(f"{label}:")
            lines += [f"  {_yaml_scalar(k)}: {_yaml_flow(v)}" for k, v in value.items()]
        else:
            lines.append(f"{label}: {_yaml_flow(value)}")
    return "\n".join(lines) + "\n"
