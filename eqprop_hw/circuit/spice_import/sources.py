"""Independent-source specifications (waveforms at t = 0) and behavioural (B) expressions.

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset).
"""

from __future__ import annotations

import math
import re

from eqprop_hw.circuit.spice_grammar import ExpressionError, parse_expression, parse_spice_number
from eqprop_hw.circuit.spice_import.lines import Line, check_element_name, check_node_name, fail
from eqprop_hw.circuit.spice_import.expressions import (B_CONSTANTS, B_FUNCTIONS, B_TOKEN_RE,
                                                        MAX_EXPR_CHARS, PARAM_FUNCTIONS)
from eqprop_hw.circuit.spice_import.structure import Scope


def behavioural_form_hint(words: list) -> str:
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


#: Random transient noise sources: keyword -> (fewest, most) arguments (ngspice 39 manual).
NOISE_SOURCES = {"TRNOISE": (2, 7), "TRRANDOM": (2, 5)}


def source_keyword(word: str) -> str | None:
    """The source keyword ``word`` starts (``PULSE(0 1)`` -> ``PULSE``), or None."""
    match = re.match(r"([A-Za-z][A-Za-z0-9]*)(?=$|\s*\(|=)", word)
    if match is None or match.group(1).upper() not in _SOURCE_WORDS:
        return None
    return match.group(1).upper()


def keyword_group(word: str) -> bool:
    """Whether ``word`` is a parenthesized source group such as ``(PWL 0 1 1n 2)``."""
    if not (word.startswith("(") and word.endswith(")")) or not word[1:-1].strip():
        return False
    return re.split(r"[\s(]", word[1:-1].strip())[0].upper() in _SOURCE_WORDS


def waveform_at_zero(key: str, values: list, where: Line, label: str) -> float:
    """A waveform's value at t = 0, as ngspice 39 computes it for an operating point.

    PULSE(V1 V2 TD ...) and EXP(V1 V2 TD1 ...) give V1; SIN(VO VA FREQ TD THETA PHASE)
    gives VO + VA sin(PHASE) (PHASE in degrees); SFFM(VO VA FC MDI FS PHASEC PHASES) gives
    VO + VA sin(PHASEC + MDI sin(PHASES)); PWL(T1 V1 T2 V2 ...) gives V1. A negative delay,
    a PULSE phase or PWL times that are negative or decreasing are refused: their value at
    t = 0 depends on more of the waveform.
    """
    fewest, most = WAVEFORMS[key]
    if not fewest <= len(values) <= most:
        fail(f"{label}: {key} takes {fewest} to {most} values, got {len(values)}", where)
    if key in ("PULSE", "EXP", "SIN") and len(values) > 2 and values[2] < 0:
        fail(f"{label}: {key} with a negative delay is not supported (its value at t = 0 "
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
        fail(f"{label}: PWL needs time-value pairs, got {len(values)} numbers", where)
    times = values[0::2]
    if times[0] < 0 or any(b < a for a, b in zip(times, times[1:])):
        fail(f"{label}: PWL times must start at 0 or later and not decrease", where)
    return values[1]


def _b_tokens(text: str, where: Line, name: str) -> list[tuple[str, str, int, int]]:
    out, position = [], 0
    while position < len(text):
        match = B_TOKEN_RE.match(text, position)
        if match is None:
            fail(f"{name}: character {text[position]!r} is not allowed in a behavioural "
                  "expression", where)
        if match.lastgroup != "space":
            out.append((match.lastgroup, match.group(), match.start(), match.end()))
        position = match.end()
    return out


def _check_balance(tokens: list, where: Line, name: str) -> None:
    depth = {"(": 0, "{": 0}
    for kind, text, _s, _e in tokens:
        if kind == "op" and text in "({":
            depth[text] += 1
        elif kind == "op" and text in ")}":
            key = "(" if text == ")" else "{"
            depth[key] -= 1
            if depth[key] < 0:
                fail(f"{name}: unbalanced {text!r} in behavioural expression", where)
    if any(depth.values()):
        fail(f"{name}: unclosed parenthesis or brace in behavioural expression", where)


def _probe_args(tokens: list, start: int, where: Line, name: str, probe: str,
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
        fail(f"{name}: {probe}() takes {what}", where)
    return args, index


def behavioural_expression(raw: str, scope: Scope, where: Line, name: str,
                 allow_unsafe: bool) -> tuple[str, list, list]:
    """Check a B expression; return (text with renames/params applied, nodes, sources)."""
    match = re.match(r"\s*([VvIi])\s*=", raw)
    if match is None:
        fail(f"{name}: a behavioural source needs V=expression or I=expression after its "
              f"two nodes, got {raw!r}", where)
    if len(raw) > MAX_EXPR_CHARS:
        fail(f"{name}: behavioural expression longer than {MAX_EXPR_CHARS} characters", where)
    tokens = _b_tokens(raw[match.end():], where, name)
    if not tokens:
        fail(f"{name}: empty behavioural expression", where)
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
                fail(f"{name}: malformed number {text!r} in behavioural expression", where)
        elif kind == "name" and following == "(" and low in ("v", "i"):
            args, index = _probe_args(tokens, index + 1, where, name, low, 2 if low == "v" else 1)
            for _k, arg, a_start, a_end in args:
                if low == "v":
                    local = check_node_name(arg, where, name)
                    nodes.append(scope.node(local))
                    if scope.path:
                        edits.append((a_start, a_end, scope.node(local)))
                else:
                    local = check_element_name(arg, where)
                    sources.append(scope.control(local))
                    if scope.path:
                        edits.append((a_start, a_end, scope.control(local)))
        elif kind == "name" and following == "(":
            if low not in B_FUNCTIONS and not allow_unsafe:
                fail(f"{name}: function {text!r} is not allowed in a behavioural expression "
                      f"(allowed: math functions such as {', '.join(sorted(PARAM_FUNCTIONS)[:12])}, "
                      "..., v(), i()); refused", where)
        elif kind == "name":
            if low in scope.params and low not in B_CONSTANTS:
                value = scope.params[low]
                edits.append((start, end, repr(value) if value >= 0 else f"({value!r})"))
            elif low not in B_CONSTANTS and not allow_unsafe:
                fail(f"{name}: unknown identifier {text!r} in behavioural expression (allowed: "
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
        fail(f"{name}: behavioural expression {text[:60]!r}: {error}; refused", where)
    return text, nodes, sources
