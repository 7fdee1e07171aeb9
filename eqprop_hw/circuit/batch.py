"""Per-sample inputs and targets checked against a circuit: shared by the backends and the
independent reference (:mod:`eqprop_hw.learning.reference`), which must not import a backend.

No physics here: only shapes, finiteness and the bounds of :mod:`eqprop_hw.circuit.graph`.
Units: inputs in V or A (what the input sources take, before their gain), squared-loss targets
in V, cross-entropy targets probability vectors.
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.graph import GROUND, Circuit, check_source_values, check_target_values
from eqprop_hw.learning.losses import check_probabilities


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


__all__ = ["as_batch", "circuit_nodes", "prepare_batch"]
