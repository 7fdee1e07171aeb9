"""The gradient of the continuous-time circuit: BPTT converged in the time step.

BPTT (:func:`eqprop_hw.lc.bptt.bptt_gradient`) is exact for the *discrete* leapfrog map at the
spec's ``time.tstep``: its error against the circuit in continuous time (what ngspice
integrates and the echo measures) is O((omega h)^2). For a small residual the gradient is a
difference of nearly equal terms and that error is divided by the residual
(docs/results/lc_echo.md). :func:`continuous_gradient` removes it: BPTT on the same window at
``tstep / 2`` and ``tstep / 4`` (inputs and targets played as the same piecewise-linear
waveforms, or the spec's own waveforms evaluated on the finer grids; the loss
``int 1/2 |out - y|^2 dt`` by the trapezoidal rule on each grid), Richardson-extrapolated to
zero step, ``G = (4 G(h/4) - G(h/2)) / 3`` (leapfrog and trapezoidal rule are both second
order), with its own error estimate: the same extrapolation one grid coarser,
``(4 G(h/2) - G(h)) / 3``, differs from ``G`` by about 15x ``G``'s own error when the next
term is O(h^4) (leapfrog's expansion is even in h); that difference is reported as the error
(conservative). Measured on a 2-node linear network at residuals 1e-3 to 1e-1 of the swing
against the same extrapolation from h/16 and h/32: reported / actual = 14.8-15.0
(tests/test_lc_continuous.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eqprop_hw.lc.bptt import bptt_gradient
from eqprop_hw.lc.model import LCModel

#: The grids: tstep, tstep / 2 and tstep / 4 (the last two give the gradient, the first its
#: error estimate).
REFINEMENTS = (1, 2, 4)
#: Most values of one stored trajectory array at tstep / 4 ((4 steps + 1) x batch x nodes):
#: 160 MB of float64 each; BPTT stores a few such arrays.
MAX_FINE_VALUES = 20_000_000


@dataclass
class ContinuousGradient:
    """:func:`continuous_gradient`'s result.

    Attributes
    ----------
    gradient : ndarray (n_theta,)
        dL/dtheta of the continuous-time circuit and loss (per F or per H), extrapolated.
    error : float
        Its estimated relative error: ``|G - G'| / |G|`` with ``G' = (4 G(h/2) - G(h)) / 3``
        the same extrapolation one grid coarser (about 15x the actual error once the h^4
        term dominates; falls ~16x per halving of ``tstep``).
    fine_error : float
        The simpler two-grid estimate ``|G(h/2) - G(h/4)| / |G(h/4)|``: 3x the estimated
        error of ``G(h/4)`` before extrapolation (falls ~4x per halving of ``tstep``; far above
        ``gradient``'s actual error).
    loss : float
        The loss extrapolated the same way (Wb^2 s or A^2 s).
    fine : dict
        ``{1: G(h), 2: G(h/2), 4: G(h/4)}``: BPTT on each grid (ndarray (n_theta,)).
    tstep : float
        The coarse step h (s) the refinements divide.
    seconds : float
        Wall time of the three BPTT runs (s).
    """

    gradient: np.ndarray
    error: float
    fine_error: float
    loss: float
    fine: dict
    tstep: float
    seconds: float


def _refine(values, times, fine_times) -> np.ndarray:
    """Waveforms (len(times), ...) linearly interpolated onto ``fine_times`` (the PWL
    waveform ngspice plays)."""
    values = np.asarray(values, dtype=float)
    flat = values.reshape(values.shape[0], -1)
    out = np.stack([np.interp(fine_times, times, flat[:, k]) for k in range(flat.shape[1])],
                   axis=1) if flat.shape[1] else np.zeros((len(fine_times), 0))
    return out.reshape((len(fine_times),) + values.shape[1:])


def _check_waveform(values, name: str, model: LCModel, width: int):
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    if values.ndim not in (2, 3) or values.shape[0] != model.steps + 1 \
            or values.shape[-1] != width:
        raise ValueError(f"continuous_gradient: {name!r} must have shape (steps + 1 = "
                         f"{model.steps + 1}, [batch,] {width}), got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"continuous_gradient: {name!r} holds a value that is not finite")
    return values


def size_problem(model: LCModel, batch: int = 1) -> str | None:
    """Why :func:`continuous_gradient` would refuse a network of ``batch`` sequences (its grid
    at tstep / 4 over the step limit, or its stored trajectory over :data:`MAX_FINE_VALUES`
    values), or None.

    Examples
    --------
    >>> size_problem(eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml").model) is None
    True
    """
    from eqprop_hw.lc.model import MAX_STEPS
    fine_steps = REFINEMENTS[-1] * model.steps
    if fine_steps > MAX_STEPS:
        return (f"the continuous-time reference needs {fine_steps:,} steps at tstep / "
                f"{REFINEMENTS[-1]}, more than the limit of {MAX_STEPS:,}")
    values = (fine_steps + 1) * max(int(batch), 1) * model.n
    if values > MAX_FINE_VALUES:
        return (f"the continuous-time reference would store {values:,} values per trajectory "
                f"array at tstep / {REFINEMENTS[-1]}, more than the limit of "
                f"{MAX_FINE_VALUES:,}")
    return None


def _check_size(model: LCModel, inputs, targets) -> None:
    batch = next((w.shape[1] for w in (inputs, targets) if w is not None and w.ndim == 3), 1)
    problem = size_problem(model, batch)
    if problem is not None:
        raise ValueError(f"continuous_gradient: {problem}")


def _check_gradient(values, theta) -> np.ndarray:
    given = np.asarray(values, dtype=float)
    if given.shape != theta.shape or not np.all(np.isfinite(given)):
        raise ValueError(f"continuous_gradient: 'tstep_gradient' must be {theta.size} finite "
                         f"numbers (one per trainable element), got shape {given.shape}")
    return given


def continuous_gradient(model: LCModel, theta=None, inputs=None, targets=None,
                        tstep_gradient=None) -> ContinuousGradient:
    """dL/dtheta of the continuous-time circuit and loss, BPTT Richardson-extrapolated in the
    time step.

    Parameters
    ----------
    model : LCModel
        The network (values, waveforms) on its grid of step h = ``model.tstep``.
    theta : array_like, optional
        Trainable values (F, H); default the model's.
    inputs : array_like (steps + 1, [batch,] n_in), optional
        Input currents (A) on the model's grid, played as piecewise-linear waveforms (what
        ngspice plays of a sampled sequence); default the spec's own input waveforms,
        evaluated on the finer grids.
    targets : array_like (steps + 1, [batch,] n_out), optional
        Targets (Wb or A) on the grid, piecewise-linear likewise; default the spec's own
        target waveforms.
    tstep_gradient : array_like (n_theta,), optional
        BPTT at the model's own step for the same theta, inputs and targets, when the caller
        has it (:func:`eqprop_hw.lc.bptt.bptt_gradient`): reused for the error estimate
        instead of being run again.

    Returns
    -------
    ContinuousGradient
        ``gradient`` (extrapolated), ``error`` (its estimated relative error), ``loss``,
        ``fine`` (BPTT at h/2 and h/4).

    Raises
    ------
    ValueError
        ``inputs``/``targets`` of the wrong shape or not finite; a network too large for the
        reference (:func:`size_problem`).
    SpecError
        ``targets`` not given and the spec has none.

    Notes
    -----
    Costs three BPTT runs of 1x, 2x and 4x the steps (about 7x one BPTT at h; 6x with
    ``tstep_gradient``) and memory for the trajectory at h/4.

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_nonlinear20.yaml")   # spec waveforms
    >>> model = net.model.with_tstep(net.model.tstep * 10)    # 1000 steps: a quick example
    >>> ref = continuous_gradient(model)
    >>> ref.gradient.shape == (len(model.trainable),), bool(ref.error < 1e-2)
    (True, True)
    """
    import time
    start = time.perf_counter()
    inputs = _check_waveform(inputs, "inputs", model, len(model.src_names))
    targets = _check_waveform(targets, "targets", model, len(model.outputs))
    _check_size(model, inputs, targets)
    theta = model.theta0() if theta is None else np.asarray(theta, dtype=float)
    grads, losses = {}, {}
    if tstep_gradient is not None:
        grads[1], losses[1] = _check_gradient(tstep_gradient, theta), None
    for m in REFINEMENTS:
        if m in grads:
            continue
        fine = model if m == 1 else model.with_tstep(model.tstep / m)
        times = fine.times
        u = fine.input_waveforms(times) if inputs is None else \
            _refine(inputs, model.times, times)
        y = fine.target_waveforms(times) if targets is None else \
            _refine(targets, model.times, times)
        losses[m], grads[m], _ = bptt_gradient(fine, theta, inputs=u, targets=y)
    gradient = (4 * grads[4] - grads[2]) / 3           # the h^2 term cancels
    coarser = (4 * grads[2] - grads[1]) / 3
    norm, norm4 = np.linalg.norm(gradient), np.linalg.norm(grads[4])
    error = float(np.linalg.norm(gradient - coarser) / norm) if norm > 0 else float("nan")
    fine_error = float(np.linalg.norm(grads[2] - grads[4]) / norm4) if norm4 > 0 \
        else float("nan")
    return ContinuousGradient(gradient=gradient, error=error, fine_error=fine_error,
                              loss=float((4 * losses[4] - losses[2]) / 3),
                              fine=dict(grads), tstep=model.tstep,
                              seconds=time.perf_counter() - start)
