"""Twin networks that train themselves in one ngspice transient (eqprop_hw.twin).

Every number is checked against something the circuit does not compute itself:
- one window on a voltage divider changes each conductance by the discrete Coupled Learning
  step of the closed form (``-(V - V_F) e + eta e^2 / 2`` per unit rate for the upper
  conductance), and a leaking capacitor decays as ``exp(-G_leak T / C)``;
- the amplifier stops charging at g_max;
- a training run's learning curve equals the Python-side discrete rule's (training.rule
  coupled, batch 1) within a tolerance that scales with the learning rate (continuous-time
  drift within each window), measured 0.46% at the rate used here;
- the first window's update direction agrees with the exact gradient as eta -> 0;
- the exported netlist run by plain ``ngspice -b`` gives the conductances ``train --twin`` read.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import eqprop_hw
from eqprop_hw.circuit.graph import Circuit, Element, InputPort, OutputPort
from eqprop_hw.errors import CircuitError, SpecError
from eqprop_hw.learning.coupled_reference import coupled_limit
from eqprop_hw.learning.reference import exact_gradient
from eqprop_hw.twin import TwinSettings, run_twin, twin_lines

pytestmark = pytest.mark.ngspice

ROOT = Path(__file__).resolve().parents[1]
CIRCUITS = ROOT / "circuits"


def cosine(a, b) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def divider(g1: float = 2e-3, g2: float = 5e-4, trainable=("R1", "R2")) -> Circuit:
    elements = [Element("V1", "V", ("a", "0"), 0.0), Element("R1", "R", ("a", "o"), g1),
                Element("R2", "R", ("o", "0"), g2)]
    return Circuit("divider", "graph", elements, {}, [InputPort("v1", "a", (("V1", 1.0),))],
                   [OutputPort("y", "o")], list(trainable))


def test_one_window_is_the_discrete_coupled_step_of_the_divider():
    g1, g2, v, y, eta, rate = 2e-3, 5e-4, 1.5, 0.7, 0.5, 1e-6
    free_out = g1 * v / (g1 + g2)
    e = y - free_out
    d = np.array([-(v - free_out) * e + eta * e * e / 2, free_out * e + eta * e * e / 2])
    settings = TwinSettings(eta=eta, learning_rate=rate, g_min=1e-8, g_max=1e-2)
    run = run_twin(divider(g1, g2), settings, [[v]], [[y]], [g1, g2])
    np.testing.assert_allclose(run.values[0], [g1, g2], rtol=1e-9)
    np.testing.assert_allclose(run.values[1] - run.values[0], -rate * d, rtol=2e-3)


def test_leaking_capacitors_decay_exponentially():
    settings = TwinSettings(eta=0.5, learning_rate=1e-15, g_min=1e-8, g_max=1e-2,
                            capacitance=1e-9, leakage=1e-7)
    run = run_twin(divider(), settings, [[1.5], [1.5]], [[0.7], [0.7]], [2e-3, 5e-4])
    decay = np.exp(-1e-7 * settings.sample_time / 1e-9 * np.arange(3))
    np.testing.assert_allclose(run.values, np.outer(decay, [2e-3, 5e-4]), rtol=1e-4)


def test_the_amplifier_stops_at_g_max():
    # Only R1 trains and y > V_F all along: R1 grows by ~8.75e-4 S in one window without
    # the bound (the discrete step -rate d = 0.02 x 0.04375), so it must stop at 2.1e-3 S.
    settings = TwinSettings(eta=1.0, learning_rate=2e-2, g_min=1e-8, g_max=2.1e-3)
    run = run_twin(divider(trainable=["R1"]), settings, [[1.5]], [[1.45]], [2e-3])
    assert run.values[1, 0] == pytest.approx(2.1e-3, rel=1e-3)


def _xor_spec(tmp_path, lr: float, eta: float, epochs: int) -> Path:
    text = (CIRCUITS / "xor_twin.yaml").read_text()
    text = text.replace("learning_rate: 0.0015", f"learning_rate: {lr}")
    text = text.replace("eta: 0.25", f"eta: {eta}").replace("epochs: 100", f"epochs: {epochs}")
    assert text.count(f"learning_rate: {lr}") == 1 and text.count(f"eta: {eta}") == 1
    path = tmp_path / "xor_twin.yaml"
    path.write_text(text)
    return path


def test_learning_curve_equals_the_discrete_rule(tmp_path):
    net = eqprop_hw.load(_xor_spec(tmp_path, 3e-4, 0.5, 10))
    twin = net.train_twin(tmp_path / "twin")
    python = net.train(out=tmp_path / "python", plots=False)
    a, b = np.array(twin.metrics["train_loss"]), np.array(python.metrics["train_loss"])
    assert b[-1] < 0.6 * b[0]                                # it learns
    np.testing.assert_allclose(a, b, rtol=0.02)              # measured max 0.46%
    written = json.loads((tmp_path / "twin" / "metrics.json").read_text())
    assert written["twin"] is True and written["windows"] == 40
    assert written["final_train_loss"] == twin.metrics["train_loss"][-1]


@pytest.mark.parametrize("name", ["xor", "iris"])
def test_first_window_direction_agrees_with_the_exact_gradient(name):
    net = eqprop_hw.load(CIRCUITS / f"{name}.yaml")
    x = [[1.0, 0.0]] if name == "xor" else [[0.5, -1.0, 1.2, 0.3]]
    y = [[0.9]] if name == "xor" else [[1.0, 0.0, 0.0]]
    g0 = np.array(net.circuit.trainable_values())
    settings = TwinSettings(eta=0.01, learning_rate=1e-9, g_min=1e-10, g_max=1e-3)
    step = np.diff(run_twin(net.circuit, settings, x, y, g0).values, axis=0)[0]
    _, limit = coupled_limit(net.circuit, x, y)
    _, gradient = exact_gradient(net.circuit, x, y)
    assert cosine(-step, limit) > 0.999
    assert cosine(-step, gradient) > (0.999 if name == "xor" else 0.99)


def test_exported_netlist_runs_in_plain_ngspice(tmp_path):
    from eqprop_hw.backends.ngspice.raw import read_raw_file
    from eqprop_hw.cli import main
    spec = CIRCUITS / "xor_twin.yaml"
    assert main(["export", str(spec), "--twin", "--epochs", "1", "-o",
                 str(tmp_path / "twin.cir")]) == 0
    subprocess.run(["ngspice", "-b", "-r", "out.raw", "twin.cir"], cwd=tmp_path, check=True,
                   capture_output=True, env=dict(os.environ, SPICE_ASCIIRAWFILE="1"))
    vectors = read_raw_file(tmp_path / "out.raw")
    net = eqprop_hw.load(spec)
    run = net.train_twin(tmp_path / "run", epochs=1)
    final = [np.interp(4e-3, vectors["time"], vectors[f"v(tw_{name.lower()})"]) * 1e-3
             for name in net.circuit.trainable]
    np.testing.assert_allclose(final, list(run.params.values()), rtol=1e-12)
    assert (tmp_path / "twin.cir").read_text() == (tmp_path / "run" / "twin.cir").read_text()


def test_refusals_name_the_setting(tmp_path):
    for old, new, message in (
            ("rule: coupled", "rule: ep", "set training.rule: coupled"),
            ("batch_size: 1 ", "batch_size: 2 ", "training.batch_size is 2"),
            ("capacitance: 1.0e-9}", "capacitance: 1.0e-9, settle_fraction: 0.001}",
             "training.twin: need 0 < rise_fraction <= settle_fraction")):
        path = tmp_path / "bad.yaml"
        path.write_text((CIRCUITS / "xor_twin.yaml").read_text().replace(old, new))
        with pytest.raises(SpecError, match=message):
            eqprop_hw.load(path).twin_netlist()
    circuit = divider()
    with_f = Circuit("f", "graph", list(circuit.elements) + [
        Element("F1", "F", ("o", "0"), 1.0, control="V1")], {}, circuit.inputs,
        circuit.outputs, circuit.trainable)
    with pytest.raises(CircuitError, match="element F1 is of type F"):
        twin_lines(with_f, TwinSettings(), [[1.0]], [[0.5]], [1e-3, 1e-3])
    with pytest.raises(CircuitError, match="eta must be in"):
        TwinSettings(eta=0.0)


@pytest.mark.parametrize("module", ["eqprop_hw.twin.netlist", "eqprop_hw.twin.run",
                                    "eqprop_hw.twin.train"])
def test_docstring_examples_run(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module),
                             extraglobs={"CIRCUITS": CIRCUITS, "np": np})
    assert result.failed == 0 and result.attempted > 0


def test_regression_example_learns_recovers_from_cut_edges_and_runs_in_plain_ngspice(tmp_path):
    """circuits/twin_regression.yaml: the error falls >= 10x within the one transient, two edges
    are cut at the start of epoch 6, the rest relearn (>= 10x again), and plain ngspice -b of
    the exported netlist ends at the conductances train --twin read."""
    from eqprop_hw.backends.ngspice.raw import read_raw_file
    spec = CIRCUITS / "twin_regression.yaml"
    net = eqprop_hw.load(spec)
    run = net.train_twin(tmp_path / "run", plots=False)
    m = run.metrics
    cut = m["damage"]["window"]
    trace_time = np.array(m["trace"]["time"])
    trace = np.array(m["trace"]["train_loss"])
    before, after = trace[trace_time < m["damage"]["time"]], trace[trace_time > m["damage"]["time"]]
    assert before[-1] < m["initial_train_loss"] / 10            # learns: 2.6e-3 -> 2e-6
    assert after[0] > 100 * before[-1]                          # the cut hurts
    assert m["train_loss"][-1] < after[0] / 10                  # and is relearnt: -> 3e-7
    assert m["damage"]["elements"] == ["R1", "R7"] and cut == 5 * 30
    (tmp_path / "twin.cir").write_text(net.twin_netlist())
    subprocess.run(["ngspice", "-b", "-r", "out.raw", "twin.cir"], cwd=tmp_path, check=True,
                   capture_output=True, env=dict(os.environ, SPICE_ASCIIRAWFILE="1"))
    vectors = read_raw_file(tmp_path / "out.raw")
    end = m["windows"] * 1e-3
    for name, value in run.params.items():
        if name not in m["damage"]["elements"]:
            raw = np.interp(end, vectors["time"], vectors[f"v(tw_{name.lower()})"])
            assert raw * 0.1 == pytest.approx(value, rel=1e-9)      # G_unit = g_max = 0.1 S/V
