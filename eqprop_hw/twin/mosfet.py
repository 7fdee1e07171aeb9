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
from eqprop_hw.circuit.netlist import fmt
from eqprop_hw.circuit.spice_grammar import check_expression, check_name
from eqprop_hw.circuit.transistors import DeviceModel, model_line, transistor_line
from eqprop_hw.errors import CircuitError
from eqprop_hw.twin.netlist import ConductanceEdges, TwinSettings, twin_lines

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
#: The other model parameters a twin edge's model may set, each within a physical range
#: (inclusive; units of ngspice's level-1 model): threshold VTO (V), transconductance KP
#: (A/V^2), series resistances RD RS (Ohm) and RSH (Ohm/sq), junction capacitances CBD CBS (F),
#: CJ (F/m^2), CJSW (F/m) and their grading MJ MJSW, built-in potential PB (V), saturation
#: currents IS (A) and JS (A/m^2), overlap capacitances CGSO CGDO CGBO (F/m), lateral
#: diffusion LD (m), mobility UO/U0 (cm^2/Vs), depletion coefficient FC, gate type TPG,
#: surface state density NSS (1/cm^2), TNOM (degC), flicker noise KF and AF. Anything else is
#: refused by name: KP 1e-30 was accepted and failed later with "Timestep too small".
EDGE_PARAM_LIMITS = {
    "VTO": (-10.0, 10.0), "KP": (1e-8, 1e-2), "RD": (0.0, 1e6), "RS": (0.0, 1e6),
    "RSH": (0.0, 1e6), "CBD": (0.0, 1e-9), "CBS": (0.0, 1e-9), "CJ": (0.0, 1.0),
    "CJSW": (0.0, 1e-6), "MJ": (0.0, 1.0), "MJSW": (0.0, 1.0), "PB": (0.1, 2.0),
    "IS": (0.0, 1e-6), "JS": (0.0, 1.0), "CGSO": (0.0, 1e-6), "CGDO": (0.0, 1e-6),
    "CGBO": (0.0, 1e-6), "LD": (0.0, 1e-6), "UO": (1.0, 1e4), "U0": (1.0, 1e4),
    "FC": (0.0, 0.95), "TPG": (-1.0, 1.0), "NSS": (0.0, 1e14), "TNOM": (-200.0, 500.0),
    "KF": (0.0, 1e-20), "AF": (0.1, 10.0)}
#: Range of ``beta = KP W / L`` (S/V): the zero-bias conductance per volt of gate overdrive.
#: Outside it the spec's conductances (1e-12 to 1e9 S) sit at gates of nano- or megavolts.
BETA_LIMITS = (1e-9, 1.0)


def edge_param_problem(key: str, value) -> str | None:
    """Why a twin edge's model may not set parameter ``key`` to ``value``, or None.

    >>> edge_param_problem("KP", 1e-30)
    "KP=1e-30 is outside the physical range of a twin edge's model (1e-08 to 0.01)"
    >>> edge_param_problem("VERSION", "4.8")[:45]
    'VERSION is not a level-1 parameter a twin edg'
    """
    if key == "LEVEL" or key in REFUSED_PARAMS:
        return None                       # checked by MosfetEdge with their own reasons
    if key not in EDGE_PARAM_LIMITS:
        return (f"{key} is not a level-1 parameter a twin edge takes (supported: LEVEL "
                f"{' '.join(EDGE_PARAM_LIMITS)}; 0 or absent: {' '.join(REFUSED_PARAMS)})")
    low, high = EDGE_PARAM_LIMITS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not low <= value <= high:
        return (f"{key}={value!r} is outside the physical range of a twin edge's model "
                f"({low:g} to {high:g})")
    return None


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
        for key, value in params.items():
            problem = edge_param_problem(key, value)
            if problem:
                raise CircuitError(f"{subject}: {problem}")
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
        if not BETA_LIMITS[0] <= self.beta <= BETA_LIMITS[1]:
            raise CircuitError(f"twin mosfet: KP * w / l = {self.beta:g} S/V is outside "
                               f"{BETA_LIMITS[0]:g} to {BETA_LIMITS[1]:g} (the zero-bias "
                               "conductance per volt of gate; the spec's conductances would "
                               "sit at absurd gate voltages)")

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

    :func:`eqprop_hw.twin.netlist.twin_lines` with :class:`MosfetEdges`.

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
    return twin_lines(circuit, settings, inputs, targets, initial_gates, title=title,
                      clock_scale=clock_scale, damage=damage, edges=MosfetEdges(edge, settings))


class MosfetEdges(ConductanceEdges):
    """Trainable edges as MOSFETs whose gate is the storage capacitor (the edge kind
    :func:`twin_mos_lines` gives :func:`eqprop_hw.twin.netlist.twin_lines`): the model card,
    the bulk rail, gate bounds, and per edge a cut gate buffer and the transistor per twin."""

    kind = "transistor "

    def __init__(self, edge: MosfetEdge, settings: TwinSettings):
        super().__init__(settings)
        self.edge = edge
        self.bulk = GROUND

    def check(self, circuit: Circuit) -> None:
        """Refuse a circuit that already uses the edge model's name."""
        name = self.edge.model.name
        if name in circuit.device_models or name in circuit.models:
            raise CircuitError(f"twin: model name {name} is already used in the circuit")

    def model_lines(self) -> list[str]:
        return [model_line(self.edge.model)]

    def rail_lines(self, namer) -> list[str]:
        """The bulk rail's source (none when the bulk is ground)."""
        if self.edge.bulk == 0.0:
            return []
        self.bulk = namer.new_node("tw_bulk")
        return [f"{namer.element('VTW_BULK')} {self.bulk} 0 {fmt(self.edge.bulk)}"]

    def store_bounds(self) -> tuple[float, float]:
        """Gate bounds (V): the gates of g_min and g_max."""
        return gate_bounds(self.settings, self.edge)

    def initial_store(self, initial, count: int) -> np.ndarray:
        """Initial gate voltages (V), given as such, clipped to the bounds."""
        initial = np.asarray(initial, dtype=float)
        if initial.shape != (count,) or not np.isfinite(initial).all():
            raise CircuitError(f"twin: {count} finite initial gate voltages needed, got "
                               f"shape {initial.shape}")
        return np.clip(initial, *self.store_bounds())

    def check_damage(self, damage: dict) -> None:
        """A cut pulls the gate to the bulk rail: that turns the edge off only for VTO > 0."""
        if damage and self.edge.vto <= 0:
            raise CircuitError("twin: cutting a MOSFET edge pulls its gate to the bulk rail, "
                               f"which turns it off only for VTO > 0 (VTO is "
                               f"{self.edge.vto:g} V)")

    def edge_lines(self, namer, element: Element, store: str,
                   intact_node: str | None) -> list[str]:
        """A cut edge's gate buffer (the stored gate while intact, the bulk rail once cut),
        then the edge's transistor in each twin."""
        lines, gate = [], store
        if intact_node is not None:
            gate = namer.new_node(f"tw_g_{element.name.lower()}")
            expr = (f"V=v({store})*v({intact_node})"
                    f"+{fmt(self.edge.bulk)}*(1-v({intact_node}))")
            check_expression(expr, element.name)
            lines.append(f"{namer.element(f'BTW_GATE_{element.name}')} {gate} 0 {expr}")
        a, b = element.nodes
        for twin in ("f", "c"):
            mos = _edge_element(namer.element(f"M{element.name}_{twin.upper()}")[1:],
                                (namer.node(a, twin), namer.node(b, twin)), gate, self.bulk,
                                self.edge)
            lines.append(transistor_line(mos))
        return lines
