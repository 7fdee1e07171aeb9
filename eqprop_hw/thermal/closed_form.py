"""Exact finite-temperature values: closed-form Gibbs moments of linear networks and grid
quadrature of small nonlinear ones (1 or 2 free nodes), and the exact expectation of each
gradient estimator built from them (:func:`exact_thermal_gradient`).

Part of :mod:`eqprop_hw.thermal.gibbs` (which re-exports every public name here). Networks
with neither get a sampled *reference* instead (:mod:`eqprop_hw.thermal.reference`), never a
value called exact. Units: V, S, W; gradients in V^2/S.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.thermal.estimators import ESTIMATORS
from eqprop_hw.thermal.states import ModelSampler, check_temperature


@dataclass
class GaussianMoments:
    """Closed-form Gibbs statistics of a linear network at one nudging strength, per input.

    Attributes
    ----------
    beta : float
        Nudging strength (S).
    mean : ndarray, shape (batch, n_free)
        ``mu_b = A_b^{-1} b_b`` (V), the equilibrium.
    covariance : ndarray, shape (batch, n_free, n_free)
        ``T A_b^{-1}`` (V^2).
    dedg : ndarray, shape (batch, n_trainable)
        ``<dE/dg>_b = 1/2 (mean drop^2 + T a^T A_b^{-1} a)`` (V^2).
    loss : ndarray, shape (batch,)
        ``<L>_b`` (V^2).
    loss_gradient : ndarray, shape (batch, n_trainable)
        ``d<L>_b/dg`` (V^2/S), equal to ``-(1/T) Cov_b(L, dE/dg)``.
    free_energy : ndarray, shape (batch,)
        ``F_b = E_b(mu_b) + (T/2) log det A_b`` (W), up to a constant independent of b and g.
    """

    beta: float
    mean: np.ndarray
    covariance: np.ndarray
    dedg: np.ndarray
    loss: np.ndarray
    loss_gradient: np.ndarray
    free_energy: np.ndarray


def is_linear(model) -> bool:
    """True when E_b is quadratic in the free voltages (no diodes, squared loss)."""
    return not model.diode_names and model.loss == "squared"


def require_linear(model) -> None:
    """Refuse (CircuitError) a model that is not linear (see :func:`is_linear`)."""
    if not is_linear(model):
        what = f"diodes ({', '.join(model.diode_names[:3])}...)" if model.diode_names else \
            f"the {model.loss} loss"
        raise CircuitError(f"circuit {model.circuit.name!r}: the exact Gaussian sampler needs a "
                           f"linear network, but it has {what}; use the Langevin sampler")


def gaussian_moments(model, temperature: float, inputs, beta: float = 0.0,
                     targets=None) -> GaussianMoments:
    """Closed-form Gibbs moments of a linear network (see :class:`GaussianMoments`).

    ``E_b(z) = 1/2 z^T A_b z - b_b^T z + const``; ``p_b = N(A_b^{-1} b_b, T A_b^{-1})``. With
    ``a_k`` the row of drop ``k``'s dependence on ``z``, ``d_k`` its mean drop, ``O`` the outputs'
    rows and ``r = <V_out> - y``::

        d<L>_b/dg_k = -d_k r^T O A_b^{-1} a_k - (T/2) |O A_b^{-1} a_k|^2

    (differentiating ``<L>_b = 1/2 |r|^2 + (T/2) tr(O A_b^{-1} O^T)`` through ``mu_b`` and
    ``A_b``).

    Raises
    ------
    CircuitError
        For a network that is not linear.
    """
    require_linear(model)
    temperature = check_temperature(temperature)
    s, y, beta = model.context(inputs, beta, targets)
    batch, n = s.shape[0], model.n_free
    zeros = np.zeros((batch, n))
    grad0, hess = model.gradient_hessian(zeros, s, y, beta)
    mean = -np.linalg.solve(hess, grad0[..., None])[..., 0]
    inverse = np.linalg.inv(hess)
    v = model.voltages_at(mean, s)
    mask = model.trainable_resistors >= 0
    rows = model.trainable_resistors[mask]
    cols = np.flatnonzero(mask)
    a = model.resistor_map[rows].toarray()                                     # (k, n)
    drops = (model.resistor_incidence[rows] @ v.T).T                                  # (batch, k)
    ainv = np.einsum("bij,kj->bki", inverse, a)                          # A^-1 a_k (batch, k, n)
    var_drop = np.einsum("kn,bkn->bk", a, ainv) * temperature
    n_train = len(model.circuit.trainable)
    dedg = np.zeros((batch, n_train))
    dedg[:, cols] = 0.5 * (drops * drops + var_drop)
    o = model.output_map                                                       # (n_out, n)
    r = v[:, model.output_columns] - y
    oa = np.einsum("on,bkn->bko", o, ainv)                               # O A^-1 a_k
    grad = np.zeros((batch, n_train))
    grad[:, cols] = -drops * np.einsum("bo,bko->bk", r, oa) - 0.5 * temperature * \
        (oa * oa).sum(axis=2)
    out_var = np.einsum("on,bnm,om->bo", o, inverse, o) * temperature
    loss = 0.5 * (r * r + out_var).sum(axis=1)
    energy = model.energy_terms(mean, s, y, beta)[0]
    free_energy = energy + 0.5 * temperature * np.linalg.slogdet(hess)[1]
    return GaussianMoments(beta, mean, inverse * temperature, dedg, loss, grad, free_energy)


# -- exact values of nonlinear networks by quadrature ---------------------------------------------
@dataclass
class QuadratureMoments:
    """Gibbs expectations computed by integration over a grid of free voltages, per input.

    Attributes
    ----------
    beta : float
    dedg : ndarray, shape (batch, n_trainable)
        ``<dE/dg>_b`` (V^2).
    loss : ndarray, shape (batch,)
        ``<L>_b`` (V^2).
    loss_gradient : ndarray, shape (batch, n_trainable)
        ``-(1/T) Cov_b(L, dE/dg)`` (V^2/S).
    """

    beta: float
    dedg: np.ndarray
    loss: np.ndarray
    loss_gradient: np.ndarray


def has_exact_moments(model) -> bool:
    """Whether :func:`exact_thermal_gradient` can compute the Gibbs moments (closed form for
    linear networks, quadrature over 1 or 2 free nodes) rather than needing a long run."""
    return is_linear(model) or model.n_free in (1, 2)


def quadrature_moments(model, temperature: float, inputs, beta: float = 0.0, targets=None,
                       points: int | None = None, width: float = 14.0) -> QuadratureMoments:
    """Gibbs expectations of a small network (1 or 2 free nodes) by integration on a grid.

    The grid spans ``width`` local standard deviations (``sqrt(T / H_ii)`` at the equilibrium,
    widened to include the soft side of a diode) on each side of the equilibrium, with
    ``points`` nodes per dimension (default 4001 in 1-D, 401 in 2-D); the trapezoid rule on a
    Gibbs weight that is negligible at the edges converges spectrally.

    Raises
    ------
    CircuitError
        For more than 2 free nodes.
    """
    temperature = check_temperature(temperature)
    n = model.n_free
    if n not in (1, 2):
        raise CircuitError(f"quadrature needs 1 or 2 free nodes, circuit {model.circuit.name!r} "
                           f"has {n}; use a sampled reference instead "
                           "(eqprop_hw.thermal.reference.thermal_reference)")
    points = points or (4001 if n == 1 else 401)
    helper = ModelSampler(model, temperature)
    state = model.solve(inputs, beta, targets)
    s, y, beta = model.context(inputs, beta, targets)
    batch = s.shape[0]
    k = helper.n_trainable
    out_dedg, out_loss, out_grad = np.zeros((batch, k)), np.zeros(batch), np.zeros((batch, k))
    for row in range(batch):
        z0 = state.free[row]
        hess = model.gradient_hessian(z0[None], s[row:row + 1], y[row:row + 1], beta)[1][0]
        sd = np.sqrt(temperature / np.diagonal(hess))
        axes = [np.linspace(z0[i] - width * sd[i], z0[i] + width * sd[i], points)
                for i in range(n)]
        # Widen towards the soft side until the weight at the edge is negligible.
        for _ in range(20):
            mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, n)
            with np.errstate(over="ignore", invalid="ignore"):
                e = model.energy_terms(mesh, np.repeat(s[row:row + 1], len(mesh), axis=0),
                                 np.repeat(y[row:row + 1], len(mesh), axis=0), beta)[0]
            e = np.where(np.isfinite(e), e, np.inf)
            logw = -(e - e.min()) / temperature
            w = np.exp(logw).reshape([points] * n)
            grew = False
            for i in range(n):
                edge = np.moveaxis(w, i, 0)
                lo, hi = edge[0].max(), edge[-1].max()
                span = axes[i][-1] - axes[i][0]
                if lo > 1e-14:
                    axes[i] = np.linspace(axes[i][0] - 0.5 * span, axes[i][-1], points)
                    grew = True
                if hi > 1e-14:
                    axes[i] = np.linspace(axes[i][0], axes[i][-1] + 0.5 * span, points)
                    grew = True
            if not grew:
                break
        weights = w.ravel() / w.sum()
        dedg, loss = helper.measure(mesh, np.repeat(s[row:row + 1], len(mesh), axis=0),
                                    np.repeat(y[row:row + 1], len(mesh), axis=0))
        mean_d = weights @ dedg
        mean_l = weights @ loss
        out_dedg[row], out_loss[row] = mean_d, mean_l
        out_grad[row] = -(weights @ ((loss - mean_l)[:, None] * (dedg - mean_d))) / temperature
    return QuadratureMoments(beta, out_dedg, out_loss, out_grad)


# -- exact values ---------------------------------------------------------------------------------
def exact_thermal_gradient(model, temperature: float, inputs, targets, beta: float,
                           estimator: str = "chl") -> np.ndarray:
    """The exact expectation of an estimator (batch mean, V^2/S), in trainable order.

    ``chl`` and ``path``: ``(<dE/dg>_beta - <dE/dg>_0) / beta`` (the gradient of ``J_beta``);
    ``covariance``: ``d<L>_beta/dg``. Closed form for linear networks
    (:func:`gaussian_moments`), grid quadrature for 1-2 free nodes otherwise
    (:func:`quadrature_moments`).

    Raises
    ------
    CircuitError
        For a nonlinear network with more than 2 free nodes (no exact value is computed; the
        caller can compute a sampled reference instead:
        :func:`eqprop_hw.thermal.reference.thermal_reference`).
    """
    moments = gaussian_moments if is_linear(model) else quadrature_moments
    if estimator == "covariance":
        return moments(model, temperature, inputs, beta, targets).loss_gradient.mean(axis=0)
    if estimator not in ("chl", "path"):
        raise CircuitError(f"unknown estimator {estimator!r} (choose from "
                           f"{', '.join(ESTIMATORS)})")
    nudged = moments(model, temperature, inputs, beta, targets)
    free = moments(model, temperature, inputs, 0.0, targets)
    return (nudged.dedg - free.dedg).mean(axis=0) / beta
