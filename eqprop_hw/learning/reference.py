"""The ideal software model that checks the circuit's EP updates.

The reference sees the exact model only: the circuit as a differentiable energy (co-content)
over its free node voltages, written directly from the element laws. It shares no code with
the backends it checks, the diode law included: :func:`junction_current`,
:func:`diode_cocontent` and :func:`junction_parameters` are this module's own evaluation of
ngspice's level-1 DC diode (temperature scaling of IS by EG and XTI from TNOM, reverse
breakdown matched to IBV), tested against raw ngspice.

Energy (co-content, W = V*A) of a circuit, up to a constant, with ``V`` the node voltages::

    E(V; g) = sum_R 1/2 g (V_a - V_b)^2                     resistors (g in S)
            + sum_D Phi_D(V_anode - V_cathode)              diodes, Phi_D(v) = int_0^v I_D(u) du
            + sum_I I (V_n+ - V_n-)                         independent current sources
    E_beta  = E + beta * L,   L = 1/2 sum_k (V_out_k - y_k)^2      (beta in S, L in V^2)

or, with ``loss="cross_entropy"`` (:mod:`eqprop_hw.learning.losses`), ``p = softmax(V_out / tau)`` and
probability targets ``y``::

    L = -sum_k y_k log p_k = sum(y) logsumexp(V_out / tau) - y . V_out / tau   (L in nats,
                                                                                beta in W)
    dL/dV_out = (p sum(y) - y) / tau,   d2L/dV_out2 = sum(y) / tau^2 (diag(p) - p p^T)

(convex in V_out, so E_beta stays convex for beta > 0).

with ngspice's DC diode law (``Vte = N k T / q`` at the ``temp`` option, ``Is`` = IS at that
temperature times the area, ``B`` the breakdown voltage matched to IBV, ``inf`` without BV)::

    I_D(v) = Is (exp(v / Vte) - 1) + gmin v                  v >= -3 Vte
    I_D(v) = -Is (1 + (3 Vte / (e v))^3) + gmin v            -B <= v < -3 Vte
    I_D(v) = -Is exp(-(B + v) / Vte) + gmin v                v < min(-B, -3 Vte)
    Is = IS area (T / TNOM)^(XTI / N) exp(q EG (1/TNOM - 1/T) / (N k))

Independent voltage sources with one terminal on ground *pin* their node (inputs, bias and
diode-bias sources). The bidirectional amplifiers of layered circuits (``EA``/``VA``/``FA``, see
:mod:`eqprop_hw.circuit.build`) are ideal transformers: ``V(a) = V(q) + A (V(cp) - V(cq)) -/+ V_VA``,
with the current delivered to ``a`` drawn back from ``cp`` times ``A``; the constraint is
substituted, so every node voltage is an affine function ``V = M z + P s`` of the free
variables ``z`` (the voltages of the free nodes) and the source values ``s``, and the energy
stays a convex function of ``z`` when every ``g > 0`` (diode currents are nondecreasing).
Stationarity ``dE/dz = 0`` is Kirchhoff's current law at every free node (the transformer's
current at the controlling node included, by the chain rule).

Circuits that are not energy-based are refused with a :class:`~eqprop_hw.errors.CircuitError`:
behavioural sources (B), controlled sources (E, F, G, H) that do not form such an amplifier,
inductors and floating voltage sources. A diode with series resistance RS is expanded into an
RS = 0 junction behind a fixed conductance area/RS on an internal node (see
:func:`series_resistance_expanded`), which is exactly SPICE's diode.

Functions
---------
This module is the reference's one public face: every name below is importable from here, and
each lives in one module of one job (none imports a backend; ``tests/test_layout.py`` checks
what the reference reaches).

:mod:`~eqprop_hw.learning.reference_diode`
    ngspice's DC diode law, written here again: ``junction_parameters``, ``junction_current``,
    ``diode_cocontent``.
:mod:`~eqprop_hw.learning.reference_compile`
    A circuit -> the model's arrays (``V = M z + P s``, incidences), the refusals,
    ``Amplifier``, ``series_resistance_expanded``.
:mod:`~eqprop_hw.learning.reference_model`
    :class:`EnergyModel`: ``energy``, ``gradient``, ``hessian``, ``solve``/``equilibrium``.
:mod:`~eqprop_hw.learning.reference_newton`
    The model's own damped Newton on E with a line search (and source stepping).
:mod:`~eqprop_hw.learning.reference_gradients`
    :func:`exact_gradient` (implicit differentiation, one adjoint solve per sample),
    :func:`software_ep` (EP on the model's own equilibria, with the local rule of
    :mod:`eqprop_hw.learning.ep`), :func:`gradient_agreement`, :func:`report_row`,
    :func:`format_report` (backing ``eqprop-hw check`` and ``eqprop-hw grad``). What runs a
    real solver (finite differences, the check report) is in :mod:`eqprop_hw.learning.check`.

Units: V, A, S; energies in W (co-content); gradients dL/dg in V^2/S (squared loss) or 1/S
(cross-entropy, L dimensionless).

Examples
--------
>>> import numpy as np
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> c = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [2, 3, 1]}))
>>> model = EnergyModel(c)
>>> v = model.equilibrium([[0.5, -0.5]])
>>> v.shape == (1, len(model.node_names))
True
>>> loss, grad = exact_gradient(model, [[0.5, -0.5]], [[0.2]])
>>> grad.shape == (len(c.trainable),)
True
"""

from __future__ import annotations

from eqprop_hw.learning.reference_compile import Amplifier, series_resistance_expanded
from eqprop_hw.learning.reference_diode import (K_BOLTZMANN, Q_ELECTRON, ZERO_CELSIUS,
                                                diode_cocontent, junction_current,
                                                junction_parameters, kelvin_thermal_voltage)
from eqprop_hw.learning.reference_gradients import (exact_gradient, format_report,
                                                    gradient_agreement, report_row, software_ep)
from eqprop_hw.learning.reference_model import EnergyModel, Equilibrium
from eqprop_hw.learning.reference_newton import ARMIJO, EXPANSION_RATIO

__all__ = ["EnergyModel", "Equilibrium", "Amplifier", "diode_cocontent", "junction_current",
           "junction_parameters", "exact_gradient", "software_ep", "gradient_agreement",
           "report_row", "format_report"]
