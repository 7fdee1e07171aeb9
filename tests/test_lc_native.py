"""LC networks on the native integrator: BPTT vs finite differences, HEL vs BPTT, reversibility
(with negative controls that must fail), beta orders, GLEP variants, and the lc spec schema."""

import numpy as np
import pytest

from eqprop_hw.errors import SpecError
from eqprop_hw.lc.bptt import agreement, bptt_gradient, fd_gradient
from eqprop_hw.lc.echo import glep_gradient, hel_gradient, reversibility_error
from eqprop_hw.lc.examples import random_lc_data, random_lc_model
from eqprop_hw.lc.integrate import integrate
from eqprop_hw.lc.model import build_model
from eqprop_hw.circuit.spec import load_spec, parse_spec


@pytest.fixture(scope="module")
def nonlinear():
    model = random_lc_model(n_nodes=4, seed=1, nonlinear=True, train_inductors=True)
    y = model.target_waveforms()
    loss, grad, run = bptt_gradient(model, targets=y)
    return model, y, loss, grad, run


@pytest.fixture(scope="module")
def linear():
    model = random_lc_model(n_nodes=4, seed=1, nonlinear=False, train_inductors=True)
    y = model.target_waveforms()
    loss, grad, _ = bptt_gradient(model, targets=y)
    return model, y, loss, grad


def test_single_lc_matches_analytic_oscillation():
    """One node, C to ground, L to ground, started with charge: V(t) = V0 cos(w t) up to the
    leapfrog's O((w h)^2) phase error."""
    data = {"name": "one", "kind": "lc", "elements": [
        {"name": "C1", "nodes": ["a", "0"], "c": 1e-9},
        {"name": "L1", "nodes": ["a", "0"], "l": 1e-6}],
        "outputs": ["a"], "trainable": ["C1"], "time": {"tstop": 1e-6, "tstep": 1e-10}}
    model = build_model(parse_spec(data))
    run = integrate(model, p0=[[1e-9]], inputs=np.zeros((model.steps + 1, 0)))
    w = 1 / np.sqrt(1e-9 * 1e-6)
    t = model.times
    assert np.max(np.abs(run.voltages[:, 0, 0] - np.cos(w * t))) < 2e-4
    assert np.max(np.abs(run.phi[:, 0, 0] - np.sin(w * t) / w)) < 2e-4 / w


def test_bptt_matches_finite_differences(nonlinear):
    model, y, loss, grad, _ = nonlinear
    fd = fd_gradient(model, targets=y)
    assert agreement(grad, fd)["rel_error"] < 1e-7
    assert loss == pytest.approx(integrate(model, loss_targets=y, store=False).loss.sum(),
                                 rel=1e-12)


def test_echo_retraces_forward_run_to_round_off(nonlinear):
    model = nonlinear[0]
    error = reversibility_error(model)
    assert error["flux"] < 1e-13 and error["voltage"] < 1e-13 and error["initial"] < 1e-13


@pytest.mark.parametrize("control", ["backward_euler", "resistor"])
def test_reversibility_negative_controls_fail(control):
    if control == "resistor":
        model = random_lc_model(n_nodes=4, seed=1, nonlinear=True, conductance=1e-4)
        error = reversibility_error(model)
    else:
        model = random_lc_model(n_nodes=4, seed=1, nonlinear=True)
        error = reversibility_error(model, method="backward_euler")
    assert error["flux"] > 1e-2


def test_hel_centered_and_one_sided_match_bptt_with_their_orders(nonlinear):
    model, y, _, grad, _ = nonlinear
    errors = {}
    for nudge in ("centered", "positive", "negative"):
        for beta in (1e3, 1e4):
            estimate = hel_gradient(model, targets=y, beta=beta, nudge=nudge)[1]
            errors[nudge, beta] = agreement(estimate, grad)["rel_error"]
    assert errors["centered", 1e3] < 1e-5
    assert agreement(hel_gradient(model, targets=y, beta=1e3)[1], grad)["cosine"] > 1 - 1e-9
    # centered: O(beta^2) (ratio 100 for 10x beta); one-sided: O(beta) (ratio 10)
    assert 70 < errors["centered", 1e4] / errors["centered", 1e3] < 130
    for nudge in ("positive", "negative"):
        assert 7 < errors[nudge, 1e4] / errors[nudge, 1e3] < 13
        assert errors[nudge, 1e3] > 10 * errors["centered", 1e3]


