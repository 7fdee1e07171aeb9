"""The reference's own evaluation of ngspice's level-1 DC diode law (part of
:mod:`eqprop_hw.learning.reference`).

Written from the law itself, not shared with the native backend
(:mod:`eqprop_hw.backends.native.diode`) that it checks; both are fitted against raw ngspice at
-40, 27 and 125 degC (``tests/test_temperature_diodes.py``). With ``Vte = N k T / q`` at the
circuit temperature, ``Is`` = IS at that temperature times the area and ``B`` the breakdown
voltage matched to IBV (``inf`` without BV)::

    I_D(v) = Is (exp(v / Vte) - 1) + gmin v                  v >= -3 Vte
    I_D(v) = -Is (1 + (3 Vte / (e v))^3) + gmin v            -B <= v < -3 Vte
    I_D(v) = -Is exp(-(B + v) / Vte) + gmin v                v < min(-B, -3 Vte)
    Is = IS area (T / TNOM)^(XTI / N) exp(q EG (1/TNOM - 1/T) / (N k))

Examples
--------
>>> current, slope = junction_current([0.0, 0.6], 1e-14, 0.025852, 1e-12)
>>> float(current[0]), bool(current[1] > 1e-4)
(0.0, True)
"""

from __future__ import annotations

import math

import numpy as np

#: Boltzmann's constant (J/K) and the elementary charge (C) as ngspice 39 has them (``const.h``).
K_BOLTZMANN = 1.38064852e-23
Q_ELECTRON = 1.6021766208e-19

#: 0 degC in K.
ZERO_CELSIUS = 273.15


def kelvin_thermal_voltage(celsius: float) -> float:
    """``k T / q`` (V) at ``celsius`` (degC)."""
    return K_BOLTZMANN / Q_ELECTRON * (celsius + ZERO_CELSIUS)


def junction_parameters(model, area: float, celsius: float,
                        tnom_celsius: float) -> tuple[float, float, float]:
    """``(Is, Vte, B)``: a diode's saturation current (A) at ``celsius``, its ``N k T / q`` (V)
    and its breakdown voltage (V; ``inf`` without BV).

    ``Is = IS area (T / Tnom)^(XTI / N) exp(q EG (1/Tnom - 1/T) / (N k))`` (T in K). B solves
    ``Is (exp((BV - B) / Vte) - 1 + B q / (k T)) = IBV`` (Newton's method to round-off; ngspice
    iterates to its ``reltol`` times IBV, which leaves B within ~``reltol`` times Vte times
    ``Is / IBV``), or is BV when IBV is below ``Is BV q / (k T)`` (no solution then).
    """
    temperature, nominal = celsius + ZERO_CELSIUS, tnom_celsius + ZERO_CELSIUS
    vt = kelvin_thermal_voltage(celsius)
    vte = model.N * vt
    factor = (temperature / nominal) ** (model.XTI / model.N) * math.exp(
        Q_ELECTRON * model.EG / (model.N * K_BOLTZMANN) * (1.0 / nominal - 1.0 / temperature))
    saturation = model.IS * area * factor
    bv = model.BV
    if bv is None:
        return saturation, vte, math.inf
    ibv = model.IBV
    if ibv < saturation * bv / vt:
        return saturation, vte, bv

    def excess(b):          # current at -BV beyond IBV (A) and its derivative in b (A/V)
        grow = math.exp((bv - b) / vte)
        return saturation * (grow - 1.0 + b / vt) - ibv, saturation * (1.0 / vt - grow / vte)

    b = bv - vte * math.log(ibv / saturation)
    for _ in range(100):
        value, slope = excess(b)
        step = value / slope
        b -= step
        if abs(step) <= 1e-15 * abs(b):
            break
    return saturation, vte, b


