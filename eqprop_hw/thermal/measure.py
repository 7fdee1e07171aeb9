"""Finite-temperature measurements of a resistive network: mean node voltages over Gibbs samples
(``eqprop-hw simulate`` with a temperature) and sampled gradient estimators against their
reference (``eqprop-hw grad`` with a temperature): the exact expectation where a closed form
or quadrature gives it, else one long MALA run with its standard error, the same for every
estimator (:mod:`eqprop_hw.thermal.reference`).

States follow ``p ∝ exp(-E_beta/T)`` with T in W (the units of the energy), squared loss only.
Samplers: ``backend="native"`` uses the exact Gaussian sampler for linear networks,
Metropolis-Hastings around the Laplace approximation
(:class:`eqprop_hw.thermal.gibbs.LaplaceSampler`) for nonlinear ones, or Langevin dynamics
(MALA) of the spec's ``node_capacitance`` when it gives one; ``backend="ngspice"`` runs noisy
transients (:mod:`eqprop_hw.thermal.ngspice`).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

import numpy as np

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
    """A sampler whose every ``sample`` call (one phase) advances a progress bar on stderr by
    one, in fractions as it goes when the sampler reports them (``on_fraction``: ngspice's
    transients)."""

    def __init__(self, sampler, bar):
        self._sampler, self._bar = sampler, bar

    def __getattr__(self, name):
        return getattr(self._sampler, name)

    def sample(self, *args, **kwargs):
        bar = self._bar
        done = bar.n
        reports = hasattr(self._sampler, "on_fraction")
        if reports:
            self._sampler.on_fraction = lambda fraction: bar.update(done + fraction - bar.n)
        try:
            phase = self._sampler.sample(*args, **kwargs)
        finally:
            if reports:
                self._sampler.on_fraction = None
        bar.update(done + 1 - bar.n)
        return phase


def _phases(estimator: str, sampled_reference: bool, beta: float) -> int:
    """Phases a gradient samples: 2 for chl, 1 for covariance, the quadrature nodes for path;
    plus the sampled reference's (b = 0 and, for beta > 0, b = beta)."""
    count = {"chl": 2, "covariance": 1}.get(estimator, th.PATH_NODES)
    return count + ((2 if beta > 0 else 1) if sampled_reference else 0)


#: A sampled reference keeps this many times the estimate's samples per phase.
REFERENCE_FACTOR = 16

#: References kept in memory (most recent first out last): a session that runs several
#: estimators on the same (circuit, input, target, beta, T, samples, seed) computes it once.
REFERENCE_CACHE_SIZE = 8
_references: OrderedDict = OrderedDict()


def _reference_key(circuit, temperature, x, y, beta, samples, seed) -> tuple:
    """Identity of a reference: the circuit's netlist bytes (every element, value and model)
    and the arguments."""
    from eqprop_hw.circuit.netlist import write_netlist
    digest = hashlib.sha256(write_netlist(circuit).encode()).hexdigest()
    return (digest, np.asarray(x, dtype=float).tobytes(), np.asarray(y, dtype=float).tobytes(),
            float(beta), float(temperature), int(samples), int(seed))


def reference_for(circuit, model, temperature, x, y, beta, samples, seed, bar=None):
    """The estimate's reference (:func:`eqprop_hw.thermal.reference.thermal_reference`):
    exact where a closed form or quadrature exists, else one MALA run of
    ``REFERENCE_FACTOR * samples`` samples per phase with seed ``seed + 1000003``; the same
    for every estimator, computed once per (circuit, input, target, beta, T, samples, seed)
    in a session (the last :data:`REFERENCE_CACHE_SIZE` are kept)."""
    from eqprop_hw.thermal import reference as ref
    key = _reference_key(circuit, temperature, x, y, beta, samples, seed)
    if key in _references:
        _references.move_to_end(key)
        return _references[key]
    reference = ref.thermal_reference(model, temperature, x, y, beta,
                                      samples=REFERENCE_FACTOR * samples,
                                      seed=seed + ref.REFERENCE_SEED_OFFSET)
    if bar is not None and not reference.exact:
        bar.update(2 if beta > 0 else 1)
    _references[key] = reference
    while len(_references) > REFERENCE_CACHE_SIZE:
        _references.popitem(last=False)
    return reference


