"""LC transients in ngspice's shared library: the circuit is loaded once, then every run only
``alter``\\ s initial conditions, source waveforms and the nudge strength and issues ``tran``.

The session is :class:`eqprop_hw.backends.ngspice.NgspiceSession` (one ngspice per process).
Results are read back as vectors and the plot is destroyed after each run (memory stays flat).

Echo learning from measurements (:meth:`LCNgspice.hel_gradient`): a forward run from rest; the
end state is *measured* (node voltages, node fluxes from the flux integrators, inductor
currents) and written back time-reversed as initial conditions (every capacitor voltage
negated, fluxes and inductor currents kept); the echo runs play the inputs and targets
backwards with ``VNUDGEBETA`` at 0, +beta or -beta. Each trainable element's quantity is
integrated over the echo from the measured waveforms on ngspice's own time points
(trapezoidal): ``-1/2 (V_a - V_b)^2`` for a capacitor (``- dV^4/(12 v_nl^2)`` more for a
varactor), ``-U_L(x)/L`` (``-1/2 I^2`` when
linear) for an inductor.
"""

from __future__ import annotations

import time as _time

import numpy as np
from scipy.interpolate import CubicSpline

from eqprop_hw.errors import BackendError, ConvergenceError
from eqprop_hw.lc.echo import nudge_strengths, estimate_from_local
from eqprop_hw.lc.model import LCModel
from eqprop_hw.lc.netlist import (BETA_SOURCE, array_waveform, flux_node, lc_netlist_lines,
                                  waveform_text)
from eqprop_hw.circuit.netlist import fmt
from eqprop_hw.circuit.spice_grammar import join_lines


#: ngspice's truncation-error tolerance in echo runs: large enough that the step is always the
#: maximum step (``tstep * max_step_fraction``), so that the forward run and every echo take
#: the same steps and their discretization errors cancel in the echo's differences
#: (measured: docs/results/lc_echo.md)
ECHO_TRTOL = 1e3


