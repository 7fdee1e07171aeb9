"""The twin-network transient netlist: both twins, the clamp, the per-edge update circuitry.

For a resistive circuit whose trainable elements are conductances, the netlist holds:

- **shared nodes**: ground and every node set by a grounded voltage source (inputs, biases,
  diode rails); their sources appear once and both twins connect to them. Input sources play
  the samples as PWL waveforms, one window of ``sample_time`` per sample.
- **two twins**: every other element twice, its non-shared nodes suffixed ``_f`` (free twin)
  and ``_c`` (clamped twin), its name suffixed ``_F`` / ``_C``.
- **the clamp**: output k of the clamped twin is held by a behavioural voltage source (an
  ideal summing amplifier) at ``(1 - eta) v(o_f) + eta v(tw_y<k>)``, with the target
  ``tw_y<k>`` played as a PWL source.
- **per trainable edge g** (nodes a, b): a storage capacitor ``C`` on node ``tw_<g>`` whose
  voltage sets the edge in both twins, ``I = G_unit v(tw_<g>) (v(a) - v(b))`` (a
  voltage-controlled conductance, a behavioural current source), and the update amplifier,
  a current source into the capacitor

      C dv/dt = clock(t) A (dV_F^2 - dV_C^2),      A = lr C / (2 eta G_unit T_on)

  where ``clock`` (0 while the window's inputs settle, 1 after) is a PWL source and ``T_on``
  its integral over one window, so one window changes ``g = G_unit v`` by exactly the
  discrete Coupled Learning step ``-lr (dV_C^2 - dV_F^2) / (2 eta)`` if the drops stayed
  constant during it. The amplifier stops at the bounds (no charge past ``g_max`` / below
  ``g_min``) and, with ``update_limit`` set, saturates as ``L tanh(I / L)``; an optional
  ``leakage`` conductance drains each capacitor.

The analysis is ``.tran`` with ``.options interp`` at one point per window, saving only the
capacitor voltages: ``ngspice -b -r out.raw twin.cir`` runs it as it is.

Examples
--------
>>> import eqprop_hw
>>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
>>> settings = TwinSettings(eta=0.5, learning_rate=3e-5, g_min=1e-8, g_max=1e-3)
>>> x = np.array([[0.0, 1.0], [1.0, 1.0]]); y = np.array([[0.9], [0.1]])
>>> lines = twin_lines(net.circuit, settings, x, y, net.circuit.trainable_values())
>>> lines[0], lines[-2][:5], lines[-1]
('eqprop-hw twin xor', '.tran', '.end')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from eqprop_hw.circuit.graph import GROUND, Circuit, Element
from eqprop_hw.circuit.netlist import element_line, fmt, option_and_model_lines, wrap_words
from eqprop_hw.circuit.spice_grammar import check_expression, check_name
from eqprop_hw.errors import CircuitError

#: Element types a twin circuit copies (F/H would sense a shared source's current, B, C and L
#: are not part of the resistive networks this rule trains).
TWIN_TYPES = "RDVIEG"


@dataclass(frozen=True)
class TwinSettings:
    """Settings of the twin-network learning circuitry.

    Update equation, per trainable conductance g = G_unit v (v: its capacitor's voltage)::

        C dv/dt = clock(t) A (dV_F^2 - dV_C^2),    A = learning_rate C / (2 eta G_unit T_on)

    with dV_F, dV_C the edge's drops in the free and the clamped twin, clamp
    ``V_C,out = V_F,out + eta (y - V_F,out)`` and T_on the clock's integral per window.
    """

    eta: float = 0.1
    """Clamped fraction of the output error, in (0, 1]."""
    learning_rate: float = 1e-5
    """Discrete-equivalent step per sample (S/V^2): dg = -learning_rate d per window."""
    g_min: float = 1e-8
    """Lower bound of every trainable conductance (S): the amplifier stops there."""
    g_max: float = 1e-3
    """Upper bound (S)."""
    sample_time: float = 1e-3
    """Window per sample (s)."""
    settle_fraction: float = 0.1
    """Part of each window the clock is off while inputs and targets settle."""
    rise_fraction: float = 0.01
    """Ramp time of the inputs, targets and the clock, as a fraction of the window."""
    capacitance: float = 1e-9
    """Storage capacitor per edge (F)."""
    conductance_per_volt: float | None = None
    """G_unit (S/V): conductance per volt on the capacitor; default g_max per volt."""
    leakage: float = 0.0
    """Conductance (S) across each storage capacitor (0: none)."""
    update_limit: float | None = None
    """Saturation current (A) of the update amplifier (None: linear, unbounded)."""
    reltol: float = 1e-6
    """ngspice's relative tolerance for the transient (the circuit's own is for DC)."""

    def __post_init__(self):
        positive = ("learning_rate", "g_min", "g_max", "sample_time", "capacitance", "reltol")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise CircuitError(f"twin: {name} must be a positive number, got {value!r}")
        if not 0 < self.eta <= 1:
            raise CircuitError(f"twin: eta must be in (0, 1], got {self.eta!r}")
        if not self.g_min < self.g_max:
            raise CircuitError(f"twin: g_min ({self.g_min!r}) must be below g_max "
                               f"({self.g_max!r})")
        if not (0 < self.rise_fraction <= self.settle_fraction and
                self.settle_fraction + 2 * self.rise_fraction < 1):
            raise CircuitError("twin: need 0 < rise_fraction <= settle_fraction and "
                               "settle_fraction + 2 rise_fraction < 1")
        for name in ("conductance_per_volt", "update_limit"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise CircuitError(f"twin: {name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.leakage) and self.leakage >= 0):
            raise CircuitError(f"twin: leakage must be >= 0 S, got {self.leakage!r}")

    @property
    def unit(self) -> float:
        """G_unit (S/V)."""
        return self.conductance_per_volt or self.g_max

    @property
    def on_time(self) -> float:
        """Integral of the learning clock over one window (s)."""
        return self.sample_time * (1.0 - self.settle_fraction - self.rise_fraction)

    @property
    def gain(self) -> float:
        """The update amplifier's transconductance A (A/V^2)."""
        return self.learning_rate * self.capacitance / (2.0 * self.eta * self.unit *
                                                        self.on_time)

    def as_dict(self) -> dict:
        """Every field by name (for metrics)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def twin_schedule(samples: int, epochs: int, seed: int) -> np.ndarray:
    """Sample order of a run: epoch e plays ``default_rng([seed, e]).permutation(samples)``,
    the order the training loop uses (batch size 1).

    Examples
    --------
    >>> twin_schedule(3, 2, 0).shape
    (6,)
    """
    if samples < 1 or epochs < 1:
        raise CircuitError("twin: need at least one sample and one epoch")
    return np.concatenate([np.random.default_rng([seed, epoch]).permutation(samples)
                           for epoch in range(epochs)])


def _pinned(circuit: Circuit) -> dict:
    """Node -> grounded voltage source setting it."""
    pinned = {}
    for element in circuit.elements:
        if element.type == "V" and GROUND in element.nodes[:2]:
            node = element.nodes[0] if element.nodes[1] == GROUND else element.nodes[1]
            if node != GROUND:
                pinned[node] = element.name
    return pinned


class _Namer:
    """Twin names: shared nodes kept, others suffixed; every new name checked unique."""

    def __init__(self, circuit: Circuit, shared: set):
        self.shared = shared
        self.nodes = set(circuit.nodes) | {GROUND}
        self.elements = {e.name.upper() for e in circuit.elements}
        self.made_nodes: set = set()
        self.made_elements: set = set()

    def node(self, node: str, twin: str) -> str:
        if node in self.shared:
            return node
        return self.new_node(f"{node}_{twin}")

    def new_node(self, name: str) -> str:
        if name in self.nodes and name not in self.made_nodes:
            raise CircuitError(f"twin: node name {name} is already used in the circuit; "
                               "rename it to build the twin network")
        self.made_nodes.add(name)
        return check_name(name, "node")

    def element(self, name: str) -> str:
        if name.upper() in self.elements or name.upper() in self.made_elements:
            raise CircuitError(f"twin: element name {name} is already used; rename the "
                               "circuit's element to build the twin network")
        self.made_elements.add(name.upper())
        return check_name(name, "element")


def _v(node: str) -> str:
    return "0" if node == GROUND else f"v({node})"


def _drop(a: str, b: str) -> str:
    return f"({_v(a)}-{_v(b)})"


def _pwl_lines(name: str, nodes: str, times: np.ndarray, values: np.ndarray) -> list[str]:
    """A PWL voltage source ``name`` between ``nodes`` (their text, already checked)."""
    words = [f"{fmt(t)} {fmt(v)}" for t, v in zip(times, values)]
    lines = [f"{check_name(name, 'element')} {nodes} PWL("]
    lines += wrap_words("+", words)
    lines.append("+ )")
    return lines


def _window_points(values: np.ndarray, settings: TwinSettings) -> tuple:
    """PWL points for per-window values: step to the next value over the rise time."""
    period, rise = settings.sample_time, settings.sample_time * settings.rise_fraction
    times, points = [0.0], [values[0]]
    for i in range(1, len(values)):
        if values[i] != values[i - 1]:
            times += [i * period, i * period + rise]
            points += [values[i - 1], values[i]]
    times.append(len(values) * period)
    points.append(values[-1])
    return np.array(times), np.array(points)


def _clock_points(scale: np.ndarray, settings: TwinSettings) -> tuple:
    """The learning clock: 0 while a window settles, ramps to ``scale[i]`` (1, or the
    learning-rate decay of the window's epoch), back to 0 at the window's end."""
    period = settings.sample_time
    settle, rise = period * settings.settle_fraction, period * settings.rise_fraction
    times, values = [0.0], [0.0]
    for i, height in enumerate(scale):
        start = i * period
        times += [start + settle, start + settle + rise, start + period - rise,
                  start + period]
        values += [0.0, height, height, 0.0]
    return np.array(times), np.array(values)


def twin_lines(circuit: Circuit, settings: TwinSettings, inputs, targets, initial,
               title: str | None = None, clock_scale=None,
               damage: dict | None = None, edges=None) -> list[str]:
    """The twin network's transient netlist, one string per line.

    Long because: it writes the netlist's sections in order (shared sources, both twins, each
    edge's capacitor, conductances, amplifier and cut, the clamps, the clock, the analysis),
    each a short loop over the same name maps that the sections share.

    Parameters
    ----------
    circuit : Circuit
        A resistive circuit; its trainable elements must be conductances (R).
    settings : TwinSettings
    inputs : array_like, shape (windows, n_inputs)
        The input values played, one row per window (the sources take ``gain * x``).
    targets : array_like, shape (windows, n_outputs)
        Target voltages (V), one row per window.
    initial : sequence of float
        Initial conductances (S) in ``circuit.trainable`` order (clipped to the bounds).
    title : str, optional
        Title line (default ``eqprop-hw twin <circuit name>``).
    clock_scale : array_like, shape (windows,), optional
        Height of the learning clock per window (default 1): the learning rate's factor in
        that window, e.g. ``lr_decay ** epoch``.
    damage : dict of str to int, optional
        Trainable element -> window at whose start the edge is cut: a PWL "intact" signal
        (1, then 0 over the rise time) multiplies its conductance in both twins and its update
        from then on, as the edges cut mid-run in the laboratory experiments.
    edges : ConductanceEdges or an object with its methods, optional
        What an edge is and how its storage voltage sets it (default
        ``ConductanceEdges(settings)``; :mod:`eqprop_hw.twin.mosfet` passes MOSFET edges).

    Returns
    -------
    list of str
        The lines, ``.end`` last. Saved vectors: ``v(tw_<element>)`` per trainable element,
        in trainable order, at ``t = i sample_time`` (state after i windows).
    """
    edge_kind = ConductanceEdges(settings) if edges is None else edges
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
    edge_kind.check(circuit)
    trainable = set(circuit.trainable)
    pinned = _pinned(circuit)
    namer = _Namer(circuit, set(pinned) | {GROUND})
    driven = {source: (k, gain) for k, port in enumerate(circuit.inputs)
              for source, gain in port.sources}
    outputs = [port.node for port in circuit.outputs]
    for node in outputs:
        if node in pinned or node == GROUND:
            raise CircuitError(f"twin: output node {node} is set by a source; it cannot be "
                               "clamped")
    lines = [title or f"eqprop-hw twin {circuit.name}",
             f"* {edge_kind.kind}twin-network Coupled Learning: eta={fmt(settings.eta)}, "
             f"{windows} windows of {fmt(settings.sample_time)} s"]
    options = dict(circuit.options, reltol=settings.reltol)
    lines += option_and_model_lines(replace(circuit, options=options, _names_checked=True))
    lines += edge_kind.model_lines()
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
    edges.sort(key=lambda element: order[element.name])       # trainable order
    for element in shared_sources:
        if element.name in driven:
            k, gain = driven[element.name]
            times, values = _window_points(gain * inputs[:, k], settings)
            lines += _pwl_lines(element.name, " ".join(element.nodes), times, values)
        else:
            lines.append(element_line(element))
    lines += edge_kind.rail_lines(namer)
    for twin in ("f", "c"):
        for element in copies:
            nodes = tuple(namer.node(n, twin) for n in element.nodes)
            copy = Element(namer.element(f"{element.name}_{twin.upper()}"), element.type,
                           nodes, element.value, element.model, element.control, element.expr,
                           element.resistance)
            lines.append(element_line(copy))
    v_min, v_max = edge_kind.store_bounds()
    initial = edge_kind.initial_store(initial, len(edges))
    damage = _checked_damage(damage, edges, windows)
    edge_kind.check_damage(damage)
    clock = namer.new_node("tw_clock")
    store_nodes = []
    for element in edges:
        store = namer.new_node(f"tw_{element.name.lower()}")
        store_nodes.append(store)
        intact_node = None
        if element.name in damage:
            intact_node = namer.new_node(f"tw_intact_{element.name.lower()}")
            cut = np.r_[np.ones(damage[element.name]), np.zeros(windows - damage[element.name])]
            times, values = _window_points(cut, settings)
            lines += _pwl_lines(namer.element(f"VTW_INTACT_{element.name}"),
                                f"{intact_node} 0", times, values)
        lines += edge_kind.edge_lines(namer, element, store, intact_node)
        lines += _update_lines(namer, settings, element, store, clock, intact_node,
                               (v_min, v_max))
    for k, node in enumerate(outputs):
        free, held = namer.node(node, "f"), namer.node(node, "c")
        target = namer.new_node(f"tw_y{k}")
        times, values = _window_points(targets[:, k], settings)
        lines += _pwl_lines(namer.element(f"VTW_Y{k}"), f"{target} 0", times, values)
        expr = f"V={fmt(1.0 - settings.eta)}*v({free})+{fmt(settings.eta)}*v({target})"
        check_expression(expr, f"BTW_CLAMP{k}")
        lines.append(f"{namer.element(f'BTW_CLAMP{k}')} {held} 0 {expr}")
    scale = np.ones(windows) if clock_scale is None else np.asarray(clock_scale, dtype=float)
    if scale.shape != (windows,) or not (np.isfinite(scale).all() and (scale >= 0).all()):
        raise CircuitError(f"twin: clock_scale must be {windows} numbers >= 0")
    times, values = _clock_points(scale, settings)
    lines += _pwl_lines(namer.element("VTW_CLOCK"), f"{clock} 0", times, values)
    lines += wrap_words(".ic", [f"v({node})={fmt(value)}"
                                for node, value in zip(store_nodes, initial)])
    lines.append(".options interp")
    lines += wrap_words(".save", [f"v({node})" for node in store_nodes])
    period = settings.sample_time
    lines.append(f".tran {fmt(period)} {fmt(windows * period)} 0 {fmt(period / 4)}")
    lines.append(".end")
    return lines


def _checked_damage(damage, edges, windows: int) -> dict:
    """``damage`` checked: trainable elements, each cut at a window in [1, windows - 1]."""
    damage = dict(damage or {})
    unknown = sorted(set(damage) - {e.name for e in edges})
    if unknown:
        raise CircuitError(f"twin: damaged element {unknown[0]} is not a trainable element")
    for name, window in damage.items():
        if not (isinstance(window, (int, np.integer)) and 0 < window < windows):
            raise CircuitError(f"twin: element {name} must be cut at a window in "
                               f"[1, {windows - 1}], got {window!r}")
    return damage


def _update_lines(namer, settings: TwinSettings, element: Element, store: str, clock: str,
                  intact_node: str | None, bounds: tuple) -> list[str]:
    """One edge's update circuitry: the amplifier ``A clock (dV_F^2 - dV_C^2)`` (A) on its own
    node as a voltage (1 V per A), the gated charging current into the storage capacitor,
    which stops at the storage voltage's ``bounds``, the capacitor and its leakage."""
    a, b = element.nodes
    fa, fb, ca, cb = (namer.node(a, "f"), namer.node(b, "f"), namer.node(a, "c"),
                      namer.node(b, "c"))
    intact = "" if intact_node is None else f"*v({intact_node})"
    rate_node = namer.new_node(f"tw_i_{element.name.lower()}")
    rate = f"{fmt(settings.gain)}*v({clock}){intact}*({_drop(fa, fb)}^2-{_drop(ca, cb)}^2)"
    if settings.update_limit is not None:
        limit = fmt(settings.update_limit)
        rate = f"{limit}*tanh(({rate})/{limit})"
    expr = f"V={rate}"
    check_expression(expr, element.name)
    lines = [f"{namer.element(f'BA_{element.name}')} {rate_node} 0 {expr}"]
    # Charge flows in only below the upper bound, out only above the lower one.
    v_min, v_max = bounds
    expr = (f"I=max(v({rate_node}),0)*u({fmt(v_max)}-v({store}))"
            f"+min(v({rate_node}),0)*u(v({store})-{fmt(v_min)})")
    check_expression(expr, element.name)
    lines.append(f"{namer.element(f'BU_{element.name}')} 0 {store} {expr}")
    lines.append(f"{namer.element(f'CTW_{element.name}')} {store} 0 "
                 f"{fmt(settings.capacitance)}")
    if settings.leakage > 0:
        lines.append(f"{namer.element(f'RTW_{element.name}')} {store} 0 "
                     f"{1.0 / settings.leakage!r}")
    return lines


class ConductanceEdges:
    """Trainable edges as voltage-controlled conductances ``g = G_unit v`` in both twins (a
    behavioural current source ``I = G_unit v(store) (v(a) - v(b))`` per twin): the edge kind
    :func:`twin_lines` writes by default. :mod:`eqprop_hw.twin.mosfet` has the transistor one,
    with the same methods."""

    kind = ""
    """Word before "twin-network" in the netlist's comment line."""

    def __init__(self, settings: TwinSettings):
        self.settings = settings

    def check(self, circuit: Circuit) -> None:
        """Refuse a circuit the edges cannot be written into (nothing to check here)."""

    def model_lines(self) -> list[str]:
        """Model cards the edges need (none)."""
        return []

    def rail_lines(self, namer) -> list[str]:
        """Sources the edges share, written after the shared sources (none)."""
        return []

    def store_bounds(self) -> tuple[float, float]:
        """The storage voltages (V) of g_min and g_max."""
        return self.settings.g_min / self.settings.unit, self.settings.g_max / self.settings.unit

    def initial_store(self, initial, count: int) -> np.ndarray:
        """Initial storage voltages (V) from conductances (S), clipped to the bounds."""
        settings = self.settings
        initial = np.clip(np.asarray(initial, dtype=float), settings.g_min, settings.g_max)
        if initial.shape != (count,):
            raise CircuitError(f"twin: {count} initial values needed, got {initial.shape}")
        return initial / settings.unit

    def check_damage(self, damage: dict) -> None:
        """Refuse cuts the edges cannot make (any cut works here)."""

    def edge_lines(self, namer, element: Element, store: str,
                   intact_node: str | None) -> list[str]:
        """The edge in both twins, set by ``v(store)`` and cut by ``v(intact_node)``."""
        intact = "" if intact_node is None else f"*v({intact_node})"
        a, b = element.nodes
        lines = []
        for twin in ("f", "c"):
            na, nb = namer.node(a, twin), namer.node(b, twin)
            expr = f"I={fmt(self.settings.unit)}*v({store}){intact}*{_drop(na, nb)}"
            check_expression(expr, element.name)
            lines.append(f"{namer.element(f'B{element.name}_{twin.upper()}')} {na} {nb} {expr}")
        return lines