def gradient_data(spec, circuit, x, y, beta: float, temperature: float, *,
                  backend: str = "native", estimator: str | None = None,
                  samples: int | None = None, seed: int | None = None,
                  beta_given: bool = True, progress: bool = True) -> dict:
    """The JSON object of ``grad`` at finite temperature (see CONTRACT.md).

    The estimate is compared with its reference (:func:`reference_for`): ``reference``,
    ``reference_stderr`` (0 when exact), ``reference_method``, ``reference_exact``,
    ``reference_quantity`` (``objective``: grad J_beta, or ``loss``: d<L>_beta/dg), ``z`` per
    element and ``max_abs_z``; ``exact`` holds the reference where it is exact (closed form,
    quadrature) and null where no exact value exists.

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
    from eqprop_hw.thermal.reference import QUANTITIES
    estimator = estimator or "chl"
    samples = int(samples or DEFAULT_SAMPLES)
    seed = int(seed or 0)
    if estimator == "covariance" and not beta_given:
        beta = 0.0
    start = time.perf_counter()
    sampler, model, owned = make_sampler(backend, circuit, temperature, spec)
    bar = progress_bar(_phases(estimator, not th.has_exact_moments(model), beta),
                       f"sampling ({estimator})", progress, unit="phase")
    try:
        est = th.thermal_gradient(sampler if bar is None else _Counted(sampler, bar), x, y,
                                  beta, estimator, samples=samples, seed=seed)
        reference = reference_for(circuit, model, temperature, x, y, beta, samples, seed, bar)
    finally:
        if bar is not None:
            bar.close()
        if owned is not None:
            owned.close()
    value, value_se = reference.value(estimator)
    agreement = gradient_agreement(est.gradient, value)
    z = reference.z_scores(estimator, est.gradient, est.stderr)
    names = circuit.trainable
    exact = value if reference.exact else np.full(len(names), np.nan)
    return {"loss": est.loss, "loss_kind": "squared", "temperature": temperature,
            "backend": backend, "beta": beta, "nudge": None, "estimator": estimator,
            "samples": samples, "effective_samples": est.effective_samples,
            "sampler": sampler.name,
            "ep": dict(zip(names, est.gradient.tolist())),
            "stderr": dict(zip(names, est.stderr.tolist())),
            "exact": dict(zip(names, exact.tolist())),
            "reference": dict(zip(names, np.asarray(value).tolist())),
            "reference_stderr": dict(zip(names, np.asarray(value_se).tolist())),
            "reference_method": reference.method, "reference_exact": reference.exact,
            "reference_quantity": QUANTITIES[estimator],
            "reference_samples": reference.samples, "reference_seed": reference.seed,
            "z": dict(zip(names, z.tolist())),
            "max_abs_z": float(np.max(np.abs(z))) if z.size else 0.0,
            "cosine": agreement["cosine"], "rel_error": agreement["rel_error"],
            "seconds": time.perf_counter() - start}


def simulation_data(spec, circuit, inputs, beta, targets, temperature: float, *,
                    backend: str = "native", samples: int | None = None,
                    seed: int | None = None, progress: bool = False) -> dict:
    """The JSON object of ``simulate`` at finite temperature: mean node voltages (V) and their
    standard errors over Gibbs samples, the expected loss (V^2) and the effective sample size.

    Parameters
    ----------
    inputs : ndarray, shape (1, n_inputs)
    beta : float or None
        Nudging conductance (S), with ``targets`` (V); None: the free phase.
    temperature : float
        Gibbs temperature T (W).
    progress : bool
        A progress bar over the sampled phase on stderr.
    """
    from eqprop_hw.learning.loop import progress_bar
    samples = int(samples or DEFAULT_SAMPLES)
    seed = int(seed or 0)
    if targets is None:
        targets = np.zeros((len(inputs), len(circuit.outputs)))
    start = time.perf_counter()
    sampler, model, owned = make_sampler(backend, circuit, temperature, spec)
    bar = progress_bar(1, "sampling", progress, unit="phase")
    try:
        phase = (sampler if bar is None else _Counted(sampler, bar)).sample(
            inputs, 0.0 if beta is None else beta, targets, samples, seed)
    finally:
        if bar is not None:
            bar.close()
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
