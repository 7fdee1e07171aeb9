"""Finite-temperature measurements of a resistive network: mean node voltages over Gibbs samples
(``eqprop-hw simulate`` with a temperature) and sampled gradient estimators against their
exact expectation (``eqprop-hw grad`` with a temperature).

States follow ``p ∝ exp(-E_beta/T)`` with T in W (the units of the energy), squared loss only.
Samplers: ``backend="native"`` uses the exact Gaussian sampler for linear networks,
Metropolis-Hastings around the Laplace approximation
(:class:`eqprop_hw.thermal.gibbs.LaplaceSampler`) for nonlinear ones, or Langevin dynamics
(MALA) of the spec's ``node_capacitance`` when it gives one; ``backend="ngspice"`` runs noisy
transients (:mod:`eqprop_hw.thermal.ngspice`).
"""

from __future__ import annotations

import time

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.reference import EnergyModel
from eqprop_hw.thermal import gibbs as th

#: Kept samples per phase when none are asked for.
DEFAULT_SAMPLES = 4096


def make_sampler(backend_name: str, circuit, temperature: float, spec=None, backend=None):
    """A sampler for a circuit at temperature T (W): (sampler, model, backend to close or
    None)."""
    capacitance = None if spec is None else spec.data.get("node_capacitance")
    model = EnergyModel(circuit)
    if backend_name == "ngspice":
        from eqprop_hw.backends import make_backend
        from eqprop_hw.thermal.ngspice import NgspiceSampler
        owned = backend is None
        backend = backend or make_backend("ngspice", circuit)
        return NgspiceSampler(backend, temperature, capacitance=capacitance), model, \
            (backend if owned else None)
    return th.native_sampler(model, temperature, capacitance), model, None


class _Counted:
    """A sampler whose every ``sample`` call (one phase) advances a progress bar on stderr."""

    def __init__(self, sampler, bar):
        self._sampler, self._bar = sampler, bar

    def __getattr__(self, name):
        return getattr(self._sampler, name)

    def sample(self, *args, **kwargs):
        phase = self._sampler.sample(*args, **kwargs)
        self._bar.update(1)
        return phase


def _phases(estimator: str, exact_by_sampling: bool) -> int:
    """Phases a gradient samples: 2 for chl, 1 for covariance, the quadrature nodes for path
    (each again for a sampled 'exact' value)."""
    count = {"chl": 2, "covariance": 1}.get(estimator, th.PATH_NODES)
    return count * (2 if exact_by_sampling else 1)


def exact_value(model, temperature, x, y, beta, estimator, samples, seed, bar=None):
    """Exact expectation of the estimator, or a long Langevin run when none is computable.

    Returns (value, method, stderr or None).
    """
    try:
        return th.exact_thermal_gradient(model, temperature, x, y, beta, estimator), \
            ("gaussian closed form" if th.is_linear(model) else "quadrature"), None
    except CircuitError:
        long_run = th.LangevinSampler(model, temperature, chains=64)
        if bar is not None:
            long_run = _Counted(long_run, bar)
        est = th.thermal_gradient(long_run, x, y, beta, estimator, samples=16 * samples,
                                  seed=seed + 1000003)
        return est.gradient, "langevin long run (16x samples)", est.stderr