def test_hel_with_recorded_nudge_is_exact_on_linear_network_at_any_beta(linear):
    """With a state-independent nudge current the echo is affine in beta: the centered estimate
    equals BPTT of the same discrete integrator at any beta (a sign, ordering or half-step bug
    would break this)."""
    model, y, _, grad = linear
    for beta in (1e2, 1e6):
        estimate = hel_gradient(model, targets=y, beta=beta, nudge_source="recorded")[1]
        assert agreement(estimate, grad)["rel_error"] < 1e-10


def test_physical_nudge_is_not_exact_on_linear_network(linear):
    """The hardware nudge -beta (out_echo - y) adds a stiffness beta: even a linear network has
    an O(beta^2) centered error (THEORY.md's check (a) holds for a state-independent nudge)."""
    model, y, _, grad = linear
    small = agreement(hel_gradient(model, targets=y, beta=1e3)[1], grad)["rel_error"]
    large = agreement(hel_gradient(model, targets=y, beta=1e4)[1], grad)["rel_error"]
    assert 1e-8 < small < 1e-4 and 70 < large / small < 130


@pytest.mark.parametrize("boundary,tolerance", [("echo", 1e-5), ("final_value", 1e-5),
                                                ("initial_value", 1e-4), ("two_point", 1e-3)])
def test_glep_variants_match_bptt(nonlinear, boundary, tolerance):
    model, y, _, grad, _ = nonlinear
    estimate = glep_gradient(model, targets=y, beta=1e3, boundary=boundary)
    assert agreement(estimate, grad)["rel_error"] < tolerance


def test_initial_value_without_boundary_term_is_wrong(nonlinear):
    """The CIVP estimate needs its boundary term (the end-state Jacobian): without it the
    contrast of the two forward runs is not the gradient."""
    from eqprop_hw.lc.echo import estimate_from_local
    model, y, _, grad, _ = nonlinear
    run = integrate(model, inputs=np.repeat(model.input_waveforms()[:, None], 2, axis=1),
                    beta=[1e3, -1e3], targets=np.repeat(y[:, None], 2, axis=1), store=False)
    naive = estimate_from_local({1e3: run.local[0], -1e3: run.local[1]}, 1e3, "centered")
    assert agreement(naive, grad)["rel_error"] > 0.1


def test_batch_gradient_is_sum_of_samples(nonlinear):
    model, y, _, _, _ = nonlinear
    rng = np.random.default_rng(0)
    u = model.input_waveforms()
    inputs = np.stack([u, 0.5 * u[::-1]], axis=1)
    targets = np.stack([y, y * rng.uniform(0.5, 1.5)], axis=1)
    total = hel_gradient(model, inputs=inputs, targets=targets, beta=1e3)[1]
    parts = [hel_gradient(model, inputs=inputs[:, k], targets=targets[:, k], beta=1e3)[1]
             for k in range(2)]
    # equal up to the round-off of the contrast G_+beta - G_-beta (cancellation)
    assert np.allclose(total, parts[0] + parts[1], rtol=0, atol=1e-8 * np.linalg.norm(total))
    loss, grad, _ = bptt_gradient(model, inputs=inputs, targets=targets)
    assert agreement(total, grad)["rel_error"] < 1e-5


def test_current_output_gradient(nonlinear):
    model = random_lc_model(n_nodes=4, seed=2, nonlinear=True, output_kind="current")
    y = model.target_waveforms()
    _, grad, _ = bptt_gradient(model, targets=y)
    assert agreement(grad, fd_gradient(model, targets=y))["rel_error"] < 1e-7
    # nudge stiffness beta (dI/dphi)^2 = beta / L^2 must stay far below 1/L: beta << L
    assert agreement(hel_gradient(model, targets=y, beta=1e-9)[1], grad)["rel_error"] < 1e-4


