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
order), with its own error estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eqprop_hw.lc.bptt import bptt_gradient
from eqprop_hw.lc.model import LCModel

#: The two refinements of the grid (tstep / 2 and tstep / 4).
REFINEMENTS = (2, 4)


@dataclass
class ContinuousGradient:
    """:func:`continuous_gradient`'s result.

    Attributes
    ----------
    gradient : ndarray (n_theta,)
        dL/dtheta of the continuous-time circuit and loss (per F or per H), extrapolated.
    error : float
        Its estimated relative error, ``|G(h/2) - G(h/4)| / |G(h/4)|``: the change of the last
        refinement, i.e. 3x the estimated error of ``G(h/4)`` itself and, the extrapolation
        removing the h^2 term, a conservative bound of ``gradient``'s (it falls ~4x per
        halving of ``tstep``).
    loss : float
        The loss extrapolated the same way (Wb^2 s or A^2 s).
    fine : dict
        ``{2: G(h/2), 4: G(h/4)}``: BPTT on each finer grid (ndarray (n_theta,)).
    tstep : float
        The coarse step h (s) the refinements divide.
    seconds : float
        Wall time of the two BPTT runs (s).
    """

    gradient: np.ndarray
    error: float
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


def continuous_gradient(model: LCModel, theta=None, inputs=None, targets=None,
                        ) -> ContinuousGradient:
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

    Returns
    -------
    ContinuousGradient
        ``gradient`` (extrapolated), ``error`` (its estimated relative error), ``loss``,
        ``fine`` (BPTT at h/2 and h/4).

    Raises
    ------
    ValueError
        ``inputs``/``targets`` of the wrong shape or not finite; a grid of h/4 over the
        spec's step limit (:meth:`LCModel.with_tstep`).
    SpecError
        ``targets`` not given and the spec has none.

    Notes
    -----
    Costs two BPTT runs of 2x and 4x the steps (about 6x one BPTT at h) and memory for the
    trajectory at h/4.

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
    theta = model.theta0() if theta is None else np.asarray(theta, dtype=float)
    grads, losses = {}, {}
    for m in REFINEMENTS:
        fine = model.with_tstep(model.tstep / m)
        times = fine.times
        u = fine.input_waveforms(times) if inputs is None else \
            _refine(inputs, model.times, times)
        y = fine.target_waveforms(times) if targets is None else \
            _refine(targets, model.times, times)
        losses[m], grads[m], _ = bptt_gradient(fine, theta, inputs=u, targets=y)
    a, b = REFINEMENTS
    weight = (b / a) ** 2                       # 4: the h^2 term cancels
    gradient = (weight * grads[b] - grads[a]) / (weight - 1)
    norm = np.linalg.norm(grads[b])
    error = float(np.linalg.norm(grads[a] - grads[b]) / norm) if norm > 0 else float("nan")
    return ContinuousGradient(gradient=gradient, error=error,
                              loss=float((weight * losses[b] - losses[a]) / (weight - 1)),
                              fine=dict(grads), tstep=model.tstep,
                              seconds=time.perf_counter() - start)
