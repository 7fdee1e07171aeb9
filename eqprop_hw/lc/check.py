"""The reference checks of an lc network (``eqprop-hw check`` on a ``kind: lc`` spec): the echo
estimate from each backend's measurements against BPTT and against finite differences of the
loss."""

from __future__ import annotations

import time

import numpy as np


def check_rows(model, inputs, targets, beta: float, backends=("native", "ngspice"),
               nudge: str = "centered", fd_count: int = 8, fd_step: float = 1e-5,
               bar=None) -> list:
    """The reference checks of an lc network on a batch of sequences (losses and gradients
    summed over the batch).

    Rows (keys as :func:`eqprop_hw.learning.reference.check_report`'s): ``exact`` (BPTT, with ``loss``
    and ``norm``), ``echo ngspice`` and ``echo native`` (the echo estimate from each backend's
    measurements vs BPTT, with its measured ``floor`` and ``signal_to_floor``,
    :func:`eqprop_hw.lc.echo.echo_floor`), ``fd native`` (central finite differences of the loss, relative step
    ``fd_step``, on the ``fd_count`` elements of largest |BPTT| gradient, vs BPTT) and ``echo
    ngspice vs echo native``; with ngspice also ``echo ngspice vs continuous``: the ngspice
    echo against the gradient of the continuous-time circuit it integrates
    (:func:`eqprop_hw.lc.continuous.continuous_gradient`, BPTT converged in the time step on
    the same piecewise-linear waveforms; ``reference_error`` its own estimated error; left out
    when the batch is too large for it, :func:`eqprop_hw.lc.continuous.size_problem`). ``bar``
    (a tqdm bar of :func:`check_steps` steps, optional) is advanced as the rows are computed.
    """
    tick = bar.update if bar is not None else (lambda count=1: None)
    from eqprop_hw.lc.bptt import bptt_gradient, loss_value
    from eqprop_hw.lc.echo import echo_floor, hel_gradient
    from eqprop_hw.learning.reference import report_row
    u = np.transpose(inputs, (1, 0, 2))           # (steps+1, S, n_in): one batched run
    y = np.transpose(targets, (1, 0, 2))
    start = time.perf_counter()
    loss, exact, _ = bptt_gradient(model, inputs=u, targets=y)
    tick()
    rows = [report_row("exact", exact, exact, time.perf_counter() - start, loss=float(loss),
                 norm=float(np.linalg.norm(exact)), loss_kind="squared", method="bptt")]
    estimates = {}
    if "ngspice" in backends:
        from eqprop_hw.lc.ngspice import LCNgspice
        start = time.perf_counter()
        local: dict = {}
        with LCNgspice(model) as ng:
            ng.load_bank(inputs, targets)
            estimates["ngspice"] = 0.0
            for s in range(inputs.shape[0]):
                _, estimate, info = ng.hel_gradient(None, beta, nudge, sample=s, details=True)
                estimates["ngspice"] = estimates["ngspice"] + estimate
                for phase, value in info["local"].items():     # G is additive over sequences
                    local[phase] = local.get(phase, 0.0) + value
                tick()
        floor = echo_floor(local, beta, estimates["ngspice"])
        rows.append(report_row("echo ngspice", estimates["ngspice"], exact,
                         time.perf_counter() - start, beta=float(beta), nudge=nudge,
                         floor=floor["floor"], signal_to_floor=floor["signal_to_floor"]))
    if "native" in backends:
        start = time.perf_counter()
        _, estimates["native"], info = hel_gradient(model, inputs=u, targets=y, beta=beta,
                                                    nudge=nudge, details=True, floor=True)
        tick()
        rows.append(report_row("echo native", estimates["native"], exact,
                         time.perf_counter() - start, beta=float(beta), nudge=nudge,
                         floor=info["floor"]["floor"],
                         signal_to_floor=info["floor"]["signal_to_floor"]))
    if fd_count > 0:
        order = sorted(np.argsort(-np.abs(exact), kind="stable")[:fd_count].tolist())
        theta = model.theta0()
        start = time.perf_counter()
        fd = np.zeros(len(order))
        for j, k in enumerate(order):
            step = fd_step * theta[k]
            up, down = theta.copy(), theta.copy()
            up[k] += step
            down[k] -= step
            fd[j] = (loss_value(model, up, u, y) - loss_value(model, down, u, y)) / (2 * step)
            tick()
        rows.append(report_row("fd native", fd, exact[order], time.perf_counter() - start,
                         step=float(fd_step), subset=[model.trainable[k] for k in order]))
    if "ngspice" in estimates and "native" in estimates:
        rows.append(report_row("echo ngspice vs echo native", estimates["ngspice"],
                         estimates["native"], 0.0, against="echo native"))
    if "ngspice" in estimates:
        from eqprop_hw.lc.continuous import size_problem
        if size_problem(model, inputs.shape[0]) is None:    # else too large: no such row
            rows.append(continuous_row(model, u, y, exact, estimates["ngspice"]))
        tick()
    return rows


def continuous_row(model, u, y, exact, estimate) -> dict:
    """The row ``echo ngspice vs continuous`` of :func:`check_rows`: ``estimate`` against
    :func:`eqprop_hw.lc.continuous.continuous_gradient` of the batch ``u``, ``y``
    ((steps+1, S, n) on the grid, played piecewise-linearly; ``exact``: BPTT at tstep)."""
    from eqprop_hw.lc.continuous import continuous_gradient
    from eqprop_hw.learning.reference import report_row
    start = time.perf_counter()
    ref = continuous_gradient(model, inputs=u, targets=y, tstep_gradient=exact)
    return report_row("echo ngspice vs continuous", estimate, ref.gradient,
                      time.perf_counter() - start, against="continuous",
                      reference_error=ref.error)


def check_steps(sequences: int, backends, fd_count: int = 8, trainable: int | None = None) -> int:
    """How many steps :func:`check_rows` reports to its ``bar``: BPTT, one per sequence on
    ngspice and the continuous-time reference, the native echo, one per finite difference."""
    fd = fd_count if trainable is None else min(fd_count, trainable)
    return 1 + (sequences + 1 if "ngspice" in backends else 0) + ("native" in backends) + fd
