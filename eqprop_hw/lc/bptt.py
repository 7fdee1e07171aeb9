"""Exact gradients of the discrete loss: BPTT (the adjoint of the leapfrog map) and finite
differences.

The loss is the trapezoidal ``L = h sum_n w_n 1/2 |out(phi_n) - y_n|^2`` (w = 1/2 at both ends)
on the leapfrog trajectory, summed over the batch. :func:`bptt_gradient` runs the forward pass
storing the trajectory (memory grows with the sequence length) and then the adjoint of every
kick and drift backwards.
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.lc.integrate import System, integrate
from eqprop_hw.lc.model import LCModel


def loss_value(model: LCModel, theta, inputs, targets, method: str = "leapfrog") -> float:
    """Loss (Wb^2 s or A^2 s) of the forward run at ``theta``, summed over the batch."""
    run = integrate(model, theta, inputs=inputs, targets=targets, store=False, method=method)
    return float(run.loss.sum())


def bptt_gradient(model: LCModel, theta=None, inputs=None, targets=None):
    """dL/dtheta by the adjoint of the leapfrog map.

    Parameters
    ----------
    model : LCModel
    theta : array_like, optional
        Trainable values (F, H).
    inputs : array_like (steps+1, [batch,] n_in), optional
        Input currents (A); default the spec's waveforms.
    targets : array_like (steps+1, [batch,] n_out)

    Returns
    -------
    loss : float
        Summed over the batch.
    grad : ndarray (n_theta,)
        dL/dtheta (per F or per H).
    run : Run
        The stored forward run.

    Long because: a numerical kernel: the reverse sweep mirrors
    :func:`eqprop_hw.lc.integrate.integrate` step by step and is kept whole so the two can be
    read side by side (its docstring is about 20 lines).
    """
    system = System(model, theta)
    run = integrate(model, system.theta, inputs=inputs, targets=None, loss_targets=targets,
                    store=True, system=system)
    h, steps = model.tstep, model.steps
    y = np.asarray(targets, dtype=float)
    if y.ndim == 2:
        y = y[:, None, :]
    phis, vh = run.phi, run.v_half
    batch = phis.shape[1]
    cinv, dl, dc = system.cinv, system.dl, system.dc
    tc, ic, tl, il = system.tc, system.ic, system.tl, system.il
    inds = system.inds
    grad = np.zeros(system.n_theta)

    def loss_grad(n):
        w = 0.5 if n in (0, steps) else 1.0
        err = model.output_values(phis[n], inds) - y[n]
        return h * w * model.output_grad(phis[n], err, inds)

    def jac_t(phi, lam):
        """J(phi)^T lam, J = dF/dphi = -D^T diag(I'(x)) D (symmetric)."""
        slope = model.inductor_slope(phi @ dl.T, inds)
        return -((lam @ dl.T) * slope) @ dl

    def dforce_dl(phi, lam):
        """lam^T dF/dL_k for the trainable inductors (batch, n_tl): F = -D^T I(x),
        dI/dL = -I/L."""
        x = phi @ dl[il].T
        current = x / inds[il] * (1.0 + (x / model.ind_phi_nl[il]) ** 2)
        return (lam @ dl[il].T) * current / inds[il]

    lam_phi = loss_grad(steps)
    lam_p = np.zeros((batch, model.n))
    for n in range(steps - 1, -1, -1):
        # kick 2: p_{n+1} = p_h + h/2 F(phi_{n+1})
        mu_phi = lam_phi + 0.5 * h * jac_t(phis[n + 1], lam_p)
        if len(tl):
            grad[tl] += 0.5 * h * dforce_dl(phis[n + 1], lam_p).sum(axis=0)
        mu_ph = lam_p
        # drift: phi_{n+1} = phi_n + h V(p_h), C V + q_nl(V) = p; dV/dc_k = -J^-1 e dq_k/dc_k
        # with dq_k/dc_k = e^T V (+ (e^T V)^3 / (3 v_nl^2) for a varactor)
        # dV/dp = J^-1 (J = dp/dV, symmetric; C^-1 for linear capacitors)
        if system.varactors is None:
            jinv_mu = mu_phi @ cinv
        else:
            jinv_mu = np.linalg.solve(system.jacobian(vh[n]), mu_phi[..., None])[..., 0]
        mu_ph = mu_ph + h * jinv_mu
        if len(tc):
            a = jinv_mu @ dc[ic].T                  # e^T J^-1 lam
            v = vh[n] @ dc[ic].T                    # e^T V_half
            if system.trainable_varactors:          # dp/dc_k at fixed V: the varactor's
                v = v + v ** 3 / (3 * model.cap_v_nl[ic] ** 2)   # charge per farad
            grad[tc] += -h * (a * v).sum(axis=0)
        # kick 1: p_h = p_n + h/2 F(phi_n)
        lam_p = mu_ph
        lam_phi = mu_phi + 0.5 * h * jac_t(phis[n], mu_ph)
        if len(tl):
            grad[tl] += 0.5 * h * dforce_dl(phis[n], mu_ph).sum(axis=0)
        lam_phi = lam_phi + loss_grad(n)
    loss = float(np.sum(_trapezoid_loss(model, run.outputs, y)))
    return loss, grad, run


def _trapezoid_loss(model, outputs, y):
    err = outputs - y
    per = 0.5 * np.sum(err * err, axis=2)
    w = np.ones(per.shape[0])
    w[0] = w[-1] = 0.5
    return model.tstep * (w[:, None] * per).sum(axis=0)


def fd_gradient(model: LCModel, theta=None, inputs=None, targets=None, rel_step: float = 1e-5,
                method: str = "leapfrog") -> np.ndarray:
    """Central finite differences of the loss through the native integrator.

    Parameters
    ----------
    rel_step : float
        Step of each trainable value relative to its value.

    Returns
    -------
    ndarray (n_theta,)
    """
    theta = model.theta0() if theta is None else np.asarray(theta, dtype=float)
    grad = np.zeros(theta.size)
    for k in range(theta.size):
        step = rel_step * theta[k]
        up, down = theta.copy(), theta.copy()
        up[k] += step
        down[k] -= step
        grad[k] = (loss_value(model, up, inputs, targets, method)
                   - loss_value(model, down, inputs, targets, method)) / (2 * step)
    return grad


def agreement(estimate, reference) -> dict:
    """Cosine, relative error ``|e - r| / |r|`` and norm ratio ``|e| / |r|``."""
    e = np.asarray(estimate, dtype=float).ravel()
    r = np.asarray(reference, dtype=float).ravel()
    nr = np.linalg.norm(r)
    ne = np.linalg.norm(e)
    cosine = float(e @ r / (ne * nr)) if ne > 0 and nr > 0 else float("nan")
    return {"cosine": cosine, "rel_error": float(np.linalg.norm(e - r) / nr) if nr > 0
            else float("nan"), "norm_ratio": float(ne / nr) if nr > 0 else float("nan")}
