"""Finite temperature (eqprop_hw.thermal.gibbs): closed forms, samplers and the three estimators.

Every sampled estimate is compared with an independent exact value (the Gaussian closed form
for linear networks, grid quadrature for a diode network) through its z-score
``(estimate - exact) / stderr``; the closed forms are checked against finite differences of
the free energy and of the expected loss, and against the deterministic reference as T -> 0.
"""

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.reference import EnergyModel, exact_gradient
from eqprop_hw.circuit.spec import parse_spec
from eqprop_hw.thermal import gibbs as th

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import study_temperature  # noqa: E402

T_LINEAR = 1e-7          # W: node voltage spread sqrt(T/g) ~ 40 mV at g ~ 60 uS
T_DIODE = 2e-6           # W: ~ 40-60 mV at g ~ 1 mS, wider than the diode's knee


def linear_model():
    spec = {"name": "lin", "kind": "layered", "layers": [2, 3, 2],
            "activation": {"type": "none"},
            "conductance": {"init": {"low": 2e-5, "high": 1e-4}, "seed": 1}}
    return EnergyModel(build_circuit(parse_spec(spec)))


def diode_model():
    """The diode network the temperature study uses (tools/study_temperature.py)."""
    return EnergyModel(build_circuit(parse_spec(copy.deepcopy(study_temperature.DIODE_NETWORK))))


X = np.array([[0.5, -0.3], [0.1, 0.9]])
Y = np.array([[0.2, -0.1], [0.4, 0.3]])


def typical_g(model):
    return float(np.mean(model.circuit.trainable_values()))


def test_closed_form_matches_finite_differences_and_zero_temperature():
    model = linear_model()
    g = np.array(model.circuit.trainable_values())
    beta = typical_g(model)
    moments = th.gaussian_moments(model, T_LINEAR, X, beta, Y)
    # the mean is the equilibrium, the covariance T times the inverse Hessian
    np.testing.assert_allclose(moments.mean, model.solve(X, beta, Y).free, rtol=1e-10,
                               atol=1e-13)
    hess = model.hessian(moments.mean, X, beta, Y)
    np.testing.assert_allclose(moments.covariance, T_LINEAR * np.linalg.inv(hess), rtol=1e-10)
    for k in (0, 5, 13):
        h = 1e-6
        values = []
        for sign in (1.0, -1.0):
            shifted = g.copy()
            shifted[k] *= 1.0 + sign * h
            model.set_trainable(shifted)
            values.append(th.gaussian_moments(model, T_LINEAR, X, beta, Y))
        model.set_trainable(g)
        step = 2 * h * g[k]
        # dF/dg = <dE/dg>, d<L>/dg = -(1/T) Cov(L, dE/dg)
        np.testing.assert_allclose((values[0].free_energy - values[1].free_energy) / step,
                                   moments.dedg[:, k], rtol=1e-6)
        np.testing.assert_allclose((values[0].loss - values[1].loss) / step,
                                   moments.loss_gradient[:, k], rtol=1e-6)
    # T -> 0: d<L>_0/dg is the deterministic gradient (implicit differentiation)
    cold = th.gaussian_moments(model, 1e-16, X, 0.0, Y).loss_gradient.mean(axis=0)
    _, exact = exact_gradient(model, X, Y)
    np.testing.assert_allclose(cold, exact, rtol=1e-7, atol=1e-9 * np.abs(exact).max())


