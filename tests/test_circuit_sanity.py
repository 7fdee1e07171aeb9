"""No silent wrong results: singular structures and absurd values are refused up front.

Each refused structure is shown to be really singular (the native solver, given the circuit
without validation, finds a singular matrix; raw ngspice returns an answer that breaks the
circuit's own equations) and each refusal is asserted exactly. Neighbouring well-posed
circuits stay accepted and agree with an analytic solution.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from eqprop_hw.backends.native import NativeBackend
from eqprop_hw.circuit.build import build_circuit, build_graph
from eqprop_hw.errors import (CircuitError, ConvergenceError, NetlistError, ParamsError,
                              SpecError)
from eqprop_hw.circuit.graph import (CONDUCTANCE_LIMITS, MAX_SOURCE, check_dc_matrix, check_range,
                             dc_matrix, path_voltage, voltage_forest)
from eqprop_hw.circuit.netlist import source_values, write_netlist
from eqprop_hw.circuit.spec import parse_spec
from eqprop_hw.circuit.spice_import import import_netlist

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")
BASE = [{"name": "VIN", "nodes": ["in", "0"], "dc": 0.5},
        {"name": "R1", "nodes": ["in", "out"], "g": 1e-3}]
LOAD = {"name": "R2", "nodes": ["out", "0"], "g": 1e-3}


def spec(*elements, options=None, models=None):
    data = {"name": "t", "kind": "graph", "elements": BASE + list(elements),
            "inputs": ["VIN"], "outputs": ["out"], "trainable": []}
    if options:
        data["options"] = options
    if models:
        data["models"] = models
    return parse_spec(data)


def raw_ngspice(circuit) -> dict:
    from eqprop_hw.backends.ngspice import run_ngspice_batch
    vectors = run_ngspice_batch(write_netlist(circuit))
    return {name[2:-1]: float(np.ravel(value)[0]) for name, value in vectors.items()
            if name.startswith("v(")}


E = lambda name, nodes, gain: {"name": name, "nodes": nodes, "gain": gain}  # noqa: E731
SINGULAR = {
    "vcvs-own-control": ([E("E1", ["out", "0", "out", "0"], 1.0)],
                         "E1: a VCVS controlled by its own output"),
    "follower-gain-minus-one": ([{"name": "R2", "nodes": ["x", "0"], "g": 1e-3},
                                 E("E1", ["x", "0", "in", "x"], -1.0)],
                                "elements E1: a loop of voltage-controlled"),
    "vcvs-chain": ([LOAD, E("E1", ["a", "0", "b", "0"], 2.0), E("E2", ["b", "0", "a", "0"], 0.5),
                    {"name": "R3", "nodes": ["a", "b"], "g": 1.0}],
                   "elements E1, E2: a loop of voltage-controlled voltage sources with loop "
                   "gain 1"),
    "cccs-own-control": ([LOAD, {"name": "VS", "nodes": ["out", "m"], "dc": 0.0},
                          {"name": "F1", "nodes": ["m", "0"], "control": "VS", "gain": 1.0}],
                         "elements F1 (controlled by VS): a loop of current-controlled"),
    "vccs-cancels": ([E("G1", ["0", "out", "out", "0"], 1e-3)],
                     "its DC matrix is exactly singular: the controlled source(s) G1 cancel"),
}


@pytest.mark.parametrize("name", SINGULAR)
def test_singular_structure_is_refused_and_really_singular(name):
    elements, message = SINGULAR[name]
    with pytest.raises(CircuitError) as refused:
        build_circuit(spec(*elements))
    assert message in str(refused.value)
    unchecked = build_graph(spec(*elements))          # the same circuit, not validated
    with pytest.raises(ConvergenceError, match="singular circuit matrix"):
        NativeBackend(unchecked).solve([0.5])
    matrix, _labels = dc_matrix(unchecked)
    assert np.linalg.matrix_rank(matrix.toarray()) < matrix.shape[0]


@needs_ngspice
@pytest.mark.ngspice
@pytest.mark.parametrize("name, node, wrong", [
    ("follower-gain-minus-one", "x", lambda v: abs(v) > 1e9),          # 5e14 V from 0.5 V
    ("vccs-cancels", "out", lambda v: abs(v) > 1e6),                   # 5e8 V from 0.5 V
    ("vcvs-own-control", "out", lambda v: abs(v) > 0.1),              # E1 says out = out ...
])
def test_ngspice_returns_a_wrong_answer_for_the_refused_structure(name, node, wrong):
    # ngspice's gmin regularisation turns a singular matrix into an arbitrary answer
    # without a warning: exactly what the structural refusal prevents.
    voltages = raw_ngspice(build_graph(spec(*SINGULAR[name][0])))
    assert wrong(voltages[node]), voltages


def test_vcvs_own_control_output_would_be_zero_or_undetermined():
    # E1 n+ n- n+ n- gain 2: v = 2 v forces v = 0 whatever drives the node: refused too.
    with pytest.raises(CircuitError, match="E1: a VCVS controlled by its own output"):
        build_circuit(spec(E("E1", ["out", "0", "out", "0"], 2.0)))


@pytest.mark.parametrize("gain", [1e6, 3.0, -0.5])
def test_follower_loop_with_regular_gain_is_accepted_and_exact(gain):
    # E1 x 0 in x A: v_x = A (v_in - v_x) -> v_x = A / (1 + A) v_in (regular unless A = -1).
    circuit = build_circuit(spec({"name": "R3", "nodes": ["x", "0"], "g": 1e-3},
                                 E("E1", ["x", "0", "in", "x"], gain), LOAD))
    result = NativeBackend(circuit).solve([0.5])
    assert result.voltage_dict()["x"] == pytest.approx(gain / (1 + gain) * 0.5, rel=1e-12)


def test_vcvs_chain_with_loop_gain_not_one_is_accepted():
    # a = 2 b, b = 0.4 a -> a = b = 0 exactly (the loop is regular); out = v_in / 2.
    circuit = build_circuit(spec(LOAD, E("E1", ["a", "0", "b", "0"], 2.0),
                                 E("E2", ["b", "0", "a", "0"], 0.4),
                                 {"name": "R3", "nodes": ["a", "b"], "g": 1.0}))
    v = NativeBackend(circuit).solve([0.5]).voltage_dict()
    assert v["a"] == pytest.approx(0.0, abs=1e-15) and v["out"] == pytest.approx(0.25)


def test_cccs_through_its_own_control_with_gain_two_is_accepted():
    # KCL at m: I(VS) = 2 I(VS) -> I(VS) = 0: out is the divider's v_in / 2.
    circuit = build_circuit(spec(LOAD, {"name": "VS", "nodes": ["out", "m"], "dc": 0.0},
                                 {"name": "F1", "nodes": ["m", "0"], "control": "VS",
                                  "gain": 2.0}))
    assert NativeBackend(circuit).solve([0.5]).voltage_dict()["out"] == pytest.approx(0.25)


def test_vccs_cancelling_a_conductance_is_accepted_with_a_diode():
    # The diode's conductance (>= gmin) keeps the matrix regular: the diode decides.
    check_dc_matrix(build_graph(spec(E("G1", ["0", "out", "out", "0"], 1e-3),
                                     {"name": "D1", "nodes": ["out", "0"], "model": "DM"},
                                     models={"DM": {"IS": 1e-14}})))


def test_path_voltage_over_the_source_forest():
    circuit = build_graph(spec(LOAD, {"name": "V2", "nodes": ["a", "in"], "dc": 1.0},
                               {"name": "V3", "nodes": ["a", "b"], "dc": 1.0},
                               {"name": "R3", "nodes": ["b", "out"], "g": 1.0}))
    tree = voltage_forest(circuit)
    # v(b) - v(0) = v(in) + v(a) - v(in) - (v(a) - v(b)) = VIN + V2 - V3
    assert path_voltage(tree, "b", "0") == {"VIN": 1.0, "V2": 1.0, "V3": -1.0}
    assert path_voltage(tree, "0", "b") == {"VIN": -1.0, "V2": -1.0, "V3": 1.0}
    assert path_voltage(tree, "out", "0") is None


# -- value limits -----------------------------------------------------------------------------
@pytest.mark.parametrize("element, accepted, refused, message", [
    ("g", 1e-30, 9.9e-31, "conductance 9.9e-31 S is out of range: it must be at least 1e-30 S"),
    ("g", 1e9, 1.1e9, "conductance 1.1e+09 S is out of range: it must be at most 1e+09 S"),
])
def test_conductance_limits_are_inclusive(element, accepted, refused, message):
    build_circuit(spec({"name": "R2", "nodes": ["out", "0"], element: accepted}))
    with pytest.raises(SpecError, match=message.replace("+", r"\+")) as error:
        spec({"name": "R2", "nodes": ["out", "0"], element: refused})
    assert "elements[2] (R2)" in str(error.value)


@pytest.mark.parametrize("options, message", [
    ({"temp": -273.15}, "options.temp (degC) -273.15 is out of range: it must be above -273.15"),
    ({"tnom": -500}, "options.tnom (degC) -500 is out of range"),
    ({"temp": 1001}, "options.temp (degC) 1001 is out of range: it must be at most 1000"),
    ({"gmin": 1e-310}, "options.gmin 1e-310 is out of range: it must be at least 1e-30"),
    ({"reltol": 0.5}, "options.reltol 0.5 is out of range: it must be at most 0.1"),
    ({"itl2": 1e7}, "options.itl2 1e+07 is out of range"),
])
def test_absurd_options_are_refused(options, message):
    with pytest.raises(SpecError) as error:
        spec(LOAD, options=options)
    assert message in str(error.value)


def test_sensible_options_are_accepted():
    build_circuit(spec(LOAD, options={"temp": -273.0, "tnom": 1000, "gmin": 1e-30,
                                      "reltol": 0.1, "itl1": 1e6}))


@pytest.mark.parametrize("model, message", [
    ({"IS": 1.5}, "models.DM.IS 1.5 A is out of range: it must be at most 1 A"),
    ({"IS": 1e-320}, "models.DM.IS"),
    ({"N": 101}, "models.DM.N 101 is out of range: it must be at most 100"),
    ({"N": 0.01}, "models.DM.N 0.01 is out of range: it must be at least 0.1"),
])
def test_absurd_diode_models_are_refused(model, message):
    with pytest.raises(SpecError) as error:
        spec(LOAD, {"name": "D1", "nodes": ["out", "0"], "model": "DM"}, models={"DM": model})
    assert message in str(error.value)


def test_diode_series_resistance_and_area_limits_at_build():
    with pytest.raises(CircuitError, match="diode model DM: RS 1e-12 Ohm is out of range"):
        build_circuit(spec(LOAD, {"name": "D1", "nodes": ["out", "0"], "model": "DM"},
                           models={"DM": {"RS": 1e-12}}))
    # IS * area is refused where the spec is read (with the element's place), and again where
    # a circuit is checked, for circuits that do not come from a spec (import, the API)
    with pytest.raises(SpecError, match=r"elements\[3\] \(D1\): saturation current IS\*area "
                       r"\(IS = 1e-14 A, area = 1e\+20\) 1e\+06 A is out of range"):
        spec(LOAD, {"name": "D1", "nodes": ["out", "0"], "model": "DM", "area": 1e20},
             models={"DM": {"IS": 1e-14}})
    from dataclasses import replace
    from eqprop_hw.circuit.limits import check_element_value
    circuit = build_circuit(spec(LOAD, {"name": "D1", "nodes": ["out", "0"], "model": "DM"},
                                 models={"DM": {"IS": 1e-14}}))
    diode = next(element for element in circuit.elements if element.name == "D1")
    check_element_value(diode, circuit.models)                           # area 1: inside
    with pytest.raises(CircuitError, match=r"element D1: saturation current IS\*area 1e\+06 A"):
        check_element_value(replace(diode, value=1e20), circuit.models)


def test_params_outside_the_limits_are_refused_through_validate():
    circuit = build_circuit(spec(LOAD))
    from eqprop_hw.io.params import apply_params
    with pytest.raises(ParamsError, match="element R2: conductance 1e-40 S is out of range"):
        apply_params(circuit, {"R2": 1e-40})


def test_input_and_target_limits():
    circuit = build_circuit(spec(LOAD))
    assert source_values(circuit, [MAX_SOURCE]) == {"VIN": MAX_SOURCE}
    with pytest.raises(CircuitError, match="input 'VIN': value 1e\\+308 drives source VIN"):
        source_values(circuit, [1e308])
    backend = NativeBackend(circuit)
    with pytest.raises(CircuitError, match="input 'VIN'"):
        backend.solve([-2e9])
    with pytest.raises(CircuitError, match="target for output 'out'"):
        backend.solve([0.5], 1e-4, [1e10])
    with pytest.raises(CircuitError, match="target for output 'out'"):
        write_netlist(circuit, inputs=[0.5], beta=1e-4, targets=[-1e10])
    # exact at the limit: 1e9 V through two 1 kOhm resistors gives 5e8 V
    assert backend.solve([MAX_SOURCE]).voltage_dict()["out"] == pytest.approx(MAX_SOURCE / 2)


def test_check_range_messages():
    check_range("x", CONDUCTANCE_LIMITS[0], *CONDUCTANCE_LIMITS, "S")
    with pytest.raises(CircuitError, match="^x nan S must be|^x must be a finite number"):
        check_range("x", float("nan"), *CONDUCTANCE_LIMITS, "S")


# -- SPICE import: .lib sections ------------------------------------------------------------------
def write(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path / next(iter(files))


def test_lib_section_with_endl_imports_its_elements(tmp_path):
    path = write(tmp_path, {"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib ff\nR2 out 0 1k\n.end\n",
                            "m.lib": ".lib tt\nR1 in out 1k\n.endl tt\n.lib ff\nR1 in out 2k\n"
                                     ".endl\n"})
    elements = {e["name"]: e for e in import_netlist(path)["elements"]}
    assert elements["R1"]["r"] == 2000.0 and set(elements) == {"V1", "R1", "R2"}


@pytest.mark.parametrize("files, message", [
    ({"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib tt\nR2 out 0 1k\n.end\n",
      "m.lib": ".lib tt\nR1 in out 1k\n.lib ff\nR1 in out 2k\n.endl\n"},
     "a.cir:3: .lib m.lib tt: {dir}/m.lib:1: .lib section 'tt' has no .endl before .lib ff at "
     "line 3"),
    ({"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib tt\n.end\n", "m.lib": ".lib tt\nR1 in 0 1k\n"},
     "a.cir:3: .lib m.lib tt: {dir}/m.lib:1: .lib section 'tt' has no .endl before the end "
     "of the file"),
    ({"a.cir": "t\nV1 in 0 DC 1\nR1 in out 1k\n.lib tt\nR3 out 0 1k\nR2 out 0 1k\n.end\n"},
     "a.cir:4: .lib section 'tt' has no .endl before the end of the file"),
    ({"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib ss\n.end\n", "m.lib": ".lib tt\nR1 in 0 1k\n.endl\n"},
     "a.cir:3: .lib m.lib ss: section 'ss' not found in {dir}/m.lib"),
    ({"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib tt\n.end\n",
      "m.lib": ".lib tt\nR1 in 0 1k\n.endl\n.lib tt\nR1 in 0 2k\n.endl\n"},
     "a.cir:3: .lib m.lib tt: section 'tt' is defined twice in {dir}/m.lib (lines 1 and 4)"),
    ({"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib tt\n.end\n", "m.lib": ".lib tt\nR1 in 0 1k\n.endl ff\n"},
     "a.cir:3: .lib m.lib tt: {dir}/m.lib:3: .endl ff closes section 'tt' (opened at line 1): "
     "the names differ"),
])
def test_lib_problems_are_refused_with_file_line_and_section(tmp_path, files, message):
    path = write(tmp_path, files)
    with pytest.raises(NetlistError) as error:
        import_netlist(path)
    text = str(error.value).replace(str(tmp_path.resolve()), "{dir}")
    assert text.endswith(message), text


def test_control_block_without_endc_is_refused_even_when_unsafe(tmp_path):
    path = write(tmp_path, {"a.cir": "t\nV1 in 0 DC 1\nR1 in 0 1k\n.control\nrun\n"})
    with pytest.raises(NetlistError, match=r"a.cir:4: .control block is never closed"):
        import_netlist(path, allow_unsafe=True)
