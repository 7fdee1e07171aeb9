"""Native backend: the circuit's DC equations solved by Newton's method in numpy, batched.

The equations are SPICE's modified nodal analysis (MNA) of the same circuit graph the netlist
writer reads: node voltages plus the branch currents of voltage-defining elements (V, E, H and
L, a short at DC). Nodes tied to ground by an independent voltage source are *pinned*: their
voltage is known per sample and they are eliminated, so a layered crossbar with 784 doubled
inputs leaves only its hidden and output nodes as unknowns.

Diodes follow ngspice's level-1 DC model exactly (``dioload.c``, ``diotemp.c``; one place,
:func:`diode_law` and :func:`diode_current`): with ``Vte = N k T / q`` at the circuit's
``temp`` (default 27 degC) and ``Is = IS(T) * area``,

    I(V) = Is (exp(V/Vte) - 1) + gmin V                     for V >= -3 Vte
    I(V) = -Is (1 + (3 Vte / (e V))^3) + gmin V             below, down to -BV',
    I(V) = -Is exp(-(BV' + V) / Vte) + gmin V               beyond (when the model has BV),

where ``IS(T) = IS exp((T/TNOM - 1) EG / (N Vt) + XTI/N ln(T/TNOM))`` and ``BV'`` is BV moved
so that the current at -BV is about IBV (:func:`matched_breakdown`); plus an optional series
resistance RS / area (an internal node). Newton steps use SPICE's junction voltage limiting
(``DEVpnjlim``, mirrored in breakdown), so convergence behaves like ngspice's; iterations stop
when every unknown moves less than ``1e-12 |x| + 1e-15`` and no junction was limited.

Batches are solved at once: dense batched LU (``numpy.linalg.solve``) when the unknowns are
few (``<= dense_limit``), otherwise sparse LU per sample (``scipy.sparse.linalg.splu``). Layered
networks eliminate their diode-only hidden nodes (a diagonal block) and solve a small Schur
system per sample; with ``compiled=True`` (training) those Newton iterations run as the compiled
loops of :mod:`eqprop_hw.backends.fused`, with the same iterates.

Nudging follows the backend's loss (:mod:`eqprop_hw.learning.losses`). Squared loss: the VCCS stamps
``GNUDGE{k}`` of gain ``beta`` to the target sources ``VNUDGE{k}`` (linear). Cross-entropy
(``loss="cross_entropy"``): no general behavioural sources, but one dedicated nonlinear term on
the output unknowns, the current ``I = (beta / tau) (y - p)``, ``p = softmax(V_out / tau)``,
injected into the output nodes. Newton linearises it like a device: its small-signal
conductance ``(beta / tau^2) (diag(p) - p p^T)`` joins the output block of the Jacobian (the
outputs are then never eliminated by the Schur step, since this block couples them per sample)
and ``I(V0) + G V0`` the right-hand side. As junction voltages are limited (``pnjlim``), the
output voltages at which the softmax is linearised move at most
``CE_STEP_LIMIT * tau`` per iteration.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from eqprop_hw.backends import fused
from eqprop_hw.backends.base import Backend, SolveResult
from eqprop_hw.errors import BackendError, CircuitError, ConvergenceError
from eqprop_hw.circuit.graph import GROUND, Circuit
from eqprop_hw.learning.losses import cross_entropy_nudge
from eqprop_hw.circuit.netlist import nudge_elements

#: ngspice 39's constants (``const.h``): k = 1.38064852e-23 J/K, q = 1.6021766208e-19 C.
BOLTZMANN = 1.38064852e-23
CHARGE = 1.6021766208e-19
KELVIN_27C = 300.15

#: Largest change (in units of the softmax temperature) of an output voltage between two
#: linearisations of the cross-entropy nudge (a softmax is only nonlinear on the scale tau).
CE_STEP_LIMIT = 4.0

#: Largest (unknowns x pinned) block kept dense for the right-hand side product (8 M cells).
DENSE_PINNED_CELLS = 1 << 23

#: Circuits with at least this many unknowns, two thirds of them touched only by fixed linear
#: elements, use the Kron-reduced path even when a dense LU of everything would fit.
KRON_MIN_UNKNOWNS = 256

#: Largest L x N matrix A_LL^-1 A_LN kept by the Kron-reduced sparse path (16 M cells).
KRON_COUPLING_CELLS = 1 << 24

#: Largest H x O^2 matrix of products kept for the Schur complement (4 M cells).
SCHUR_PAIR_CELLS = 1 << 22


#: ngspice's offset from degC to K (``CONSTCtoK``).
CELSIUS_TO_KELVIN = 273.15

#: ngspice's cap on the iterations that match the breakdown voltage to IBV (``DIOtemp``).
BREAKDOWN_MATCH_ITERATIONS = 25


def thermal_voltage(temperature_celsius: float = 27.0) -> float:
    """kT/q (V) with ngspice's constants."""
    return BOLTZMANN / CHARGE * (temperature_celsius + 273.15)


