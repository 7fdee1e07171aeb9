"""Values and ``.param`` expressions, evaluated safely (never ``eval``), and ``.func``.

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset).
"""

from __future__ import annotations

import ast
import math
import re

from eqprop_hw.circuit.spice_grammar import (FUNCTIONS as GRAMMAR_FUNCTIONS, MAX_EXPR_DEPTH,
                                             parse_spice_number)
from eqprop_hw.circuit.spice_import.lines import KV_RE, Line, PARAM_NAME_RE, fail, is_expression


#: Longest expression evaluated (characters).
MAX_EXPR_CHARS = 1000

PARAM_FUNCTIONS = {
    "sqrt": (1, 1, math.sqrt), "exp": (1, 1, math.exp), "ln": (1, 1, math.log),
    "log": (1, 1, math.log), "log10": (1, 1, math.log10), "sin": (1, 1, math.sin),
    "cos": (1, 1, math.cos), "tan": (1, 1, math.tan), "asin": (1, 1, math.asin),
    "acos": (1, 1, math.acos), "atan": (1, 1, math.atan), "sinh": (1, 1, math.sinh),
    "cosh": (1, 1, math.cosh), "tanh": (1, 1, math.tanh), "asinh": (1, 1, math.asinh),
    "acosh": (1, 1, math.acosh), "atanh": (1, 1, math.atanh), "abs": (1, 1, abs),
    "floor": (1, 1, math.floor), "ceil": (1, 1, math.ceil), "int": (1, 1, math.trunc),
    "nint": (1, 1, round), "sgn": (1, 1, lambda x: float((x > 0) - (x < 0))),
    "pow": (2, 2, math.pow), "atan2": (2, 2, math.atan2), "hypot": (2, 2, math.hypot),
    # ngspice's min and max take two arguments: max(3) and min(4) give 3 and 1 there, and
    # max(1,5,2) gives 2 (ngspice 39, checked with ngspice -b), so other counts are refused
    "min": (2, 2, min), "max": (2, 2, max),
}


_CONSTANTS = {"pi": math.pi}


def _arity(low: int, high: int) -> str:
    """``takes 2 arguments`` / ``takes 1 to 3 arguments``."""
    count = str(low) if low == high else f"{low} to {high}"
    return f"takes {count} argument{'' if count == '1' else 's'}"

#: Functions allowed in B expressions: the netlist grammar's (eqprop_hw.circuit.spice_grammar).
B_FUNCTIONS = frozenset(GRAMMAR_FUNCTIONS)

B_CONSTANTS = frozenset(("time", "temper", "hertz", "pi"))


_RESERVED_PARAMS = frozenset(PARAM_FUNCTIONS) | B_FUNCTIONS | B_CONSTANTS | {"v", "i", "gnd"}

_EXPR_TOKEN_RE = re.compile(r"(?P<space>\s+)|(?P<num>(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?[a-z]*)"
                            r"|(?P<name>[a-z_][a-z0-9_]*)|(?P<op>\*\*|[-+*/^(),])", re.A)


B_TOKEN_RE = re.compile(r"(?P<space>\s+)|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\w*)"
                         r"|(?P<name>[A-Za-z_]\w*)"
                         r"|(?P<op>\*\*|&&|\|\||[<>=!]=|[-+*/^(),<>?:{}!])", re.A)


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
        entry = PARAM_FUNCTIONS.get(node.func.id)
        if entry is None:
            raise ValueError(f"function {node.func.id!r} is not allowed (allowed: "
                             f"{', '.join(sorted(PARAM_FUNCTIONS))})")
        low, high, function = entry
        if not low <= len(node.args) <= high or \
                any(isinstance(arg, ast.Starred) for arg in node.args):
            raise ValueError(f"wrong number of arguments to {node.func.id}() "
                             f"({_arity(low, high)})")
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
            entry = PARAM_FUNCTIONS.get(tree[1])
            if entry is None:
                raise ValueError(f"function {tree[1]!r} is not allowed (allowed: "
                                 f"{', '.join(sorted(PARAM_FUNCTIONS))})")
            low, high, function = entry
            if not low <= len(tree[2]) <= high:
                raise ValueError(f"wrong number of arguments to {tree[1]}() "
                                 f"({_arity(low, high)})")
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


