"""The netlist grammar (eqprop_hw.circuit.spice_grammar): what may reach a netlist line.

Property tests write every string field of every spec kind with line breaks, control
characters and arbitrary text, and assert that the spec is refused or that the exported
netlist has exactly the lines the writer intended (the same lines as a spec with a plain
value in that field, and no control card of its own). ngspice is the independent reference
that what the grammar accepts is an expression ngspice itself loads.
"""

from __future__ import annotations

import doctest
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqprop_hw.circuit import spice_grammar
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.errors import CircuitError, EqpropError
from eqprop_hw.lc.model import build_model
from eqprop_hw.lc.netlist import write_lc_netlist
from eqprop_hw.circuit.netlist import netlist_lines, write_netlist
from eqprop_hw.circuit.spec import parse_spec
from eqprop_hw.circuit.spice_grammar import (ExpressionError, NetlistTextError, check_names, join_lines,
                                     name_problem, parse_expression)

#: Every kind of line break and other control characters, and characters that look harmless.
SPECIAL = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
           "\u2029", "\x00", "\t", "\x1b", "\x7f", "\u200b", "\ufeff", " ", ";", "$", "*", "+",
           ".", "{", "}", "'", '"', "\\", "=", "(", ")", ",", "\u00b5", "\u0130", "\u017f",
           "\uff21"]
TEXT = st.lists(st.one_of(st.sampled_from(SPECIAL), st.sampled_from(list("aZ09_-.")),
                          st.characters()), max_size=12).map("".join)


def test_module_examples():
    assert doctest.testmod(spice_grammar).failed == 0


# -- names -------------------------------------------------------------------------------------
@given(st.lists(TEXT, min_size=1, max_size=6), st.sampled_from(spice_grammar.NAME_KINDS))
def test_checking_many_names_at_once_equals_checking_each(names, kind):
    each = [name_problem(name, kind) for name in names]
    try:
        check_names(names, kind)
        together = None
    except NetlistTextError:
        together = "refused"
    assert (together is None) == all(problem is None for problem in each)


@pytest.mark.parametrize("char", SPECIAL)
@pytest.mark.parametrize("kind", spice_grammar.NAME_KINDS)
def test_no_special_character_passes_a_name(char, kind):
    for name in (f"A{char}", f"a{char}b", f"{char}", f"A1{char}"):
        if kind in ("port", "title") and char in "-." and name[0] != char:
            continue        # allowed inside port names and titles
        if kind == "cider" and char == "." and name == f"a{char}b":
            continue        # x.mesh: one dot between lower-case words
        if kind in ("port",) and char == "+" and name[0] != char:
            continue
        assert name_problem(name, kind) is not None, (name, kind)


# -- expressions -----------------------------------------------------------------------------
VALID = ["I=1e-3*tanh(v(a))", "V=0.5*v(a)+exp(-v(b))", "I = 1u * max(v(a), 0) * time",
         "I=-2e-6*v(a,b)", "V=v(a) > 0.5 ? 1 : 0", "I=(v(a) >= 0 && v(b) < 1) * 1m",
         "V=pwr(v(a), 2) + max(v(b), -1)", "I=u(v(a))*uramp(v(b))*1e-3",
         "V={2*v(a)}", "I=1e-3*v(a)^2", "I=i(VA)*2", "V=!(v(a) > 0) + sgn(v(b))",
         "V=atan(v(a)) + min(v(a), v(b)) + pi * temper / 1000"]
INVALID = {"I=v(a)\n.control": "U+000A", "I=v(a);x": "';'", "I=system(1)": "'system'",
           "I=tanh(v(a)": "expected ')'", "I=max(v(a))": "takes 2",
           "I=min(1,2,3)": "takes 2", "I=atan2(1,2)": "'atan2'", "I=limit(1,0,2)": "'limit'", "I=v(a) v(b)": "unexpected", "I=": "empty",
           "I=1=2": "'='", "I=v()": "takes one or two", "I=x": "unknown name 'x'",
           "I=1 ? 2": "expected ':'", "I=pow(1)": "takes 2", "V=1ee": "malformed number",
           "X=1": "must start with", "I=v(a,b,c)": "one or two", "I=--": "at the end"}