class DiodeLaw(NamedTuple):
    """The per-diode numbers of ngspice's DC diode law at the circuit temperature.

    Attributes
    ----------
    saturation : ndarray
        ``IS(T) * area`` (A).
    vte : ndarray
        ``N k T / q`` (V); also the breakdown region's scale (SPICE's NBV defaults to N).
    breakdown : ndarray or None
        The breakdown voltage (V) after ngspice's adjustment to IBV, ``inf`` for a diode
        without BV; None when no diode of the circuit has one.
    """

    saturation: np.ndarray
    vte: np.ndarray
    breakdown: np.ndarray | None


def scaled_saturation(model, area: float, kelvin: float, nominal_kelvin: float) -> float:
    """``IS * area`` (A) at ``kelvin`` (K) for a model measured at ``nominal_kelvin`` (K).

    SPICE's level-1 law: ``IS(T) = IS exp((T/Tnom - 1) EG / (N Vt) + XTI / N ln(T/Tnom))``
    with ``Vt = k T / q``; exactly ``IS * area`` at ``T = Tnom``.
    """
    ratio = kelvin / nominal_kelvin
    vte = model.N * (BOLTZMANN / CHARGE * kelvin)
    return model.IS * area * math.exp((ratio - 1.0) * model.EG / vte
                                      + model.XTI / model.N * math.log(ratio))


def matched_breakdown(bv: float, ibv: float, saturation: float, vt: float, vte: float,
                      reltol: float) -> float:
    """The breakdown voltage (V) ngspice uses for BV, IBV at ``saturation`` (A).

    The reverse current at ``-V`` beyond breakdown is ``-saturation exp((V - x) / vte)``; x
    is moved from BV so that it carries about IBV at BV: ``x`` solves
    ``saturation (exp((BV - x) / vte) - 1 + x / vt) = IBV`` by fixed-point steps (at most
    :data:`BREAKDOWN_MATCH_ITERATIONS`, until within ``reltol * IBV``). When IBV is below
    ``saturation * BV / vt`` no such x exists and BV is used as it is.
    """
    if ibv < saturation * bv / vt:
        return bv
    x = bv - vte * math.log1p(ibv / saturation)
    for _ in range(BREAKDOWN_MATCH_ITERATIONS):
        x = bv - vte * math.log(ibv / saturation + 1.0 - x / vt)
        reached = saturation * (math.exp((bv - x) / vte) - 1.0 + x / vt)
        if abs(reached - ibv) <= reltol * ibv:
            break
    return x


