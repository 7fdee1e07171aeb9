"""Newton's method on the MNA equations: diode companion models, SPICE's junction voltage
limiting (``DEVpnjlim``, mirrored in breakdown), the cross-entropy step limit and the
convergence test; the compiled loops of :mod:`eqprop_hw.backends.native.fused` where they apply.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from eqprop_hw.backends.native import fused
from eqprop_hw.backends.native.chunks import one_blas_thread
from eqprop_hw.backends.native.diode import diode_current


#: Largest change (in units of the softmax temperature) of an output voltage between two
#: linearisations of the cross-entropy nudge (a softmax is only nonlinear on the scale tau).
CE_STEP_LIMIT = 4.0


def pnjlim(v_new: np.ndarray, v_old: np.ndarray, vte: np.ndarray, vcrit: np.ndarray):
    """SPICE junction voltage limiting; returns (limited voltage, whether limited)."""
    limit = (v_new > vcrit) & (np.abs(v_new - v_old) > 2.0 * vte)
    with np.errstate(invalid="ignore", divide="ignore"):
        arg = 1.0 + (v_new - v_old) / vte
        from_positive = np.where(arg > 0, v_old + vte * np.log(np.where(arg > 0, arg, 1.0)), vcrit)
        from_negative = vte * np.log(np.where(v_new > 0, v_new, 1.0) / vte)
    limited = np.where(v_old > 0, from_positive, from_negative)
    return np.where(limit, limited, v_new), limit


def _row_abs_max(x: np.ndarray) -> np.ndarray:
    """``max |x|`` of every row of a (batch x n) array (0 for no columns)."""
    if not x.shape[1]:
        return np.zeros(x.shape[0])
    return np.abs(x).max(axis=1)


def limit_junctions(v_new: np.ndarray, v_old: np.ndarray, vte: np.ndarray,
                     vcrit: np.ndarray, breakdown: np.ndarray | None = None) -> np.ndarray:
    """:func:`pnjlim` in place on ``v_new`` (batch x diodes); returns, per row, whether any
    junction was limited.

    The test is evaluated everywhere, the limited voltage (two logs) only where it applies
    (after the first Newton steps, almost nowhere): the same numbers as :func:`pnjlim`.
    ``breakdown`` (per diode, V, ``inf`` for none): a junction heading below
    ``min(0, 10 vte - breakdown)`` is limited as SPICE does, by :func:`pnjlim` on the
    mirrored voltage ``-(v + breakdown)`` of the breakdown exponential.
    """
    # In place on one work array: a fresh (batch x diodes) temporary per operation costs more
    # (page faults of a new allocation) than the arithmetic.
    step = np.subtract(v_new, v_old)
    limit = np.greater(np.abs(step, out=step), 2.0 * vte)
    limit &= v_new > vcrit
    mirrored = None
    if breakdown is not None:
        mirrored = v_new < np.minimum(0.0, 10.0 * vte - breakdown)
        if mirrored.any():
            limit &= ~mirrored
            w_new, w_old = -(v_new + breakdown), -(v_old + breakdown)
            mirrored &= (w_new > vcrit) & (np.abs(w_new - w_old) > 2.0 * vte)
        else:
            mirrored = None
    limited_rows = limit.any(axis=1)
    if limited_rows.any():
        where = np.nonzero(limit)
        columns = where[1]
        v_new[where] = pnjlim(v_new[where], v_old[where], vte[columns], vcrit[columns])[0]
    if mirrored is not None and mirrored.any():
        where = np.nonzero(mirrored)
        columns = where[1]
        w = pnjlim(w_new[where], w_old[where], vte[columns], vcrit[columns])[0]
        v_new[where] = -(w + breakdown[columns])
        limited_rows |= mirrored.any(axis=1)
    return limited_rows

class Newton:
    """The Newton part of :class:`~eqprop_hw.backends.native.NativeBackend`."""

    def _newton_batch(self, a_uu, rhs, vd_pinned, pinned, targets, x, warm, ce, ce_beta,
                      vd_start=None):
        """:meth:`_newton` with BLAS on one thread.

        Its products are small (a 10 x 10 system per sample on ``mnist_size``): several BLAS
        threads gain nothing on them and stall when the machine is busy. Large batches use the
        cores by slices instead (:meth:`_thread_slices`).
        """
        with one_blas_thread():
            if not ce and self._fused_applies(a_uu):
                return self._newton_fused(a_uu, rhs, vd_pinned, x, warm, vd_start)
            return self._newton(a_uu, rhs, vd_pinned, pinned, targets, x, warm, ce, ce_beta,
                                vd_start)

    def _fused_applies(self, a_uu) -> bool:
        """Whether :meth:`_newton_fused` can solve with the unknown block ``a_uu``: the dense
        Schur path with diodes, node-voltage unknowns and symmetric Schur systems."""
        if not (self.compiled and fused.available() and self._dense and len(self._diodes)
                and self._breakdown is None and len(self._h_idx) and len(self._o_idx)
                and self._voltage_unknowns.all()):
            return False
        blocks = self._schur_blocks(a_uu)
        return blocks[5] is not None and blocks[6]

    def _fused_maps(self):
        """CSR arrays (indptr, indices, data; sorted as :class:`BatchMap` sums) of ``D^T``,
        the hidden and output stamps and ``D``, and the hidden and output unknowns, for
        :mod:`.fused` (built once)."""
        if self._fused_csr is None:
            def arrays(matrix):
                csr = sp.csr_matrix(matrix, copy=True)
                csr.sort_indices()
                return (csr.indptr.astype(np.intp), csr.indices.astype(np.intp),
                        np.ascontiguousarray(csr.data, dtype=float))
            self._fused_csr = (arrays(self._d_unknown.T), arrays(self._stamp_h),
                               arrays(self._stamp_o), arrays(self._d_unknown),
                               self._h_idx.astype(np.intp), self._o_idx.astype(np.intp))
        return self._fused_csr

    def _newton_fused(self, a_uu, rhs, vd_pinned, x, warm, vd_start=None):
        """:meth:`_newton` (without the cross-entropy term) by the compiled loops of
        :mod:`.fused` and three BLAS products per iteration; the same iterates to round-off.

        Should a Schur system turn out not positive definite (a strong negative nudge), the
        rows still iterating continue in :meth:`_newton` from where they are, with LAPACK.
        """
        batch = rhs.shape[0]
        rhs, vd_pinned = np.ascontiguousarray(rhs), np.ascontiguousarray(vd_pinned)
        vd_lin = self._starting_diode_voltages(x, vd_pinned, warm, vd_start)
        x, vd_lin = np.ascontiguousarray(x), np.ascontiguousarray(vd_lin)
        _, diag_base, a_oo_base, a_oh, a_ho, pairs, _ = self._schur_blocks(a_uu)
        to_unknowns, stamp_h, stamp_o, to_diodes, h_idx, o_idx = self._fused_maps()
        a_oo_flat = a_oo_base.ravel()                 # a contiguous copy (_schur_blocks)
        n_h, n_o = len(h_idx), len(o_idx)
        work = {name: np.empty((batch, size)) for name, size in (
            ("b", self.n_unknown), ("inverse", n_h), ("w", n_h), ("a_oo", n_o * n_o),
            ("x_o", n_o), ("exp", len(self._diodes)))}
        done = np.empty(batch, dtype=bool)
        converged = np.zeros(batch, dtype=bool)
        iterations = np.zeros(batch, dtype=int)
        scale = np.full(batch, np.nan)              # per row max|x| (NaN: not yet known)
        active = np.arange(batch)
        for _ in range(self.max_iterations):
            n = active.size
            if n == 0:
                break
            b, inverse, w, a_oo, x_o, exp_terms = (work[name][:n] for name in
                                                   ("b", "inverse", "w", "a_oo", "x_o", "exp"))
            with np.errstate(over="ignore"):
                np.divide(vd_lin if n == batch else vd_lin[active], self._vte, out=exp_terms)
                np.exp(exp_terms, out=exp_terms)
            if not fused.linearise(active, vd_lin, exp_terms, vd_pinned, rhs, self._saturation,
                                   self._vte, self._v_reverse, self.gmin, *to_unknowns,
                                   *stamp_h, *stamp_o, diag_base, a_oo_flat, h_idx,
                                   b, inverse, w, a_oo):
                raise self._singular_matrix_error()
            if not fused.schur_solve(a_oo, inverse @ pairs, b, o_idx, w @ a_oh.T, x_o):
                self._use_pivoting(a_uu)
                rest = self._newton(a_uu, rhs[active], vd_pinned[active], None, None,
                                    x[active], True, False, 0.0, vd_lin[active],
                                    self.max_iterations - int(iterations[active].max()))
                x[active], vd_lin[active] = rest[0], rest[3]
                converged[active], iterations[active] = rest[1], iterations[active] + rest[2]
                break
            finite = fused.finish(active, b, inverse, x_o @ a_ho.T, x_o, h_idx, o_idx,
                                  *to_diodes, vd_pinned, self._vte, self._vcrit, x, vd_lin,
                                  scale, done[:n])
            iterations[active] += 1
            converged[active[done[:n]]] = True
            active = active[~done[:n]]
            if not finite:
                break
        return x, converged, iterations, vd_lin

    def _starting_diode_voltages(self, x, vd_pinned, warm, vd_start):
        """Junction voltages Newton linearises at first: SPICE's critical voltage from a cold
        start, else ``vd_start`` when given (used in place), else ``D x + pinned ends``."""
        if not warm:
            return np.broadcast_to(self._vcrit, (x.shape[0], len(self._diodes))).copy()
        if vd_start is not None:
            return vd_start
        return self._to_diodes(x) + vd_pinned

    def _newton(self, a_uu, rhs, vd_pinned, pinned, targets, x, warm, ce, ce_beta,
                vd_start=None, max_iterations=None):
        """Newton iterations of a batch from unknowns ``x`` (warm: ``x`` is a starting point;
        otherwise junctions start at their critical voltage). Returns (x, converged,
        iterations, diode voltages at x).

        ``vd_start``: the diode voltages at a warm start ``x`` (``D x + pinned ends``, e.g. the
        ones the free phase returned; overwritten), instead of computing them again.
        ``max_iterations``: at most this many iterations (default ``self.max_iterations``).
        """
        batch = rhs.shape[0]
        converged = np.zeros(batch, dtype=bool)
        iterations = np.zeros(batch, dtype=int)
        diodes = bool(self._diodes)
        vd_lin = self._starting_diode_voltages(x, vd_pinned, warm, vd_start) if diodes else None
        if ce:
            v_ce = x[:, self._ce_cols].copy()
            ce_limit = CE_STEP_LIMIT * self.temperature
        active = np.arange(batch)
        scale = None                 # per active row max|x| (see _step_converged)
        for _ in range(self.max_iterations if max_iterations is None else max_iterations):
            if active.size == 0:
                break
            # All rows active (the usual case): views, not gathered copies.
            rows = slice(None) if active.size == batch else active
            conductance, extra = None, None
            b = rhs[rows]
            if diodes:
                vdl = vd_lin[rows]
                conductance, diode_rhs = self._diode_companion(vdl, vd_pinned[rows])
                b = b - self._from_diodes(diode_rhs)
            if ce:
                vcl = v_ce[rows]
                ce_rhs, extra = self._ce_linearise(vcl, pinned[rows], targets[rows],
                                                   ce_beta)
                b = b.copy()
                b[:, self._ce_cols] += ce_rhs
            x_new = self._linear_solve(a_uu, conductance, b, active, extra)
            limited_any = np.zeros(active.size, dtype=bool)
            if diodes:
                vd_new = self._to_diodes(x_new)
                vd_new += vd_pinned[rows]
                limited_any |= limit_junctions(vd_new, vdl, self._vte, self._vcrit,
                                                self._breakdown)
                vd_lin[rows] = vd_new
            if ce:
                move = x_new[:, self._ce_cols] - vcl
                limited_any |= np.any(np.abs(move) > ce_limit, axis=1)
                v_ce[rows] = vcl + np.clip(move, -ce_limit, ce_limit)
            step_ok, scale = self._step_converged(x_new, x[rows], scale)
            done = step_ok & ~limited_any
            if active.size == batch:
                x = x_new
            else:
                x[active] = x_new
            iterations[active] += 1
            converged[active[done]] = True
            active = active[~done]
            if scale is not None and done.any():
                scale = scale[~done]
            if not np.all(np.isfinite(x_new)):
                break
        # Converged rows were not limited in their last step: vd_lin = D x + pinned ends there.
        return x, converged, iterations, vd_lin

    def _diode_companion(self, vd: np.ndarray, vd_pinned: np.ndarray):
        """Diode conductances g and companion currents ``I(vd) - g vd + g vd_pinned`` (A).

        The same arithmetic as :func:`diode_current` element by element, but in place on
        two work arrays: the forward law everywhere (with 0 V where a junction is reverse
        biased, as ``diode_current`` does), then the reverse law only on those elements.
        """
        saturation, vte = self._saturation, self._vte
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            reverse = vd < self._v_reverse
            any_reverse = bool(reverse.any())
            exp_term = np.divide(np.where(reverse, 0.0, vd) if any_reverse else vd, vte)
            np.exp(exp_term, out=exp_term)
            conductance = np.multiply(saturation, exp_term)
            conductance /= vte
            current = np.subtract(exp_term, 1.0, out=exp_term)
            current *= saturation
            if any_reverse:
                where = np.nonzero(reverse)
                v, columns = vd[where], where[1]
                i_rev, g_rev = diode_current(
                    v, saturation[columns], vte[columns], 0.0,
                    None if self._breakdown is None else self._breakdown[columns])
                current[where], conductance[where] = i_rev, g_rev
            term = np.multiply(self.gmin, vd)
            current += term
            conductance += self.gmin
            current -= np.multiply(conductance, vd, out=term)
            current += np.multiply(conductance, vd_pinned, out=term)
        return conductance, current

    def _step_converged(self, x_new, x_old, old_scale=None):
        """Per sample: did every unknown move less than round-off allows?

        Voltages must move less than ``1e-12 * max|V| + 1e-14`` V and branch currents less than
        ``1e-12 * max|I| + 1e-18`` A, the maxima taken over the sample (element-wise relative
        tests can cycle forever on round-off at a node near 0 V beside nodes at tens of V).

        Returns (converged rows, per-row ``max|x_new|`` or None). ``old_scale``: the per-row
        ``max|x_old|`` returned by the previous step (computed here when None), so each
        iteration reduces two (rows x unknowns) arrays, not six.
        """
        if self._voltage_unknowns.all():
            # The same test by row reductions of absolute values: max|v| and max|d| are exact,
            # and all(|d| <= t) iff max|d| <= t.
            if old_scale is None:
                old_scale = _row_abs_max(x_old)
            new_scale = _row_abs_max(x_new)
            step = np.subtract(x_new, x_old)
            largest = np.abs(step, out=step).max(axis=1)
            return largest <= 1e-12 * np.maximum(new_scale, old_scale) + 1e-14, new_scale
        step = np.abs(x_new - x_old)
        size = np.maximum(np.abs(x_new), np.abs(x_old))
        ok = np.ones(x_new.shape[0], dtype=bool)
        for mask, floor in ((self._voltage_unknowns, 1e-14), (~self._voltage_unknowns, 1e-18)):
            if mask.any():
                scale = size[:, mask].max(axis=1, keepdims=True)
                ok &= np.all(step[:, mask] <= 1e-12 * scale + floor, axis=1)
        return ok, None
