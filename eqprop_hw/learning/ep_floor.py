"""How far to trust one EP gradient measured on a backend: its numerical floor and its nudging
bias, measured on the same circuit, inputs and beta (``grad --json`` and ``check --json``).

Two errors bound the EP estimate from measured voltages, and they pull beta in opposite
directions:

numerical floor (beta too small)
    The local rule divides a difference of squared drops by beta, so any error in the measured
    voltages grows like 1/beta. Each node voltage's error is taken as its distance to an
    independent solution of the same equilibrium (the software model
    :class:`eqprop_hw.learning.reference.EnergyModel`, Newton to round-off), and at least
    round-off (``eps * |V|``); carried through the local rule it gives, per element,
    ``floor_k = 2 |c| / beta * mean_batch (|dV_a| + |dV_b|) (u_i + u_j)`` (``c`` the mode's
    factor: 1/2 one-sided, 1/4 centered; ``u_i, u_j`` the terminals' voltage errors). A
    gradient whose norm is below :data:`FLOOR_RATIO` times the floor's is called noise-limited.
bias (beta too large)
    One-sided nudging is biased O(beta), centered O(beta^2). Measured by extra phases: the
    opposite one-sided estimate (one-sided: ``bias ~ (g_this - g_opposite) / 2``) or the
    centered estimate at beta/2 (Richardson: ``bias ~ 4/3 (g(beta) - g(beta/2))``). A bias
    above :data:`BIAS_LIMIT` of the gradient's norm (and above the noise of its own
    measurement, 4 floors) is reported.

Units: V, S (W for cross-entropy's beta); gradients in V^2/S (1/S for cross-entropy).
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.learning.ep import mean_local_rule

#: The gradient's norm must be at least this many times the numerical floor's.
FLOOR_RATIO = 10.0

#: The largest estimated bias accepted, as a fraction of the gradient's norm.
BIAS_LIMIT = 0.01

#: The phases each mode contrasts and its factor on (drop_a^2 - drop_b^2) / beta.
CONTRASTS = {"positive": ("positive", "free", 0.5), "negative": ("negative", "free", 0.5),
             "centered": ("positive", "negative", 0.25)}


def voltage_uncertainty(measured, reference) -> np.ndarray:
    """Per-node error (V) of measured voltages: their distance to an independent solution,
    at least double round-off of either.

    Examples
    --------
    >>> voltage_uncertainty([[1.0, 2.0]], [[1.0, 2.5]]).tolist()
    [[2.220446049250313e-16, 0.5]]
    """
    measured, reference = np.asarray(measured, float), np.asarray(reference, float)
    scale = np.maximum(np.abs(measured), np.abs(reference))
    return np.maximum(np.abs(measured - reference), np.finfo(float).eps * scale)


def rule_floor(voltages: dict, probe, uncertainty, beta: float, nudge: str) -> np.ndarray:
    """The local rule's numerical floor per trainable element (V^2/S), batch mean.

    Parameters
    ----------
    voltages : dict of str to ndarray (batch, n_nodes)
        Measured node voltages per phase.
    probe : eqprop_hw.learning.ep.Probe
    uncertainty : ndarray (batch, n_nodes)
        Error of each measured node voltage (V) (:func:`voltage_uncertainty`).
    beta : float
        Nudging strength (> 0).
    nudge : {"positive", "negative", "centered"}
    """
    first, second, factor = CONTRASTS[nudge]
    batch = uncertainty.shape[0]
    pad = np.zeros((batch, 1))

    def drops(v):
        v = np.concatenate([v, pad], axis=1)          # ground is the last column (index -1)
        return np.abs(v[:, probe.plus] - v[:, probe.minus])

    u = np.concatenate([uncertainty, pad], axis=1)
    drop_error = u[:, probe.plus] + u[:, probe.minus]
    size = drops(voltages[first]) + drops(voltages[second])
    return (2.0 * factor / beta) * (size * drop_error).mean(axis=0)


def nudge_bias(backend, probe, inputs, targets, beta: float, nudge: str, voltages: dict,
               estimate) -> np.ndarray:
    """Estimated bias (V^2/S) of ``estimate`` from extra phases on ``backend`` (see the module
    docstring): one more phase for one-sided nudging, two (+-beta/2) for centered."""
    estimate = np.asarray(estimate, dtype=float)
    if nudge == "centered":
        plus, minus = backend.solve_phases(inputs, targets, [0.5 * beta, -0.5 * beta])
        half = mean_local_rule({"positive": plus.voltages, "negative": minus.voltages}, probe,
                               0.5 * beta, "centered")
        return (4.0 / 3.0) * (estimate - half)
    other = "negative" if nudge == "positive" else "positive"
    (opposite,) = backend.solve_phases(inputs, targets,
                                       [-beta if other == "negative" else beta])
    g_other = mean_local_rule({"free": voltages["free"], other: opposite.voltages}, probe,
                              beta, other)
    return 0.5 * (estimate - g_other)


def ep_quality(backend, model, inputs, targets, beta: float, nudge: str, phases,
               estimate) -> dict:
    """The numerical floor and nudging bias of one EP estimate, and warnings when beta is
    outside the range where the estimate can be trusted.

    Parameters
    ----------
    backend : eqprop_hw.backends.base.Backend
        The open backend that measured ``phases`` (runs the extra bias phases).
    model : eqprop_hw.learning.reference.EnergyModel
        The independent software model of the same circuit and loss.
    inputs, targets : ndarray (batch, n_inputs), (batch, n_outputs)
    beta : float
        Nudging strength (> 0).
    nudge : {"positive", "negative", "centered"}
    phases : eqprop_hw.learning.ep.PhaseResults
        The measured phases of ``estimate``.
    estimate : ndarray (n_trainable,)
        The EP gradient (batch mean).

    Returns
    -------
    dict
        ``numerical_floor`` (norm of the per-element floor, V^2/S), ``signal_to_floor``
        (``|estimate| / numerical_floor``), ``bias_estimate`` (norm), ``bias_relative``
        (``bias_estimate / |estimate|``), ``floor_ratio_limit`` (:data:`FLOOR_RATIO`),
        ``bias_limit`` (:data:`BIAS_LIMIT`), ``warnings`` (list of one-line messages, empty
        when beta is fine).
    """
    voltages = phases.voltages
    reference = model.solve(inputs, 0.0, targets).voltages
    uncertainty = voltage_uncertainty(voltages["free"], reference)
    floor = rule_floor(voltages, phases.probe, uncertainty, beta, nudge)
    bias = nudge_bias(backend, phases.probe, inputs, targets, beta, nudge, voltages, estimate)
    signal = float(np.linalg.norm(estimate))
    floor_norm = float(np.linalg.norm(floor))
    bias_norm = float(np.linalg.norm(bias))
    ratio = signal / floor_norm if floor_norm > 0 else float("inf")
    relative = bias_norm / signal if signal > 0 else float("inf")
    name = getattr(backend, "name", "the backend")
    warnings = []
    if ratio < FLOOR_RATIO:
        warnings.append(
            f"warning: beta = {beta:g} is too small for {name}: the EP gradient's norm "
            f"{signal:.3g} is only {ratio:.3g}x its numerical floor {floor_norm:.3g} (voltage "
            f"errors carried through the local rule; want >= {FLOOR_RATIO:g}x): raise --beta")
    elif relative > BIAS_LIMIT and bias_norm > 4.0 * floor_norm:
        order = "beta^2" if nudge == "centered" else "beta"
        warnings.append(
            f"warning: beta = {beta:g} is too large: the estimated O({order}) nudging bias "
            f"{bias_norm:.3g} is {100 * relative:.3g}% of the EP gradient's norm (limit "
            f"{100 * BIAS_LIMIT:g}%): lower --beta")
    return {"numerical_floor": floor_norm, "signal_to_floor": ratio,
            "bias_estimate": bias_norm, "bias_relative": relative,
            "floor_ratio_limit": FLOOR_RATIO, "bias_limit": BIAS_LIMIT, "warnings": warnings}


__all__ = ["FLOOR_RATIO", "BIAS_LIMIT", "CONTRASTS", "voltage_uncertainty", "rule_floor",
           "nudge_bias", "ep_quality"]
