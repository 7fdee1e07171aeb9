"""A circuit compiled into the reference energy model's arrays (part of
:mod:`eqprop_hw.learning.reference`).

:func:`compile_energy` refuses circuits that are not energy-based, finds the ideal-transformer
amplifiers of layered circuits, splits the nodes into pinned (grounded voltage sources), set by
an amplifier, and free, and writes every node voltage as an affine function
``V = M z + P s`` of the free voltages ``z`` and the source values ``s``. The energy terms
(resistors, diodes, current sources, outputs) are then incidence matrices over ``V`` and their
maps over ``z``. See the module docstring of :mod:`eqprop_hw.learning.reference` for the
energy and what is refused.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> from eqprop_hw.circuit.batch import circuit_nodes
>>> c = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [2, 3, 1]}))
>>> compiled = compile_energy(c, circuit_nodes(c), 27.0)
>>> compiled.free_map.shape == (len(compiled.node_names), len(compiled.free_nodes))
True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.graph import GROUND, Circuit, Element
from eqprop_hw.learning.reference_diode import junction_parameters


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
class CompiledEnergy:
    """The arrays of :class:`~eqprop_hw.learning.reference.EnergyModel` for one circuit.

    Attributes
    ----------
    node_names : list of str
        Every non-ground node, then the internal anode nodes of diodes with RS.
    amplifiers : list of Amplifier
    sources : list of str
        Every independent source (V and I), in circuit order: the columns of ``s``.
    dc, input_gain : ndarray, shapes (n_sources,), (n_inputs, n_sources)
        ``s = dc + inputs @ input_gain`` (V or A).
    pinned_nodes : dict of str to str
        Node -> the grounded voltage source that pins it.
    free_nodes : list of str
        The nodes whose voltages are ``z``.
    column : dict of str to int
        Column of each node in ``node_names``.
    free_map, source_map : scipy.sparse.csr_matrix, ndarray
        ``V = free_map @ z + source_map @ s``.
    resistors : list of str
    resistor_position : dict of str to int
    conductances : ndarray
        Every resistor's conductance (S), the model's own copy (updated by ``set_values``).
    resistor_incidence, resistor_map : scipy.sparse.csr_matrix
        Resistor drops from ``V`` and their derivatives in ``z``.
    resistor_is_free : ndarray of bool
        Resistors whose drop depends on ``z``.
    diodes : list of str
        The diodes whose voltage depends on ``z``.
    diode_incidence : scipy.sparse.csr_matrix
    diode_map : ndarray
    saturation, vte : ndarray
        Per diode Is (A) at the circuit temperature and ``N k T / q`` (V).
    breakdown : ndarray or None
        Per diode breakdown voltage (V, ``inf`` without BV); None when no diode has one.
    current_source_map : ndarray, shape (n_sources, n_nodes)
    has_current_sources : bool
    output_columns : ndarray of int
    output_map : ndarray, shape (n_outputs, n_free)
    trainable_resistors : ndarray of int
        Row of each trainable element among the resistors, -1 for capacitors.
    """

    node_names: list
    amplifiers: list
    sources: list
    dc: np.ndarray
    input_gain: np.ndarray
    pinned_nodes: dict
    free_nodes: list
    column: dict
    free_map: sp.csr_matrix
    source_map: np.ndarray
    resistors: list
    resistor_position: dict
    conductances: np.ndarray
    resistor_incidence: sp.csr_matrix
    resistor_map: sp.csr_matrix
    resistor_is_free: np.ndarray
    diodes: list
    diode_incidence: sp.csr_matrix
    diode_map: np.ndarray
    saturation: np.ndarray
    vte: np.ndarray
    breakdown: np.ndarray | None
    current_source_map: np.ndarray
    has_current_sources: bool
    output_columns: np.ndarray
    output_map: np.ndarray
    trainable_resistors: np.ndarray


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


def refuse(element, why: str):
    """Raise the reference's refusal of a circuit that is not energy-based, naming
    ``element``."""
    raise CircuitError(
        f"element {element.name}: {why}; the reference energy model covers energy-based "
        "circuits only (conductances, diodes, independent sources, capacitors as DC opens, "
        "and the bidirectional amplifiers of layered circuits)")


def junction_law(circuit, diode, celsius: float) -> tuple[float, float, float]:
    """:func:`~eqprop_hw.learning.reference_diode.junction_parameters` of one diode at
    ``celsius`` (TNOM: the model's, else the ``tnom`` option, else 27 degC).

    Raises
    ------
    CircuitError
        When IS scaled to ``celsius`` is no usable current (overflow, zero).
    """
    model = circuit.models[diode.model]
    tnom = model.TNOM if model.TNOM is not None else float(circuit.options.get("tnom", 27.0))
    with np.errstate(all="ignore"):
        try:
            law = junction_parameters(model, float(diode.value), celsius, tnom)
        except (OverflowError, ZeroDivisionError, ValueError):
            law = (math.inf, 0.0, 0.0)
    if not (math.isfinite(law[0]) and law[0] > 0.0):
        raise CircuitError(f"diode model {model.name}: IS scaled from {tnom!r} to "
                           f"{celsius!r} degC is {law[0]!r} A, not a usable current")
    return law


def find_amplifiers(circuit) -> list[Amplifier]:
    """Every E element as the input of an ideal transformer (E + V + F), or a refusal naming
    it (:func:`refuse`)."""
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
            refuse(e, "a voltage-controlled voltage source (E) that is not the input "
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
            refuse(e, f"E with voltage source {v.name} does not form an ideal "
                      "transformer (needs exactly one F controlled by "
                      f"{v.name}, across the E's control nodes, with the same gain)")
        amplifiers.append(Amplifier(e.name, v.name, fs[0].name, float(e.value), inner, out,
                                    ref, cp, cq, source_sign))
    return amplifiers


def energy_based_amplifiers(circuit) -> list[Amplifier]:
    """The circuit's amplifiers, after refusing every element with no co-content: behavioural
    sources, G and H, inductors, E and F outside an ideal transformer (in that order)."""
    for element in circuit.elements:
        if element.type == "B":
            refuse(element, "behavioural sources (B) have no co-content")
    for element in circuit.elements:
        if element.type in "GH":
            kind = "VCCS (G)" if element.type == "G" else "CCVS (H)"
            refuse(element, f"a {kind} is a non-reciprocal controlled source")
        if element.type == "L":
            refuse(element, "inductors (DC shorts) are not supported")
    amplifiers = find_amplifiers(circuit)
    parts = {a.e for a in amplifiers} | {a.v for a in amplifiers} | {a.f for a in amplifiers}
    for element in circuit.elements:
        if element.type == "F" and element.name not in parts:
            refuse(element, "a CCCS (F) that is not part of an ideal-transformer "
                            "amplifier is non-reciprocal")
    return amplifiers


def pinned_and_defined(sources, amplifiers, src: dict) -> tuple[dict, dict, dict]:
    """``(pinned, pin_row, defined)``: node -> the grounded voltage source pinning it, node ->
    (its source column, sign), node -> the amplifier setting it.

    Raises
    ------
    CircuitError
        For a floating voltage source, a node driven by two sources, or an amplifier node
        also set by another source.
    """
    parts = {a.e for a in amplifiers} | {a.v for a in amplifiers} | {a.f for a in amplifiers}
    pinned: dict = {}
    pin_row: dict = {}
    for element in sources:
        if element.type != "V" or element.name in parts:
            continue
        a, b = element.nodes
        if GROUND not in (a, b):
            refuse(element, "a floating voltage source (neither terminal on ground) "
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
    return pinned, pin_row, defined


def affine_rows(node_names, free_nodes, pin_row: dict, defined: dict, src: dict,
                n_src: int) -> tuple[np.ndarray, np.ndarray]:
    """``(M, P)``, shapes (n_nodes, n_free), (n_nodes, n_sources): ``V(node) = M z + P s``
    row by row, resolved recursively through the amplifiers.

    Raises
    ------
    CircuitError
        When amplifiers form a loop.
    """
    free_col = {n: k for k, n in enumerate(free_nodes)}
    n_free = len(free_nodes)
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
    n_nodes = len(node_names)
    M = np.array([rows[n][0] for n in node_names]).reshape(n_nodes, n_free)
    P = np.array([rows[n][1] for n in node_names]).reshape(n_nodes, n_src)
    return M, P


def incidence(pairs, column: dict) -> sp.csr_matrix:
    """Drops from node voltages (V/V): row k is ``V(a) - V(b)`` of the k-th ``(a, b)`` pair,
    over the ``column`` index of the nodes (ground left out)."""
    r, c, v = [], [], []
    for k, (a, b) in enumerate(pairs):
        for node, sign in ((a, 1.0), (b, -1.0)):
            if node != GROUND:
                r.append(k), c.append(column[node]), v.append(sign)
    return sp.csr_matrix((v, (r, c)), shape=(len(pairs), len(column)))


def current_sources(sources, column: dict) -> np.ndarray:
    """``J``, shape (n_sources, n_nodes): the current sources' energy term
    ``sum_I I (V_n+ - V_n-)`` is ``(s @ J) . V``."""
    J = np.zeros((len(sources), len(column)))
    for k, element in enumerate(sources):
        if element.type == "I":
            for node, sign in ((element.nodes[0], 1.0), (element.nodes[1], -1.0)):
                if node != GROUND:
                    J[k, column[node]] += sign
    return J


def compile_energy(circuit: Circuit, node_names: list, celsius: float) -> CompiledEnergy:
    """The reference energy model's arrays of ``circuit`` (validated) at ``celsius`` (degC).

    Parameters
    ----------
    circuit : Circuit
    node_names : list of str
        The circuit's non-ground nodes (:func:`eqprop_hw.circuit.batch.circuit_nodes`).
    celsius : float
        Circuit temperature (degC) of the diode laws.

    Returns
    -------
    CompiledEnergy

    Raises
    ------
    CircuitError
        For a circuit that is not energy-based; the message names the element.
    """
    circuit, internal = series_resistance_expanded(circuit)
    node_names = node_names + internal
    amplifiers = energy_based_amplifiers(circuit)

    # Independent sources: every V and I, values per sample = dc + inputs @ input_gain.
    sources = [e for e in circuit.elements if e.type in "VI"]
    src = {e.name: k for k, e in enumerate(sources)}
    n_src = len(sources)
    dc = np.array([float(e.value) for e in sources])
    input_gain = np.zeros((len(circuit.inputs), n_src))
    for i, port in enumerate(circuit.inputs):
        for name, gain in port.sources:
            input_gain[i, src[name]] += float(gain)
            dc[src[name]] = 0.0

    pinned, pin_row, defined = pinned_and_defined(sources, amplifiers, src)
    free_nodes = [n for n in node_names if n not in pinned and n not in defined]
    M, P = affine_rows(node_names, free_nodes, pin_row, defined, src, n_src)
    n_nodes, n_free = len(node_names), len(free_nodes)
    col = {n: k for k, n in enumerate(node_names)}
    free_map = sp.csr_matrix(M)

    # Resistors (every one: conductances can change later).
    resistors = [e for e in circuit.elements if e.type == "R"]
    b_r = incidence([e.nodes for e in resistors], col)
    a_r = sp.csr_matrix(b_r @ free_map)                        # d(drop)/dz
    r_pos = {e.name: k for k, e in enumerate(resistors)}

    # Diodes depending on z (the others add a constant to E).
    diodes = [e for e in circuit.elements if e.type == "D"]
    b_d = incidence([e.nodes for e in diodes], col)
    a_d = (b_d @ free_map).toarray() if diodes else np.zeros((0, n_free))
    keep = np.flatnonzero(np.abs(a_d).sum(axis=1) > 0)
    laws = np.array([junction_law(circuit, diodes[k], celsius) for k in keep]).reshape(-1, 3)

    J = current_sources(sources, col)
    out_cols = np.array([col[p.node] for p in circuit.outputs], dtype=int)
    return CompiledEnergy(
        node_names=node_names, amplifiers=amplifiers, sources=[e.name for e in sources],
        dc=dc, input_gain=input_gain, pinned_nodes=pinned, free_nodes=free_nodes, column=col,
        free_map=free_map, source_map=P, resistors=[e.name for e in resistors],
        resistor_position=r_pos, conductances=np.array([float(e.value) for e in resistors]),
        resistor_incidence=b_r, resistor_map=a_r,
        resistor_is_free=np.asarray(abs(a_r).sum(axis=1)).ravel() > 0,
        diodes=[diodes[k].name for k in keep],
        diode_incidence=b_d[keep] if len(keep) else sp.csr_matrix((0, n_nodes)),
        diode_map=a_d[keep], saturation=laws[:, 0].copy(), vte=laws[:, 1].copy(),
        breakdown=laws[:, 2].copy() if np.isfinite(laws[:, 2]).any() else None,
        current_source_map=J, has_current_sources=bool(np.any(J)), output_columns=out_cols,
        output_map=M[out_cols] if len(out_cols) else np.zeros((0, n_free)),
        trainable_resistors=np.array([r_pos.get(name, -1) for name in circuit.trainable],
                                     dtype=int))


__all__ = ["Amplifier", "CompiledEnergy", "compile_energy", "series_resistance_expanded",
           "energy_based_amplifiers", "find_amplifiers", "pinned_and_defined", "affine_rows",
           "incidence", "current_sources", "junction_law", "refuse"]
