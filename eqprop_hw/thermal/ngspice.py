"""Gibbs samples from the circuit itself in ngspice: noisy transients.

Every free node ``i`` of the circuit gets a capacitor ``CTH_<node>`` (``C_i``, F) to ground
and a noise current source ``ITH_<node>``: Gaussian values of rms ``NA`` (A), a new one every
``NT`` (s). The node voltages then follow ``C dV = -dE_b/dV dt + i(t) dt``. White noise of
intensity ``2 T C_i`` (A^2 s) gives the Gibbs law ``exp(-E_b/T)``; samples every ``NT`` have
the low-frequency intensity ``NA^2 NT``, so

    NA_i = sqrt(2 T C_i / NT).

Two ngspice sources (``noise=``):

``trrandom`` (default)
    ``TRRANDOM(2 NT 0 NA 0)``: each value is *held* for ``NT`` (zero-order hold). Between
    the switching times ``k NT`` the circuit is driven by constant currents, so the node
    voltages sampled at ``k NT`` follow an exact linear AR(1) recursion: a mode relaxing at
    rate ``lambda`` (``a = lambda NT``) has its variance multiplied by
    ``tanh(a/2) / (a/2) = 1 - a^2/12 + ...`` (second order in ``a``). Its values come from
    ngspice's uniform generator, which ``setseed N`` reseeds: the same spec, inputs and seed
    give the same samples (tested). One catch (ngspice 39, ``gauss0()`` in
    ``src/maths/misc/randnumb.c``): Gaussians are made in pairs and the second is cached for
    the next call, and ``setseed`` does not clear that cache. The netlist therefore always has
    an even number of these sources (a pad source on its own node when the free-node count is
    odd), so every transient draws an even number of values and leaves the cache empty;
    anything else in the same process that draws an odd number of ngspice Gaussians (a
    user's ``sgauss`` or ``trrandom`` netlist) breaks the reproducibility of the next run.
``trnoise``
    ``TRNOISE(NA NT 0 0)``: values linearly interpolated between the knots ``k NT``. The noise
    is then coloured: at the knots a mode's variance is multiplied by
    ``2 a (w0^2 + h^2 / (exp(2a) - 1)) = 1 - a/2 + ...`` with ``w0 = (a - 1 + exp(-a)) / a^2``
    and ``h = 2 (cosh a - 1) / a^2`` (first order in ``a``: 0.9876 at ``a`` = 1/40, 0.640 at
    ``a`` = 1; measured 0.9825 +- 0.0153 and 0.6460 +- 0.0069 on one node). ngspice 39 draws
    these values from its Wallace Gaussian pool, which is filled once per process from the
    process id and is not reset by ``setseed``, ``set rndseed`` (also in ``.spiceinit``) or
    ``.options seed`` (all measured: two runs differ), so ``trnoise`` samples are
    reproducible in distribution only.

:func:`variance_factor` gives both factors and :func:`predicted_covariance` the resulting
stationary covariance of a linear network, mode by mode (the noise is isotropic in the
coordinates ``C^1/2 V``, so the modes of ``C^-1/2 H C^-1/2`` decouple exactly). With ``NT`` =
1/40 of the shortest node time constant of the phase being run (default, the nudge
included), ``a`` <= ~1/40 for the fastest mode: ``trnoise`` variances are then up to ~1.3 %
low on the fast modes (the nudged outputs), ``trrandom`` ones < 0.01 %.

The transient runs in the backend's already-loaded shared-library session (never a process
per run): the noisy netlist is loaded in place of the backend's circuit (the backend reloads
its own on its next solve), sources are set with ``alter``, ``setseed`` is given, and
``tran NT tstop 0 NT`` runs from the DC operating point. Node voltages are read at the knots
``k NT`` (interpolated between ngspice's time points, which include the knots as
breakpoints), the first ``burn_in`` slowest relaxation times are dropped, the rest is thinned
by the measured integrated autocorrelation time and cut into contiguous blocks for the
standard errors.

Units: V, A, S, F, s; T in W.
"""

from __future__ import annotations

import math
import time

import numpy as np

from eqprop_hw.errors import BackendError, CircuitError
from eqprop_hw.circuit.batch import prepare_batch
from eqprop_hw.circuit.netlist import netlist_lines
from eqprop_hw.learning.reference import EnergyModel
from eqprop_hw.thermal.gibbs import (ModelSampler, PhaseSamples, integrated_autocorrelation_time,
                                     node_capacitances)

#: Integration tolerances of the noisy transient (the DC netlists' reltol=1e-9 would make
#: ngspice take ~40 time points per noise sample; these take ~2-4, measured).
TRANSIENT_OPTIONS = ".options reltol=1e-4 abstol=1e-14 vntol=1e-9 method=trap"

