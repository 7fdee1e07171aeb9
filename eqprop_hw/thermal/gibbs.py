"""Finite temperature: Gibbs-Boltzmann states of a circuit and finite-nudge gradient estimators.

Every free node ``i`` gets a capacitance ``C_i`` (F) to ground and a white noise current; the
free node voltages ``z`` then follow the Langevin equation

    C_i dz_i = -dE_b/dz_i dt + sqrt(2 T C_i) dW_i

whose stationary law is Gibbs, ``p_b(z) ∝ exp(-E_b(z) / T)``, for any positive ``C_i``. ``E_b``
is the co-content (W) of :class:`eqprop_hw.learning.reference.EnergyModel` nudged with strength ``b``
(``E_b = E + b L``, ``L = 1/2 sum_k (V_out_k - y_k)^2``), and the temperature ``T`` is in the
units of the energy (W). A single node with conductance ``g`` to ground then has
``Var(V) = T / g`` (V^2).

Identities (``docs/theory.md``, "Finite temperature")::

    dF_b/dg      = <dE/dg>_b                    F_b = -T log Z_b
    dF_b/db      = <L>_b
    d<L>_b/dg    = -(1/T) Cov_b(L, dE/dg)

so that, with ``J_beta = (F_beta - F_0) / beta = (1/beta) int_0^beta <L>_b db``:

``chl``
    ``(1/beta) (<dE/dg>_beta - <dE/dg>_0)``: the exact gradient of ``J_beta`` for any beta.
``covariance``
    ``-(1/T) Cov_b(L, dE/dg)`` at ``b = beta``: the exact gradient of ``<L>_beta`` (with
    ``beta = 0``, of the free phase's expected loss ``<L>_0``).
``path``
    ``(1/beta) int_0^beta -(1/T) Cov_b(L, dE/dg) db`` by Gauss-Legendre quadrature in ``b``:
    the gradient of ``J_beta`` again (thermodynamic integration), so it must agree with ``chl``.

Every estimate is a function of sampled node voltages only (``dE/dg = 1/2 dV^2`` across each
conductance's own terminals, and ``L`` at the outputs). Its standard error comes from a
jackknife over independent blocks (chains, or contiguous stretches of one long run much longer
than the autocorrelation time); the effective sample size is the sample count divided by the
integrated autocorrelation time (Sokal's automatic window).

Samplers
--------
:class:`GaussianSampler`
    Linear networks only (no diodes): the exact Gaussian ``N(mu_b, T A_b^{-1})``, iid.
:class:`LangevinSampler`
    Any network the reference model accepts (diodes included): batched Euler-Maruyama steps of
    the Langevin equation above, by default with a Metropolis-Hastings correction (MALA), which
    makes the stationary law exactly Gibbs for any step; ``metropolis=False`` is the plain
    Euler-Maruyama discretisation of the physical circuit (bias O(dt)).
:class:`LaplaceSampler`
    Any such network: Metropolis-Hastings with preconditioned Crank-Nicolson proposals around
    each phase's Gaussian (Laplace) approximation at the equilibrium; exact for any network,
    iid with acceptance 1 on a linear one, and the fastest on weakly nonlinear ones
    (training's default with diodes). Not a physical dynamics.
:class:`eqprop_hw.thermal.ngspice.NgspiceSampler`
    The circuit itself in ngspice: a noise current source (``TRRANDOM`` by default, or
    ``TRNOISE``) and a capacitor per free node, one ``.tran`` per phase.

The native samplers evaluate ``E_b`` through :class:`ReducedEnergy`: the fixed part of the
energy (input sources, nudge, Laplacian) is cached once per phase as dense arrays over the free
voltages, so one step of a batch of chains is a small matrix product plus the diodes.

Exact values and references
---------------------------
:func:`gaussian_moments` (closed form for linear networks) and :func:`quadrature_moments`
(numerical integration over a grid, nonlinear networks with at most 2 free nodes), both through
:func:`exact_thermal_gradient`: these, and only these, are exact. Any other network gets a
*reference* estimate with its standard error
(:func:`eqprop_hw.thermal.reference.thermal_reference`): one long run of one sampler, the same
whatever estimator it is compared with.

Layout
------
This module is the public face of the finite-temperature code and re-exports its names:
:mod:`~eqprop_hw.thermal.states` (measurements, reduced energy, statistics),
:mod:`~eqprop_hw.thermal.closed_form` (exact moments), :mod:`~eqprop_hw.thermal.samplers`
(the samplers), :mod:`~eqprop_hw.thermal.estimators` (the gradient estimators) and
:mod:`~eqprop_hw.thermal.reference` (references with standard errors for z-scores).

Units: V, A, S, F, s; energies and T in W; ``dE/dg`` in V^2; gradients in V^2/S.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> from eqprop_hw.learning.reference import EnergyModel
>>> c = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [2, 2, 1],
...                              "activation": {"type": "none"}}))
>>> model = EnergyModel(c)
>>> sampler = GaussianSampler(model, temperature=1e-7)
>>> est = thermal_gradient(sampler, [[0.5, -0.5]], [[0.2]], beta=1e-4, estimator="chl",
...                        samples=2000, seed=0)
>>> est.gradient.shape == est.stderr.shape == (len(c.trainable),)
True
"""

from __future__ import annotations

from eqprop_hw.thermal.closed_form import (GaussianMoments, QuadratureMoments,
                                           exact_thermal_gradient, gaussian_moments,
                                           has_exact_moments, is_linear, quadrature_moments,
                                           require_linear)
from eqprop_hw.thermal.estimators import (ESTIMATORS, PATH_NODES, ThermalEstimate, block_means,
                                          covariance_statistic, gauss_legendre, regroup,
                                          thermal_gradient)
from eqprop_hw.thermal.reference import ThermalReference, thermal_reference
from eqprop_hw.thermal.samplers import (DEFAULT_CAPACITANCE, TRAINING_SAMPLERS, GaussianSampler,
                                        LangevinSampler, LaplaceSampler, native_sampler,
                                        node_capacitances)
from eqprop_hw.thermal.states import (ModelSampler, PhaseSamples, ReducedEnergy,
                                      check_temperature, integrated_autocorrelation_time,
                                      jackknife, sample_count, summarise)

#: Former private name, kept importable (tests, notebooks): :func:`regroup`.
_regroup = regroup

__all__ = ["ESTIMATORS", "DEFAULT_CAPACITANCE", "PATH_NODES", "TRAINING_SAMPLERS",
           "PhaseSamples", "GaussianMoments", "ModelSampler", "GaussianSampler",
           "LangevinSampler", "LaplaceSampler", "ReducedEnergy", "QuadratureMoments",
           "ThermalEstimate", "ThermalReference", "gaussian_moments", "quadrature_moments",
           "exact_thermal_gradient", "has_exact_moments", "thermal_gradient", "thermal_reference",
           "integrated_autocorrelation_time", "jackknife", "gauss_legendre", "node_capacitances",
           "native_sampler", "is_linear", "require_linear", "check_temperature", "sample_count",
           "summarise", "covariance_statistic", "block_means", "regroup"]
