"""Losses on the output voltages and the nudging currents they define.

Two losses are supported (``training.loss`` in a spec, ``loss=`` for the backends and the
reference model):

``squared``
    ``L = 1/2 sum_k (V_k - y_k)^2`` (V^2) with target voltages ``y_k`` (V). ``beta * L`` is
    the co-content of a conductance ``beta`` (S) from output k to a source at ``y_k``.

``cross_entropy``
    ``p = softmax(V / tau)``, ``L = -sum_k y_k log p_k`` (dimensionless, nats) with ``y`` a
    probability vector (one-hot labels for classification; *not* voltages) and the softmax
    temperature ``tau`` (V). Then

        dL/dV_k = (p_k * sum_j y_j - y_k) / tau          (1/V;  (p_k - y_k) / tau when sum y = 1)

    The nudged energy is ``E + beta * L``; since E is a co-content in W (V*A) and L is
    dimensionless, **beta is in W** for this loss. The nudge is the nonlinear controlled
    current ``I_k = -beta dL/dV_k = (beta / tau) (y_k - p_k)`` (A) injected *into* output
    node k; it couples every output through the softmax. Its small-signal conductance
    matrix is ``-dI/dV = (beta / tau^2) (diag(p) - p p^T)`` (S, symmetric positive
    semi-definite), at most ``beta / (2 tau^2)``: against the squared loss, ``beta / tau^2``
    plays the role of the nudging conductance.

The softmax is evaluated in its overflow-free form ``p_k = 1 / sum_j exp((V_j - V_k) / tau)``
(the ``j = k`` term is 1, so the sum is >= 1 and never 0); it is exact, and it is also what
the ngspice nudge writes (see :func:`eqprop_hw.circuit.netlist.nudge_elements`).

Examples
--------
>>> import numpy as np
>>> v = np.array([[0.2, 0.0, -0.1]])
>>> y = np.array([[1.0, 0.0, 0.0]])
>>> p = softmax(v, 0.1)
>>> bool(np.isclose(p.sum(), 1.0))
True
>>> bool(np.isclose(cross_entropy_loss(v, y, 0.1)[0], -np.log(p[0, 0])))
True
"""

from __future__ import annotations

import math

import numpy as np

from eqprop_hw.errors import CircuitError

LOSSES = ("squared", "cross_entropy")

#: Default softmax temperature (V) of the cross-entropy loss. Output swings of the example
#: circuits are ~1 V, so V / tau spans ~10 and the softmax can become confident
#: (p ~ 0.9999 for a 1 V lead) while staying far from overflow.
DEFAULT_TEMPERATURE = 0.1

#: Tolerance on ``sum_k y_k = 1`` for cross-entropy targets given to a backend.
PROBABILITY_TOLERANCE = 1e-9


def check_loss(loss: str, temperature: float | None = None) -> tuple[str, float | None]:
    """Validate a loss name and its temperature; returns ``(loss, temperature)``.

    The temperature (V) defaults to :data:`DEFAULT_TEMPERATURE` for ``cross_entropy`` and is
    ``None`` for ``squared`` (where it has no meaning).

    Raises
    ------
    CircuitError
        For an unknown loss, or a temperature that is not a finite number > 0.
    """
    if loss not in LOSSES:
        raise CircuitError(f"unknown loss {loss!r} (choose from {', '.join(LOSSES)})")
    if loss == "squared":
        return loss, None
    if temperature is None:
        temperature = DEFAULT_TEMPERATURE
    if isinstance(temperature, bool):
        raise CircuitError(f"softmax temperature must be a number (V), got {temperature!r}")
    try:
        temperature = float(temperature)
    except (TypeError, ValueError):
        raise CircuitError(f"softmax temperature must be a number (V), got {temperature!r}") \
            from None
    if not (math.isfinite(temperature) and temperature > 0):
        raise CircuitError(f"softmax temperature must be a finite number > 0 (V), "
                           f"got {temperature!r}")
    return loss, temperature


def check_probabilities(targets: np.ndarray, what: str = "cross-entropy targets") -> None:
    """Raise CircuitError unless every row is a probability vector (>= 0, sums to 1)."""
    targets = np.asarray(targets, dtype=float)
    bad = np.flatnonzero(np.any(targets < 0, axis=1) |
                         (np.abs(targets.sum(axis=1) - 1.0) > PROBABILITY_TOLERANCE))
    if bad.size:
        row = int(bad[0])
        raise CircuitError(f"{what} must be probability vectors (entries >= 0 summing to 1, "
                           f"e.g. one-hot labels, not voltages); row {row} is "
                           f"{targets[row].tolist()}")


