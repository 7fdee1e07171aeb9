"""Gibbs samples from the circuit itself in ngspice: noisy transients (``TRNOISE``).

Every free node ``i`` of the circuit gets a capacitor ``CTH_<node>`` (``C_i``, F) to ground
and a noise current source ``ITH_<node>`` with ngspice's ``TRNOISE(NA NT 0 0)``: Gaussian
values of rms ``NA`` (A) every ``NT`` (s), linearly interpolated in between. The node voltages
then follow ``C dV = -dE_b/dV dt + i(t) dt``. White noise of intensity ``2 T C_i`` (A^2 s) gives
the Gibbs law ``exp(-E_b/T)``; interpolated samples every ``NT`` have the low-frequency
intensity ``NA^2 NT``, so

    NA_i = sqrt(2 T C_i / NT).

Linear interpolation makes the noise slightly coloured: a mode relaxing at rate ``lambda`` gets
its variance multiplied by ``kappa = 2 int_0^2 B3(x) exp(-lambda NT x) dx ~ 1 - lambda NT / 2``
(``B3`` the cubic B-spline, the autocorrelation of the hat function). For one node to ground
(``lambda = g / C``), ``Var(V) = kappa T / g``; with ``NT`` = 1/40 of the shortest node time
constant (default) the bias is below 1.3 %, and ``tests/test_thermal_ngspice.py`` checks
``Var(V) = T/g`` within its standard error. To first order the bias is
``-(T NT / 2) C^{-1}``, the same at every nudge, so it cancels from the CHL difference.

The transient runs in the backend's already-loaded shared-library session (never a process
per run): the noisy netlist is loaded in place of the backend's circuit (the backend reloads
its own on its next solve), sources are set with ``alter``, and ``tran NT tstop 0 NT`` runs
from the DC operating point. Node voltages are resampled on a uniform grid of spacing ``NT``,
the first ``burn_in`` slowest relaxation times are dropped, the rest is thinned by the measured
integrated autocorrelation time and cut into contiguous blocks for the standard errors.

ngspice 39's ``TRNOISE`` sequence does not follow ``setseed`` (measured: two runs after the same
``setseed`` differ), so ngspice samples are reproducible in distribution only; ``seed`` is
still passed to ``setseed``.

Units: V, A, S, F, s; T in W.
"""

from __future__ import annotations

import math
import time

import numpy as np

from eqprop_hw.errors import BackendError, CircuitError
from eqprop_hw.netlist import write_netlist
from eqprop_hw.reference import EnergyModel
from eqprop_hw.thermal import (PhaseSamples, _check_temperature, _ModelSampler,
                               integrated_autocorrelation_time, node_capacitances)

#: Integration tolerances of the noisy transient (the DC netlists' reltol=1e-9 would make
#: ngspice take ~40 time points per noise sample; these take ~2-4, measured).
TRANSIENT_OPTIONS = ".options reltol=1e-4 abstol=1e-14 vntol=1e-9 method=trap"

#: Default time constant (s) of every node when capacitances are matched to conductances.
DEFAULT_TIME_CONSTANT = 1e-6


def interpolation_factor(rate_times_step: float) -> float:
    """``kappa(a) = 2 int_0^2 B3(x) exp(-a x) dx``: variance factor of an OU mode of rate
    ``lambda`` driven by linearly interpolated white samples every ``NT`` (``a = lambda NT``)."""
    x = np.linspace(0.0, 2.0, 4001)
    b3 = np.where(x < 1.0, 2.0 / 3.0 - x * x + 0.5 * x ** 3, (2.0 - x) ** 3 / 6.0)
    return float(2.0 * np.trapezoid(b3 * np.exp(-rate_times_step * x), x))


