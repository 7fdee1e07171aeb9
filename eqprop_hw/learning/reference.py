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
:class:`EnergyModel`
    ``equilibrium`` (own damped Newton on E with a line search), ``energy``, ``gradient``,
    ``hessian``.
:func:`exact_gradient`
    dL/dg by implicit differentiation (one adjoint solve per sample).
:func:`software_ep`
    EP on the model's own equilibria, with the local rule of :mod:`eqprop_hw.learning.ep`.
:func:`gradient_agreement`, :func:`report_row`, :func:`format_report`
    Comparisons backing ``eqprop-hw check`` and ``eqprop-hw grad``. What runs a real solver
    (finite differences, the check report) is in :mod:`eqprop_hw.learning.check`: this module
    imports no backend (``tests/test_layout.py`` checks it).

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

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from eqprop_hw.errors import CircuitError, ConvergenceError
from eqprop_hw.circuit.batch import circuit_nodes, prepare_batch
from eqprop_hw.circuit.graph import GROUND, Circuit, Element, validate_circuit
from eqprop_hw.circuit.transistors import first_transistor, refusal
from eqprop_hw.learning.losses import (check_loss, check_probabilities, log_softmax, loss_gradient,
                                      loss_values, softmax)

#: Relative Armijo constant of the line search on E.
ARMIJO = 1e-4

#: The line search tries longer steps when a full Newton step lowered E by more than this
#: fraction of the linear prediction (a quadratic gives exactly 0.5).
EXPANSION_RATIO = 0.6


# -- the diode law -----------------------------------------------------------------------------------
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


# -- the model --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Amplifier:
    """One ideal transformer found in a circuit (E + V + F, see :mod:`eqprop_hw.circuit.build`).

    ``V(out) = V(ref) + gain (V(cp) - V(cq)) + sign * V_source``; ``V(inner)`` is ``V(out)``
    minus that offset (the E element's output node).
    """

    e: str
    v: str
    f: str
    gain: float
    inner: str
    out: str
    ref: str
    cp: str
    cq: str
    sign: float


@dataclass
class Equilibrium:
    """A batch of equilibria of :class:`EnergyModel`.

    Attributes
    ----------
    voltages : ndarray, shape (batch, n_nodes)
        Node voltages (V) in ``EnergyModel.node_names`` order (the backends' column order).
    free : ndarray, shape (batch, n_free)
        The free variables z (V) in ``EnergyModel.free_nodes`` order.
    iterations : ndarray of int, shape (batch,)
        Newton iterations per sample.
    outputs : ndarray, shape (batch, n_outputs)
        Output node voltages (V).
    """

    voltages: np.ndarray
    free: np.ndarray
    iterations: np.ndarray
    outputs: np.ndarray


def series_resistance_expanded(circuit: Circuit) -> tuple[Circuit, list[str]]:
    """The circuit with every diode's series resistance RS as a separate resistor.

    A SPICE diode with RS > 0 is a junction behind an ohmic resistance RS / area on its anode
    side. Its co-content is that of a resistor of conductance area / RS from the anode to an
    internal node plus an RS = 0 junction from the internal node to the cathode, so the
    energy model gets exactly that: one more free node per such diode (appended after the
    circuit's own nodes) and one fixed conductance.

    Returns
    -------
    circuit : Circuit
        Unchanged if no diode has RS > 0; otherwise the expanded circuit (the resistors are
        appended after every other element, named ``{diode}_RS``).
    internal : list of str
        The internal anode nodes added, in the order of the diodes.
    """
    series = [e for e in circuit.elements
              if e.type == "D" and circuit.models[e.model].RS > 0]
    if not series:
        return circuit, []
    taken = set(circuit.nodes)
    names = {e.name for e in circuit.elements}
    models = dict(circuit.models)
    for name, model in circuit.models.items():
        if model.RS > 0:
            models[name] = dataclasses.replace(model, RS=0.0)
    elements, extra, internal = [], [], []
    for element in circuit.elements:
        if element not in series:
            elements.append(element)
            continue
        node = f"{element.name.lower()}_rs"
        while node in taken:
            node += "_"
        resistor = f"{element.name}_RS"
        while resistor in names:
            resistor += "_"
        taken.add(node), names.add(resistor), internal.append(node)
        elements.append(dataclasses.replace(element, nodes=(node,) + tuple(element.nodes[1:])))
        conductance = float(element.value) / circuit.models[element.model].RS
        extra.append(Element(resistor, "R", (element.nodes[0], node), conductance))
    expanded = Circuit(circuit.name, circuit.kind, elements + extra, models, circuit.inputs,
                       circuit.outputs, circuit.trainable, dict(circuit.options),
                       circuit.crossbars)
    return expanded, internal


def _exposed(attribute: str, kind: str, doc: str) -> property:
    """A read-only property returning ``self.<attribute>`` (``kind``: its type, for the docs)."""
    return property(lambda self: getattr(self, attribute), doc=f"{kind}: {doc}")


