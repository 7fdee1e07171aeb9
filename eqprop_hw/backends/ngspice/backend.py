"""The ngspice backend (:class:`NgspiceBackend`): a circuit loaded once into the session, then
per sample only the changed sources ``alter``\\ ed, ``op`` run (with retries) and the node
voltages read; implements the :class:`~eqprop_hw.backends.base.Backend` interface.
"""

from __future__ import annotations

import logging
import math
import sys
import time

import numpy as np

from eqprop_hw.backends.base import Backend, SolveResult
from eqprop_hw.backends.ngspice.messages import LOGGER
from eqprop_hw.backends.ngspice.session import NgspiceSession, command_chunks
from eqprop_hw.errors import BackendError, CircuitError, ConvergenceError
from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.circuit.netlist import BETA_SOURCE, fmt, netlist_lines, nudge_elements
from eqprop_hw.circuit.spice_grammar import join_lines


#: ``alter`` parameter that sets an element's value, per element type. ``alter NAME VALUE``
#: (no parameter name) works for R, V and I in ngspice 39, but E and G answer "no default
#: parameter", so the name is always given.
ALTER_PARAMETER = {"R": "resistance", "V": "dc", "I": "dc", "E": "gain", "G": "gain",
                   "F": "gain", "H": "gain", "C": "capacitance", "L": "inductance", "D": "area"}

#: Retries after a failed ``op``. ngspice's own ``op`` already falls back from Newton to
#: dynamic gmin stepping, true gmin stepping, adaptive source stepping and a transient
#: operating point. The retries switch to what else ngspice 39 offers: many more Newton
#: iterations (``itl1``, and ``itl2`` which bounds each stepping stage), the fixed SPICE3 gmin
#: ladder (``gminsteps`` = n > 1 starts at ``gmin * 10**n`` and divides by 10 per step, so
#: n = 12 starts near 1 S; do not use large n: 100 starts at 1e88 S) and the SPICE3 source
#: ladder (``srcsteps`` = n > 1 equal steps), and skipping the first Newton attempt
#: (``noopiter``). The circuit's options are restored after each retry.
OP_RETRIES = (
    ("itl1=itl2=1000, SPICE3 gmin ladder from 1 S, 100 source steps",
     "option itl1=1000 itl2=1000 gminsteps=12 srcsteps=100"),
    ("noopiter, itl1=itl2=1000, dynamic gmin and source stepping",
     "option noopiter itl1=1000 itl2=1000 gminsteps=1 srcsteps=1"),
)

#: :meth:`NgspiceBackend.set_trainable` leaves a conductance alone when it changed by no more than
#: this fraction of the value ngspice holds (voltages then differ by ~1e-15 relative at most).
UNCHANGED_RELATIVE = 1e-15


# -- the backend -------------------------------------------------------------------------------
def _make_sink(log, verbose: bool):
    targets = []
    if isinstance(log, list):
        targets.append(lambda level, text: log.append(text))
    elif isinstance(log, logging.Logger):
        targets.append(lambda level, text: log.log(
            logging.DEBUG if level == "info" else logging.INFO, text))
    elif callable(log):
        targets.append(log)
    elif log is not None:
        raise TypeError("log must be None, a list, a logging.Logger or a callable(level, text)")
    if verbose:
        targets.append(lambda level, text: print(f"ngspice: {text}", file=sys.stderr))
    if not targets:
        return None
    if len(targets) == 1:
        return targets[0]

    def sink(level, text):
        for target in targets:
            target(level, text)
    return sink