#: Default time constant (s) of every node when capacitances are matched to conductances.
DEFAULT_TIME_CONSTANT = 1e-6


def variance_factor(rate_times_step, kind: str = "trrandom"):
    """Stationary variance factor, at the knots ``k NT``, of a mode of rate ``lambda`` driven by
    noise samples every ``NT`` (``a = lambda NT``): ``tanh(a/2) / (a/2)`` for held values
    (``trrandom``), ``2 a (w0^2 + h^2 / (exp(2a) - 1))`` for linearly interpolated ones
    (``trnoise``; see the module docstring). 1 at ``a = 0``."""
    a = np.maximum(np.asarray(rate_times_step, dtype=float), 1e-12)
    if check_noise(kind) == "trrandom":
        return np.tanh(a / 2) / (a / 2)
    small = a < 1e-3                     # series where the closed forms cancel
    w0 = np.where(small, 0.5 - a / 6.0 + a * a / 24.0,
                  (a - 1.0 + np.exp(-a)) / np.where(small, 1.0, a * a))
    h = np.where(small, 1.0 + a * a / 12.0,
                 2.0 * (np.cosh(a) - 1.0) / np.where(small, 1.0, a * a))
    return 2.0 * a * (w0 * w0 + h * h / np.expm1(2.0 * a))


def predicted_covariance(hessian, capacitance, step: float, temperature: float,
                         kind: str = "trrandom") -> np.ndarray:
    """Stationary covariance (V^2) at the knots of the free voltages of a linear network driven
    by ``kind`` noise: ``C^-1/2 U diag(T f(lambda NT) / lambda) U^T C^-1/2`` with ``lambda``,
    ``U`` the eigenpairs of ``C^-1/2 H C^-1/2`` and ``f`` :func:`variance_factor`.
    (``T H^-1`` when ``NT -> 0``.)"""
    root = 1.0 / np.sqrt(np.asarray(capacitance, dtype=float))
    scaled = root[:, None] * np.asarray(hessian, dtype=float) * root[None, :]
    rates, modes = np.linalg.eigh(scaled)
    weights = temperature * variance_factor(rates * step, kind) / rates
    return root[:, None] * ((modes * weights) @ modes.T) * root[None, :]


def interpolation_factor(rate_times_step: float) -> float:
    """``kappa(a) = 2 int_0^2 B3(x) exp(-a x) dx``: the *time-averaged* variance factor of an OU
    mode of rate ``lambda`` driven by linearly interpolated white samples every ``NT``
    (``a = lambda NT``); at the knots, where the sampler reads, see :func:`variance_factor`."""
    x = np.linspace(0.0, 2.0, 4001)
    b3 = np.where(x < 1.0, 2.0 / 3.0 - x * x + 0.5 * x ** 3, (2.0 - x) ** 3 / 6.0)
    return float(2.0 * np.trapezoid(b3 * np.exp(-rate_times_step * x), x))


NOISE_KINDS = ("trrandom", "trnoise")


def check_noise(kind: str) -> str:
    """``kind`` if it names an ngspice noise source of :data:`NOISE_KINDS`.

    Raises
    ------
    CircuitError
        For any other name.
    """
    if kind not in NOISE_KINDS:
        raise CircuitError(f"unknown ngspice noise source {kind!r} (choose from "
                           f"{', '.join(NOISE_KINDS)})")
    return kind


def noise_lines(nodes, capacitance, temperature: float, step: float,
                kind: str = "trrandom") -> list[str]:
    """Netlist lines of the node capacitors and noise current sources (``kind``: ``trrandom``
    or ``trnoise``, see the module docstring).

    Parameters
    ----------
    nodes : list of str
        Free nodes.
    capacitance : ndarray
        ``C_i`` (F) per node.
    temperature : float
        T (W).
    step : float
        ``NT`` (s), the spacing of the noise samples.
    """
    check_noise(kind)
    lines = []
    for node, c in zip(nodes, capacitance):
        rms = math.sqrt(2.0 * temperature * float(c) / step)
        lines.append(f"CTH_{node.upper()} {node} 0 {float(c)!r}")
        if kind == "trnoise":
            source = f"trnoise({rms!r} {float(step)!r} 0 0)"
        else:                                       # Gaussian (type 2), held for NT, mean 0
            source = f"trrandom(2 {float(step)!r} 0 {rms!r} 0)"
        lines.append(f"ITH_{node.upper()} 0 {node} dc 0 {source}")
    if kind == "trrandom" and len(nodes) % 2:
        # ngspice's gauss0() makes Gaussians in pairs and keeps the second for the next call,
        # which setseed does not clear: an even number of sources (all drawing at the same
        # times) keeps that cache empty at the start of every transient, so that setseed
        # alone fixes the sequence. The pad source drives a 1 Ohm resistor on its own node.
        lines.append("RTH_PAD thpad 0 1.0")
        lines.append(f"ITH_PAD 0 thpad dc 0 trrandom(2 {float(step)!r} 0 1e-30 0)")
    return lines


