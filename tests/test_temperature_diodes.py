"""Diodes at -40, 27 and 125 degC with datasheet models (IS scaled by EG/XTI from TNOM, reverse
breakdown BV/IBV, RS, area), and circuits whose every node is set by a source.

Independent references: raw ``ngspice -b`` runs of the exported netlists (the native backend
and the reference's own diode law against them), finite differences of the native solver's
loss (the reference's exact gradient), the analytic solution of a fully pinned circuit.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from eqprop_hw.backends.native import NativeBackend, diode_current, matched_breakdown
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.errors import CircuitError, SpecError
from eqprop_hw.circuit.graph import DiodeModel
from eqprop_hw.circuit.netlist import write_netlist
from eqprop_hw.learning.check import finite_difference_gradient
from eqprop_hw.learning.reference import (EnergyModel, exact_gradient, gradient_agreement,
                                          junction_current, junction_parameters)
from eqprop_hw.circuit.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
TEMPERATURES = (-40.0, 27.0, 125.0)
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")

#: A 1N4148-like datasheet model (measured at 25 degC, 100 V breakdown at 100 uA).
DATASHEET = {"IS": 2.52e-9, "N": 1.752, "RS": 0.568, "BV": 100.0, "IBV": 1.0e-4, "EG": 1.11,
             "XTI": 3.0, "TNOM": 25.0, "CJO": 4.0e-12, "M": 0.4, "TT": 2.0e-8}
#: A low-voltage zener-like model (default IBV, EG, XTI; TNOM from the circuit).
ZENER = {"IS": 1.0e-14, "N": 1.0, "BV": 5.0, "IBV": 1.0e-5}

#: Input voltages (V): forward, reverse below breakdown, just beyond and far into breakdown.
INPUTS = (2.0, -50.0, -105.0, -150.0)


def graph_spec(temp: float, vin: float, tnom: float | None = None) -> dict:
    """A graph network: the datasheet diode from an input through 10 kOhm, a zener (area 2)
    in series with it to a node held at -0.5 V by a second source through a resistor and a
    clamp diode."""
    spec = {"name": "ds", "kind": "graph", "options": {"temp": temp},
            "models": {"DS": dict(DATASHEET), "DZ": dict(ZENER)},
            "elements": [
                {"name": "VA", "nodes": ["a", "0"], "dc": vin},
                {"name": "R1", "nodes": ["a", "m"], "g": 1e-4},
                {"name": "D1", "nodes": ["m", "0"], "model": "DS"},
                {"name": "R4", "nodes": ["a", "n"], "g": 1e-4},
                {"name": "D2", "nodes": ["n", "k"], "model": "DZ", "area": 2.0},
                {"name": "R2", "nodes": ["k", "0"], "g": 1e-3},
                {"name": "VB", "nodes": ["b", "0"], "dc": -0.5},
                {"name": "R3", "nodes": ["b", "k"], "g": 2e-3},
                {"name": "D3", "nodes": ["k", "b"], "model": "DZ"}],
            "inputs": ["VA"], "outputs": ["m", "n", "k"], "trainable": ["R1", "R2", "R3", "R4"]}
    if tnom is not None:
        spec["options"]["tnom"] = tnom
    return spec


def crossbar_spec(temp: float) -> dict:
    """The xor crossbar (2-8-1, rectifying diodes, 5 V inputs) with a datasheet activation
    model whose 0.6 V breakdown the reverse-biased diodes reach."""
    spec = yaml.safe_load((ROOT / "circuits" / "xor.yaml").read_text())
    spec = copy.deepcopy(spec)
    spec["options"] = {"temp": temp}
    spec["activation"]["model"] = {"IS": 1.0e-12, "N": 1.3, "RS": 5.0, "BV": 0.6, "IBV": 1e-6,
                                   "EG": 0.9, "XTI": 2.0, "TNOM": 20.0}
    spec["conductance"]["init"] = {"distribution": "uniform", "low": 1.0e-4, "high": 1.0e-3}
    return spec


def raw_ngspice_voltages(netlist: str) -> dict:
    """Node voltages (V) of one ``ngspice -b -r`` run of a netlist."""
    from eqprop_hw.backends.ngspice import run_ngspice_batch
    vectors = run_ngspice_batch(netlist)
    return {name[2:-1]: float(np.ravel(value)[0]) for name, value in vectors.items()
            if name.startswith("v(")}


def largest_difference(names, voltages, reference: dict) -> float:
    """Largest |difference| (V) over the circuit's nodes (not the reference model's internal
    RS nodes, which ngspice names its own way)."""
    pairs = [(float(v), reference[n]) for n, v in zip(names, voltages) if not n.endswith("_rs")]
    assert len(pairs) >= len([n for n in names if not n.endswith("_rs")]) > 0
    return max(abs(a - b) for a, b in pairs)


def diode_voltages(circuit, names, voltages, diode: str) -> float:
    """Junction voltage (V) of a diode without RS from a row of node voltages."""
    element = circuit.element(diode)
    column = {n: k for k, n in enumerate(names)}
    a, b = element.nodes
    return (voltages[column[a]] if a != "0" else 0.0) - (voltages[column[b]] if b != "0" else 0.0)


# -- native and reference vs raw ngspice --------------------------------------------------------
@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("temp", TEMPERATURES)
def test_datasheet_graph_matches_ngspice(temp):
    worst_native = worst_reference = 0.0
    in_breakdown = set()
    for vin in INPUTS:
        circuit = build_circuit(parse_spec(graph_spec(temp, vin)))
        native = NativeBackend(circuit).solve([[vin]])
        model = EnergyModel(circuit)
        reference = model.solve([[vin]])
        spice = raw_ngspice_voltages(write_netlist(circuit))
        worst_native = max(worst_native, largest_difference(native.node_names,
                                                            native.voltages[0], spice))
        worst_reference = max(worst_reference, largest_difference(
            model.node_names, reference.voltages[0], spice))
        # Which junctions are in breakdown (beyond -BV'), at the solution ngspice found.
        law = dict(zip([d.name for d in NativeBackend(circuit)._diodes],
                       NativeBackend(circuit)._breakdown))
        for diode in ("D2", "D3"):
            if diode_voltages(circuit, list(spice), list(spice.values()), diode) < -law[diode]:
                in_breakdown.add(diode)
        if spice["m"] < -DATASHEET["BV"]:
            in_breakdown.add("D1")
    assert worst_native <= 1e-6, worst_native
    assert worst_reference <= 1e-6, worst_reference
    assert {"D1", "D2"} <= in_breakdown        # both models driven beyond their breakdown


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("temp", TEMPERATURES)
def test_layered_crossbar_matches_ngspice(temp):
    circuit = build_circuit(parse_spec(crossbar_spec(temp)))
    x = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [-0.4, 0.9]])
    native = NativeBackend(circuit).solve(x)
    model = EnergyModel(circuit)
    reference = model.solve(x)
    breakdown = NativeBackend(circuit)._breakdown[0]
    deepest = 0.0
    for row in range(len(x)):
        spice = raw_ngspice_voltages(write_netlist(circuit, inputs=x[row]))
        assert largest_difference(native.node_names, native.voltages[row], spice) <= 1e-6
        assert largest_difference(model.node_names, reference.voltages[row], spice) <= 1e-6
        hidden = [spice[n] for n in spice if n.startswith("n1_")]
        deepest = max(deepest, max(abs(v) for v in hidden))
    assert deepest > breakdown             # some rectifier is driven beyond its breakdown


@pytest.mark.ngspice
@needs_ngspice
def test_model_tnom_overrides_the_circuit_tnom():
    """TNOM from the ``tnom`` option for a model without one, the model's own otherwise."""
    spec = graph_spec(125.0, -150.0, tnom=60.0)
    circuit = build_circuit(parse_spec(spec))
    native = NativeBackend(circuit).solve([[-150.0]])
    spice = raw_ngspice_voltages(write_netlist(circuit))
    assert largest_difference(native.node_names, native.voltages[0], spice) <= 1e-6
    plain = NativeBackend(build_circuit(parse_spec(graph_spec(125.0, -150.0)))).solve([[-150.0]])
    assert abs(plain.voltages[0] - native.voltages[0]).max() > 1e-4      # tnom mattered


