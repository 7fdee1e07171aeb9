"""Transistor twin networks: every trainable edge a MOSFET whose gate is the storage capacitor.

After Dillavou, Beyer, Stern, Liu, Miskin and Durian (PNAS 2024, arXiv 2311.00537): each edge
of the network is an n-channel MOSFET (ngspice's own level-1 model, a ``.model`` card written
through the grammar) between the edge's two nodes, drain and source interchangeable. Its gate
is the edge's storage capacitor, and the SAME gate node drives the edge's transistor in the
free twin and in the clamped twin. The update amplifier is the linear twin's
(:mod:`eqprop_hw.twin.netlist`): a behavioural current into the gate capacitor

    C dV_G/dt = clock(t) A (dV_F^2 - dV_C^2),      A = lr C / (2 eta beta T_on)

with ``beta = KP W / L`` (S/V). In the ohmic regime a level-1 MOSFET without body effect
carries ``I = beta (V_G - VTO - (V_a + V_b) / 2) (V_a - V_b)``, so ``dI/dV_G = beta (V_a - V_b)``
exactly: the gate plays the part of a conductance ``g = beta (V_G - VTO - bulk)`` (the edge's
conductance with both terminals at the bulk rail's voltage, its *zero-bias conductance*; the
rail is at or below every node, so no edge conducts more) and the same local rule
``(dV_C^2 - dV_F^2) / (2 eta)`` is Coupled Learning's step for it. One window changes the gate
by ``-lr d / beta`` (``lr`` in S/V^2 per sample, as the linear twin's). Unlike a conductance,
the transistor's conductance falls as its terminals rise (``beta (V_G - VTO - V_avg)``), it
saturates once ``V_G - VTO`` drops below the higher terminal's voltage, and it is off below
the lower one's (there the rule is no longer the gradient); this is the nonlinearity the
laboratory network learnt XOR with.

This module holds :class:`MosfetEdge` (the model, size and bulk rail, with the gate <->
zero-bias conductance map), :func:`mos_circuit` (the spec's circuit with its trainable
conductances replaced by MOSFETs whose gates are inputs: what the ngspice backend solves for
the Python-side check) and :func:`twin_mos_lines` (the one transient).

Examples
--------
>>> from eqprop_hw.circuit.transistors import DeviceModel
>>> edge = MosfetEdge(DeviceModel("TWMOS", "NMOS", (("LEVEL", 1), ("VTO", 0.5),
...                                                  ("KP", 2e-5))), w=10e-6, l=1e-6)
>>> round(edge.beta, 12), round(edge.gate(1e-4), 12), round(edge.conductance(5.5), 12)
(0.0002, 1.0, 0.001)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from eqprop_hw.circuit.graph import GROUND, Circuit, Element, InputPort
from eqprop_hw.circuit.netlist import element_line, fmt, option_and_model_lines, wrap_words
from eqprop_hw.circuit.spice_grammar import check_expression, check_name
from eqprop_hw.circuit.transistors import DeviceModel, model_line, transistor_line
from eqprop_hw.errors import CircuitError
from eqprop_hw.twin.netlist import (TWIN_TYPES, TwinNamer, TwinSettings, clock_points,
                                    pinned_nodes, pwl_lines, window_points)

#: ngspice's level-1 default transconductance parameter KP (A/V^2), used when a model omits it.
DEFAULT_KP = 2e-5
#: Largest |bulk| rail voltage (V).
MAX_BULK = 1000.0
#: Instance sizes (m) accepted for W and L.
SIZE_LIMITS = (1e-9, 1.0)
#: Model parameters a twin edge's model may not set: they break ``dI/dV_G = beta dV`` (body
#: effect GAMMA, channel-length modulation LAMBDA) or move the threshold (NSUB, PHI with
#: GAMMA computed from NSUB); the level is 1.
REFUSED_PARAMS = ("GAMMA", "LAMBDA", "NSUB", "PHI", "TOX")


@dataclass(frozen=True)
class MosfetEdge:
    """What every trainable edge of a transistor twin is.

    Attributes
    ----------
    model : DeviceModel
        An NMOS model of LEVEL 1 (level 1 is also ngspice's default); ``KP`` (A/V^2, default
        2e-5) and ``VTO`` (V, default 0) set the gate map ``V_G = VTO + bulk + g / beta``.
        GAMMA, LAMBDA, NSUB, PHI and TOX are refused (:data:`REFUSED_PARAMS`).
    w, l : float
        Channel width and length (m).
    bulk : float
        Voltage (V) of the shared bulk rail every edge's bulk terminal is tied to; keep it at
        or below the lowest node voltage so that no junction conducts.
    """

    model: DeviceModel
    w: float = 1e-5
    l: float = 1e-6
    bulk: float = 0.0

    def __post_init__(self):
        subject = f"twin mosfet model {self.model.name}"
        if not isinstance(self.model, DeviceModel) or self.model.type != "NMOS":
            raise CircuitError(f"{subject}: the edges are n-channel MOSFETs; give a model of "
                               "type NMOS")
        params = dict(self.model.params)
        if params.get("LEVEL", 1) != 1:
            raise CircuitError(f"{subject}: LEVEL must be 1 (the gate map "
                               f"beta (V_G - VTO - bulk) is the level-1 law), got "
                               f"{params['LEVEL']}")
        for key in REFUSED_PARAMS:
            if params.get(key, 0.0) != 0.0:
                raise CircuitError(f"{subject}: {key} must be 0 or absent (it breaks "
                                   "dI/dV_G = beta (V_a - V_b), the local rule's premise)")
        if params.get("KP", DEFAULT_KP) <= 0:
            raise CircuitError(f"{subject}: KP must be positive, got {params['KP']!r}")
        for name in ("w", "l"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not SIZE_LIMITS[0] <= value <= SIZE_LIMITS[1]:
                raise CircuitError(f"twin mosfet: {name} must be a size in m from "
                                   f"{SIZE_LIMITS[0]:g} to {SIZE_LIMITS[1]:g}, got {value!r}")
        if isinstance(self.bulk, bool) or not isinstance(self.bulk, (int, float)) or \
                not math.isfinite(self.bulk) or abs(self.bulk) > MAX_BULK:
            raise CircuitError(f"twin mosfet: bulk must be a voltage within +-{MAX_BULK:g} V, "
                               f"got {self.bulk!r}")

    @property
    def beta(self) -> float:
        """``KP W / L`` (S/V): zero-bias conductance per volt of gate overdrive."""
        return float(dict(self.model.params).get("KP", DEFAULT_KP)) * self.w / self.l

    @property
    def vto(self) -> float:
        """Threshold voltage VTO (V)."""
        return float(dict(self.model.params).get("VTO", 0.0))

    def gate(self, conductance):
        """Gate voltage (V) at which the edge's zero-bias conductance is ``conductance`` (S):
        ``VTO + bulk + g / beta``."""
        offset = self.vto + self.bulk
        return offset + np.asarray(conductance, dtype=float) / self.beta \
            if np.ndim(conductance) else offset + float(conductance) / self.beta

    def conductance(self, gate):
        """Zero-bias conductance (S) of the edge at gate voltage ``gate`` (V):
        ``beta (V_G - VTO - bulk)``."""
        offset = self.vto + self.bulk
        return (np.asarray(gate, dtype=float) - offset) * self.beta \
            if np.ndim(gate) else (float(gate) - offset) * self.beta

    def unit_settings(self, settings: TwinSettings) -> TwinSettings:
        """``settings`` with G_unit = beta (the gate capacitor's volt is beta of zero-bias
        conductance); CircuitError if it sets another conductance_per_volt."""
        if settings.conductance_per_volt not in (None, self.beta):
            raise CircuitError("twin: conductance_per_volt is set by the MOSFET edge "
                               f"(KP W / L = {self.beta:g} S/V); leave it out")
        return replace(settings, conductance_per_volt=self.beta)


def gate_port(name: str) -> str:
    """Input port name of trainable edge ``name``'s gate in :func:`mos_circuit`.

    >>> gate_port("R12")
    'gate_r12'
    """
    return f"gate_{name.lower()}"


def _edge_element(edge_name: str, nodes: tuple, gate: str, bulk: str,
                  edge: MosfetEdge) -> Element:
    return Element(f"M{edge_name}", "M", (nodes[0], gate, nodes[1], bulk),
                   model=edge.model.name, params=(("w", float(edge.w)), ("l", float(edge.l))))


def mos_circuit(circuit: Circuit, edge: MosfetEdge) -> Circuit:
    """``circuit`` with every trainable conductance replaced by a MOSFET whose gate is an input.

    Edge ``R1`` (nodes a, b) becomes ``MR1`` (drain a, gate ``tw_r1``, source b, bulk the
    rail) with ``VTW_R1`` setting ``tw_r1`` as the input port ``gate_r1`` (gain 1, so the
    value is the gate voltage in V), after the circuit's own inputs in trainable order. The
    result has no trainable elements: it is the network the twin trains, for the ngspice
    backend (the native backend and the reference refuse transistors).

    Raises
    ------
    CircuitError
        If a trainable element is not a conductance, or a made name is taken.

    Examples
    --------
    >>> import eqprop_hw
    >>> from eqprop_hw.circuit.transistors import DeviceModel
    >>> edge = MosfetEdge(DeviceModel("TWMOS", "NMOS", (("VTO", 0.5),)))
    >>> c = mos_circuit(eqprop_hw.load(CIRCUITS / "twin_regression.yaml").circuit, edge)
    >>> [p.name for p in c.inputs][:3], c.element("MR1").nodes, c.trainable
    (['VA', 'VB', 'gate_r1'], ('a', 'tw_r1', 'm1', '0'), [])
    """
    taken = {e.name.upper() for e in circuit.elements}
    nodes = set(circuit.nodes)
    trainable = set(circuit.trainable)
    if edge.model.name in circuit.device_models or edge.model.name in circuit.models:
        raise CircuitError(f"twin: model name {edge.model.name} is already used in the circuit")
    elements, ports = [], []
    bulk = GROUND
    if edge.bulk != 0.0:
        bulk = _fresh_node("tw_bulk", nodes)
        elements.append(Element(_fresh_element("VTW_BULK", taken), "V", (bulk, GROUND),
                                float(edge.bulk)))
    for element in circuit.elements:
        if element.name not in trainable:
            elements.append(element)
            continue
        if element.type != "R":
            raise CircuitError(f"twin: trainable element {element.name} is not a conductance (R)")
        gate = _fresh_node(f"tw_{element.name.lower()}", nodes)
        source = _fresh_element(f"VTW_{element.name}", taken)
        mos = _edge_element(_fresh_element(f"M{element.name}", taken)[1:], element.nodes,
                            gate, bulk, edge)
        elements += [mos, Element(source, "V", (gate, GROUND), edge.gate(element.value))]
    order = {name: k for k, name in enumerate(circuit.trainable)}
    for name in sorted(trainable, key=order.get):
        ports.append(InputPort(gate_port(name), f"tw_{name.lower()}",
                               ((f"VTW_{name}", 1.0),)))
    models = dict(circuit.device_models, **{edge.model.name: edge.model})
    return Circuit(circuit.name, circuit.kind, elements, dict(circuit.models),
                   list(circuit.inputs) + ports, list(circuit.outputs), [],
                   dict(circuit.options), None, models)


def _fresh_node(name: str, nodes: set) -> str:
    if name in nodes:
        raise CircuitError(f"twin: node name {name} is already used in the circuit; rename it "
                           "to build the transistor twin")
    nodes.add(name)
    return check_name(name, "node")


def _fresh_element(name: str, taken: set) -> str:
    if name.upper() in taken:
        raise CircuitError(f"twin: element name {name} is already used; rename the circuit's "
                           "element to build the transistor twin")
    taken.add(name.upper())
    return check_name(name, "element")


def _v(node: str) -> str:
    return "0" if node == GROUND else f"v({node})"


def _drop(a: str, b: str) -> str:
    return f"({_v(a)}-{_v(b)})"


def gate_bounds(settings: TwinSettings, edge: MosfetEdge) -> tuple[float, float]:
    """[V_G,min, V_G,max] (V): the gates of zero-bias conductances g_min and g_max (at
    V_G,min an edge is off for terminals at or above the bulk rail, when g_min is small).

    >>> edge = MosfetEdge(DeviceModel("TWMOS", "NMOS", (("VTO", 0.5), ("KP", 1e-5))), w=1e-6,
    ...                   l=1e-6, bulk=-6.5)
    >>> [round(v, 6) for v in gate_bounds(TwinSettings(g_min=1e-12, g_max=1e-4), edge)]
    [-6.0, 4.0]
    """
    return edge.gate(settings.g_min), edge.gate(settings.g_max)


def twin_mos_lines(circuit: Circuit, settings: TwinSettings, edge: MosfetEdge, inputs,
                   targets, initial_gates, title: str | None = None, clock_scale=None,
                   damage: dict | None = None) -> list[str]:
    """The transistor twin's transient netlist, one string per line.

    Long because: like :func:`eqprop_hw.twin.netlist.twin_lines`, it writes the netlist's
    sections in order (shared sources, both twins, each edge's gate capacitor, transistors,
    amplifier and cut, the clamps, the clock, the analysis) from the same name maps.

    Parameters
    ----------
    circuit : Circuit
        A resistive circuit; its trainable elements (conductances, R) become MOSFETs.
    settings : TwinSettings
        As for the linear twin; its conductance_per_volt must be None or ``edge.beta``, and
        g_min, g_max bound the zero-bias conductance (the gate stays in :func:`gate_bounds`).
    edge : MosfetEdge
    inputs, targets, title, clock_scale
        As :func:`eqprop_hw.twin.netlist.twin_lines`.
    initial_gates : sequence of float
        Initial gate voltages (V) in ``circuit.trainable`` order (clipped to the bounds).
    damage : dict of str to int, optional
        Trainable element -> window at whose start the edge is cut: from then on its gate (in
        both twins) is pulled to the bulk rail by a behavioural buffer (the transistor is off
        for VTO > 0) and its amplifier stops.

    Returns
    -------
    list of str
        The lines, ``.end`` last. Saved vectors: ``v(tw_<element>)`` (the gate voltages) in
        trainable order, at ``t = i sample_time``.

    Examples
    --------
    >>> import eqprop_hw
    >>> net = eqprop_hw.load(CIRCUITS / "twin_regression.yaml")
    >>> edge = MosfetEdge(DeviceModel("TWMOS", "NMOS", (("VTO", 0.5), ("KP", 2e-5))), w=1e-4)
    >>> lines = twin_mos_lines(net.circuit, TwinSettings(eta=0.5, g_max=1e-2), edge,
    ...                        [[0.3, 0.2]], [[0.4, 0.5]], [3.0] * 11)
    >>> [line for line in lines if line.startswith("MR1_")]
    ['MR1_F a tw_r1 m1_f 0 TWMOS w=0.0001 l=1e-06', 'MR1_C a tw_r1 m1_c 0 TWMOS w=0.0001 l=1e-06']
    """
    settings = edge.unit_settings(settings)
    inputs = np.atleast_2d(np.asarray(inputs, dtype=float))
    targets = np.atleast_2d(np.asarray(targets, dtype=float))
    windows = inputs.shape[0]
    if inputs.shape != (windows, len(circuit.inputs)) or \
            targets.shape != (windows, len(circuit.outputs)) or windows < 1:
        raise CircuitError(f"twin: inputs must be (windows, {len(circuit.inputs)}) and targets "
                           f"(windows, {len(circuit.outputs)}), got {inputs.shape} and "
                           f"{targets.shape}")
    if not (np.isfinite(inputs).all() and np.isfinite(targets).all()):
        raise CircuitError("twin: inputs and targets must be finite")
    if not circuit.outputs:
        raise CircuitError("twin: the circuit has no outputs to clamp")
    if edge.model.name in circuit.device_models or edge.model.name in circuit.models:
        raise CircuitError(f"twin: model name {edge.model.name} is already used in the circuit")
    trainable = set(circuit.trainable)
    pinned = pinned_nodes(circuit)
    namer = TwinNamer(circuit, set(pinned) | {GROUND})
    driven = {source: (k, gain) for k, port in enumerate(circuit.inputs)
              for source, gain in port.sources}
    outputs = [port.node for port in circuit.outputs]
    for node in outputs:
        if node in pinned or node == GROUND:
            raise CircuitError(f"twin: output node {node} is set by a source; it cannot be "
                               "clamped")
    lines = [title or f"eqprop-hw twin {circuit.name}",
             f"* transistor twin-network Coupled Learning: eta={fmt(settings.eta)}, "
             f"{windows} windows of {fmt(settings.sample_time)} s"]
    options = dict(circuit.options, reltol=settings.reltol)
    lines += option_and_model_lines(replace(circuit, options=options, _names_checked=True))
    lines.append(model_line(edge.model))
    shared_sources, copies, edges = [], [], []
    for element in circuit.elements:
        if element.type not in TWIN_TYPES:
            raise CircuitError(f"twin: element {element.name} is of type {element.type}; twin "
                               f"networks copy {', '.join(TWIN_TYPES)} elements only")
        if element.type == "V" and element.name in (pinned.get(element.nodes[0]),
                                                     pinned.get(element.nodes[1])):
            shared_sources.append(element)
        elif element.name in trainable:
            if element.type != "R":
                raise CircuitError(f"twin: trainable element {element.name} is not a "
                                   "conductance (R)")
            edges.append(element)
        else:
            copies.append(element)
    order = {name: k for k, name in enumerate(circuit.trainable)}
    edges.sort(key=lambda element: order[element.name])
    for element in shared_sources:
        if element.name in driven:
            k, gain = driven[element.name]
            times, values = window_points(gain * inputs[:, k], settings)
            lines += pwl_lines(element.name, " ".join(element.nodes), times, values)
        else:
            lines.append(element_line(element))
    bulk = GROUND
    if edge.bulk != 0.0:
        bulk = namer.new_node("tw_bulk")
        lines.append(f"{namer.element('VTW_BULK')} {bulk} 0 {fmt(edge.bulk)}")
    for twin in ("f", "c"):
        for element in copies:
            nodes = tuple(namer.node(n, twin) for n in element.nodes)
            copy = Element(namer.element(f"{element.name}_{twin.upper()}"), element.type,
                           nodes, element.value, element.model, element.control, element.expr,
                           element.resistance)
            lines.append(element_line(copy))
    v_min, v_max = gate_bounds(settings, edge)
    initial = np.asarray(initial_gates, dtype=float)
    if initial.shape != (len(edges),) or not np.isfinite(initial).all():
        raise CircuitError(f"twin: {len(edges)} finite initial gate voltages needed, got "
                           f"shape {initial.shape}")
    initial = np.clip(initial, v_min, v_max)
    damage = _checked_damage(damage, edges, windows, edge)
    clock = namer.new_node("tw_clock")
    store_nodes = []
    for element in edges:
        store = namer.new_node(f"tw_{element.name.lower()}")
        store_nodes.append(store)
        gate, intact = store, ""
        if element.name in damage:
            intact_node = namer.new_node(f"tw_intact_{element.name.lower()}")
            intact = f"*v({intact_node})"
            cut = np.r_[np.ones(damage[element.name]), np.zeros(windows - damage[element.name])]
            times, values = window_points(cut, settings)
            lines += pwl_lines(namer.element(f"VTW_INTACT_{element.name}"),
                               f"{intact_node} 0", times, values)
            gate = namer.new_node(f"tw_g_{element.name.lower()}")
            expr = (f"V=v({store})*v({intact_node})+{fmt(edge.bulk)}*(1-v({intact_node}))")
            check_expression(expr, element.name)
            lines.append(f"{namer.element(f'BTW_GATE_{element.name}')} {gate} 0 {expr}")
        a, b = element.nodes
        for twin in ("f", "c"):
            mos = _edge_element(namer.element(f"M{element.name}_{twin.upper()}")[1:],
                                (namer.node(a, twin), namer.node(b, twin)), gate, bulk, edge)
            lines.append(transistor_line(mos))
        fa, fb, ca, cb = (namer.node(a, "f"), namer.node(b, "f"), namer.node(a, "c"),
                          namer.node(b, "c"))
        rate_node = namer.new_node(f"tw_i_{element.name.lower()}")
        rate = (f"{fmt(settings.gain)}*v({clock}){intact}*({_drop(fa, fb)}^2-"
                f"{_drop(ca, cb)}^2)")
        if settings.update_limit is not None:
            limit = fmt(settings.update_limit)
            rate = f"{limit}*tanh(({rate})/{limit})"
        expr = f"V={rate}"
        check_expression(expr, element.name)
        lines.append(f"{namer.element(f'BA_{element.name}')} {rate_node} 0 {expr}")
        expr = (f"I=max(v({rate_node}),0)*u({fmt(v_max)}-v({store}))"
                f"+min(v({rate_node}),0)*u(v({store})-{fmt(v_min)})")
        check_expression(expr, element.name)
        lines.append(f"{namer.element(f'BU_{element.name}')} 0 {store} {expr}")
        lines.append(f"{namer.element(f'CTW_{element.name}')} {store} 0 "
                     f"{fmt(settings.capacitance)}")
        if settings.leakage > 0:
            lines.append(f"{namer.element(f'RTW_{element.name}')} {store} 0 "
                         f"{1.0 / settings.leakage!r}")
    for k, node in enumerate(outputs):
        free, held = namer.node(node, "f"), namer.node(node, "c")
        target = namer.new_node(f"tw_y{k}")
        times, values = window_points(targets[:, k], settings)
        lines += pwl_lines(namer.element(f"VTW_Y{k}"), f"{target} 0", times, values)
        expr = f"V={fmt(1.0 - settings.eta)}*v({free})+{fmt(settings.eta)}*v({target})"
        check_expression(expr, f"BTW_CLAMP{k}")
        lines.append(f"{namer.element(f'BTW_CLAMP{k}')} {held} 0 {expr}")
    scale = np.ones(windows) if clock_scale is None else np.asarray(clock_scale, dtype=float)
    if scale.shape != (windows,) or not (np.isfinite(scale).all() and (scale >= 0).all()):
        raise CircuitError(f"twin: clock_scale must be {windows} numbers >= 0")
    times, values = clock_points(scale, settings)
    lines += pwl_lines(namer.element("VTW_CLOCK"), f"{clock} 0", times, values)
    lines += wrap_words(".ic", [f"v({node})={fmt(value)}"
                                for node, value in zip(store_nodes, initial)])
    lines.append(".options interp")
    lines += wrap_words(".save", [f"v({node})" for node in store_nodes])
    period = settings.sample_time
    lines.append(f".tran {fmt(period)} {fmt(windows * period)} 0 {fmt(period / 4)}")
    lines.append(".end")
    return lines


def _checked_damage(damage, edges, windows: int, edge: MosfetEdge) -> dict:
    damage = dict(damage or {})
    unknown = sorted(set(damage) - {e.name for e in edges})
    if unknown:
        raise CircuitError(f"twin: damaged element {unknown[0]} is not a trainable element")
    for name, window in damage.items():
        if not (isinstance(window, (int, np.integer)) and 0 < window < windows):
            raise CircuitError(f"twin: element {name} must be cut at a window in "
                               f"[1, {windows - 1}], got {window!r}")
    if damage and edge.vto <= 0:
        raise CircuitError("twin: cutting a MOSFET edge pulls its gate to the bulk rail, "
                           f"which turns it off only for VTO > 0 (VTO is {edge.vto:g} V)")
    return damage