def test_quadrature_matches_gaussian_closed_form():
    spec = {"name": "two", "kind": "graph",
            "elements": [{"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
                         {"name": "R1", "nodes": ["in", "a"], "g": 1e-3},
                         {"name": "R2", "nodes": ["a", "b"], "g": 4e-4},
                         {"name": "R3", "nodes": ["b", "0"], "g": 6e-4},
                         {"name": "R4", "nodes": ["a", "0"], "g": 2e-4}],
            "inputs": ["VIN"], "outputs": ["b"], "trainable": ["R1", "R2", "R3", "R4"]}
    model = EnergyModel(build_circuit(parse_spec(spec)))
    x, y = [[1.0]], [[0.1]]
    for beta in (0.0, 5e-3):
        quad = th.quadrature_moments(model, T_DIODE, x, beta, y)
        gauss = th.gaussian_moments(model, T_DIODE, x, beta, y)
        np.testing.assert_allclose(quad.dedg, gauss.dedg, rtol=1e-9)
        np.testing.assert_allclose(quad.loss, gauss.loss, rtol=1e-9)
        np.testing.assert_allclose(quad.loss_gradient, gauss.loss_gradient, rtol=1e-7)


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("estimator", th.ESTIMATORS)
def test_estimators_match_closed_form_on_a_linear_network(scale, estimator):
    model = linear_model()
    beta = scale * typical_g(model)
    exact = th.exact_thermal_gradient(model, T_LINEAR, X, Y, beta, estimator)
    for sampler in (th.GaussianSampler(model, T_LINEAR),
                    th.LangevinSampler(model, T_LINEAR, chains=64)):
        est = th.thermal_gradient(sampler, X, Y, beta, estimator, samples=2048, seed=5)
        z = (est.gradient - exact) / est.stderr
        assert np.all(np.abs(z) <= 4.0), (sampler.name, np.abs(z).max())
        # the errors are small compared with the gradient itself (the test can fail)
        assert np.median(est.stderr / np.abs(exact)) < 0.3
        assert est.effective_samples > 500


def test_chl_and_path_agree_on_a_diode_network():
    model = diode_model()
    x, y = np.array([[0.8], [0.4]]), np.array([[0.1], [0.5]])
    beta = 1e-3
    exact = th.exact_thermal_gradient(model, T_DIODE, x, y, beta, "chl")
    sampler = th.LangevinSampler(model, T_DIODE, chains=64)
    chl = th.thermal_gradient(sampler, x, y, beta, "chl", samples=2048, seed=3)
    path = th.thermal_gradient(sampler, x, y, beta, "path", samples=2048, seed=4)
    z_between = (chl.gradient - path.gradient) / np.hypot(chl.stderr, path.stderr)
    assert np.all(np.abs(z_between) <= 4.0)
    for est in (chl, path):
        assert np.all(np.abs((est.gradient - exact) / est.stderr) <= 4.0)
    assert np.max(chl.stderr) < 0.02 * np.abs(exact).max()
    # the diode matters: the finite-T gradient is not the T = 0 EP value of the same beta
    from eqprop_hw.learning.reference import software_ep
    cold = software_ep(model, x, y, beta, nudge="positive")
    assert np.max(np.abs(cold - exact) / chl.stderr) > 4.0


def test_single_node_variance_is_T_over_g():
    spec = {"name": "one", "kind": "graph",
            "elements": [{"name": "R1", "nodes": ["a", "0"], "g": 2e-4},
                         {"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
                         {"name": "R2", "nodes": ["in", "a"], "g": 1e-12}],
            "inputs": ["VIN"], "outputs": ["a"], "trainable": ["R1"]}
    model = EnergyModel(build_circuit(parse_spec(spec)))
    temperature = 1e-6
    sampler = th.LangevinSampler(model, temperature, capacitance=1e-9, chains=64)
    phase = sampler.sample([[0.0]], 0.0, [[0.0]], 4096, seed=0)
    # dE/dg = V^2 / 2 for the resistor to ground: <V^2> = 2 <dE/dg>
    v2 = 2.0 * phase.dedg[0, :, :, 0]
    value, stderr = th.jackknife(lambda m: v2[m].mean(), phase.blocks)
    expected = temperature / (2e-4 + 1e-12)
    assert abs(value - expected) <= 4 * stderr and stderr < 0.05 * expected


def test_autocorrelation_time_of_an_ar1_process():
    rng = np.random.default_rng(0)
    rho, chains, steps = 0.8, 32, 4000
    x = np.zeros((chains, steps))
    noise = rng.standard_normal((chains, steps))
    for t in range(1, steps):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    tau = th.integrated_autocorrelation_time(x)
    assert abs(tau - (1 + rho) / (1 - rho)) < 0.5       # exact: 9


def test_same_seed_same_numbers():
    model = diode_model()
    sampler = th.LangevinSampler(model, T_DIODE, chains=8)
    a = th.thermal_gradient(sampler, [[1.0]], [[0.2]], 1e-3, "chl", samples=64, seed=9)
    b = th.thermal_gradient(sampler, [[1.0]], [[0.2]], 1e-3, "chl", samples=64, seed=9)
    assert np.array_equal(a.gradient, b.gradient) and np.array_equal(a.stderr, b.stderr)


def test_bad_input_gives_clear_errors():
    model = linear_model()
    sampler = th.GaussianSampler(model, T_LINEAR)
    with pytest.raises(CircuitError, match="unknown estimator"):
        th.thermal_gradient(sampler, X, Y, 1e-4, "hebbian", samples=256)
    with pytest.raises(CircuitError, match="beta must be"):
        th.thermal_gradient(sampler, X, Y, 0.0, "chl", samples=256)
    with pytest.raises(CircuitError, match="temperature must be"):
        th.GaussianSampler(model, -1.0)
    with pytest.raises(CircuitError, match="at least 64"):
        th.thermal_gradient(sampler, X, Y, 1e-4, "chl", samples=10)
    with pytest.raises(CircuitError, match="linear network"):
        th.GaussianSampler(diode_model(), T_DIODE)
    with pytest.raises(CircuitError, match="not a free node"):
        th.LangevinSampler(model, T_LINEAR, capacitance={"nope": 1e-9})


# -- command line and training -------------------------------------------------------------------
LINEAR_SPEC = """name: lin
kind: layered
layers: [2, 3, 2]
activation: {type: none}
conductance: {min: 1.0e-7, max: 1.0e-3, init: {low: 2.0e-5, high: 1.0e-4}, seed: 1}
"""


def run_cli(args, capsys):
    import json
    from eqprop_hw.cli import main
    code = main(args)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else captured.err)


def test_cli_grad_at_finite_temperature(tmp_path, capsys):
    spec = tmp_path / "lin.yaml"
    spec.write_text(LINEAR_SPEC)
    code, data = run_cli(["grad", str(spec), "--input", "0.5,-0.3", "--target", "0.2,-0.1",
                          "--beta", "6e-4", "--temperature", "1e-7", "--samples", "2048",
                          "--estimator", "path", "--json"], capsys)
    assert code == 0
    names = list(data["exact"])
    ep, exact, se = (np.array([data[k][n] for n in names]) for k in ("ep", "exact", "stderr"))
    assert np.all(np.abs(ep - exact) <= 4 * se) and data["effective_samples"] == 2048
    assert data["estimator"] == "path" and data["reference_method"] == "gaussian closed form"
    # the exact value is independent of the sampler: the closed form of the reference model
    model = EnergyModel(build_circuit(parse_spec(__import__("yaml").safe_load(LINEAR_SPEC))))
    np.testing.assert_allclose(exact, th.exact_thermal_gradient(
        model, 1e-7, [[0.5, -0.3]], [[0.2, -0.1]], 6e-4, "chl"), rtol=1e-12)
    code, err = run_cli(["grad", str(spec), "--input", "0.5,-0.3", "--target", "0.2,-0.1",
                         "--samples", "64"], capsys)
    assert code != 0 and "need a Gibbs temperature" in err and err.count("\n") == 1


def test_training_at_finite_temperature_learns_and_is_deterministic(tmp_path):
    import json
    from eqprop_hw.learning.train import train
    text = LINEAR_SPEC.replace("layers: [2, 3, 2]", "layers: [4, 6, 2]") + (
        "dataset: {name: teacher, samples: 120, seed: 1}\n"
        "temperature: 1.0e-8\n"
        "training: {epochs: 3, batch_size: 16, learning_rate: 0.05, beta: 1.0e-3, "
        "estimator: chl, samples: 64}\n")
    spec_path = tmp_path / "ts.yaml"
    spec_path.write_text(text)
    from eqprop_hw.circuit.spec import load_spec
    runs = []
    for name in ("a", "b"):
        train(load_spec(spec_path), tmp_path / name, progress=False, plots=False)
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert runs[0]["train_loss"] == runs[1]["train_loss"]
    assert runs[0]["train_loss"][-1] < 0.7 * runs[0]["train_loss"][0]


def test_regroup_keeps_time_order():
    rng = np.random.default_rng(1)
    a = th.PhaseSamples(0.0, rng.random((2, 8, 5, 3)), rng.random((2, 8, 5)))
    b = th.PhaseSamples(1.0, rng.random((2, 6, 7, 3)), rng.random((2, 6, 7)))
    a2, b2 = th._regroup([a, b])
    assert a2.blocks == b2.blocks == 6 and b2 is b
    # 40 samples in time order -> 6 blocks of 6 (the last 4 dropped)
    np.testing.assert_array_equal(a2.loss.reshape(2, -1), a.loss.reshape(2, -1)[:, :36])
    np.testing.assert_array_equal(a2.dedg.reshape(2, -1, 3), a.dedg.reshape(2, -1, 3)[:, :36])
