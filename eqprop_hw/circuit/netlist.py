"""SPICE netlist text from a circuit graph.

The text is written directly (no per-element objects), deterministically: the same circuit gives
the same bytes. Numbers are written with Python's shortest round-trip ``repr``; a resistor is
written as its resistance ``1/g`` (Ohm) unless it carries the resistance text it was imported
with. Lines starting ``*@`` carry the circuit's ports and trainable elements so that
:mod:`eqprop_hw.circuit.spice_import` can rebuild the spec: export -> import -> export is byte-identical.

Layout::

    eqprop-hw <name>                     (title line)
    *@ eqprop-hw netlist 1
    *@ input <name> <source>:<gain> ...   (one line per input)
    *@ output <name> <node>              (one line per output)
    *@ trainable <pattern or name> ...   (wrapped)
    .options ...
    .model ...
    <elements in circuit order>
    <nudging elements, if any>
    .op | .tran ...
    .end

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> c = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [1, 1]}))
>>> text = write_netlist(c, inputs=[0.5])
>>> "VX0P x0p 0 DC 0.5" in text
True
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from eqprop_hw.errors import CircuitError, quote
from eqprop_hw.circuit.graph import (GROUND, Circuit, Element, check_circuit_text, check_element_text,
                             check_source_values, check_target_values)
from eqprop_hw.circuit.spice_grammar import check_not_reserved, join_lines
from eqprop_hw.circuit.transistors import TRANSISTOR_NODES, model_line, transistor_line
from eqprop_hw.circuit.cider import is_cider_model, model_lines as cider_model_lines

NETLIST_VERSION = "1"

#: The voltage source (and its node) whose DC value is the cross-entropy nudging strength beta.
BETA_SOURCE, BETA_NODE = "VNUDGEBETA", "nudgebeta"
OPTION_ORDER = ("reltol", "abstol", "vntol", "gmin", "itl1", "itl2", "temp", "tnom")


def fmt(value: float) -> str:
    """Shortest text that reads back as the same double (ngspice parses it too)."""
    value = float(value)
    if not math.isfinite(value):
        raise CircuitError(f"cannot write non-finite number {value!r} into a netlist")
    if value == 0.0:
        return "0.0" if math.copysign(1.0, value) > 0 else "-0.0"
    return repr(value)


def element_line(element: Element) -> str:
    """One netlist line for an element (SPICE syntax)."""
    name, kind, nodes = element.name, element.type, " ".join(element.nodes)
    if kind == "R":
        resistance = element.resistance_ohm()
        if math.isfinite(resistance) and resistance != 0.0:
            return f"{name} {nodes} {resistance!r}"
        return f"{name} {nodes} {fmt(resistance)}"
    if kind in TRANSISTOR_NODES:
        return transistor_line(element)
    if kind in "DFHB":
        check_element_text(element)
    if kind == "D":
        # ngspice 39 reads a bare number after the model name as another model name and
        # refuses the line ("could not find a valid modelname"): the area goes as area=...
        area = "" if element.value == 1.0 else f" area={fmt(element.value)}"
        return f"{name} {nodes} {element.model}{area}"
    if kind in "VI":
        return f"{name} {nodes} DC {fmt(element.value)}"
    if kind in "FH":
        return f"{name} {nodes} {element.control} {fmt(element.value)}"
    if kind == "B":
        return f"{name} {nodes} {element.expr}"
    return f"{name} {nodes} {fmt(element.value)}"


def nudge_elements(circuit: Circuit, beta: float, targets: Sequence[float],
                   form: str = "resistor", loss: str = "squared",
                   temperature: float | None = None) -> list[Element]:
    """The nudging elements that add ``beta * L`` to the circuit's co-content.

    Squared loss (``loss="squared"``): a conductance ``beta`` (S) from each output to its
    target. ``beta * L`` with ``L = 1/2 sum_k (V_k - y_k)^2`` is exactly the co-content of a
    conductance ``beta`` from output node k to a voltage source at ``y_k``.

    Cross-entropy loss (``loss="cross_entropy"``, see :mod:`eqprop_hw.learning.losses`): a behavioural
    current source per output injecting ``I_k = -beta dL/dV_k = (beta / tau) (y_k - p_k)``
    (A) into output node k, with ``p = softmax(V / tau)`` and ``beta`` in W. The targets
    ``y_k`` (probabilities, e.g. one-hot) are the DC values of ``VNUDGE{k}`` on node
    ``ynudge{k}`` and ``beta`` is the DC value of ``VNUDGEBETA`` on node ``nudgebeta``, so that
    a loaded circuit switches both with ``alter``. For outputs on nodes ``o0, o1, o2``::

        VNUDGE0 ynudge0 0 DC 1.0            (one per output)
        VNUDGEBETA nudgebeta 0 DC 1e-08
        BNUDGE0 0 o0 I=v(nudgebeta)*(v(ynudge0)-1/(1+exp(v(o1,o0)/0.1)+exp(v(o2,o0)/0.1)))/0.1

    The softmax is written as ``p_k = 1 / sum_j exp((V_j - V_k) / tau)`` (the ``j = k`` term
    written as ``1``), which cannot overflow into NaN: a huge ``V_j - V_k`` only drives
    ``p_k`` to 0, its true limit. (ngspice 39's ``exp`` returns 1e99 for arguments above
    227.96, i.e. ``V_j - V_k > 227.96 tau``; that only changes a ``p_k`` below 1e-99.)
    The expression assumes ``sum_k y_k = 1``; the backends check that.

    Parameters
    ----------
    circuit : Circuit
    beta : float
        Nudging strength: conductance (S) for the squared loss, W for cross-entropy; negative
        values give a negative resistance / reversed current.
    targets : sequence of float
        Per output, in output order: target voltage (V) for the squared loss, target
        probability for cross-entropy.
    form : {"resistor", "vccs"}
        Squared loss only. ``resistor``: ``RNUDGE{k}`` of ``1/beta`` Ohm to ``VNUDGE{k}`` when
        ``beta > 0``; a negative beta is written in the VCCS form, since a conductance must be
        positive. ``vccs``: a transconductance ``GNUDGE{k}`` of gain ``beta`` injecting
        ``beta (y_k - V_k)`` into the output (same node equations; ``beta = 0`` is exactly no
        nudge).
    loss : {"squared", "cross_entropy"}
    temperature : float, optional
        Softmax temperature tau (V) of the cross-entropy loss (default
        :data:`eqprop_hw.learning.losses.DEFAULT_TEMPERATURE`).

    Returns
    -------
    list of Element
    """
    from eqprop_hw.learning.losses import check_loss
    loss, temperature = check_loss(loss, temperature)
    if len(targets) != len(circuit.outputs):
        raise CircuitError(f"expected {len(circuit.outputs)} targets (one per output), "
                           f"got {len(targets)}")
    if not math.isfinite(beta):
        raise CircuitError(f"beta must be finite, got {beta!r}")
    for port, target in zip(circuit.outputs, targets):
        if not math.isfinite(float(target)):
            raise CircuitError(f"target for output {port.name!r} must be finite, got {target!r}")
    if loss != "cross_entropy":
        check_target_values(circuit, [float(target) for target in targets])
    if loss == "cross_entropy":
        elements = _cross_entropy_nudge(circuit, float(beta), targets, temperature)
    else:
        elements = _squared_nudge(circuit, float(beta), targets, form)
    for element in elements:
        if circuit.has_element(element.name):
            raise CircuitError(f"circuit already has an element named {element.name}; "
                               "NUDGE names are reserved for nudging elements")
    check_not_reserved(circuit.nodes, "node", "resistive")
    return elements


def _squared_nudge(circuit: Circuit, beta: float, targets, form: str) -> list[Element]:
    if form not in ("resistor", "vccs"):
        raise CircuitError(f"unknown nudge form {form!r} (choose from resistor, vccs)")
    if form == "resistor" and beta == 0.0:
        return []
    if form == "resistor" and beta < 0.0:
        form = "vccs"
    elements = []
    for k, (port, target) in enumerate(zip(circuit.outputs, targets)):
        target_node = f"ynudge{k}"
        elements.append(Element(f"VNUDGE{k}", "V", (target_node, "0"), float(target)))
        if form == "resistor":
            elements.append(Element(f"RNUDGE{k}", "R", (port.node, target_node), beta))
        else:
            elements.append(Element(f"GNUDGE{k}", "G", ("0", port.node, target_node, port.node),
                                    beta))
    return elements


def cross_entropy_expression(circuit: Circuit, k: int, temperature: float) -> str:
    """The ``I=...`` expression of ``BNUDGE{k}`` (see :func:`nudge_elements`)."""
    tau = fmt(temperature)
    nodes = [port.node for port in circuit.outputs]
    for node in nodes:
        if node == GROUND:
            raise CircuitError("a cross-entropy nudge needs every output on a node other than "
                               "ground")
    terms = ["1"] + [f"exp(v({node},{nodes[k]})/{tau})" for j, node in enumerate(nodes)
                     if j != k]
    return (f"I=v({BETA_NODE})*(v(ynudge{k})-1/({'+'.join(terms)}))/{tau}")


def _cross_entropy_nudge(circuit: Circuit, beta: float, targets,
                         temperature: float) -> list[Element]:
    if len(circuit.outputs) < 2:
        raise CircuitError("the cross-entropy loss needs at least two outputs (the softmax of "
                           "one output is always 1)")
    if beta != 0.0:
        from eqprop_hw.learning.losses import check_probabilities
        check_probabilities(np.asarray([targets], dtype=float))
    elements = [Element(f"VNUDGE{k}", "V", (f"ynudge{k}", "0"), float(target))
                for k, target in enumerate(targets)]
    elements.append(Element(BETA_SOURCE, "V", (BETA_NODE, "0"), beta))
    for k, port in enumerate(circuit.outputs):
        elements.append(Element(f"BNUDGE{k}", "B", ("0", port.node),
                                expr=cross_entropy_expression(circuit, k, temperature)))
    return elements


def source_values(circuit: Circuit, inputs: Sequence[float] | None) -> dict[str, float]:
    """DC value of every input-driven source for one input vector (V or A)."""
    if inputs is None:
        return {}
    inputs = np.asarray(inputs, dtype=float).ravel()
    if inputs.size != len(circuit.inputs):
        raise CircuitError(f"expected {len(circuit.inputs)} input values "
                           f"({', '.join(p.name for p in circuit.inputs)}), got {inputs.size}")
    if not np.all(np.isfinite(inputs)):
        bad = [circuit.inputs[i].name for i in np.flatnonzero(~np.isfinite(inputs))]
        raise CircuitError(f"input values must be finite numbers; not finite: {', '.join(bad)}")
    check_source_values(circuit, inputs)
    values = {}
    for port, x in zip(circuit.inputs, inputs):
        for source, gain in port.sources:
            values[source] = float(gain) * float(x)
    return values


def trainable_patterns(circuit: Circuit) -> list[str]:
    """Short glob patterns matching exactly the trainable elements (names where needed).

    A name ``PREFIX_rest`` is covered by ``PREFIX_*`` when every element with that prefix is
    trainable; element names hold only ``[A-Z0-9_]``, so the pattern is a plain prefix test.
    """
    trainable = set(circuit.trainable)
    by_prefix: dict[str, list[str]] = {}
    for element in circuit.elements:
        if "_" in element.name:
            by_prefix.setdefault(element.name.split("_")[0], []).append(element.name)
    patterns, covered = [], set()
    for name in circuit.trainable:
        if name in covered:
            continue
        prefix = name.split("_")[0]
        members = by_prefix.get(prefix, []) if "_" in name else []
        if members and trainable.issuperset(members):
            patterns.append(prefix + "_*")
            covered.update(members)
        else:
            patterns.append(name)
            covered.add(name)
    return patterns


def option_and_model_lines(circuit: Circuit) -> list[str]:
    """The ``.options`` line (if the circuit sets any) and one ``.model`` line per diode and
    transistor model.

    Examples
    --------
    >>> from eqprop_hw.circuit.graph import Circuit, DiodeModel
    >>> c = Circuit("c", "graph", [], {"DX": DiodeModel("DX", 1e-14, 1.0)}, [], [], [],
    ...             {"temp": 27.0})
    >>> option_and_model_lines(c)
    ['.options temp=27.0', '.model DX D(IS=1e-14 N=1.0)']
    """
    lines = []
    options = [f"{key}={fmt(circuit.options[key])}" for key in OPTION_ORDER
               if key in circuit.options]
    if options:
        lines.append(".options " + " ".join(options))
    for name in sorted(circuit.models):
        model = circuit.models[name]
        params = " ".join(f"{key}={fmt(value)}" for key, value in model.params())
        lines.append(f".model {name} D({params})")
    for name in sorted(circuit.device_models):
        model = circuit.device_models[name]
        lines += cider_model_lines(model) if is_cider_model(model) else [model_line(model)]
    return lines


def wrap_words(prefix: str, words: list[str], width: int = 100) -> list[str]:
    """``prefix`` followed by ``words``, cut into lines of at most ``width`` characters (a
    word longer than that gets a line of its own); continuation lines start with ``prefix``.

    Examples
    --------
    >>> wrap_words("+", ["1.0", "2.0", "3.0"], width=9)
    ['+ 1.0 2.0', '+ 3.0']
    """
    return _wrap(prefix, words, width)


def _wrap(prefix: str, words: list[str], width: int = 100) -> list[str]:
    lines, current = [], prefix
    for word in words:
        if len(current) + 1 + len(word) > width and current != prefix:
            lines.append(current)
            current = prefix
        current += " " + word
    if current != prefix:
        lines.append(current)
    return lines


def write_netlist(circuit: Circuit, *args, **kwargs) -> str:
    """The SPICE netlist of a circuit as text: :func:`netlist_lines` (same parameters) joined
    by :func:`eqprop_hw.circuit.spice_grammar.join_lines`, ending with ``.end`` and a newline."""
    return join_lines(netlist_lines(circuit, *args, **kwargs))


#: Analysis cards the writer accepts besides "op" and "none": a keyword and numbers.
ANALYSIS_CARD = re.compile(r"\.(?:tran|op|dc|ac|tf|noise)(?: [A-Za-z0-9_.+-]+)*", re.A)


def netlist_lines(circuit: Circuit, inputs: Sequence[float] | None = None,
                  beta: float | None = None, targets: Sequence[float] | None = None,
                  analysis: str = "op", nudge_form: str = "resistor", loss: str = "squared",
                  temperature: float | None = None) -> list[str]:
    """The SPICE netlist of a circuit, one string per line.

    Every string that goes into a line is checked against :mod:`eqprop_hw.circuit.spice_grammar`
    first (:func:`eqprop_hw.circuit.graph.check_circuit_text`): a circuit that did not come through a
    spec (built in Python, or altered after loading) cannot put a line break, a control card
    or anything else outside the grammar into the netlist.

    Parameters
    ----------
    circuit : Circuit
    inputs : sequence of float, optional
        Input values in input order; sources take ``gain * x``. Without it sources keep their
        spec values (0 V for inputs).
    beta, targets : float, sequence of float, optional
        With both, the nudging elements (see :func:`nudge_elements`) are added.
    analysis : str
        ``"op"``, ``"none"`` (no analysis line, for the shared library), or a full analysis
        card such as ``".tran 1e-9 1e-6"`` (:data:`ANALYSIS_CARD`: a keyword and numbers).
    nudge_form : {"resistor", "vccs"}
        Form of the squared-loss nudge.
    loss : {"squared", "cross_entropy"}
        Which loss the nudging elements implement (targets are probabilities and beta is in
        W for ``cross_entropy``).
    temperature : float, optional
        Softmax temperature (V) of the cross-entropy nudge.

    Returns
    -------
    list of str
        The lines, ``.end`` last, none holding a line break.

    Raises
    ------
    CircuitError
        On a string outside the grammar (:class:`~eqprop_hw.circuit.spice_grammar.NetlistTextError`),
        bad inputs, targets or nudging settings.
    """
    check_circuit_text(circuit, elements=False)   # element_line checks each element's fields
    values = source_values(circuit, inputs)
    elements = [e.with_value(values[e.name]) if e.name in values else e
                for e in circuit.elements]
    if beta is not None or targets is not None:
        if beta is None or targets is None:
            raise CircuitError("nudging needs both beta and targets")
        elements += nudge_elements(circuit, float(beta), list(targets), nudge_form, loss,
                                   temperature)
    lines = [f"eqprop-hw {circuit.name}", f"*@ eqprop-hw netlist {NETLIST_VERSION}"]
    for port in circuit.inputs:
        sources = " ".join(f"{s}:{fmt(g)}" for s, g in port.sources)
        lines.append(f"*@ input {port.name} {sources}")
    for port in circuit.outputs:
        lines.append(f"*@ output {port.name} {port.node}")
    lines += _wrap("*@ trainable", trainable_patterns(circuit))
    lines += option_and_model_lines(circuit)
    lines += [element_line(e) for e in elements]
    if analysis == "op":
        lines.append(".op")
    elif analysis != "none":
        if not isinstance(analysis, str) or not ANALYSIS_CARD.fullmatch(analysis):
            raise CircuitError(f"analysis must be 'op', 'none' or one SPICE analysis card "
                               f"(.tran/.op/.dc/.ac/.tf/.noise and numbers), got "
                               f"{quote(str(analysis))}")
        lines.append(analysis)
    lines.append(".end")
    return lines
