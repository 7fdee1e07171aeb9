"""Coupled Learning (clamped outputs) beside EP, checked against closed forms and the reference.

- A voltage divider has a closed form for every quantity: the free output, the output
  conductance, the exact eta -> 0 limit and the O(eta) bias of the measured rule at finite eta
  (``-(V - V_F) e + eta e^2 / 2`` for the upper conductance). Both backends must reproduce it.
- On diode crossbars the limit computed by the reference's output-conductance formula must
  equal a centered finite difference in eta of the reference's own clamped equilibria (no
  backend involved), the measured rule must converge to it linearly in eta, and ngspice's
  clamped phase must agree with the native one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import eqprop_hw
from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.graph import Circuit, Element, InputPort, OutputPort
from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.coupled import (clamp_voltages, clamped_circuit, coupled_gradient,
                                        coupled_rule)
from eqprop_hw.learning.coupled_reference import coupled_limit
from eqprop_hw.learning.reference import EnergyModel, exact_gradient

CIRCUITS = Path(__file__).resolve().parents[1] / "circuits"
BACKENDS = ["native", pytest.param("ngspice", marks=pytest.mark.ngspice)]


def cosine(a, b) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def divider(g1: float = 2e-3, g2: float = 5e-4) -> Circuit:
    """V1 -> R1 (g1) -> o -> R2 (g2) -> ground; output o; both conductances trainable."""
    elements = [Element("V1", "V", ("a", "0"), 0.0), Element("R1", "R", ("a", "o"), g1),
                Element("R2", "R", ("o", "0"), g2)]
    return Circuit("divider", "graph", elements, {}, [InputPort("v1", "a", (("V1", 1.0),))],
                   [OutputPort("y", "o")], ["R1", "R2"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_divider_rule_equals_its_closed_form_at_every_eta(backend):
    g1, g2, v, y = 2e-3, 5e-4, 1.5, 0.7
    free_out = g1 * v / (g1 + g2)                               # 1.2 V
    e = y - free_out
    circuit = divider(g1, g2)
    with make_backend(backend, circuit) as free, \
            make_backend(backend, clamped_circuit(circuit)) as held:
        for eta in (1.0, 0.3, 1e-2, 1e-4):
            d, phases = coupled_gradient(free, held, [[v]], [[y]], eta)
            expected = [-(v - free_out) * e + eta * e * e / 2,  # R1: drop V - V_C
                        free_out * e + eta * e * e / 2]         # R2: drop V_C
            np.testing.assert_allclose(d, expected, rtol=1e-9, atol=1e-15)
            np.testing.assert_allclose(phases.clamped.outputs, [[free_out + eta * e]],
                                       rtol=1e-12)


def test_divider_limit_is_the_gradient_times_the_output_conductance():
    g1, g2, v, y = 2e-3, 5e-4, 1.5, 0.7
    free_out = g1 * v / (g1 + g2)
    dvo = np.array([g2 * v / (g1 + g2) ** 2, -g1 * v / (g1 + g2) ** 2])   # dV_O/dg (V/S)
    loss, limit = coupled_limit(divider(g1, g2), [[v]], [[y]])
    _, grad = exact_gradient(divider(g1, g2), [[v]], [[y]])
    np.testing.assert_allclose(grad, dvo * (free_out - y), rtol=1e-10)
    np.testing.assert_allclose(limit, dvo * (g1 + g2) * (free_out - y), rtol=1e-10)
    assert loss == pytest.approx(0.5 * (free_out - y) ** 2, rel=1e-12)


@pytest.mark.parametrize("name, x, y", [
    ("iris", [[0.5, -1.0, 1.2, 0.3], [1.0, 0.2, -0.4, 0.8]], [[1, 0, 0], [0, 0, 1]]),
    ("xor", [[1.0, 0.0], [1.0, 1.0]], [[0.9], [0.1]]),
])
def test_reference_limit_equals_finite_difference_of_reference_clamped_states(name, x, y):
    circuit = eqprop_hw.load(CIRCUITS / f"{name}.yaml").circuit
    x, y = np.asarray(x, float), np.asarray(y, float)
    _, limit = coupled_limit(circuit, x, y)
    free = EnergyModel(circuit).solve(x).voltages
    held = EnergyModel(clamped_circuit(circuit))
    model = EnergyModel(circuit)
    out = free[:, model.output_columns]
    incidence = model.resistor_incidence[model.trainable_resistors]

    def local_terms(eta):
        clamp = clamp_voltages(out, y, eta)
        v = held.solve(np.hstack([x, clamp])).voltages
        return 0.5 * np.asarray(incidence @ v.T).T ** 2

    h = 1e-4
    fd = ((local_terms(h) - local_terms(-h)) / (2 * h)).mean(axis=0)
    np.testing.assert_allclose(limit, fd, rtol=1e-6, atol=1e-9 * np.abs(limit).max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_measured_rule_converges_linearly_to_the_limit(backend):
    circuit = eqprop_hw.load(CIRCUITS / "iris.yaml").circuit
    x, y = [[0.5, -1.0, 1.2, 0.3]], [[1.0, 0.0, 0.0]]
    _, limit = coupled_limit(circuit, x, y)
    errors = {}
    with make_backend(backend, circuit) as free, \
            make_backend(backend, clamped_circuit(circuit)) as held:
        for eta in (1e-2, 1e-3):
            d, _ = coupled_gradient(free, held, x, y, eta)
            errors[eta] = np.linalg.norm(d - limit) / np.linalg.norm(limit)
    assert errors[1e-3] < 1e-3
    assert errors[1e-2] / errors[1e-3] == pytest.approx(10.0, rel=0.05)     # bias O(eta)
    assert cosine(d, limit) > 0.999999


@pytest.mark.ngspice
def test_ngspice_clamped_phase_equals_native():
    circuit = clamped_circuit(eqprop_hw.load(CIRCUITS / "iris.yaml").circuit)
    x = [[0.5, -1.0, 1.2, 0.3, 0.9, 0.1, -0.2]]
    with make_backend("native", circuit) as native, make_backend("ngspice", circuit) as spice:
        a, b = native.solve(x), spice.solve(x)
    assert a.node_names == b.node_names
    np.testing.assert_allclose(a.voltages, b.voltages, atol=1e-6)
    np.testing.assert_allclose(a.outputs, [[0.9, 0.1, -0.2]], atol=1e-12)


def test_clamp_names_avoid_existing_elements():
    circuit = divider()
    taken = Circuit("d", "graph", list(circuit.elements) + [
        Element("VCLAMP0", "R", ("o", "0"), 1e-3)], {}, circuit.inputs, circuit.outputs,
        circuit.trainable)
    assert [e.name for e in clamped_circuit(taken).elements][-1] == "VCLAMP0_1"


def test_refusals_name_the_reason():
    circuit = divider()
    pinned = Circuit("p", "graph", list(circuit.elements), {}, circuit.inputs,
                     [OutputPort("y", "a")], circuit.trainable)
    with pytest.raises(CircuitError, match="output y .node a. is already set by a voltage"):
        clamped_circuit(pinned)
    for eta in (0.0, -0.1, 1.5, float("nan"), True, "0.1"):
        with pytest.raises(CircuitError, match="eta must"):
            coupled_rule([[1.0]], [[1.0]], eta)


@pytest.mark.parametrize("module", ["eqprop_hw.learning.coupled",
                                    "eqprop_hw.learning.coupled_reference"])
def test_docstring_examples_run(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module),
                             extraglobs={"CIRCUITS": CIRCUITS, "np": np})
    assert result.failed == 0 and result.attempted > 0


def coupled_spec(tmp_path, rule_line: str, epochs: int = 1) -> Path:
    text = (CIRCUITS / "xor.yaml").read_text().replace(
        "training: {epochs: 300, batch_size: 4, learning_rate: 0.03, beta: 2.0e-6, "
        "nudge: centered}",
        f"training: {{epochs: {epochs}, batch_size: 4, learning_rate: 0.03, beta: 2.0e-6, "
        f"nudge: centered{rule_line}}}")
    path = tmp_path / "xor_coupled.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_training_step_is_the_reference_clamped_update(tmp_path, backend):
    """The trainer's step equals g - lr g_max d, with d from the reference's own free and
    clamped equilibria (no backend) and the same rule at eta = 0.2."""
    net = eqprop_hw.load(coupled_spec(tmp_path, ", rule: coupled, eta: 0.2"))
    from eqprop_hw.io.data import load_dataset
    circuit = net.circuit
    data = load_dataset(net.spec, circuit)
    start = np.clip(np.array(circuit.trainable_values()), 1e-8, 1e-3)
    run = net.train(out=tmp_path / backend, epochs=1, backend=backend, plots=False)
    x, y = data.x_train, data.targets(data.y_train)
    model = EnergyModel(circuit)
    free = model.solve(x).voltages
    held = EnergyModel(clamped_circuit(circuit)).solve(
        np.hstack([x, clamp_voltages(free[:, model.output_columns], y, 0.2)])).voltages
    incidence = model.resistor_incidence[model.trainable_resistors]
    d = coupled_rule(np.asarray(incidence @ free.T).T, np.asarray(incidence @ held.T).T,
                     0.2).mean(axis=0)
    expected = np.clip(start - 0.03 * 1e-3 * d, 1e-8, 1e-3)
    got = np.array([run.params[name] for name in circuit.trainable])
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-14)
    assert run.metrics["rule"] == "coupled" and run.metrics["eta"] == 0.2


@pytest.mark.ngspice
def test_ngspice_coupled_training_isolates_both_phases(tmp_path, monkeypatch):
    """With ngspice, the clamped phase's backend runs in an isolated child like the free one
    (restarted if ngspice dies), and --no-isolate turns both off."""
    import eqprop_hw.learning.train as train_module
    made = []
    real = train_module.make_backend

    def recording(name, circuit, **kwargs):
        made.append((len(circuit.inputs), kwargs.get("isolated", False)))
        return real(name, circuit, **kwargs)

    monkeypatch.setattr(train_module, "make_backend", recording)
    net = eqprop_hw.load(coupled_spec(tmp_path, ", rule: coupled, eta: 0.2"))
    net.train(out=tmp_path / "iso", epochs=1, backend="ngspice", plots=False)
    assert made[0][1] and made[1][1] and made[1][0] == made[0][0] + 1   # + the clamp's input
    made.clear()
    net.train(out=tmp_path / "plain", epochs=1, backend="ngspice", plots=False, isolate=False)
    assert [isolated for _, isolated in made] == [False, False] and len(made) == 2


def test_coupled_training_learns_xor(tmp_path):
    spec = coupled_spec(tmp_path, ", rule: coupled, eta: 0.5", epochs=60)
    whole = eqprop_hw.load(spec).train(out=tmp_path / "whole", plots=False)
    assert whole.metrics["train_loss"][-1] < 0.2 * whole.metrics["train_loss"][0]
    ep_run = eqprop_hw.load(CIRCUITS / "xor.yaml").train(out=tmp_path / "ep", epochs=2,
                                                          plots=False)
    assert "rule" not in ep_run.metrics                    # EP runs record what they did before


def test_stopped_coupled_run_resumes_exactly_and_refuses_the_other_rule(tmp_path, monkeypatch):
    import json
    import os
    import signal

    from eqprop_hw.errors import ParamsError, TrainingInterrupted
    from eqprop_hw.learning import coupled
    spec = coupled_spec(tmp_path, ", rule: coupled, eta: 0.3", epochs=6)
    net = eqprop_hw.load(spec)
    clean = net.train(out=tmp_path / "clean", plots=False)
    original, calls = coupled.coupled_gradient, []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(coupled, "coupled_gradient", stopping)
    with pytest.raises(TrainingInterrupted):
        net.train(out=tmp_path / "stopped", plots=False)
    monkeypatch.undo()
    with pytest.raises(ParamsError, match="written with rule 'coupled', not 'ep'"):
        eqprop_hw.load(coupled_spec(tmp_path, "", epochs=6)).train(
            out=tmp_path / "stopped", resume=True, plots=False)
    resumed = net.train(out=tmp_path / "stopped", resume=True, plots=False)
    assert resumed.params == clean.params
    assert resumed.metrics["train_loss"] == clean.metrics["train_loss"]
    written = json.loads((tmp_path / "stopped" / "metrics.json").read_text())
    assert (written["rule"], written["eta"]) == ("coupled", 0.3)


def test_rule_fields_are_validated_with_their_names(tmp_path):
    from eqprop_hw.errors import SpecError
    for line, message in ((", rule: hebbian", "training.rule must be one of ep, coupled"),
                          (", eta: 1.5", r"training.eta .* must be in \(0, 1\]"),
                          (", eta: -0.1", "training.eta"), (", eta: x", "training.eta")):
        with pytest.raises(SpecError, match=message):
            eqprop_hw.load(coupled_spec(tmp_path, line))


@pytest.mark.parametrize("backend", BACKENDS)
def test_grad_rule_coupled_prints_the_api_numbers(backend, capsys):
    import json

    from eqprop_hw.cli import main
    argv = ["grad", str(CIRCUITS / "iris.yaml"), "--input", "0.5,-1,1.2,0.3", "--target",
            "1,0,0", "--rule", "coupled", "--eta", "0.001", "--backend", backend]
    assert main(argv + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    _, limit = coupled_limit(eqprop_hw.load(CIRCUITS / "iris.yaml").circuit,
                             [[0.5, -1, 1.2, 0.3]], [[1, 0, 0]])
    estimate = np.array(list(data["estimate"].values()))
    assert data["rule"] == "coupled" and data["eta"] == 0.001
    np.testing.assert_allclose(list(data["limit"].values()), limit, rtol=1e-12)
    assert data["rel_error"] == pytest.approx(np.linalg.norm(estimate - limit)
                                              / np.linalg.norm(limit), rel=1e-9)
    assert 1e-4 < data["rel_error"] < 1e-3          # the O(eta) bias: 4.4e-4 measured
    assert main(argv) == 0
    assert "coupled (eta=0.001" in capsys.readouterr().out