def gradient_data(spec, circuit, x, y, beta: float, temperature: float, *,
                  backend: str = "native", estimator: str | None = None,
                  samples: int | None = None, seed: int | None = None,
                  beta_given: bool = True, progress: bool = True) -> dict:
    """The JSON object of ``grad`` at finite temperature (see CONTRACT.md).

    Parameters
    ----------
    x, y : ndarray, shape (1, n_inputs) and (1, n_outputs)
        Input values and target voltages (V).
    beta : float
        Nudging conductance (S); 0 for the covariance estimator when ``beta_given`` is False.
    temperature : float
        Gibbs temperature T (W).
    estimator, samples, seed
        Default ``"chl"``, :data:`DEFAULT_SAMPLES`, 0.
    progress : bool
        A progress bar over the sampled phases on stderr.
    """
    from eqprop_hw.learning.reference import gradient_agreement
    from eqprop_hw.learning.loop import progress_bar
    estimator = estimator or "chl"
    samples = int(samples or DEFAULT_SAMPLES)
    seed = int(seed or 0)
    if estimator == "covariance" and not beta_given:
        beta = 0.0
    start = time.perf_counter()
    sampler, model, owned = make_sampler(backend, circuit, temperature, spec)
    bar = progress_bar(_phases(estimator, not th.has_exact_moments(model)),
                       f"sampling ({estimator})", progress, unit="phase")
    try:
        est = th.thermal_gradient(sampler if bar is None else _Counted(sampler, bar), x, y,
                                  beta, estimator, samples=samples, seed=seed)
        exact, method, exact_se = exact_value(model, temperature, x, y, beta, estimator,
                                              samples, seed, bar)
    finally:
        if bar is not None:
            bar.close()
        if owned is not None:
            owned.close()
    agreement = gradient_agreement(est.gradient, exact)
    spread = est.stderr if exact_se is None else np.hypot(est.stderr, exact_se)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (est.gradient - exact) / spread, 0.0)
    names = circuit.trainable
    data = {"loss": est.loss, "loss_kind": "squared", "temperature": temperature,
            "backend": backend, "beta": beta, "nudge": None, "estimator": estimator,
            "samples": samples, "effective_samples": est.effective_samples,
            "sampler": sampler.name,
            "ep": dict(zip(names, est.gradient.tolist())),
            "exact": dict(zip(names, np.asarray(exact).tolist())),
            "stderr": dict(zip(names, est.stderr.tolist())),
            "exact_method": method, "max_abs_z": float(np.max(np.abs(z))) if z.size else 0.0,
            "cosine": agreement["cosine"], "rel_error": agreement["rel_error"],
            "seconds": time.perf_counter() - start}
    if exact_se is not None:
        data["exact_stderr"] = dict(zip(names, exact_se.tolist()))
    return data


def simulation_data(spec, circuit, inputs, beta, targets, temperature: float, *,
                    backend: str = "native", samples: int | None = None,
                    seed: int | None = None) -> dict:
    """The JSON object of ``simulate`` at finite temperature: mean node voltages (V) and their
    standard errors over Gibbs samples, the expected loss (V^2) and the effective sample size.

    Parameters
    ----------
    inputs : ndarray, shape (1, n_inputs)
    beta : float or None
        Nudging conductance (S), with ``targets`` (V); None: the free phase.
    temperature : float
        Gibbs temperature T (W).
    """
    samples = int(samples or DEFAULT_SAMPLES)
    seed = int(seed or 0)
    if targets is None:
        targets = np.zeros((len(inputs), len(circuit.outputs)))
    start = time.perf_counter()
    sampler, model, owned = make_sampler(backend, circuit, temperature, spec)
    try:
        phase = sampler.sample(inputs, 0.0 if beta is None else beta, targets, samples, seed)
    finally:
        if owned is not None:
            owned.close()
    s, _, _ = model.context(inputs[:1], 0.0, None)
    z = phase.free[0]
    mean_z, se_z = th.jackknife(lambda m: z[m].reshape(-1, z.shape[-1]).mean(axis=0),
                                phase.blocks)
    voltages = model.voltages_at(mean_z[None], s)[0]
    loss = phase.loss[0]
    value, stderr = th.jackknife(lambda m: loss[m].mean(), phase.blocks)
    out_cols = model.output_columns
    return {"backend": backend, "voltages": {"0": 0.0, **dict(zip(model.node_names,
                                                                 voltages.tolist()))},
            "outputs": voltages[out_cols].tolist(), "converged": True,
            "seconds": time.perf_counter() - start,
            "temperature": temperature, "samples": samples,
            "effective_samples": phase.effective_samples, "sampler": sampler.name,
            "stderr": dict(zip(model.free_nodes, se_z.tolist())),
            "expected_loss": float(value), "expected_loss_stderr": float(stderr)}
