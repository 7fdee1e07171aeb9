"""The MNA system of a circuit as arrays: the index of unknowns and pinned nodes, the stamps
of the linear elements, the gathers of pinned voltages, the cross-entropy nudge term, and the
re-assembly of the matrices after conductance updates (``set_values``).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from eqprop_hw.backends.native.diode import diode_law, diode_stamp
from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.graph import GROUND
from eqprop_hw.learning.losses import cross_entropy_nudge


#: Largest (unknowns x pinned) block kept dense for the right-hand side product (8 M cells).
DENSE_PINNED_CELLS = 1 << 23


class BatchMap:
    """``y = (M @ x.T).T`` for a batch ``x`` (samples x columns) and a sparse ``M`` with a few
    entries per row, as column gathers of ``x``: no transposed copy of the batch.

    Row i of y accumulates ``a * x[:, j]`` over M's stored entries in the order scipy's
    ``csr_matvecs`` does (from 0), so the result is the same to the last bit; rows shorter than
    the longest are padded with terms ``0 * x[:, 0]``. ``None`` from :meth:`build` when some row
    has more than ``max_terms`` entries (the sparse product is then cheaper).
    """

    def __init__(self, index, weights, n_rows):
        self.index, self.weights, self.n_rows = index, weights, n_rows

    @classmethod
    def build(cls, matrix, max_terms: int = 4):
        csr = sp.csr_matrix(matrix)     # a csc matrix accumulates in column order: sorted csr
        if isinstance(matrix, sp.csc_matrix) or not csr.has_sorted_indices:
            csr = csr.copy()
            csr.sort_indices()
        counts = np.diff(csr.indptr)
        terms = int(counts.max()) if counts.size else 0
        if terms > max_terms:
            return None
        index = np.zeros((terms, csr.shape[0]), dtype=np.intp)
        weights = np.zeros((terms, csr.shape[0]))
        for row in range(csr.shape[0]):
            start, stop = csr.indptr[row], csr.indptr[row + 1]
            index[:stop - start, row] = csr.indices[start:stop]
            weights[:stop - start, row] = csr.data[start:stop]
        return cls(index, weights, csr.shape[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not len(self.index):
            return np.zeros((x.shape[0], self.n_rows))
        out = np.take(x, self.index[0], axis=1)
        out *= self.weights[0]
        for index, weights in zip(self.index[1:], self.weights[1:]):
            term = np.take(x, index, axis=1)
            term *= weights
            out += term
        return out


def as_slice(index: np.ndarray):
    """``index`` as a slice when it is a contiguous increasing range (plain copies instead of
    gathers), else unchanged."""
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


def batch_product(matrix, batch_map):
    """A function of x computing ``(matrix @ x.T).T``: the gather map when there is one."""
    if batch_map is not None:
        return batch_map
    return lambda x: (matrix @ x.T).T


class _Index:
    """Maps nodes and branches to MNA rows: unknowns first, then pinned nodes."""

    def __init__(self):
        self.unknown: dict = {}
        self.pinned: dict = {}

    def add_unknown(self, key):
        self.unknown.setdefault(key, len(self.unknown))

    def col(self, key) -> int:
        """Column of a node or branch in [unknowns | pinned]; -1 for ground."""
        if key == GROUND:
            return -1
        if key in self.unknown:
            return self.unknown[key]
        return len(self.unknown) + self.pinned[key]

class Assembly:
    """The assembly part of :class:`~eqprop_hw.backends.native.NativeBackend`."""

    # -- compilation --------------------------------------------------------------------
    def _compile(self):
        """The MNA arrays of the circuit: the index of unknowns and pinned nodes, the source
        maps, the diode incidence; then the elimination is chosen and the matrices assembled."""
        elements = list(self.circuit.elements) + self._nudges
        diodes = self._compile_index(elements)
        self._compile_sources(elements)
        self._compile_diodes(diodes)
        self._choose_elimination()
        self._assemble_linear()

    def _compile_index(self, elements) -> list:
        """Unknowns (free nodes, diode-internal nodes, branch currents) and pinned nodes (tied
        to ground by a voltage source); returns the diodes."""
        circuit = self.circuit
        controls = {e.control for e in elements if e.type in "FH"}
        index = _Index()
        pinned_by = {}
        for element in elements:
            if element.type == "V" and element.name not in controls and GROUND in element.nodes:
                node = element.nodes[0] if element.nodes[1] == GROUND else element.nodes[1]
                if node == GROUND:
                    continue
                if node in pinned_by:
                    raise CircuitError(f"node {node!r} is driven by two voltage sources "
                                       f"({pinned_by[node][0]} and {element.name})")
                sign = 1.0 if element.nodes[1] == GROUND else -1.0
                pinned_by[node] = (element.name, sign)
        for node in circuit.nodes + [e.nodes[0] for e in self._nudges]:
            if node != GROUND and node not in pinned_by:
                index.add_unknown(node)
        diodes = [e for e in elements if e.type == "D"]
        for diode in diodes:
            if circuit.models[diode.model].RS > 0:
                index.add_unknown(("int", diode.name))
        pinning = {v[0] for v in pinned_by.values()}       # once, not once per element
        for element in elements:
            if element.type in "EHL" or (element.type == "V" and element.name not in pinning):
                index.add_unknown(("branch", element.name))
        for position, node in enumerate(pinned_by):
            index.pinned[node] = position
        self._index = index
        self._pinned_by = pinned_by
        in_unknown = [node in index.unknown for node in self.node_names]
        self._node_columns = (
            np.array([k for k, u in enumerate(in_unknown) if u], dtype=np.int64),
            np.array([index.unknown[n] for n, u in zip(self.node_names, in_unknown) if u],
                     dtype=np.int64),
            np.array([k for k, u in enumerate(in_unknown) if not u], dtype=np.int64),
            np.array([index.pinned[n] for n, u in zip(self.node_names, in_unknown) if not u],
                     dtype=np.int64))
        # The same as slices where the positions are contiguous ranges (plain copies).
        self._node_slices = tuple(as_slice(idx) for idx in self._node_columns)
        self._voltage_unknowns = np.array(
            [not (isinstance(key, tuple) and key[0] == "branch") for key in index.unknown],
            dtype=bool)
        n_unknown, n_pinned = len(index.unknown), len(index.pinned)
        self.n_unknown, self.n_pinned = n_unknown, n_pinned
        return diodes

    def _compile_sources(self, elements):
        """The maps from inputs and targets to source values, pinned voltages and the
        right-hand side."""
        circuit, index, pinned_by = self.circuit, self._index, self._pinned_by
        n_unknown, n_pinned = self.n_unknown, self.n_pinned
        # Source bookkeeping: every independent source value per sample is
        # dc + inputs @ input_gain + targets @ target_gain.
        sources = [e for e in elements if e.type in "VI"]
        self._source_pos = {e.name: k for k, e in enumerate(sources)}
        self._sources = sources
        dc = np.array([e.value for e in sources], dtype=float)
        input_gain = np.zeros((len(circuit.inputs), len(sources)))
        driven = np.zeros(len(sources), dtype=bool)
        for i, port in enumerate(circuit.inputs):
            for source, gain in port.sources:
                input_gain[i, self._source_pos[source]] += gain
                driven[self._source_pos[source]] = True
        dc[driven] = 0.0
        target_gain = np.zeros((len(circuit.outputs), len(sources)))
        if self._nudges:
            for k in range(len(circuit.outputs)):
                target_gain[k, self._source_pos[f"VNUDGE{k}"]] = 1.0
        self._compile_cross_entropy()
        self._dc = dc
        self._input_gain, self._target_gain = sp.csr_matrix(input_gain), sp.csr_matrix(target_gain)

        # Pinned node value = sign * source value.
        pin_map = np.zeros((len(sources), n_pinned))
        for node, (source, sign) in pinned_by.items():
            pin_map[self._source_pos[source], index.pinned[node]] = sign
        self._pin_map = sp.csr_matrix(pin_map)
        # Right-hand side of the unknown rows from sources: I sources and branch equations.
        rhs_map = np.zeros((len(sources), n_unknown))
        for element in sources:
            k = self._source_pos[element.name]
            if element.type == "I":
                for node, sign in ((element.nodes[0], -1.0), (element.nodes[1], 1.0)):
                    if node != GROUND and node in index.unknown:
                        rhs_map[k, index.unknown[node]] += sign
            elif ("branch", element.name) in index.unknown:
                rhs_map[k, index.unknown[("branch", element.name)]] += 1.0
        self._rhs_map = sp.csr_matrix(rhs_map)
        self._pinned_currents = [e for e in sources if e.type == "I"]
        self._pin_gather = self._compile_pin_gather(dc, input_gain, target_gain, pinned_by)

    def _compile_diodes(self, diodes):
        """The diode incidence, law, stamp pattern and batch products."""
        circuit, index = self.circuit, self._index
        n_unknown, n_pinned = self.n_unknown, self.n_pinned
        # Diode incidence (rows: diodes; columns: unknowns | pinned).
        self._diodes = diodes
        n_cols = n_unknown + n_pinned
        rows, cols, vals = [], [], []
        for d, diode in enumerate(diodes):
            anode = ("int", diode.name) if circuit.models[diode.model].RS > 0 else diode.nodes[0]
            for node, sign in ((anode, 1.0), (diode.nodes[1], -1.0)):
                col = index.col(node)
                if col >= 0:
                    rows.append(d), cols.append(col), vals.append(sign)
        incidence = sp.csr_matrix((vals, (rows, cols)), shape=(len(diodes), n_cols))
        self._d_unknown = incidence[:, :n_unknown].tocsc()
        # Sparse (one entry per diode end on a pinned node): a dense (diodes x pinned) product
        # per solve cost more than the rest of the setup on mnist_size.
        self._d_pinned = incidence[:, n_unknown:].tocsr()
        self._saturation, self._vte, self._breakdown = diode_law(circuit, diodes)
        self._vcrit = self._vte * np.log(self._vte / (math.sqrt(2.0) * self._saturation))
        self._v_reverse = -3.0 * self._vte
        # Stamp pattern of diode conductances into the unknown block: J += S @ gd.
        if diodes:
            self._stamp = diode_stamp(self._d_unknown)
        # Batch products of the incidence: diode voltages from the unknowns and pinned nodes,
        # diode currents into the unknown rows.
        self._to_diodes = batch_product(self._d_unknown, BatchMap.build(self._d_unknown))
        self._from_diodes = batch_product(self._d_unknown.T,
                                           BatchMap.build(self._d_unknown.T))
        pinned_ends = np.flatnonzero(np.diff(self._d_pinned.tocsc().indptr))
        self._pinned_ends = (pinned_ends, batch_product(
            self._d_pinned[:, pinned_ends], BatchMap.build(self._d_pinned[:, pinned_ends])))

    def _compile_pin_gather(self, dc, input_gain, target_gain, pinned_by):
        """Pinned voltages as column gathers, when each pinned source has at most one driver.

        Then ``pinned[:, p] = (dc + u[:, i] * gain) * sign`` with ``u`` the inputs or the
        targets, which is the sparse products' arithmetic term by term (adding exact zeros and
        multiplying by +-1 round nothing), without the (batch x sources) intermediate. None when
        a source sums several drivers or independent sources feed unknown rows (``_rhs_map``).
        """
        if self._rhs_map.nnz:
            return None
        n_pinned = len(self._index.pinned)
        base, signs = np.zeros(n_pinned), np.zeros(n_pinned)
        drivers = {"inputs": ([], [], []), "targets": ([], [], [])}
        for node, (source, sign) in pinned_by.items():
            p, k = self._index.pinned[node], self._source_pos[source]
            found = [("inputs", i, input_gain[i, k]) for i in np.flatnonzero(input_gain[:, k])]
            found += [("targets", i, target_gain[i, k])
                      for i in np.flatnonzero(target_gain[:, k])]
            if len(found) > 1:
                return None
            base[p], signs[p] = dc[k], sign
            if found:
                kind, i, gain = found[0]
                drivers[kind][0].append(p), drivers[kind][1].append(i)
                drivers[kind][2].append(gain)
        undriven = np.ones(n_pinned, dtype=bool)
        maps = {}
        for kind, (cols, rows, gains) in drivers.items():
            cols, rows = np.array(cols, dtype=np.int64), np.array(rows, dtype=np.int64)
            undriven[cols] = False
            maps[kind] = (as_slice(cols), rows, np.array(gains, dtype=float), base[cols],
                          signs[cols], bool(np.any(base[cols])))
        rest = np.flatnonzero(undriven)
        return maps, rest, signs[rest] * base[rest]

    def _pinned_voltages(self, inputs, targets):
        """Known node voltages (batch x pinned) from the inputs and targets, in a work array
        (valid until this thread's next solve of the same circuit starts)."""
        maps, rest, constant = self._pin_gather
        shape = (inputs.shape[0], self.n_pinned)
        pinned = self._work.scratch("pinned", shape)
        for kind, values in (("inputs", inputs), ("targets", targets)):
            cols, rows, gains, base, signs, offset = maps[kind]
            if not rows.size:
                continue
            block = np.take(values, rows, axis=1)
            block *= gains
            if offset:
                block += base
            block *= signs
            pinned[:, cols] = block
        pinned[:, rest] = constant
        return pinned

    def _compile_cross_entropy(self):
        """Where the cross-entropy nudge acts: output unknowns (deduplicated) and pinned outputs.

        ``_ce_select`` (n_outputs x n_ce) maps the distinct unknown output voltages to the
        outputs; an output on a pinned node reads its voltage from the pinned values instead
        (its nudge current flows into the source and changes nothing).
        """
        self._ce_cols = np.zeros(0, dtype=np.int64)
        if self.loss != "cross_entropy":
            return
        index, n_out = self._index, len(self.circuit.outputs)
        cols, rows, positions = [], [], []
        pinned_out = np.full(n_out, -1, dtype=np.int64)
        for k, port in enumerate(self.circuit.outputs):
            if port.node == GROUND:
                raise CircuitError(f"output {port.name!r} is on ground: the cross-entropy nudge "
                                   "needs outputs on other nodes")
            if port.node in index.unknown:
                col = index.unknown[port.node]
                if col not in cols:
                    cols.append(col)
                rows.append(k), positions.append(cols.index(col))
            else:
                pinned_out[k] = index.pinned[port.node]
        select = np.zeros((n_out, len(cols)))
        select[rows, positions] = 1.0
        self._ce_cols = np.array(cols, dtype=np.int64)
        self._ce_select = select
        self._ce_pinned_rows = np.flatnonzero(pinned_out >= 0)
        self._ce_pinned_cols = pinned_out[self._ce_pinned_rows]

    def _ce_linearise(self, v_ce, pinned, targets, beta):
        """Companion model of the cross-entropy nudge at output unknowns ``v_ce`` (V).

        Returns the right-hand-side addition ``S^T (I + G V)`` (A) on the output unknowns and
        the Jacobian block ``S^T G S`` (S), ``G = -dI/dV``.
        """
        select = self._ce_select
        v_out = v_ce @ select.T
        if self._ce_pinned_rows.size:
            v_out[:, self._ce_pinned_rows] = pinned[:, self._ce_pinned_cols]
        current, conductance = cross_entropy_nudge(v_out, targets, beta, self.temperature)
        block = np.einsum("ka,bkl,lc->bac", select, conductance, select, optimize=True)
        rhs = current @ select + np.einsum("bac,bc->ba", block, v_ce)
        return rhs, block

    def _linear_stamps(self, elements, index):
        """Jacobian pattern of the linear elements (unknown rows only).

        Returns
        -------
        rows, cols : ndarray of int
            Entry positions (columns over [unknowns | pinned]).
        coefficients : ndarray of float
            Entry = coefficient * value of element ``which`` (or the coefficient alone).
        which : ndarray of int
            Position of the element in ``elements`` whose value scales the entry; -1 for none.
        """
        rows, cols, coefs, which = [], [], [], []
        unknown = index.unknown

        def add(row_key, col_key, coefficient, position):
            if row_key == GROUND or col_key == GROUND or row_key not in unknown:
                return
            rows.append(unknown[row_key]), cols.append(index.col(col_key))
            coefs.append(coefficient), which.append(position)

        for position, element in enumerate(elements):
            kind, nodes = element.type, element.nodes
            if kind in "RG":
                p, n = nodes[0], nodes[1]
                cp, cn = (p, n) if kind == "R" else (nodes[2], nodes[3])
                add(p, cp, 1.0, position), add(p, cn, -1.0, position)
                add(n, cp, -1.0, position), add(n, cn, 1.0, position)
            elif kind in "VEHL" and ("branch", element.name) in unknown:
                branch = ("branch", element.name)
                p, n = nodes[0], nodes[1]
                add(p, branch, 1.0, -1), add(n, branch, -1.0, -1)
                add(branch, p, 1.0, -1), add(branch, n, -1.0, -1)
                if kind == "E":
                    add(branch, nodes[2], -1.0, position), add(branch, nodes[3], 1.0, position)
                elif kind == "H":
                    add(branch, ("branch", element.control), -1.0, position)
            elif kind == "F":
                control = ("branch", element.control)
                add(nodes[0], control, 1.0, position), add(nodes[1], control, -1.0, position)
            elif kind == "D" and self.circuit.models[element.model].RS > 0:
                a, b = nodes[0], ("int", element.name)
                add(a, a, 1.0, position), add(a, b, -1.0, position)
                add(b, a, -1.0, position), add(b, b, 1.0, position)
        return (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64),
                np.array(coefs, dtype=float), np.array(which, dtype=np.int64))

    def _stamp_value(self, element) -> float:
        """The number an element's stamp coefficients multiply (S, gain or area/RS)."""
        if element.type == "D":
            rs = self.circuit.models[element.model].RS
            return element.value / rs if rs > 0 else 0.0
        return float(element.value) if element.value is not None else 0.0

    def _assemble_linear(self):
        """Numeric Jacobian blocks from the fixed pattern and the current element values."""
        n_unknown, n_pinned = self.n_unknown, self.n_pinned
        if not hasattr(self, "_pattern"):
            elements = self.circuit.elements
            self._element_pos = {e.name: k for k, e in enumerate(elements)}
            self._trainable_pos = np.array([self._element_pos[n] for n in self.circuit.trainable],
                                           dtype=np.int64)
            self._pattern = self._linear_stamps(elements, self._index)
            self._nudge_pattern = self._linear_stamps(
                [e for e in self._nudges if e.type == "G"], self._index)
            self._values = np.array([self._stamp_value(e) for e in elements])
            self._trainable_all_resistors = all(elements[p].type == "R"
                                                for p in self._trainable_pos)
        shape = (n_unknown, n_unknown + n_pinned)

        def matrix(pattern, element_values):
            rows, cols, coefs, which = pattern
            scale = np.where(which >= 0, element_values[np.maximum(which, 0)], 1.0) \
                if len(which) else np.zeros(0)
            return sp.csr_matrix((coefs * scale, (rows, cols)), shape=shape)

        if not hasattr(self, "_dense"):
            # Many unknowns that only fixed linear elements touch (wire taps): eliminating
            # them (Kron reduction) beats a dense LU of everything.
            self._dense = self._dense_fits(n_unknown)
        if self._dense:   # one arithmetic for fresh builds and updates (same round-off)
            if not hasattr(self, "_up_map"):
                self._prepare_dense_fast()
            self._assemble_dense_fast()
        else:
            base = matrix(self._pattern, self._values)
            self._base_uu = base[:, :n_unknown].tocsc()
            self._base_up = base[:, n_unknown:].tocsc()
            self._base_up_dense = None
        if not hasattr(self, "_nudge_uu"):
            nudge = matrix(self._nudge_pattern, np.ones(len(self._nudges)))
            self._nudge_uu = nudge[:, :n_unknown].tocsc()
            self._nudge_up = nudge[:, n_unknown:].tocsc()
            self._nudge_uu_dense = self._nudge_uu.toarray()

    def _prepare_dense_fast(self):
        """Precompute where each stamp triplet lands, so updates re-assemble without sorting.

        Unknown block: the triplets sorted by their cell (stably), each cell the sum of its
        run (``np.add.reduceat``: contiguous, vectorised; a hidden node's diagonal gathers
        one term per conductance at it). Pinned block: the cell of every triplet, summed by
        ``bincount`` unless every cell has one triplet (a crossbar), then placed directly.
        Element values enter through ``which`` (the element's position, or the position one
        past the last for a constant coefficient, whose value is 1).
        """
        rows, cols, coefs, which = self._pattern
        n_unknown, n_pinned = self.n_unknown, self.n_pinned
        which = np.where(which >= 0, which, len(self._values))
        in_uu = cols < n_unknown
        keys = rows[in_uu] * n_unknown + cols[in_uu]
        order = np.argsort(keys, kind="stable")
        cells, starts = np.unique(keys[order], return_index=True)
        self._uu_map = (coefs[in_uu][order], which[in_uu][order], cells, starts)
        keys = rows[~in_uu] * max(n_pinned, 1) + (cols[~in_uu] - n_unknown)
        unique, inverse = np.unique(keys, return_inverse=True)
        up_rows, up_cols = np.divmod(unique, max(n_pinned, 1))
        indptr = np.searchsorted(up_rows, np.arange(n_unknown + 1))
        up_coefs, up_which = coefs[~in_uu], which[~in_uu]
        if np.all(np.bincount(inverse, minlength=unique.size) == 1):
            placed = np.argsort(inverse)                # one triplet per cell: in cell order
            up_coefs, up_which, inverse = up_coefs[placed], up_which[placed], None
        self._up_map = (inverse, up_coefs, up_which, unique.size, up_cols, indptr)

    def _assemble_dense_fast(self):
        """Dense unknown block and sparse pinned block from the precomputed triplet map."""
        n_unknown, n_pinned = self.n_unknown, self.n_pinned
        values = np.append(self._values, 1.0)     # coefficient x value; 1 past the last
        coefs, which, cells, starts = self._uu_map
        dense = np.zeros(n_unknown * n_unknown)
        if cells.size:
            dense[cells] = np.add.reduceat(coefs * values[which], starts)
        self._base_uu_dense = dense.reshape(n_unknown, n_unknown)
        self._base_uu = sp.csc_matrix(self._base_uu_dense)
        inverse, coefs, which, size, up_cols, indptr = self._up_map
        data = coefs * values[which]
        if inverse is not None:
            data = np.bincount(inverse, data, minlength=size).astype(float)
        self._base_up = sp.csr_matrix((data, up_cols, indptr), shape=(n_unknown, n_pinned))
        # A mostly full pinned block (a crossbar's input layer) is moved to the right-hand side
        # by one BLAS product: several times faster than the sparse product per batch.
        cells = n_unknown * n_pinned
        self._base_up_dense = self._base_up.toarray() \
            if 0 < cells <= DENSE_PINNED_CELLS and size >= 0.25 * cells else None

    def _phase_matrix(self, beta):
        """Dense unknown block with the nudge at ``beta``, one object per (values, beta): the
        threads of one batch share it and the Schur blocks extracted from it."""
        base = self._base_uu_dense
        if not beta:
            return base
        cache = getattr(self, "_phase_matrices", None)
        if cache is None or cache[0] is not base:
            cache = self._phase_matrices = (base, {})
        matrix = cache[1].get(beta)
        if matrix is None:
            if len(cache[1]) >= 8:
                cache[1].clear()
            matrix = cache[1][beta] = base + beta * self._nudge_uu_dense
        return matrix

    def _nudge_columns(self):
        """The pinned columns the nudge reaches and its (unknowns x those) block."""
        if getattr(self, "_nudge_compact", None) is None or \
                self._nudge_compact[0] is not self._nudge_up:
            up = self._nudge_up.tocsc()
            columns = np.flatnonzero(np.diff(up.indptr))
            self._nudge_compact = (self._nudge_up, columns, up[:, columns].tocsc())
        return self._nudge_compact[1], self._nudge_compact[2]
