"""Gibbs samplers of a circuit's free node voltages: exact Gaussian draws (linear networks),
Langevin dynamics (MALA or plain Euler-Maruyama) and Metropolis-Hastings around the Laplace
approximation, and the choice the commands make between them (:func:`native_sampler`).

Part of :mod:`eqprop_hw.thermal.gibbs` (which re-exports every public name here; its docstring
explains the physics). Units: V, A, S, F, s; T in W.
"""

from __future__ import annotations

import math

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.thermal.closed_form import gaussian_moments, is_linear, require_linear
from eqprop_hw.thermal.states import (ModelSampler, PhaseSamples, ReducedEnergy,
                                      sample_count)

#: Default node capacitance (F) when a spec gives none.
DEFAULT_CAPACITANCE = 1e-9


class GaussianSampler(ModelSampler):
    """Exact iid samples of a linear network's Gibbs law ``N(mu_b, T A_b^{-1})``.

    Parameters
    ----------
    model : EnergyModel
        A linear network (no diodes), squared loss.
    temperature : float
        T (W).
    blocks : int
        Independent blocks the samples are split into for standard errors.

    Notes
    -----
    The same ``seed`` gives the same standard normal draws ``xi`` at every ``b``: the phases
    are then coupled (``z_b = mu_b + L_b xi``), which leaves every phase's law exact and makes
    differences between phases much less noisy (common random numbers).
    """

    name = "gaussian"

    def __init__(self, model, temperature: float, blocks: int = 32):
        super().__init__(model, temperature)
        require_linear(model)
        self.blocks = int(blocks)

    def sample(self, inputs, beta: float, targets, samples: int, seed: int) -> PhaseSamples:
        """``samples`` draws per input at nudging strength ``beta`` (S) (:class:`PhaseSamples`)."""
        per_block = sample_count(samples, self.blocks)
        moments = gaussian_moments(self.model, self.temperature, inputs, beta, targets)
        s, y, _ = self.model.context(inputs, beta, targets)
        batch, n = moments.mean.shape
        rng = np.random.default_rng(seed)
        m = self.blocks * per_block
        xi = rng.standard_normal((batch, m, n))
        chol = np.linalg.cholesky(moments.covariance)
        z = moments.mean[:, None, :] + np.einsum("bij,bmj->bmi", chol, xi)
        dedg, loss = self.measure(z.reshape(batch * m, n), np.repeat(s, m, axis=0),
                                  np.repeat(y, m, axis=0))
        dedg = dedg.reshape(batch, self.blocks, per_block, -1)
        loss = loss.reshape(batch, self.blocks, per_block)
        return PhaseSamples(float(beta), dedg, loss, 1.0, float(m), {"sampler": self.name},
                            z.reshape(batch, self.blocks, per_block, n))