@pytest.mark.parametrize("text", VALID)
def test_valid_expressions_parse(text):
    parse_expression(text)


@pytest.mark.parametrize("text,fragment", INVALID.items())
def test_invalid_expressions_are_refused_with_the_reason(text, fragment):
    with pytest.raises(ExpressionError, match=re.escape(fragment)):
        parse_expression(text)


@pytest.mark.ngspice
@pytest.mark.parametrize("function", sorted(spice_grammar.FUNCTIONS))
def test_ngspice_evaluates_every_function_the_grammar_allows(function):
    """Each allowed function at its fewest and most arguments: ngspice loads the netlist and
    its value equals Python's (math) where Python has the function."""
    import math
    from eqprop_hw.backends.ngspice import NgspiceBackend
    fewest, most = spice_grammar.FUNCTIONS[function]
    for count in sorted({fewest, most}):
        args = [1.5] if function == "acosh" else [0.3, -0.7][:count]
        expr = f"V={function}({','.join(map(repr, args))})"
        elements = [{"name": "VA", "nodes": ["a", "0"], "dc": 0.0},
                    {"name": "RA", "nodes": ["a", "0"], "g": 1e-3},
                    {"name": "B1", "nodes": ["c", "0"], "expr": expr},
                    {"name": "RC", "nodes": ["c", "0"], "g": 1e-3}]
        circuit = build_circuit(parse_spec({"name": "f", "kind": "graph", "elements": elements,
                                            "inputs": ["VA"], "outputs": ["c"]}))
        with NgspiceBackend(circuit) as backend:
            result = backend.solve([0.0])
        python = {"ln": math.log, "log": math.log, "pow": math.pow, "pwr": math.pow,
                  "min": min, "max": max, "abs": abs, "ddt": lambda x: 0.0}.get(
            function, getattr(math, function, None))
        assert result.converged.all(), expr
        if python is not None:
            assert result.voltages[0, -1] == pytest.approx(python(*args), rel=1e-9), expr


@pytest.mark.ngspice
def test_ngspice_loads_every_expression_the_grammar_accepts():
    from eqprop_hw.backends.ngspice import NgspiceBackend
    for expr in VALID:
        kind = expr.strip()[0]
        elements = [{"name": "VA", "nodes": ["a", "0"], "dc": 0.2},
                    {"name": "RB", "nodes": ["a", "b"], "g": 1e-3},
                    {"name": "RB0", "nodes": ["b", "0"], "g": 1e-3},
                    {"name": "B1", "nodes": ["c" if kind == "V" else "b", "0"], "expr": expr},
                    {"name": "RC", "nodes": ["c", "0"], "g": 1e-3}]
        circuit = build_circuit(parse_spec({"name": "e", "kind": "graph", "elements": elements,
                                            "inputs": ["VA"], "outputs": ["b"]}))
        with NgspiceBackend(circuit) as backend:       # loads and solves: ngspice accepts it
            assert backend.solve([0.2]).converged.all(), expr


@given(TEXT)
def test_random_text_after_the_kind_is_refused_or_parses_to_one_line(text):
    try:
        parse_expression("I=" + text)
    except ExpressionError:
        return
    assert re.fullmatch(r"[\x20-\x7e]*", text)


# -- the writers, end to end --------------------------------------------------------------------
def _graph(field: str, value: str) -> dict:
    values = {"name": "g", "element": "R1", "node": "mid", "model": "DA", "control": "VIN",
              "expr": "I=1e-3*v(out)", "port_in": "x", "port_out": "y", "out_node": "out"}
    values[field] = value
    return {"name": values["name"], "kind": "graph",
            "models": {values["model"]: {"IS": 1e-14, "N": 1.0}},
            "elements": [
                {"name": "VIN", "nodes": ["a", "0"], "dc": 1.0},
                {"name": values["element"], "nodes": ["a", values["node"]], "g": 1e-3},
                {"name": "R2", "nodes": [values["node"], "out"], "g": 1e-3},
                {"name": "R3", "nodes": ["out", "0"], "g": 1e-3},
                {"name": "D1", "nodes": ["out", "0"], "model": values["model"]},
                {"name": "HX", "nodes": ["h", "0"], "control": values["control"], "gain": 1.0},
                {"name": "RH", "nodes": ["h", "0"], "g": 1e-3},
                {"name": "B1", "nodes": ["out", "0"], "expr": values["expr"]}],
            "inputs": [{"name": values["port_in"], "sources": {"VIN": 1.0}}],
            "outputs": [{"name": values["port_out"], "node": values["out_node"]}]}


