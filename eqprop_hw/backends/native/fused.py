"""Compiled (numba) loops for one Newton iteration of the native solver's Schur path.

The numpy implementation in :mod:`eqprop_hw.backends.native` evaluates a Newton iteration as
some 40 whole-array operations over the batch (diode law, companion currents, incidence
gathers, the hidden diagonal, the small Schur systems, back-substitution, junction limiting,
the convergence test). Each is a pass over (batch x diodes) arrays larger than a core's cache,
so the iteration is bound by memory traffic, not arithmetic. Here the elementwise work of one
sample runs in one loop that keeps it in registers and cache, and the three products that are
real matrix products stay in BLAS:

1. numpy's vectorised ``exp`` of the diode voltages, then :func:`linearise` - per active row:
   the diode companion model (ngspice's DC law, the same arithmetic as
   ``NativeBackend._diode_companion``), the right-hand side ``rhs - D^T i``, the hidden
   diagonal ``d = J_HH`` and ``1/d``, ``w = b_H / d`` and the output block ``J_OO``;
2. BLAS: ``(1/d) @ pairs`` (the Schur products ``J_OH diag(1/d) J_HO``) and ``w @ J_OH^T``;
3. :func:`schur_solve` - per row the small symmetric Schur system by elimination without
   pivoting (positive pivots are checked, as ``native.elimination.solve_positive`` does);
4. BLAS: ``x_O @ J_HO^T``;
5. :func:`finish` - per row: back-substitution of the hidden block, diode voltages ``D x +
   pinned ends``, SPICE's junction limiting (``pnjlim``) and the step test of
   ``NativeBackend._step_converged``.

The loops release the GIL (``nogil``), so the chunks of a batch run on threads in parallel.
The native backend uses them when asked (``make_backend("native", circuit, compiled=True)``, as
training does): numba is imported and the cached machine code loaded at the first call.
Results equal the numpy path's to round-off (the same ``exp``, the same order of every sum;
a limited junction's ``log`` may differ in the last bit). Without numba (the ``fast`` extra),
:data:`AVAILABLE` is False and the native solver keeps its numpy loop; :func:`available` then
warns once that ``compiled=True`` runs the numpy loop.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from eqprop_hw.extras import available as available_module
from eqprop_hw.extras import install_hint

#: Whether the compiled loops can be used (numba is installed; it is imported at first use).
AVAILABLE = available_module("numba")
#: Whether :func:`available` has warned that numba is missing (once per process).
_warned = False


def available() -> bool:
    """:data:`AVAILABLE`; the first time it is False, a :class:`RuntimeWarning` says that the
    native solver keeps its numpy loop (same results, slower) and which extra installs numba."""
    global _warned
    if not AVAILABLE and not _warned:
        _warned = True
        warnings.warn("numba is not installed: the native solver runs its numpy loop instead "
                      f"of the compiled one (same results, slower); {install_hint('numba')}",
                      RuntimeWarning, stacklevel=2)
    return AVAILABLE


#: Functions the loops call, compiled into this module's namespace with the first loop.
_HELPERS: list = []


class _Compiled:
    """A function compiled by numba (GIL released, cached on disk) at its first call.

    numba is imported only then: importing it and loading the cached machine code takes about
    half a second, which a one-off solve should not pay.
    """

    def __init__(self, function):
        self.function = function
        self.compiled = None
        self.__doc__ = function.__doc__

    def __call__(self, *args):
        if self.compiled is None:
            import numba
            for helper in _HELPERS:
                if not isinstance(globals()[helper.__name__], numba.core.dispatcher.Dispatcher):
                    globals()[helper.__name__] = numba.njit(inline="always")(helper)
            self.compiled = numba.njit(nogil=True, cache=True)(self.function)
        return self.compiled(*args)


def _jit(function):
    return _Compiled(function)


def _helper(function):
    """Mark ``function`` to be compiled with the loops (it stays plain Python until then)."""
    _HELPERS.append(function)
    return function


@_helper
def _row_dot(indptr, index, data, vector, row):
    """Row ``row`` of a CSR matrix times ``vector``, summed from the first stored entry on
    (as ``native.assembly.BatchMap`` sums); 0.0 for an empty row."""
    start, stop = indptr[row], indptr[row + 1]
    if start == stop:
        return 0.0
    total = vector[index[start]] * data[start]
    for p in range(start + 1, stop):
        total += vector[index[p]] * data[p]
    return total


@_jit
def linearise(active, vd_lin, exp_terms, vd_pinned, rhs, saturation, vte, v_reverse, gmin,
              dt_indptr, dt_index, dt_data, sh_indptr, sh_index, sh_data,
              so_indptr, so_index, so_data, diag_base, a_oo_base, h_idx,
              b, inverse, w, a_oo):
    """Linearise the diodes of the rows ``active`` at ``vd_lin`` and set up their Schur step.

    Parameters
    ----------
    active : int array (n,)
        Rows of the full arrays ``vd_lin``, ``vd_pinned`` and ``rhs`` to linearise.
    vd_lin, vd_pinned : (batch, diodes) arrays, V
        Diode voltages to linearise at, and the part of each set by pinned nodes.
    exp_terms : (n, diodes) array
        ``exp(vd_lin / vte)`` of the active rows, compact (numpy's vectorised ``exp`` is
        about four times faster than a scalar one in a compiled loop).
    rhs : (batch, unknowns) array, A
        Right-hand side without the diodes.
    saturation, vte, v_reverse : (diodes,) arrays
        IS x area (A), N kT/q (V) and the reverse-law threshold -3 Vte (V).
    gmin : float
        Conductance in parallel with every junction (S).
    dt_*, sh_*, so_* : CSR arrays
        ``D^T`` (unknowns x diodes), the hidden-diagonal stamp (H x diodes) and the output-block
        stamp (O*O x diodes).
    diag_base, a_oo_base : arrays
        The hidden diagonal (H,) and the flattened output block (O*O,) without diodes (S).
    h_idx : int array (H,)
        Unknown index of each hidden (eliminated) unknown.
    b, inverse, w, a_oo : (n, unknowns), (n, H), (n, H), (n, O*O) arrays
        Outputs, one compact row per active row: ``rhs - D^T i``, ``1/J_HH``, ``b_H / J_HH`` and
        ``J_OO``.

    Returns
    -------
    bool
        False when some hidden diagonal is zero (a singular matrix).
    """
    n_diodes = vd_lin.shape[1]
    n_unknown = rhs.shape[1]
    current = np.empty(n_diodes)
    conductance = np.empty(n_diodes)
    for k in range(active.shape[0]):
        row = active[k]
        # The forward law everywhere (a loop without branches, which the compiler
        # vectorises), the reverse law where a junction is below -3 Vte, then gmin and the
        # companion current I(v) - g v + g v_pinned.
        reverse = False
        for d in range(n_diodes):
            e = exp_terms[k, d]
            conductance[d] = saturation[d] * e / vte[d]
            current[d] = (e - 1.0) * saturation[d]
            reverse |= vd_lin[row, d] < v_reverse[d]
        if reverse:
            for d in range(n_diodes):
                v = vd_lin[row, d]
                if v < v_reverse[d]:
                    arg = (3.0 * vte[d] / (v * math.e)) ** 3
                    current[d] = -saturation[d] * (1.0 + arg)
                    conductance[d] = saturation[d] * 3.0 * arg / v
        for d in range(n_diodes):
            v = vd_lin[row, d]
            g = conductance[d] + gmin
            i = current[d] + gmin * v
            i -= g * v
            i += g * vd_pinned[row, d]
            current[d] = i
            conductance[d] = g
        for u in range(n_unknown):
            b[k, u] = rhs[row, u] - _row_dot(dt_indptr, dt_index, dt_data, current, u)
        for h in range(h_idx.shape[0]):
            diagonal = _row_dot(sh_indptr, sh_index, sh_data, conductance, h) + diag_base[h]
            if diagonal == 0.0:
                return False
            inverse[k, h] = 1.0 / diagonal
            w[k, h] = b[k, h_idx[h]] * inverse[k, h]
        for f in range(a_oo_base.shape[0]):
            a_oo[k, f] = a_oo_base[f] + _row_dot(so_indptr, so_index, so_data, conductance, f)
    return True


@_jit
def schur_solve(a_oo, products, b, o_idx, coupled, x_o):
    """Solve each row's Schur system ``(J_OO - products) x_O = b_O - coupled``.

    ``a_oo`` and ``products`` are (n, O*O), ``b`` (n, unknowns), ``coupled`` and ``x_o``
    (n, O). Gaussian elimination without pivoting, as ``native.elimination.solve_positive``.

    Returns
    -------
    bool
        False when a pivot is not positive and finite: some system is not positive definite
        and the caller must solve with pivoting instead.
    """
    n_out = o_idx.shape[0]
    matrix = np.empty((n_out, n_out))
    vector = np.empty(n_out)
    for k in range(a_oo.shape[0]):
        for i in range(n_out):
            for j in range(n_out):
                matrix[i, j] = a_oo[k, i * n_out + j] - products[k, i * n_out + j]
            vector[i] = b[k, o_idx[i]] - coupled[k, i]
        for p in range(n_out - 1):
            pivot = matrix[p, p]
            for i in range(p + 1, n_out):
                factor = matrix[i, p] / pivot
                for j in range(p + 1, n_out):
                    matrix[i, j] -= factor * matrix[p, j]
                vector[i] -= factor * vector[p]
        for p in range(n_out):
            pivot = matrix[p, p]
            if not (pivot > 0.0 and pivot < np.inf):
                return False
        for i in range(n_out - 1, -1, -1):
            total = vector[i]
            if i < n_out - 1:
                dot = matrix[i, i + 1] * x_o[k, i + 1]
                for j in range(i + 2, n_out):
                    dot += matrix[i, j] * x_o[k, j]
                total -= dot
            x_o[k, i] = total / matrix[i, i]
    return True


@_jit
def finish(active, b, inverse, back, x_o, h_idx, o_idx, d_indptr, d_index, d_data,
           vd_pinned, vte, vcrit, x, vd_lin, scale, done):
    """Complete a Newton step of the rows ``active`` in place; returns whether all are finite.

    The hidden unknowns ``(b_H - back) / J_HH`` join ``x_o``; the new diode voltages ``D x +
    pinned ends`` are limited by SPICE's ``pnjlim`` against the previous ``vd_lin`` and stored
    there; a row is ``done`` when no junction was limited and every unknown moved at most
    ``1e-12 max(max|x_new|, max|x_old|) + 1e-14`` V (``scale`` holds each row's ``max|x|``,
    NaN when not yet known). ``x`` is overwritten with the new unknowns.
    """
    n_unknown = x.shape[1]
    n_diodes = vd_lin.shape[1]
    new = np.empty(n_unknown)
    finite = True
    for k in range(active.shape[0]):
        row = active[k]
        for i in range(o_idx.shape[0]):
            new[o_idx[i]] = x_o[k, i]
        for h in range(h_idx.shape[0]):
            new[h_idx[h]] = (b[k, h_idx[h]] - back[k, h]) * inverse[k, h]
        limited = False
        for d in range(n_diodes):
            v = _row_dot(d_indptr, d_index, d_data, new, d) + vd_pinned[row, d]
            old = vd_lin[row, d]
            if v > vcrit[d] and abs(v - old) > 2.0 * vte[d]:
                limited = True
                if old > 0.0:
                    arg = 1.0 + (v - old) / vte[d]
                    v = old + vte[d] * math.log(arg) if arg > 0.0 else vcrit[d]
                else:
                    v = vte[d] * math.log(v / vte[d])
            vd_lin[row, d] = v
        old_scale = scale[row]
        if old_scale != old_scale:             # NaN: not known yet
            old_scale = 0.0
            for u in range(n_unknown):
                old_scale = max(old_scale, abs(x[row, u]))
        new_scale = 0.0
        largest = 0.0
        row_finite = True
        for u in range(n_unknown):
            value = new[u]
            if not (abs(value) < np.inf):
                row_finite = False
            new_scale = max(new_scale, abs(value))
            largest = max(largest, abs(value - x[row, u]))
            x[row, u] = value
        scale[row] = new_scale
        finite = finite and row_finite
        done[k] = row_finite and (not limited) and \
            largest <= 1e-12 * max(new_scale, old_scale) + 1e-14
    return finite