def diode_law(circuit: Circuit, diodes) -> DiodeLaw:
    """The :class:`DiodeLaw` of ``diodes`` (elements of ``circuit``) at the circuit's ``temp``.

    Temperatures: the ``temp`` option (degC, default 27); a model's TNOM, else the ``tnom``
    option, else 27 degC. ``reltol`` (default 1e-3) bounds the breakdown matching.

    Raises
    ------
    CircuitError
        For a temperature at or below absolute zero, or a model whose scaled saturation
        current is not a positive finite number (the message names the model).
    """
    options = circuit.options
    celsius = float(options.get("temp", 27.0))
    kelvin = celsius + CELSIUS_TO_KELVIN
    if diodes and not kelvin > 0.0:
        raise CircuitError(f"circuit {circuit.name!r}: options.temp = {celsius!r} degC is at "
                           "or below absolute zero")
    vt = thermal_voltage(celsius)
    saturation, vte, breakdown = [], [], []
    for diode in diodes:
        model = circuit.models[diode.model]
        nominal = model.TNOM if model.TNOM is not None else float(options.get("tnom", 27.0))
        if not nominal + CELSIUS_TO_KELVIN > 0.0:
            raise CircuitError(f"diode model {model.name}: nominal temperature {nominal!r} degC "
                               "is at or below absolute zero")
        with np.errstate(all="ignore"):
            try:
                current = scaled_saturation(model, float(diode.value), kelvin,
                                            nominal + CELSIUS_TO_KELVIN)
            except OverflowError:
                current = math.inf
        if not (math.isfinite(current) and current > 0.0):
            raise CircuitError(f"diode model {model.name}: IS scaled to {celsius!r} degC "
                               f"(EG {model.EG!r}, XTI {model.XTI!r}, from "
                               f"{nominal!r} degC) is {current!r} A, not a usable current")
        saturation.append(current)
        vte.append(model.N * vt)
        breakdown.append(math.inf if model.BV is None else matched_breakdown(
            model.BV, model.IBV, current, vt, vte[-1], float(options.get("reltol", 1e-3))))
    breakdown = np.array(breakdown, dtype=float)
    return DiodeLaw(np.array(saturation, dtype=float), np.array(vte, dtype=float),
                    breakdown if np.isfinite(breakdown).any() else None)


def diode_current(vd: np.ndarray, saturation: np.ndarray, vte: np.ndarray, gmin: float,
                  breakdown: np.ndarray | None = None):
    """ngspice's DC diode law: current (A) and small-signal conductance (S) at ``vd`` (V).

    ``breakdown``: per diode the breakdown voltage (V, ``inf`` for none; see
    :class:`DiodeLaw`), or None for no breakdown at all. Beyond ``-breakdown`` the current is
    ``-saturation exp(-(breakdown + vd) / vte)``.
    """
    forward = vd >= -3.0 * vte
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        exp_term = np.exp(np.where(forward, vd, 0.0) / vte)
        arg = np.where(forward, 1.0, 3.0 * vte / (vd * math.e)) ** 3
        current = np.where(forward, saturation * (exp_term - 1.0), -saturation * (1.0 + arg))
        conductance = np.where(forward, saturation * exp_term / vte,
                               saturation * 3.0 * arg / np.where(forward, 1.0, vd))
        if breakdown is not None:
            beyond = ~forward & (vd < -breakdown)
            if np.any(beyond):
                reverse = saturation * np.exp(np.where(beyond, -(breakdown + vd), 0.0) / vte)
                current = np.where(beyond, -reverse, current)
                conductance = np.where(beyond, reverse / vte, conductance)
    return current + gmin * vd, conductance + gmin


def diode_stamp(incidence) -> sp.csr_matrix:
    """Where diode conductances go in a Jacobian block: ``J.ravel() += S @ g``.

    ``incidence`` (diodes x n) holds each diode's +-1 terminal signs on n unknowns; the result
    S (n*n x diodes) has, for diode d between unknowns a and b, the entries of its stamp
    ``g (e_a - e_b)(e_a - e_b)^T`` at flat positions a*n + b.
    """
    coo = sp.coo_matrix(incidence)
    size = coo.shape[1]
    terms = {}
    for d, c, v in zip(coo.row, coo.col, coo.data):
        terms.setdefault(d, []).append((c, v))
    rows, cols, vals = [], [], []
    for d, ends in terms.items():
        for ca, va in ends:
            for cb, vb in ends:
                rows.append(ca * size + cb), cols.append(d), vals.append(va * vb)
    return sp.csr_matrix((vals, (rows, cols)), shape=(size * size, coo.shape[0]))


def pnjlim(v_new: np.ndarray, v_old: np.ndarray, vte: np.ndarray, vcrit: np.ndarray):
    """SPICE junction voltage limiting; returns (limited voltage, whether limited)."""
    limit = (v_new > vcrit) & (np.abs(v_new - v_old) > 2.0 * vte)
    with np.errstate(invalid="ignore", divide="ignore"):
        arg = 1.0 + (v_new - v_old) / vte
        from_positive = np.where(arg > 0, v_old + vte * np.log(np.where(arg > 0, arg, 1.0)), vcrit)
        from_negative = vte * np.log(np.where(v_new > 0, v_new, 1.0) / vte)
    limited = np.where(v_old > 0, from_positive, from_negative)
    return np.where(limit, limited, v_new), limit


