"""The interface every simulation backend implements.

A backend owns one compiled circuit. :meth:`Backend.solve` runs the DC operating point of a
batch of input vectors, optionally with nudging, and returns node voltages. The EP engine never
knows which backend ran.

The nudge implements the backend's loss (``loss=`` when it is made, see
:mod:`eqprop_hw.learning.losses`): for ``squared`` (default) a conductance ``beta`` (S) from each output
to its target voltage; for ``cross_entropy`` the current ``(beta / tau) (y_k - p_k)`` (A) into
each output, ``p = softmax(V / tau)``, with ``beta`` in W and targets ``y`` probability vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.graph import GROUND, Circuit, check_source_values, check_target_values
from eqprop_hw.learning.losses import check_loss, check_probabilities


@dataclass
class SolveResult:
    """Node voltages of a batch of operating points.

    Attributes
    ----------
    backend : str
        ``"ngspice"`` or ``"native"``.
    node_names : list of str
        Every non-ground node of the circuit (nudging nodes excluded), column order.
    voltages : ndarray, shape (batch, n_nodes)
        Node voltages (V).
    outputs : ndarray, shape (batch, n_outputs)
        Output node voltages (V) in output order.
    converged : ndarray of bool, shape (batch,)
    seconds : float
        Wall time of the solve (s).
    """

    backend: str
    node_names: list
    voltages: np.ndarray
    outputs: np.ndarray
    converged: np.ndarray
    seconds: float

    def voltage_dict(self, row: int = 0) -> dict:
        """``{node: V}`` of one batch row."""
        return {name: float(v) for name, v in zip(self.node_names, self.voltages[row])}


def circuit_nodes(circuit: Circuit) -> list[str]:
    """The non-ground nodes reported by backends, in circuit order."""
    return [node for node in circuit.nodes if node != GROUND]


def as_batch(values, width: int, what: str) -> np.ndarray:
    """Validate a vector or matrix of per-sample values and return shape (batch, width)."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != width:
        raise CircuitError(f"expected {width} {what} per sample, got shape {np.shape(values)}")
    if not np.all(np.isfinite(array)):
        rows = sorted(set(np.argwhere(~np.isfinite(array))[:, 0].tolist()))
        raise CircuitError(f"{what} must be finite numbers (NaN or inf in row(s) "
                           f"{', '.join(map(str, rows[:5]))})")
    return array


def prepare_batch(inputs, beta, targets, n_inputs: int, n_outputs: int,
                  loss: str = "squared", circuit: Circuit | None = None):
    """Validate one batch of (inputs, beta, targets) for a circuit.

    Returns ``(inputs (batch, n_inputs), beta, targets (batch, n_outputs))``; missing targets
    are zeros (allowed only for ``beta == 0``) and a single target row is broadcast.

    Raises
    ------
    CircuitError
        Wrong widths, NaN/inf, a non-finite beta, nudging without targets, mismatched rows,
        (cross-entropy) targets that are not probability vectors, or (given ``circuit``)
        inputs that drive a source, or squared-loss targets, beyond
        :data:`eqprop_hw.circuit.graph.MAX_SOURCE` (1e9 V or A).
    """
    inputs = as_batch(inputs, n_inputs, "input values")
    if not np.isfinite(beta):
        raise CircuitError(f"beta must be finite, got {beta!r}")
    if targets is None:
        if beta != 0.0:
            raise CircuitError("nudging (beta != 0) needs targets")
        targets = np.zeros((inputs.shape[0], n_outputs))
    targets = as_batch(targets, n_outputs, "target values")
    if targets.shape[0] == 1 and inputs.shape[0] > 1:
        targets = np.repeat(targets, inputs.shape[0], axis=0)
    if targets.shape[0] != inputs.shape[0]:
        raise CircuitError(f"{inputs.shape[0]} input rows but {targets.shape[0]} target rows")
    if loss == "cross_entropy" and beta != 0.0:
        check_probabilities(targets)
    if circuit is not None:
        check_source_values(circuit, inputs)
        if loss != "cross_entropy":
            check_target_values(circuit, targets)
    return inputs, float(beta), targets


class Backend:
    """Base class: subclasses implement :meth:`solve` and :meth:`set_values`."""

    name = "base"

    def __init__(self, circuit: Circuit, loss: str = "squared",
                 temperature: float | None = None):
        self.loss, self.temperature = check_loss(loss, temperature)
        if self.loss == "cross_entropy" and len(circuit.outputs) < 2:
            raise CircuitError(f"circuit {circuit.name!r}: the cross-entropy loss needs at least "
                               "two outputs (the softmax of one output is always 1)")
        self._pending = None
        self.circuit = circuit
        self.n_inputs, self.n_outputs = len(circuit.inputs), len(circuit.outputs)
        self.node_names = circuit_nodes(circuit)
        self.output_columns = [self.node_names.index(p.node) for p in circuit.outputs]

    def solve(self, inputs, beta: float = 0.0, targets=None) -> SolveResult:
        """Operating points for a batch of inputs.

        Parameters
        ----------
        inputs : array_like, shape (batch, n_inputs) or (n_inputs,)
            Input values (the sources take ``gain * x``).
        beta : float
            Nudging strength; 0 is the free phase. Squared loss: conductance (S);
            cross-entropy: W.
        targets : array_like, shape (batch, n_outputs) or (n_outputs,), optional
            Required when ``beta != 0``. Squared loss: target voltages (V); cross-entropy:
            probability vectors (one-hot labels).
        """
        raise NotImplementedError

    def set_values(self, values: dict) -> None:
        """Change element values (conductances in S) without rebuilding."""
        raise NotImplementedError

    @property
    def circuit(self) -> Circuit:
        """The circuit with the current values (materialised lazily after set_trainable)."""
        if self._pending is not None:
            self._circuit = self._circuit.with_values(
                dict(zip(self._circuit.trainable, self._pending.tolist())))
            self._pending = None
        return self._circuit

    @circuit.setter
    def circuit(self, circuit: Circuit) -> None:
        self._circuit = circuit
        self._pending = None

    def _checked_trainable(self, values) -> np.ndarray:
        """Validate a vector of trainable values (finite, > 0, one per trainable element)."""
        values = np.asarray(values, dtype=float).ravel()
        names = self._circuit.trainable
        if values.size != len(names):
            raise CircuitError(f"expected {len(names)} trainable values, got {values.size}")
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            raise CircuitError(f"trainable values must be finite and positive (S); "
                               f"{names[bad[0]]} is {values[bad[0]]!r}")
        return values

    def set_trainable(self, values) -> None:
        """New values of every trainable element (S for conductances), in trainable order."""
        values = self._checked_trainable(values)
        self.set_values(dict(zip(self._circuit.trainable, values.tolist())))

    def solve_phases(self, inputs, targets, betas) -> list:
        """Operating points of one batch at several nudging strengths (free phase: beta 0).

        Returns one :class:`SolveResult` per beta, in order. Backends may reorder the work
        (e.g. all phases of one sample back to back) but not the results.
        """
        return [self.solve(inputs, beta, targets) for beta in betas]

    def close(self) -> None:
        """Release resources (the ngspice session)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _prepare(self, inputs, beta, targets):
        return prepare_batch(inputs, beta, targets, self.n_inputs, self.n_outputs, self.loss,
                             self._circuit)
