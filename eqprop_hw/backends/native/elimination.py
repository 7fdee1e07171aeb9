"""The linear solves inside a Newton step: the choice between dense batched LU, the
Kron-reduced sparse path (fixed linear unknowns eliminated once) and the Schur path (diode-only
hidden nodes eliminated per sample), and each of those solves.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from eqprop_hw.backends.native.assembly import BatchMap, as_slice, batch_product
from eqprop_hw.backends.native.diode import diode_stamp
from eqprop_hw.errors import ConvergenceError


#: Circuits with at least this many unknowns, two thirds of them touched only by fixed linear
#: elements, use the Kron-reduced path even when a dense LU of everything would fit.
KRON_MIN_UNKNOWNS = 256

#: Largest L x N matrix A_LL^-1 A_LN kept by the Kron-reduced sparse path (16 M cells).
KRON_COUPLING_CELLS = 1 << 24

#: Largest H x O^2 matrix of products kept for the Schur complement (4 M cells).
SCHUR_PAIR_CELLS = 1 << 22


def solve_positive(a: np.ndarray, b: np.ndarray):
    """Solve a batch of symmetric systems stored batch last, ``a`` (n x n x batch) and ``b``
    (n x batch), by Gaussian elimination without pivoting (``a`` and ``b`` are overwritten).

    Returns x (batch x n), or None when a pivot is not positive and finite: then some matrix is
    not positive definite, where elimination without pivoting is not safe (the caller solves
    with LAPACK instead). For symmetric positive definite matrices it is backward stable; the
    result differs from LAPACK's pivoted LU by round-off only.
    """
    n = a.shape[0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in range(n - 1):
            factor = a[k + 1:, k] / a[k, k]
            a[k + 1:, k + 1:] -= factor[:, None] * a[k, k + 1:][None]
            b[k + 1:] -= factor * b[k]
        pivots = np.diagonal(a).T                     # (n x batch)
        if not np.all(pivots > 0) or not np.all(np.isfinite(pivots)):
            return None
        x = np.empty_like(b)
        for k in range(n - 1, -1, -1):
            row = b[k] - np.einsum("jb,jb->b", a[k, k + 1:], x[k + 1:]) if k < n - 1 else b[k]
            np.divide(row, a[k, k], out=x[k])
    return np.ascontiguousarray(x.T)

class Elimination:
    """The elimination part of :class:`~eqprop_hw.backends.native.NativeBackend`."""

    def _choose_elimination(self):
        """Pick unknowns H to eliminate first: node voltages whose per-sample Jacobian is diagonal.

        An unknown can join H when it is a node voltage, every diode touching it has its other
        terminal pinned or grounded (so diodes only add to its diagonal), and no other member of
        H shares a matrix entry with it. Then ``J_HH`` is diagonal for every sample and the
        batch reduces to the small Schur system ``J_OO - J_OH J_HH^-1 J_HO`` on the rest, e.g.
        a 784-100-10 crossbar's 100 hidden nodes are eliminated, leaving the 10 outputs.
        """
        index, n_unknown = self._index, self.n_unknown
        elements = list(self.circuit.elements) + self._nudges
        rows, cols, _, _ = self._linear_stamps(elements, index)
        neighbours = [set() for _ in range(n_unknown)]
        for r, c in zip(rows, cols):
            if r != c and c < n_unknown:
                neighbours[r].add(c), neighbours[c].add(r)
        du = self._d_unknown.tocsr()
        terminals = np.diff(du.indptr)
        eligible = np.ones(n_unknown, dtype=bool)
        for key, col in index.unknown.items():
            if not isinstance(key, str):
                eligible[col] = False
        if len(self._diodes):
            coo = du.tocoo()
            for d, c in zip(coo.row, coo.col):
                if terminals[d] > 1:
                    eligible[c] = False
        eligible[self._ce_cols] = False        # the cross-entropy nudge couples the outputs
        diagonal_touched = np.zeros(n_unknown, dtype=bool)
        for r, c in zip(rows, cols):
            if r == c:
                diagonal_touched[r] = True
        eligible &= diagonal_touched
        chosen = np.zeros(n_unknown, dtype=bool)
        for i in np.flatnonzero(eligible):
            if not any(chosen[j] for j in neighbours[i]):
                chosen[i] = True
        self._blocks = None
        self._fused_csr = None
        self._h_idx = np.flatnonzero(chosen)
        self._o_idx = np.flatnonzero(~chosen)
        self._h_cols, self._o_cols = as_slice(self._h_idx), as_slice(self._o_idx)
        if len(self._diodes):
            h_pos = {c: k for k, c in enumerate(self._h_idx)}
            o_pos = {c: k for k, c in enumerate(self._o_idx)}
            stamp = self._stamp.tocoo()
            n_o = len(self._o_idx)
            h_rows, h_cols, o_rows, o_cols, h_vals, o_vals = [], [], [], [], [], []
            for flat, d, v in zip(stamp.row, stamp.col, stamp.data):
                r, c = divmod(int(flat), n_unknown)
                if r in h_pos:
                    h_rows.append(h_pos[r]), h_cols.append(d), h_vals.append(v)
                else:
                    o_rows.append(o_pos[r] * n_o + o_pos[c]), o_cols.append(d), o_vals.append(v)
            n_d = len(self._diodes)
            self._stamp_h = sp.csr_matrix((h_vals, (h_rows, h_cols)),
                                          shape=(len(self._h_idx), n_d))
            self._stamp_o = sp.csr_matrix((o_vals, (o_rows, o_cols)), shape=(n_o * n_o, n_d))
            self._stamp_h_map = batch_product(self._stamp_h, BatchMap.build(self._stamp_h))
            self._stamp_o_map = batch_product(self._stamp_o, BatchMap.build(self._stamp_o))

    def _dense_fits(self, n_unknown: int) -> bool:
        """Whether the ``n_unknown`` unknowns are solved by dense batched LU: at most
        ``dense_limit`` of them, unless there are many (:data:`KRON_MIN_UNKNOWNS`) and at least
        two thirds are touched only by fixed linear elements (wire taps), where eliminating
        those (Kron reduction) beats a dense LU of everything."""
        split = self._reduction()
        return n_unknown <= self.dense_limit and not (
            split is not None and n_unknown >= KRON_MIN_UNKNOWNS
            and len(split[1]) >= 2 * len(split[0]))

    def _linear_solve(self, a_uu, conductance, b, active, extra=None):
        """Solve (A + D^T diag(g) D + C^T X C) x = b for every active row.

        ``extra`` (batch, n_ce, n_ce) is a per-sample block on the output unknowns
        ``_ce_cols`` (the cross-entropy nudge's conductances), or None.
        """
        if self._dense:
            try:
                if len(self._h_idx):
                    return self._schur_solve(a_uu, conductance, b, extra)
                matrices = np.broadcast_to(a_uu, (len(active),) + a_uu.shape).copy()
                if conductance is not None:
                    flat = matrices.reshape(len(active), -1)
                    flat += (self._stamp @ conductance.T).T
                if extra is not None:
                    cols = self._ce_cols
                    matrices[:, cols[:, None], cols[None, :]] += extra
                return np.linalg.solve(matrices, b[..., None])[..., 0]
            except np.linalg.LinAlgError:
                raise self._singular_matrix_error() from None
        if self._reduction() is not None:
            return self._reduced_solve(a_uu, conductance, b, extra)
        return self._sparse_solve(a_uu, conductance, b, active, extra)

    def _singular_matrix_error(self) -> ConvergenceError:
        return ConvergenceError(
            f"native solver: singular circuit matrix for {self._circuit.name!r} "
            "(a loop of voltage sources, or a node held only by current sources)")

    def _reduction(self):
        """Split of the unknowns for :meth:`_reduced_solve`, or None where it does not apply.

        N: unknowns whose Jacobian entries change between Newton steps or phases (nodes
        touched by a diode, the nudge or the cross-entropy term) and branch currents; L: the
        rest, node voltages joined only by fixed linear elements (e.g. the wire taps of a
        crossbar with IR drop). Used by large (sparse) circuits with at most ``dense_limit``
        unknowns in N.
        """
        if not hasattr(self, "_kron_split"):
            n = self.n_unknown
            in_n = ~self._voltage_unknowns.copy()
            du = self._d_unknown.tocsc()
            in_n[np.flatnonzero(np.diff(du.indptr))] = True
            nudge_rows, nudge_cols = self._nudge_pattern[:2]
            in_n[nudge_rows] = True
            in_n[nudge_cols[nudge_cols < n]] = True
            in_n[self._ce_cols] = True
            n_idx, l_idx = np.flatnonzero(in_n), np.flatnonzero(~in_n)
            split = None
            if 0 < len(n_idx) <= self.dense_limit and len(l_idx) > 0:
                split = (n_idx, l_idx, diode_stamp(du[:, n_idx]),
                         np.searchsorted(n_idx, self._ce_cols))
            self._kron_split = split
            self._kron = self._kron_delta = None
        return self._kron_split

    def _reduced_solve(self, a_uu, conductance, b, extra=None):
        """Eliminate the fixed linear unknowns L exactly (Kron reduction), solve the rest densely.

        With A_LL factorised once per set of element values (sparse LU), the Schur complement
        S = A_NN - A_NL A_LL^-1 A_LN is a dense N x N matrix; each Newton step then solves
        (S + diode and nudge terms) x_N = b_N - A_NL A_LL^-1 b_L for the whole batch and
        recovers x_L = A_LL^-1 (b_L - A_LN x_N). Exact, not an approximation.
        """
        n_idx, l_idx, stamp, ce_pos = self._kron_split
        base = self._base_uu
        if self._kron is None or self._kron[0] is not base:
            a_ll = base[l_idx][:, l_idx].tocsc()
            # A resistive L block is symmetric: a symmetric ordering without pivoting fills in
            # about half as much as the default (a wired digits crossbar: 2.5 s -> 0.6 s).
            symmetric = abs(a_ll - a_ll.T).max() == 0 if a_ll.nnz else True
            options = dict(permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                           options={"SymmetricMode": True}) if symmetric else {}
            try:
                lu = spla.splu(a_ll, **options)
            except RuntimeError:
                raise ConvergenceError(
                    f"native solver: singular circuit matrix for {self._circuit.name!r}") from None
            a_ln = base[l_idx][:, n_idx].tocsc()
            a_nl = base[n_idx][:, l_idx].tocsr()
            a_nn = base[n_idx][:, n_idx].toarray()
            coupling = lu.solve(a_ln.toarray())           # A_LL^-1 A_LN, (L x N)
            schur = a_nn - a_nl @ coupling
            if coupling.size > KRON_COUPLING_CELLS:    # recompute x_L by LU solves instead
                coupling = None
            self._kron = (base, lu, a_ln, a_nl, a_nn, np.asarray(schur), coupling)
            self._kron_delta = self._kron_rhs = None
        _, lu, a_ln, a_nl, a_nn, schur, coupling = self._kron
        if a_uu is base:
            matrix = schur
        else:           # the nudge: its entries all sit in the N block
            if self._kron_delta is None or self._kron_delta[0] is not a_uu:
                self._kron_delta = (a_uu, schur + (a_uu[n_idx][:, n_idx].toarray() - a_nn))
            matrix = self._kron_delta[1]
        batch, size = b.shape[0], len(n_idx)
        b_l = np.ascontiguousarray(b[:, l_idx].T)
        # Diode terms only touch N rows, so b_L stays the same over the Newton steps of a solve.
        cached = self._kron_rhs
        if cached is None or cached[0].shape != b_l.shape or not np.array_equal(cached[0], b_l):
            cached = self._kron_rhs = (b_l, lu.solve(b_l))       # A_LL^-1 b_L
        inner = cached[1]
        rhs_n = b[:, n_idx] - (a_nl @ inner).T
        matrices = np.broadcast_to(matrix, (batch, size, size)).copy()
        if conductance is not None:
            matrices.reshape(batch, -1)[:] += (stamp @ conductance.T).T
        if extra is not None:
            matrices[:, ce_pos[:, None], ce_pos[None, :]] += extra
        try:
            x_n = np.linalg.solve(matrices, rhs_n[..., None])[..., 0]
        except np.linalg.LinAlgError:
            raise ConvergenceError(
                f"native solver: singular circuit matrix for {self._circuit.name!r}") from None
        x = np.empty_like(b)
        x[:, n_idx] = x_n
        if coupling is not None:
            x[:, l_idx] = (inner - coupling @ x_n.T).T
        else:
            x[:, l_idx] = lu.solve(np.ascontiguousarray(b_l - a_ln @ x_n.T)).T
        return x

    def _schur_blocks(self, a_uu):
        """The fixed blocks of ``a_uu`` the Schur step uses (one extraction per matrix)."""
        h, o = self._h_idx, self._o_idx
        cache = self._blocks
        if cache is None:
            cache = self._blocks = {}
        blocks = cache.get(id(a_uu))
        if blocks is None or blocks[0] is not a_uu:
            a_oh, a_ho = a_uu[np.ix_(o, h)].copy(), a_uu[np.ix_(h, o)].copy()
            # J_OH diag(1/d) J_HO for a whole batch is one product (batch x H) @ (H x O^2)
            # of the inverse diagonals with the fixed products J_OH[:, h] J_HO[h, :], when
            # that matrix is small enough to keep.
            pairs = (a_oh.T[:, :, None] * a_ho[:, None, :]).reshape(len(h), -1) \
                if len(h) * len(o) ** 2 <= SCHUR_PAIR_CELLS else None
            # A symmetric matrix of node voltages (resistors, diodes, the squared-loss nudge):
            # its Schur systems may be solved without pivoting while the pivots stay positive
            # (then they are positive definite; see solve_positive).
            symmetric = bool(self._voltage_unknowns[o].all()) and np.array_equal(a_uu, a_uu.T)
            blocks = (a_uu, np.diagonal(a_uu)[h].copy(), a_uu[np.ix_(o, o)].copy(), a_oh,
                      a_ho, pairs, symmetric)
            if len(cache) >= 8:           # the free and nudged matrices of the latest values
                cache.clear()
            cache[id(a_uu)] = blocks
        return blocks

    def _use_pivoting(self, a_uu) -> None:
        """Solve the Schur systems of ``a_uu`` with LAPACK's pivoting from now on: one of them
        was not positive definite."""
        self._blocks[id(a_uu)] = self._schur_blocks(a_uu)[:-1] + (False,)

    def _schur_solve(self, a_uu, conductance, b, extra=None):
        """Eliminate the diagonal block H, solve the Schur system on O, back-substitute."""
        h, o = self._h_idx, self._o_idx
        h_cols, o_cols = self._h_cols, self._o_cols          # slices where contiguous
        batch = b.shape[0]
        _, diag_base, a_oo_base, a_oh, a_ho, pairs, symmetric = self._schur_blocks(a_uu)
        if conductance is not None:
            diag_h = self._stamp_h_map(conductance)
            diag_h += diag_base
        else:
            diag_h = np.broadcast_to(diag_base, (batch, len(h))).copy()
        if (conductance is not None and self._stamp_o.nnz) or extra is not None:
            a_oo = np.broadcast_to(a_oo_base, (batch, len(o), len(o))).copy()
            if conductance is not None and self._stamp_o.nnz:
                a_oo.reshape(batch, -1)[:] += self._stamp_o_map(conductance)
            if extra is not None:
                pos = np.searchsorted(o, self._ce_cols)      # outputs are all in O (sorted)
                a_oo[:, pos[:, None], pos[None, :]] += extra
        else:
            a_oo = a_oo_base                                 # the same for every sample
        if np.any(diag_h == 0):
            raise np.linalg.LinAlgError("zero pivot")
        inverse = 1.0 / diag_h
        b_h, b_o = b[:, h_cols], b[:, o_cols]
        x_o = None
        if len(o) and symmetric and pairs is not None and extra is None:
            # The Schur systems with the batch last, (O x O x batch): elimination without
            # pivoting runs over contiguous rows of the batch, about twice as fast as
            # LAPACK's batched solve of 10 x 10 systems (one call per matrix).
            schur_t = (pairs.T @ inverse.T).reshape(len(o), len(o), batch)
            np.subtract(a_oo[:, :, None] if a_oo.ndim == 2 else a_oo.transpose(1, 2, 0),
                        schur_t, out=schur_t)
            rhs_t = b_o.T - a_oh @ (b_h * inverse).T
            x_o = solve_positive(schur_t, rhs_t)
            if x_o is None:          # not positive definite (a negative nudge)
                self._use_pivoting(a_uu)
        if x_o is None and len(o):
            if pairs is not None:
                schur = (inverse @ pairs).reshape(batch, len(o), len(o))
                np.subtract(a_oo, schur, out=schur)
            else:
                schur = a_oo - np.matmul(a_oh[None] * inverse[:, None, :], a_ho)
            x_o = np.linalg.solve(schur, (b_o - (b_h * inverse) @ a_oh.T)[..., None])[..., 0]
        elif x_o is None:
            x_o = np.zeros((batch, 0))
        x = np.empty((batch, b.shape[1]))
        x[:, o_cols] = x_o
        if isinstance(h_cols, slice):             # in place in x
            np.multiply(np.subtract(b_h, x_o @ a_ho.T, out=x[:, h_cols]), inverse,
                        out=x[:, h_cols])
        else:
            x[:, h_cols] = (b_h - x_o @ a_ho.T) * inverse
        return x

    def _sparse_solve(self, a_uu, conductance, b, active, extra=None):
        """Sparse LU per sample (large circuits)."""
        out = np.empty_like(b)
        if extra is not None:
            cols = self._ce_cols
            ce_rows = np.repeat(cols, len(cols))
            ce_cols = np.tile(cols, len(cols))
        for row in range(len(active)):
            matrix = a_uu
            if conductance is not None:
                matrix = a_uu + self._d_unknown.T @ sp.diags(conductance[row]) @ self._d_unknown
            if extra is not None:
                matrix = matrix + sp.csr_matrix((extra[row].ravel(), (ce_rows, ce_cols)),
                                                shape=a_uu.shape)
            try:
                out[row] = spla.splu(sp.csc_matrix(matrix)).solve(b[row])
            except RuntimeError:
                raise ConvergenceError(
                    f"native solver: singular circuit matrix for {self._circuit.name!r}") from None
        return out