# -- spec errors ---------------------------------------------------------------------------
def _write(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,line,fragment", [
    ("name: x\nkind: lc\nelements:\n  - {name: C1, nodes: [a, 0], c: -1e-9}\n"
     "outputs: [a]\ntime: {tstop: 1e-6, tstep: 1e-9}\n", 4, "C1"),
    ("name: x\nkind: lc\nelements:\n  - {name: C1, nodes: [a, 0], c: 1e-9}\n"
     "  - {name: D1, nodes: [a, 0]}\noutputs: [a]\ntime: {tstop: 1e-6, tstep: 1e-9}\n", 5, "D1"),
    ("name: x\nkind: lc\nelements:\n  - {name: C1, nodes: [a, 0], c: 1e-9}\n"
     "  - {name: L1, nodes: [a, b], l: 1e-6}\noutputs: [a]\ntime: {tstop: 1e-6, tstep: 1e-9}\n",
     5, "'b' has no capacitor to ground"),
    ("name: x\nkind: lc\nelements:\n  - {name: C1, nodes: [a, 0], c: 1e-9}\n"
     "outputs: [a]\ntrainable: [CX*]\ntime: {tstop: 1e-6, tstep: 1e-9}\n", 6, "CX*"),
    ("name: x\nkind: lc\nelements:\n  - {name: C1, nodes: [a, 0], c: 1e-9}\n"
     "outputs: [a]\ntrainable: [C1]\ntime: {tstop: 1e-6, tstep: 3e-9}\n", 7, "whole number"),
    ("name: x\nkind: lc\nelements:\n  - {name: C1, nodes: [a, 0], c: 1e-9}\n"
     "  - {name: I1, nodes: [0, a], waveform: {type: pwl, points: [[0, 0], [0, 1]]}}\n"
     "outputs: [a]\ntrainable: [C1]\ntime: {tstop: 1e-6, tstep: 1e-9}\n", 5, "increase"),
])
def test_bad_lc_specs_name_file_line_and_element(tmp_path, text, line, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}:{line}:")
    assert fragment in str(info.value)


def test_random_spec_round_trips_through_validation():
    data = random_lc_data(n_nodes=6, seed=3)
    spec = parse_spec(data)
    assert spec.kind == "lc"
    model = build_model(spec)
    assert model.n == 6 and model.trainable == [e["name"] for e in data["elements"]
                                                if e["name"].startswith("CC")]


def test_damping_sweep_echo_degrades_with_losses():
    """Lossy network (shunt g at every node): the echo (run as if lossless) stays close to the
    exact gradient (finite differences of the lossy integrator) at high Q and fails at Q ~ 3."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "tools" / "study_lc_damping.py"
    spec = importlib.util.spec_from_file_location("study_lc_damping", path)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    result = study.run_study(conductances=(1e-6, 1e-2))
    high_q, low_q = result["rows"]
    assert high_q["Q"] > 1e4 and high_q["rel_error"] < 1e-3
    assert low_q["Q"] < 5 and low_q["cosine"] < 0.9


def test_varactor_network_gradients_and_reversibility():
    """Varactors (q = c (V + V^3/(3 v_nl^2))) make V(p) nonlinear (Newton in each drift): BPTT
    still matches finite differences, HEL matches BPTT and the echo retraces to round-off."""
    model = random_lc_model(n_nodes=4, seed=1, nonlinear=True, varactors=True, v_nl=0.3,
                            train_inductors=True)
    y = model.target_waveforms()
    _, grad, run = bptt_gradient(model, targets=y)
    assert np.max(np.abs(run.voltages)) > 0.5 * 0.3        # well into the nonlinear range
    assert agreement(grad, fd_gradient(model, targets=y))["rel_error"] < 1e-7
    assert agreement(hel_gradient(model, targets=y, beta=1e3)[1], grad)["rel_error"] < 1e-5
    assert reversibility_error(model)["flux"] < 1e-13


def test_varactor_must_be_grounded_and_fixed(tmp_path):
    text = ("name: x\nkind: lc\nelements:\n  - {name: C1, nodes: [a, 0], c: 1e-9}\n"
            "  - {name: C2, nodes: [b, 0], c: 1e-9}\n"
            "  - {name: CC, nodes: [a, b], c: 1e-10, v_nl: 0.3}\n"
            "outputs: [a]\ntime: {tstop: 1e-6, tstep: 1e-9}\n")
    path = _write(tmp_path, text)
    with pytest.raises(SpecError, match=r"bad.yaml:6: .*must have one terminal on ground"):
        load_spec(path)
