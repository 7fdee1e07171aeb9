"""The local rule and measurements: formulas, and EP from either backend vs the exact gradient."""

from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.learning.ep import ep_gradient, local_rule, make_probe, measure_drops, phases_for
from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.reference import exact_gradient, gradient_agreement
from eqprop_hw.circuit.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]


def test_local_rule_formulas():
    drops = {"free": np.array([[1.0, -2.0]]), "positive": np.array([[1.1, -2.2]]),
             "negative": np.array([[0.9, -1.8]])}
    beta = 0.05
    np.testing.assert_allclose(local_rule(drops, beta, "positive"),
                               [[(1.21 - 1.0) / 0.1, (4.84 - 4.0) / 0.1]])
    np.testing.assert_allclose(local_rule(drops, beta, "negative"),
                               [[(0.81 - 1.0) / -0.1, (3.24 - 4.0) / -0.1]])
    np.testing.assert_allclose(local_rule(drops, beta, "centered"),
                               [[(1.21 - 0.81) / 0.2, (4.84 - 3.24) / 0.2]])
    with pytest.raises(CircuitError, match="positive conductance"):
        local_rule(drops, -1.0, "centered")
    with pytest.raises(CircuitError, match="unknown nudging mode"):
        phases_for("sideways")


def test_measurements_are_terminal_voltage_differences_with_ground():
    c = build_circuit(parse_spec({"name": "t", "kind": "graph", "elements": [
        {"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
        {"name": "R1", "nodes": ["in", "mid"], "g": 1e-3},
        {"name": "R2", "nodes": ["mid", "0"], "g": 1e-3}], "inputs": ["VIN"], "outputs": ["mid"]}))
    backend = make_backend("native", c)
    probe = make_probe(c, backend.node_names)
    drops = measure_drops(backend.solve([[2.0]]).voltages, probe)
    np.testing.assert_allclose(drops, [[1.0, 1.0]])


def test_ep_on_a_linear_divider_matches_the_analytic_gradient():
    # out = g1 x / (g1 + g2); L = 1/2 (out - y)^2; dL/dg1 = (out - y) x g2 / (g1 + g2)^2.
    g1, g2, x, y = 1e-3, 3e-3, 2.0, 0.1
    c = build_circuit(parse_spec({"name": "t", "kind": "graph", "elements": [
        {"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
        {"name": "R1", "nodes": ["in", "out"], "g": g1},
        {"name": "R2", "nodes": ["out", "0"], "g": g2}], "inputs": ["VIN"], "outputs": ["out"]}))
    out = g1 * x / (g1 + g2)
    exact = [(out - y) * x * g2 / (g1 + g2) ** 2, -(out - y) * x * g1 / (g1 + g2) ** 2]
    estimate, _ = ep_gradient(make_backend("native", c), [[x]], [[y]], 1e-9, "centered")
    np.testing.assert_allclose(estimate, exact, rtol=1e-6)


@pytest.mark.ngspice
@pytest.mark.parametrize("example", ["xor", "iris", "digits"])
def test_ep_from_ngspice_measurements_matches_exact_gradient(example):
    spec = load_spec(ROOT / "circuits" / f"{example}.yaml")
    c = build_circuit(spec)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (2, len(c.inputs)))
    y = rng.uniform(0, 1, (2, len(c.outputs)))
    beta = 1e-3 * float(np.median(c.trainable_values()))
    _, exact = exact_gradient(c, x, y)
    with make_backend("ngspice", c) as backend:
        spice, _ = ep_gradient(backend, x, y, beta, "centered")
    native, _ = ep_gradient(make_backend("native", c), x, y, beta, "centered")
    agreement = gradient_agreement(spice, exact)
    assert agreement["cosine"] >= 0.999 and agreement["rel_error"] <= 1e-2
    assert np.linalg.norm(spice - native) / np.linalg.norm(native) <= 1e-6


@pytest.mark.parametrize("grid_fill", [4, 0])
@pytest.mark.parametrize("nudge", ["positive", "negative", "centered"])
def test_mean_local_rule_equals_the_mean_of_per_sample_rules(nudge, grid_fill, monkeypatch):
    """Every evaluation path: the crossbar's block of node moments (grid_fill 4), and with the
    block path off (grid_fill 0) per-sample drops (batch 2) and all node moments (batch 40)."""
    from eqprop_hw.learning import ep
    from eqprop_hw.learning.ep import mean_local_rule, run_phases
    monkeypatch.setattr(ep, "GRID_FILL", grid_fill)
    spec = parse_spec({"name": "t", "kind": "layered", "layers": [5, 7, 3],
                       "inputs": {"gain": 20.0}, "activation": {"type": "rectify"},
                       "amplifiers": {"gain": 2.0}})
    c = build_circuit(spec)
    backend = make_backend("native", c)
    probe = make_probe(c, backend.node_names)
    rng = np.random.default_rng(3)
    rows, cols, _ = probe.terminal_grid
    assert rows.size * cols.size < 4 * probe.plus.size       # a crossbar fills its grid
    for batch in (2, 40):
        x, y = rng.uniform(0, 1, (batch, 5)), rng.uniform(0, 1, (batch, 3))
        phases = run_phases(backend, probe, x, y, 1e-7, nudge)
        per_sample = local_rule(phases.drops, 1e-7, nudge).mean(axis=0)
        fast = mean_local_rule(phases.voltages, probe, 1e-7, nudge)
        scale = np.abs(per_sample).max()
        np.testing.assert_allclose(fast, per_sample, rtol=0, atol=1e-9 * scale)