# -- Langevin dynamics ----------------------------------------------------------------------------
class LangevinSampler(ModelSampler):
    """Batched Langevin dynamics of the circuit's free node voltages (any energy-based circuit).

    Each of ``chains`` independent chains per input runs

        z' = z - dt C^{-1} dE_b/dz + sqrt(2 T dt / C) xi,     xi ~ N(0, 1)

    (Euler-Maruyama of ``C dz = -dE_b/dz dt + sqrt(2 T C) dW``). With ``metropolis=True``
    (default) each step is accepted with the Metropolis-Hastings probability of that Gaussian
    proposal (MALA), so the stationary law is exactly ``exp(-E_b/T)``; with ``False`` it is the
    plain physical discretisation (stationary bias O(dt / RC)).

    Parameters
    ----------
    model : EnergyModel
    temperature : float
        T (W).
    capacitance : float or dict, optional
        Node capacitance (F) to ground: one value for every free node, or ``{node: F}``
        (missing nodes take :data:`DEFAULT_CAPACITANCE`): the physical circuit's dynamics.
        None (default): each node's capacitance is proportional to its small-signal
        conductance at the equilibrium (``C_i = H_ii x 1 s``, a diagonal preconditioner), which
        leaves the stationary law unchanged and mixes faster.
    chains : int
        Independent chains per input (the blocks of the standard error).
    step : float
        ``dt`` as a fraction of the shortest node time constant ``C_i / H_ii`` at the
        equilibrium (``H`` the Hessian of ``E_b``, i.e. the node's total small-signal
        conductance); with preconditioning, ``dt = step`` s and every ``C_i / H_ii = 1`` s.
    burn_in : float
        Burn-in length in units of the measured autocorrelation time (at least 20 steps).
    thin : int, optional
        Keep every ``thin``-th step; default: the integrated autocorrelation time of a pilot
        run (rounded, at least 1). When given, no pilot runs and ``thin`` steps stand for the
        autocorrelation time in the burn-in (faster: for training).
    metropolis : bool
        MALA (exact) or plain Euler-Maruyama.
    """

    name = "langevin"

    def __init__(self, model, temperature: float, capacitance=None, chains: int = 64,
                 step: float = 0.5, burn_in: float = 10.0, thin: int | None = None,
                 metropolis: bool = True):
        super().__init__(model, temperature)
        self.chains = int(chains)
        if self.chains < 2:
            raise CircuitError("the Langevin sampler needs at least 2 chains per input")
        self.step, self.burn_in, self.thin = float(step), float(burn_in), thin
        self.metropolis = bool(metropolis)
        self.preconditioned = capacitance is None
        self.capacitance = None if capacitance is None else \
            node_capacitances(model.free_nodes, capacitance)

    def _time_step(self, z, s, y, beta):
        """Per-chain capacitances (F) and the time step (s) at equilibria ``z``."""
        _, hess = self.model.gradient_hessian(z, s, y, beta)
        diagonal = np.maximum(np.diagonal(hess, axis1=1, axis2=2), 1e-300)
        if self.preconditioned:
            return diagonal, self.step
        capacitance = np.broadcast_to(self.capacitance, diagonal.shape)
        return capacitance, float(self.step * np.min(capacitance / diagonal))

    def _steps(self, z, energy_model, rows, dt, count, rng, capacitance, record_every=0):
        """Run ``count`` steps from ``z`` (contexts ``rows`` of a :class:`ReducedEnergy`);
        returns the final state, the recorded states and the acceptance rate."""
        temp = self.temperature
        inv_c = 1.0 / capacitance
        noise = np.sqrt(2.0 * temp * dt * inv_c)
        energy, grad = energy_model.energy_gradient(z, rows)
        recorded, accepted = [], 0.0
        for step in range(count):
            xi = rng.standard_normal(z.shape)
            u = rng.random(z.shape[0])
            proposal = z - dt * grad * inv_c + noise * xi
            e_new, g_new = energy_model.energy_gradient(proposal, rows)
            if self.metropolis:
                forward = xi                                     # (z' - z + dt C^-1 g) / noise
                backward = (z - proposal + dt * g_new * inv_c) / noise
                with np.errstate(over="ignore", invalid="ignore"):
                    log_ratio = -(e_new - energy) / temp - 0.5 * (
                        (backward ** 2).sum(axis=1) - (forward ** 2).sum(axis=1))
                ok = np.isfinite(e_new) & (np.log(np.maximum(u, 1e-300)) < log_ratio)
            else:
                ok = np.ones(z.shape[0], dtype=bool)
            z = np.where(ok[:, None], proposal, z)
            energy = np.where(ok, e_new, energy)
            grad = np.where(ok[:, None], g_new, grad)
            accepted += ok.mean()
            if record_every and (step + 1) % record_every == 0:
                recorded.append(z)
        if not np.all(np.isfinite(z)):
            raise CircuitError("Langevin sampler diverged (non-finite voltages): use a smaller "
                               "step or metropolis=True")
        return z, recorded, accepted / max(count, 1)

    def sample(self, inputs, beta: float, targets, samples: int, seed: int) -> PhaseSamples:
        """``samples`` kept states per input at nudging strength ``beta`` (S), after burn-in and
        thinning; see :class:`PhaseSamples`. Deterministic for a given ``seed``."""
        per_chain = sample_count(samples, self.chains)
        model = self.model
        state = model.solve(inputs, beta, targets)
        s, y, beta = model.context(inputs, beta, targets)
        batch, chains = s.shape[0], self.chains
        rep = lambda a: np.repeat(a, chains, axis=0)   # noqa: E731
        z = rep(state.free)
        reduced, rows = ReducedEnergy(model, s, y, beta), rep(np.arange(batch))
        rng = np.random.default_rng(seed)
        capacitance, dt = self._time_step(state.free, s, y, beta)
        capacitance = rep(capacitance)
        # Pilot runs: measure the autocorrelation time (in steps) of the measured observables,
        # lengthening the pilot until Sokal's window fits well inside it.
        pilot, used = 200, 0
        for _ in range(0 if self.thin else 6):
            z, states, _ = self._steps(z, reduced, rows, dt, pilot, rng, capacitance, 1)
            used += pilot
            half = pilot // 2
            tau_steps = self._autocorrelation_steps(states[half:], s, y, rows)
            if 20 * tau_steps < pilot - half:
                break
            pilot *= 2
        if self.thin:               # no pilot: the given thinning stands for the correlation time
            tau_steps = float(self.thin)
        thin = int(self.thin) if self.thin else max(1, int(round(tau_steps)))
        burn = max(20, int(self.burn_in * tau_steps) - used)
        z, _, _ = self._steps(z, reduced, rows, dt, burn, rng, capacitance)
        z, states, acceptance = self._steps(z, reduced, rows, dt, per_chain * thin, rng,
                                            capacitance, record_every=thin)
        info = {"sampler": self.name, "dt": dt, "thin": thin, "burn_in_steps": burn + used,
                "acceptance": float(acceptance), "tau_steps": tau_steps,
                "preconditioned": self.preconditioned,
                "metropolis": self.metropolis}
        return self._collected(states, s, y, rows, (batch, chains, per_chain), beta, info)