class LCNgspice:
    """An LC network loaded in ngspice's shared library.

    Parameters
    ----------
    model : LCModel
    with_nudge : bool
        Load the nudge elements (``VNUDGEBETA``, ``VTGT{k}``, ``BNUDGE{k}``) so that echoes can
        be run by ``alter`` alone.
    session : NgspiceSession, optional
    method : {"trap", "gear"}
        Integration method (``gear`` is dissipative: a negative control only).

    Attributes
    ----------
    netlist : str
        The loaded netlist (no analysis card).
    stats : dict
        ``runs``, ``tran_seconds``, ``points`` (time points of the last run).
    """

    def __init__(self, model: LCModel, with_nudge: bool = True, session=None,
                 method: str = "trap"):
        from eqprop_hw.backends.ngspice import NgspiceSession
        self.model = model
        self.session = session or NgspiceSession.get()
        self._token = object()
        self.with_nudge = with_nudge
        self.method = method
        self._inputs = [_normal(model, w) for w in model.src_waveforms]
        self._targets = ([_normal(model, {"type": "dc", "value": 0.0})] * len(model.outputs)
                         if with_nudge else None)
        self.stats = {"runs": 0, "tran_seconds": 0.0, "points": 0, "loads": 0}
        self._values = dict(zip(model.trainable, model.theta0()))
        self.bank = None
        self._ic = None
        self._varactors = bool(np.isfinite(model.cap_v_nl).any())
        #: ngspice's truncation-error tolerance for the runs (None: the spec's, 1 by default);
        #: :meth:`hel_gradient` sets :data:`ECHO_TRTOL` for its runs
        self.trtol = None
        self._load()

    def load_bank(self, inputs, targets) -> None:
        """Load the circuit with S sampled sequences (forwards and backwards) as PWL sources
        selected by gate sources, so that :meth:`run` with ``sample=s`` only ``alter``-s.

        Parameters
        ----------
        inputs : ndarray (S, steps+1, n_in), or S lists of waveform dicts
            Input currents (A) on the grid, or waveforms (sines need no breakpoints).
        targets : ndarray (S, steps+1, n_out), or S lists of waveform dicts
            Targets (Wb or A) on the grid, or waveforms (e.g. coarse PWL).
        """
        model = self.model
        from eqprop_hw.lc.netlist import bank_entries
        inputs, targets = bank_entries(inputs), bank_entries(targets)
        if len(inputs) != len(targets):
            raise ValueError("bank: as many target sequences as input sequences are needed")
        for entry, width in [(e, len(model.src_names)) for e in inputs] + \
                [(e, len(model.outputs)) for e in targets]:
            if isinstance(entry, np.ndarray) and entry.shape != (model.steps + 1, width):
                raise ValueError(f"bank entry of shape {entry.shape} does not fit the grid "
                                 f"({model.steps + 1}, {width})")
        self.bank = {"inputs": inputs, "targets": targets,
                     "target_grid": [_entry_grid(model, e) for e in targets]}
        self.with_nudge = True
        with self.session.lock:
            self._load()

    def _kinds(self, inputs, targets):
        return ([w["type"] for w in inputs], None if targets is None
                else [w["type"] for w in targets])

    def _load(self):
        with self.session.lock:
            lines = lc_netlist_lines(self.model, inputs=self._inputs,
                                     targets=self._targets, beta=0.0, analysis=False,
                                     method=self.method, bank=self.bank, ic=self._ic)
            self.netlist = join_lines(lines)
            self._loaded_kinds = self._kinds(self._inputs, self._targets)
            self.session.load(lines, self._token, self.model.name)
            self.stats["loads"] += 1
            if self._values:
                self.set_values(self._values)

    def _ensure(self):
        if self.session.owner is not self._token:
            self._load()

    def close(self):
        with self.session.lock:
            self.session.remove(owner=self._token)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- values ----------------------------------------------------------------------------
    def set_values(self, values: dict) -> None:
        """New capacitances (F) / inductances (H) by element name, by ``alter``."""
        model = self.model
        commands = []
        for name, value in values.items():
            value = float(value)
            if name in model.cap_names:
                commands.append(f"alter {name} capacitance={value!r}")
            elif name in model.ind_names:
                k = model.ind_names.index(name)
                if np.isfinite(model.ind_phi_nl[k]):
                    commands.append(f"alter VLVAL_{name} dc={value!r}")
                else:
                    commands.append(f"alter {name} inductance={value!r}")
            else:
                raise KeyError(f"no capacitor or inductor named {name!r}")
            self._values[name] = value
        self.model = model.with_values(values)
        with self.session.lock:
            if self.session.owner is self._token:
                self._send(commands)

    def set_theta(self, theta) -> None:
        self.set_values(dict(zip(self.model.trainable, np.asarray(theta, dtype=float))))

    def _send(self, commands):
        for command in commands:
            errors = self.session.command(command)
            if errors:
                raise BackendError(f"ngspice rejected {command!r}: " + " | ".join(errors[-3:]))

    # -- one transient ---------------------------------------------------------------------
    def run(self, inputs=None, targets=None, beta: float = 0.0, ic: dict | None = None,
            reverse: bool = False, sample: int | None = None) -> dict:
        """One ``tran ... uic`` of the loaded circuit.

        Parameters
        ----------
        inputs : list of dict or ndarray (steps+1, n_in), optional
            Input waveforms (default: the spec's); an array is written as PWL on the grid.
        targets : list of dict or ndarray (steps+1, n_out), optional
            Target waveforms of the nudge (needs ``with_nudge``).
        beta : float
            Nudge strength on ``VNUDGEBETA``.
        ic : dict, optional
            ``{"V": {cap: V}, "I": {linear inductor: A}, "phi": {node: Wb}}``; missing = 0.
        reverse : bool
            Play inputs and targets backwards (the echo).
        sample : int, optional
            With a loaded bank (:meth:`load_bank`): the sequence to play (inputs and targets
            then come from the bank).

        Returns
        -------
        dict
            ``time`` (s, ngspice's points), ``V`` (points, n) node voltages, ``phi`` (points, n)
            node fluxes, ``I`` {inductor: (points,)} currents of linear inductors.
        """
        model = self.model
        t_end = model.tstop if reverse else None
        commands = []
        if self.bank is not None:
            if sample is None or inputs is not None or targets is not None:
                raise ValueError("with a loaded bank, give sample= (and no inputs/targets)")
            for s in range(len(self.bank["inputs"])):
                forward = 1.0 if (s == sample and not reverse) else 0.0
                backward = 1.0 if (s == sample and reverse) else 0.0
                commands.append(f"alter VGF_{s} dc={forward}")
                commands.append(f"alter VGR_{s} dc={backward}")
            commands.append(f"alter {BETA_SOURCE} dc={float(beta)!r}")
            return self._tran(commands, ic)
        elif sample is not None:
            raise ValueError("sample= needs a loaded bank (load_bank)")
        waves = [_normal(model, w) for w in (model.src_waveforms if inputs is None
                                             else _as_waveforms(model, inputs))]
        if self.with_nudge:
            if targets is None and beta != 0.0:
                raise ValueError("a nudged run needs targets")
            tw = self._targets if targets is None else \
                [_normal(model, w) for w in _as_waveforms(model, targets, outputs=True)]
        elif beta != 0.0 or targets is not None:
            raise ValueError("this circuit was loaded without nudge elements")
        else:
            tw = None
        if self._kinds(waves, tw) != self._loaded_kinds:
            self._inputs, self._targets = waves, tw     # source types changed: reload once
            with self.session.lock:
                self._load()
        for name, waveform in zip(model.src_names, waves):
            commands.append(_alter_source(name, waveform_text(waveform, t_end)))
        if self.with_nudge:
            commands.append(f"alter {BETA_SOURCE} dc={float(beta)!r}")
            for k, waveform in enumerate(tw):
                commands.append(_alter_source(f"VTGT{k}", waveform_text(waveform, t_end)))
        return self._tran(commands, ic)

    def _tran(self, commands: list, ic: dict | None) -> dict:
        model = self.model
        ic = ic or {}
        for name in model.cap_names:
            commands.append(f"alter {name} ic={float(ic.get('V', {}).get(name, 0.0))!r}")
        for k, name in enumerate(model.ind_names):
            if not np.isfinite(model.ind_phi_nl[k]):
                commands.append(f"alter {name} ic={float(ic.get('I', {}).get(name, 0.0))!r}")
        for node in model.nodes:
            commands.append(f"alter CFLX_{node.upper()} ic="
                            f"{float(ic.get('phi', {}).get(node, 0.0))!r}")
        options = dict(model.spec_data.get("options", {})) if model.spec_data else {}
        from eqprop_hw.lc.spec import DEFAULT_LC_OPTIONS
        options = dict(DEFAULT_LC_OPTIONS, **options)
        fraction = options["max_step_fraction"]
        # every run states its truncation-error tolerance (the shared library keeps options)
        trtol = options["trtol"] if self.trtol is None else self.trtol
        commands.append(f"option trtol={fmt(trtol)}")
        tran = (f"tran {fmt(model.tstep)} {fmt(model.tstop)} 0 "
                f"{fmt(model.tstep * fraction)} uic")
        session = self.session
        with session.lock:
            if self._varactors:
                # a varactor's ddt() history starts from ngspice's last solution vector, not
                # from the capacitors' IC=: reload with the run's .ic so that they agree
                self._ic = ic
                self.model = self.model.with_values(self._values)
                self._load()
            self._ensure()
            self._send(commands)
            start = _time.perf_counter()
            errors = session.command(tran)
            self.stats["tran_seconds"] += _time.perf_counter() - start
            self.stats["runs"] += 1
            try:
                if errors:
                    raise ConvergenceError(f"ngspice: transient of circuit {model.name!r} "
                                           f"failed: {' | '.join(errors[-3:])}")
                result = {"time": _vector(session, "time")}
                result["V"] = np.stack([_vector(session, node) for node in model.nodes], axis=1)
                result["phi"] = np.stack([_vector(session, flux_node(node))
                                          for node in model.nodes], axis=1)
                result["I"] = {name: _vector(session, f"{name.lower()}#branch")
                               for k, name in enumerate(model.ind_names)
                               if not np.isfinite(model.ind_phi_nl[k])}
            finally:
                session.command("destroy all")
        if result["time"][0] > 0.0:
            # ngspice (UIC) stores its first point after the first tiny step: prepend the
            # initial state it was given, so that every vector starts at t = 0
            v0, phi0 = self._initial_vectors(ic)
            result["time"] = np.concatenate([[0.0], result["time"]])
            result["V"] = np.concatenate([v0[None], result["V"]])
            result["phi"] = np.concatenate([phi0[None], result["phi"]])
            result["I"] = {name: np.concatenate([[float(ic.get("I", {}).get(name, 0.0))], i])
                           for name, i in result["I"].items()}
        self.stats["points"] = len(result["time"])
        if not np.all(np.isfinite(result["V"])):
            raise ConvergenceError(f"ngspice: transient of circuit {model.name!r} gave "
                                   "non-finite voltages")
        return result

    def _initial_vectors(self, ic: dict):
        """Node voltages (from each node's capacitors to ground) and fluxes of an IC dict."""
        model = self.model
        v0 = np.zeros(model.n)
        for name, row in zip(model.cap_names, model.cap_incidence):
            nonzero = np.flatnonzero(row)
            if len(nonzero) == 1:
                v0[nonzero[0]] = row[nonzero[0]] * float(ic.get("V", {}).get(name, 0.0))
        phi0 = np.array([float(ic.get("phi", {}).get(node, 0.0)) for node in model.nodes])
        return v0, phi0

    # -- measurements ----------------------------------------------------------------------
    def outputs(self, result: dict, times=None) -> np.ndarray:
        """Outputs (Wb or A) of a run, interpolated (cubic spline) onto ``times``
        (default the model's grid): (len(times), n_out)."""
        model = self.model
        times = model.times if times is None else times
        phi = resample(result["time"], result["phi"], times)
        _, inds = model.values()
        return model.output_values(phi, inds)

    def end_state(self, result: dict) -> dict:
        """Measured end state: ``{"V": {cap: V}, "I": {L: A}, "phi": {node: Wb}}``."""
        model = self.model
        v = result["V"][-1]
        phi = result["phi"][-1]
        return {"V": {name: float(d @ v) for name, d in zip(model.cap_names,
                                                             model.cap_incidence)},
                "I": {name: float(current[-1]) for name, current in result["I"].items()},
                "phi": {node: float(phi[k]) for k, node in enumerate(model.nodes)}}

    def local(self, result: dict) -> np.ndarray:
        """``G = int dH/dtheta dt`` of every trainable element from the measured waveforms
        (trapezoidal on ngspice's time points)."""
        model = self.model
        t = result["time"]
        _, inds = model.values()
        out = np.zeros(len(model.trainable))
        for k, name in enumerate(model.trainable):
            if name in model.cap_names:
                j = model.cap_names.index(name)
                dv = result["V"] @ model.cap_incidence[j]
                out[k] = np.trapezoid(model.capacitor_local(dv, model.cap_v_nl[j]), t)
            else:
                j = model.ind_names.index(name)
                x = result["phi"] @ model.ind_incidence[j]
                energy = model.inductor_energy(x, inds[j], model.ind_phi_nl[j])
                out[k] = np.trapezoid(-energy / inds[j], t)
        return out

    def loss(self, result: dict, targets) -> float:
        """Trapezoidal loss on the model's grid (outputs interpolated)."""
        err = self.outputs(result) - np.asarray(targets, dtype=float)
        per = 0.5 * np.sum(err * err, axis=1)
        return float(np.trapezoid(per, self.model.times))

    @staticmethod
    def reversed_state(state: dict) -> dict:
        """Time reversal: capacitor voltages negated, fluxes and inductor currents kept."""
        return {"V": {k: -v for k, v in state["V"].items()}, "I": dict(state["I"]),
                "phi": dict(state["phi"])}

    def hel_gradient(self, targets, beta: float | None, nudge: str = "centered", inputs=None,
                     details: bool = False, sample: int | None = None, floor: bool = True):
        """Echo-learning estimate from ngspice measurements, with its measured numerical floor.

        Every run of the estimate (the forward run and the echoes) takes the same fixed steps
        (``tstep * max_step_fraction``, truncation-error control off: :data:`ECHO_TRTOL`), so
        that ngspice's discretization errors are the same in every echo and cancel in their
        differences (with its default step control, the +beta and -beta echoes take different
        steps, and the difference of their errors swamps a weak nudge's signal).

        Parameters
        ----------
        targets : ndarray (steps+1, n_out) or list of dict
            Targets (Wb or A) on the grid, or waveforms.
        beta : float or None
            Nudge strength (A/Wb for flux outputs); None: :func:`~eqprop_hw.lc.echo.echo_beta`
            of the forward run's measured residual.
        nudge : {"positive", "negative", "centered"}
        floor : bool
            Also run the un-nudged echo (beta = 0; with a one-sided nudge, the opposite
            nudge too) and measure the floor (:func:`~eqprop_hw.lc.echo.echo_floor`): the part
            of the local measurements even in beta, ``(G_+b + G_-b - 2 G_0) / (2 b)``.

        Returns
        -------
        loss : float
        estimate : ndarray (n_theta,)
        (details : dict with the forward and echo runs, ``local`` per phase, ``beta``,
        ``residual`` and with ``floor`` the :func:`~eqprop_hw.lc.echo.echo_floor` dict)
        """
        from eqprop_hw.lc.echo import echo_beta, echo_floor
        model = self.model
        saved, self.trtol = self.trtol, ECHO_TRTOL
        try:
            if sample is not None:
                target_grid = self.bank["target_grid"][sample]
                forward = self.run(sample=sample)
            else:
                target_grid = _grid_targets(model, targets)
                forward = self.run(inputs=inputs)
            outputs = self.outputs(forward)
            if beta is None:
                beta = echo_beta(model, outputs, target_grid)
            state = self.reversed_state(self.end_state(forward))
            phases = nudge_strengths(beta, nudge)
            if floor:
                phases = phases + [p for p in (0.0, beta, -beta) if p not in phases]
            runs, local = {}, {}
            for phase in phases:
                if sample is not None:
                    runs[phase] = self.run(beta=phase, ic=state, reverse=True, sample=sample)
                else:
                    runs[phase] = self.run(inputs=inputs, targets=targets, beta=phase, ic=state,
                                           reverse=True)
                local[phase] = self.local(runs[phase])
        finally:
            self.trtol = saved
        estimate = estimate_from_local(local, beta, nudge)
        err = outputs - target_grid
        loss = float(np.trapezoid(0.5 * np.sum(err * err, axis=1), model.times))
        if details:
            info = {"forward": forward, "echo": runs, "local": local, "beta": beta,
                    "outputs": outputs}
            if floor:
                info["floor"] = echo_floor(local, beta, estimate, self.local(forward))
            return loss, estimate, info
        return loss, estimate