# -- the two diode laws -------------------------------------------------------------------------
@pytest.mark.parametrize("temp", TEMPERATURES)
def test_reference_law_agrees_with_native_law(temp):
    """The two independently written laws give the same current and conductance."""
    model = DiodeModel("DS", IS=DATASHEET["IS"], N=DATASHEET["N"], RS=0.0,
                       extra=tuple((k, DATASHEET[k]) for k in ("BV", "IBV", "EG", "XTI", "TNOM")))
    circuit = build_circuit(parse_spec(graph_spec(temp, 1.0)))
    native = NativeBackend(circuit)
    position = [d.name for d in native._diodes].index("D1")
    saturation, vte, breakdown = junction_parameters(model, 1.0, temp, 25.0)
    assert saturation == pytest.approx(native._saturation[position], rel=1e-13)
    assert breakdown == pytest.approx(native._breakdown[position], rel=1e-12)
    v = np.concatenate([np.linspace(-130, -99, 400), np.linspace(-99, 0.9, 400)])
    ours = junction_current(v, saturation, vte, 1e-12, breakdown)
    theirs = diode_current(v, native._saturation[position], native._vte[position], 1e-12,
                           native._breakdown[position])
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-9, atol=1e-22)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-9, atol=1e-22)


def test_breakdown_current_is_ibv_at_bv():
    """BV' is where SPICE's reverse law carries IBV at -BV (the defining equation)."""
    vt = 0.025851999786435
    saturation, bv, ibv = 3e-9, 100.0, 1e-4
    x = matched_breakdown(bv, ibv, saturation, vt, 1.75 * vt, 1e-12)
    reached = saturation * (np.exp((bv - x) / (1.75 * vt)) - 1.0 + x / vt)
    assert reached == pytest.approx(ibv, rel=1e-9)
    # IBV below IS*BV/Vt: no solution, BV is used as given.
    assert matched_breakdown(bv, 1e-9, saturation, vt, vt, 1e-3) == bv


