"""Transistors (M Q J Z) end to end: spec, netlist, ngspice, refusals, import, EP gradients.

Numbers are checked against independent references: the level-1 MOSFET law solved by hand,
and raw ``ngspice -b`` on the ORIGINAL netlist (not ours), to 1e-6 V.
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

import eqprop_hw
from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.graph import Element, validate_circuit
from eqprop_hw.circuit.netlist import write_netlist
from eqprop_hw.circuit.spec import parse_spec
from eqprop_hw.circuit.transistors import DeviceModel, model_line, transistor_line
from eqprop_hw.cli import main
from eqprop_hw.errors import BackendError, CircuitError, SpecError
from eqprop_hw.learning.check import finite_difference_gradient
from eqprop_hw.learning.ep import ep_gradient
from eqprop_hw.learning.reference import EnergyModel, gradient_agreement

NGSPICE = shutil.which("ngspice")
needs_ngspice = pytest.mark.skipif(NGSPICE is None, reason="ngspice binary not installed")

#: An NMOS common-source stage: VDD 3 V, RD 10 kOhm, VIN 1.5 V on the gate.
MOS_SPEC = {
    "name": "cs", "kind": "graph",
    "models": {"NM": {"type": "NMOS", "LEVEL": 1, "VTO": 0.7, "KP": 1e-4}},
    "elements": [
        {"name": "VDD", "nodes": ["vdd", "0"], "dc": 3.0},
        {"name": "VIN", "nodes": ["in", "0"], "dc": 1.5},
        {"name": "RD", "nodes": ["vdd", "out"], "r": 1e4},
        {"name": "M1", "nodes": ["out", "in", "0", "0"], "model": "NM", "w": 1e-5, "l": 1e-6}],
    "inputs": ["VIN"], "outputs": ["out"]}


def mos_circuit(**changes):
    data = copy.deepcopy(MOS_SPEC)
    data.update(changes)
    return build_circuit(parse_spec(data))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the circuit, the spec and the writer -------------------------------------------------------
@pytest.mark.ngspice
def test_ngspice_solves_a_mosfet_stage_as_the_level1_law():
    """Triode region: (VDD - Vo)/RD = KP W/L ((Vgs - VTO) Vo - Vo^2/2), solved by hand."""
    beta, vov, vdd, rd = 1e-4 * 10, 1.5 - 0.7, 3.0, 1e4
    # beta rd (vov Vo - Vo^2/2) = vdd - Vo  ->  a Vo^2 + b Vo + c = 0
    a, b, c = beta * rd / 2, -(beta * rd * vov + 1.0), vdd
    exact = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)
    assert exact < vov                                   # triode indeed
    with make_backend("ngspice", mos_circuit()) as backend:
        out = backend.solve([[1.5]]).outputs[0, 0]
    assert out == pytest.approx(exact, abs=1e-7)


def test_writer_lines_are_standard_spice():
    model = DeviceModel("QN", "NPN", (("LEVEL", 1), ("BF", 100.0), ("IS", 1e-15)))
    assert model_line(model) == ".model QN NPN(LEVEL=1 BF=100.0 IS=1e-15)"
    q = Element("Q1", "Q", ("c", "b", "e", "s"), model="QN", params=(("area", 2.0),))
    assert transistor_line(q) == "Q1 c b e s QN area=2.0"
    version = DeviceModel("B4", "NMOS", (("LEVEL", 54), ("VERSION", "4.8.0")))
    assert model_line(version) == ".model B4 NMOS(LEVEL=54 VERSION=4.8.0)"
    text = write_netlist(mos_circuit())
    assert ".model NM NMOS(LEVEL=1 VTO=0.7 KP=0.0001)\n" in text
    assert "\nM1 out in 0 0 NM w=1e-05 l=1e-06\n" in text


def test_transistors_are_fixed_not_trainable():
    circuit = mos_circuit(trainable=["*"])
    assert circuit.trainable == ["RD"]
    assert circuit.element("M1").value is None


@pytest.mark.parametrize("change, message", [
    ({"models": {"NM": {"type": "NMOS", "LEVEL": 7}}}, "LEVEL=7 is not a MOSFET level"),
    ({"models": {"NM": {"type": "NMOS", "LEVEL": 1.5}}}, "LEVEL must be an integer"),
    ({"models": {"NM": {"type": "NMOS", "VTO": "1; .control"}}}, "must be a finite number"),
    ({"models": {"NM": {"type": "NMOS", "VT_O": 1.0}}}, "invalid parameter name"),
    ({"models": {"NM": {"type": "NMOS", "VERSION": "4.8; shell"}}}, "VERSION must be"),
    ({"models": {"NM": {"type": "NPN"}}}, "not a MOSFET model of this spec"),
    ({"models": {"NM": {"type": "NMOS", "KP": 1e300}}}, "beyond the limit"),
])
def test_spec_refuses_bad_models(change, message):
    data = copy.deepcopy(MOS_SPEC)
    data.update(change)
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(data)


@pytest.mark.parametrize("element, message", [
    ({"off": 1}, "unknown key 'off'"),
    ({"ic": 1}, "unknown key 'ic'"),
    ({"w": -1e-6}, "w must be positive"),
    ({"w": 1e9}, "out of range"),
    ({"nodes": ["out", "in", "0"]}, "a MOSFET takes 4 nodes"),
    ({"model": "NX"}, "'NX' is not a MOSFET model"),
])
def test_spec_refuses_bad_transistor_elements(element, message):
    data = copy.deepcopy(MOS_SPEC)
    data["elements"][3].update(element)
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(data)


def test_a_diode_cannot_use_a_transistor_model():
    data = copy.deepcopy(MOS_SPEC)
    data["elements"].append({"name": "D1", "nodes": ["out", "0"], "model": "NM"})
    with pytest.raises(SpecError, match="unknown diode model 'NM'"):
        parse_spec(data)


def test_circuit_checks_transistors_made_in_python():
    circuit = mos_circuit()
    bad = Element("M2", "M", ("out", "in", "0", "0"), model="NM", params=(("off", 1.0),))
    with pytest.raises(CircuitError, match="unsupported MOSFET instance parameter 'off'"):
        validate_circuit(type(circuit)(circuit.name, "graph", list(circuit.elements) + [bad],
                                       {}, [], [], [], {}, None, circuit.device_models))
    with pytest.raises(CircuitError, match="unknown transistor model"):
        validate_circuit(type(circuit)(circuit.name, "graph", list(circuit.elements), {}, [],
                                       [], [], {}, None, {}))


# -- refusals by the native solver and the reference --------------------------------------------
NATIVE = ("native backend: M1 is a MOSFET; transistors are simulated by ngspice only "
          "(use --backend ngspice)")


def test_native_backend_and_reference_refuse_naming_the_device():
    circuit = mos_circuit()
    with pytest.raises(BackendError) as error:
        make_backend("native", circuit)
    assert str(error.value) == NATIVE
    with pytest.raises(CircuitError) as error:
        EnergyModel(circuit)
    assert str(error.value) == ("software reference: M1 is a MOSFET; transistors are "
                                "simulated by ngspice only")


def test_api_and_cli_refuse_the_native_backend(tmp_path, capsys):
    path = tmp_path / "cs.yaml"
    path.write_text(yaml.safe_dump(MOS_SPEC, sort_keys=False))
    network = eqprop_hw.load(path)
    with pytest.raises(BackendError) as error:
        network.simulate([1.5], backend="native")
    assert str(error.value) == NATIVE
    code, out, err = run(capsys, "simulate", path, "--input", "1.5", "--backend", "native")
    # exit status 1, as for a behavioural source refused by the native backend
    assert (code, out, err) == (1, "", f"eqprop-hw: error: {NATIVE}\n")
    code, out, err = run(capsys, "describe", path)
    assert code == 0 and "transistors 1 (fixed, ngspice only): M1 (NMOS NM)" in out


# -- EP on ngspice with a fixed transistor stage ------------------------------------------------
def follower_crossbar() -> dict:
    """A 2x2 crossbar fed by an NMOS source follower (gate and drain held by sources, so the
    follower is a one-port seen from its source node and the circuit keeps a co-content)."""
    elements = [
        {"name": "VDD", "nodes": ["vdd", "0"], "dc": 5.0},
        {"name": "VX0", "nodes": ["g0", "0"], "dc": 0.0},
        {"name": "VX1", "nodes": ["x1", "0"], "dc": 0.0},
        {"name": "M1", "nodes": ["vdd", "g0", "x0", "x0"], "model": "NM", "w": 1e-5,
         "l": 1e-6},
        {"name": "RS", "nodes": ["x0", "0"], "r": 2e4}]
    values = [[1.1e-4, 0.7e-4], [0.6e-4, 1.3e-4]]
    for i, row in enumerate(("x0", "x1")):
        for j, col in enumerate(("o0", "o1")):
            elements.append({"name": f"R{i}{j}", "nodes": [row, col], "g": values[i][j]})
    elements += [{"name": "RL0", "nodes": ["o0", "0"], "g": 1e-4},
                 {"name": "RL1", "nodes": ["o1", "0"], "g": 1e-4}]
    return {"name": "follower", "kind": "graph",
            "models": {"NM": {"type": "NMOS", "LEVEL": 1, "VTO": 0.7, "KP": 1e-4,
                              "LAMBDA": 0.02}},
            "elements": elements, "inputs": ["VX0", "VX1"], "outputs": ["o0", "o1"],
            "trainable": ["R0*", "R1*"]}


@pytest.mark.ngspice
def test_ep_gradient_on_ngspice_matches_finite_differences_of_the_ngspice_loss():
    circuit = build_circuit(parse_spec(follower_crossbar()))
    x = np.array([[2.0, 0.5], [3.0, -0.4]])
    y = np.array([[0.4, 0.3], [0.8, 0.1]])
    beta = 1e-3 * float(np.median(circuit.trainable_values()))
    with make_backend("ngspice", circuit) as backend:
        estimate, phases = ep_gradient(backend, x, y, beta, "centered")
        assert phases is not None
        fd = finite_difference_gradient(circuit, x, y, backend, step=1e-4)
    agreement = gradient_agreement(estimate, fd)
    assert agreement["cosine"] >= 0.9999 and agreement["rel_error"] <= 1e-4, agreement
    assert np.all(np.abs(fd) > 0)