class EnergyModel:
    """A circuit as a differentiable energy over its free node voltages.

    Parameters
    ----------
    circuit : Circuit
        A validated circuit. Conductances (S) are read from it; change them later with
        :meth:`set_values` / :meth:`set_trainable`.
    max_iterations : int
        Newton iteration cap per equilibrium.
    loss : {"squared", "cross_entropy"}
        The loss L of ``E_beta = E + beta * L`` (see the module docstring).
    temperature : float, optional
        Softmax temperature tau (V) of the cross-entropy loss (default 0.1 V).

    Attributes
    ----------
    node_names : list of str
        Every non-ground node (the backends' ``node_names``).
    free_nodes : list of str
        Nodes whose voltages are the free variables z (neither pinned by a grounded voltage
        source nor set by an amplifier), in circuit order.
    pinned_nodes : dict of str to str
        Node -> the grounded voltage source that pins it.
    amplifiers : list of Amplifier
        The ideal transformers substituted into the energy.
    gmin : float
        Junction parallel conductance (S), the circuit's ``gmin`` option (ngspice default 1e-12).
    vt : float
        Thermal voltage kT/q (V) at the circuit's ``temp`` option (default 27 C).

    Raises
    ------
    CircuitError
        For a circuit that is not energy-based (see the module docstring); the message names
        the element.

    Notes
    -----
    Free variables are solved for with dense batched linear algebra: the Hessian is
    ``n_free x n_free`` per sample (110 x 110 for a 784-100-10 crossbar).
    """

    def __init__(self, circuit: Circuit, max_iterations: int = 300, loss: str = "squared",
                 temperature: float | None = None):
        self.loss, self.temperature = check_loss(loss, temperature)
        if self.loss == "cross_entropy" and len(circuit.outputs) < 2:
            raise CircuitError(f"circuit {circuit.name!r}: the cross-entropy loss needs at least "
                               "two outputs (the softmax of one output is always 1)")
        transistor = first_transistor(circuit)
        if transistor is not None:
            raise CircuitError(refusal(transistor, "software reference", ""))
        validate_circuit(circuit)
        self._circuit, self._changed = circuit, {}
        self.max_iterations = int(max_iterations)
        self.gmin = float(circuit.options.get("gmin", 1e-12))
        self.celsius = float(circuit.options.get("temp", 27.0))
        if any(e.type == "D" for e in circuit.elements) and not self.celsius > -ZERO_CELSIUS:
            raise CircuitError(f"circuit {circuit.name!r}: options.temp = {self.celsius!r} degC "
                               "is at or below absolute zero")
        self.vt = kelvin_thermal_voltage(self.celsius)
        self.node_names = circuit_nodes(circuit)
        self.n_inputs, self.n_outputs = len(circuit.inputs), len(circuit.outputs)
        self._compile()

    # -- compilation -----------------------------------------------------------------------------
    def _refuse(self, element, why: str):
        raise CircuitError(
            f"element {element.name}: {why}; the reference energy model covers energy-based "
            "circuits only (conductances, diodes, independent sources, capacitors as DC opens, "
            "and the bidirectional amplifiers of layered circuits)")

    def _junction(self, circuit, diode) -> tuple[float, float, float]:
        """:func:`junction_parameters` of one diode at the circuit temperature (TNOM: the
        model's, else the ``tnom`` option, else 27 degC)."""
        model = circuit.models[diode.model]
        tnom = model.TNOM if model.TNOM is not None else float(circuit.options.get("tnom", 27.0))
        with np.errstate(all="ignore"):
            try:
                law = junction_parameters(model, float(diode.value), self.celsius, tnom)
            except (OverflowError, ZeroDivisionError, ValueError):
                law = (math.inf, 0.0, 0.0)
        if not (math.isfinite(law[0]) and law[0] > 0.0):
            raise CircuitError(f"diode model {model.name}: IS scaled from {tnom!r} to "
                               f"{self.celsius!r} degC is {law[0]!r} A, not a usable current")
        return law

    def _find_amplifiers(self) -> list[Amplifier]:
        circuit = self._circuit
        touching: dict = {}
        for element in circuit.elements:
            for node in element.nodes[:2]:
                touching.setdefault(node, []).append(element)
        controlled_by: dict = {}
        for element in circuit.elements:
            if element.type in "FH":
                controlled_by.setdefault(element.control, []).append(element)
        amplifiers = []
        for e in circuit.elements:
            if e.type != "E":
                continue
            inner, ref, cp, cq = e.nodes
            others = [x for x in touching.get(inner, []) if x.name != e.name]
            if inner == GROUND or len(others) != 1 or others[0].type != "V":
                self._refuse(e, "a voltage-controlled voltage source (E) that is not the input "
                                "of an ideal-transformer amplifier (its output node must feed "
                                "exactly one voltage source that controls an F) is not "
                                "energy-based (not reciprocal)")
            v = others[0]
            out = v.nodes[1] if v.nodes[0] == inner else v.nodes[0]
            source_sign = -1.0 if v.nodes[0] == inner else 1.0   # V(out) = V(inner) + sign*v
            fs = controlled_by.get(v.name, [])
            current_sign = 1.0 if v.nodes[0] == inner else -1.0  # I into out = sign * I(v)
            ok = len(fs) == 1 and fs[0].type == "F" and out != GROUND
            if ok:
                f = fs[0]
                if tuple(f.nodes) == (cp, cq):
                    orient = 1.0
                elif tuple(f.nodes) == (cq, cp):
                    orient = -1.0
                else:
                    orient = 0.0
                ok = orient != 0.0 and math.isclose(orient * f.value, current_sign * e.value,
                                                    rel_tol=1e-12, abs_tol=0.0)
            if not ok:
                self._refuse(e, f"E with voltage source {v.name} does not form an ideal "
                                "transformer (needs exactly one F controlled by "
                                f"{v.name}, across the E's control nodes, with the same gain)")
            amplifiers.append(Amplifier(e.name, v.name, fs[0].name, float(e.value), inner, out,
                                        ref, cp, cq, source_sign))
        return amplifiers

    def _compile(self):
        circuit, internal = series_resistance_expanded(self._circuit)
        self.node_names = self.node_names + internal
        for element in circuit.elements:
            if element.type == "B":
                self._refuse(element, "behavioural sources (B) have no co-content")
        for element in circuit.elements:
            if element.type in "GH":
                kind = "VCCS (G)" if element.type == "G" else "CCVS (H)"
                self._refuse(element, f"a {kind} is a non-reciprocal controlled source")
            if element.type == "L":
                self._refuse(element, "inductors (DC shorts) are not supported")
        amplifiers = self._find_amplifiers()
        parts = {a.e for a in amplifiers} | {a.v for a in amplifiers} | {a.f for a in amplifiers}
        for element in circuit.elements:
            if element.type == "F" and element.name not in parts:
                self._refuse(element, "a CCCS (F) that is not part of an ideal-transformer "
                                      "amplifier is non-reciprocal")
        self.amplifiers = amplifiers

        # Independent sources: every V and I, values per sample = dc + inputs @ input_gain.
        sources = [e for e in circuit.elements if e.type in "VI"]
        self._sources = [e.name for e in sources]
        src = {e.name: k for k, e in enumerate(sources)}
        n_src = len(sources)
        dc = np.array([float(e.value) for e in sources])
        input_gain = np.zeros((self.n_inputs, n_src))
        for i, port in enumerate(circuit.inputs):
            for name, gain in port.sources:
                input_gain[i, src[name]] += float(gain)
                dc[src[name]] = 0.0
        self._dc, self._input_gain = dc, input_gain

        # Pinned nodes.
        pinned: dict = {}
        pin_row: dict = {}
        for element in sources:
            if element.type != "V" or element.name in parts:
                continue
            a, b = element.nodes
            if GROUND not in (a, b):
                self._refuse(element, "a floating voltage source (neither terminal on ground) "
                                      "is not supported")
            node, sign = (a, 1.0) if b == GROUND else (b, -1.0)
            if node in pinned:
                raise CircuitError(f"node {node!r} is driven by two voltage sources "
                                   f"({pinned[node]} and {element.name})")
            pinned[node] = element.name
            pin_row[node] = (src[element.name], sign)
        defined: dict = {}
        for amp in amplifiers:
            for node in (amp.out, amp.inner):
                if node in pinned or node in defined:
                    raise CircuitError(f"amplifier {amp.e}/{amp.v}/{amp.f}: node {node!r} is "
                                       "also set by another source")
                defined[node] = amp
        self.pinned_nodes = pinned
        self.free_nodes = [n for n in self.node_names if n not in pinned and n not in defined]
        free_col = {n: k for k, n in enumerate(self.free_nodes)}
        n_free = len(self.free_nodes)

        # Affine rows V(node) = m . z + p . s, resolved recursively through amplifiers.
        rows: dict = {GROUND: (np.zeros(n_free), np.zeros(n_src))}
        for node, k in free_col.items():
            m = np.zeros(n_free)
            m[k] = 1.0
            rows[node] = (m, np.zeros(n_src))
        for node, (k, sign) in pin_row.items():
            p = np.zeros(n_src)
            p[k] = sign
            rows[node] = (np.zeros(n_free), p)
        visiting: set = set()

        def row(node):
            if node in rows:
                return rows[node]
            if node in visiting:
                raise CircuitError(f"amplifiers form a loop through node {node!r}")
            visiting.add(node)
            amp = defined[node]
            m_ref, p_ref = row(amp.ref)
            m_cp, p_cp = row(amp.cp)
            m_cq, p_cq = row(amp.cq)
            m = m_ref + amp.gain * (m_cp - m_cq)
            p = p_ref + amp.gain * (p_cp - p_cq)
            p = p.copy()
            p[src[amp.v]] += amp.sign
            rows[amp.out] = (m, p)
            p_inner = p.copy()
            p_inner[src[amp.v]] -= amp.sign
            rows[amp.inner] = (m.copy(), p_inner)
            visiting.discard(node)
            return rows[node]

        for node in defined:
            row(node)
        n_nodes = len(self.node_names)
        self._col = {n: k for k, n in enumerate(self.node_names)}
        M = np.array([rows[n][0] for n in self.node_names]).reshape(n_nodes, n_free)
        P = np.array([rows[n][1] for n in self.node_names]).reshape(n_nodes, n_src)
        self._M, self._P = sp.csr_matrix(M), P

        def incidence(pairs):
            r, c, v = [], [], []
            for k, (a, b) in enumerate(pairs):
                for node, sign in ((a, 1.0), (b, -1.0)):
                    if node != GROUND:
                        r.append(k), c.append(self._col[node]), v.append(sign)
            return sp.csr_matrix((v, (r, c)), shape=(len(pairs), n_nodes))

        # Resistors (every one: conductances can change later).
        resistors = [e for e in circuit.elements if e.type == "R"]
        self._resistors = [e.name for e in resistors]
        self._r_pos = {e.name: k for k, e in enumerate(resistors)}
        self._g = np.array([float(e.value) for e in resistors])
        self._b_r = incidence([e.nodes for e in resistors])
        self._a_r = sp.csr_matrix(self._b_r @ self._M)           # d(drop)/dz
        self._r_free = np.asarray(abs(self._a_r).sum(axis=1)).ravel() > 0

        # Diodes depending on z (the others add a constant to E).
        diodes = [e for e in circuit.elements if e.type == "D"]
        b_d = incidence([e.nodes for e in diodes])
        a_d = (b_d @ self._M).toarray() if diodes else np.zeros((0, n_free))
        keep = np.flatnonzero(np.abs(a_d).sum(axis=1) > 0)
        self._diodes = [diodes[k].name for k in keep]
        self._b_d = b_d[keep] if len(keep) else sp.csr_matrix((0, n_nodes))
        self._a_d = a_d[keep]
        laws = np.array([self._junction(circuit, diodes[k]) for k in keep]).reshape(-1, 3)
        self._saturation, self._vte = laws[:, 0].copy(), laws[:, 1].copy()
        self._breakdown = laws[:, 2].copy() if np.isfinite(laws[:, 2]).any() else None

        # Current sources: E += sum_I I (V_n+ - V_n-)  =  (s @ J) . V.
        J = np.zeros((n_src, n_nodes))
        for element in sources:
            if element.type == "I":
                for node, sign in ((element.nodes[0], 1.0), (element.nodes[1], -1.0)):
                    if node != GROUND:
                        J[src[element.name], self._col[node]] += sign
        self._J = J
        self._has_current = bool(np.any(J))

        # Outputs.
        self._out_cols = np.array([self._col[p.node] for p in circuit.outputs], dtype=int)
        self._a_o = M[self._out_cols] if len(self._out_cols) else np.zeros((0, n_free))
        self._trainable_r = np.array([self._r_pos.get(name, -1) for name in circuit.trainable],
                                     dtype=int)
        self._assemble()

    def _assemble(self):
        """The constant part of the Hessian: the reduced conductance Laplacian (S)."""
        a_r = self._a_r
        self._h_lin = np.asarray((a_r.T @ sp.diags(self._g) @ a_r).todense())

    # -- values ----------------------------------------------------------------------------------
    @property
    def circuit(self) -> Circuit:
        """The circuit with the model's current conductances (materialised on demand)."""
        if self._changed:
            self._circuit = self._circuit.with_values(self._changed)
            self._changed = {}
        return self._circuit

    @property
    def n_free(self) -> int:
        return len(self.free_nodes)

    @property
    def conductances(self) -> dict:
        """Every resistor's conductance (S) by element name."""
        return dict(zip(self._resistors, self._g.tolist()))

    def set_values(self, values: dict) -> None:
        """New conductances (S) of named resistors (capacitances of capacitors: no DC effect).

        Raises
        ------
        CircuitError
            For a name that is not a resistor or capacitor, or a non-positive or non-finite
            value.
        """
        for name, value in values.items():
            kind = self._circuit.element(name).type
            if kind not in "RC":
                raise CircuitError(f"element {name}: the energy model sets conductances (R) "
                                   f"and capacitances (C, open at DC), not {kind} values")
            value = float(value)
            if not (math.isfinite(value) and value > 0):
                raise CircuitError(f"element {name}: value must be finite and positive "
                                   f"(S for a conductance), got {value!r}")
            if kind == "R":
                self._g[self._r_pos[name]] = value
            self._changed[name] = value
        self._assemble()

    def set_trainable(self, values) -> None:
        """New values of every trainable element (S), in ``circuit.trainable`` order."""
        values = np.asarray(values, dtype=float).ravel()
        names = self._circuit.trainable
        if values.size != len(names):
            raise CircuitError(f"expected {len(names)} trainable values, got {values.size}")
        self.set_values(dict(zip(names, values.tolist())))

    # -- the compiled model, read by the finite-temperature samplers and the gradient code --------
    # Read-only properties returning the model's own arrays (not copies: do not write into them;
    # change conductances with set_values / set_trainable).
    free_map = _exposed("_M", "scipy.sparse.csr_matrix",
                        "dV/dz: node voltages per free voltage (V/V), shape (n_nodes, n_free); "
                        "with :attr:`source_map`, ``V = free_map @ z + source_map @ s``.")
    source_map = _exposed("_P", "ndarray",
                          "dV/ds: node voltages per source value (V/V or V/A), shape (n_nodes, "
                          "n_sources).")
    current_source_map = _exposed("_J", "ndarray",
                                  "``J``, shape (n_sources, n_nodes): the current sources' energy "
                                  "term is ``(s @ J) . V`` (W), so ``s @ J`` is the current (A) "
                                  "each source draws from a node.")
    output_columns = _exposed("_out_cols", "ndarray",
                              "Column of each output node in :attr:`node_names` (int array, shape "
                              "(n_outputs,)).")
    output_map = _exposed("_a_o", "ndarray",
                          "dV_out/dz: output voltages per free voltage (V/V), shape (n_outputs, "
                          "n_free).")
    trainable_resistors = _exposed("_trainable_r", "ndarray",
                                   "Row of each trainable element among the resistors (int array, "
                                   "shape (n_trainable,)); -1 for trainable elements that are not "
                                   "resistors (capacitors, open at DC).")
    resistor_incidence = _exposed("_b_r", "scipy.sparse.csr_matrix",
                                  "Drop of every resistor from the node voltages (V/V): ``drops = "
                                  "B_r @ V``, shape (n_resistors, n_nodes).")
    resistor_map = _exposed("_a_r", "scipy.sparse.csr_matrix",
                            "d(drop)/dz of every resistor (V/V), shape (n_resistors, n_free).")
    resistor_conductances = _exposed("_g", "ndarray",
                                     "Conductance (S) of every resistor, in "
                                     ":attr:`resistor_incidence` row order.")
    resistor_is_free = _exposed("_r_free", "ndarray",
                                "Bool mask of the resistors whose drop depends on z (the others "
                                "add a constant).")
    linear_hessian = _exposed("_h_lin", "ndarray",
                              "The constant part of d2E/dz2: the reduced conductance Laplacian "
                              "(S), shape (n_free, n_free).")
    has_current_sources = _exposed("_has_current", "bool",
                                   "Whether an independent current source adds ``I (V_n+ - V_n-)``"
                                   " to E.")

    @property
    def diode_names(self) -> list[str]:
        """Diodes whose voltage depends on z (the others add a constant), in row order of the
        diode arrays below."""
        return list(self._diodes)

    @property
    def diode_incidence(self) -> sp.csr_matrix:
        """Diode voltages from the node voltages (V/V): ``vd = B_d @ V``, shape
        (n_diodes, n_nodes)."""
        return self._b_d

    @property
    def diode_map(self) -> np.ndarray:
        """d(vd)/dz of every diode (V/V), shape (n_diodes, n_free)."""
        return self._a_d

    @property
    def diode_laws(self) -> tuple:
        """``(saturation, vte, breakdown)``: per diode Is (A) at the circuit temperature,
        ``N k T / q`` (V) and the breakdown voltage (V, ``inf`` without BV), or None for
        ``breakdown`` when no diode has one (see :func:`junction_parameters`)."""
        return self._saturation, self._vte, self._breakdown

    @property
    def chunk_rows(self) -> int:
        """Samples per dense batched solve (about 20 million Hessian entries)."""
        return self._chunk()

    def context(self, inputs, beta: float = 0.0, targets=None) -> tuple:
        """Per-sample source values, targets and beta of a batch, checked.

        Returns
        -------
        sources : ndarray, shape (batch, n_sources)
            Value of every independent source (V or A): its DC value plus its input.
        targets : ndarray, shape (batch, n_outputs)
            Targets (V; probabilities for cross-entropy); zeros without targets.
        beta : float
            Nudging strength (S; W for cross-entropy).

        Raises
        ------
        CircuitError
            As :func:`eqprop_hw.circuit.batch.prepare_batch`.
        """
        return self._context(inputs, beta, targets)

    def voltages_at(self, free, sources) -> np.ndarray:
        """Node voltages (V), shape (batch, n_nodes), from free voltages ``free`` (V, shape
        (batch, n_free)) and source values ``sources`` (from :meth:`context`); unchecked."""
        return self._voltages(free, sources)

    def energy_terms(self, free, sources, targets, beta: float) -> tuple:
        """``(E_beta, scale)`` per sample (W): the energy and the sum of its terms' magnitudes
        (a round-off scale), at ``free`` (V) for a :meth:`context`; unchecked."""
        return self._terms(free, sources, targets, beta)

    def gradient_hessian(self, free, sources, targets, beta: float, hessian: bool = True):
        """``(dE_beta/dz (A), d2E_beta/dz2 (S))`` per sample at ``free`` (V) for a
        :meth:`context`, shapes (batch, n_free) and (batch, n_free, n_free); the Hessian is
        None with ``hessian=False``. Unchecked: :meth:`gradient` / :meth:`hessian` check."""
        return self._grad_hess(free, sources, targets, beta, hessian)

    # -- per-sample context ----------------------------------------------------------------------
    def _context(self, inputs, beta, targets):
        inputs, beta, targets = prepare_batch(inputs, beta, targets, self.n_inputs,
                                              self.n_outputs, self.loss, self._circuit)
        return self._dc + inputs @ self._input_gain, targets, beta

    def _check_free(self, free, batch):
        free = np.asarray(free, dtype=float)
        if free.ndim == 1:
            free = free[None, :]
        if free.shape != (batch, self.n_free):
            raise CircuitError(f"expected free voltages of shape {(batch, self.n_free)}, "
                               f"got {free.shape}")
        return free

    # -- the energy and its derivatives (per sample context s, y, beta) --------------------------
    def _voltages(self, z, s):
        return np.ascontiguousarray((self._M @ z.T).T + s @ self._P.T)

    def _terms(self, z, s, y, beta):
        """Energy (W) and a roundoff scale (sum of |terms|) per sample.

        Every per-sample sum runs over a C-contiguous row, so a sample's energy is the same
        number whatever batch it is evaluated in (numpy sums strided rows in another order),
        which the line search relies on.
        """
        v = self._voltages(z, s)
        drops = np.ascontiguousarray((self._b_r @ v.T).T[:, self._r_free])
        e_r = 0.5 * drops * drops * self._g[self._r_free]
        total = e_r.sum(axis=1)
        scale = np.abs(e_r).sum(axis=1)
        if self._diodes:
            vd = np.ascontiguousarray((self._b_d @ v.T).T)
            phi = diode_cocontent(vd, self._saturation, self._vte, self.gmin, self._breakdown)
            total = total + phi.sum(axis=1)
            scale = scale + np.abs(phi).sum(axis=1)
        if self._has_current:
            e_i = (s @ self._J) * v
            total = total + e_i.sum(axis=1)
            scale = scale + np.abs(e_i).sum(axis=1)
        if beta != 0.0 and len(self._out_cols) and self.loss == "cross_entropy":
            # beta * (-sum y log p): both parts of log p kept in the roundoff scale.
            logits = v[:, self._out_cols] / self.temperature
            e_l = -beta * np.ascontiguousarray(y * log_softmax(v[:, self._out_cols],
                                                               self.temperature))
            total = total + e_l.sum(axis=1)
            scale = scale + abs(beta) * np.abs(y * logits).sum(axis=1) + \
                np.abs(e_l).sum(axis=1)
        elif beta != 0.0 and len(self._out_cols):
            e_l = 0.5 * beta * (v[:, self._out_cols] - y) ** 2
            total = total + e_l.sum(axis=1)
            scale = scale + np.abs(e_l).sum(axis=1)
        return total, scale

    def _grad_hess(self, z, s, y, beta, hessian=True):
        v = self._voltages(z, s)
        drops = (self._b_r @ v.T).T
        grad_v = (self._b_r.T @ (drops * self._g).T).T
        if self._has_current:
            grad_v = grad_v + s @ self._J
        if beta != 0.0 and len(self._out_cols):
            grad_v[:, self._out_cols] += beta * loss_gradient(self.loss, v[:, self._out_cols], y,
                                                              self.temperature)
        if self._diodes:
            vd = (self._b_d @ v.T).T
            current, conductance = junction_current(vd, self._saturation, self._vte, self.gmin,
                                                    self._breakdown)
            grad_v = grad_v + (self._b_d.T @ current.T).T
        grad = (self._M.T @ grad_v.T).T
        if not hessian:
            return grad, None
        h = np.broadcast_to(self._h_lin, (z.shape[0],) + self._h_lin.shape).copy()
        if self._diodes:
            h += np.einsum("dk,bd,dl->bkl", self._a_d, conductance, self._a_d, optimize=True)
        if beta != 0.0 and len(self._out_cols) and self.loss == "cross_entropy":
            p = softmax(v[:, self._out_cols], self.temperature)
            curvature = (y.sum(axis=1) / self.temperature ** 2)[:, None, None] * \
                (p[:, :, None] * np.eye(p.shape[1]) - p[:, :, None] * p[:, None, :])
            h += beta * np.einsum("ok,bol,lm->bkm", self._a_o, curvature, self._a_o,
                                  optimize=True)
        elif beta != 0.0 and len(self._out_cols):
            h += beta * (self._a_o.T @ self._a_o)
        return grad, h

    def voltages(self, free, inputs) -> np.ndarray:
        """Node voltages (V), shape (batch, n_nodes), from free variables z (V)."""
        s, _, _ = self._context(inputs, 0.0, None)
        return self._voltages(self._check_free(free, s.shape[0]), s)

    def energy(self, free, inputs, beta: float = 0.0, targets=None) -> np.ndarray:
        """E_beta (W) per sample at free voltages ``free`` (V), shape (batch,).

        Terms that do not depend on the free voltages (elements between two fixed nodes) are
        left out, so E is defined up to a per-sample constant.
        """
        s, y, beta = self._context(inputs, beta, targets)
        with np.errstate(over="ignore", invalid="ignore"):
            return self._terms(self._check_free(free, s.shape[0]), s, y, beta)[0]

    def gradient(self, free, inputs, beta: float = 0.0, targets=None) -> np.ndarray:
        """dE_beta/dz (A), shape (batch, n_free): the net current leaving each free node.

        Zero at equilibrium (Kirchhoff's current law).
        """
        s, y, beta = self._context(inputs, beta, targets)
        return self._grad_hess(self._check_free(free, s.shape[0]), s, y, beta, False)[0]

    def hessian(self, free, inputs, beta: float = 0.0, targets=None) -> np.ndarray:
        """d2E_beta/dz2 (S), shape (batch, n_free, n_free).

        The reduced conductance Laplacian (amplifier constraints substituted) plus the diode
        small-signal conductances plus ``beta d2L/dV_out2`` on the outputs (``beta`` for the
        squared loss).
        """
        s, y, beta = self._context(inputs, beta, targets)
        return self._grad_hess(self._check_free(free, s.shape[0]), s, y, beta)[1]

    def conductance_energy_gradient(self, voltages) -> np.ndarray:
        """dE/dg = 1/2 (V_a - V_b)^2 (V^2) of every trainable element, shape (batch, n_train).

        Trainable elements that are not resistors (capacitors: open at DC) get 0.
        """
        voltages = np.atleast_2d(np.asarray(voltages, dtype=float))
        drops = (self._b_r @ voltages.T).T
        out = np.zeros((voltages.shape[0], len(self._trainable_r)))
        mask = self._trainable_r >= 0
        out[:, mask] = 0.5 * drops[:, self._trainable_r[mask]] ** 2
        return out

    # -- equilibrium -----------------------------------------------------------------------------
    def solve(self, inputs, beta: float = 0.0, targets=None, initial=None) -> Equilibrium:
        """Minimise E_beta over the free voltages for a batch (damped Newton + line search).

        Parameters
        ----------
        inputs : array_like, shape (batch, n_inputs) or (n_inputs,)
            Input values (the sources take ``gain * x``).
        beta : float
            Nudging strength (S for the squared loss, W for cross-entropy); 0 is the free
            phase. Negative values are allowed as long as E_beta stays convex (|beta| below the
            output nodes' conductance scale; ``|beta| / (2 tau^2)`` for cross-entropy).
        targets : array_like, shape (batch, n_outputs), optional
            Targets (V for squared, probabilities for cross-entropy); required when
            ``beta != 0``.
        initial : array_like, shape (batch, n_free), optional
            Starting free voltages (V), e.g. a free phase's ``Equilibrium.free``.

        Returns
        -------
        Equilibrium

        Raises
        ------
        ConvergenceError
            If Newton does not converge within ``max_iterations``.
        """
        s, y, beta = self._context(inputs, beta, targets)
        batch = s.shape[0]
        z0 = np.zeros((batch, self.n_free)) if initial is None else \
            self._check_free(np.array(initial, dtype=float, copy=True), batch)
        z, iterations = self._minimise(z0, s, y, beta)
        v = self._voltages(z, s)
        return Equilibrium(v, z, iterations, v[:, self._out_cols])

    def equilibrium(self, inputs, beta: float = 0.0, targets=None, initial=None) -> np.ndarray:
        """Node voltages (V) at the minimum of E_beta, shape (batch, n_nodes).

        Columns follow :attr:`node_names`, the backends' order
        (:func:`eqprop_hw.backends.base.circuit_nodes`). See :meth:`solve`.
        """
        return self.solve(inputs, beta, targets, initial).voltages

    def _chunk(self) -> int:
        """Samples per dense batched solve (about 20 million Hessian entries)."""
        return max(1, int(2e7 // max(1, self.n_free ** 2)))

    def _minimise(self, z, s, y, beta):
        batch = z.shape[0]
        iterations = np.zeros(batch, dtype=int)
        if self.n_free == 0:
            return z, iterations
        with np.errstate(over="ignore", invalid="ignore"):
            energy, _ = self._terms(z, s, y, beta)
        bad = np.flatnonzero(~np.isfinite(energy))
        good = np.flatnonzero(np.isfinite(energy))
        chunk = self._chunk()
        for start in range(0, good.size, chunk):
            rows = good[start:start + chunk]
            z[rows], iterations[rows] = self._newton(z[rows], s[rows], y[rows], beta)
        for row in bad:
            z[row], iterations[row] = self._source_stepping(s[row:row + 1], y[row:row + 1], beta)
        return z, iterations

    def _source_stepping(self, s, y, beta):
        """Continuation in the source values (0 -> s) when E is infinite at the start."""
        lam, step, total = 0.0, 1.0, 0
        z = np.zeros((1, self.n_free))
        z, its = self._newton(z, 0.0 * s, y, beta)
        total += int(its[0])
        for _ in range(200):
            if lam >= 1.0:
                return z[0], total
            trial = min(1.0, lam + step)
            with np.errstate(over="ignore", invalid="ignore"):
                energy, _ = self._terms(z, trial * s, y, beta)
            if not np.isfinite(energy[0]):
                step *= 0.5
                continue
            z, its = self._newton(z, trial * s, y, beta)
            total += int(its[0])
            lam, step = trial, step * 2.0
        raise ConvergenceError(f"reference model: source stepping failed for circuit "
                               f"{self._circuit.name!r}")

    def _newton(self, z, s, y, beta):
        """Damped Newton on a batch whose starting energies are finite."""
        batch = z.shape[0]
        z = z.copy()
        iterations = np.zeros(batch, dtype=int)
        active = np.arange(batch)
        last_step = np.full(batch, np.inf)
        with np.errstate(over="ignore", invalid="ignore"):
            energy, scale = self._terms(z, s, y, beta)
        for _ in range(self.max_iterations):
            if active.size == 0:
                break
            za, sa, ya = z[active], s[active], y[active]
            grad, hess = self._grad_hess(za, sa, ya, beta)
            try:
                dz = -np.linalg.solve(hess, grad[..., None])[..., 0]
            except np.linalg.LinAlgError:
                raise ConvergenceError(f"reference model: singular Hessian for circuit "
                                       f"{self._circuit.name!r} (a free node without a "
                                       "conductive path?)") from None
            slope = np.einsum("bi,bi->b", grad, dz)
            v_scale = np.maximum(np.abs(self._voltages(za, sa)).max(axis=1), 1e-3)
            size = np.abs(dz).max(axis=1)
            # Line search on E (backtracking, Armijo), roundoff-tolerant near the minimum.
            t = np.ones(active.size)
            accepted = np.zeros(active.size, dtype=bool)
            e_new = np.empty(active.size)
            tolerance = 64 * np.finfo(float).eps * np.maximum(scale[active], 1e-300)
            for _ls in range(80):
                todo = np.flatnonzero(~accepted)
                if todo.size == 0:
                    break
                trial = za[todo] + t[todo, None] * dz[todo]
                with np.errstate(over="ignore", invalid="ignore"):
                    e_try, _ = self._terms(trial, sa[todo], ya[todo], beta)
                ok = np.isfinite(e_try) & (e_try <= energy[active[todo]] + ARMIJO * t[todo] *
                                           slope[todo] + tolerance[todo])
                # A Newton decrement (-slope ~ 2 (E - E_min)) below E's roundoff: E cannot
                # resolve the step any more, and the full Newton step is the best there is.
                ok |= (t[todo] == 1.0) & (-slope[todo] <= tolerance[todo]) & np.isfinite(e_try)
                accepted[todo[ok]] = True
                e_new[todo[ok]] = e_try[ok]
                t[todo[~ok]] *= 0.5
            # Expansion: deep in a diode's exponential region the Newton step is only ~Vte
            # long and E falls almost linearly along it (a quadratic falls by exactly half the
            # slope). Then keep doubling the step while E still falls.
            expand = np.flatnonzero(accepted & (t == 1.0) & (-slope > 1e3 * tolerance) &
                                    (energy[active] - e_new > -EXPANSION_RATIO * slope))
            for _ex in range(60):
                if expand.size == 0:
                    break
                trial = za[expand] + 2.0 * t[expand, None] * dz[expand]
                with np.errstate(over="ignore", invalid="ignore"):
                    e_try, _ = self._terms(trial, sa[expand], ya[expand], beta)
                better = np.isfinite(e_try) & (e_try < e_new[expand])
                t[expand[better]] *= 2.0
                e_new[expand[better]] = e_try[better]
                expand = expand[better]
            moved = t[:, None] * dz
            tiny = size <= 1e-13 * v_scale + 1e-16
            stalled = (size <= 1e-9 * v_scale) & (size >= 0.5 * last_step[active])
            if not np.all(accepted | tiny | stalled):
                position = np.flatnonzero(~(accepted | tiny | stalled))[0]
                hint = " (E_beta is not convex there: is a negative beta too large?)" \
                    if slope[position] >= 0 else ""
                raise ConvergenceError(f"reference model: line search failed for circuit "
                                       f"{self._circuit.name!r} (sample row "
                                       f"{active[position]}){hint}")
            z[active[accepted]] = za[accepted] + moved[accepted]
            with np.errstate(over="ignore", invalid="ignore"):
                energy[active[accepted]], scale[active[accepted]] = self._terms(
                    z[active[accepted]], sa[accepted], ya[accepted], beta)
            iterations[active] += 1
            done = (tiny | stalled) & ((t == 1.0) | ~accepted)
            last_step[active] = size
            active = active[~done]
        if active.size:
            raise ConvergenceError(
                f"reference model: no minimum of the energy for circuit {self._circuit.name!r} "
                f"(sample row(s) {', '.join(map(str, active[:5].tolist()))}) after "
                f"{self.max_iterations} Newton iterations")
        return z, iterations


# -- gradients ------------------------------------------------------------------------------------
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


__all__ = ["EnergyModel", "Equilibrium", "Amplifier", "diode_cocontent", "junction_current",
           "junction_parameters", "exact_gradient", "software_ep", "gradient_agreement",
           "report_row", "format_report"]
