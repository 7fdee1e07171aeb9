"""Finite temperature in ngspice: TRNOISE calibration and estimators against the closed form."""

import numpy as np
import pytest

from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.learning.reference import EnergyModel
from eqprop_hw.circuit.spec import parse_spec
from eqprop_hw.thermal import gibbs as th

pytest.importorskip("PySpice")
from eqprop_hw.backends import make_backend  # noqa: E402
from eqprop_hw.thermal.ngspice import (NgspiceSampler, interpolation_factor,  # noqa: E402
                                       predicted_covariance, variance_factor)

from test_thermal import T_LINEAR, X, Y, linear_model, typical_g  # noqa: E402


@pytest.fixture(scope="module")
def linear_backend():
    model = linear_model()
    backend = make_backend("ngspice", model.circuit)
    yield model, backend
    backend.close()


def test_single_node_variance_is_T_over_g():
    g, temperature, capacitance = 1e-4, 1e-6, 1e-9
    spec = {"name": "one", "kind": "graph",
            "elements": [{"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
                         {"name": "R1", "nodes": ["a", "0"], "g": g},
                         {"name": "R2", "nodes": ["in", "a"], "g": 1e-12}],
            "inputs": ["VIN"], "outputs": ["a"], "trainable": ["R1"]}
    circuit = build_circuit(parse_spec(spec))
    with make_backend("ngspice", circuit) as backend:
        sampler = NgspiceSampler(backend, temperature, capacitance=capacitance)
        phase = sampler.sample([[0.0]], 0.0, [[0.0]], 2048, seed=0)
    v2 = 2.0 * phase.dedg[0, :, :, 0]                      # dE/dg = V^2 / 2
    value, stderr = th.jackknife(lambda m: v2[m].mean(), phase.blocks)
    expected = temperature / (g + 1e-12)
    # the interpolation of the noise samples lowers the variance by kappa (~1.2 % here)
    kappa = interpolation_factor(g / capacitance * phase.info["noise_step"])
    assert 0.985 < kappa < 0.99
    assert abs(value - expected) <= 4 * stderr, (value, expected, stderr)
    assert stderr < 0.05 * expected
    assert phase.effective_samples > 1000


def one_node_circuit(g):
    spec = {"name": "one", "kind": "graph",
            "elements": [{"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
                         {"name": "R1", "nodes": ["a", "0"], "g": g},
                         {"name": "R2", "nodes": ["in", "a"], "g": 1e-12}],
            "inputs": ["VIN"], "outputs": ["a"], "trainable": ["R1"]}
    return build_circuit(parse_spec(spec))


@pytest.mark.parametrize("noise", ["trrandom", "trnoise"])
def test_variance_factor_predicts_coarse_noise_steps(noise):
    """With a noise step as long as the node's time constant (a = g NT / C = 1) the variance
    at the knots is 0.924 T/g for held values and 0.640 T/g for interpolated ones: the
    prediction, not T/g, is what ngspice gives."""
    g, temperature, capacitance = 1e-4, 1e-6, 1e-9
    with make_backend("ngspice", one_node_circuit(g)) as backend:
        sampler = NgspiceSampler(backend, temperature, capacitance=capacitance,
                                 step_fraction=1.0, noise=noise)
        phase = sampler.sample([[0.0]], 0.0, [[0.0]], 8192, seed=1)
    v2 = 2.0 * phase.dedg[0, :, :, 0] / (temperature / g)
    value, stderr = th.jackknife(lambda m: v2[m].mean(), phase.blocks)
    a = g / capacitance * phase.info["noise_step"]
    assert a == pytest.approx(1.0, rel=1e-6)
    expected = float(variance_factor(a, noise))
    assert expected == pytest.approx({"trrandom": 0.9242, "trnoise": 0.6400}[noise], abs=1e-4)
    assert abs(value - expected) <= 4 * stderr, (value, expected, stderr)
    assert abs(value - 1.0) > 4 * stderr          # the factor is really there
    # one node: the covariance formula is the factor times T/g
    np.testing.assert_allclose(predicted_covariance([[g]], [capacitance], phase.info[
        "noise_step"], temperature, noise), [[expected * temperature / g]], rtol=1e-12)


def test_predicted_covariance_limits(linear_backend):
    model, _ = linear_backend
    beta = 10 * typical_g(model)
    exact = th.gaussian_moments(model, T_LINEAR, X[:1], beta, Y[:1])
    hess = model.hessian(exact.mean, X[:1], beta, Y[:1])[0]
    c = 1e-6 * np.diagonal(hess)
    for noise in ("trrandom", "trnoise"):
        np.testing.assert_allclose(predicted_covariance(hess, c, 1e-15, T_LINEAR, noise),
                                   exact.covariance[0], rtol=1e-6)
    # at the default step (1/40 of the fastest node) the held noise is exact to ~1e-4, the
    # interpolated one ~1 % low on the nudged (fast) outputs
    step = np.min(c / np.diagonal(hess)) / 40
    held = np.diagonal(predicted_covariance(hess, c, step, T_LINEAR, "trrandom"))
    ramp = np.diagonal(predicted_covariance(hess, c, step, T_LINEAR, "trnoise"))
    ratio_held, ratio_ramp = held / np.diagonal(exact.covariance[0]), \
        ramp / np.diagonal(exact.covariance[0])
    assert np.all(np.abs(ratio_held - 1) < 2e-4)
    assert np.all((ratio_ramp > 0.98) & (ratio_ramp < 0.9995))


def test_trrandom_same_seed_same_samples(linear_backend):
    model, backend = linear_backend
    sampler = NgspiceSampler(backend, T_LINEAR)
    beta = typical_g(model)
    a = sampler.sample(X[:1], beta, Y[:1], 64, seed=5)
    b = sampler.sample(X[:1], beta, Y[:1], 64, seed=5)
    c = sampler.sample(X[:1], beta, Y[:1], 64, seed=6)
    np.testing.assert_array_equal(a.free, b.free)
    assert a.free.shape != c.free.shape or not np.allclose(a.free, c.free)


@pytest.mark.parametrize("scale,estimator,samples", [(1.0, "chl", 384),
                                                     (10.0, "covariance", 768)])
def test_ngspice_estimators_match_closed_form(linear_backend, scale, estimator, samples):
    model, backend = linear_backend
    beta = scale * typical_g(model)
    sampler = NgspiceSampler(backend, T_LINEAR)
    est = th.thermal_gradient(sampler, X[:1], Y[:1], beta, estimator, samples=samples, seed=1)
    exact = th.exact_thermal_gradient(model, T_LINEAR, X[:1], Y[:1], beta, estimator)
    z = (est.gradient - exact) / est.stderr
    assert np.all(np.abs(z) <= 4.0), np.abs(z).max()
    assert np.median(est.stderr / np.abs(exact)) < 0.4
    # the backend still solves its own (noise-free) circuit afterwards
    np.testing.assert_allclose(backend.solve(X).outputs, model.solve(X).outputs, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("estimator", th.ESTIMATORS)
def test_ngspice_estimators_match_closed_form_all(linear_backend, scale, estimator):
    model, backend = linear_backend
    beta = scale * typical_g(model)
    sampler = NgspiceSampler(backend, T_LINEAR)
    est = th.thermal_gradient(sampler, X[:1], Y[:1], beta, estimator, samples=512, seed=2,
                              nodes=4)
    exact = th.exact_thermal_gradient(model, T_LINEAR, X[:1], Y[:1], beta, estimator)
    assert np.all(np.abs((est.gradient - exact) / est.stderr) <= 4.0)
