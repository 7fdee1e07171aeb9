"""Finite temperature in ngspice: TRNOISE calibration and estimators against the closed form."""

import numpy as np
import pytest

from eqprop_hw.build import build_circuit
from eqprop_hw.reference import EnergyModel
from eqprop_hw.spec import parse_spec
from eqprop_hw import thermal as th

pytest.importorskip("PySpice")
from eqprop_hw.backends import make_backend  # noqa: E402
from eqprop_hw.thermal_ngspice import NgspiceSampler, interpolation_factor  # noqa: E402

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
