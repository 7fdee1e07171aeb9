"""Sampled Gibbs states of a circuit: their local measurements (``dE/dg``, ``L``), the cached
reduced energy the native samplers step on, and the statistics of correlated samples
(integrated autocorrelation time, jackknife over independent blocks).

Part of :mod:`eqprop_hw.thermal.gibbs` (which re-exports every public name here).
Units: V, S, W; ``dE/dg`` and ``L`` in V^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.losses import loss_values
from eqprop_hw.learning.reference import diode_cocontent, junction_current


# -- statistics ---------------------------------------------------------------------------------
def integrated_autocorrelation_time(x, window: float = 5.0) -> np.ndarray:
    """Integrated autocorrelation time (in steps) of chains of an observable.

    Parameters
    ----------
    x : array_like, shape (chains, steps) or (chains, steps, k)
        Samples in time order along axis 1; chains are independent (each is centred on its own
        mean, so chains of different inputs can be pooled).
    window : float
        Sokal's automatic window constant ``c``: the sum over lags stops at the first lag
        ``M >= c tau(M)``.

    Returns
    -------
    ndarray, shape () or (k,)
        ``tau = 1 + 2 sum_{t=1}^{M} rho(t)`` (>= 1 for white noise up to noise); 1 where the
        observable is constant.
    """
    x = np.asarray(x, dtype=float)
    squeeze = x.ndim == 2
    if squeeze:
        x = x[..., None]
    chains, steps, k = x.shape
    centred = x - x.mean(axis=1, keepdims=True)      # per chain: chains may differ in input
    size = 1 << int(math.ceil(math.log2(max(2, 2 * steps))))
    spectrum = np.fft.rfft(centred, n=size, axis=1)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=1)[:, :steps].real
    acov = acov.mean(axis=0) / np.arange(steps, 0, -1)[:, None]
    tau = np.ones(k)
    for j in range(k):
        if acov[0, j] <= 0:
            continue
        rho = acov[:, j] / acov[0, j]
        cumulative = 2.0 * np.cumsum(rho) - 1.0
        lags = np.arange(steps)
        stop = np.flatnonzero(lags >= window * cumulative)
        tau[j] = max(1.0, cumulative[stop[0]] if stop.size else cumulative[-1])
    return tau[0] if squeeze else tau


def jackknife(statistic, blocks: int):
    """Jackknife estimate and standard error of a statistic of independent blocks.

    Parameters
    ----------
    statistic : callable
        ``statistic(mask)`` with ``mask`` a boolean array over blocks (which blocks to use)
        returns an ndarray.
    blocks : int
        Number of blocks, >= 2.

    Returns
    -------
    value, stderr : ndarray
        The statistic on all blocks, and ``sqrt((n-1)/n sum (theta_-i - mean)^2)``.
    """
    if blocks < 2:
        raise CircuitError("a standard error needs at least 2 independent blocks")
    full = np.asarray(statistic(np.ones(blocks, dtype=bool)))
    leave = []
    for i in range(blocks):
        mask = np.ones(blocks, dtype=bool)
        mask[i] = False
        leave.append(np.asarray(statistic(mask)))
    leave = np.array(leave)
    stderr = np.sqrt((blocks - 1) / blocks * ((leave - leave.mean(axis=0)) ** 2).sum(axis=0))
    return full, stderr


# -- samples ------------------------------------------------------------------------------------
@dataclass
class PhaseSamples:
    """Local measurements sampled at one nudging strength ``b``.

    Attributes
    ----------
    beta : float
        Nudging strength b (S).
    dedg : ndarray, shape (batch, blocks, n, n_trainable)
        ``dE/dg = 1/2 dV^2`` (V^2) of every trainable element, per input, block and sample.
    loss : ndarray, shape (batch, blocks, n)
        ``L`` (V^2) at the same samples.
    tau : float
        Integrated autocorrelation time (in kept samples) of the slowest measured observable;
        1 for iid samples.
    effective_samples : float
        Kept samples per input divided by ``tau`` (the worst observable).
    info : dict
        Sampler details (step, acceptance rate, thinning, ...).
    free : ndarray, shape (batch, blocks, n, n_free), optional
        The sampled free node voltages (V), in ``EnergyModel.free_nodes`` order.
    """

    beta: float
    dedg: np.ndarray
    loss: np.ndarray
    tau: float = 1.0
    effective_samples: float = 0.0
    info: dict = field(default_factory=dict)
    free: np.ndarray | None = None

    @property
    def blocks(self) -> int:
        return self.dedg.shape[1]


def summarise(beta, dedg, loss, info, chains_are_time=True) -> PhaseSamples:
    """PhaseSamples with tau and ESS measured along axis 2 (time within a block)."""
    batch, blocks, n, k = dedg.shape
    if chains_are_time and n >= 8:
        obs = np.concatenate([dedg, loss[..., None]], axis=3)
        taus = [integrated_autocorrelation_time(obs[i]) for i in range(batch)]
        tau = float(np.max(taus))
    else:
        tau = 1.0
    return PhaseSamples(float(beta), dedg, loss, tau, blocks * n / tau, info)


def sample_count(samples: int, blocks: int) -> int:
    """Samples per block for ``samples`` kept samples in ``blocks`` blocks (at least 2 each).

    Examples
    --------
    >>> sample_count(4096, 64)
    64
    """
    samples = int(samples)
    if samples < 2 * blocks:
        raise CircuitError(f"--samples must be at least {2 * blocks} (got {samples}): the "
                           f"standard error comes from {blocks} independent blocks")
    return samples // blocks


def check_temperature(temperature) -> float:
    """``temperature`` (W) as a float, refused unless finite and > 0 (CircuitError).

    Examples
    --------
    >>> check_temperature(1e-7)
    1e-07
    """
    temperature = float(temperature)
    if not (math.isfinite(temperature) and temperature > 0):
        raise CircuitError(f"temperature must be a finite number > 0 (W, units of the energy), "
                           f"got {temperature!r}")
    return temperature


class ModelSampler:
    """Shared bookkeeping of samplers over an :class:`EnergyModel` (squared loss only).

    The base of :class:`GaussianSampler`, :class:`LangevinSampler`, :class:`LaplaceSampler`
    and :class:`eqprop_hw.thermal.ngspice.NgspiceSampler`; on its own it measures states
    (:meth:`measure`) but does not sample.

    Parameters
    ----------
    model : EnergyModel
        The circuit's energy (squared loss).
    temperature : float
        T (W, units of the energy), > 0.

    Raises
    ------
    CircuitError
        For a model with another loss, or a temperature that is not a finite number > 0.
    """

    def __init__(self, model, temperature: float):
        if model.loss != "squared":
            raise CircuitError("finite-temperature sampling supports the squared loss only "
                               f"(the model's loss is {model.loss!r})")
        self.model = model
        self.temperature = check_temperature(temperature)
        mask = model.trainable_resistors >= 0
        self._train_cols = np.flatnonzero(mask)
        self._train_rows = model.trainable_resistors[mask]
        # Trainable drops and output voltages as dense affine maps of (z, s): no node vectors.
        b_t = model.resistor_incidence[self._train_rows]
        self._drop_z = model.resistor_map[self._train_rows].toarray()    # d(drop)/dz
        self._drop_s = np.asarray(b_t @ model.source_map)
        self._out_s = np.asarray(model.source_map[model.output_columns])

    @property
    def n_trainable(self) -> int:
        return len(self.model.circuit.trainable)

    def measure(self, z, s, y, rows=None):
        """``dE/dg`` (V^2, shape (m, n_trainable)) and ``L`` (V^2, shape (m,)) at free voltages
        ``z`` (m, n_free); ``s``, ``y`` per state, or per context with ``rows`` (m,) the
        context of each state."""
        model = self.model
        dedg = np.zeros((z.shape[0], self.n_trainable))
        base, out_base = s @ self._drop_s.T, s @ self._out_s.T
        if rows is not None:
            base, out_base, y = base[rows], out_base[rows], np.asarray(y)[rows]
        drops = z @ self._drop_z.T + base
        dedg[:, self._train_cols] = 0.5 * drops * drops
        loss = loss_values("squared", z @ model.output_map.T + out_base, y)
        return dedg, loss

    def _autocorrelation_steps(self, states, s, y, rows) -> float:
        """Largest integrated autocorrelation time (steps) of the measured observables over
        ``states``, one (contexts x chains, n_free) array per step."""
        steps, chains_total = len(states), states[0].shape[0]
        dedg, loss = self.measure(np.concatenate(states), s, y, np.tile(rows, steps))
        obs = np.concatenate([dedg, loss[:, None]], axis=1).reshape(steps, chains_total, -1)
        return float(np.max(integrated_autocorrelation_time(obs.transpose(1, 0, 2))))

    def _collected(self, states, s, y, rows, shape, beta, info) -> PhaseSamples:
        """The phase's samples from the recorded ``states`` (one per kept step); ``shape``:
        (batch, chains, per_chain)."""
        zs = np.stack(states, axis=1)                       # (batch*chains, per_chain, n)
        dedg, loss = self.measure(zs.reshape(-1, zs.shape[-1]), s, y,
                                  np.repeat(rows, shape[2]))
        result = summarise(beta, dedg.reshape(*shape, -1), loss.reshape(shape), info)
        result.free = zs.reshape(*shape, zs.shape[-1])
        return result

    def set_trainable(self, values) -> None:
        """New trainable conductances (S), in ``circuit.trainable`` order."""
        self.model.set_trainable(values)


# -- the energy reduced to dense arrays over the free voltages -------------------------------------
class ReducedEnergy:
    """``E_b`` of a batch of (input, target) contexts as dense arrays over the free voltages.

    ``EnergyModel.energy_terms`` / ``gradient_hessian`` recompute every node voltage and every
    resistor drop (sparse products over all elements, input sources included) at each call. For a
    sampler that evaluates thousands of states per context, the fixed part is worth caching:
    with ``z`` the free voltages,

        E_b(z) = 1/2 z^T H z + c^T z + e0 + sum_d Phi_d(a_d . z + d0)

    where ``H`` (S) is the reduced conductance Laplacian plus ``b O^T O`` (the nudge), ``c``
    (A) and ``e0`` (W) the linear and constant parts of the resistor, current-source and nudge
    terms at ``z = 0`` per context, and ``d0`` the diode voltages at ``z = 0``. One energy and
    gradient evaluation is then a (chains x n) @ (n x n) product and the diodes' exponentials.
    Equal to ``EnergyModel.energy_terms`` / ``gradient_hessian`` up to round-off (tested).

    Parameters
    ----------
    model : EnergyModel
        Squared loss.
    s, y : ndarray
        Per-context source values and targets (``EnergyModel.context``).
    beta : float
        Nudging strength (S).
    """

    def __init__(self, model, s, y, beta: float):
        self.model = model
        n = model.n_free
        zeros = np.zeros((s.shape[0], n))
        v0 = model.voltages_at(zeros, s)
        drops = (model.resistor_incidence @ v0.T).T
        grad_v = (model.resistor_incidence.T @ (drops * model.resistor_conductances).T).T
        free, g = model.resistor_is_free, model.resistor_conductances
        e0 = 0.5 * (drops[:, free] ** 2 * g[free]).sum(axis=1)
        if model.has_current_sources:
            grad_v = grad_v + s @ model.current_source_map
            e0 = e0 + ((s @ model.current_source_map) * v0).sum(axis=1)
        h = model.linear_hessian.copy()
        if beta != 0.0 and len(model.output_columns):
            r = v0[:, model.output_columns] - y
            grad_v[:, model.output_columns] += beta * r
            e0 = e0 + 0.5 * beta * (r * r).sum(axis=1)
            h = h + beta * (model.output_map.T @ model.output_map)
        self.h = np.ascontiguousarray(h)
        self.c = np.ascontiguousarray((model.free_map.T @ grad_v.T).T)
        self.e0 = e0
        self.diodes = bool(model.diode_names)
        if self.diodes:
            self.a_d = np.ascontiguousarray(model.diode_map)
            self.d0 = np.ascontiguousarray((model.diode_incidence @ v0.T).T)
            self.saturation, self.vte, self.gmin = *model.diode_laws[:2], model.gmin

    def energy_gradient(self, z, rows, gradient: bool = True):
        """``E_b`` (W, shape (m,)) and ``dE_b/dz`` (A, shape (m, n)) at states ``z`` (m, n)
        of contexts ``rows`` (m,)."""
        hz = z @ self.h
        c = self.c[rows]
        energy = (0.5 * hz + c) * z
        energy = energy.sum(axis=1) + self.e0[rows]
        grad = hz + c if gradient else None
        if self.diodes:
            vd = z @ self.a_d.T + self.d0[rows]
            with np.errstate(over="ignore", invalid="ignore"):
                energy = energy + diode_cocontent(vd, self.saturation, self.vte,
                                                  self.gmin).sum(axis=1)
                if gradient:
                    current = junction_current(vd, self.saturation, self.vte, self.gmin)[0]
                    grad = grad + current @ self.a_d
        return energy, grad
