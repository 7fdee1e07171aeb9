"""Equilibrium Propagation on a circuit: physical phases, measurements, the local rule.

The free phase is the circuit's DC relaxation; a nudged phase is the same circuit with a
conductance ``beta`` from every output to its target (see :func:`eqprop_hw.circuit.netlist.nudge_elements`).
The local rule sees only *measurements*: the voltage across each trainable element's own two
terminals in each phase. For a conductance g_ij (energy term 1/2 g_ij dV_ij^2):

    positive / negative (one-sided, bias O(beta)):
        dL/dg ~= (dV(beta)^2 - dV(0)^2) / (2 beta)         with beta > 0 or beta < 0
    centered (bias O(beta^2)):
        dL/dg ~= (dV(+beta)^2 - dV(-beta)^2) / (4 beta)

with the loss L = 1/2 sum_k (V_out_k - y_k)^2 (V^2) and beta in S, or with the cross-entropy
loss L = -sum_k y_k log softmax(V_out / tau)_k (nats) and beta in W, whose nudge is the current
(beta / tau) (y_k - p_k) into each output (see :mod:`eqprop_hw.learning.losses`). The rule is the same
for both: it sees only the drops; which loss it descends is decided by the backend's nudge
(``make_backend(..., loss=...)``).

Examples
--------
>>> import numpy as np
>>> drops = {"positive": np.array([[1.1]]), "negative": np.array([[0.9]])}
>>> float(local_rule(drops, beta=0.1, nudge="centered")[0, 0])   # (1.21 - 0.81) / 0.4
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.graph import GROUND, Circuit
from eqprop_hw.learning.losses import cross_entropy_loss, loss_values, squared_loss  # noqa: F401

if TYPE_CHECKING:       # annotations only: the local rule runs without importing a backend
    from eqprop_hw.backends.base import Backend, SolveResult

NUDGES = ("positive", "negative", "centered")


def phases_for(nudge: str) -> tuple[str, ...]:
    """The phases a nudging mode runs, free phase first."""
    if nudge == "positive":
        return ("free", "positive")
    if nudge == "negative":
        return ("free", "negative")
    if nudge == "centered":
        return ("free", "positive", "negative")
    raise CircuitError(f"unknown nudging mode {nudge!r} (choose from {', '.join(NUDGES)})")


@dataclass(frozen=True)
class Probe:
    """Where to measure each trainable element: column of its two terminals in the voltages.

    Attributes
    ----------
    names : list of str
        Trainable element names, in circuit order.
    plus, minus : ndarray of int
        Column of each element's first and second terminal in ``SolveResult.voltages``;
        ``-1`` is ground (0 V).
    """

    names: list
    plus: np.ndarray
    minus: np.ndarray

    @cached_property
    def terminal_grid(self) -> tuple:
        """The distinct first terminals R and second terminals C (columns, ``-1`` ground) and
        each element's flat position ``r * len(C) + c`` in the R x C grid of node pairs."""
        rows, row_of = np.unique(self.plus, return_inverse=True)
        cols, col_of = np.unique(self.minus, return_inverse=True)
        return rows, cols, row_of.ravel() * cols.size + col_of.ravel()


def make_probe(circuit: Circuit, node_names: list) -> Probe:
    """Terminal columns of every trainable element (what a hardware probe would wire up)."""
    column = {node: k for k, node in enumerate(node_names)}
    column[GROUND] = -1
    plus, minus = [], []
    for name in circuit.trainable:
        a, b = circuit.element(name).nodes[:2]
        plus.append(column[a])
        minus.append(column[b])
    return Probe(list(circuit.trainable), np.array(plus), np.array(minus))


def measure_drops(voltages: np.ndarray, probe: Probe) -> np.ndarray:
    """Voltage across each trainable element (V), shape (batch, n_trainable).

    This is the only thing the local rule receives from a phase.
    """
    # Node-major copy: each gathered row is one node's batch of values (contiguous).
    padded = np.zeros((voltages.shape[1] + 1, voltages.shape[0]))
    padded[:-1] = voltages.T
    return (padded[probe.plus] - padded[probe.minus]).T


def local_rule(drops: dict, beta: float, nudge: str) -> np.ndarray:
    """Per-sample EP estimate of dL/dg (V^2/S) from measured voltage drops.

    Parameters
    ----------
    drops : dict of str to ndarray (batch, n_trainable)
        Measured drops per phase (``free``, ``positive``, ``negative``).
    beta : float
        Nudging strength magnitude, > 0: conductance (S) for the squared loss, W for
        cross-entropy. The estimate is in V^2/S (squared) or 1/S (cross-entropy).
    nudge : {"positive", "negative", "centered"}

    Returns
    -------
    ndarray, shape (batch, n_trainable)
    """
    if not beta > 0:
        raise CircuitError(f"beta must be a positive conductance (S), got {beta!r}")
    if nudge == "positive":
        return (drops["positive"] ** 2 - drops["free"] ** 2) / (2.0 * beta)
    if nudge == "negative":
        return (drops["negative"] ** 2 - drops["free"] ** 2) / (-2.0 * beta)
    if nudge == "centered":
        return (drops["positive"] ** 2 - drops["negative"] ** 2) / (4.0 * beta)
    raise CircuitError(f"unknown nudging mode {nudge!r} (choose from {', '.join(NUDGES)})")