class LaplaceSampler(ModelSampler):
    """Metropolis-Hastings around the equilibrium's Gaussian (Laplace) approximation.

    At each input's equilibrium ``mu`` (the deterministic free or nudged phase) the Hessian
    ``H`` of ``E_b`` (conductance Laplacian + nudge + diode small-signal conductances) defines
    the Gaussian ``N(mu, T H^-1)``, exact for a linear network and for a diode network as long
    as no diode changes its small-signal conductance much within the thermal spread. The
    proposal is the preconditioned Crank-Nicolson step

        z' = mu + rho (z - mu) + sqrt(1 - rho^2) T^1/2 H^-1/2 xi,     xi ~ N(0, 1),

    which leaves that Gaussian invariant, so the Metropolis-Hastings ratio only involves the
    non-Gaussian rest ``Phi(z) = E_b(z)/T - (z - mu)^T H (z - mu) / (2T)``: accept with
    probability ``min(1, exp(Phi(z) - Phi(z')))``. The stationary law is exactly
    ``exp(-E_b/T)`` for any ``rho`` in [0, 1). ``rho = 0`` is an independence sampler (iid
    exact draws, acceptance 1, on a linear network); ``rho`` is raised during the burn-in
    (0, 0.5, 0.8, 0.9, 0.95, 0.98) until the acceptance rate is at least ``min_acceptance``,
    then fixed. With the same seed the phases draw the same ``xi`` (common random numbers), so
    on a nearly linear network ``z_b = mu_b + L_b xi`` is coupled across phases like
    :class:`GaussianSampler`'s draws.

    Not a physical dynamics (unlike :class:`LangevinSampler`): a sampler of the same Gibbs law,
    much faster on weakly nonlinear networks (training).

    Parameters
    ----------
    model : EnergyModel
    temperature : float
        T (W).
    chains : int
        Independent chains per input (the blocks of the standard error).
    burn_in : int
        Steps dropped at the start of each chain (the chains start at ``mu``), after the
        ``rho`` search.
    thin : int, optional
        Keep every ``thin``-th step; default: the integrated autocorrelation time measured on
        the burn-in and a pilot (rounded, at least 1).
    min_acceptance : float
        Acceptance rate aimed at by the ``rho`` search.
    """

    name = "laplace"
    RHOS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98)

    def __init__(self, model, temperature: float, chains: int = 16, burn_in: int = 20,
                 thin: int | None = None, min_acceptance: float = 0.3):
        super().__init__(model, temperature)
        self.chains = int(chains)
        if self.chains < 2:
            raise CircuitError("the Laplace sampler needs at least 2 chains per input")
        self.burn_in, self.thin = int(burn_in), thin
        self.min_acceptance = float(min_acceptance)

    def _steps(self, z, phi, reduced, rows, mu, chol, rho, count, rng, record_every=0):
        temp = self.temperature
        spread = math.sqrt(1.0 - rho * rho)
        recorded, accepted = [], 0.0
        for step in range(count):
            xi = rng.standard_normal(z.shape)
            u = rng.random(z.shape[0])
            proposal = mu + rho * (z - mu) + spread * np.einsum("mij,mj->mi", chol, xi)
            phi_new = self._phi(proposal, reduced, rows, mu, temp)
            with np.errstate(over="ignore", invalid="ignore"):
                ok = np.isfinite(phi_new) & (np.log(np.maximum(u, 1e-300)) < phi - phi_new)
            z = np.where(ok[:, None], proposal, z)
            phi = np.where(ok, phi_new, phi)
            accepted += ok.mean()
            if record_every and (step + 1) % record_every == 0:
                recorded.append(z)
        return z, phi, recorded, accepted / max(count, 1)

    def _phi(self, z, reduced, rows, mu, temp):
        energy = reduced.energy_gradient(z, rows, gradient=False)[0]
        d = z - mu
        with np.errstate(over="ignore", invalid="ignore"):
            return (energy - 0.5 * np.einsum("mi,mij,mj->m", d, self._hess, d)) / temp

    def sample(self, inputs, beta: float, targets, samples: int, seed: int) -> PhaseSamples:
        """``samples`` kept states per input at nudging strength ``beta`` (S); see
        :class:`PhaseSamples`. Deterministic for a given ``seed``."""
        per_chain = sample_count(samples, self.chains)
        model, temp = self.model, self.temperature
        # a nudged phase starts Newton from the free phase of the same inputs and conductances
        # (the free phase itself always starts cold, so results never depend on call history)
        key = (np.asarray(inputs, dtype=float).tobytes(), model.resistor_conductances.tobytes())
        initial = self._warm[1] if beta != 0 and getattr(self, "_warm", None) and \
            self._warm[0] == key else None
        state = model.solve(inputs, beta, targets, initial=initial)
        if beta == 0:
            self._warm = (key, state.free)
        s, y, beta = model.context(inputs, beta, targets)
        batch, chains, n = s.shape[0], self.chains, model.n_free
        hess = model.gradient_hessian(state.free, s, y, beta)[1]
        chol_h = np.linalg.cholesky(hess)                        # H = L L^T
        eye = np.broadcast_to(np.eye(n), hess.shape)
        # T^1/2 L^-T: the square root of T H^-1
        root = math.sqrt(temp) * np.swapaxes(np.linalg.solve(chol_h, eye), 1, 2)
        rows = np.repeat(np.arange(batch), chains)
        reduced = ReducedEnergy(model, s, y, beta)
        mu, chol, self._hess = state.free[rows], root[rows], hess[rows]
        rng = np.random.default_rng(seed)
        z = mu.copy()
        phi = self._phi(z, reduced, rows, mu, temp)
        # rho search on short pilots (part of the burn-in)
        rho, used = self.RHOS[-1], 0
        for candidate in self.RHOS:
            z_try, phi_try, _, acc = self._steps(z, phi, reduced, rows, mu, chol, candidate,
                                                 10, rng)
            used += 10
            z, phi = z_try, phi_try
            if acc >= self.min_acceptance:
                rho = candidate
                break
        z, phi, _, _ = self._steps(z, phi, reduced, rows, mu, chol, rho, self.burn_in, rng)
        used += self.burn_in
        if self.thin:
            thin = int(self.thin)
            tau_steps = float(thin)
        else:
            pilot = 64
            z, phi, states, _ = self._steps(z, phi, reduced, rows, mu, chol, rho, pilot, rng, 1)
            used += pilot
            tau_steps = self._autocorrelation_steps(states, s, y, rows)
            thin = max(1, int(round(tau_steps)))
        z, phi, states, acceptance = self._steps(z, phi, reduced, rows, mu, chol, rho,
                                                 per_chain * thin, rng, record_every=thin)
        info = {"sampler": self.name, "rho": rho, "thin": thin, "burn_in_steps": used,
                "acceptance": float(acceptance), "tau_steps": tau_steps}
        return self._collected(states, s, y, rows, (batch, chains, per_chain), beta, info)