def _layered(field: str, value: str) -> dict:
    spec = {"name": "l", "kind": "layered", "layers": [2, 2], "outputs": {"names": ["y0", "y1"]}}
    if field == "name":
        spec["name"] = value
    else:
        spec["outputs"]["names"][0] = value
    return spec


def _lc(field: str, value: str) -> dict:
    values = {"name": "c", "element": "C2", "node": "n2", "output": "y0"}
    values[field] = value
    node = values["node"]
    return {"name": values["name"], "kind": "lc", "elements": [
        {"name": "C1", "nodes": ["n1", "0"], "c": 1e-9},
        {"name": values["element"], "nodes": [node, "0"], "c": 1e-9},
        {"name": "CC12", "nodes": ["n1", node], "c": 2e-10},
        {"name": "L1", "nodes": ["n1", "0"], "l": 1e-6},
        {"name": "IIN", "nodes": ["0", "n1"],
         "waveform": {"type": "sine", "amplitude": 1e-3, "frequency": 5e6}}],
        "outputs": [{"name": values["output"], "node": node}],
        "targets": [{"type": "sine", "amplitude": 1e-8, "frequency": 5e6}],
        "time": {"tstop": 1e-7, "tstep": 1e-9}}


FIELDS = [("graph", f) for f in ("name", "element", "node", "model", "control", "expr",
                                 "port_in", "port_out", "out_node")] + \
    [("layered", f) for f in ("name", "output")] + \
    [("lc", f) for f in ("name", "element", "node", "output")]
PLAIN = {"name": "g", "element": "R1", "node": "mid", "model": "DA", "control": "VIN",
         "expr": "I=1e-3*v(out)", "port_in": "x", "port_out": "y", "out_node": "out",
         "output": "y0"}
LC_PLAIN = {"name": "c", "element": "C2", "node": "n2", "output": "y0"}


def _netlist(kind: str, field: str, value: str) -> list[str] | None:
    """The exported netlist's lines, or None when the spec is refused."""
    build = {"graph": _graph, "layered": _layered, "lc": _lc}[kind]
    try:
        spec = parse_spec(build(field, value))
        if kind == "lc":
            return write_lc_netlist(build_model(spec)).split("\n")
        circuit = build_circuit(spec)
        n_in = len(circuit.inputs)
        return write_netlist(circuit, inputs=[0.5] * n_in, beta=1e-3,
                             targets=[0.0] * len(circuit.outputs)).split("\n")
    except EqpropError:
        return None


@settings(max_examples=300)
@given(st.sampled_from(FIELDS), st.sampled_from(SPECIAL), TEXT, TEXT)
def test_every_string_field_is_refused_or_written_as_intended(where, special, before, after):
    kind, field = where
    plain = (LC_PLAIN if kind == "lc" else PLAIN)[field]
    value = plain + before + special + after if field != "expr" else \
        plain + "+" + before + special + after
    lines = _netlist(kind, field, value)
    if lines is None:
        return
    intended = _netlist(kind, field, plain)
    assert intended is not None
    assert len(lines) == len(intended)
    for line, reference in zip(lines, intended):
        assert re.fullmatch(r"[\x20-\x7e]*", line), line
        # a line is a control card only where the writer put one
        assert line.startswith(".") == reference.startswith("."), (line, reference)
        assert line.split(" ")[0].upper() == reference.split(" ")[0].upper() or \
            field in ("element", "name", "model", "control", "port_in", "port_out", "output")


