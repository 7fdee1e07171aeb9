"""Native integrator of the LC Hamiltonian system: Stormer-Verlet (leapfrog), batched.

One step of length h (s) from (phi_n, p_n) at t_n::

    p_h      = p_n + h/2 F(phi_n, t_n)             (kick)
    phi_n+1  = phi_n + h C^-1 p_h                  (drift: phi advances by h V_half)
    p_n+1    = p_h + h/2 F(phi_n+1, t_n+1)         (kick)

with ``F(phi, t) = -D_l^T I_L(D_l phi) + B u(t) - beta * d loss/d phi`` (A). The map is
symplectic and time-reversible: from (phi_N, -p_N) with the inputs played backwards it retraces
the run to round-off. Resistors (lossy studies) add the exact damping flow
``p' = -G C^-1 p`` for h/2 before and after each step (Strang splitting); the result is no
longer reversible.

``method="backward_euler"`` is a dissipative integrator kept as a negative control (the echo
must then fail to retrace).

Local measurements are accumulated on the fly, consistently with the discrete map (so that the
echo estimate matches BPTT of the same discrete system): the capacitor quantity
``-1/2 (D_c V_half)^2`` (minus ``(D_c V_half)^4 / (12 v_nl^2)`` for a varactor) per drift
(weight h), the inductor quantity ``-U_L(x)/L`` of each trainable inductor's own branch flux
(linear or nonlinear) per kick (weight h/2, i.e. the trapezoidal rule on the step's end
points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from eqprop_hw.lc.model import LCModel


@dataclass
class Run:
    """A batched run.

    Attributes
    ----------
    times : ndarray (steps+1,) or None
        Grid times of the run's own clock (s); None for a run that records nothing per step.
    phi, p : ndarray (steps+1, batch, n) or None
        Node fluxes (Wb) and node charges (C) at every grid time (``store=True`` only).
    v_half : ndarray (steps, batch, n) or None
        Node voltages during each drift (V).
    phi_end, p_end : ndarray (batch, n)
        Final state.
    outputs : ndarray (steps+1, batch, n_out) or None
        Outputs (Wb or A) at every grid time (always recorded: what a scope records).
    local : ndarray (batch, n_theta)
        ``G = int dH/dtheta dt`` of every trainable element (J s per F or H).
    loss : ndarray (batch,)
        Trapezoidal ``int 1/2 |out - y|^2 dt`` when targets were given (else zeros).
    """

    times: np.ndarray
    phi: np.ndarray | None
    p: np.ndarray | None
    v_half: np.ndarray | None
    phi_end: np.ndarray
    p_end: np.ndarray
    outputs: np.ndarray | None
    local: np.ndarray
    loss: np.ndarray

    @property
    def voltages(self) -> np.ndarray | None:
        """Node voltages at the grid times (V), from the stored charges."""
        return None if self.p is None else self._voltages

    _voltages: np.ndarray | None = None


class System:
    """The arrays one integration needs, for given trainable values ``theta``."""

    def __init__(self, model: LCModel, theta=None):
        self.model = model
        self.theta = model.theta0() if theta is None else np.asarray(theta, dtype=float)
        self.caps, self.inds = model.values(self.theta)
        self.cmat = model.capacitance_matrix(self.caps)
        self.cinv = np.linalg.inv(self.cmat)
        self.cinv = 0.5 * (self.cinv + self.cinv.T)
        self.dc = model.cap_incidence
        self.dl = model.ind_incidence
        self.b = model.src_matrix
        tc, ic, tl, il = model.trainable_index()
        self.tc, self.ic, self.tl, self.il = tc, ic, tl, il
        self.n_theta = len(model.trainable)
        self.trainable_varactors = bool(np.isfinite(model.cap_v_nl[ic]).any()) if len(ic) \
            else False
        nl = np.flatnonzero(np.isfinite(model.cap_v_nl))
        self.varactors = None
        if len(nl):
            rows = model.cap_incidence[nl]
            self.varactors = (np.argmax(np.abs(rows), axis=1), self.caps[nl],
                              model.cap_v_nl[nl])
        self.damping = None
        if len(model.res_names):
            gmat = model.conductance_matrix()
            self.damping = gmat

    def velocity(self, p: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
        """Node voltages V (V) with charges p (C): ``C V + q_nl(V) = p`` (Newton)."""
        v = p @ self.cinv if guess is None else guess.copy()
        if self.varactors is None:
            return p @ self.cinv
        nodes, c, vnl = self.varactors
        for _ in range(50):
            vv = v[:, nodes]
            residual = v @ self.cmat - p
            residual[:, nodes] += c * vv ** 3 / (3 * vnl ** 2)
            jac = self.jacobian(v)
            delta = np.linalg.solve(jac, residual[..., None])[..., 0]
            v = v - delta
            if np.max(np.abs(delta)) <= 1e-15 * max(np.max(np.abs(v)), 1e-300):
                break
        return v

    def jacobian(self, v: np.ndarray) -> np.ndarray:
        """dp/dV = C + diag(c (V/v_nl)^2) at the varactors (batch, n, n) (F)."""
        jac = np.broadcast_to(self.cmat, (v.shape[0],) + self.cmat.shape).copy()
        if self.varactors is not None:
            nodes, c, vnl = self.varactors
            jac[:, nodes, nodes] += c * (v[:, nodes] / vnl) ** 2
        return jac

    def damping_step(self, h: float) -> np.ndarray | None:
        if self.damping is None:
            return None
        return scipy.linalg.expm(-h * self.damping @ self.cinv)

    def force(self, phi, u_n, beta=None, y_n=None):
        """Node currents F (A) at fluxes ``phi`` (batch, n)."""
        model = self.model
        f = -(model.inductor_current(phi @ self.dl.T, self.inds) @ self.dl)
        if u_n is not None and self.b.shape[1]:
            f = f + u_n @ self.b.T
        if beta is not None and y_n is not None:
            err = model.output_values(phi, self.inds) - y_n
            f = f - beta[:, None] * model.output_grad(phi, err, self.inds)
        return f

    def force_jacobian(self, phi) -> np.ndarray:
        """dF/dphi without the nudge (batch, n, n) (A/Wb)."""
        slope = self.model.inductor_slope(phi @ self.dl.T, self.inds)
        return -np.einsum("ki,bk,kj->bij", self.dl, slope, self.dl)

    def inductor_local(self, phi) -> np.ndarray:
        """dU/dL of the trainable inductors (batch, n_tl) (J/H): ``-U_L(x)/L`` with
        ``U_L = x^2/(2L) + x^4/(4 L phi_nl^2)`` of each one's own branch flux x."""
        x = phi @ self.dl[self.il].T
        inds = self.inds[self.il]
        return -self.model.inductor_energy(x, inds, self.model.ind_phi_nl[self.il]) / inds

    def cap_local(self, v) -> np.ndarray:
        """dH/dc of the trainable capacitors (batch, n_tc) (V^2): minus the co-energy per
        farad of each one's own branch voltage dv, ``-(dv^2/2 + dv^4/(12 v_nl^2))`` (the
        quartic term only for varactors)."""
        dv = v @ self.dc[self.ic].T
        return self.model.capacitor_local(
            dv, self.model.cap_v_nl[self.ic] if self.trainable_varactors else None)