#: Sampler settings of a training minibatch (``native_sampler(..., training=True)``): fewer
#: chains and a shorter run than ``grad``'s defaults (the configuration of the digits study).
TRAINING_SAMPLERS = {"langevin": {"chains": 16, "thin": 4, "burn_in": 10.0},
                     "laplace": {"chains": 16, "burn_in": 10, "thin": 2}}


def native_sampler(model, temperature: float, capacitance=None, training: bool = False):
    """The Gibbs sampler of the software energy the commands use.

    Exact Gaussian draws for a linear network; otherwise Metropolis with Laplace proposals
    (the fastest exact sampler) unless node capacitances are given, whose physical dynamics
    Langevin sampling follows. ``training``: the minibatch settings of
    :data:`TRAINING_SAMPLERS` (else ``grad``'s: each sampler's defaults, 64 Laplace chains).
    """
    if is_linear(model):
        return GaussianSampler(model, temperature)
    if capacitance is None:
        options = TRAINING_SAMPLERS["laplace"] if training else {"chains": 64}
        return LaplaceSampler(model, temperature, **options)
    options = TRAINING_SAMPLERS["langevin"] if training else {}
    return LangevinSampler(model, temperature, capacitance=capacitance, **options)


def node_capacitances(nodes, capacitance=None) -> np.ndarray:
    """Capacitance (F) of each of ``nodes``: a number for all, a ``{node: F}`` mapping, or None.

    Raises
    ------
    CircuitError
        For a non-positive value or a node name that is not a free node.
    """
    if capacitance is None:
        values = np.full(len(nodes), DEFAULT_CAPACITANCE)
    elif isinstance(capacitance, dict):
        unknown = sorted(set(capacitance) - set(nodes))
        if unknown:
            raise CircuitError(f"node capacitance given for {unknown[0]!r}, which is not a free "
                               f"node (free nodes: {', '.join(nodes[:8])})")
        values = np.array([float(capacitance.get(node, DEFAULT_CAPACITANCE)) for node in nodes])
    else:
        values = np.full(len(nodes), float(capacitance))
    if not np.all(np.isfinite(values) & (values > 0)):
        raise CircuitError("node capacitances must be finite and > 0 (F)")
    return values
