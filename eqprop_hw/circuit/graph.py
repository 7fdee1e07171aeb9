"""The circuit graph: the one model every writer and solver reads.

A :class:`Circuit` is an ordered list of :class:`Element` objects (their names are the SPICE
element names), the diode models they use, the input and output ports, the trainable elements,
and a networkx ``MultiGraph`` whose nodes are circuit nodes and whose edges are the two-terminal
branches (controlled sources contribute their output branch). Ground is node ``"0"``.

Values are SI. A resistor's ``value`` is its conductance in S (the API speaks conductance); a
resistor imported from a netlist keeps the resistance text it was given in ``resistance`` so that
export -> import -> export is byte-identical.

Examples
--------
>>> from eqprop_hw.circuit.graph import Element, Circuit, InputPort, OutputPort, validate_circuit
>>> els = [Element("VIN", "V", ("in", "0"), 1.0),
...        Element("R1", "R", ("in", "out"), 1e-3),
...        Element("R2", "R", ("out", "0"), 1e-3)]
>>> c = Circuit("divider", "graph", els, {}, [InputPort("x", "in", (("VIN", 1.0),))],
...             [OutputPort("out", "out")], ["R1", "R2"])
>>> validate_circuit(c)
>>> sorted(c.graph.nodes)
['0', 'in', 'out']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import networkx as nx

from eqprop_hw.circuit import spice_grammar
# Re-exported: the value limits and the controlled-source checks live in modules of their own.
from eqprop_hw.circuit.limits import (  # noqa: F401
    ABSOLUTE_ZERO, CONDUCTANCE_LIMITS, EMISSION_LIMITS, MAX_GAIN, MAX_SOURCE, OPTION_LIMITS,
    REACTANCE_LIMITS, SATURATION_LIMITS, TEMPERATURE_LIMITS, VALUE_MEANING, check_element_value,
    check_model_values, check_options, check_range, check_source_values, check_target_values,
    check_value_limits)
from eqprop_hw.circuit.singular import (  # noqa: F401
    SINGULAR_TOLERANCE, check_cccs_loops, check_dc_matrix, check_vcvs_loops, dc_matrix,
    path_voltage, voltage_forest)
from eqprop_hw.circuit.spice_grammar import GROUND
from eqprop_hw.circuit.cider import check_circuit as check_cider_circuit, is_cider_model
from eqprop_hw.circuit.cider import model_lines as cider_model_lines
from eqprop_hw.circuit.transistors import (BODY_CONTACT_REFUSAL, TRANSISTOR_NODES,
                                           check_transistor, conducting_pairs,
                                           lone_body_contacts, model_level, model_line)
from eqprop_hw.errors import CircuitError


#: Element types and the number of nodes each takes.
NODE_COUNT = {"R": 2, "D": 2, "V": 2, "I": 2, "C": 2, "L": 2, "E": 4, "G": 4, "F": 2, "H": 2, "B": 2}

#: Element and node names (matched whole: see :mod:`eqprop_hw.circuit.spice_grammar`).
ELEMENT_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]*", re.A)
NODE_NAME_RE = re.compile(r"[a-z0-9_]+", re.A)

#: Diode model parameters the solvers understand, with SPICE defaults. Parameters that only
#: matter for transient/AC analyses are accepted and written back but do not change DC.
DIODE_DC_PARAMS = {"IS": 1e-14, "N": 1.0, "RS": 0.0}
DIODE_AC_PARAMS = ("CJO", "CJ0", "VJ", "M", "TT", "FC")

#: Datasheet parameters that change the DC law, with what SPICE assumes when one is not given:
#: reverse breakdown voltage BV (V; None: no breakdown) and the current IBV (A) at -BV, the
#: activation energy EG (eV) and the saturation-current temperature exponent XTI of IS's
#: temperature scaling, and the temperature TNOM (degC; None: the circuit's ``tnom`` option,
#: else 27) at which IS was measured. They are written to netlists only when given (in this
#: order, after IS N RS), so models without them keep their bytes.
DIODE_DATASHEET_PARAMS = {"BV": None, "IBV": 1e-3, "EG": 1.11, "XTI": 3.0, "TNOM": None}

#: Smallest activation energy EG (eV) a model may give: ngspice raises smaller values to it.
DIODE_MIN_EG = 0.1

#: Absolute zero (degC).
ABSOLUTE_ZERO_C = -273.15


@dataclass(frozen=True)
class DiodeModel:
    """A SPICE ``D`` model: I = IS (exp(V / (N Vt)) - 1) (+ SPICE's reverse and gmin terms).

    Attributes
    ----------
    name : str
        Model name as written in ``.model NAME D(...)`` (upper case).
    IS : float
        Saturation current (A).
    N : float
        Emission coefficient (1).
    RS : float
        Series resistance (Ohm); 0 means none.
    extra : tuple of (str, float)
        The other parameters as given, kept so that a netlist round-trips: the datasheet
        parameters of :data:`DIODE_DATASHEET_PARAMS` (read through :meth:`datasheet` and the
        properties ``BV``, ``IBV``, ``EG``, ``XTI``, ``TNOM``) and the ones that do not affect
        the DC operating point (junction capacitance, transit time).

    Raises
    ------
    CircuitError
        For a datasheet parameter out of range: BV or IBV not positive, EG below
        :data:`DIODE_MIN_EG`, TNOM at or below absolute zero, a non-finite value.
    """

    name: str
    IS: float = 1e-14
    N: float = 1.0
    RS: float = 0.0
    extra: tuple = ()

    def __post_init__(self):
        given = dict(self.extra)
        for key, value in given.items():
            if key in DIODE_DATASHEET_PARAMS and not (isinstance(value, (int, float))
                                                       and math.isfinite(value)):
                raise CircuitError(f"diode model {self.name}: {key} must be a finite number, "
                                   f"got {value!r}")
        for key, ok, rule in (("BV", lambda v: v > 0, "positive (V)"),
                              ("IBV", lambda v: v > 0, "positive (A)"),
                              ("EG", lambda v: v >= DIODE_MIN_EG, f">= {DIODE_MIN_EG} eV"),
                              ("TNOM", lambda v: v > ABSOLUTE_ZERO_C,
                               f"above absolute zero ({ABSOLUTE_ZERO_C} degC)")):
            if key in given and not ok(given[key]):
                raise CircuitError(f"diode model {self.name}: {key} must be {rule}, "
                                   f"got {given[key]!r}")

    def datasheet(self, key: str):
        """A datasheet parameter (:data:`DIODE_DATASHEET_PARAMS`) as given, else its default."""
        value = dict(self.extra).get(key, DIODE_DATASHEET_PARAMS[key])
        return None if value is None else float(value)

    @property
    def BV(self) -> float | None:
        """Reverse breakdown voltage (V), None when the model has no breakdown."""
        return self.datasheet("BV")

    @property
    def IBV(self) -> float:
        """Current (A) at the breakdown voltage (default 1 mA)."""
        return self.datasheet("IBV")

    @property
    def EG(self) -> float:
        """Activation energy (eV) of IS's temperature scaling (default 1.11, silicon)."""
        return self.datasheet("EG")

    @property
    def XTI(self) -> float:
        """Saturation-current temperature exponent (default 3)."""
        return self.datasheet("XTI")

    @property
    def TNOM(self) -> float | None:
        """Temperature (degC) IS was measured at; None: the circuit's ``tnom`` (else 27)."""
        return self.datasheet("TNOM")

    def params(self) -> list[tuple[str, float]]:
        """The parameters to write in ``.model`` (DC ones always, extras as given)."""
        out = [("IS", self.IS), ("N", self.N)]
        if self.RS != 0.0:
            out.append(("RS", self.RS))
        return out + list(self.extra)


@dataclass(frozen=True)
class Element:
    """One circuit element, named as in SPICE.

    Attributes
    ----------
    name : str
        SPICE element name; its first letter is its type (``R1``, ``DHI_1_0``, ``VX0P``).
    type : str
        One of ``R D V I C L E G F H B``.
    nodes : tuple of str
        Terminal nodes in SPICE order (``n+ n-``, then ``nc+ nc-`` for E and G).
    value : float or None
        See :data:`VALUE_MEANING`: conductance (S) for R, DC value for V and I, gain for
        controlled sources, F or H for C and L, area for D.
    model : str or None
        Diode model name (D only).
    control : str or None
        Name of the controlling voltage source (F and H only).
    expr : str or None
        Expression of a behavioural source (B only), e.g. ``"I=1e-3*tanh(v(a))"``.
    resistance : float or None
        For R: the resistance (Ohm) exactly as read from a netlist, written back verbatim;
        ``None`` means write ``1/value``.
    params : tuple of (str, float)
        For transistors (M Q J Z, :mod:`eqprop_hw.circuit.transistors`): instance parameters
        such as ``(("w", 1e-5), ("l", 1e-6))``, written ``w=1e-05 l=1e-06``. A transistor has
        no ``value`` and names its model in ``model``.
    """

    name: str
    type: str
    nodes: tuple
    value: float | None = None
    model: str | None = None
    control: str | None = None
    expr: str | None = None
    resistance: float | None = None
    params: tuple = ()

    def with_value(self, value: float) -> "Element":
        """A copy with a new ``value`` (drops a stored resistance text)."""
        return replace(self, value=float(value), resistance=None)

    def resistance_ohm(self) -> float:
        """Resistance in Ohm (R only)."""
        if self.resistance is not None:
            return self.resistance
        return 1.0 / self.value


@dataclass(frozen=True)
class InputPort:
    """One input of the circuit: a value x drives sources ``element`` at ``gain * x``.

    Attributes
    ----------
    name : str
        Input name (``x0``, or the source name for graph specs).
    node : str
        The node the (first) driven source sets.
    sources : tuple of (str, float)
        (source element name, gain) pairs; input doubling gives ``((VXP, 1), (VXN, -1))``.
    """

    name: str
    node: str
    sources: tuple


@dataclass(frozen=True)
class OutputPort:
    """One output: the voltage of ``node`` (V)."""

    name: str
    node: str


@dataclass
class Circuit:
    """A circuit as built from a spec: elements in netlist order plus ports and roles.

    Attributes
    ----------
    name : str
        Circuit name (netlist title).
    kind : str
        Spec kind it was built from (``layered``, ``graph``).
    elements : list of Element
        Every element, in the order the netlist lists them.
    models : dict of str to DiodeModel
        Diode models by name.
    inputs : list of InputPort
        Inputs in order.
    outputs : list of OutputPort
        Outputs in order.
    trainable : list of str
        Names of trainable elements, in netlist order.
    options : dict
        ngspice ``.options`` written into netlists (name -> value).
    crossbars : list of dict or None
        For layered circuits, one dict per crossbar: ``layer`` (1..L), ``rows`` (row nodes),
        ``columns`` (column nodes) and ``elements`` (conductance names, row-major).
    device_models : dict of str to DeviceModel
        Transistor models by name (:class:`eqprop_hw.circuit.transistors.DeviceModel`).
    """

    name: str
    kind: str
    elements: list
    models: dict
    inputs: list
    outputs: list
    trainable: list
    options: dict = field(default_factory=dict)
    crossbars: list | None = None
    device_models: dict = field(default_factory=dict)
    _index: dict = field(default=None, repr=False)
    _graph: nx.MultiGraph = field(default=None, repr=False)
    _names_checked: bool = field(default=False, repr=False)

    def __post_init__(self):
        # The elements are frozen once the circuit exists (a tuple of frozen Elements), so
        # their names and nodes are checked against the netlist grammar here, once: every
        # circuit, however it was made, holds only names a netlist line may carry, and the
        # writers need not pass over 10^5 elements again (copies made by with_values keep
        # every name and skip it).
        self.elements = tuple(self.elements)
        self._index = {}
        for position, element in enumerate(self.elements):
            if element.name in self._index:
                raise CircuitError(f"duplicate element name {element.name!r}")
            self._index[element.name] = position
        if not self._names_checked:
            check_element_names(self.elements)
            self._names_checked = True

    @property
    def names_checked(self) -> bool:
        """Whether every element and node name passed the netlist grammar (always True once
        the circuit exists: :meth:`__post_init__` checks them)."""
        return self._names_checked

    # -- lookups -----------------------------------------------------------------------
    def element(self, name: str) -> Element:
        """The element called ``name`` (KeyError-free: raises CircuitError)."""
        try:
            return self.elements[self._index[name]]
        except KeyError:
            raise CircuitError(f"no element named {name!r} in circuit {self.name!r}") from None

    def has_element(self, name: str) -> bool:
        return name in self._index

    @property
    def nodes(self) -> list[str]:
        """Every node, ground first, then in order of first appearance."""
        seen = {GROUND: None}
        for element in self.elements:
            for node in element.nodes:
                seen.setdefault(node, None)
        return list(seen)

    @property
    def graph(self) -> nx.MultiGraph:
        """The networkx view: nodes are circuit nodes, one edge per element branch.

        Edge key is the element name; edge data ``element`` is the :class:`Element`.
        Controlled sources E and G contribute their output branch only (the control pair
        draws no current); F and H contribute their output branch.
        """
        if self._graph is None:
            graph = nx.MultiGraph(name=self.name)
            graph.add_nodes_from(self.nodes)
            for element in self.elements:
                a, b = element.nodes[0], element.nodes[1]
                if element.type in TRANSISTOR_NODES:    # the channel / collector-emitter
                    a, b = conducting_pairs(element)[0]
                graph.add_edge(a, b, key=element.name, element=element)
            self._graph = graph
        return self._graph

    def trainable_values(self) -> list[float]:
        return [self.element(name).value for name in self.trainable]

    def with_values(self, values: dict) -> "Circuit":
        """A copy whose named elements take new values (e.g. trained conductances, in S)."""
        elements = list(self.elements)
        for name, value in values.items():
            if name not in self._index:
                raise CircuitError(f"parameter {name!r} names no element of circuit {self.name!r}")
            elements[self._index[name]] = elements[self._index[name]].with_value(value)
        return Circuit(self.name, self.kind, elements, self.models, self.inputs, self.outputs,
                       self.trainable, dict(self.options), self.crossbars,
                       self.device_models, _names_checked=self._names_checked)


# -- validation ------------------------------------------------------------------------
def check_name(name: str, what: str = "element") -> None:
    """Raise CircuitError unless ``name`` is a safe SPICE element or node name.

    ``what`` is ``"element"`` or ``"node"``; the grammar is :mod:`eqprop_hw.circuit.spice_grammar`'s.
    """
    spice_grammar.check_name(name, "element" if what == "element" else "node", f"{what} name")


def check_element_names(elements) -> None:
    """Every element name and node name, checked against :mod:`eqprop_hw.circuit.spice_grammar`
    (a few passes over all of them joined; :class:`Circuit` calls it on creation)."""
    spice_grammar.check_names([e.name for e in elements], "element")
    spice_grammar.check_names({n for e in elements for n in e.nodes}, "node")


def check_element_text(element: Element) -> None:
    """An element's model name, controlling source and behavioural expression, checked against
    :mod:`eqprop_hw.circuit.spice_grammar` (its name and nodes are checked with the circuit's)."""
    if element.model is not None:
        spice_grammar.check_name(element.model, "model", f"element {element.name}: model name")
    if element.control is not None:
        spice_grammar.check_name(element.control, "element", f"element {element.name}: "
                                 "controlling source name")
    if element.type == "B" or element.expr is not None:
        spice_grammar.check_expression(element.expr, element.name)


def check_circuit_text(circuit: "Circuit", elements: bool = True) -> None:
    """Every string of ``circuit`` that a netlist writer puts into a line, checked against
    :mod:`eqprop_hw.circuit.spice_grammar` (names, model names and parameters, port names,
    behavioural expressions). Raises :class:`~eqprop_hw.circuit.spice_grammar.NetlistTextError`.

    ``elements=False`` leaves out :func:`check_element_text` of each element (the netlist
    writer calls it on the elements whose line holds such a field, as it writes them). Element
    and node names were checked when the circuit was made (:func:`check_element_names`): the
    elements of a circuit cannot change after that."""
    spice_grammar.check_name(circuit.name, "title", "circuit name")
    if not circuit.names_checked:       # pragma: no cover - every Circuit checks on creation
        check_element_names(circuit.elements)
    if elements:
        for element in circuit.elements:
            if element.model is not None or element.control is not None or \
                    element.expr is not None or element.type == "B":
                check_element_text(element)
    for name, model in circuit.models.items():
        spice_grammar.check_name(name, "model", "model name")
        for key, _value in model.params():
            spice_grammar.check_name(key, "parameter", f"diode model {name}: parameter")
    for name, model in circuit.device_models.items():
        if name != model.name:
            raise CircuitError(f"transistor model {name!r} is stored under another name "
                               f"({model.name!r})")
        if is_cider_model(model):
            cider_model_lines(model)    # CIDER cards: keywords and numbers through the grammar
        else:
            model_line(model)       # names, type and parameters through the grammar
    for port in list(circuit.inputs) + list(circuit.outputs):
        spice_grammar.check_name(port.name, "port", "port name")
        spice_grammar.check_name(port.node, "node", f"port {port.name}: node name")
    for port in circuit.inputs:
        for source, _gain in port.sources:
            spice_grammar.check_name(source, "element", f"input {port.name}: source name")


def validate_circuit(circuit: Circuit) -> None:
    """Check a circuit before anything is simulated or written.

    Raises
    ------
    CircuitError
        On a bad name, a wrong node count, a non-finite value, a non-positive conductance,
        an unknown diode model or controlling source, a port naming nothing, a value outside
        the documented limits (:func:`check_value_limits`), a B4SOI body contact tied to
        nothing (:func:`check_body_contacts`), a loop of voltage sources, a
        floating node (a node with no DC path to ground), a loop of controlled sources that
        leaves the operating point undetermined (:func:`check_vcvs_loops`,
        :func:`check_cccs_loops`) or a singular DC matrix (:func:`check_dc_matrix`).
    """
    check_circuit_text(circuit)
    check_cider_circuit(circuit)        # CIDER devices: element fits model, mesh sizes
    for element in circuit.elements:
        if is_cider_model(circuit.device_models.get(element.model or "")):
            continue
        if element.type in TRANSISTOR_NODES and element.name[0] == element.type:
            check_transistor(element, circuit.device_models)
            if element.control is not None and (
                    not circuit.has_element(element.control) or
                    circuit.element(element.control).type != "V"):
                raise CircuitError(f"element {element.name}: controlling source "
                                   f"{element.control!r} is not a voltage source of the circuit")
            continue
        if element.type not in NODE_COUNT:
            raise CircuitError(f"element {element.name}: unknown element type {element.type!r}")
        if element.name[0] != element.type:
            raise CircuitError(
                f"element {element.name}: name must start with its type letter {element.type!r}")
        if len(element.nodes) != NODE_COUNT[element.type]:
            raise CircuitError(f"element {element.name}: type {element.type} takes "
                               f"{NODE_COUNT[element.type]} nodes, got {len(element.nodes)}")
        if element.type != "B":
            if element.value is None or not math.isfinite(element.value):
                raise CircuitError(f"element {element.name}: value must be a finite number, "
                                   f"got {element.value!r}")
        if element.type == "R" and element.value <= 0:
            raise CircuitError(f"element {element.name}: conductance must be positive (S), "
                               f"got {element.value!r}")
        if element.type in "CL" and element.value <= 0:
            raise CircuitError(f"element {element.name}: {VALUE_MEANING[element.type]} must be "
                               f"positive, got {element.value!r}")
        if element.type == "D":
            if element.model not in circuit.models:
                raise CircuitError(f"element {element.name}: unknown diode model {element.model!r}")
            if element.value <= 0:
                raise CircuitError(f"element {element.name}: diode area must be positive")
        if element.type in "FH":
            if not circuit.has_element(element.control or "") or \
                    circuit.element(element.control).type != "V":
                raise CircuitError(f"element {element.name}: controlling source "
                                   f"{element.control!r} is not a voltage source of the circuit")
        if element.nodes[0] == element.nodes[1] and element.type in "VLEH":
            raise CircuitError(f"element {element.name}: both terminals on node "
                               f"{element.nodes[0]!r} (a shorted source)")
    for model in circuit.models.values():
        if not (model.IS > 0 and model.N > 0 and model.RS >= 0):
            raise CircuitError(f"diode model {model.name}: need IS > 0, N > 0, RS >= 0")
    for port in circuit.inputs:
        for source, _gain in port.sources:
            if not circuit.has_element(source) or circuit.element(source).type not in "VI":
                raise CircuitError(f"input {port.name!r}: {source!r} is not an independent "
                                   "source of the circuit")
    node_set = set(circuit.nodes)
    for port in circuit.outputs:
        if port.node not in node_set:
            raise CircuitError(f"output {port.name!r}: node {port.node!r} is not in the circuit")
    for name in circuit.trainable:
        if not circuit.has_element(name):
            raise CircuitError(f"trainable element {name!r} is not in the circuit")
    check_value_limits(circuit)
    check_body_contacts(circuit)
    check_voltage_loops(circuit)
    check_dc_paths(circuit)
    check_vcvs_loops(circuit)
    check_cccs_loops(circuit)
    check_dc_matrix(circuit)


def check_body_contacts(circuit: Circuit) -> None:
    """Raise CircuitError for a B4SOI MOSFET whose body contact reaches no other terminal
    (:func:`eqprop_hw.circuit.transistors.lone_body_contacts`); CIDER numerical devices
    (NUMOS) have no SOI body and are not looked at."""
    models = circuit.device_models
    items = [(e.name, e.nodes, model_level(models[e.model])
              if e.type == "M" and e.model in models and not is_cider_model(models[e.model])
              else None) for e in circuit.elements]
    for name, node in lone_body_contacts(items)[:1]:
        raise CircuitError(f"element {name}: {BODY_CONTACT_REFUSAL.format(node=node)}")


def check_voltage_loops(circuit: Circuit) -> None:
    """Raise CircuitError for a loop of voltage-defining branches (V, E, H, and L at DC).

    Such a loop fixes a loop voltage twice (or shorts a source): the circuit has no solution
    or infinitely many. The message names the element that closes the loop.
    """
    parent: dict = {}

    def root(node):
        while parent.get(node, node) != node:
            parent[node] = parent.get(parent[node], parent[node])
            node = parent[node]
        return node

    for element in circuit.elements:
        if element.type not in "VEHL":
            continue
        a, b = root(element.nodes[0]), root(element.nodes[1])
        if a == b:
            raise CircuitError(
                f"element {element.name} closes a loop of voltage sources/inductors between "
                f"nodes {element.nodes[0]!r} and {element.nodes[1]!r}: the loop voltage is "
                "fixed twice (add a resistance in the loop)")
        parent[a] = b


def dc_graph(circuit: Circuit) -> nx.Graph:
    """The graph of DC paths: branches that fix or conduct current at DC.

    Capacitors and current sources (I, G, F outputs) are open at DC; controlled sources'
    control terminals draw no current. Every other branch is a DC path.
    """
    graph = nx.Graph()
    graph.add_nodes_from(circuit.nodes)
    for element in circuit.elements:
        if element.type in ("C", "I", "G", "F"):
            continue
        if element.type == "B" and element.expr and element.expr.strip().upper().startswith("I"):
            continue
        if element.type in TRANSISTOR_NODES:
            graph.add_edges_from(conducting_pairs(element))
            continue
        graph.add_edge(element.nodes[0], element.nodes[1])
    return graph


def floating_nodes(circuit: Circuit) -> list[str]:
    """Nodes with no DC path to ground, in circuit order."""
    component = nx.node_connected_component(dc_graph(circuit), GROUND)
    return [node for node in circuit.nodes if node not in component]


def check_dc_paths(circuit: Circuit) -> None:
    """Raise CircuitError naming the first floating node(s) and the elements touching them."""
    floating = floating_nodes(circuit)
    if floating:
        node = floating[0]
        touching = sorted(e.name for e in circuit.elements if node in e.nodes[:2])
        more = f" (and {len(floating) - 1} more)" if len(floating) > 1 else ""
        raise CircuitError(
            f"node {node!r} is floating{more}: no DC path to ground or a source "
            f"(it touches {', '.join(touching) if touching else 'nothing'}); "
            "add a conductance to a driven node")