def noise_lines(nodes, capacitance, temperature: float, step: float) -> list[str]:
    """Netlist lines of the node capacitors and ``TRNOISE`` current sources.

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
    lines = []
    for node, c in zip(nodes, capacitance):
        rms = math.sqrt(2.0 * temperature * float(c) / step)
        lines.append(f"CTH_{node.upper()} {node} 0 {float(c)!r}")
        lines.append(f"ITH_{node.upper()} 0 {node} dc 0 trnoise({rms!r} {float(step)!r} 0 0)")
    return lines


class NgspiceSampler(_ModelSampler):
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
    """

    name = "ngspice"

    def __init__(self, backend, temperature: float, capacitance=None,
                 time_constant: float = DEFAULT_TIME_CONSTANT, step_fraction: float = 1 / 40,
                 blocks: int = 32, burn_in: float = 10.0):
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

    def _read(self, names):
        session = self.session
        out = []
        for name in names:
            info = session._get_vec(name.encode("ascii"))
            if not info or info.v_length < 1 or not info.v_realdata:
                raise BackendError(f"ngspice transient produced no vector {name!r}")
            n = info.v_length
            out.append(np.frombuffer(session._ffi.buffer(info.v_realdata, n * 8),
                                     dtype=float).copy())
        return out

    def sample(self, inputs, beta: float, targets, samples: int, seed: int) -> PhaseSamples:
        """Kept samples per input at nudging strength ``beta`` (S) from one transient per input.

        ``samples`` is the number of thinned samples aimed at; the run length is planned from
        the slowest relaxation time, and the effective sample size actually achieved is
        reported in the result.
        """
        backend, model = self.backend, self.model
        inputs_b, beta, targets_b = backend._prepare(inputs, beta, targets)
        if int(samples) < 2 * self.blocks:
            raise CircuitError(f"--samples must be at least {2 * self.blocks} (got {samples})")
        s, y, _ = model._context(inputs_b, beta, targets_b)
        capacitance = self._capacitances(inputs_b)
        state = model.solve(inputs_b, beta, targets_b)
        hess = model._grad_hess(state.free, s, y, beta)[1]
        diagonal = np.diagonal(hess, axis1=1, axis2=2)
        step = float(self.step_fraction * np.min(capacitance / diagonal))
        # Slowest relaxation time: 1 / smallest eigenvalue of C^-1/2 H C^-1/2.
        scaled = hess / np.sqrt(capacitance)[None, :, None] / np.sqrt(capacitance)[None, None, :]
        slowest = float(1.0 / np.min(np.linalg.eigvalsh(scaled)))
        burn = self.burn_in * slowest
        # Observables decorrelate within ~2 slowest times; plan 1.5x for safety.
        length = burn + int(samples) * 2.0 * slowest * 1.5
        netlist = write_netlist(backend.circuit, analysis="none", beta=0.0,
                                targets=[0.0] * len(backend.circuit.outputs), nudge_form="vccs")
        lines = netlist.rstrip().splitlines()
        end = len(lines) - 1 if lines[-1].strip().lower() == ".end" else len(lines)
        netlist = "\n".join(lines[:end] + noise_lines(model.free_nodes, capacitance,
                                                      self.temperature, step) +
                             [TRANSIENT_OPTIONS, ".end"])
        session = self.session = backend.session
        values = backend._controlled_values(inputs_b, targets_b, beta)
        names = ["time"] + list(backend.node_names)
        batch = inputs_b.shape[0]
        kept_d, kept_l, kept_z, taus = [], [], [], []
        started = time.perf_counter()
        with session.lock:
            session.load(netlist, self._token, backend.circuit.name + "_thermal")
            try:
                for row in range(batch):
                    backend._send([prefix + repr(float(v)) for prefix, v in
                                   zip(backend._alter_prefix, values[row])])
                    session.command(f"setseed {int(seed) + 1 + row}")
                    errors = session.command(f"tran {step!r} {length!r} 0 {step!r}")
                    if errors:
                        raise BackendError(f"ngspice transient failed for circuit "
                                           f"{backend.circuit.name!r}: {' | '.join(errors[-3:])}")
                    vectors = self._read(names)
                    session.destroy_plots()
                    self.stats["transients"] += 1
                    self.stats["timepoints"] += len(vectors[0])
                    t = vectors[0]
                    grid = np.arange(burn, t[-1], step)
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


__all__ = ["NgspiceSampler", "noise_lines", "interpolation_factor", "DEFAULT_TIME_CONSTANT"]
