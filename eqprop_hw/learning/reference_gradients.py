"""What the reference model computes for the checks (part of
:mod:`eqprop_hw.learning.reference`): the exact gradient by implicit differentiation, software
EP on the model's own equilibria, and how an estimate agrees with the exact gradient (the rows
and table of ``eqprop-hw check``). Finite differences through a real solver are in
:mod:`eqprop_hw.learning.check`.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> c = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [2, 3, 1]}))
>>> loss, grad = exact_gradient(c, [[0.5, -0.5]], [[0.2]])
>>> ep = software_ep(c, [[0.5, -0.5]], [[0.2]], beta=1e-7)
>>> gradient_agreement(ep, grad)["cosine"] > 0.999
True
"""

from __future__ import annotations

import math

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.losses import check_loss, check_probabilities, loss_gradient, loss_values
from eqprop_hw.learning.reference_model import EnergyModel


def _model(circuit, loss: str | None = None, temperature: float | None = None) -> EnergyModel:
    """An EnergyModel for ``circuit`` with the given loss (a model's own loss by default)."""
    if isinstance(circuit, EnergyModel):
        if loss is not None and check_loss(loss, temperature) != (circuit.loss,
                                                                   circuit.temperature):
            raise CircuitError(f"the energy model was made with loss {circuit.loss!r} "
                               f"(temperature {circuit.temperature!r}), not {loss!r} "
                               f"(temperature {temperature!r})")
        return circuit
    return EnergyModel(circuit, loss=loss or "squared", temperature=temperature)


def _loss(outputs, targets, loss: str = "squared", temperature: float | None = None):
    return loss_values(loss, outputs, targets, temperature)


def exact_gradient(circuit, inputs, targets, per_sample: bool = False, loss: str | None = None,
                   temperature: float | None = None):
    """Exact dL/dg of the batch-mean loss by implicit differentiation at the free equilibrium.

    With F(z, g) = dE/dz = 0 at equilibrium, ``dL/dg = -(dL/dz)^T H^{-1} d2E/(dz dg)``, where
    ``H = d2E/dz2`` (reduced conductance Laplacian + diode small-signal conductances +
    transformer terms) and ``d2E/(dz dg_k) = (dV_k/dz) * dV_k`` for a conductance ``g_k`` with
    voltage drop ``dV_k``. One adjoint solve ``H lambda = dL/dz`` per sample, then
    ``dL/dg_k = -(dV_k/dz . lambda) dV_k``.

    Parameters
    ----------
    circuit : Circuit or EnergyModel
    inputs : array_like, shape (batch, n_inputs)
    targets : array_like, shape (batch, n_outputs)
        Target voltages (V), or probabilities for the cross-entropy loss.
    per_sample : bool
        Also return the per-sample losses and gradients.
    loss : {"squared", "cross_entropy"}, optional
        Default: the model's loss (``squared`` when a Circuit is given).
    temperature : float, optional
        Softmax temperature (V) of the cross-entropy loss.

    Returns
    -------
    loss : float
        Batch mean of ``1/2 sum_k (V_out_k - y_k)^2`` (V^2), or of ``-sum_k y_k log p_k``
        (nats) for cross-entropy.
    grad : ndarray, shape (n_trainable,)
        Batch mean dL/dg (V^2/S; 1/S for cross-entropy) in ``circuit.trainable`` order (0 for
        trainable capacitors, which are open at DC).
    (losses, grads) : ndarrays, shapes (batch,), (batch, n_trainable)
        Only with ``per_sample=True``.
    """
    model = _model(circuit, loss, temperature)
    s, y, _ = model.context(inputs, 0.0, targets)
    if model.loss == "cross_entropy":
        check_probabilities(y)
    state = model.solve(inputs)
    z, v = state.free, state.voltages
    losses = _loss(v[:, model.output_columns], y, model.loss, model.temperature)
    grads = np.zeros((z.shape[0], len(model.circuit.trainable)))
    mask = model.trainable_resistors >= 0
    columns = model.trainable_resistors[mask]
    chunk = model.chunk_rows
    for start in range(0, z.shape[0] if model.n_free else 0, chunk):
        rows = slice(start, start + chunk)
        _, hess = model.gradient_hessian(z[rows], s[rows], y[rows], 0.0)
        dl_dz = loss_gradient(model.loss, v[rows][:, model.output_columns], y[rows],
                              model.temperature) @ model.output_map
        adjoint = np.linalg.solve(hess, dl_dz[..., None])[..., 0]       # H lambda = dL/dz
        drops = (model.resistor_incidence[columns] @ v[rows].T).T                       # V
        sensitivity = (model.resistor_map[columns] @ adjoint.T).T                 # dV_k/dz . lambda
        grads[rows, np.flatnonzero(mask)] = -sensitivity * drops
    loss, grad = float(losses.mean()), grads.mean(axis=0)
    if per_sample:
        return loss, grad, (losses, grads)
    return loss, grad