class NgspiceSampler(ModelSampler):
    """Gibbs samples of an ngspice backend's circuit by noisy transients.

    Parameters
    ----------
    backend : NgspiceBackend
        Its session runs the transients; its circuit (current values) is simulated.
    temperature : float
        T (W).
    capacitance : float or dict, optional
        Node capacitances (F) (one value, or ``{node: F}``). Default: matched capacitances
        ``C_i = tau0 H_ii`` from the free phase of the first input (``H_ii`` the node's total
        small-signal conductance), so that every node relaxes in ``tau0``.
    time_constant : float
        ``tau0`` (s) of the matched default.
    step_fraction : float
        ``NT`` as a fraction of the shortest node time constant of the phase being run.
    blocks : int
        Contiguous blocks of a run for the standard errors.
    burn_in : float
        Dropped start of each run, in slowest relaxation times.
    noise : {"trrandom", "trnoise"}
        ngspice noise source (module docstring): held values (default; reseeded by
        ``setseed``, so same seed -> same samples, variance bias O((lambda NT)^2)) or
        interpolated ones (not reproducible, bias ~ -lambda NT / 2).
    """

    name = "ngspice"

    #: Called with the fraction (0..1) of the current :meth:`sample` call done, from ngspice's
    #: status lines during each transient (a progress bar's hook), or None.
    on_fraction = None

    def __init__(self, backend, temperature: float, capacitance=None,
                 time_constant: float = DEFAULT_TIME_CONSTANT, step_fraction: float = 1 / 40,
                 blocks: int = 32, burn_in: float = 10.0, noise: str = "trrandom"):
        self.noise = check_noise(noise)
        if getattr(backend, "name", None) != "ngspice":
            raise BackendError("NgspiceSampler needs an ngspice backend")
        if backend.loss != "squared":
            raise CircuitError("finite-temperature sampling supports the squared loss only")
        super().__init__(EnergyModel(backend.circuit), temperature)
        self.backend = backend
        self.capacitance_option = capacitance
        self.time_constant = float(time_constant)
        self.step_fraction = float(step_fraction)
        self.blocks = int(blocks)
        self.burn_in = float(burn_in)
        self._token = object()
        self.stats = {"transients": 0, "seconds": 0.0, "timepoints": 0}

    def set_trainable(self, values) -> None:
        """New trainable conductances (S) for the model and the backend."""
        self.model.set_trainable(values)
        self.backend.set_trainable(values)

    def _capacitances(self, inputs) -> np.ndarray:
        model = self.model
        if self.capacitance_option is not None:
            return node_capacitances(model.free_nodes, self.capacitance_option)
        free = model.solve(inputs[:1]).free
        hess = model.hessian(free, inputs[:1])[0]
        return self.time_constant * np.diagonal(hess).copy()

    def _reporting(self, session, row: int, rows: int):
        """While transient ``row`` of ``rows`` runs: its progress to :attr:`on_fraction`."""
        import contextlib
        report = self.on_fraction
        if report is None:
            return contextlib.nullcontext()
        return session.status_to(lambda fraction: report((row + fraction) / rows))

    def _read(self, names):
        session = self.session
        out = []
        for name in names:
            values = session.read_vector(name)
            if values is None:
                raise BackendError(f"ngspice transient produced no vector {name!r}")
            out.append(values)
        return out

    def sample(self, inputs, beta: float, targets, samples: int, seed: int) -> PhaseSamples:
        """Kept samples per input at nudging strength ``beta`` (S) from one transient per input.

        ``samples`` is the number of thinned samples aimed at; the run length is planned from
        the slowest relaxation time, and the effective sample size actually achieved is
        reported in the result.

        Long because: one transient per input with the session lock held across loading,
        ``alter``\\ s, runs and reads; the thermal code is being changed by another developer,
        so its split waits for that work (edits here kept minimal).
        """
        backend, model = self.backend, self.model
        inputs_b, beta, targets_b = prepare_batch(inputs, beta, targets, backend.n_inputs,
                                                  backend.n_outputs, backend.loss, backend.circuit)
        if int(samples) < 2 * self.blocks:
            raise CircuitError(f"--samples must be at least {2 * self.blocks} (got {samples})")
        s, y, _ = model.context(inputs_b, beta, targets_b)
        capacitance = self._capacitances(inputs_b)
        state = model.solve(inputs_b, beta, targets_b)
        hess = model.gradient_hessian(state.free, s, y, beta)[1]
        diagonal = np.diagonal(hess, axis1=1, axis2=2)
        step = float(self.step_fraction * np.min(capacitance / diagonal))
        # Slowest relaxation time: 1 / smallest eigenvalue of C^-1/2 H C^-1/2.
        scaled = hess / np.sqrt(capacitance)[None, :, None] / np.sqrt(capacitance)[None, None, :]
        slowest = float(1.0 / np.min(np.linalg.eigvalsh(scaled)))
        burn = self.burn_in * slowest
        # Observables decorrelate within ~2 slowest times; plan 1.5x for safety.
        length = burn + int(samples) * 2.0 * slowest * 1.5
        lines = netlist_lines(backend.circuit, analysis="none", beta=0.0,
                              targets=[0.0] * len(backend.circuit.outputs), nudge_form="vccs")
        assert lines[-1] == ".end"
        netlist = (lines[:-1] + noise_lines(model.free_nodes, capacitance, self.temperature,
                                            step, self.noise) + [TRANSIENT_OPTIONS, ".end"])
        session = self.session = backend.session
        values = backend.controlled_values(inputs_b, targets_b, beta)
        names = ["time"] + list(backend.node_names)
        batch = inputs_b.shape[0]
        kept_d, kept_l, kept_z, taus = [], [], [], []
        started = time.perf_counter()
        with session.lock:
            session.load(netlist, self._token, backend.circuit.name + "_thermal")
            try:
                for row in range(batch):
                    backend.alter_controlled(values[row])
                    session.command(f"setseed {int(seed) + 1 + row}")
                    with self._reporting(session, row, batch):
                        errors = session.command(f"tran {step!r} {length!r} 0 {step!r}")
                    if errors:
                        raise BackendError(f"ngspice transient failed for circuit "
                                           f"{backend.circuit.name!r}: {' | '.join(errors[-3:])}")
                    vectors = self._read(names)
                    session.destroy_plots()
                    self.stats["transients"] += 1
                    self.stats["timepoints"] += len(vectors[0])
                    t = vectors[0]
                    # on the noise grid k NT (held noise: exact AR(1) steps between them)
                    grid = np.arange(math.ceil(burn / step), int(t[-1] / step) + 1) * step
                    grid = grid[grid <= t[-1]]
                    v = np.stack([np.interp(grid, t, vec) for vec in vectors[1:]], axis=1)
                    free_cols = [backend.node_names.index(n) for n in model.free_nodes]
                    z = v[:, free_cols]
                    dedg, loss = self.measure(z, np.repeat(s[row:row + 1], len(z), axis=0),
                                              np.repeat(y[row:row + 1], len(z), axis=0))
                    obs = np.concatenate([dedg, loss[:, None]], axis=1)
                    tau = float(np.max(integrated_autocorrelation_time(obs[None])))
                    thin = max(1, int(round(tau)))
                    taus.append(tau * step)
                    kept_d.append(dedg[::thin])
                    kept_l.append(loss[::thin])
                    kept_z.append(z[::thin])
            finally:
                session.remove(self._token)
        self.stats["seconds"] += time.perf_counter() - started
        kept = min(len(k) for k in kept_l)
        blocks = min(self.blocks, kept // 2)         # fewer blocks if thinning kept fewer
        if blocks < 4:
            raise BackendError(f"ngspice transient kept only {kept} samples (the measured "
                               "autocorrelation time is much longer than planned)")
        n = kept // blocks
        dedg = np.stack([k[:n * blocks] for k in kept_d]).reshape(batch, blocks, n, -1)
        loss = np.stack([k[:n * blocks] for k in kept_l]).reshape(batch, blocks, n)
        flat = np.concatenate([dedg, loss[..., None]], axis=3).reshape(batch, -1,
                                                                        dedg.shape[-1] + 1)
        tau_kept = float(max(np.max(integrated_autocorrelation_time(flat[i:i + 1]))
                             for i in range(batch)))
        info = {"sampler": self.name, "noise_step": step, "slowest_time": slowest,
                "run_time": length, "autocorrelation_time": max(taus),
                "capacitance": capacitance.tolist()}
        free = np.stack([k[:n * blocks] for k in kept_z]).reshape(batch, blocks, n, -1)
        return PhaseSamples(float(beta), dedg, loss, tau_kept, blocks * n / tau_kept, info,
                            free)


__all__ = ["NgspiceSampler", "noise_lines", "interpolation_factor", "variance_factor",
           "predicted_covariance", "NOISE_KINDS", "DEFAULT_TIME_CONSTANT"]
