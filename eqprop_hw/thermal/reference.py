"""The value a finite-temperature gradient estimate is compared with: exact where it can be
(closed form for linear networks, grid quadrature for 1-2 free nodes), otherwise a *reference*
estimate with its standard error from one long run of one sampler, computed the same way
whatever estimator is being checked.

Every estimator of :mod:`eqprop_hw.thermal.estimators` estimates one of two quantities:

``objective``
    ``grad J_beta = (<dE/dg>_beta - <dE/dg>_0) / beta`` (``chl`` and ``path``);
``loss``
    ``d<L>_beta/dg = -(1/T) Cov_beta(L, dE/dg)`` (``covariance``).

:func:`thermal_reference` computes both from the same phases (b = 0 and b = beta), so the
reference of (network, input, target, beta, T, samples, seed) does not depend on the estimator
and ``chl`` and ``path`` are compared with the very same numbers. The sampled reference runs
the Metropolis-adjusted Langevin sampler (MALA,
:class:`~eqprop_hw.thermal.samplers.LangevinSampler`, exact stationary law) with its own
seed (``seed + REFERENCE_SEED_OFFSET``), so its noise is independent of the estimate's and
the z-score ``(estimate - reference) / sqrt(stderr^2 + reference_stderr^2)`` is a standard
normal when both are unbiased.

Units: gradients in V^2/S, beta in S, T in W.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> from eqprop_hw.learning.reference import EnergyModel
>>> model = EnergyModel(build_circuit(parse_spec({"name": "t", "kind": "layered",
...     "layers": [2, 2, 1], "activation": {"type": "none"}})))
>>> ref = thermal_reference(model, 1e-7, [[0.5, -0.5]], [[0.2]], beta=1e-4)
>>> ref.exact, ref.method, float(ref.value("chl")[1].max())
(True, 'gaussian closed form', 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.thermal.closed_form import gaussian_moments, is_linear, quadrature_moments
from eqprop_hw.thermal.estimators import (ESTIMATORS, block_means, covariance_statistic,
                                          regroup)
from eqprop_hw.thermal.samplers import LangevinSampler
from eqprop_hw.thermal.states import check_temperature, jackknife

#: Added to the estimate's seed for the sampled reference (independent noise).
REFERENCE_SEED_OFFSET = 1000003

#: Independent chains (blocks of the jackknife) of the sampled reference.
REFERENCE_CHAINS = 64

#: Which quantity each estimator estimates (see the module docstring).
QUANTITIES = {"chl": "objective", "path": "objective", "covariance": "loss"}


@dataclass(frozen=True)
class ThermalReference:
    """Both estimands at one (network, inputs, targets, beta, T), exact or sampled.

    Attributes
    ----------
    method : str
        ``"gaussian closed form"``, ``"quadrature"`` or ``"mala long run"``.
    exact : bool
        True for the closed form and quadrature (standard errors 0); False for a sampled
        reference, which is an estimate with a standard error, not an exact value.
    beta : float
        Nudging strength (S).
    temperature : float
        T (W).
    objective, objective_stderr : ndarray, shape (n_trainable,)
        ``grad J_beta`` (V^2/S), batch mean, and its standard error; NaN when beta = 0.
    loss, loss_stderr : ndarray, shape (n_trainable,)
        ``d<L>_beta/dg`` (V^2/S), batch mean, and its standard error.
    samples : int
        Kept samples per phase and input of a sampled reference (0 when exact).
    seed : int or None
        The sampled reference's seed (None when exact).
    """

    method: str
    exact: bool
    beta: float
    temperature: float
    objective: np.ndarray
    objective_stderr: np.ndarray
    loss: np.ndarray
    loss_stderr: np.ndarray
    samples: int = 0
    seed: int | None = None

    def value(self, estimator: str) -> tuple[np.ndarray, np.ndarray]:
        """(reference value, its standard error) of what ``estimator`` estimates (V^2/S)."""
        if estimator not in QUANTITIES:
            raise CircuitError(f"unknown estimator {estimator!r} (choose from "
                               f"{', '.join(ESTIMATORS)})")
        if QUANTITIES[estimator] == "loss":
            return self.loss, self.loss_stderr
        return self.objective, self.objective_stderr

    def z_scores(self, estimator: str, estimate, stderr) -> np.ndarray:
        """``(estimate - reference) / sqrt(stderr^2 + reference_stderr^2)`` per element
        (0 where both errors are 0 and the values agree exactly)."""
        value, ref_se = self.value(estimator)
        spread = np.hypot(np.asarray(stderr, dtype=float), ref_se)
        diff = np.asarray(estimate, dtype=float) - value
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(spread > 0, diff / spread, np.where(diff == 0, 0.0, np.inf))


def _exact(model, temperature, inputs, targets, beta) -> ThermalReference:
    linear = is_linear(model)
    moments = gaussian_moments if linear else quadrature_moments
    nudged = moments(model, temperature, inputs, beta, targets)
    k = nudged.dedg.shape[1]
    if beta > 0:
        free = moments(model, temperature, inputs, 0.0, targets)
        objective = (nudged.dedg - free.dedg).mean(axis=0) / beta
    else:
        objective = np.full(k, np.nan)
    return ThermalReference("gaussian closed form" if linear else "quadrature", True, beta,
                            temperature, objective, np.zeros(k),
                            nudged.loss_gradient.mean(axis=0), np.zeros(k))


def _sampled(model, temperature, inputs, targets, beta, samples, seed) -> ThermalReference:
    sampler = LangevinSampler(model, temperature, chains=REFERENCE_CHAINS)
    free = sampler.sample(inputs, 0.0, targets, samples, seed)
    if beta > 0:
        nudged = sampler.sample(inputs, beta, targets, samples, seed)   # common random numbers
        free, nudged = regroup([free, nudged])
        diff = (block_means(nudged) - block_means(free)) / beta
        objective, objective_se = jackknife(lambda m: diff[m].mean(axis=0), free.blocks)
    else:
        nudged = free
        objective = objective_se = np.full(free.dedg.shape[-1], np.nan)
    loss, loss_se = jackknife(lambda m: covariance_statistic(nudged, temperature, m),
                              nudged.blocks)
    return ThermalReference("mala long run", False, beta, temperature, objective, objective_se,
                            loss, loss_se, int(samples), int(seed))


def thermal_reference(model, temperature: float, inputs, targets, beta: float, *,
                      samples: int = 65536, seed: int = 0) -> ThermalReference:
    """The reference of every estimator at one (inputs, targets, beta, T).

    Parameters
    ----------
    model : EnergyModel
        Squared loss.
    temperature : float
        T (W), > 0.
    inputs, targets : array_like, shapes (batch, n_inputs), (batch, n_outputs)
        Inputs and target voltages (V).
    beta : float
        Nudging strength (S), >= 0 (0: only the ``loss`` quantity, at the free phase).
    samples : int
        Kept samples per phase and input of a sampled reference (networks without a closed
        form or quadrature), >= 2 x :data:`REFERENCE_CHAINS`.
    seed : int
        Seed of the sampled reference (use the estimate's seed + :data:`REFERENCE_SEED_OFFSET`
        for independent noise).

    Returns
    -------
    ThermalReference
        Exact (``exact=True``, zero standard errors) for linear networks and nonlinear ones
        with 1 or 2 free nodes; otherwise a MALA estimate with jackknife standard errors.
    """
    temperature = check_temperature(temperature)
    beta = float(beta)
    if not (math.isfinite(beta) and beta >= 0):
        raise CircuitError(f"beta must be a finite conductance >= 0 (S), got {beta!r}")
    if is_linear(model) or model.n_free in (1, 2):
        return _exact(model, temperature, inputs, targets, beta)
    return _sampled(model, temperature, inputs, targets, beta, int(samples), int(seed))


__all__ = ["QUANTITIES", "REFERENCE_CHAINS", "REFERENCE_SEED_OFFSET", "ThermalReference",
           "thermal_reference"]
