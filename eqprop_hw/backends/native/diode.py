"""ngspice's level-1 diode DC law (``dioload.c``, ``diotemp.c``): the one place the native
solver takes it from.

The thermal voltage at a temperature, the saturation current moved to it, the breakdown
voltage matched to IBV, and the current and small-signal conductance of a batch of junctions
(:func:`diode_current`), with the sparse stamp of the diodes into the MNA matrix
(:func:`diode_stamp`). ``tests/test_native.py`` and ``tests/test_ngspice_backend.py`` check the
law against raw ngspice runs.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.graph import Circuit


#: ngspice 39's constants (``const.h``): k = 1.38064852e-23 J/K, q = 1.6021766208e-19 C.
BOLTZMANN = 1.38064852e-23

CHARGE = 1.6021766208e-19

KELVIN_27C = 300.15

#: ngspice's offset from degC to K (``CONSTCtoK``).
CELSIUS_TO_KELVIN = 273.15

#: ngspice's cap on the iterations that match the breakdown voltage to IBV (``DIOtemp``).
BREAKDOWN_MATCH_ITERATIONS = 25


def thermal_voltage(temperature_celsius: float = 27.0) -> float:
    """kT/q (V) with ngspice's constants."""
    return BOLTZMANN / CHARGE * (temperature_celsius + 273.15)


class DiodeLaw(NamedTuple):
    """The per-diode numbers of ngspice's DC diode law at the circuit temperature.

    Attributes
    ----------
    saturation : ndarray
        ``IS(T) * area`` (A).
    vte : ndarray
        ``N k T / q`` (V); also the breakdown region's scale (SPICE's NBV defaults to N).
    breakdown : ndarray or None
        The breakdown voltage (V) after ngspice's adjustment to IBV, ``inf`` for a diode
        without BV; None when no diode of the circuit has one.
    """

    saturation: np.ndarray
    vte: np.ndarray
    breakdown: np.ndarray | None


def scaled_saturation(model, area: float, kelvin: float, nominal_kelvin: float) -> float:
    """``IS * area`` (A) at ``kelvin`` (K) for a model measured at ``nominal_kelvin`` (K).

    SPICE's level-1 law: ``IS(T) = IS exp((T/Tnom - 1) EG / (N Vt) + XTI / N ln(T/Tnom))``
    with ``Vt = k T / q``; exactly ``IS * area`` at ``T = Tnom``.
    """
    ratio = kelvin / nominal_kelvin
    vte = model.N * (BOLTZMANN / CHARGE * kelvin)
    return model.IS * area * math.exp((ratio - 1.0) * model.EG / vte
                                      + model.XTI / model.N * math.log(ratio))


def matched_breakdown(bv: float, ibv: float, saturation: float, vt: float, vte: float,
                      reltol: float) -> float:
    """The breakdown voltage (V) ngspice uses for BV, IBV at ``saturation`` (A).

    The reverse current at ``-V`` beyond breakdown is ``-saturation exp((V - x) / vte)``; x
    is moved from BV so that it carries about IBV at BV: ``x`` solves
    ``saturation (exp((BV - x) / vte) - 1 + x / vt) = IBV`` by fixed-point steps (at most
    :data:`BREAKDOWN_MATCH_ITERATIONS`, until within ``reltol * IBV``). When IBV is below
    ``saturation * BV / vt`` no such x exists and BV is used as it is.
    """
    if ibv < saturation * bv / vt:
        return bv
    x = bv - vte * math.log1p(ibv / saturation)
    for _ in range(BREAKDOWN_MATCH_ITERATIONS):
        x = bv - vte * math.log(ibv / saturation + 1.0 - x / vt)
        reached = saturation * (math.exp((bv - x) / vte) - 1.0 + x / vt)
        if abs(reached - ibv) <= reltol * ibv:
            break
    return x


