"""The reference against the circuit: finite differences and the ``eqprop-hw check`` report.

Everything here runs a real solver (the native backend or ngspice) and compares it with the
independent software model of :mod:`eqprop_hw.learning.reference`, which imports no backend
itself; this module is where the two meet.

Functions
---------
:func:`finite_difference_gradient`
    Central differences of the loss through a real solver (native or ngspice).
:func:`check_report`
    Every gradient estimator (EP on each backend, EP on the model, finite differences) against
    the exact gradient; :func:`eqprop_hw.learning.reference.format_report` prints it.

Units: V, A, S; gradients dL/dg in V^2/S (squared loss) or 1/S (cross-entropy).
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.backends.base import Backend
from eqprop_hw.circuit.batch import prepare_batch
from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.ep import ep_gradient
from eqprop_hw.learning.ep_floor import ep_quality
from eqprop_hw.learning.losses import backend_options, check_loss, loss_values
from eqprop_hw.learning.reference import EnergyModel, exact_gradient, report_row, software_ep


def _backend(backend, circuit, loss: str = "squared", temperature: float | None = None):
    """``(solver, owned)``: ``backend`` itself when it is an open backend, else a new one."""
    if isinstance(backend, Backend):
        return backend, False
    return make_backend(backend, circuit, **backend_options(loss, temperature)), True


def finite_difference_gradient(circuit, inputs, targets, backend="native", step: float = 1e-3,
                               elements: Sequence[str] | None = None, loss: str = "squared",
                               temperature: float | None = None) -> np.ndarray:
    """Central differences of the batch-mean loss through a real solver.

    ``dL/dg ~= (L(g (1 + step)) - L(g (1 - step))) / (2 step g)``, one element at a time,
    changed with ``backend.set_values`` and restored afterwards.

    Parameters
    ----------
    circuit : Circuit
    inputs, targets : array_like
        Batch of inputs and target voltages (V).
    backend : str or Backend
        ``"native"`` or ``"ngspice"`` (a backend is made and closed), or an open backend of this
        circuit (its values are restored on return).
    step : float
        Relative perturbation of each conductance.
    elements : sequence of str, optional
        Only these trainable elements (ngspice is slow: 2 * batch operating points per element).
    loss : {"squared", "cross_entropy"}
    temperature : float, optional
        Softmax temperature (V) of the cross-entropy loss.

    Returns
    -------
    ndarray, shape (len(elements),) or (n_trainable,)
        dL/dg (V^2/S; 1/S for cross-entropy).
    """
    if not step > 0:
        raise CircuitError(f"finite-difference step must be positive, got {step!r}")
    loss, temperature = check_loss(loss, temperature)
    names = list(circuit.trainable if elements is None else elements)
    solver, owned = _backend(backend, circuit, loss, temperature)
    try:
        inputs_b, _, targets_b = prepare_batch(inputs, 0.0, targets, solver.n_inputs,
                                               solver.n_outputs, solver.loss, solver.circuit)
        grad = np.empty(len(names))
        for k, name in enumerate(names):
            g = float(solver.circuit.element(name).value)
            losses = []
            for sign in (1.0, -1.0):
                solver.set_values({name: g * (1.0 + sign * step)})
                out = solver.solve(inputs_b).outputs
                losses.append(float(loss_values(loss, out, targets_b, temperature).mean()))
            solver.set_values({name: g})
            grad[k] = (losses[0] - losses[1]) / (2.0 * step * g)
        return grad
    finally:
        if owned:
            solver.close()


def check_report(circuit: Circuit, inputs, targets, beta: float,
                 backends: Sequence[str] = ("native", "ngspice"), nudge: str = "centered",
                 fd_elements: Sequence[str] | None = None, fd_count: int = 8,
                 fd_step: float = 1e-3, loss: str = "squared",
                 temperature: float | None = None, bar=None) -> list[dict]:
    """Compare every gradient estimator with the exact gradient on one batch.

    Parameters
    ----------
    circuit : Circuit
    inputs, targets : array_like
        Batch of inputs and target voltages (V).
    beta : float
        Nudging conductance (S) of the EP estimates.
    backends : sequence of {"native", "ngspice"}
        Which real solvers run EP (from their node voltages, via
        :func:`eqprop_hw.learning.ep.ep_gradient`) and finite differences.
    nudge : {"positive", "negative", "centered"}
    fd_elements : sequence of str, optional
        Elements for finite differences; default: the ``fd_count`` trainable elements with the
        largest exact |dL/dg| (finite differences cost 2 * batch solves per element).
    fd_count : int
        See ``fd_elements``; 0 skips finite differences.
    fd_step : float
        Relative step of the finite differences.
    loss : {"squared", "cross_entropy"}
        The loss (targets are probabilities and beta is in W for ``cross_entropy``).
    temperature : float, optional
        Softmax temperature (V) of the cross-entropy loss.
    bar : tqdm bar, optional
        Advanced by one per estimator computed (:func:`check_steps` of them).

    Returns
    -------
    list of dict
        One row per estimator, in this order: ``exact`` (with ``loss`` in V^2 and ``norm`` in
        V^2/S, nats and 1/S for cross-entropy, and ``loss_kind``), ``ep ngspice``,
        ``ep native``, ``ep software``, ``fd native``, ``fd ngspice`` (those that ran), then
        ``ep ngspice vs ep native`` (whose ``against`` is ``ep native``:
        its ``rel_error`` is the relative difference of the two measured EP gradients). Every
        row has ``name``, ``against``, ``cosine``, ``rel_error``, ``norm_ratio``, ``elements``
        (how many gradient entries were compared) and ``seconds``; EP rows add ``beta``,
        ``nudge`` and the trust measures of :func:`eqprop_hw.learning.ep_floor.ep_quality`
        (``numerical_floor``, ``signal_to_floor``, ``bias_estimate``, ``bias_relative``,
        ``warnings``, ...), finite-difference rows ``step`` and ``subset`` (the element
        names).

    Raises
    ------
    CircuitError
        If the circuit is not energy-based (no exact reference exists).
    BackendError, ConvergenceError
        If a requested backend is unavailable or does not converge.

    Long because: its docstring documents every row of the report (about 45 lines); the code,
    about 50 lines, runs the estimators in the report's row order.
    """
    for name in backends:
        if name not in ("native", "ngspice"):
            raise CircuitError(f"unknown backend {name!r} (choose from native, ngspice)")
    loss_name, temperature = check_loss(loss, temperature)
    tick = bar.update if bar is not None else (lambda count=1: None)
    model = EnergyModel(circuit, loss=loss_name, temperature=temperature)
    start = time.perf_counter()
    loss, exact = exact_gradient(model, inputs, targets)
    tick()
    rows = [report_row("exact", exact, exact, time.perf_counter() - start, loss=loss,
                 norm=float(np.linalg.norm(exact)), loss_kind=loss_name)]
    estimates = {}
    opened = {}
    try:
        for name in ("ngspice", "native"):
            if name not in backends:
                continue
            opened[name] = make_backend(name, circuit,
                                        **backend_options(loss_name, temperature))
            start = time.perf_counter()
            estimates[name], phases = ep_gradient(opened[name], inputs, targets, beta, nudge)
            seconds = time.perf_counter() - start
            quality = ep_quality(opened[name], model, inputs, targets, beta, nudge, phases,
                                 estimates[name])
            rows.append(report_row(f"ep {name}", estimates[name], exact, seconds,
                                   beta=float(beta), nudge=nudge, **quality))
            tick()
        start = time.perf_counter()
        soft = software_ep(model, inputs, targets, beta, nudge)
        rows.append(report_row("ep software", soft, exact, time.perf_counter() - start,
                               beta=float(beta), nudge=nudge))
        tick()
        if fd_elements is None and fd_count > 0:
            order = np.argsort(-np.abs(exact), kind="stable")[:fd_count]
            fd_elements = [circuit.trainable[k] for k in sorted(order)]
        if fd_elements:
            position = {name: k for k, name in enumerate(circuit.trainable)}
            subset = exact[[position[name] for name in fd_elements]]
            for name in ("native", "ngspice"):
                if name not in opened:
                    continue
                start = time.perf_counter()
                fd = finite_difference_gradient(circuit, inputs, targets, opened[name], fd_step,
                                                fd_elements, loss_name, temperature)
                rows.append(report_row(f"fd {name}", fd, subset, time.perf_counter() - start,
                                       step=float(fd_step), subset=list(fd_elements)))
                tick()
        if "ngspice" in estimates and "native" in estimates:
            rows.append(report_row("ep ngspice vs ep native", estimates["ngspice"],
                                   estimates["native"], 0.0, against="ep native"))
    finally:
        for solver in opened.values():
            solver.close()
    return rows


def check_steps(backends: Sequence[str], fd: bool = True) -> int:
    """How many estimators :func:`check_report` computes (the steps of its ``bar``): the
    exact gradient, EP per backend, software EP and (``fd``) finite differences per backend."""
    return 2 + len(backends) * (2 if fd else 1)


__all__ = ["finite_difference_gradient", "check_report", "check_steps"]
