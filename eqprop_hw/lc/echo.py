"""Hamiltonian Echo Learning (HEL) and the other GLEP boundary conditions.

HEL, as hardware runs it: a forward run 0..T from rest; time reversal (node fluxes and inductor
currents kept, every capacitor voltage reversed: ``p -> -p``); echo runs with the inputs played
backwards and a weak nudge current ``-beta d l/d phi_out`` towards the reversed targets. Each
trainable element integrates its own local quantity over the echo,
``G_beta = int dH/dtheta ds`` (``-1/2 dV^2`` for a capacitor, ``dU/dL`` = ``-1/2 I^2`` for a
linear inductor), and::

    dL/dtheta ~ (G_beta - G_0) / beta                   (one-sided, positive or negative beta)
    dL/dtheta ~ (G_+beta - G_-beta) / (2 beta)          (centered)

Only the forward run's end state is needed: no trajectory is stored.

Why (the symplectic identity behind GLEP): for any one-parameter families of trajectories of
``H_beta = H + beta l`` the action ``S = int (p dphi/dt - H_beta) dt`` gives::

    dL/dtheta = d G/d beta |_0  +  [ d_theta p . d_beta phi - d_beta p . d_theta phi ]_0^T

The boundary conditions decide which boundary terms survive (:func:`glep_gradient`):

- ``echo`` / ``final_value`` (HEL, GLEP's parametric final-value problem): the nudged trajectory
  ends where the free one ends, so both boundary terms vanish. ``echo`` runs it forward in time
  from the time-reversed end state (physical); ``final_value`` integrates the nudged system
  backwards in time (software only; the same numbers).
- ``initial_value`` (constant initial value problem): the nudged run starts where the free one
  starts (forward in time), but the boundary term at T needs ``d phi(T)/d theta`` and
  ``d p(T)/d theta``: the Jacobian of the end state, i.e. one extra run per parameter.
- ``two_point`` (positions fixed at both ends, phi(T) = the free run's): a boundary-value
  problem solved by shooting (Newton on the initial charges); the boundary term needs
  ``d phi(T)/d theta``.
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.lc.integrate import System, integrate
from eqprop_hw.lc.model import LCModel

NUDGES = ("positive", "negative", "centered")


def nudge_strengths(beta: float, nudge: str) -> list:
    """The two nudge strengths of a nudge kind: ``positive`` (0, beta), ``negative`` (0, -beta),
    ``centered`` (beta, -beta)."""
    if nudge == "positive":
        return [0.0, beta]
    if nudge == "negative":
        return [0.0, -beta]
    if nudge == "centered":
        return [beta, -beta]
    raise ValueError(f"nudge must be one of {', '.join(NUDGES)}, got {nudge!r}")


def estimate_from_local(local: dict, beta: float, nudge: str) -> np.ndarray:
    """The HEL estimate from measured ``G`` per phase.

    Parameters
    ----------
    local : dict of float to ndarray
        ``{beta_phase: G (n_theta,)}`` with the phases of ``nudge`` (0, +beta, -beta).
    """
    if nudge == "centered":
        return (local[beta] - local[-beta]) / (2 * beta)
    sign = 1.0 if nudge == "positive" else -1.0
    return (local[sign * beta] - local[0.0]) / (sign * beta)


def _expand(array, batch, reps):
    """(steps+1, batch, k) -> (steps+1, reps*batch, k), phase-major."""
    array = np.asarray(array, dtype=float)
    if array.ndim == 2:
        array = np.broadcast_to(array[:, None, :], (array.shape[0], batch, array.shape[1]))
    return np.concatenate([array] * reps, axis=1)


def hel_gradient(model: LCModel, theta=None, inputs=None, targets=None, beta: float = 1e-3,
                 nudge: str = "centered", method: str = "leapfrog", details: bool = False,
                 nudge_source: str = "state", floor: bool = False):
    """HEL gradient estimate on the native integrator.

    Long because: one batched forward run, the reversed nudged echoes and, with ``floor``,
    the un-nudged echo share their arrays; the docstring lists every option.

    Parameters
    ----------
    model : LCModel
    theta : array_like, optional
        Trainable values (F, H).
    inputs : array_like (steps+1, [batch,] n_in), optional
        Input currents (A); default the spec's waveforms.
    targets : array_like (steps+1, [batch,] n_out)
        Targets (Wb or A).
    beta : float
        Nudge strength (A per Wb for flux outputs; the nudge current is
        ``-beta (out - y) d out/d phi``).
    nudge : {"positive", "negative", "centered"}
    method : str
        Integrator (``backward_euler`` only as a negative control).
    details : bool
        Also return a dict with the forward run, the echo runs and ``G`` per phase.
    nudge_source : {"state", "recorded"}
        ``state`` (hardware): the nudge current is computed from the echo's own outputs,
        ``-beta (out_echo(s) - y(T - s))``, so it adds a stiffness ``beta`` and the echo is
        not polynomial in beta even in a linear network (centered error O(beta^2)).
        ``recorded`` (software check): a state-independent current
        ``-beta (out_fwd(T - s) - y(T - s))`` from the recorded forward outputs; in a linear
        network the echo is then affine in beta and the centered estimate equals BPTT of the
        same discrete system at any beta.
    floor : bool
        Also run the un-nudged echo (and the opposite nudge of a one-sided one) in the same
        batch; ``details`` then has ``floor`` (:func:`echo_floor`).

    Returns
    -------
    loss : float
        Forward-run loss, summed over the batch.
    estimate : ndarray (n_theta,)
        Summed over the batch.
    """
    system = System(model, theta)
    u = model.input_waveforms() if inputs is None else np.asarray(inputs, dtype=float)
    y = np.asarray(targets, dtype=float)
    recorded = nudge_source == "recorded"
    if nudge_source not in ("state", "recorded"):
        raise ValueError(f"nudge_source must be state or recorded, got {nudge_source!r}")
    forward = integrate(model, system.theta, inputs=u, loss_targets=y, store=recorded,
                        method=method, system=system, record_outputs=recorded)
    batch = forward.phi_end.shape[0]
    phases = nudge_strengths(beta, nudge)
    if floor:
        phases = phases + [p for p in (0.0, beta, -beta) if p not in phases]
    reps = len(phases)
    # reversed views of the waveforms (no copies: the echo's memory does not grow with T)
    u_rev = (u[:, None, :] if u.ndim == 2 else u)[::-1]
    y_rev = (y[:, None, :] if y.ndim == 2 else y)[::-1]
    if u_rev.shape[1] != batch:
        u_rev = np.broadcast_to(u_rev, (u_rev.shape[0], batch, u_rev.shape[2]))
    if y_rev.shape[1] != batch:
        y_rev = np.broadcast_to(y_rev, (y_rev.shape[0], batch, y_rev.shape[2]))
    beta_arr = np.repeat(np.asarray(phases, dtype=float), batch)
    extra = None
    if recorded:
        yb = _expand(y, batch, 1)
        unit = -model.output_grad(forward.phi, forward.outputs - yb, system.inds)
        extra = (np.concatenate([unit] * reps, axis=1) * beta_arr[None, :, None])[::-1]
    run = integrate(model, system.theta, inputs=u_rev, phi0=np.tile(forward.phi_end, (reps, 1)),
                    p0=np.tile(-forward.p_end, (reps, 1)),
                    beta=None if recorded else beta_arr, targets=None if recorded else y_rev,
                    store=False, method=method, system=system, extra_current=extra,
                    record_outputs=False)
    local = {phase: run.local[k * batch:(k + 1) * batch].sum(axis=0)
             for k, phase in enumerate(phases)}
    estimate = estimate_from_local(local, beta, nudge)
    loss = float(forward.loss.sum())
    if details:
        info = {"forward": forward, "echo": run, "local": local,
                "forward_local": forward.local.sum(axis=0)}
        if floor:
            info["floor"] = echo_floor(local, beta, estimate, info["forward_local"])
        return loss, estimate, info
    return loss, estimate


def reversibility_error(model: LCModel, theta=None, inputs=None, method: str = "leapfrog"):
    """How far the un-nudged echo is from retracing the forward run.

    Returns
    -------
    dict
        ``flux``: max over time of |phi_echo(s) - phi_fwd(T - s)| / max |phi_fwd| ;
        ``voltage``: the same for V_echo(s) + V_fwd(T - s) relative to max |V_fwd|;
        ``initial``: the echo's end state against the forward start, relative.
    """
    system = System(model, theta)
    u = model.input_waveforms() if inputs is None else np.asarray(inputs, dtype=float)
    forward = integrate(model, system.theta, inputs=u, store=True, method=method, system=system)
    back = integrate(model, system.theta, inputs=u[::-1], phi0=forward.phi_end,
                     p0=-forward.p_end, store=True, method=method, system=system)
    phi_scale = max(np.max(np.abs(forward.phi)), 1e-300)
    v_f, v_b = forward.voltages, back.voltages
    v_scale = max(np.max(np.abs(v_f)), 1e-300)
    return {"flux": float(np.max(np.abs(back.phi - forward.phi[::-1])) / phi_scale),
            "voltage": float(np.max(np.abs(v_b + v_f[::-1])) / v_scale),
            "initial": float(max(np.max(np.abs(back.phi_end - forward.phi[0])) / phi_scale,
                                 np.max(np.abs(back.p_end + forward.p[0]))
                                 / max(np.max(np.abs(forward.p)), 1e-300)))}


# -- GLEP variants (software only) -----------------------------------------------------------
def _end_jacobian(model, system, u, rel_step=1e-6):
    """d(phi(T), p(T))/dtheta of the free run, by central differences (n_theta, n) each."""
    theta = system.theta
    n_theta = theta.size
    batch = np.asarray(u).shape[1] if np.ndim(u) == 3 else 1
    if batch != 1:
        raise ValueError("GLEP variants other than the echo take one sequence at a time")
    dphi = np.zeros((n_theta, model.n))
    dp = np.zeros((n_theta, model.n))
    for k in range(n_theta):
        step = rel_step * theta[k]
        ends = []
        for sign in (1, -1):
            t = theta.copy()
            t[k] += sign * step
            run = integrate(model, t, inputs=u, store=False)
            ends.append((run.phi_end[0], run.p_end[0]))
        dphi[k] = (ends[0][0] - ends[1][0]) / (2 * step)
        dp[k] = (ends[0][1] - ends[1][1]) / (2 * step)
    return dphi, dp


def _local_backward(model, system, u, y, phi_end, p_end, betas):
    """Integrate H_beta backwards in time (leapfrog with step -h) from (phi_end, p_end)."""
    reps = len(betas)
    return integrate(model, system.theta, inputs=_expand(u, 1, reps)[::-1],
                     phi0=np.tile(phi_end, (reps, 1)), p0=np.tile(p_end, (reps, 1)),
                     beta=np.asarray(betas, dtype=float), targets=_expand(y, 1, reps)[::-1],
                     store=False, system=system, reverse_time=True)


def glep_gradient(model: LCModel, theta=None, inputs=None, targets=None, beta: float = 1e-3,
                  boundary: str = "echo", nudge: str = "centered") -> np.ndarray:
    """Gradient estimate of one GLEP boundary condition (see the module docstring).

    Parameters
    ----------
    boundary : {"echo", "final_value", "initial_value", "two_point"}

    Returns
    -------
    ndarray (n_theta,)
    """
    system = System(model, theta)
    u = model.input_waveforms() if inputs is None else np.asarray(inputs, dtype=float)
    y = np.asarray(targets, dtype=float)
    if boundary == "echo":
        return hel_gradient(model, system.theta, u, y, beta, nudge)[1]
    phases = nudge_strengths(beta, nudge)
    free = integrate(model, system.theta, inputs=u, store=False, system=system)
    if boundary == "final_value":
        run = _local_backward(model, system, u, y, free.phi_end[0], free.p_end[0], phases)
        local = {b: run.local[k] for k, b in enumerate(phases)}
        return estimate_from_local(local, beta, nudge)
    reps = len(phases)
    if boundary == "initial_value":
        run = integrate(model, system.theta, inputs=_expand(u, 1, reps),
                        beta=np.asarray(phases, dtype=float), targets=_expand(y, 1, reps),
                        store=False, system=system)
        ends = {b: (run.phi_end[k], run.p_end[k]) for k, b in enumerate(phases)}
    elif boundary == "two_point":
        ends = {}
        runs = {}
        for b in phases:
            runs[b] = _shoot(model, system, u, y, b, free.phi_end[0])
            ends[b] = (runs[b].phi_end[0], runs[b].p_end[0])
        run = None
    else:
        raise ValueError("boundary must be echo, final_value, initial_value or two_point, "
                         f"got {boundary!r}")
    if run is not None:
        local = {b: run.local[k] for k, b in enumerate(phases)}
    else:
        local = {b: runs[b].local[0] for b in phases}
    if nudge == "centered":
        d_phi = (ends[beta][0] - ends[-beta][0]) / (2 * beta)
        d_p = (ends[beta][1] - ends[-beta][1]) / (2 * beta)
    else:
        b = phases[1]
        d_phi = (ends[b][0] - free.phi_end[0]) / b
        d_p = (ends[b][1] - free.p_end[0]) / b
    jac_phi, jac_p = _end_jacobian(model, system, u)
    boundary_term = jac_p @ d_phi - jac_phi @ d_p
    return estimate_from_local(local, beta, nudge) + boundary_term


def _shoot(model, system, u, y, beta, phi_target, iterations: int = 6):
    """Nudged run from (0, p0) with phi(T) = phi_target: Newton on p0, Jacobian d phi(T)/d p0
    by a batched finite-difference run (one column per node)."""
    n = model.n
    p0 = np.zeros(n)
    scale = max(np.max(np.abs(phi_target)), 1e-300)
    run = None
    for _ in range(iterations):
        run = integrate(model, system.theta, inputs=u, p0=p0[None], beta=beta, targets=y,
                        store=False, system=system)
        miss = run.phi_end[0] - phi_target
        if np.max(np.abs(miss)) <= 1e-13 * scale:
            break
        step = 1e-6 * max(np.max(np.abs(p0)), 1e-3 * np.max(np.abs(system.cmat)) * 1.0)
        probes = p0[None] + step * np.eye(n)
        pr = integrate(model, system.theta, inputs=_expand(u, 1, n), p0=probes,
                       beta=np.full(n, beta), targets=_expand(y, 1, n), store=False,
                       system=system)
        jac = (pr.phi_end - run.phi_end[0]).T / step      # d phi(T) / d p0, (n, n)
        p0 = p0 - np.linalg.solve(jac, miss)
    return run


def default_beta(model: LCModel) -> float:
    """A weak nudge: 1e-3 of the stiffness of the output coordinates (A/Wb for fluxes).

    For a flux output the stiffness is the sum of 1/L of the node's inductors; for an inductor
    current ``I = x/L`` the nudge stiffness is ``beta / L^2``, so ``beta = 1e-3 L``.
    """
    _, inds = model.values()
    values = []
    for output in model.outputs:
        if output["kind"] == "flux":
            k = model.nodes.index(output["node"])
            touching = np.abs(model.ind_incidence[:, k]) > 0
            stiffness = float(np.sum(1.0 / inds[touching])) if touching.any() else 0.0
            if stiffness == 0.0:
                caps = model.capacitance_matrix(model.values()[0])
                stiffness = caps[k, k] * (2 * np.pi / model.tstop) ** 2
            values.append(1e-3 * stiffness)
        else:
            values.append(1e-3 * inds[model.ind_names.index(output["element"])])
    return float(min(values))


#: :func:`echo_beta`: residuals (RMS, relative to the output swing) below this get a stronger
#: nudge, in proportion, up to :data:`ECHO_BETA_MAX_FACTOR` times :func:`default_beta`.
ECHO_RESIDUAL_REFERENCE = 1e-2
#: :func:`echo_beta`'s largest nudge, in units of :func:`default_beta` (1e-3 of the output
#: stiffness): at 10x the centered estimate's O(beta^2) bias was measured at 1.7e-5 relative
#: (lc_nonlinear20, docs/results/lc_echo.md).
ECHO_BETA_MAX_FACTOR = 10.0
#: A nudge whose signal is below this multiple of its measured floor is reported (warning).
FLOOR_MARGIN = 10.0


def relative_residual(outputs, targets) -> float:
    """RMS of ``outputs - targets`` over the grid and the outputs, relative to the outputs'
    swing (largest peak-to-peak of an output; of the targets when the outputs are flat).

    Examples
    --------
    >>> t = np.linspace(0, 1, 101)[:, None]
    >>> round(relative_residual(np.sin(2 * np.pi * t), np.sin(2 * np.pi * t) + 0.02), 6)
    0.01
    """
    outputs, targets = np.asarray(outputs, dtype=float), np.asarray(targets, dtype=float)
    swing = float(np.max(np.ptp(outputs, axis=0)))
    if swing == 0.0:
        swing = float(np.max(np.ptp(targets, axis=0)))
    rms = float(np.sqrt(np.mean((outputs - targets) ** 2)))
    return rms / swing if swing > 0.0 else 0.0


def echo_beta(model: LCModel, outputs, targets) -> float:
    """The nudge strength of an echo measured in ngspice: :func:`default_beta` (1e-3 of the
    output stiffness), raised in proportion as the residual falls below
    :data:`ECHO_RESIDUAL_REFERENCE` of the output swing, at most
    :data:`ECHO_BETA_MAX_FACTOR` times.

    The nudge's signal in the local measurements is proportional to beta times the residual;
    ngspice's numerical floor does not shrink with the residual, and the centered estimate's
    bias grows as (beta / stiffness)^2: so a small residual gets a stronger nudge, within the
    range where the bias stays negligible (measured: docs/results/lc_echo.md).

    Parameters
    ----------
    outputs, targets : array_like (steps + 1, n_out)
        The forward run's outputs and the targets (Wb or A).

    Returns
    -------
    float
        beta (A/Wb for flux outputs).
    """
    residual = relative_residual(outputs, targets)
    factor = ECHO_BETA_MAX_FACTOR if residual <= 0.0 else \
        min(max(ECHO_RESIDUAL_REFERENCE / residual, 1.0), ECHO_BETA_MAX_FACTOR)
    return default_beta(model) * factor


def echo_floor(local: dict, beta: float, estimate, forward_local=None) -> dict:
    """The measured numerical floor of an echo estimate.

    The centered estimate keeps the part of the measured response ``G(beta)`` that is odd in
    beta; the even part ``(G_+b + G_-b - 2 G_0) / (2 b)`` holds no gradient: it is ngspice's
    numerical error that differs between the echoes (divided by beta) plus the O(beta)
    curvature of the response. Its norm (at least the rounding of ``G`` divided by beta) is
    the floor: measured against BPTT, the estimate's error stayed below it
    (docs/results/lc_echo.md).

    Parameters
    ----------
    local : dict
        ``G`` per phase, with phases 0, +beta and -beta.
    beta : float
    estimate : array_like (n_theta,)
    forward_local : array_like (n_theta,), optional
        ``G`` over the forward run: adds ``retrace_error``, the un-nudged echo's relative
        departure from it (time symmetry; includes the errors common to every echo, which
        cancel in the estimate).

    Returns
    -------
    dict
        ``floor`` (norm, same units as the estimate), ``signal_to_floor`` (|estimate| /
        floor), ``warning`` (signal below :data:`FLOOR_MARGIN` times the floor) and
        ``retrace_error``.

    Examples
    --------
    >>> g = {0.0: np.array([1.0, 2.0]), 0.5: np.array([1.5, 2.0]), -0.5: np.array([0.5, 2.0])}
    >>> f = echo_floor(g, 0.5, np.array([1.0, 0.0]))
    >>> f["floor"] < 1e-14, f["warning"]
    (True, False)
    """
    even = (local[beta] + local[-beta] - 2.0 * local[0.0]) / (2.0 * beta)
    # no difference of G below the rounding of G itself can be resolved
    rounding = 2.0 * np.finfo(float).eps * float(np.linalg.norm(local[0.0])) / abs(beta)
    floor = float(max(np.linalg.norm(even), rounding))
    signal = float(np.linalg.norm(estimate))
    ratio = signal / floor if floor > 0.0 else (float("inf") if signal > 0.0 else 0.0)
    out = {"floor": floor, "signal_to_floor": ratio, "warning": bool(ratio < FLOOR_MARGIN)}
    if forward_local is not None:
        forward_local = np.asarray(forward_local, dtype=float)
        scale = float(np.linalg.norm(forward_local))
        out["retrace_error"] = float(np.linalg.norm(local[0.0] - forward_local) / scale) \
            if scale > 0.0 else 0.0
    return out
