"""The native backend (:class:`NativeBackend`): wires assembly, elimination, Newton and
chunking together and implements the :class:`~eqprop_hw.backends.base.Backend` interface.
"""

from __future__ import annotations

import time

import numpy as np

from eqprop_hw.backends.base import Backend, SolveResult
from eqprop_hw.backends.native.assembly import Assembly
from eqprop_hw.backends.native.chunks import WorkArrays, chunk_slices, joined, on_threads
from eqprop_hw.backends.native.diode import thermal_voltage
from eqprop_hw.backends.native.elimination import Elimination
from eqprop_hw.backends.native.newton import Newton
from eqprop_hw.errors import BackendError, ConvergenceError
from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.circuit.transistors import is_transistor, refusal
from eqprop_hw.circuit.cider import first_cider, refusal as cider_refusal
from eqprop_hw.circuit.netlist import nudge_elements


class NativeBackend(Assembly, Elimination, Newton, Backend):
    """Batched Newton solver of the circuit's MNA equations.

    Parameters
    ----------
    circuit : Circuit
    dense_limit : int
        Use dense batched LU up to this many unknowns, sparse LU per sample above.
    max_iterations : int
        Newton iteration cap per solve.
    loss : {"squared", "cross_entropy"}
        Which nudge ``solve(..., beta, targets)`` applies (see :mod:`eqprop_hw.learning.losses`).
    temperature : float, optional
        Softmax temperature tau (V) of the cross-entropy nudge (default 0.1 V).

    Examples
    --------
    >>> from eqprop_hw.circuit.spec import parse_spec
    >>> from eqprop_hw.circuit.build import build_circuit
    >>> c = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [2, 3, 1]}))
    >>> r = NativeBackend(c).solve([[0.5, -0.5]])
    >>> r.voltages.shape == (1, len(r.node_names)) and bool(r.converged[0])
    True
    """

    name = "native"

    def __init__(self, circuit: Circuit, dense_limit: int = 1500, max_iterations: int = 200,
                 loss: str = "squared", temperature: float | None = None,
                 compiled: bool = False):
        super().__init__(circuit, loss, temperature)
        cider = first_cider(circuit)
        if cider is not None:
            raise BackendError(cider_refusal(*cider, "native backend"))
        for element in circuit.elements:
            if element.type == "B":
                raise BackendError(f"element {element.name}: behavioural sources are only "
                                   "simulated by the ngspice backend")
            if is_transistor(element):
                raise BackendError(refusal(element, "native backend"))
        self.dense_limit = dense_limit
        self.max_iterations = max_iterations
        #: Threads for the Newton iterations of a large batch (None: as many as BLAS has).
        self.threads = None
        self._work = WorkArrays()
        #: Run Newton iterations of the Schur path as compiled loops (:mod:`.fused`) where they
        #: apply (numba installed). Worth it for repeated solves (training: several times faster
        #: at small batches); the first such solve of a process loads numba (~0.5 s).
        self.compiled = bool(compiled)
        self.gmin = float(circuit.options.get("gmin", 1e-12))
        self.vt = thermal_voltage(float(circuit.options.get("temp", 27.0)))
        n_out = len(circuit.outputs)
        squared = self.loss == "squared"
        self._nudges = nudge_elements(circuit, 1.0, [0.0] * n_out, form="vccs") \
            if n_out and squared else []
        self._compile()

    def set_values(self, values: dict) -> None:
        """New element values (conductance in S for resistors); updates the linear part."""
        self.circuit = self.circuit.with_values(values)
        for name in values:
            position = self._element_pos[name]
            self._values[position] = self._stamp_value(self._circuit.elements[position])
        self._assemble_linear()

    def set_trainable(self, values) -> None:
        """New values of every trainable element at once (S), in ``circuit.trainable`` order.

        The fast path for training: no element objects are rebuilt.
        """
        values = self._checked_trainable(values)
        if not self._trainable_all_resistors:
            return Backend.set_trainable(self, values)
        self._values[self._trainable_pos] = values
        self._pending = values.copy()
        self._assemble_linear()

    def solver_arrays(self) -> dict:
        """The compiled arrays of the solver, by name, for counting its work
        (:mod:`eqprop_hw.bench.flops`); the backend's own objects, not copies: read only.

        Returns
        -------
        dict
            ``sources`` (DC value of every source, V or A), ``input_gain``, ``target_gain``,
            ``pin_map``, ``rhs_map``, ``base_rhs``, ``nudge_rhs`` (the maps from inputs,
            targets and sources to pinned voltages and the right-hand side), ``diodes`` (the
            diodes' names), ``diode_pinned``, ``diode_unknown`` (diode voltages from pinned
            voltages and unknowns), ``dense`` (whether the dense batched path is used),
            ``eliminated`` and ``schur`` (unknowns eliminated as a diagonal block and kept in
            the Schur system), ``stamp``, ``stamp_eliminated`` and ``stamp_schur`` (where diode
            conductances land in the Jacobian); None for what this circuit's path has not built.
        """
        names = {"sources": "_dc", "input_gain": "_input_gain", "target_gain": "_target_gain",
                 "pin_map": "_pin_map", "rhs_map": "_rhs_map", "base_rhs": "_base_up",
                 "nudge_rhs": "_nudge_up", "diodes": "_diodes", "diode_pinned": "_d_pinned",
                 "diode_unknown": "_d_unknown", "dense": "_dense", "eliminated": "_h_idx",
                 "schur": "_o_idx", "stamp": "_stamp", "stamp_eliminated": "_stamp_h",
                 "stamp_schur": "_stamp_o"}
        return {key: getattr(self, attribute, None) for key, attribute in names.items()}

    def _thread_slices(self, inputs, targets):
        """Row chunks of a batch (:func:`~eqprop_hw.backends.native.chunks.chunk_slices`) on
        the dense path with a Newton loop, else None (solved whole)."""
        if not self._dense or not (len(self._diodes) or self.loss == "cross_entropy"):
            return None
        return chunk_slices(np.shape(inputs)[0] if np.ndim(inputs) == 2 else 1)

    def solve_phases(self, inputs, targets, betas) -> list:
        """Phases of one batch; nudged phases warm-start from the first (free) phase.

        The phases share their inputs and targets, so the known (pinned) voltages and the
        right-hand side they give are computed once, not once per phase. A large batch is cut
        into slices solved on threads (:meth:`_thread_slices`), all phases of a slice on one.
        """
        start = time.perf_counter()
        parts = self._thread_slices(inputs, targets)
        if parts is None:
            return self._solve_phases(inputs, targets, betas)
        inputs, _, targets = self._prepare(inputs, 0.0, targets)
        outs = [np.empty((inputs.shape[0], len(self.node_names))) for _ in betas]
        pieces = on_threads(
            lambda part: self._solve_phases(inputs[part], targets[part], betas,
                                            [out[part] for out in outs], part.start), parts,
            self.threads)
        return [joined([piece[k] for piece in pieces], outs[k], start, self.node_names,
                       self.output_columns) for k in range(len(betas))]

    def _solve_phases(self, inputs, targets, betas, outs=None, row_offset: int = 0) -> list:
        shared = {}
        outs = outs or [None] * len(betas)
        results = [self._solve(inputs, betas[0], targets, None, shared, outs[0], row_offset)]
        # The nudged phases start where the free phase converged, diode voltages included
        # (each gets its own copy, the last the original: Newton overwrites them).
        vd_free = shared.pop("vd_free", None)
        last = len(betas) - 1
        for k, (beta, out) in enumerate(zip(betas[1:], outs[1:]), start=1):
            start_vd = None if vd_free is None else vd_free if k == last else vd_free.copy()
            results.append(self._solve(inputs, beta, targets, results[0].unknowns, shared, out,
                                       row_offset, start_vd))
        return results

    # -- solving ------------------------------------------------------------------------
    def solve(self, inputs, beta: float = 0.0, targets=None, initial=None) -> SolveResult:
        """Operating points of a batch; see :meth:`Backend.solve`.

        ``initial`` (shape (batch, n_unknown)) warm-starts Newton from earlier unknowns,
        e.g. the free phase's, as returned in ``result.unknowns``.
        A cross-entropy nudged solve without ``initial`` starts from the free equilibrium.
        """
        start = time.perf_counter()
        parts = self._thread_slices(inputs, targets)
        if parts is None:
            return self._solve(inputs, beta, targets, initial)
        inputs, beta, targets = self._prepare(inputs, beta, targets)
        if initial is not None:
            initial = np.asarray(initial, dtype=float)
        out = np.empty((inputs.shape[0], len(self.node_names)))
        pieces = on_threads(
            lambda part: self._solve(inputs[part], beta, targets[part],
                                     None if initial is None else initial[part], None,
                                     out[part], part.start), parts, self.threads)
        return joined(pieces, out, start, self.node_names, self.output_columns)

    def _solve(self, inputs, beta, targets, initial, shared=None, out=None,
               row_offset: int = 0, initial_vd=None) -> SolveResult:
        """:meth:`solve` of one batch (or slice) on this thread.

        ``shared``: a dict the phases of one ``solve_phases`` call share (the pinned voltages,
        right-hand side and diode ends of its inputs); ``out``: where to write the voltages;
        ``row_offset``: the slice's first row, for error messages; ``initial_vd``: the diode
        voltages at ``initial`` (see :meth:`_newton`).
        """
        start = time.perf_counter()
        inputs, beta, targets = self._prepare(inputs, beta, targets)
        batch = inputs.shape[0]
        ce = self.loss == "cross_entropy" and beta != 0.0
        if self.loss == "cross_entropy":
            beta, ce_beta = 0.0, beta           # no linear nudge stamps
        if ce and initial is None:
            # Start a cross-entropy nudged phase from the free equilibrium (as EP does): a
            # strong negative nudge makes E + beta L non-convex far from it.
            initial = self._solve(inputs, 0.0, None, None).unknowns
        if shared is not None and "pinned" in shared:
            pinned, rhs, vd_pinned = shared["pinned"], shared["rhs"].copy(), shared["vd_pinned"]
        else:
            if self._pin_gather is not None:
                pinned = self._pinned_voltages(inputs, targets)
                rhs = pinned @ self._base_up_dense.T if self._base_up_dense is not None \
                    else (self._base_up @ pinned.T).T
                np.negative(rhs, out=rhs)            # 0 - P, the sources' rows being empty
            else:
                source_values = (self._dc + (self._input_gain.T @ inputs.T).T
                                 + (self._target_gain.T @ targets.T).T)
                pinned = (self._pin_map.T @ source_values.T).T
                rhs = (self._rhs_map.T @ source_values.T).T - (
                    pinned @ self._base_up_dense.T if self._base_up_dense is not None
                    else (self._base_up @ pinned.T).T)
            vd_pinned = self._pinned_ends[1](pinned[:, self._pinned_ends[0]]) \
                if self._diodes else np.zeros((batch, 0))
            if shared is not None:
                shared.update(pinned=pinned, rhs=rhs.copy(), vd_pinned=vd_pinned)
        if beta:
            # Only the columns of the targets' pinned nodes: no transposed (batch x pinned) copy.
            columns, compact = self._nudge_columns()
            rhs -= beta * (compact @ pinned[:, columns].T).T
        if self._dense:
            a_uu = self._phase_matrix(beta)
        else:
            a_uu = self._base_uu + beta * self._nudge_uu if beta else self._base_uu
        x = np.zeros((batch, self.n_unknown)) if initial is None else \
            np.array(initial, dtype=float, copy=True)
        converged = np.zeros(batch, dtype=bool)
        iterations = np.zeros(batch, dtype=int)
        if not self.n_unknown:             # every node set by a source: nothing to solve
            converged[:] = True
        elif not self._diodes and not ce:
            x = self._linear_solve(a_uu, None, rhs, np.arange(batch))
            converged[:] = True
        else:
            x, converged, iterations, vd_final = self._newton_batch(
                a_uu, rhs, vd_pinned, pinned, targets, x, initial is not None, ce,
                ce_beta if ce else 0.0, initial_vd)
            if shared is not None and initial is None:
                shared["vd_free"] = vd_final          # the nudged phases start from it
        if not np.all(converged):
            rows = np.flatnonzero(~converged) + row_offset
            raise ConvergenceError(
                f"native solver: no DC operating point for circuit {self._circuit.name!r} "
                f"(sample row(s) {', '.join(map(str, rows[:5].tolist()))}) after "
                f"{self.max_iterations} Newton iterations")
        voltages = np.empty((batch, len(self.node_names))) if out is None else out
        columns_u, rows_u, columns_p, rows_p = self._node_slices
        voltages[:, columns_u] = x[:, rows_u]
        voltages[:, columns_p] = pinned[:, rows_p]
        result = SolveResult("native", list(self.node_names), voltages,
                             voltages[:, self.output_columns], converged,
                             time.perf_counter() - start)
        result.unknowns = x
        result.iterations = iterations
        return result