class NgspiceBackend(Backend):
    """DC operating points by ngspice's shared library (the physical relaxation).

    Parameters
    ----------
    circuit : Circuit
        The circuit; the backend keeps a copy updated by :meth:`set_values`.
    log : list, logging.Logger or callable, optional
        Extra destination for ngspice's messages while this backend drives it: a list gets each
        line (str; about two lines per sample, so it grows with use), a Logger gets them at
        DEBUG (warnings and errors at INFO), a callable gets ``(level, text)`` with level
        ``"info" | "warning" | "error"``. Messages always also go
        to the logger ``eqprop_hw.ngspice`` and to ``session.messages``; never to the terminal
        unless ``verbose``.
    verbose : bool
        Also print every ngspice line on stderr.
    strict : bool
        Raise :class:`~eqprop_hw.errors.ConvergenceError` when a sample does not converge after
        the retries (default). With ``False`` the row is NaN and ``converged[row]`` False.
    session : NgspiceSession, optional
        Defaults to the per-process session.
    loss : {"squared", "cross_entropy"}
        The nudge loaded with the circuit (see :func:`eqprop_hw.circuit.netlist.nudge_elements`):
        ``GNUDGE{k}`` VCCSs of gain beta (S), or for ``cross_entropy`` the behavioural
        currents ``BNUDGE{k}`` with beta (W) on ``VNUDGEBETA`` and the target probabilities
        on ``VNUDGE{k}``; either way beta and targets change by ``alter`` only.
    temperature : float, optional
        Softmax temperature (V) of the cross-entropy nudge (default 0.1 V).

    Attributes
    ----------
    netlist : str
        The netlist loaded into ngspice (no analysis card; nudging in VCCS form, beta 0).
    stats : dict
        Counters for profiling: ``samples``, ``analyses`` (op runs, retries included),
        ``analysis_seconds`` (wall time inside ``op``), ``alter_seconds`` (per-sample
        ``alter``\\ s of sources and nudging elements, with the previous ``destroy all``
        riding along), ``alters`` (how many), ``update_seconds`` and ``updates`` (conductance
        ``alter``\\ s of :meth:`set_trainable`), ``read_seconds``, ``destroy_seconds`` (lone
        ``destroy all``), ``load_seconds``, ``loads``, ``retries``, ``failures`` and
        ``total_seconds`` (wall time inside :meth:`solve`; the remainder is Python overhead).
    on_row : callable or None
        Called as ``on_row(k)`` before the k-th operating point of a request (row k of a
        :meth:`solve` batch; ``row * n_phases + phase`` in :meth:`solve_phases`). The isolated
        backend (:mod:`eqprop_hw.backends.isolated`) uses it to name the sample during which
        ngspice died.

    Raises
    ------
    BackendError
        If ngspice's shared library cannot be loaded, or ngspice rejects the netlist.
    """

    name = "ngspice"

    def __init__(self, circuit: Circuit, log=None, verbose: bool = False, strict: bool = True,
                 session: NgspiceSession | None = None, loss: str = "squared",
                 temperature: float | None = None):
        super().__init__(circuit, loss, temperature)
        self.session = session or NgspiceSession.get()
        self.strict = strict
        self._sink = _make_sink(log, verbose)
        self._token = object()
        self._closed = False
        self.on_row = None
        n_out = len(circuit.outputs)
        nudges = nudge_elements(circuit, 0.0, [0.0] * n_out, form="vccs", loss=self.loss,
                                temperature=self.temperature)
        # Elements altered per sample: input sources, then VNUDGE{k} (targets), then what
        # carries beta: the gains of GNUDGE{k} (squared loss) or the DC value of VNUDGEBETA,
        # read by the behavioural currents BNUDGE{k} (cross-entropy).
        source_column: dict[str, tuple[int, float]] = {}
        for i, port in enumerate(circuit.inputs):
            for source, gain in port.sources:
                source_column[source] = (i, float(gain))
        self._source_names = list(source_column)
        self._source_inputs = np.array([source_column[s][0] for s in self._source_names],
                                       dtype=int)
        self._source_gains = np.array([source_column[s][1] for s in self._source_names])
        self._vnudge = [f"VNUDGE{k}" for k in range(n_out)]
        self._gnudge = [e.name for e in nudges if e.type == "G" or e.name == BETA_SOURCE]
        self._controlled = self._source_names + self._vnudge + self._gnudge
        self._alter_prefix = [f"alter {name} {ALTER_PARAMETER[name[0]]}="
                              for name in self._controlled]
        self._vector_names = [node.encode("ascii") for node in self.node_names]
        trainable_types = {circuit.element(name).type for name in circuit.trainable}
        self._trainable_prefix = [f"alter {name} resistance=" for name in circuit.trainable] \
            if trainable_types <= {"R"} else []
        self._sent_trainable: np.ndarray | None = None
        self.stats = {"samples": 0, "analyses": 0, "analysis_seconds": 0.0, "alter_seconds": 0.0,
                      "update_seconds": 0.0, "read_seconds": 0.0, "destroy_seconds": 0.0,
                      "alters": 0, "updates": 0,
                      "load_seconds": 0.0, "loads": 0, "retries": 0, "failures": 0,
                      "total_seconds": 0.0}
        self.netlist = ""
        with self.session.lock:
            self._load()

    # -- loading -------------------------------------------------------------------------------
    def _netlist_lines(self) -> list[str]:
        n_out = len(self.circuit.outputs)
        return netlist_lines(self.circuit, analysis="none", beta=0.0, targets=[0.0] * n_out,
                             nudge_form="vccs", loss=self.loss, temperature=self.temperature)

    def _load(self) -> None:
        """(Re)load this backend's circuit into the session with its current values."""
        start = time.perf_counter()
        lines = self._netlist_lines()
        self.netlist = join_lines(lines)
        session = self.session
        previous, session.sink = session.sink, self._sink
        try:
            session.load(lines, self._token, self.circuit.name)
        finally:
            session.sink = previous
        values = {e.name: e.value for e in self.circuit.elements}
        self._applied = [float(values[name]) for name in self._source_names] + \
            [0.0] * (len(self._vnudge) + len(self._gnudge))
        # ngspice parsed the netlist's numbers with its netlist parser, which may round a
        # value differently (1 ulp) from ``alter``'s: the next set_trainable sends every value,
        # so the loaded state is the same as after a set_trainable of the same values.
        self._sent_trainable = None
        self.stats["loads"] += 1
        self.stats["load_seconds"] += time.perf_counter() - start

    def ensure_loaded(self) -> None:
        """Make this backend's circuit the one loaded in the session (reloading it with its
        current values if another circuit took the session meanwhile); call with
        ``session.lock`` held.

        Raises
        ------
        BackendError
            If the backend is closed, or ngspice rejects the netlist.
        """
        if self._closed:
            raise BackendError(f"ngspice backend of circuit {self._circuit.name!r} is closed")
        if self.session.owner is not self._token:
            self._load()

    def send_alters(self, commands: list[str]) -> None:
        """Send ``alter`` commands to the loaded circuit, joined by ``;`` in chunks of at most
        :data:`~eqprop_hw.backends.ngspice.session.MAX_COMMAND_LENGTH` characters.

        Raises
        ------
        BackendError
            If ngspice reports an error for any chunk (the message quotes its start).
        """
        for chunk in command_chunks("; ".join(commands)):
            errors = self.session.command(chunk)
            if errors:
                raise BackendError(f"ngspice rejected {chunk[:60]!r}...: "
                                   + " | ".join(errors[-3:]))

    # -- solving -------------------------------------------------------------------------------
    def solve(self, inputs, beta: float = 0.0, targets=None) -> SolveResult:
        """Operating points for a batch of inputs (see :meth:`Backend.solve`).

        Parameters
        ----------
        inputs : array_like, shape (batch, n_inputs) or (n_inputs,)
            Input values; source ``s`` of input ``i`` is set to ``gain_s * x_i`` (V or A).
        beta : float
            Nudging conductance (S): the gain of every ``GNUDGE{k}``; 0 is the free phase.
        targets : array_like, shape (batch, n_outputs) or (n_outputs,), optional
            Target voltages (V) set on ``VNUDGE{k}``; required when ``beta != 0``.

        Returns
        -------
        SolveResult
            ``voltages`` (V) in :attr:`node_names` order, ``outputs`` (V), ``converged``.

        Raises
        ------
        ConvergenceError
            If ``op`` fails for a row even after the retries (``strict=True``); the message
            names the circuit, the analysis and the row.
        BackendError
            If ngspice rejects a command.
        """
        start = time.perf_counter()
        inputs, beta, targets = self._prepare(inputs, beta, targets)
        values = self.controlled_values(inputs, targets, beta)
        voltages, converged = self._run_rows(values, inputs, [beta] * len(values))
        return self._result(voltages, converged, start)

    def solve_phases(self, inputs, targets, betas) -> list:
        """Phases of one batch, run sample by sample: the inputs and targets of a sample are
        set once and only the nudging gains change between its phases (fewer ``alter``s)."""
        start = time.perf_counter()
        betas = [float(b) for b in betas]
        prepared = [self._prepare(inputs, beta, targets) for beta in betas]
        inputs, _, targets = prepared[-1]
        batch, n_phases = inputs.shape[0], len(betas)
        per_phase = [self.controlled_values(inputs, targets, beta) for beta in betas]
        # Every other sample runs its phases in reverse, so that consecutive samples meet in
        # the same phase and its nudging values (gains, beta) need no ``alter`` there.
        order = [(row, phase) for row in range(batch)
                 for phase in (range(n_phases) if row % 2 == 0 else
                               range(n_phases - 1, -1, -1))]
        values = np.array([per_phase[phase][row] for row, phase in order])
        labels = [row * n_phases + phase for row, phase in order]
        done, ok = self._run_rows(values, inputs[[row for row, _ in order]],
                                  [betas[phase] for _, phase in order], labels)
        voltages = np.empty_like(done)
        converged = np.empty_like(ok)
        voltages[labels] = done
        converged[labels] = ok
        seconds = (time.perf_counter() - start) / n_phases
        results = []
        for phase in range(n_phases):
            rows = slice(phase, None, n_phases)
            results.append(SolveResult("ngspice", list(self.node_names), voltages[rows],
                                       voltages[rows][:, self.output_columns],
                                       converged[rows], seconds))
        self.stats["total_seconds"] += time.perf_counter() - start
        return results

    def controlled_values(self, inputs, targets, beta) -> np.ndarray:
        """Values of the elements ``alter``\\ ed per sample, one row per sample.

        Parameters
        ----------
        inputs : ndarray, shape (batch, n_inputs)
            Checked inputs (``Backend._prepare``); each input source takes ``gain * x``
            (V or A).
        targets : ndarray, shape (batch, n_outputs)
            Targets on ``VNUDGE{k}`` (V; probabilities for cross-entropy).
        beta : float
            Nudging strength (S; W for cross-entropy) on the elements carrying it.

        Returns
        -------
        ndarray, shape (batch, n_controlled)
            Input sources, then ``VNUDGE{k}``, then the nudging gains (or ``VNUDGEBETA``),
            in the order :meth:`controlled_alters` writes them.
        """
        n_src, n_out = len(self._source_names), len(self._vnudge)
        values = np.empty((inputs.shape[0], len(self._controlled)))
        values[:, :n_src] = inputs[:, self._source_inputs] * self._source_gains
        values[:, n_src:n_src + n_out] = targets
        values[:, n_src + n_out:] = beta
        return values

    def controlled_alters(self, values=None) -> list[str]:
        """The ``alter`` commands setting every per-sample element to one row of
        :meth:`controlled_values` (default: the values ngspice holds now)."""
        values = self._applied if values is None else values
        return [prefix + repr(float(v)) for prefix, v in zip(self._alter_prefix, values)]

    def alter_controlled(self, values) -> None:
        """Send one row of :meth:`controlled_values` to whatever circuit the session has
        loaded (e.g. a thermal transient netlist with the same element names); the backend's
        own record of what its circuit holds is left alone (its next solve reloads it if it
        is not the loaded one)."""
        self.send_alters(self.controlled_alters(values))

    def trainable_alters(self, values) -> list[str]:
        """The ``alter`` commands setting every trainable resistor to conductance ``values``
        (S, ``circuit.trainable`` order), as :meth:`set_trainable` sends them; empty when a
        trainable element is not a resistor (:meth:`set_trainable` reloads then)."""
        return [prefix + repr(1.0 / value) for prefix, value in
                zip(self._trainable_prefix, np.asarray(values, dtype=float).tolist())]

    def _result(self, voltages, converged, start) -> SolveResult:
        seconds = time.perf_counter() - start
        self.stats["total_seconds"] += seconds
        return SolveResult("ngspice", list(self.node_names), voltages,
                           voltages[:, self.output_columns], converged, seconds)

    def _run_rows(self, values: np.ndarray, inputs: np.ndarray, betas: list, labels=None):
        """One ``op`` per row of controlled values, altering only what changed.

        :attr:`on_row` gets ``labels[k]`` for row ``k`` (default ``k``). The result plot
        of each ``op`` is freed (``destroy all``) in the same ngspice command as the next row's
        ``alter``\\ s, and after the last row.

        Long because: it is the per-sample loop of every ngspice
        solve, whose locals hold the bound methods, the timers and whether a result plot waits
        to be destroyed across rows; helpers called per row would add Python call overhead of
        the order of the ``alter``\\ s themselves (about 2 µs each, ``docs/performance.md``).
        """
        batch = values.shape[0]
        rows = values.tolist()
        voltages = np.empty((batch, len(self.node_names)))
        converged = np.ones(batch, dtype=bool)
        session = self.session
        command = session.command
        read = session.read_vectors
        send = self.send_alters
        clock = time.perf_counter
        prefixes = self._alter_prefix
        names = self._vector_names
        labels = range(batch) if labels is None else labels
        alter_seconds = analysis_seconds = read_seconds = destroy_seconds = 0.0
        alters = analyses = 0
        with session.lock:
            previous, session.sink = session.sink, self._sink
            plot = False                     # an op's result plot waits to be destroyed
            try:
                self.ensure_loaded()
                applied = self._applied
                on_row = self.on_row
                for row in range(batch):
                    if on_row is not None:
                        on_row(labels[row])
                    row_values = rows[row]
                    changes = [prefixes[j] + repr(v) for j, (v, old) in
                               enumerate(zip(row_values, applied)) if v != old]
                    if changes:
                        t0 = clock()
                        alters += len(changes)
                        if plot:
                            changes.insert(0, "destroy all")
                            plot = False
                        try:
                            send(changes)
                        except BackendError:
                            applied[:] = [math.nan] * len(applied)   # unknown: re-send all
                            raise
                        applied[:] = row_values
                        alter_seconds += clock() - t0
                    elif plot:
                        t0 = clock()
                        command("destroy all")
                        plot = False
                        destroy_seconds += clock() - t0
                    t0 = clock()
                    errors = command("op")
                    t1 = clock()
                    plot = True
                    missing = None if errors else read(names, voltages[row])
                    analyses += 1
                    analysis_seconds += t1 - t0
                    read_seconds += clock() - t1
                    if errors or missing is not None:
                        warnings = session.warnings
                        command("destroy all")
                        plot = False
                        converged[row] = self._retry(row, voltages[row], betas[row], inputs[row],
                                                     errors, warnings, missing)
                if plot:
                    t0 = clock()
                    command("destroy all")
                    plot = False
                    destroy_seconds += clock() - t0
                # Rows that ran without a word from ngspice but read back non-finite voltages
                # (checked once for the whole batch): set their values again and retry.
                for row in np.flatnonzero(~np.isfinite(voltages).all(axis=1) & converged):
                    if on_row is not None:
                        on_row(labels[row])
                    send([prefix + repr(v) for prefix, v in zip(prefixes, rows[row])])
                    applied[:] = rows[row]
                    converged[row] = self._retry(row, voltages[row], betas[row], inputs[row],
                                                 [], [], None)
                self.stats["samples"] += batch
            finally:
                if plot:
                    command("destroy all")
                session.sink = previous
                stats = self.stats
                stats["alter_seconds"] += alter_seconds
                stats["analysis_seconds"] += analysis_seconds
                stats["read_seconds"] += read_seconds
                stats["destroy_seconds"] += destroy_seconds
                stats["alters"] += alters
                stats["analyses"] += analyses
        return voltages, converged

    def _retry(self, row: int, out: np.ndarray, beta: float, x: np.ndarray, errors: list,
               warnings: list, missing: str | None) -> bool:
        """Re-run a failed ``op`` with the :data:`OP_RETRIES` settings; raise or NaN-fill."""
        session = self.session
        stats = self.stats
        failures = [self._failure_text(errors, warnings, missing)]
        defaults = session.op_options()
        restore = "option noopiter=0 " + " ".join(f"{k}={v}" for k, v in defaults.items())
        for label, setting in OP_RETRIES:
            stats["retries"] += 1
            LOGGER.info("circuit %r row %d: op failed, retrying with %s", self.circuit.name, row,
                        label)
            self.send_alters([setting])
            try:
                t0 = time.perf_counter()
                errors = session.command("op")
                warnings = session.warnings
                stats["analyses"] += 1
                stats["analysis_seconds"] += time.perf_counter() - t0
                missing = None if errors else session.read_vectors(self._vector_names, out)
                session.command("destroy all")
            finally:
                self.send_alters([restore])
            if not errors and missing is None and np.isfinite(out).all():
                LOGGER.info("circuit %r row %d: op converged with %s", self.circuit.name, row,
                            label)
                return True
            failures.append(self._failure_text(errors, warnings, missing))
        stats["failures"] += 1
        shown = ", ".join(fmt(v) for v in x[:8]) + (", ..." if x.size > 8 else "")
        message = (f"ngspice: DC operating point ('op') of circuit {self.circuit.name!r} did not "
                   f"converge for sample row {row} (inputs [{shown}], beta={fmt(beta)}), also "
                   f"not with retries ({'; '.join(label for label, _ in OP_RETRIES)}): "
                   f"{failures[-1]}")
        if self.strict:
            raise ConvergenceError(message)
        LOGGER.info("%s", message)
        out[:] = np.nan
        return False

    @staticmethod
    def _failure_text(errors: list, warnings: list, missing: str | None) -> str:
        """What ngspice said about a failed op (errors, plus a singular-matrix warning)."""
        if errors:
            text = " | ".join(errors[-3:])
        elif missing:
            text = f"no value for node {missing!r}"
        else:
            text = "non-finite node voltages"
        singular = [w for w in warnings if "singular matrix" in w.lower()]
        if singular:
            text += " (" + singular[0].split("Warning:")[-1].strip() + ")"
        return text

    # -- values --------------------------------------------------------------------------------
    def set_values(self, values: dict) -> None:
        """Change element values in place (``alter``), without reloading the circuit.

        Parameters
        ----------
        values : dict of str to float
            Element name -> value in the circuit's units: conductance (S) for resistors
            (ngspice gets ``resistance=1/g`` Ohm), DC value (V, A) for sources, gain for
            E/F/G/H, capacitance (F), inductance (H), area for diodes.

        Raises
        ------
        CircuitError
            For an unknown element, a behavioural source, a non-finite value or a non-positive
            conductance.
        """
        commands = []
        clean = {}
        for name, value in values.items():
            element = self.circuit.element(name)
            value = float(value)
            if not math.isfinite(value):
                raise CircuitError(f"element {name}: value must be finite, got {value!r}")
            parameter = ALTER_PARAMETER.get(element.type)
            if parameter is None:
                raise CircuitError(f"element {name}: a {element.type} element has no value to set")
            if element.type == "R":
                if value <= 0:
                    raise CircuitError(f"element {name}: conductance must be positive (S), "
                                       f"got {value!r}")
                commands.append(f"alter {name} {parameter}={1.0 / value!r}")
            else:
                commands.append(f"alter {name} {parameter}={value!r}")
            clean[name] = value
        self.circuit = self.circuit.with_values(clean)
        if self._sent_trainable is not None and not clean.keys().isdisjoint(
                self.circuit.trainable):
            self._sent_trainable = None          # re-send every trainable value next time
        for j, name in enumerate(self._source_names):
            if name in clean:
                self._applied[j] = clean[name]
        if self._closed:
            return
        self._push(commands)

    def set_trainable(self, values) -> None:
        """New conductances (S) of every trainable element, pushed with ``alter`` in one go.

        The fast path for training: no element objects are rebuilt (the circuit is
        materialised lazily when it is next needed), and only the elements whose conductance
        changed by more than :data:`UNCHANGED_RELATIVE` (relative to what ngspice holds) are
        ``alter``\\ ed.
        """
        values = self._checked_trainable(values)
        if not self._trainable_prefix:
            return super().set_trainable(values)
        self._pending = values.copy()
        if self._closed:
            return
        sent = self._sent_trainable
        if sent is None:
            changed = np.arange(values.size)
        else:
            changed = np.flatnonzero(np.abs(values - sent) > UNCHANGED_RELATIVE * np.abs(sent))
        if changed.size == 0:
            return
        prefixes = self._trainable_prefix
        commands = [prefixes[k] + repr(1.0 / value)
                    for k, value in zip(changed.tolist(), values[changed].tolist())]
        try:
            pushed = self._push(commands, "update_seconds")
        except BackendError:
            self._sent_trainable = None
            raise
        if pushed:
            self.stats["updates"] += len(commands)
            if sent is None:
                self._sent_trainable = values.copy()
            else:
                sent[changed] = values[changed]

    def _push(self, commands: list[str], clock_key: str = "alter_seconds") -> bool:
        """Send ``alter`` commands now if this backend's circuit is the loaded one.

        Otherwise nothing is sent: the next solve reloads the circuit with its current values.
        Returns whether the commands were sent.
        """
        session = self.session
        with session.lock:
            if session.owner is self._token and commands:
                previous, session.sink = session.sink, self._sink
                try:
                    start = time.perf_counter()
                    self.send_alters(commands)
                    self.stats[clock_key] += time.perf_counter() - start
                finally:
                    session.sink = previous
                return True
        return False

    def close(self) -> None:
        """Remove this backend's circuit from ngspice (if still loaded); idempotent."""
        if self._closed:
            return
        self._closed = True
        with self.session.lock:
            self.session.remove(owner=self._token)

    def __repr__(self):
        state = "closed" if self._closed else "open"
        return f"<NgspiceBackend {self.circuit.name!r} ({len(self.node_names)} nodes, {state})>"