def test_cocontent_integrates_the_breakdown_branch():
    """dPhi/dv of the reference's co-content is its current, across all three branches."""
    from eqprop_hw.learning.reference import diode_cocontent
    saturation, vte, breakdown = 2e-9, 0.045, 4.0
    v = np.linspace(-6.0, 0.6, 3001)
    v = v[np.abs(v + breakdown) > 1e-3]
    h = 1e-6
    numeric = (diode_cocontent(v + h, saturation, vte, 1e-12, breakdown)
               - diode_cocontent(v - h, saturation, vte, 1e-12, breakdown)) / (2 * h)
    current = junction_current(v, saturation, vte, 1e-12, breakdown)[0]
    np.testing.assert_allclose(numeric, current, rtol=1e-5, atol=1e-12)
    assert current.min() < -1e-3                         # deep in breakdown


def test_27_degrees_keeps_saturation_bitwise():
    """At TNOM the scaling is exactly 1: existing circuits keep every bit."""
    circuit = build_circuit(parse_spec(graph_spec(27.0, 1.0) | {"models": {
        "DS": {"IS": 4.352e-9, "N": 1.906, "RS": 0.6458}, "DZ": {"IS": 1e-14, "N": 1.0}}}))
    native, model = NativeBackend(circuit), EnergyModel(circuit)
    expected = {d.name: circuit.models[d.model].IS * d.value for d in native._diodes}
    assert list(native._saturation) == [expected[d.name] for d in native._diodes]
    assert list(model.diode_laws[0]) == [expected[d] for d in model.diode_names]


# -- gradients at temperature -------------------------------------------------------------------
def test_exact_gradient_matches_finite_differences_at_125_degrees():
    x = np.array([[2.0], [-50.0], [-150.0]])
    circuit = build_circuit(parse_spec(graph_spec(125.0, 0.0)))
    targets = np.array([[0.5, -3.0, -6.0], [-40.0, -5.0, -6.2], [-99.0, -10.0, -7.5]])
    loss, exact = exact_gradient(circuit, x, targets)
    fd = finite_difference_gradient(circuit, x, targets, "native", step=1e-5)
    agreement = gradient_agreement(fd, exact)
    assert agreement["rel_error"] < 1e-5, agreement
    assert np.all(np.abs(exact) > 0)


# -- circuits fully pinned by sources -----------------------------------------------------------
def pinned_spec(model=None) -> dict:
    return {"name": "pinned", "kind": "graph",
            "models": {"DX": model or {"IS": 1e-14, "N": 1.0, "BV": 3.0}},
            "elements": [{"name": "VA", "nodes": ["a", "0"], "dc": 0.0},
                         {"name": "VB", "nodes": ["b", "0"], "dc": 0.5},
                         {"name": "R1", "nodes": ["a", "b"], "g": 1e-3},
                         {"name": "D1", "nodes": ["a", "b"], "model": "DX"},
                         {"name": "R2", "nodes": ["b", "0"], "g": 2e-3}],
            "inputs": ["VA"], "outputs": ["b", "a"], "trainable": ["R1", "R2"]}