# The losses (defined in eqprop_hw.learning.losses; re-exported here):
#   squared_loss(outputs, targets)            1/2 sum_k (V_k - y_k)^2 (V^2)
#   cross_entropy_loss(outputs, targets, tau) -sum_k y_k log softmax(V / tau)_k (nats)
#   loss_values(loss, outputs, targets, tau)  either, by name


#: :func:`mean_local_rule` computes the block of node-pair moments its elements span when the
#: block has fewer than this many cells per element.
GRID_FILL = 4

#: The two phases each mode compares, and the factor on (drop_a^2 - drop_b^2).
_CONTRASTS = {"positive": ("positive", "free", 0.5), "negative": ("negative", "free", -0.5),
              "centered": ("positive", "negative", 0.25)}


def mean_local_rule(voltages: dict, probe: Probe, beta: float, nudge: str) -> np.ndarray:
    """Batch mean of :func:`local_rule`, computed from node voltages with one matrix product.

    Uses drop_a^2 - drop_b^2 = (drop_a - drop_b)(drop_a + drop_b): with per-node phase
    differences delta = V_a - V_b and sums sigma = V_a + V_b, the batch mean for an element
    between nodes i and j is M_ii - M_ij - M_ji + M_jj with M = delta^T sigma / batch. Every
    element still uses only its own two terminals' voltages; the product just shares the work
    (a 784-100-10 crossbar has 159,792 elements but 1,800 nodes). When the elements fill most
    of the grid of their first x second terminals (crossbars: fewer than ``GRID_FILL`` cells per
    element), only that block of M is computed, by one product; otherwise the whole of M, or,
    for small batches where batch x elements is below nodes^2, the per-sample drops.
    Equal to ``local_rule(...).mean(0)`` up to round-off.

    Parameters
    ----------
    voltages : dict of str to ndarray (batch, n_nodes)
        Measured node voltages per phase (``free``, ``positive``, ``negative``).
    probe : Probe
    beta : float
        Nudging strength (> 0).
    nudge : {"positive", "negative", "centered"}

    Returns
    -------
    ndarray, shape (n_trainable,)
        Mean estimate of dL/dg (V^2/S).
    """
    if not beta > 0:
        raise CircuitError(f"beta must be a positive conductance (S), got {beta!r}")
    if nudge not in _CONTRASTS:
        raise CircuitError(f"unknown nudging mode {nudge!r} (choose from {', '.join(NUDGES)})")
    first, second, factor = _CONTRASTS[nudge]
    a, b = voltages[first], voltages[second]
    batch = a.shape[0]
    rows, cols, flat = probe.terminal_grid
    grid = rows.size * cols.size < GRID_FILL * probe.plus.size
    if not grid and batch * probe.plus.size <= a.shape[1] ** 2:
        # Few samples and scattered elements: per-sample drops are cheaper.
        drop_a, drop_b = measure_drops(a, probe), measure_drops(b, probe)
        return ((drop_a - drop_b) * (drop_a + drop_b)).mean(axis=0) * (factor / beta)
    zeros = np.zeros((batch, 1))
    delta = np.concatenate([a - b, zeros], axis=1)      # ground is the last column (index -1)
    sigma = np.concatenate([a + b, zeros], axis=1)
    plus, minus = probe.plus, probe.minus
    if grid:
        # Elements fill most of the grid of their terminals (a crossbar): only M's R x C block
        # and its transpose, as one product of the stacked (2 batch x R) and (2 batch x C).
        diagonal = np.einsum("si,si->i", delta, sigma) / batch
        cross = np.concatenate([delta[:, rows], sigma[:, rows]]).T @ \
            np.concatenate([sigma[:, cols], delta[:, cols]])
        contrast = diagonal[plus] + diagonal[minus] - cross.ravel()[flat] / batch
        return contrast * (factor / beta)
    moments = delta.T @ sigma / batch
    diagonal = np.diagonal(moments)
    contrast = (diagonal[plus] - moments[plus, minus] - moments[minus, plus] + diagonal[minus])
    return contrast * (factor / beta)


