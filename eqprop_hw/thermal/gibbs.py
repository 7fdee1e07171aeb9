"""Finite temperature: Gibbs-Boltzmann states of a circuit and finite-nudge gradient estimators.

Every free node ``i`` gets a capacitance ``C_i`` (F) to ground and a white noise current; the
free node voltages ``z`` then follow the Langevin equation

    C_i dz_i = -dE_b/dz_i dt + sqrt(2 T C_i) dW_i

whose stationary law is Gibbs, ``p_b(z) ∝ exp(-E_b(z) / T)``, for any positive ``C_i``. ``E_b``
is the co-content (W) of :class:`eqprop_hw.learning.reference.EnergyModel` nudged with strength ``b``
(``E_b = E + b L``, ``L = 1/2 sum_k (V_out_k - y_k)^2``), and the temperature ``T`` is in the
units of the energy (W). A single node with conductance ``g`` to ground then has
``Var(V) = T / g`` (V^2).

Identities (``docs/theory.md``, "Finite temperature")::

    dF_b/dg      = <dE/dg>_b                    F_b = -T log Z_b
    dF_b/db      = <L>_b
    d<L>_b/dg    = -(1/T) Cov_b(L, dE/dg)

so that, with ``J_beta = (F_beta - F_0) / beta = (1/beta) int_0^beta <L>_b db``:

``chl``
    ``(1/beta) (<dE/dg>_beta - <dE/dg>_0)``: the exact gradient of ``J_beta`` for any beta.
``covariance``
    ``-(1/T) Cov_b(L, dE/dg)`` at ``b = beta``: the exact gradient of ``<L>_beta`` (with
    ``beta = 0``, of the free phase's expected loss ``<L>_0``).
``path``
    ``(1/beta) int_0^beta -(1/T) Cov_b(L, dE/dg) db`` by Gauss-Legendre quadrature in ``b``:
    the gradient of ``J_beta`` again (thermodynamic integration), so it must agree with ``chl``.

Every estimate is a function of sampled node voltages only (``dE/dg = 1/2 dV^2`` across each
conductance's own terminals, and ``L`` at the outputs). Its standard error comes from a
jackknife over independent blocks (chains, or contiguous stretches of one long run much longer
than the autocorrelation time); the effective sample size is the sample count divided by the
integrated autocorrelation time (Sokal's automatic window).

Samplers
--------
:class:`GaussianSampler`
    Linear networks only (no diodes): the exact Gaussian ``N(mu_b, T A_b^{-1})``, iid.
:class:`LangevinSampler`
    Any network the reference model accepts (diodes included): batched Euler-Maruyama steps of
    the Langevin equation above, by default with a Metropolis-Hastings correction (MALA), which
    makes the stationary law exactly Gibbs for any step; ``metropolis=False`` is the plain
    Euler-Maruyama discretisation of the physical circuit (bias O(dt)).
:class:`LaplaceSampler`
    Any such network: Metropolis-Hastings with preconditioned Crank-Nicolson proposals around
    each phase's Gaussian (Laplace) approximation at the equilibrium; exact for any network,
    iid with acceptance 1 on a linear one, and the fastest on weakly nonlinear ones
    (training's default with diodes). Not a physical dynamics.
:class:`eqprop_hw.thermal.ngspice.NgspiceSampler`
    The circuit itself in ngspice: a noise current source (``TRRANDOM`` by default, or
    ``TRNOISE``) and a capacitor per free node, one ``.tran`` per phase.

The native samplers evaluate ``E_b`` through :class:`ReducedEnergy`: the fixed part of the
energy (input sources, nudge, Laplacian) is cached once per phase as dense arrays over the free
voltages, so one step of a batch of chains is a small matrix product plus the diodes.

Exact values
------------
:func:`gaussian_moments` (closed form for linear networks) and :func:`quadrature_moments`
(numerical integration over a grid, nonlinear networks with at most 2 free nodes), both through
:func:`exact_thermal_gradient`.

Units: V, A, S, F, s; energies and T in W; ``dE/dg`` in V^2; gradients in V^2/S.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> from eqprop_hw.learning.reference import EnergyModel
>>> c = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [2, 2, 1],
...                              "activation": {"type": "none"}}))
>>> model = EnergyModel(c)
>>> sampler = GaussianSampler(model, temperature=1e-7)
>>> est = thermal_gradient(sampler, [[0.5, -0.5]], [[0.2]], beta=1e-4, estimator="chl",
...                        samples=2000, seed=0)
>>> est.gradient.shape == est.stderr.shape == (len(c.trainable),)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.losses import loss_values
from eqprop_hw.learning.reference import diode_cocontent, junction_current

ESTIMATORS = ("chl", "covariance", "path")

#: Default node capacitance (F) when a spec gives none.
DEFAULT_CAPACITANCE = 1e-9


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


def _summarise(beta, dedg, loss, info, chains_are_time=True) -> PhaseSamples:
    """PhaseSamples with tau and ESS measured along axis 2 (time within a block)."""
    batch, blocks, n, k = dedg.shape
    if chains_are_time and n >= 8:
        obs = np.concatenate([dedg, loss[..., None]], axis=3)
        taus = [integrated_autocorrelation_time(obs[i]) for i in range(batch)]
        tau = float(np.max(taus))
    else:
        tau = 1.0
    return PhaseSamples(float(beta), dedg, loss, tau, blocks * n / tau, info)


def _sample_count(samples: int, blocks: int) -> int:
    samples = int(samples)
    if samples < 2 * blocks:
        raise CircuitError(f"--samples must be at least {2 * blocks} (got {samples}): the "
                           f"standard error comes from {blocks} independent blocks")
    return samples // blocks


def _check_temperature(temperature) -> float:
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
        self.temperature = _check_temperature(temperature)
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
        result = _summarise(beta, dedg.reshape(*shape, -1), loss.reshape(shape), info)
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


# -- linear networks: the exact Gaussian ---------------------------------------------------------
@dataclass
class GaussianMoments:
    """Closed-form Gibbs statistics of a linear network at one nudging strength, per input.

    Attributes
    ----------
    beta : float
        Nudging strength (S).
    mean : ndarray, shape (batch, n_free)
        ``mu_b = A_b^{-1} b_b`` (V), the equilibrium.
    covariance : ndarray, shape (batch, n_free, n_free)
        ``T A_b^{-1}`` (V^2).
    dedg : ndarray, shape (batch, n_trainable)
        ``<dE/dg>_b = 1/2 (mean drop^2 + T a^T A_b^{-1} a)`` (V^2).
    loss : ndarray, shape (batch,)
        ``<L>_b`` (V^2).
    loss_gradient : ndarray, shape (batch, n_trainable)
        ``d<L>_b/dg`` (V^2/S), equal to ``-(1/T) Cov_b(L, dE/dg)``.
    free_energy : ndarray, shape (batch,)
        ``F_b = E_b(mu_b) + (T/2) log det A_b`` (W), up to a constant independent of b and g.
    """

    beta: float
    mean: np.ndarray
    covariance: np.ndarray
    dedg: np.ndarray
    loss: np.ndarray
    loss_gradient: np.ndarray
    free_energy: np.ndarray


def is_linear(model) -> bool:
    """True when E_b is quadratic in the free voltages (no diodes, squared loss)."""
    return not model.diode_names and model.loss == "squared"


def _require_linear(model) -> None:
    if not is_linear(model):
        what = f"diodes ({', '.join(model.diode_names[:3])}...)" if model.diode_names else \
            f"the {model.loss} loss"
        raise CircuitError(f"circuit {model.circuit.name!r}: the exact Gaussian sampler needs a "
                           f"linear network, but it has {what}; use the Langevin sampler")


def gaussian_moments(model, temperature: float, inputs, beta: float = 0.0,
                     targets=None) -> GaussianMoments:
    """Closed-form Gibbs moments of a linear network (see :class:`GaussianMoments`).

    ``E_b(z) = 1/2 z^T A_b z - b_b^T z + const``; ``p_b = N(A_b^{-1} b_b, T A_b^{-1})``. With
    ``a_k`` the row of drop ``k``'s dependence on ``z``, ``d_k`` its mean drop, ``O`` the outputs'
    rows and ``r = <V_out> - y``::

        d<L>_b/dg_k = -d_k r^T O A_b^{-1} a_k - (T/2) |O A_b^{-1} a_k|^2

    (differentiating ``<L>_b = 1/2 |r|^2 + (T/2) tr(O A_b^{-1} O^T)`` through ``mu_b`` and
    ``A_b``).

    Raises
    ------
    CircuitError
        For a network that is not linear.
    """
    _require_linear(model)
    temperature = _check_temperature(temperature)
    s, y, beta = model.context(inputs, beta, targets)
    batch, n = s.shape[0], model.n_free
    zeros = np.zeros((batch, n))
    grad0, hess = model.gradient_hessian(zeros, s, y, beta)
    mean = -np.linalg.solve(hess, grad0[..., None])[..., 0]
    inverse = np.linalg.inv(hess)
    v = model.voltages_at(mean, s)
    mask = model.trainable_resistors >= 0
    rows = model.trainable_resistors[mask]
    cols = np.flatnonzero(mask)
    a = model.resistor_map[rows].toarray()                                     # (k, n)
    drops = (model.resistor_incidence[rows] @ v.T).T                                  # (batch, k)
    ainv = np.einsum("bij,kj->bki", inverse, a)                          # A^-1 a_k (batch, k, n)
    var_drop = np.einsum("kn,bkn->bk", a, ainv) * temperature
    n_train = len(model.circuit.trainable)
    dedg = np.zeros((batch, n_train))
    dedg[:, cols] = 0.5 * (drops * drops + var_drop)
    o = model.output_map                                                       # (n_out, n)
    r = v[:, model.output_columns] - y
    oa = np.einsum("on,bkn->bko", o, ainv)                               # O A^-1 a_k
    grad = np.zeros((batch, n_train))
    grad[:, cols] = -drops * np.einsum("bo,bko->bk", r, oa) - 0.5 * temperature * \
        (oa * oa).sum(axis=2)
    out_var = np.einsum("on,bnm,om->bo", o, inverse, o) * temperature
    loss = 0.5 * (r * r + out_var).sum(axis=1)
    energy = model.energy_terms(mean, s, y, beta)[0]
    free_energy = energy + 0.5 * temperature * np.linalg.slogdet(hess)[1]
    return GaussianMoments(beta, mean, inverse * temperature, dedg, loss, grad, free_energy)


class GaussianSampler(ModelSampler):
    """Exact iid samples of a linear network's Gibbs law ``N(mu_b, T A_b^{-1})``.

    Parameters
    ----------
    model : EnergyModel
        A linear network (no diodes), squared loss.
    temperature : float
        T (W).
    blocks : int
        Independent blocks the samples are split into for standard errors.

    Notes
    -----
    The same ``seed`` gives the same standard normal draws ``xi`` at every ``b``: the phases
    are then coupled (``z_b = mu_b + L_b xi``), which leaves every phase's law exact and makes
    differences between phases much less noisy (common random numbers).
    """

    name = "gaussian"

    def __init__(self, model, temperature: float, blocks: int = 32):
        super().__init__(model, temperature)
        _require_linear(model)
        self.blocks = int(blocks)

    def sample(self, inputs, beta: float, targets, samples: int, seed: int) -> PhaseSamples:
        """``samples`` draws per input at nudging strength ``beta`` (S) (:class:`PhaseSamples`)."""
        per_block = _sample_count(samples, self.blocks)
        moments = gaussian_moments(self.model, self.temperature, inputs, beta, targets)
        s, y, _ = self.model.context(inputs, beta, targets)
        batch, n = moments.mean.shape
        rng = np.random.default_rng(seed)
        m = self.blocks * per_block
        xi = rng.standard_normal((batch, m, n))
        chol = np.linalg.cholesky(moments.covariance)
        z = moments.mean[:, None, :] + np.einsum("bij,bmj->bmi", chol, xi)
        dedg, loss = self.measure(z.reshape(batch * m, n), np.repeat(s, m, axis=0),
                                  np.repeat(y, m, axis=0))
        dedg = dedg.reshape(batch, self.blocks, per_block, -1)
        loss = loss.reshape(batch, self.blocks, per_block)
        return PhaseSamples(float(beta), dedg, loss, 1.0, float(m), {"sampler": self.name},
                            z.reshape(batch, self.blocks, per_block, n))


# -- Langevin dynamics ----------------------------------------------------------------------------
class LangevinSampler(ModelSampler):
    """Batched Langevin dynamics of the circuit's free node voltages (any energy-based circuit).

    Each of ``chains`` independent chains per input runs

        z' = z - dt C^{-1} dE_b/dz + sqrt(2 T dt / C) xi,     xi ~ N(0, 1)

    (Euler-Maruyama of ``C dz = -dE_b/dz dt + sqrt(2 T C) dW``). With ``metropolis=True``
    (default) each step is accepted with the Metropolis-Hastings probability of that Gaussian
    proposal (MALA), so the stationary law is exactly ``exp(-E_b/T)``; with ``False`` it is the
    plain physical discretisation (stationary bias O(dt / RC)).

    Parameters
    ----------
    model : EnergyModel
    temperature : float
        T (W).
    capacitance : float or dict, optional
        Node capacitance (F) to ground: one value for every free node, or ``{node: F}``
        (missing nodes take :data:`DEFAULT_CAPACITANCE`): the physical circuit's dynamics.
        None (default): each node's capacitance is proportional to its small-signal
        conductance at the equilibrium (``C_i = H_ii x 1 s``, a diagonal preconditioner), which
        leaves the stationary law unchanged and mixes faster.
    chains : int
        Independent chains per input (the blocks of the standard error).
    step : float
        ``dt`` as a fraction of the shortest node time constant ``C_i / H_ii`` at the
        equilibrium (``H`` the Hessian of ``E_b``, i.e. the node's total small-signal
        conductance); with preconditioning, ``dt = step`` s and every ``C_i / H_ii = 1`` s.
    burn_in : float
        Burn-in length in units of the measured autocorrelation time (at least 20 steps).
    thin : int, optional
        Keep every ``thin``-th step; default: the integrated autocorrelation time of a pilot
        run (rounded, at least 1). When given, no pilot runs and ``thin`` steps stand for the
        autocorrelation time in the burn-in (faster: for training).
    metropolis : bool
        MALA (exact) or plain Euler-Maruyama.
    """

    name = "langevin"

    def __init__(self, model, temperature: float, capacitance=None, chains: int = 64,
                 step: float = 0.5, burn_in: float = 10.0, thin: int | None = None,
                 metropolis: bool = True):
        super().__init__(model, temperature)
        self.chains = int(chains)
        if self.chains < 2:
            raise CircuitError("the Langevin sampler needs at least 2 chains per input")
        self.step, self.burn_in, self.thin = float(step), float(burn_in), thin
        self.metropolis = bool(metropolis)
        self.preconditioned = capacitance is None
        self.capacitance = None if capacitance is None else \
            node_capacitances(model.free_nodes, capacitance)

    def _time_step(self, z, s, y, beta):
        """Per-chain capacitances (F) and the time step (s) at equilibria ``z``."""
        _, hess = self.model.gradient_hessian(z, s, y, beta)
        diagonal = np.maximum(np.diagonal(hess, axis1=1, axis2=2), 1e-300)
        if self.preconditioned:
            return diagonal, self.step
        capacitance = np.broadcast_to(self.capacitance, diagonal.shape)
        return capacitance, float(self.step * np.min(capacitance / diagonal))

    def _steps(self, z, energy_model, rows, dt, count, rng, capacitance, record_every=0):
        """Run ``count`` steps from ``z`` (contexts ``rows`` of a :class:`ReducedEnergy`);
        returns the final state, the recorded states and the acceptance rate."""
        temp = self.temperature
        inv_c = 1.0 / capacitance
        noise = np.sqrt(2.0 * temp * dt * inv_c)
        energy, grad = energy_model.energy_gradient(z, rows)
        recorded, accepted = [], 0.0
        for step in range(count):
            xi = rng.standard_normal(z.shape)
            u = rng.random(z.shape[0])
            proposal = z - dt * grad * inv_c + noise * xi
            e_new, g_new = energy_model.energy_gradient(proposal, rows)
            if self.metropolis:
                forward = xi                                     # (z' - z + dt C^-1 g) / noise
                backward = (z - proposal + dt * g_new * inv_c) / noise
                with np.errstate(over="ignore", invalid="ignore"):
                    log_ratio = -(e_new - energy) / temp - 0.5 * (
                        (backward ** 2).sum(axis=1) - (forward ** 2).sum(axis=1))
                ok = np.isfinite(e_new) & (np.log(np.maximum(u, 1e-300)) < log_ratio)
            else:
                ok = np.ones(z.shape[0], dtype=bool)
            z = np.where(ok[:, None], proposal, z)
            energy = np.where(ok, e_new, energy)
            grad = np.where(ok[:, None], g_new, grad)
            accepted += ok.mean()
            if record_every and (step + 1) % record_every == 0:
                recorded.append(z)
        if not np.all(np.isfinite(z)):
            raise CircuitError("Langevin sampler diverged (non-finite voltages): use a smaller "
                               "step or metropolis=True")
        return z, recorded, accepted / max(count, 1)

    def sample(self, inputs, beta: float, targets, samples: int, seed: int) -> PhaseSamples:
        """``samples`` kept states per input at nudging strength ``beta`` (S), after burn-in and
        thinning; see :class:`PhaseSamples`. Deterministic for a given ``seed``."""
        per_chain = _sample_count(samples, self.chains)
        model = self.model
        state = model.solve(inputs, beta, targets)
        s, y, beta = model.context(inputs, beta, targets)
        batch, chains = s.shape[0], self.chains
        rep = lambda a: np.repeat(a, chains, axis=0)   # noqa: E731
        z = rep(state.free)
        reduced, rows = ReducedEnergy(model, s, y, beta), rep(np.arange(batch))
        rng = np.random.default_rng(seed)
        capacitance, dt = self._time_step(state.free, s, y, beta)
        capacitance = rep(capacitance)
        # Pilot runs: measure the autocorrelation time (in steps) of the measured observables,
        # lengthening the pilot until Sokal's window fits well inside it.
        pilot, used = 200, 0
        for _ in range(0 if self.thin else 6):
            z, states, _ = self._steps(z, reduced, rows, dt, pilot, rng, capacitance, 1)
            used += pilot
            half = pilot // 2
            tau_steps = self._autocorrelation_steps(states[half:], s, y, rows)
            if 20 * tau_steps < pilot - half:
                break
            pilot *= 2
        if self.thin:               # no pilot: the given thinning stands for the correlation time
            tau_steps = float(self.thin)
        thin = int(self.thin) if self.thin else max(1, int(round(tau_steps)))
        burn = max(20, int(self.burn_in * tau_steps) - used)
        z, _, _ = self._steps(z, reduced, rows, dt, burn, rng, capacitance)
        z, states, acceptance = self._steps(z, reduced, rows, dt, per_chain * thin, rng,
                                            capacitance, record_every=thin)
        info = {"sampler": self.name, "dt": dt, "thin": thin, "burn_in_steps": burn + used,
                "acceptance": float(acceptance), "tau_steps": tau_steps,
                "preconditioned": self.preconditioned,
                "metropolis": self.metropolis}
        return self._collected(states, s, y, rows, (batch, chains, per_chain), beta, info)


class LaplaceSampler(ModelSampler):
    """Metropolis-Hastings around the equilibrium's Gaussian (Laplace) approximation.

    At each input's equilibrium ``mu`` (the deterministic free or nudged phase) the Hessian
    ``H`` of ``E_b`` (conductance Laplacian + nudge + diode small-signal conductances) defines
    the Gaussian ``N(mu, T H^-1)``, exact for a linear network and for a diode network as long
    as no diode changes its small-signal conductance much within the thermal spread. The
    proposal is the preconditioned Crank-Nicolson step

        z' = mu + rho (z - mu) + sqrt(1 - rho^2) T^1/2 H^-1/2 xi,     xi ~ N(0, 1),

    which leaves that Gaussian invariant, so the Metropolis-Hastings ratio only involves the
    non-Gaussian rest ``Phi(z) = E_b(z)/T - (z - mu)^T H (z - mu) / (2T)``: accept with
    probability ``min(1, exp(Phi(z) - Phi(z')))``. The stationary law is exactly
    ``exp(-E_b/T)`` for any ``rho`` in [0, 1). ``rho = 0`` is an independence sampler (iid
    exact draws, acceptance 1, on a linear network); ``rho`` is raised during the burn-in
    (0, 0.5, 0.8, 0.9, 0.95, 0.98) until the acceptance rate is at least ``min_acceptance``,
    then fixed. With the same seed the phases draw the same ``xi`` (common random numbers), so
    on a nearly linear network ``z_b = mu_b + L_b xi`` is coupled across phases like
    :class:`GaussianSampler`'s draws.

    Not a physical dynamics (unlike :class:`LangevinSampler`): a sampler of the same Gibbs law,
    much faster on weakly nonlinear networks (training).

    Parameters
    ----------
    model : EnergyModel
    temperature : float
        T (W).
    chains : int
        Independent chains per input (the blocks of the standard error).
    burn_in : int
        Steps dropped at the start of each chain (the chains start at ``mu``), after the
        ``rho`` search.
    thin : int, optional
        Keep every ``thin``-th step; default: the integrated autocorrelation time measured on
        the burn-in and a pilot (rounded, at least 1).
    min_acceptance : float
        Acceptance rate aimed at by the ``rho`` search.
    """

    name = "laplace"
    RHOS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98)

    def __init__(self, model, temperature: float, chains: int = 16, burn_in: int = 20,
                 thin: int | None = None, min_acceptance: float = 0.3):
        super().__init__(model, temperature)
        self.chains = int(chains)
        if self.chains < 2:
            raise CircuitError("the Laplace sampler needs at least 2 chains per input")
        self.burn_in, self.thin = int(burn_in), thin
        self.min_acceptance = float(min_acceptance)

    def _steps(self, z, phi, reduced, rows, mu, chol, rho, count, rng, record_every=0):
        temp = self.temperature
        spread = math.sqrt(1.0 - rho * rho)
        recorded, accepted = [], 0.0
        for step in range(count):
            xi = rng.standard_normal(z.shape)
            u = rng.random(z.shape[0])
            proposal = mu + rho * (z - mu) + spread * np.einsum("mij,mj->mi", chol, xi)
            phi_new = self._phi(proposal, reduced, rows, mu, temp)
            with np.errstate(over="ignore", invalid="ignore"):
                ok = np.isfinite(phi_new) & (np.log(np.maximum(u, 1e-300)) < phi - phi_new)
            z = np.where(ok[:, None], proposal, z)
            phi = np.where(ok, phi_new, phi)
            accepted += ok.mean()
            if record_every and (step + 1) % record_every == 0:
                recorded.append(z)
        return z, phi, recorded, accepted / max(count, 1)

    def _phi(self, z, reduced, rows, mu, temp):
        energy = reduced.energy_gradient(z, rows, gradient=False)[0]
        d = z - mu
        with np.errstate(over="ignore", invalid="ignore"):
            return (energy - 0.5 * np.einsum("mi,mij,mj->m", d, self._hess, d)) / temp

    def sample(self, inputs, beta: float, targets, samples: int, seed: int) -> PhaseSamples:
        """``samples`` kept states per input at nudging strength ``beta`` (S); see
        :class:`PhaseSamples`. Deterministic for a given ``seed``."""
        per_chain = _sample_count(samples, self.chains)
        model, temp = self.model, self.temperature
        # a nudged phase starts Newton from the free phase of the same inputs and conductances
        # (the free phase itself always starts cold, so results never depend on call history)
        key = (np.asarray(inputs, dtype=float).tobytes(), model.resistor_conductances.tobytes())
        initial = self._warm[1] if beta != 0 and getattr(self, "_warm", None) and \
            self._warm[0] == key else None
        state = model.solve(inputs, beta, targets, initial=initial)
        if beta == 0:
            self._warm = (key, state.free)
        s, y, beta = model.context(inputs, beta, targets)
        batch, chains, n = s.shape[0], self.chains, model.n_free
        hess = model.gradient_hessian(state.free, s, y, beta)[1]
        chol_h = np.linalg.cholesky(hess)                        # H = L L^T
        eye = np.broadcast_to(np.eye(n), hess.shape)
        # T^1/2 L^-T: the square root of T H^-1
        root = math.sqrt(temp) * np.swapaxes(np.linalg.solve(chol_h, eye), 1, 2)
        rows = np.repeat(np.arange(batch), chains)
        reduced = ReducedEnergy(model, s, y, beta)
        mu, chol, self._hess = state.free[rows], root[rows], hess[rows]
        rng = np.random.default_rng(seed)
        z = mu.copy()
        phi = self._phi(z, reduced, rows, mu, temp)
        # rho search on short pilots (part of the burn-in)
        rho, used = self.RHOS[-1], 0
        for candidate in self.RHOS:
            z_try, phi_try, _, acc = self._steps(z, phi, reduced, rows, mu, chol, candidate,
                                                 10, rng)
            used += 10
            z, phi = z_try, phi_try
            if acc >= self.min_acceptance:
                rho = candidate
                break
        z, phi, _, _ = self._steps(z, phi, reduced, rows, mu, chol, rho, self.burn_in, rng)
        used += self.burn_in
        if self.thin:
            thin = int(self.thin)
            tau_steps = float(thin)
        else:
            pilot = 64
            z, phi, states, _ = self._steps(z, phi, reduced, rows, mu, chol, rho, pilot, rng, 1)
            used += pilot
            tau_steps = self._autocorrelation_steps(states, s, y, rows)
            thin = max(1, int(round(tau_steps)))
        z, phi, states, acceptance = self._steps(z, phi, reduced, rows, mu, chol, rho,
                                                 per_chain * thin, rng, record_every=thin)
        info = {"sampler": self.name, "rho": rho, "thin": thin, "burn_in_steps": used,
                "acceptance": float(acceptance), "tau_steps": tau_steps}
        return self._collected(states, s, y, rows, (batch, chains, per_chain), beta, info)


#: Sampler settings of a training minibatch (``native_sampler(..., training=True)``): fewer
#: chains and a shorter run than ``grad``'s defaults (the configuration of the digits study).
TRAINING_SAMPLERS = {"langevin": {"chains": 16, "thin": 4, "burn_in": 10.0},
                     "laplace": {"chains": 16, "burn_in": 10, "thin": 2}}


def native_sampler(model, temperature: float, capacitance=None, training: bool = False):
    """The Gibbs sampler of the software energy the commands use.

    Exact Gaussian draws for a linear network; otherwise Metropolis with Laplace proposals
    (the fastest exact sampler) unless node capacitances are given, whose physical dynamics
    Langevin sampling follows. ``training``: the minibatch settings of
    :data:`TRAINING_SAMPLERS` (else ``grad``'s: each sampler's defaults, 64 Laplace chains).
    """
    if is_linear(model):
        return GaussianSampler(model, temperature)
    if capacitance is None:
        options = TRAINING_SAMPLERS["laplace"] if training else {"chains": 64}
        return LaplaceSampler(model, temperature, **options)
    options = TRAINING_SAMPLERS["langevin"] if training else {}
    return LangevinSampler(model, temperature, capacitance=capacitance, **options)


def node_capacitances(nodes, capacitance=None) -> np.ndarray:
    """Capacitance (F) of each of ``nodes``: a number for all, a ``{node: F}`` mapping, or None.

    Raises
    ------
    CircuitError
        For a non-positive value or a node name that is not a free node.
    """
    if capacitance is None:
        values = np.full(len(nodes), DEFAULT_CAPACITANCE)
    elif isinstance(capacitance, dict):
        unknown = sorted(set(capacitance) - set(nodes))
        if unknown:
            raise CircuitError(f"node capacitance given for {unknown[0]!r}, which is not a free "
                               f"node (free nodes: {', '.join(nodes[:8])})")
        values = np.array([float(capacitance.get(node, DEFAULT_CAPACITANCE)) for node in nodes])
    else:
        values = np.full(len(nodes), float(capacitance))
    if not np.all(np.isfinite(values) & (values > 0)):
        raise CircuitError("node capacitances must be finite and > 0 (F)")
    return values


# -- exact values of nonlinear networks by quadrature ---------------------------------------------
@dataclass
class QuadratureMoments:
    """Gibbs expectations computed by integration over a grid of free voltages, per input.

    Attributes
    ----------
    beta : float
    dedg : ndarray, shape (batch, n_trainable)
        ``<dE/dg>_b`` (V^2).
    loss : ndarray, shape (batch,)
        ``<L>_b`` (V^2).
    loss_gradient : ndarray, shape (batch, n_trainable)
        ``-(1/T) Cov_b(L, dE/dg)`` (V^2/S).
    """

    beta: float
    dedg: np.ndarray
    loss: np.ndarray
    loss_gradient: np.ndarray


def has_exact_moments(model) -> bool:
    """Whether :func:`exact_thermal_gradient` can compute the Gibbs moments (closed form for
    linear networks, quadrature over 1 or 2 free nodes) rather than needing a long run."""
    return is_linear(model) or model.n_free in (1, 2)


def quadrature_moments(model, temperature: float, inputs, beta: float = 0.0, targets=None,
                       points: int | None = None, width: float = 14.0) -> QuadratureMoments:
    """Gibbs expectations of a small network (1 or 2 free nodes) by integration on a grid.

    The grid spans ``width`` local standard deviations (``sqrt(T / H_ii)`` at the equilibrium,
    widened to include the soft side of a diode) on each side of the equilibrium, with
    ``points`` nodes per dimension (default 4001 in 1-D, 401 in 2-D); the trapezoid rule on a
    Gibbs weight that is negligible at the edges converges spectrally.

    Raises
    ------
    CircuitError
        For more than 2 free nodes.
    """
    temperature = _check_temperature(temperature)
    n = model.n_free
    if n not in (1, 2):
        raise CircuitError(f"quadrature needs 1 or 2 free nodes, circuit {model.circuit.name!r} "
                           f"has {n}; use a long Langevin run instead")
    points = points or (4001 if n == 1 else 401)
    helper = ModelSampler(model, temperature)
    state = model.solve(inputs, beta, targets)
    s, y, beta = model.context(inputs, beta, targets)
    batch = s.shape[0]
    k = helper.n_trainable
    out_dedg, out_loss, out_grad = np.zeros((batch, k)), np.zeros(batch), np.zeros((batch, k))
    for row in range(batch):
        z0 = state.free[row]
        hess = model.gradient_hessian(z0[None], s[row:row + 1], y[row:row + 1], beta)[1][0]
        sd = np.sqrt(temperature / np.diagonal(hess))
        axes = [np.linspace(z0[i] - width * sd[i], z0[i] + width * sd[i], points)
                for i in range(n)]
        # Widen towards the soft side until the weight at the edge is negligible.
        for _ in range(20):
            mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, n)
            with np.errstate(over="ignore", invalid="ignore"):
                e = model.energy_terms(mesh, np.repeat(s[row:row + 1], len(mesh), axis=0),
                                 np.repeat(y[row:row + 1], len(mesh), axis=0), beta)[0]
            e = np.where(np.isfinite(e), e, np.inf)
            logw = -(e - e.min()) / temperature
            w = np.exp(logw).reshape([points] * n)
            grew = False
            for i in range(n):
                edge = np.moveaxis(w, i, 0)
                lo, hi = edge[0].max(), edge[-1].max()
                span = axes[i][-1] - axes[i][0]
                if lo > 1e-14:
                    axes[i] = np.linspace(axes[i][0] - 0.5 * span, axes[i][-1], points)
                    grew = True
                if hi > 1e-14:
                    axes[i] = np.linspace(axes[i][0], axes[i][-1] + 0.5 * span, points)
                    grew = True
            if not grew:
                break
        weights = w.ravel() / w.sum()
        dedg, loss = helper.measure(mesh, np.repeat(s[row:row + 1], len(mesh), axis=0),
                                    np.repeat(y[row:row + 1], len(mesh), axis=0))
        mean_d = weights @ dedg
        mean_l = weights @ loss
        out_dedg[row], out_loss[row] = mean_d, mean_l
        out_grad[row] = -(weights @ ((loss - mean_l)[:, None] * (dedg - mean_d))) / temperature
    return QuadratureMoments(beta, out_dedg, out_loss, out_grad)


# -- estimators -----------------------------------------------------------------------------------
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


def _covariance_statistic(phase: PhaseSamples, temperature: float, mask) -> np.ndarray:
    """``-(1/T) Cov(L, dE/dg)`` per trainable, batch mean, from the blocks in ``mask``."""
    d = phase.dedg[:, mask].reshape(phase.dedg.shape[0], -1, phase.dedg.shape[-1])
    l_ = phase.loss[:, mask].reshape(phase.loss.shape[0], -1)
    dc = d - d.mean(axis=1, keepdims=True)
    lc = l_ - l_.mean(axis=1, keepdims=True)
    m = d.shape[1]
    cov = np.einsum("bm,bmk->bk", lc, dc) / (m - 1)
    return -(cov.mean(axis=0)) / temperature


def _block_means(phase: PhaseSamples) -> np.ndarray:
    """Per-block batch-mean ``<dE/dg>`` (blocks, n_trainable): the mean over the blocks in a
    mask is the batch-mean over those blocks' samples (blocks have equal sizes)."""
    return phase.dedg.mean(axis=2).mean(axis=0)


def _regroup(phases: list) -> list:
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
        free, nudged = _regroup([free, nudged])
        phases, bs = [free, nudged], np.array([0.0, beta])
        # block means once: the jackknife's leave-one-out means are then cheap
        diff = (_block_means(nudged) - _block_means(free)) / beta
        value, stderr = jackknife(lambda m: diff[m].mean(axis=0), free.blocks)
    elif estimator == "covariance":
        phase = sampler.sample(inputs, beta, targets, samples, seed)
        phases, bs = [phase], np.array([beta])
        value, stderr = jackknife(lambda m: _covariance_statistic(phase, temperature, m),
                                  phase.blocks)
    else:
        bs, weights = gauss_legendre(beta, nodes)
        phases = _regroup([sampler.sample(inputs, b, targets, samples, seed) for b in bs])

        def statistic(mask):
            return sum(w * _covariance_statistic(p, temperature, mask)
                       for w, p in zip(weights, phases)) / beta

        value, stderr = jackknife(statistic, phases[0].blocks)
    loss = float(phases[0].loss.mean())
    ess = float(min(p.effective_samples for p in phases))
    return ThermalEstimate(estimator, beta, temperature, value, stderr, ess, loss, phases, bs)


# -- exact values ---------------------------------------------------------------------------------
def exact_thermal_gradient(model, temperature: float, inputs, targets, beta: float,
                           estimator: str = "chl") -> np.ndarray:
    """The exact expectation of an estimator (batch mean, V^2/S), in trainable order.

    ``chl`` and ``path``: ``(<dE/dg>_beta - <dE/dg>_0) / beta`` (the gradient of ``J_beta``);
    ``covariance``: ``d<L>_beta/dg``. Closed form for linear networks
    (:func:`gaussian_moments`), grid quadrature for 1-2 free nodes otherwise
    (:func:`quadrature_moments`).

    Raises
    ------
    CircuitError
        For a nonlinear network with more than 2 free nodes (no exact value is computed; the
        caller can run a long Langevin chain instead).
    """
    moments = gaussian_moments if is_linear(model) else quadrature_moments
    if estimator == "covariance":
        return moments(model, temperature, inputs, beta, targets).loss_gradient.mean(axis=0)
    if estimator not in ("chl", "path"):
        raise CircuitError(f"unknown estimator {estimator!r} (choose from "
                           f"{', '.join(ESTIMATORS)})")
    nudged = moments(model, temperature, inputs, beta, targets)
    free = moments(model, temperature, inputs, 0.0, targets)
    return (nudged.dedg - free.dedg).mean(axis=0) / beta


__all__ = ["ESTIMATORS", "DEFAULT_CAPACITANCE", "PhaseSamples", "GaussianMoments", "ModelSampler",
           "GaussianSampler", "LangevinSampler", "LaplaceSampler", "ReducedEnergy",
           "QuadratureMoments", "ThermalEstimate",
           "gaussian_moments", "quadrature_moments", "exact_thermal_gradient",
           "thermal_gradient", "integrated_autocorrelation_time", "jackknife",
           "gauss_legendre", "node_capacitances", "is_linear"]