@pytest.mark.parametrize("kind,field", FIELDS)
@pytest.mark.parametrize("special", ["\n", "\r", "\x85", "\u2028", "\u2029", "\x0b", "\x00"])
def test_line_breaks_in_every_field_are_refused(kind, field, special):
    plain = (LC_PLAIN if kind == "lc" else PLAIN)[field]
    assert _netlist(kind, field, plain + special + ".control") is None
    assert _netlist(kind, field, plain + special) is None       # even at the very end


def test_circuits_and_writers_check_without_a_spec():
    from dataclasses import replace
    from eqprop_hw.circuit.graph import Circuit
    circuit = build_circuit(parse_spec(_graph("element", "R1")))
    elements = list(circuit.elements)
    elements[1] = replace(elements[1], name="R1\n.control")
    with pytest.raises(NetlistTextError, match="U\\+000A"):     # a circuit cannot hold it
        Circuit(circuit.name, circuit.kind, elements, circuit.models, circuit.inputs,
                circuit.outputs, [])
    with pytest.raises(TypeError):                                # nor be changed after
        circuit.elements[1] = elements[1]
    # fields of single elements are checked as the writer writes their line
    circuit = build_circuit(parse_spec(_graph("expr", "I=v(out)")))
    elements = list(circuit.elements)
    elements[-1] = replace(elements[-1], expr="I=v(out)\n.endc")
    circuit = Circuit(circuit.name, circuit.kind, elements, circuit.models, circuit.inputs,
                      circuit.outputs, [])
    with pytest.raises(NetlistTextError, match="behavioural expression"):
        write_netlist(circuit)
    circuit.outputs = [replace(circuit.outputs[0], name="y\r.control")]   # ports: writer
    with pytest.raises(NetlistTextError, match="U\\+000D"):
        netlist_lines(circuit)
    with pytest.raises(CircuitError, match="analysis"):
        write_netlist(build_circuit(parse_spec(_graph("name", "g"))),
                      analysis=".tran 1 2\n.control")


def test_join_lines_refuses_a_line_that_would_split():
    assert join_lines(["a", "b"]) == "a\nb\n"
    for bad in (["a\nb"], ["a\r"], ["\u2028"], ["ok", "x\x00"]):
        with pytest.raises(NetlistTextError, match="netlist line"):
            join_lines(bad)


@pytest.mark.ngspice
def test_session_load_takes_lines_and_refuses_text_or_split_lines():
    from eqprop_hw.backends.ngspice import NgspiceSession
    from eqprop_hw.errors import BackendError
    try:
        session = NgspiceSession.get()
    except BackendError as error:
        pytest.skip(str(error))
    with pytest.raises(NetlistTextError):
        session.load(["t", "R1 a 0 1", "X\n.control", ".end"], object(), "t")
    with pytest.raises(TypeError):
        session.load("t\nR1 a 0 1\n.end\n", object(), "t")


# -- CIDER keywords (eqprop_hw.circuit.cider writes them on '+' sub-card lines) ---------------
@pytest.mark.parametrize("text", ["x.mesh", "doping", "char.length", "nc300", "j.total"])
def test_cider_keywords_pass(text):
    assert name_problem(text, "cider") is None


@pytest.mark.parametrize("text", [
    "x.mesh\n.control", "infile=/etc/passwd", "a b", "x..mesh", "x.mesh.", ".mesh", "1abc",
    "X.MESH", "a=b", "rootfile", "a/b", "a;b", "a$b", "{x}", "'x'", "a,b", "a^b", "+x",
    "abcdefghijklmnopq"])
def test_hostile_cider_keywords_are_refused(text):
    problem = name_problem(text, "cider")
    if text == "rootfile":      # a keyword of the grammar's form: refused by the tables instead
        assert problem is None
        from eqprop_hw.circuit import cider
        with pytest.raises(CircuitError, match="rootfile refused"):
            cider.parse_card("output rootfile=x", "model M")
        return
    assert problem is not None, text
    with pytest.raises(NetlistTextError):
        check_names(["doping", text], "cider")