@dataclass
class PhaseResults:
    """The solved phases of one batch; ``drops`` are the per-sample measurements."""

    results: dict
    probe: Probe

    @property
    def free(self) -> SolveResult:
        return self.results["free"]

    @property
    def voltages(self) -> dict:
        """Measured node voltages per phase (V)."""
        return {phase: result.voltages for phase, result in self.results.items()}

    @property
    def drops(self) -> dict:
        """Voltage across each trainable element per phase, shape (batch, n_trainable)."""
        return {phase: measure_drops(v, self.probe) for phase, v in self.voltages.items()}


def run_phases(backend: Backend, probe: Probe, inputs, targets, beta: float,
               nudge: str = "centered") -> PhaseResults:
    """Free and nudged phases of a batch on any backend.

    Runs :meth:`Backend.solve_phases`: the native backend warm-starts each nudged phase from
    the free equilibrium (same answer, fewer Newton steps); ngspice runs the phases of each
    sample back to back so that only the nudging elements change between them.
    """
    signs = {"free": 0.0, "positive": 1.0, "negative": -1.0}
    phases = phases_for(nudge)
    solved = backend.solve_phases(inputs, targets, [signs[phase] * beta for phase in phases])
    return PhaseResults(dict(zip(phases, solved)), probe)


def ep_gradient(backend: Backend, inputs, targets, beta: float, nudge: str = "centered",
                probe: Probe | None = None):
    """Mean EP gradient estimate over a batch, plus the phases it came from.

    Returns
    -------
    gradient : ndarray, shape (n_trainable,)
        Batch mean of the local rule (V^2/S), in ``circuit.trainable`` order.
    phases : PhaseResults
    """
    probe = probe or make_probe(backend.circuit, backend.node_names)
    phases = run_phases(backend, probe, inputs, targets, beta, nudge)
    return mean_local_rule(phases.voltages, probe, beta, nudge), phases


def local_rule_terms(voltages: dict, probe: Probe, nudge: str) -> np.ndarray:
    """Per-sample products (drop_a - drop_b)(drop_a + drop_b), shape (batch, n_trainable).

    The unscaled per-sample rows of the local rule; :func:`reduce_terms` turns rows gathered
    from any number of chunks into the batch-mean gradient. Both are the arithmetic of the
    small-batch path of :func:`mean_local_rule`, so ``reduce_terms`` of the rows of a whole batch
    is bitwise equal to ``mean_local_rule`` whenever that takes the per-sample path. Each row
    depends only on its own sample's voltages, so the batch mean of rows concatenated in sample
    order does not depend on who computed them (see :mod:`eqprop_hw.learning.distributed`).
    """
    if nudge not in _CONTRASTS:
        raise CircuitError(f"unknown nudging mode {nudge!r} (choose from {', '.join(NUDGES)})")
    first, second, _ = _CONTRASTS[nudge]
    drop_a = measure_drops(voltages[first], probe)
    drop_b = measure_drops(voltages[second], probe)
    return (drop_a - drop_b) * (drop_a + drop_b)


def reduce_terms(terms: np.ndarray, beta: float, nudge: str) -> np.ndarray:
    """Batch-mean EP gradient (V^2/S) from the rows of :func:`local_rule_terms` in sample order."""
    if not beta > 0:
        raise CircuitError(f"beta must be a positive conductance (S), got {beta!r}")
    if nudge not in _CONTRASTS:
        raise CircuitError(f"unknown nudging mode {nudge!r} (choose from {', '.join(NUDGES)})")
    return terms.mean(axis=0) * (_CONTRASTS[nudge][2] / beta)


def chunk_bounds(batch: int, chunks: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) parts of a batch: ``chunks`` parts as equal as possible (the
    first ``batch % chunks`` one sample longer), empty parts dropped. Depends only on
    ``(batch, chunks)``."""
    chunks = max(1, int(chunks))
    size, extra = divmod(batch, chunks)
    bounds, start = [], 0
    for k in range(chunks):
        stop = start + size + (1 if k < extra else 0)
        if stop > start:
            bounds.append((start, stop))
        start = stop
    return bounds


def chunked_gradient(backend: Backend, inputs, targets, beta: float, nudge: str = "centered",
                     probe: Probe | None = None, chunks: int = 1) -> np.ndarray:
    """Batch-mean EP gradient with the batch solved in ``chunks`` contiguous parts, in-process.

    Bitwise equal to the data-parallel gradient of :class:`eqprop_hw.learning.distributed.DaskGradient`
    with the same ``chunks`` (each part is one task there). The split matters because a
    backend's batched solve may round differently for different batch sizes.
    """
    probe = probe or make_probe(backend.circuit, backend.node_names)
    inputs, targets = np.asarray(inputs, dtype=float), np.asarray(targets, dtype=float)
    rows = []
    for start, stop in chunk_bounds(len(inputs), chunks):
        phases = run_phases(backend, probe, inputs[start:stop], targets[start:stop], beta, nudge)
        rows.append(local_rule_terms(phases.voltages, probe, nudge))
    return reduce_terms(np.concatenate(rows), beta, nudge)