def _solve_positive(a: np.ndarray, b: np.ndarray):
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


def _row_abs_max(x: np.ndarray) -> np.ndarray:
    """``max |x|`` of every row of a (batch x n) array (0 for no columns)."""
    if not x.shape[1]:
        return np.zeros(x.shape[0])
    return np.abs(x).max(axis=1)


def _limit_junctions(v_new: np.ndarray, v_old: np.ndarray, vte: np.ndarray,
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


#: Smallest array (cells) kept between solves as a work array (:meth:`NativeBackend._work_array`).
WORK_ARRAY_CELLS = 1 << 17

#: Rows per chunk of a large batch (:meth:`NativeBackend._thread_slices`), fixed so that results
#: do not depend on the number of threads (measured on ``mnist_size``: 128-512 rows equally fast,
#: 64 slower from per-chunk overheads).
CHUNK_ROWS = 128

_POOLS: dict = {}
_BLAS_CONTROLLER: list = []


def _thread_pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads (made once)."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="eqprop-native")
    return _POOLS[workers]


def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries, or None without threadpoolctl."""
    if not _BLAS_CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
            _BLAS_CONTROLLER.append(ThreadpoolController().select(user_api="blas"))
        except Exception:                     # not installed, or no BLAS it can control
            _BLAS_CONTROLLER.append(None)
    return _BLAS_CONTROLLER[0]


def _blas_threads() -> int:
    """How many threads BLAS uses now (1 when they cannot be controlled)."""
    controller = _blas_controller()
    if controller is None:
        return 1
    return max((lib.num_threads for lib in controller.lib_controllers), default=1)


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS limited to one thread inside; yields how many it had (1 without threadpoolctl,
    which then changes nothing)."""
    controller = _blas_controller()
    threads = _blas_threads()
    if threads <= 1:
        yield 1
        return
    with controller.limit(limits=1):
        yield threads


class _BatchMap:
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


def _as_slice(index: np.ndarray):
    """``index`` as a slice when it is a contiguous increasing range (plain copies instead of
    gathers), else unchanged."""
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


def _batch_product(matrix, batch_map):
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


class NativeBackend(Backend):
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
        for element in circuit.elements:
            if element.type == "B":
                raise BackendError(f"element {element.name}: behavioural sources are only "
                                   "simulated by the ngspice backend")
        self.dense_limit = dense_limit
        self.max_iterations = max_iterations
        #: Threads for the Newton iterations of a large batch (None: as many as BLAS has).
        self.threads = None
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

    # -- compilation --------------------------------------------------------------------
    def _compile(self):
        circuit = self.circuit
        elements = list(circuit.elements) + self._nudges
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
        self._node_slices = tuple(_as_slice(idx) for idx in self._node_columns)
        self._voltage_unknowns = np.array(
            [not (isinstance(key, tuple) and key[0] == "branch") for key in index.unknown],
            dtype=bool)
        n_unknown, n_pinned = len(index.unknown), len(index.pinned)
        self.n_unknown, self.n_pinned = n_unknown, n_pinned

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
        self._to_diodes = _batch_product(self._d_unknown, _BatchMap.build(self._d_unknown))
        self._from_diodes = _batch_product(self._d_unknown.T,
                                           _BatchMap.build(self._d_unknown.T))
        pinned_ends = np.flatnonzero(np.diff(self._d_pinned.tocsc().indptr))
        self._pinned_ends = (pinned_ends, _batch_product(
            self._d_pinned[:, pinned_ends], _BatchMap.build(self._d_pinned[:, pinned_ends])))
        self._choose_elimination()
        self._assemble_linear()

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
            maps[kind] = (_as_slice(cols), rows, np.array(gains, dtype=float), base[cols],
                          signs[cols], bool(np.any(base[cols])))
        rest = np.flatnonzero(undriven)
        return maps, rest, signs[rest] * base[rest]

    def _work_array(self, name: str, shape) -> np.ndarray:
        """A scratch array kept between solves, one per thread (contents undefined).

        For a large array used only inside one solve (``mnist_size``'s pinned voltages at batch
        1024: 13 MB): a fresh one costs more in page faults (first touch of new memory) than
        filling it.
        """
        buffers = self.__dict__.setdefault("_work_arrays", {})
        key = (threading.get_ident(), name)
        array = buffers.get(key)
        if array is None or array.shape != shape:
            array = buffers[key] = np.empty(shape)
        return array

    def _pinned_voltages(self, inputs, targets):
        """Known node voltages (batch x pinned) from the inputs and targets, in a work array
        (valid until this thread's next solve of the same circuit starts)."""
        maps, rest, constant = self._pin_gather
        shape = (inputs.shape[0], self.n_pinned)
        pinned = self._work_array("pinned", shape) if shape[0] * shape[1] >= WORK_ARRAY_CELLS \
            else np.empty(shape)
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
        self._h_cols, self._o_cols = _as_slice(self._h_idx), _as_slice(self._o_idx)
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
            self._stamp_h_map = _batch_product(self._stamp_h, _BatchMap.build(self._stamp_h))
            self._stamp_o_map = _batch_product(self._stamp_o, _BatchMap.build(self._stamp_o))

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
            split = self._reduction()
            self._dense = n_unknown <= self.dense_limit and not (
                split is not None and n_unknown >= KRON_MIN_UNKNOWNS
                and len(split[1]) >= 2 * len(split[0]))
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
        pieces = self._on_threads(
            lambda part: self._solve_phases(inputs[part], targets[part], betas,
                                            [out[part] for out in outs], part.start), parts)
        return [self._joined([piece[k] for piece in pieces], outs[k], start)
                for k in range(len(betas))]

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

    def _thread_slices(self, inputs, targets):
        """Row chunks of a batch (slices), or None to solve it whole.

        On the dense path with a Newton loop a batch of more than ``CHUNK_ROWS`` rows is cut
        into equal chunks of at most ``CHUNK_ROWS`` rows. Their number depends on the batch
        size only, not on the threads that solve them (:meth:`_on_threads`), so a result is
        the same bit for bit on any number of cores.
        """
        if not self._dense or not (len(self._diodes) or self.loss == "cross_entropy"):
            return None
        batch = np.shape(inputs)[0] if np.ndim(inputs) == 2 else 1
        chunks = -(-batch // CHUNK_ROWS)
        if chunks <= 1:
            return None
        bounds = np.linspace(0, batch, chunks + 1).astype(int)
        return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

    def _on_threads(self, function, parts) -> list:
        """``function(part)`` for every chunk, BLAS on one thread, on as many threads as BLAS
        had (``threads`` overrides), at most one per chunk."""
        with _one_blas_thread() as blas_threads:
            threads = min(self.threads if self.threads is not None else blas_threads,
                          len(parts))
            if threads <= 1:
                return [function(part) for part in parts]
            pool = _thread_pool(threads)
            return list(pool.map(function, parts))

    def _joined(self, results, voltages, start) -> SolveResult:
        """One result from the results of consecutive slices written into ``voltages``."""
        result = SolveResult("native", list(self.node_names), voltages,
                             voltages[:, self.output_columns],
                             np.concatenate([r.converged for r in results]),
                             time.perf_counter() - start)
        result.unknowns = np.concatenate([r.unknowns for r in results])
        result.iterations = np.concatenate([r.iterations for r in results])
        return result

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
        pieces = self._on_threads(
            lambda part: self._solve(inputs[part], beta, targets[part],
                                     None if initial is None else initial[part], None,
                                     out[part], part.start), parts)
        return self._joined(pieces, out, start)

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

    def _newton_batch(self, a_uu, rhs, vd_pinned, pinned, targets, x, warm, ce, ce_beta,
                      vd_start=None):
        """:meth:`_newton` with BLAS on one thread.

        Its products are small (a 10 x 10 system per sample on ``mnist_size``): several BLAS
        threads gain nothing on them and stall when the machine is busy. Large batches use the
        cores by slices instead (:meth:`_thread_slices`).
        """
        with _one_blas_thread():
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
        """CSR arrays (indptr, indices, data; sorted as :class:`_BatchMap` sums) of ``D^T``,
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
                limited_any |= _limit_junctions(vd_new, vdl, self._vte, self._vcrit,
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
            # (then they are positive definite; see _solve_positive).
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
            x_o = _solve_positive(schur_t, rhs_t)
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