def test_fully_pinned_circuit_native_and_reference():
    circuit = build_circuit(parse_spec(pinned_spec()))
    x = np.array([[0.7], [-4.0]])
    expected = np.array([[0.7, 0.5], [-4.0, 0.5]])          # a, b: set by the sources
    native = NativeBackend(circuit)
    for beta, targets in ((0.0, None), (1e-3, [[0.2, 0.0], [0.1, 0.3]])):
        result = native.solve(x, beta, targets)
        assert result.converged.all()
        np.testing.assert_array_equal(result.voltages, expected)
        np.testing.assert_array_equal(result.outputs, expected[:, [1, 0]])
    compiled = NativeBackend(circuit, compiled=True).solve_phases(x, [[0.2, 0.0]] * 2,
                                                                  [0.0, 1e-3, -1e-3])
    for phase in compiled:
        np.testing.assert_array_equal(phase.voltages, expected)
    model = EnergyModel(circuit)
    np.testing.assert_array_equal(model.solve(x).voltages, expected)
    loss, gradient = exact_gradient(circuit, x, [[0.2, 0.0], [0.1, 0.3]])
    assert loss == pytest.approx(np.mean([0.5 * (0.3 ** 2 + 0.7 ** 2),
                                          0.5 * (0.4 ** 2 + 4.3 ** 2)]), rel=1e-14)
    np.testing.assert_array_equal(gradient, 0.0)          # no conductance moves an output


@pytest.mark.ngspice
@needs_ngspice
def test_fully_pinned_circuit_matches_ngspice():
    circuit = build_circuit(parse_spec(pinned_spec()))
    native = NativeBackend(circuit).solve([[-4.0]])
    spice = raw_ngspice_voltages(write_netlist(circuit, inputs=[-4.0]))
    assert largest_difference(native.node_names, native.voltages[0], spice) <= 1e-12


def test_fully_pinned_circuit_on_the_cli(tmp_path, capsys):
    from eqprop_hw.cli import main
    path = tmp_path / "pinned.yaml"
    path.write_text(yaml.safe_dump(pinned_spec()))
    assert main(["simulate", str(path), "--input", "0.7", "--backend", "native", "--json"]) == 0
    out = capsys.readouterr().out
    import json
    assert json.loads(out)["voltages"] == {"0": 0.0, "a": 0.7, "b": 0.5}


# -- the spec and the netlist -------------------------------------------------------------------
def test_datasheet_parameters_written_only_when_given():
    netlist = write_netlist(build_circuit(parse_spec(graph_spec(27.0, 1.0))))
    assert (".model DS D(IS=2.52e-09 N=1.752 RS=0.568 BV=100.0 IBV=0.0001 EG=1.11 XTI=3.0 "
            "TNOM=25.0 CJO=4e-12 M=0.4 TT=2e-08)") in netlist
    assert ".model DZ D(IS=1e-14 N=1.0 BV=5.0 IBV=1e-05)" in netlist


@pytest.mark.parametrize("key,value,fragment", [
    ("BV", 0.0, "models.DS.BV must be positive"),
    ("IBV", -1e-3, "models.DS.IBV must be positive"),
    ("EG", 0.05, "models.DS.EG (activation energy) must be >= 0.1 eV"),
    ("TNOM", -300.0, "models.DS.TNOM must be above absolute zero"),
    ("XTI", "hot", "models.DS.XTI must be a number"),
    ("NBV", 1.0, "NBV"),
])
def test_spec_refuses_bad_datasheet_parameters(key, value, fragment):
    spec = graph_spec(27.0, 1.0)
    spec["models"]["DS"][key] = value
    with pytest.raises(SpecError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(spec)


def test_diode_model_refuses_bad_datasheet_parameters():
    with pytest.raises(CircuitError, match="diode model DQ: BV must be positive"):
        DiodeModel("DQ", extra=(("BV", -1.0),))
    with pytest.raises(CircuitError, match="diode model DQ: EG must be >= 0.1 eV"):
        DiodeModel("DQ", extra=(("EG", 0.0),))


def test_unusable_temperatures_are_refused():
    with pytest.raises(SpecError, match="must be above -273.15"):
        parse_spec(graph_spec(-300.0, 1.0))
    # the solvers' own guard, for a circuit that did not come through a spec
    circuit = build_circuit(parse_spec(graph_spec(27.0, 1.0)))
    circuit.options["temp"] = -300.0
    with pytest.raises(CircuitError, match="at or below absolute zero"):
        NativeBackend(circuit)
    with pytest.raises(CircuitError, match="(at or below absolute zero|above -273.15)"):
        EnergyModel(circuit)
    # IS scaled out of range (EG 500 eV from 25 to -40 degC underflows to 0 A).
    spec = graph_spec(-40.0, 1.0)
    spec["models"]["DS"]["EG"] = 500.0
    circuit = build_circuit(parse_spec(spec))
    with pytest.raises(CircuitError, match="diode model DS: IS scaled"):
        NativeBackend(circuit)
    with pytest.raises(CircuitError, match="diode model DS: IS scaled"):
        EnergyModel(circuit)