def _vector(session, name: str) -> np.ndarray:
    values = session.read_vector(name)
    if values is None:
        raise BackendError(f"ngspice: no vector {name!r} after the transient")
    return values


def _entry_grid(model, entry) -> np.ndarray:
    if isinstance(entry, np.ndarray):
        return entry
    from eqprop_hw.lc.model import waveform_values
    return np.stack([waveform_values(w, model.times) for w in entry], axis=1)


def resample(t, values, times):
    """Cubic-spline resampling of measured vectors (points closer than 1e-6 of the mean
    spacing to their predecessor are dropped: ngspice repeats near-identical first points)."""
    t = np.asarray(t, dtype=float)
    spacing = (t[-1] - t[0]) / max(len(t) - 1, 1)
    keep = np.concatenate([[True], np.diff(t) > 1e-6 * spacing])
    return CubicSpline(t[keep], np.asarray(values)[keep], axis=0)(times)


def _normal(model, waveform: dict) -> dict:
    """DC waveforms as two-point PWL (so every source is SIN or PWL and alterable)."""
    if waveform["type"] == "dc":
        return {"type": "pwl", "points": [[0.0, waveform["value"]],
                                          [model.tstop, waveform["value"]]]}
    if waveform["type"] == "sine" and waveform.get("delay", 0.0) != 0.0:
        times = model.times
        from eqprop_hw.lc.model import waveform_values
        return array_waveform(times, waveform_values(waveform, times))
    return waveform