def software_ep(circuit, inputs, targets, beta: float, nudge: str = "centered",
                loss: str | None = None, temperature: float | None = None) -> np.ndarray:
    """EP estimate of dL/dg (V^2/S) on the reference model's own equilibria.

    The free phase and the ``+beta`` / ``-beta`` phases are minima of E_beta found by
    :meth:`EnergyModel.solve`; the voltage drop across each trainable element in each phase goes
    through :func:`eqprop_hw.learning.ep.local_rule` (same formulas as the hardware rule).

    Parameters
    ----------
    circuit : Circuit or EnergyModel
    inputs, targets : array_like
        Batch of inputs and target voltages (V) (probabilities for cross-entropy).
    beta : float
        Nudging strength magnitude, > 0 (S; W for cross-entropy).
    nudge : {"positive", "negative", "centered"}
    loss, temperature : optional
        As for :func:`exact_gradient`.

    Returns
    -------
    ndarray, shape (n_trainable,)
        Batch mean, in ``circuit.trainable`` order.
    """
    from eqprop_hw.learning.ep import local_rule, make_probe, measure_drops, phases_for
    model = _model(circuit, loss, temperature)
    probe = make_probe(model.circuit, model.node_names)
    signs = {"free": 0.0, "positive": 1.0, "negative": -1.0}
    drops, free = {}, None
    for phase in phases_for(nudge):
        state = model.solve(inputs, signs[phase] * beta, targets,
                            initial=None if free is None else free.free)
        if free is None:
            free = state
        drops[phase] = measure_drops(state.voltages, probe)
    return local_rule(drops, beta, nudge).mean(axis=0)


def gradient_agreement(estimate, exact) -> dict:
    """How well a gradient estimate matches the exact gradient.

    Returns
    -------
    dict
        ``cosine`` (1 is perfect), ``rel_error`` = ||e - x|| / ||x||, ``norm_ratio`` =
        ||e|| / ||x||; NaN where a norm is zero.
    """
    e = np.asarray(estimate, dtype=float).ravel()
    x = np.asarray(exact, dtype=float).ravel()
    if e.shape != x.shape:
        raise CircuitError(f"gradient shapes differ: {e.shape} vs {x.shape}")
    ne, nx = float(np.linalg.norm(e)), float(np.linalg.norm(x))
    cosine = float(e @ x) / (ne * nx) if ne > 0 and nx > 0 else math.nan
    return {"cosine": cosine,
            "rel_error": float(np.linalg.norm(e - x)) / nx if nx > 0 else math.nan,
            "norm_ratio": ne / nx if nx > 0 else math.nan}


# -- the check report rows ------------------------------------------------------------------------
def report_row(name, estimate, exact, seconds, against="exact", **extra) -> dict:
    """One row of a gradient check report (:func:`eqprop_hw.learning.check.check_report`).

    Parameters
    ----------
    name, against : str
        The estimator and what it is compared with.
    estimate, exact : array_like
        The two gradients (same shape and units).
    seconds : float
        Wall time of the estimate (s).
    **extra
        Further keys of the row (``beta``, ``nudge``, ``step``, ...).

    Returns
    -------
    dict
        ``name``, ``against``, the keys of :func:`gradient_agreement`, ``elements`` (entries
        compared), ``seconds``, then ``extra``.
    """
    row = {"name": name, "against": against, **gradient_agreement(estimate, exact),
           "elements": int(np.size(estimate)), "seconds": float(seconds)}
    row.update(extra)
    return row


def format_report(rows: list[dict]) -> str:
    """The rows of :func:`check_report` as a plain-text table."""
    lines = [f"{'estimator':<26} {'vs':<10} {'cosine':>12} {'rel_error':>11} "
             f"{'norm_ratio':>11} {'n':>6} {'seconds':>8}"]
    for row in rows:
        lines.append(f"{row['name']:<26} {row['against']:<10} {row['cosine']:>12.8f} "
                     f"{row['rel_error']:>11.3e} {row['norm_ratio']:>11.6f} "
                     f"{row['elements']:>6d} {row['seconds']:>8.3f}")
    exact = next((row for row in rows if row["name"] == "exact"), None)
    if exact is not None:
        if exact.get("loss_kind") == "cross_entropy":
            lines.append(f"cross-entropy loss {exact['loss']:.6g} nats, "
                         f"|dL/dg| {exact['norm']:.6g} 1/S")
        else:
            lines.append(f"loss {exact['loss']:.6g} V^2, |dL/dg| {exact['norm']:.6g} V^2/S")
    return "\n".join(lines)


__all__ = ["exact_gradient", "software_ep", "gradient_agreement", "report_row", "format_report"]