def softmax(outputs, temperature: float) -> np.ndarray:
    """``softmax(V / tau)`` row by row (overflow-free), shape of ``outputs``."""
    v = np.asarray(outputs, dtype=float) / temperature
    v = v - v.max(axis=-1, keepdims=True)
    e = np.exp(v)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(outputs, temperature: float) -> np.ndarray:
    """``log softmax(V / tau)`` row by row (overflow-free)."""
    v = np.asarray(outputs, dtype=float) / temperature
    m = v.max(axis=-1, keepdims=True)
    return v - m - np.log(np.exp(v - m).sum(axis=-1, keepdims=True))


def squared_loss(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-sample loss 1/2 sum_k (V_k - y_k)^2 (V^2)."""
    return 0.5 * np.sum((np.asarray(outputs) - np.asarray(targets)) ** 2, axis=1)


def cross_entropy_loss(outputs: np.ndarray, targets: np.ndarray,
                       temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """Per-sample loss ``-sum_k y_k log softmax(V / tau)_k`` (dimensionless, nats).

    Parameters
    ----------
    outputs : ndarray, shape (batch, n_outputs)
        Output voltages V (V).
    targets : ndarray, shape (batch, n_outputs)
        Probabilities y (one-hot labels).
    temperature : float
        tau (V), > 0.
    """
    _, temperature = check_loss("cross_entropy", temperature)
    targets = np.asarray(targets, dtype=float)
    return -np.sum(targets * log_softmax(outputs, temperature), axis=1)


def cross_entropy_gradient(outputs, targets, temperature: float) -> np.ndarray:
    """``dL/dV`` (1/V) of the cross-entropy loss: ``(p sum(y) - y) / tau``."""
    targets = np.asarray(targets, dtype=float)
    p = softmax(outputs, temperature)
    return (p * targets.sum(axis=-1, keepdims=True) - targets) / temperature


def cross_entropy_nudge(outputs, targets, beta: float, temperature: float):
    """The cross-entropy nudging current and its small-signal conductance matrix.

    Parameters
    ----------
    outputs : ndarray, shape (batch, n_outputs)
        Output voltages (V).
    targets : ndarray, shape (batch, n_outputs)
        Probabilities y.
    beta : float
        Nudging strength (W).
    temperature : float
        tau (V).

    Returns
    -------
    current : ndarray, shape (batch, n_outputs)
        ``I_k = -beta dL/dV_k`` (A) injected into output node k.
    conductance : ndarray, shape (batch, n_outputs, n_outputs)
        ``-dI/dV = beta sum(y) / tau^2 (diag(p) - p p^T)`` (S).
    """
    targets = np.asarray(targets, dtype=float)
    p = softmax(outputs, temperature)
    total = targets.sum(axis=-1, keepdims=True)
    current = -beta * (p * total - targets) / temperature
    scale = beta * total[..., None] / temperature ** 2
    conductance = scale * (p[..., :, None] * np.eye(p.shape[-1]) - p[..., :, None] *
                           p[..., None, :])
    return current, conductance


def loss_values(loss: str, outputs, targets, temperature: float | None = None) -> np.ndarray:
    """Per-sample loss of either kind (V^2 for squared, nats for cross-entropy)."""
    if loss == "squared":
        return squared_loss(outputs, targets)
    if loss == "cross_entropy":
        return cross_entropy_loss(outputs, targets, temperature)
    raise CircuitError(f"unknown loss {loss!r} (choose from {', '.join(LOSSES)})")


def loss_gradient(loss: str, outputs, targets, temperature: float | None = None) -> np.ndarray:
    """``dL/dV`` per sample (V for squared, 1/V for cross-entropy)."""
    if loss == "squared":
        return np.asarray(outputs, dtype=float) - np.asarray(targets, dtype=float)
    if loss == "cross_entropy":
        return cross_entropy_gradient(outputs, targets, temperature)
    raise CircuitError(f"unknown loss {loss!r} (choose from {', '.join(LOSSES)})")


def backend_options(loss: str, temperature: float | None = None) -> dict:
    """Keyword arguments of ``make_backend`` for a loss: none for the default (squared), so that
    callers of the two-argument form keep working."""
    loss, temperature = check_loss(loss, temperature)
    return {} if loss == "squared" else {"loss": loss, "temperature": temperature}


__all__ = ["LOSSES", "DEFAULT_TEMPERATURE", "check_loss", "check_probabilities", "softmax",
           "log_softmax", "squared_loss", "cross_entropy_loss", "cross_entropy_gradient",
           "cross_entropy_nudge", "loss_values", "loss_gradient", "backend_options"]