def diode_law(circuit: Circuit, diodes) -> DiodeLaw:
    """The :class:`DiodeLaw` of ``diodes`` (elements of ``circuit``) at the circuit's ``temp``.

    Temperatures: the ``temp`` option (degC, default 27); a model's TNOM, else the ``tnom``
    option, else 27 degC. ``reltol`` (default 1e-3) bounds the breakdown matching.

    Raises
    ------
    CircuitError
        For a temperature at or below absolute zero, or a model whose scaled saturation
        current is not a positive finite number (the message names the model).
    """
    options = circuit.options
    celsius = float(options.get("temp", 27.0))
    kelvin = celsius + CELSIUS_TO_KELVIN
    if diodes and not kelvin > 0.0:
        raise CircuitError(f"circuit {circuit.name!r}: options.temp = {celsius!r} degC is at "
                           "or below absolute zero")
    vt = thermal_voltage(celsius)
    saturation, vte, breakdown = [], [], []
    for diode in diodes:
        model = circuit.models[diode.model]
        nominal = model.TNOM if model.TNOM is not None else float(options.get("tnom", 27.0))
        if not nominal + CELSIUS_TO_KELVIN > 0.0:
            raise CircuitError(f"diode model {model.name}: nominal temperature {nominal!r} degC "
                               "is at or below absolute zero")
        with np.errstate(all="ignore"):
            try:
                current = scaled_saturation(model, float(diode.value), kelvin,
                                            nominal + CELSIUS_TO_KELVIN)
            except OverflowError:
                current = math.inf
        if not (math.isfinite(current) and current > 0.0):
            raise CircuitError(f"diode model {model.name}: IS scaled to {celsius!r} degC "
                               f"(EG {model.EG!r}, XTI {model.XTI!r}, from "
                               f"{nominal!r} degC) is {current!r} A, not a usable current")
        saturation.append(current)
        vte.append(model.N * vt)
        breakdown.append(math.inf if model.BV is None else matched_breakdown(
            model.BV, model.IBV, current, vt, vte[-1], float(options.get("reltol", 1e-3))))
    breakdown = np.array(breakdown, dtype=float)
    return DiodeLaw(np.array(saturation, dtype=float), np.array(vte, dtype=float),
                    breakdown if np.isfinite(breakdown).any() else None)


def diode_current(vd: np.ndarray, saturation: np.ndarray, vte: np.ndarray, gmin: float,
                  breakdown: np.ndarray | None = None):
    """ngspice's DC diode law: current (A) and small-signal conductance (S) at ``vd`` (V).

    ``breakdown``: per diode the breakdown voltage (V, ``inf`` for none; see
    :class:`DiodeLaw`), or None for no breakdown at all. Beyond ``-breakdown`` the current is
    ``-saturation exp(-(breakdown + vd) / vte)``.
    """
    forward = vd >= -3.0 * vte
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        exp_term = np.exp(np.where(forward, vd, 0.0) / vte)
        arg = np.where(forward, 1.0, 3.0 * vte / (vd * math.e)) ** 3
        current = np.where(forward, saturation * (exp_term - 1.0), -saturation * (1.0 + arg))
        conductance = np.where(forward, saturation * exp_term / vte,
                               saturation * 3.0 * arg / np.where(forward, 1.0, vd))
        if breakdown is not None:
            beyond = ~forward & (vd < -breakdown)
            if np.any(beyond):
                reverse = saturation * np.exp(np.where(beyond, -(breakdown + vd), 0.0) / vte)
                current = np.where(beyond, -reverse, current)
                conductance = np.where(beyond, reverse / vte, conductance)
    return current + gmin * vd, conductance + gmin


def diode_stamp(incidence) -> sp.csr_matrix:
    """Where diode conductances go in a Jacobian block: ``J.ravel() += S @ g``.

    ``incidence`` (diodes x n) holds each diode's +-1 terminal signs on n unknowns; the result
    S (n*n x diodes) has, for diode d between unknowns a and b, the entries of its stamp
    ``g (e_a - e_b)(e_a - e_b)^T`` at flat positions a*n + b.
    """
    coo = sp.coo_matrix(incidence)
    size = coo.shape[1]
    terms = {}
    for d, c, v in zip(coo.row, coo.col, coo.data):
        terms.setdefault(d, []).append((c, v))
    rows, cols, vals = [], [], []
    for d, ends in terms.items():
        for ca, va in ends:
            for cb, vb in ends:
                rows.append(ca * size + cb), cols.append(d), vals.append(va * vb)
    return sp.csr_matrix((vals, (rows, cols)), shape=(size * size, coo.shape[0]))
