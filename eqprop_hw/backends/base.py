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
from eqprop_hw.circuit.batch import circuit_nodes, prepare_batch
from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.learning.losses import check_loss


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