def junction_current(vd, saturation, vte, gmin: float, breakdown=None):
    """Current (A) and conductance dI/dv (S) of ngspice's DC diode law at ``vd`` (V).

    ``saturation`` (A), ``vte`` (V) and ``breakdown`` (V, ``inf`` for none; None: no diode has
    one) broadcast against ``vd``; see the module docstring for the law.
    """
    vd = np.asarray(vd, dtype=float)
    forward = vd >= -3.0 * vte
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        v_rev = np.where(forward, -1.0, vd)          # a stand-in off the reverse branch
        grow = np.exp(np.where(forward, vd, 0.0) / vte)
        cube = (3.0 * vte / (math.e * v_rev)) ** 3
        current = np.where(forward, saturation * (grow - 1.0), -saturation * (1.0 + cube))
        slope = np.where(forward, saturation * grow / vte, 3.0 * saturation * cube / v_rev)
        if breakdown is not None:
            deep = ~forward & (vd < -breakdown)
            tail = saturation * np.exp(-(np.where(deep, vd, 0.0) + np.where(deep, breakdown, 0.0))
                                       / vte)
            current = np.where(deep, -tail, current)
            slope = np.where(deep, tail / vte, slope)
    return current + gmin * vd, slope + gmin


def diode_cocontent(vd, saturation, vte, gmin: float, breakdown=None) -> np.ndarray:
    """Co-content ``Phi(v) = int_0^v I(u) du`` (W) of ngspice's DC diode law at ``vd`` (V).

    Parameters
    ----------
    vd : ndarray
        Junction voltage (V), anode minus cathode.
    saturation : ndarray
        ``Is``: IS at the circuit temperature times the area (A), broadcast against ``vd``.
    vte : ndarray
        ``N k T / q`` (V).
    gmin : float
        Conductance (S) ngspice puts in parallel with every junction.
    breakdown : ndarray or None
        Breakdown voltage B (V, ``inf`` for none), or None when no diode has one.

    Returns
    -------
    ndarray
        ``Is (Vte (exp(v/Vte) - 1) - v) + gmin v^2 / 2`` for ``v >= -3 Vte``; below, the
        integral of the cubic reverse branch continued from ``-3 Vte``, and beyond
        ``s = min(-B, -3 Vte)`` that of the breakdown exponential continued from ``s``.
        ``inf`` where an exponential overflows.
    """
    vd = np.asarray(vd, dtype=float)
    saturation = np.asarray(saturation, dtype=float)
    vte = np.asarray(vte, dtype=float)
    v0 = -3.0 * vte
    forward = vd >= v0

    def cubic_branch(v):        # Phi on the cubic reverse branch, continued from v0
        k = (3.0 * vte / math.e) ** 3
        phi_v0 = saturation * (vte * math.expm1(-3.0) - v0)
        return phi_v0 - saturation * ((v - v0) + k * (0.5 / v0 ** 2 - 0.5 / v ** 2))

    with np.errstate(over="ignore", invalid="ignore"):
        vf = np.where(forward, vd, 0.0)
        phi_forward = saturation * (vte * np.expm1(vf / vte) - vf)
        vr = np.where(forward, v0, vd)
        phi_reverse = cubic_branch(vr)
        if breakdown is not None:
            bv = np.asarray(breakdown, dtype=float)
            start = np.minimum(-bv, v0)              # where the breakdown exponential starts
            deep = vd < start
            s_deep, b_deep = np.where(deep, start, 0.0), np.where(deep, bv, 0.0)
            vr = np.where(deep, s_deep, vr)
            tail = saturation * vte * (np.exp(-(np.where(deep, vd, 0.0) + b_deep) / vte)
                                       - np.exp(-(s_deep + b_deep) / vte))
            phi_reverse = cubic_branch(vr) + tail
        phi = np.where(forward, phi_forward, phi_reverse)
    return phi + 0.5 * gmin * vd * vd


__all__ = ["K_BOLTZMANN", "Q_ELECTRON", "ZERO_CELSIUS", "kelvin_thermal_voltage",
           "junction_parameters", "junction_current", "diode_cocontent"]
