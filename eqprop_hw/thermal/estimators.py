"""Finite-nudge gradient estimators from sampled local measurements: ``chl``, ``covariance``
and ``path`` (:func:`thermal_gradient`), each with a jackknife standard error.

Part of :mod:`eqprop_hw.thermal.gibbs` (which re-exports every public name here; its docstring
states what each estimator estimates). Units: gradients in V^2/S, beta in S, T in W.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.thermal.states import PhaseSamples, jackknife

ESTIMATORS = ("chl", "covariance", "path")


@dataclass
class ThermalEstimate:
    """A finite-temperature gradient estimate with its uncertainty.

    Attributes
    ----------
    estimator : str
        ``chl``, ``covariance`` or ``path``.
    beta : float
        Nudging strength (S).
    temperature : float
        T (W).
    gradient : ndarray, shape (n_trainable,)
        Batch-mean estimate (V^2/S) in ``circuit.trainable`` order.
    stderr : ndarray, shape (n_trainable,)
        Its standard error (jackknife over independent blocks).
    effective_samples : float
        Smallest effective sample size (per input, per phase) of the sampled phases.
    loss : float
        Batch mean of the free phase's expected loss ``<L>_0`` (V^2) when the free phase was
        sampled, else of ``<L>_beta``.
    phases : list of PhaseSamples
        The sampled phases (free phase first when there is one).
    nodes : ndarray
        Nudging strengths b of the sampled phases (S).
    """

    estimator: str
    beta: float
    temperature: float
    gradient: np.ndarray
    stderr: np.ndarray
    effective_samples: float
    loss: float
    phases: list
    nodes: np.ndarray


def gauss_legendre(beta: float, nodes: int):
    """Gauss-Legendre nodes and weights on [0, beta]."""
    x, w = np.polynomial.legendre.leggauss(int(nodes))
    return 0.5 * beta * (x + 1.0), 0.5 * beta * w


def covariance_statistic(phase: PhaseSamples, temperature: float, mask) -> np.ndarray:
    """``-(1/T) Cov(L, dE/dg)`` per trainable, batch mean, from the blocks in ``mask``."""
    d = phase.dedg[:, mask].reshape(phase.dedg.shape[0], -1, phase.dedg.shape[-1])
    l_ = phase.loss[:, mask].reshape(phase.loss.shape[0], -1)
    dc = d - d.mean(axis=1, keepdims=True)
    lc = l_ - l_.mean(axis=1, keepdims=True)
    m = d.shape[1]
    cov = np.einsum("bm,bmk->bk", lc, dc) / (m - 1)
    return -(cov.mean(axis=0)) / temperature


def block_means(phase: PhaseSamples) -> np.ndarray:
    """Per-block batch-mean ``<dE/dg>`` (blocks, n_trainable): the mean over the blocks in a
    mask is the batch-mean over those blocks' samples (blocks have equal sizes)."""
    return phase.dedg.mean(axis=2).mean(axis=0)


def regroup(phases: list) -> list:
    """The phases with one common block count (the smallest), samples kept in time order."""
    blocks = min(p.blocks for p in phases)
    out = []
    for p in phases:
        if p.blocks == blocks:
            out.append(p)
            continue
        batch, k = p.dedg.shape[0], p.dedg.shape[-1]
        total = p.dedg.shape[1] * p.dedg.shape[2]
        n = total // blocks
        dedg = p.dedg.reshape(batch, total, k)[:, :n * blocks].reshape(batch, blocks, n, k)
        loss = p.loss.reshape(batch, total)[:, :n * blocks].reshape(batch, blocks, n)
        free = None if p.free is None else p.free.reshape(batch, total, -1)[
            :, :n * blocks].reshape(batch, blocks, n, -1)
        out.append(PhaseSamples(p.beta, dedg, loss, p.tau, p.effective_samples, p.info, free))
    return out


#: Gauss-Legendre nodes of the ``path`` estimator's integral over the nudge (default).
PATH_NODES = 8


def thermal_gradient(sampler, inputs, targets, beta: float, estimator: str = "chl",
                     samples: int = 4096, seed: int = 0,
                     nodes: int = PATH_NODES) -> ThermalEstimate:
    """A finite-temperature gradient estimate from sampled local measurements.

    Parameters
    ----------
    sampler : GaussianSampler, LangevinSampler or NgspiceSampler
        Anything with ``temperature`` and ``sample(inputs, beta, targets, samples, seed)``
        returning :class:`PhaseSamples`.
    inputs, targets : array_like, shapes (batch, n_inputs), (batch, n_outputs)
        Inputs and target voltages (V).
    beta : float
        Nudging strength (S); > 0 for ``chl`` and ``path``, >= 0 for ``covariance``.
    estimator : {"chl", "covariance", "path"}
        See the module docstring.
    samples : int
        Kept samples per input and phase.
    seed : int
        Seed of the noise; every phase uses the same seed, so phases are coupled (common
        random numbers) where the sampler allows.
    nodes : int
        Gauss-Legendre nodes of ``path`` on [0, beta].

    Returns
    -------
    ThermalEstimate
    """
    if estimator not in ESTIMATORS:
        raise CircuitError(f"unknown estimator {estimator!r} (choose from "
                           f"{', '.join(ESTIMATORS)})")
    beta = float(beta)
    if not math.isfinite(beta) or beta < 0 or (beta == 0 and estimator != "covariance"):
        raise CircuitError(f"beta must be a finite conductance > 0 (S) for the {estimator} "
                           f"estimator (>= 0 for covariance), got {beta!r}")
    temperature = sampler.temperature
    if estimator == "chl":
        free = sampler.sample(inputs, 0.0, targets, samples, seed)
        nudged = sampler.sample(inputs, beta, targets, samples, seed)
        free, nudged = regroup([free, nudged])
        phases, bs = [free, nudged], np.array([0.0, beta])
        # block means once: the jackknife's leave-one-out means are then cheap
        diff = (block_means(nudged) - block_means(free)) / beta
        value, stderr = jackknife(lambda m: diff[m].mean(axis=0), free.blocks)
    elif estimator == "covariance":
        phase = sampler.sample(inputs, beta, targets, samples, seed)
        phases, bs = [phase], np.array([beta])
        value, stderr = jackknife(lambda m: covariance_statistic(phase, temperature, m),
                                  phase.blocks)
    else:
        bs, weights = gauss_legendre(beta, nodes)
        phases = regroup([sampler.sample(inputs, b, targets, samples, seed) for b in bs])

        def statistic(mask):
            return sum(w * covariance_statistic(p, temperature, mask)
                       for w, p in zip(weights, phases)) / beta

        value, stderr = jackknife(statistic, phases[0].blocks)
    loss = float(phases[0].loss.mean())
    ess = float(min(p.effective_samples for p in phases))
    return ThermalEstimate(estimator, beta, temperature, value, stderr, ess, loss, phases, bs)