def _alter_source(name: str, text: str) -> str:
    """``alter @NAME[sin|pwl|dc] = [...]`` for a waveform text."""
    kind, _, rest = text.partition("(")
    if kind == "SIN":
        return f"alter @{name}[sin] = [ {rest.rstrip(')')} ]"
    if kind == "PWL":
        return f"alter @{name}[pwl] = [ {rest.rstrip(')')} ]"
    raise ValueError(f"cannot alter source {name} to {text[:40]!r}")


def _as_waveforms(model, values, outputs: bool = False) -> list:
    if isinstance(values, (list, tuple)) and (not values or isinstance(values[0], dict)):
        return list(values)
    array = np.asarray(values, dtype=float)
    if array.shape[0] > 64:
        raise ValueError("sampled waveforms longer than 64 points cannot be sent by alter "
                         "(ngspice's command length): load them with load_bank() and run "
                         "with sample=")
    width = len(model.outputs) if outputs else len(model.src_names)
    if array.shape != (model.steps + 1, width):
        raise ValueError(f"waveform array must have shape ({model.steps + 1}, {width}), got "
                         f"{array.shape}")
    return [array_waveform(model.times, array[:, k]) for k in range(width)]


def _grid_targets(model, targets) -> np.ndarray:
    if isinstance(targets, (list, tuple)) and targets and isinstance(targets[0], dict):
        from eqprop_hw.lc.model import waveform_values
        return np.stack([waveform_values(w, model.times) for w in targets], axis=1)
    return np.asarray(targets, dtype=float)