def parse_value(text: str, params: dict, where: Line, what: str) -> float:
    """A number with a SPICE suffix, or a ``{expr}``/``'expr'`` evaluated safely."""
    if is_expression(text):
        try:
            return evaluate_expression(text[1:-1], params)
        except ValueError as error:
            fail(f"{what}: cannot evaluate {text!r}: {error}", where)
    try:
        return parse_spice_number(text)
    except ValueError:
        hint = ""
        match = re.fullmatch(r"(\d+)([a-z]+)(\d+)", text.lower())
        if match and match.group(2) in ("r", "k", "m", "meg", "u", "n", "p"):
            fail(f"{what}: {text!r} is {match.group(1)}{match.group(2)}{match.group(3)} "
                  f"notation, which ngspice reads as {match.group(1)}"
                  f"{'' if match.group(2) == 'r' else match.group(2)} (it ignores the digits "
                  f"after the letter); write {match.group(1)}.{match.group(3)}"
                  f"{'' if match.group(2) == 'r' else match.group(2)}; refused", where)
        if text.lower() in params:
            hint = f"; write {{{text.lower()}}} to use the parameter"
        fail(f"{what}: malformed value {text!r} (expected a number with an optional SPICE "
              f"suffix f p n u m k meg g t, e.g. 10k or 2.2u, or {{expression}}){hint}", where)


#: Most ``.func`` definitions in one netlist.
MAX_FUNCTIONS = 1000

_FUNC_RE = re.compile(r"\.func\s+([A-Za-z_]\w*)\s*\(([^()]*)\)\s*=?\s*(.*)", re.S | re.I)


GROUP_RE = re.compile(r"\{[^{}]*\}|'[^']*'")

_CALL_RE = re.compile(r"([A-Za-z_]\w*)\s*\(")


def func_definition(line: Line, funcs: dict) -> tuple:
    """``(name, [args], body)`` of a ``.func`` line; names and calls checked."""
    match = _FUNC_RE.fullmatch(line.text.strip())
    if match is None:
        fail(".func needs NAME(args) {expression}, e.g. .func f(x, y) {x*y + 1}", line)
    name, body = match.group(1).lower(), match.group(3).strip()
    if is_expression(body):
        body = body[1:-1]
    if not body or len(body) > MAX_EXPR_CHARS:
        fail(f".func {name}: the body must hold 1 to {MAX_EXPR_CHARS} characters", line)
    if name in _RESERVED_PARAMS or name in funcs:
        fail(f".func {name}: the name is a built-in function or defined twice; refused", line)
    args = [a.strip().lower() for a in match.group(2).split(",")] if match.group(2).strip() \
        else []
    if len(set(args)) != len(args) or not all(PARAM_NAME_RE.fullmatch(a) and
                                              a not in _RESERVED_PARAMS for a in args):
        fail(f".func {name}: arguments must be distinct parameter names", line)
    for call in _CALL_RE.finditer(body):
        called = call.group(1).lower()
        if called not in PARAM_FUNCTIONS and called not in funcs:
            fail(f".func {name}: calls {call.group(1)!r}, which is neither a math function "
                  "nor a .func defined before it (no recursion); refused", line)
    return name, args, body


def expand_calls(text: str, funcs: dict, where: Line) -> str:
    """``text`` with user-function calls inside ``{...}``/``'...'`` values expanded."""
    def group(match: re.Match) -> str:
        value = match.group()
        for _round in range(len(funcs) + 1):
            expanded = _expand_once(value, funcs, where)
            if len(expanded) > MAX_EXPR_CHARS:
                fail(f"{value[:40]!r}: .func calls expand to more than {MAX_EXPR_CHARS} "
                      "characters; refused", where)
            if expanded == value:
                return value
            value = expanded
        return value
    return GROUP_RE.sub(group, text)


def _expand_once(text: str, funcs: dict, where: Line) -> str:
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
            fail(f"call of .func {name}: unbalanced parentheses", where)
        params, body = funcs[name]
        if args == [""] and not params:
            args = []
        if len(args) != len(params):
            fail(f"call of .func {name}: {len(args)} arguments, expected {len(params)}", where)
        values = dict(zip(params, args))
        body = re.sub(r"\b[A-Za-z_]\w*\b",
                      lambda m: f"({values[m.group().lower()]})" if m.group().lower() in values
                      else m.group(), body)
        out += [text[position:call.start()], f"({body})"]
        position = index
    return "".join(out) + text[position:]


def params_list(tokens: list[str], where: Line, what: str) -> list[tuple[str, str]]:
    """``[params:] a=1 b={2*a}`` tokens as (lower name, value text) pairs."""
    pairs = []
    for token in tokens:
        if token.lower() == "params:":
            continue
        if token.lower().startswith("params:"):
            token = token[7:]
        match = KV_RE.fullmatch(token)
        if match is None or not match.group(2):
            fail(f"{what}: expected name=value, got {token!r}", where)
        name = match.group(1).lower()
        if not PARAM_NAME_RE.fullmatch(name) or name in _RESERVED_PARAMS:
            fail(f"{what}: invalid parameter name {match.group(1)!r} (letters, digits and '_'; "
                  "not a function or reserved name)", where)
        pairs.append((name, match.group(2)))
    return pairs


def split_positional(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Split tokens into leading positional words and trailing ``params:``/``k=v`` words."""
    for position, token in enumerate(tokens):
        if token.lower().startswith("params:") or KV_RE.fullmatch(token):
            return tokens[:position], tokens[position:]
    return tokens, []
