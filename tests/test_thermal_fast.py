"""The fast native samplers: the cached dense energy and Metropolis around the Laplace
approximation (eqprop_hw.thermal.gibbs.ReducedEnergy, LaplaceSampler)."""

import numpy as np
import pytest

from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.learning.reference import EnergyModel, software_ep
from eqprop_hw.circuit.spec import parse_spec
from eqprop_hw.thermal import gibbs as th

from test_thermal import T_DIODE, T_LINEAR, X, Y, diode_model, linear_model, typical_g

XD = np.array([[0.8], [0.4], [1.2]])
YD = np.array([[0.1], [0.5], [0.2]])


def layered_diode_model():
    spec = {"name": "ld", "kind": "layered", "layers": [6, 5, 3],
            "inputs": {"doubling": True, "gain": 2.0, "bias": 1.0},
            "activation": {"type": "rectify", "high": 0.0, "low": 0.0},
            "conductance": {"init": {"low": 1e-5, "high": 1e-4}, "seed": 2}}
    return EnergyModel(build_circuit(parse_spec(spec)))


@pytest.mark.parametrize("make", [diode_model, linear_model, layered_diode_model])
def test_reduced_energy_equals_the_reference_energy(make):
    model = make()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, model.n_inputs))
    y = rng.uniform(-0.5, 0.5, (3, model.n_outputs))
    for beta in (0.0, 3e-4):
        s, y2, b = model.context(x, beta, y)
        reduced = th.ReducedEnergy(model, s, y2, b)
        rows = np.repeat(np.arange(3), 4)
        z = model.solve(x, beta, y).free[rows] + rng.normal(0, 0.05, (12, model.n_free))
        energy, grad = reduced.energy_gradient(z, rows)
        e_ref = model.energy_terms(z, s[rows], y2[rows], b)[0]
        g_ref = model.gradient_hessian(z, s[rows], y2[rows], b, False)[0]
        np.testing.assert_allclose(energy, e_ref, rtol=1e-12, atol=1e-18)
        np.testing.assert_allclose(grad, g_ref, rtol=1e-9, atol=1e-12 * np.abs(g_ref).max())
        # the measurement from per-context sources equals the per-state one
        sampler = th.ModelSampler(model, 1e-6)
        d1, l1 = sampler.measure(z, s, y2, rows)
        d2, l2 = sampler.measure(z, s[rows], y2[rows])
        np.testing.assert_allclose(d1, d2, rtol=1e-12)
        np.testing.assert_allclose(l1, l2, rtol=1e-12)


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("estimator", th.ESTIMATORS)
def test_laplace_sampler_matches_quadrature_on_a_diode_network(scale, estimator):
    model = diode_model()
    beta = scale * typical_g(model)
    sampler = th.LaplaceSampler(model, T_DIODE, chains=32)
    est = th.thermal_gradient(sampler, XD, YD, beta, estimator, samples=2048, seed=3, nodes=4)
    exact = th.exact_thermal_gradient(model, T_DIODE, XD, YD, beta, estimator)
    z = (est.gradient - exact) / est.stderr
    assert np.all(np.abs(z) <= 4.0), z
    info = est.phases[-1].info
    assert info["sampler"] == "laplace" and 0.5 < info["acceptance"] <= 1.0


def test_laplace_sampler_is_exact_and_iid_on_a_linear_network():
    model = linear_model()
    beta = typical_g(model)
    sampler = th.LaplaceSampler(model, T_LINEAR, chains=32)
    phase = sampler.sample(X, beta, Y, 1024, seed=0)
    assert phase.info["acceptance"] == 1.0 and phase.info["rho"] == 0.0
    assert phase.info["thin"] == 1
    moments = th.gaussian_moments(model, T_LINEAR, X, beta, Y)
    z = phase.free.reshape(2, -1, model.n_free)
    for row in range(2):
        cov = np.cov(z[row].T)
        np.testing.assert_allclose(np.diagonal(cov), np.diagonal(moments.covariance[row]),
                                   rtol=0.15)
    est = th.thermal_gradient(sampler, X, Y, beta, "chl", samples=1024, seed=1)
    exact = th.exact_thermal_gradient(model, T_LINEAR, X, Y, beta, "chl")
    assert np.all(np.abs((est.gradient - exact) / est.stderr) <= 4.5)


def test_laplace_sampler_reduces_to_ep_as_T_goes_to_zero_and_is_deterministic():
    model = layered_diode_model()
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (4, model.n_inputs))
    y = rng.uniform(-0.5, 0.5, (4, model.n_outputs))
    beta = 1e-4
    ep = software_ep(model, x, y, beta, nudge="positive")
    sampler = th.LaplaceSampler(model, 1e-12, chains=8, thin=2)
    a = th.thermal_gradient(sampler, x, y, beta, "chl", samples=32, seed=4)
    b = th.thermal_gradient(sampler, x, y, beta, "chl", samples=32, seed=4)
    np.testing.assert_array_equal(a.gradient, b.gradient)
    assert np.linalg.norm(a.gradient - ep) < 1e-3 * np.linalg.norm(ep)


def test_training_with_diodes_uses_the_laplace_sampler(tmp_path):
    import json
    from eqprop_hw.circuit.spec import load_spec
    from eqprop_hw.learning.train import train
    text = """name: tsd
kind: layered
layers: [4, 6, 2]
inputs: {doubling: true, gain: 1.0, bias: 1.0}
activation: {type: rectify, high: 0.0, low: 0.0}
conductance: {min: 1.0e-7, max: 1.0e-3, init: {low: 2.0e-5, high: 1.0e-4}, seed: 3}
dataset: {name: teacher, samples: 96, seed: 1}
temperature: 1.0e-8
training: {epochs: 2, batch_size: 16, learning_rate: 0.05, beta: 6.0e-4, estimator: chl,
           samples: 32}
"""
    path = tmp_path / "tsd.yaml"
    path.write_text(text)
    from eqprop_hw.thermal.train import thermal_trainer
    spec = load_spec(path)
    trainer = thermal_trainer(spec, build_circuit(spec), "native")
    assert isinstance(trainer.sampler, th.LaplaceSampler)
    runs = []
    for name in ("a", "b"):
        train(load_spec(path), tmp_path / name, progress=False, plots=False)
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert runs[0]["train_loss"] == runs[1]["train_loss"]
    assert runs[0]["train_loss"][-1] < runs[0]["train_loss"][0]