class _Tiled:
    """A waveform array (steps+1, b0, k) read as (steps+1, reps*b0, k) without copying: row
    ``n`` is tiled on access (the echo's phases share one reversed input/target view)."""

    def __init__(self, array, reps):
        self.array, self.reps = array, reps
        self.shape = (array.shape[0], array.shape[1] * reps, array.shape[2])

    def __getitem__(self, n):
        return np.tile(self.array[n], (self.reps, 1))


def _as_batch(array, steps, width, batch=None):
    array = np.asarray(array, dtype=float)
    if array.ndim == 2:
        array = array[:, None, :]
    if array.shape[0] != steps + 1 or array.shape[2] != width:
        raise ValueError(f"waveform array has shape {array.shape}, expected "
                         f"({steps + 1}, batch, {width})")
    if batch is not None and array.shape[1] == 1 and batch > 1:
        array = np.broadcast_to(array, (steps + 1, batch, width))
    elif batch is not None and array.shape[1] != batch:
        if batch % array.shape[1]:
            raise ValueError(f"waveform batch {array.shape[1]} does not divide {batch}")
        array = _Tiled(array, batch // array.shape[1])
    return array


def integrate(model: LCModel, theta=None, inputs=None, phi0=None, p0=None, beta=None,
              targets=None, store: bool = True, method: str = "leapfrog",
              system: System | None = None, loss_targets=None,
              reverse_time: bool = False, extra_current=None,
              record_outputs: bool = True) -> Run:
    """Integrate the network over the model's time grid.

    Parameters
    ----------
    model : LCModel
    theta : array_like, optional
        Trainable values (F, H); default the model's.
    inputs : array_like (steps+1, [batch,] n_in), optional
        Input currents (A) at the grid times; default the spec's waveforms.
    phi0, p0 : array_like (batch, n), optional
        Initial fluxes (Wb) and charges (C); default zero (at rest).
    beta : float or array_like (batch,), optional
        Nudge strength (A per unit of d loss/d phi, i.e. 1/(H) for flux outputs): the force
        ``-beta d l/d phi`` with ``l = 1/2 |out - y|^2``.
    targets : array_like (steps+1, [batch,] n_out), optional
        Targets the nudge pulls towards.
    loss_targets : array_like, optional
        Targets of the reported loss (default: ``targets``).
    store : bool
        Keep the whole trajectory (BPTT needs it; the echo does not).
    method : {"leapfrog", "backward_euler"}
    reverse_time : bool
        Integrate backwards in time (step -h; ``inputs``/``targets`` are then given in the
        order they are met, i.e. reversed). Integrals (``local``, ``loss``) still use +h.

    record_outputs : bool
        Keep the outputs at every grid time (``False``: memory independent of the length).
    extra_current : array_like (steps+1, batch, n), optional
        Additional node currents (A) at the grid times, independent of the state (e.g. a
        nudge computed from a recorded forward run).

    Returns
    -------
    Run

    Long because: a numerical kernel: the leapfrog loop with its per-step recording, losses and
    local terms in one pass over the grid, with the arrays it reuses held in locals (helpers
    called per step would add Python overhead to every step); its docstring is about 35 lines.
    """
    system = system or System(model, theta)
    steps, n = model.steps, model.n
    hw = model.tstep                       # quadrature weight (s), always positive
    h = -hw if reverse_time else hw        # signed time step
    batch = 1
    for array in (phi0, p0, beta):
        if array is not None and np.ndim(array) >= 1:
            batch = max(batch, np.shape(array)[0])
    for array in (inputs, targets):
        if array is not None and np.ndim(array) == 3:
            batch = max(batch, np.shape(array)[1])
    u = _as_batch(model.input_waveforms() if inputs is None else inputs, steps,
                  len(model.src_names), batch)
    y = None if targets is None else _as_batch(targets, steps, len(model.outputs), batch)
    ly = y if loss_targets is None else _as_batch(loss_targets, steps, len(model.outputs), batch)
    beta_arr = None if beta is None else np.broadcast_to(np.asarray(beta, dtype=float),
                                                         (batch,)).copy()
    phi = np.zeros((batch, n)) if phi0 is None else np.array(np.broadcast_to(phi0, (batch, n)))
    p = np.zeros((batch, n)) if p0 is None else np.array(np.broadcast_to(p0, (batch, n)))
    cinv = system.cinv
    local = np.zeros((batch, system.n_theta))
    loss = np.zeros(batch)
    phis = ps = vh = None
    if store:
        phis = np.empty((steps + 1, batch, n))
        ps = np.empty((steps + 1, batch, n))
        vh = np.empty((steps, batch, n))
        phis[0], ps[0] = phi, p
    outs = np.empty((steps + 1, batch, len(model.outputs))) if record_outputs else None
    out_now = model.output_values(phi, system.inds)
    if record_outputs:
        outs[0] = out_now
    if ly is not None:
        err = out_now - ly[0]
        loss += 0.5 * hw * 0.5 * np.sum(err * err, axis=1)
    damp = system.damping_step(h / 2)
    tl, tc = system.tl, system.tc
    use_l, use_c = len(tl) > 0, len(tc) > 0
    nudge = beta_arr is not None and y is not None and np.any(beta_arr != 0)
    if extra_current is not None:
        extra = np.asarray(extra_current, dtype=float)

        def force(phi_, u_, b_, y_, _index=[0]):
            return system.force(phi_, u_, b_, y_) + extra[_index[0]]
        force_index = force.__defaults__[0]
    else:
        force, force_index = system.force, [0]
    f = force(phi, u[0], beta_arr if nudge else None, y[0] if nudge else None)
    for step in range(steps):
        if method == "leapfrog":
            if damp is not None:
                p = p @ damp.T
            p_h = p + 0.5 * h * f
            v_half = p_h @ cinv if system.varactors is None else \
                system.velocity(p_h, v_half if step else None)
            if use_l:
                local[:, tl] += 0.5 * hw * system.inductor_local(phi)
            phi = phi + h * v_half
            force_index[0] = step + 1
            f = force(phi, u[step + 1], beta_arr if nudge else None, y[step + 1] if nudge else None)
            p = p_h + 0.5 * h * f
            if damp is not None:
                p = p @ damp.T
            if use_l:
                local[:, tl] += 0.5 * hw * system.inductor_local(phi)
        elif method == "backward_euler":
            p, phi_new = _backward_euler_step(system, phi, p, h, u[step + 1],
                                              beta_arr if nudge else None,
                                              y[step + 1] if nudge else None)
            v_half = (phi_new - phi) / h
            if use_l:
                local[:, tl] += 0.5 * hw * (system.inductor_local(phi)
                                           + system.inductor_local(phi_new))
            phi = phi_new
        else:
            raise ValueError(f"unknown method {method!r} (leapfrog, backward_euler)")
        if use_c:
            local[:, tc] += hw * system.cap_local(v_half)
        if record_outputs or ly is not None:
            out_now = model.output_values(phi, system.inds)
            if record_outputs:
                outs[step + 1] = out_now
        if ly is not None:
            err = out_now - ly[step + 1]
            weight = 0.5 if step + 1 == steps else 1.0
            loss += weight * hw * 0.5 * np.sum(err * err, axis=1)
        if store:
            phis[step + 1], ps[step + 1], vh[step] = phi, p, v_half
    voltages = None
    if store:
        voltages = ps @ cinv if system.varactors is None else \
            np.stack([system.velocity(p_n) for p_n in ps])
    return Run(model.times if (store or record_outputs) else None, phis, ps, vh, phi, p, outs,
               local, loss, _voltages=voltages)


def _backward_euler_step(system, phi, p, h, u_next, beta, y_next, iterations: int = 20):
    """p+ = p + h F(phi + h C^-1 p+), Newton in p+ (dissipative negative control; linear
    capacitors only)."""
    if system.varactors is not None:
        raise ValueError("backward_euler (a negative control) supports linear capacitors only")
    cinv = system.cinv
    p_new = p.copy()
    n = phi.shape[1]
    for _ in range(iterations):
        phi_new = phi + h * p_new @ cinv
        residual = p_new - p - h * system.force(phi_new, u_next, beta, y_next)
        jac = np.eye(n)[None] - h * h * system.force_jacobian(phi_new) @ cinv[None]
        delta = np.linalg.solve(jac, residual[..., None])[..., 0]
        p_new = p_new - delta
        if np.max(np.abs(delta)) <= 1e-15 * (1e-300 + np.max(np.abs(p_new))):
            break
    return p_new, phi + h * p_new @ cinv


def echo(model: LCModel, forward: Run, beta, targets=None, inputs=None, theta=None,
         method: str = "leapfrog", store: bool = False, system: System | None = None) -> Run:
    """The echo: time reversal of the forward run's end state, inputs played backwards, and a
    nudge ``-beta d l/d phi`` towards the reversed targets.

    Parameters
    ----------
    model : LCModel
    forward : Run
        The forward run (only its end state is used: nothing else is stored).
    beta : float or array_like (batch,)
        Nudge strengths (one echo per entry, all integrated at once).
    targets : array_like (steps+1, [batch,] n_out)
        Forward-time targets (reversed here).
    inputs : array_like, optional
        Forward-time input currents (default: the spec's), reversed here.

    Returns
    -------
    Run
        On the echo clock s = T - t; ``local`` is ``G_beta``.
    """
    beta = np.atleast_1d(np.asarray(beta, dtype=float))
    u = model.input_waveforms() if inputs is None else np.asarray(inputs, dtype=float)
    u_rev = u[::-1]
    y_rev = None if targets is None else np.asarray(targets, dtype=float)[::-1]
    phi0, p0 = forward.phi_end, -forward.p_end
    if phi0.shape[0] == 1 and beta.size > 1:
        phi0 = np.repeat(phi0, beta.size, axis=0)
        p0 = np.repeat(p0, beta.size, axis=0)
        if u_rev.ndim == 3:
            u_rev = np.repeat(u_rev, beta.size, axis=1)
        if y_rev is not None and y_rev.ndim == 3:
            y_rev = np.repeat(y_rev, beta.size, axis=1)
    elif beta.size == 1 and phi0.shape[0] > 1:
        beta = np.repeat(beta, phi0.shape[0])
    return integrate(model, theta, inputs=u_rev, phi0=phi0, p0=p0, beta=beta, targets=y_rev,
                     store=store, method=method, system=system)
