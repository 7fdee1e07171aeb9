"""Validation of ``kind: lc`` specs (Hamiltonian LC oscillator networks).

:func:`parse_lc` is called by :func:`eqprop_hw.circuit.spec.parse_spec` for ``kind: lc``; every error
is a :class:`~eqprop_hw.errors.SpecError` naming the file, the line and the element.

Schema (details in ``docs/specs.md``)::

    name: lc_demo
    kind: lc
    elements:                                   # C, L, I (and R, which makes it lossy)
      - {name: C1,  nodes: [n1, 0],  c: 1.0e-9}            # node capacitor (F)
      - {name: C2,  nodes: [n2, 0],  c: 1.0e-9, v_nl: 0.5}  # varactor q = c (V + V^3/(3 v_nl^2))
      - {name: CC12, nodes: [n1, n2], c: 2.0e-10}          # coupling capacitor (F)
      - {name: L1,  nodes: [n1, 0],  l: 1.0e-6}            # linear inductor (H)
      - {name: L2,  nodes: [n2, 0],  l: 1.0e-6, phi_nl: 5.0e-8}   # I = phi/L (1 + (phi/phi_nl)^2)
      - {name: IIN, nodes: [0, n1], waveform: {type: sine, amplitude: 1.0e-3, frequency: 5.0e6}}
    inputs: [IIN]                               # current sources (default: every I)
    outputs: [{name: y0, node: n2}]             # node flux (Wb); or {name, element: L2} (A)
    targets: [{type: sine, amplitude: 1.0e-8, frequency: 5.0e6}]   # one waveform per output
    trainable: ["CC*"]                          # default: every coupling capacitor; any C or
                                                # L may be listed, linear or nonlinear
    time: {tstop: 1.0e-6, tstep: 1.0e-9}        # s
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from eqprop_hw.circuit.graph import CONDUCTANCE_LIMITS, MAX_SOURCE, REACTANCE_LIMITS
from eqprop_hw.lc.model import MAX_STEPS


TOP_KEYS = ("name", "kind", "description", "elements", "inputs", "outputs", "targets",
            "trainable", "time", "options", "dataset", "training")

#: Simulator options of lc specs (ngspice ``.options``): tight tolerances, trapezoidal rule.
DEFAULT_LC_OPTIONS = {"reltol": 1e-7, "abstol": 1e-15, "vntol": 1e-12, "chgtol": 1e-20,
                      "trtol": 1.0, "max_step_fraction": 0.25}
LC_OPTION_NAMES = tuple(DEFAULT_LC_OPTIONS)

WAVEFORM_TYPES = ("sine", "pwl", "dc")
LC_DATASETS = ("teacher", "sequence", "duffing", "series")
SERIES_SOURCES = ("eeg", "membrane")
NODE_RE = re.compile(r"[a-z0-9_]+", re.A)   # matched whole (eqprop_hw.circuit.spice_grammar)


def parse_waveform(check, value, where: str, container, key) -> dict:
    """Validate one waveform mapping.

    Types: ``sine`` (``amplitude``, ``frequency`` Hz, ``phase`` rad, ``offset``, ``delay`` s),
    ``pwl`` (``points``: ``[[t, v], ...]``, times strictly increasing, held after the last),
    ``dc`` (``value``). Units: A for input currents, the output's unit for targets.
    """
    waveform = check.mapping(value, where, container, key)
    kind = check.string(waveform, "type", where, required=True, choices=WAVEFORM_TYPES)

    def level(mapping, item, label, **options):
        """A level (A, V or Wb): |value| <= MAX_SOURCE, like every source of a circuit."""
        number = check.number(mapping, item, label, **options)
        name = label if isinstance(mapping, list) else f"{label}.{item}"
        check.within(abs(number), mapping, item, f"{name} magnitude", 0.0, MAX_SOURCE)
        return number

    if kind == "sine":
        check.keys(waveform, ("type", "amplitude", "frequency", "phase", "offset", "delay"),
                   where)
        return {"type": "sine",
                "amplitude": level(waveform, "amplitude", where, required=True),
                "frequency": check.number(waveform, "frequency", where, required=True,
                                          positive=True),
                "phase": check.number(waveform, "phase", where, default=0.0),
                "offset": level(waveform, "offset", where, default=0.0),
                "delay": check.number(waveform, "delay", where, default=0.0, nonneg=True)}
    if kind == "dc":
        check.keys(waveform, ("type", "value"), where)
        return {"type": "dc", "value": level(waveform, "value", where, required=True)}
    check.keys(waveform, ("type", "points"), where)
    points = waveform.get("points")
    if not isinstance(points, list) or not points:
        check.fail(f"{where}.points must be a non-empty list of [time, value] pairs",
                   waveform, "points")
    out = []
    for position, point in enumerate(points):
        if not isinstance(point, list) or len(point) != 2:
            check.fail(f"{where}.points[{position}] must be a [time, value] pair", points,
                       position)
        t = check.number(point, 0, f"{where}.points[{position}][0]", required=True)
        v = level(point, 1, f"{where}.points[{position}][1]", required=True)
        if out and t <= out[-1][0]:
            check.fail(f"{where}.points: times must increase strictly ({t} after "
                       f"{out[-1][0]})", points, position)
        if t < 0:
            check.fail(f"{where}.points[{position}]: time must be >= 0, got {t}", points,
                       position)
        out.append([t, v])
    return {"type": "pwl", "points": out}


def _elements(check, spec) -> list:
    elements = spec.get("elements")
    if not isinstance(elements, list) or not elements:
        check.fail("elements must be a non-empty list of C, L and I elements", spec, "elements")
    allowed = {"C": ("c", "v_nl"), "L": ("l", "phi_nl"), "I": ("waveform",), "R": ("g",)}
    out, seen = [], {}
    for position, element in enumerate(elements):
        where = f"elements[{position}]"
        element = check.mapping(element, where, elements, position)
        name, kind = check.element_name(
            element, where, seen, position, allowed, "starting with the type letter C, L, I or R",
            "element {name!r}: type {kind!r} is not allowed in an lc spec "
            "(C, L, I; R only for lossy studies)", "lc")
        where = f"{where} ({name})"
        check.keys(element, ("name", "nodes") + allowed[kind], where)
        names = check.node_names(element, 2, where, "lc")
        if names[0] == names[1]:
            check.fail(f"{where}: both terminals on node {names[0]!r}", element, "nodes")
        item = {"name": name, "type": kind, "nodes": names}
        if kind == "C":
            item["c"] = check.number(element, "c", where, required=True, positive=True)
            check.within(item["c"], element, "c", f"{where}: c", *REACTANCE_LIMITS["C"], "F")
            item["v_nl"] = check.number(element, "v_nl", where, default=None, positive=True)
            if item["v_nl"] is not None and "0" not in names:
                check.fail(f"{where}: a nonlinear capacitor (v_nl) must have one terminal on "
                           "ground (0)", element, "v_nl")
        elif kind == "L":
            item["l"] = check.number(element, "l", where, required=True, positive=True)
            check.within(item["l"], element, "l", f"{where}: l", *REACTANCE_LIMITS["L"], "H")
            item["phi_nl"] = check.number(element, "phi_nl", where, default=None, positive=True)
        elif kind == "R":
            item["g"] = check.number(element, "g", where, required=True, positive=True)
            check.within(item["g"], element, "g", f"{where}: g", *CONDUCTANCE_LIMITS, "S")
        else:
            item["waveform"] = (parse_waveform(check, element["waveform"], f"{where}.waveform",
                                               element, "waveform")
                                if element.get("waveform") is not None
                                else {"type": "dc", "value": 0.0})
        out.append(item)
    nodes = sorted({n for e in out for n in e["nodes"]} - {"0"})
    grounded = {n: 0 for n in nodes}
    for item in out:
        if item["type"] == "C" and "0" in item["nodes"]:
            grounded[item["nodes"][0] if item["nodes"][1] == "0" else item["nodes"][1]] += 1
    for node, count in grounded.items():
        if not count:
            first = next(p for p, e in enumerate(out) if node in e["nodes"])
            check.fail(f"node {node!r} has no capacitor to ground (every node of an lc network "
                       "needs one, so that its capacitance matrix is positive definite)",
                       elements, first)
    return out


def _ports(check, spec, elements) -> tuple[list, list]:
    by_name = {e["name"]: e for e in elements}
    nodes = {n for e in elements for n in e["nodes"]} - {"0"}
    inputs = spec.get("inputs")
    if inputs is None:
        inputs = [e["name"] for e in elements if e["type"] == "I"]
    elif not isinstance(inputs, list):
        check.fail("inputs must be a list of current-source (I) element names", spec, "inputs")
    ins, seen, ports = [], {}, {}
    for position, entry in enumerate(inputs):
        if not isinstance(entry, str) or entry.upper() not in by_name or \
                by_name[entry.upper()]["type"] != "I":
            check.fail(f"inputs[{position}]: {entry!r} is not an I element of this spec",
                       inputs, position)
        check.unique(entry.upper(), seen, f"inputs[{position}]", "input", inputs, position)
        ins.append(entry.upper())
    outputs = spec.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        check.fail("outputs must be a non-empty list of node names or {name, node} / "
                   "{name, element} mappings", spec, "outputs")
    outs = []
    for position, entry in enumerate(outputs):
        where = f"outputs[{position}]"
        if isinstance(entry, dict):
            check.keys(entry, ("name", "node", "element"), where)
            port = check.string(entry, "name", where, required=True)
            check.spice_name(port, "port", f"{where}.name", entry, "name")
            if ("node" in entry) == ("element" in entry):
                check.fail(f"{where} ({port}): give exactly one of node (flux output, Wb) or "
                           "element (current of an inductor, A)", outputs, position)
            if "element" in entry:
                element = str(check.string(entry, "element", where, required=True)).upper()
                if element not in by_name or by_name[element]["type"] != "L":
                    check.fail(f"{where} ({port}): {element!r} is not an L element of this "
                               "spec", entry, "element")
                check.unique(port, ports, where, "output name", outputs, position)
                outs.append({"name": port, "kind": "current", "element": element,
                             "node": by_name[element]["nodes"][0]})
                continue
            node = str(entry["node"]).lower()
        else:
            port = node = str(entry).lower()
        check.spice_name(node, "node", f"{where}: node name", outputs, position)
        check.spice_name(str(port), "port", f"{where}: port name", outputs, position)
        if node not in nodes:
            check.fail(f"{where}: node {node!r} is not in any element", outputs, position)
        check.unique(str(port), ports, where, "output name", outputs, position)
        outs.append({"name": str(port), "kind": "flux", "node": node})
    return ins, outs


def _trainable(check, spec, elements) -> list:
    patterns = spec.get("trainable")
    coupling = [e["name"] for e in elements
                if e["type"] == "C" and "0" not in e["nodes"]]
    if patterns is None:
        if not coupling:
            check.fail("trainable: the network has no coupling capacitor (C between two "
                       "non-ground nodes); list the trainable elements explicitly", spec, "kind")
        return coupling
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        check.fail("trainable must be a list of element names or patterns like 'CC*'",
                   spec, "trainable")
    names = []
    for position, pattern in enumerate(patterns):
        matched = [e for e in elements if fnmatch.fnmatchcase(e["name"], pattern.upper())]
        if not matched:
            check.fail(f"trainable[{position}]: {pattern!r} matches no element", patterns,
                       position)
        for element in matched:
            if element["type"] not in "CL":
                check.fail(f"trainable[{position}]: {element['name']} is a {element['type']} "
                           "element; only capacitors and inductors are trainable", patterns,
                           position)
            if element["name"] not in names:
                names.append(element["name"])
    return names


def _time(check, spec) -> dict:
    time = check.mapping(spec.get("time"), "time", spec, "time")
    check.keys(time, ("tstop", "tstep"), "time")
    tstop = check.number(time, "tstop", "time", required=True, positive=True)
    tstep = check.number(time, "tstep", "time", required=True, positive=True)
    steps = tstop / tstep
    if abs(steps - round(steps)) > 1e-6 * steps or round(steps) < 2:
        check.fail(f"time.tstop ({tstop:g} s) must be a whole number (>= 2) of time.tstep "
                   f"({tstep:g} s)", time, "tstep")
    if round(steps) > MAX_STEPS:
        check.fail(f"time: {round(steps):,} steps is too many (limit 2,000,000)", time, "tstep")
    return {"tstop": tstop, "tstep": tstep, "steps": int(round(steps))}


def _options(check, spec) -> dict:
    options = check.mapping(spec.get("options"), "options", spec, "options")
    check.keys(options, LC_OPTION_NAMES, "options")
    out = dict(DEFAULT_LC_OPTIONS)
    for key in options:
        out[key] = check.number(options, key, "options", positive=True)
    if out["max_step_fraction"] > 1:
        check.fail("options.max_step_fraction (ngspice's maximum step / time.tstep) must be "
                   "<= 1", options, "max_step_fraction")
    return out


def _dataset(check, spec):
    if spec.get("dataset") is None:
        return None
    dataset = check.mapping(spec["dataset"], "dataset", spec, "dataset")
    check.keys(dataset, ("name", "seed", "samples", "perturbation", "amplitude", "frequency",
                         "delay_fraction", "inductance", "phi_nl", "test_samples", "source",
                         "segment", "damping"),
               "dataset")
    # the input current's amplitude (A) and the filter's inductance (H): a source and an L
    # (a value <= 0 is refused as not positive below)
    for key, (low, high), unit in (("amplitude", (0.0, MAX_SOURCE), "A"),
                                   ("inductance", REACTANCE_LIMITS["L"], "H")):
        value = check.number(dataset, key, "dataset")
        if value is not None and value > 0:
            check.within(value, dataset, key, f"dataset.{key}", low, high, unit)
    return {"name": check.string(dataset, "name", "dataset", required=True,
                                 choices=LC_DATASETS),
            "seed": check.integer(dataset, "seed", "dataset", default=0, minimum=0),
            "samples": check.integer(dataset, "samples", "dataset", default=1, minimum=1),
            # teacher: relative spread of the teacher's trainable values around the student's
            "perturbation": check.number(dataset, "perturbation", "dataset", default=0.3,
                                         positive=True),
            "amplitude": check.number(dataset, "amplitude", "dataset", default=None,
                                      positive=True),
            "frequency": check.number(dataset, "frequency", "dataset", default=None,
                                      positive=True),
            # sequence: target = input delayed by this fraction of the window
            "delay_fraction": check.number(dataset, "delay_fraction", "dataset", default=0.25,
                                           nonneg=True),
            # duffing: the filter's small-signal flux per ampere (H) and stiffening flux (Wb)
            "inductance": check.number(dataset, "inductance", "dataset", default=1e-6,
                                       positive=True),
            "phi_nl": check.number(dataset, "phi_nl", "dataset", default=2e-8, positive=True),
            # held-out sequences (seed + 1000), scored before and after training
            "test_samples": check.integer(dataset, "test_samples", "dataset", default=0,
                                          minimum=0),
            # series: a real recording (eqprop_hw.lc.train.RECORDINGS) cut into windows of
            # `segment` samples, each played as a PWL input current over the time window
            "source": check.string(dataset, "source", "dataset", default="eeg",
                                   choices=SERIES_SOURCES),
            "segment": check.integer(dataset, "segment", "dataset", default=100, minimum=2),
            # duffing/series: the target filter's 1/Q (0: lossless)
            "damping": check.number(dataset, "damping", "dataset", default=0.0, nonneg=True)}


def _training(check, spec):
    if spec.get("training") is None:
        return None
    training = check.mapping(spec["training"], "training", spec, "training")
    check.keys(training, ("epochs", "learning_rate", "lr_decay", "beta", "nudge", "seed",
                          "min_fraction", "max_fraction"), "training")
    from eqprop_hw.learning.limits import MAX_EPOCHS, MAX_SEED
    out = {"epochs": check.integer(training, "epochs", "training", default=50, minimum=1,
                                   maximum=MAX_EPOCHS),
           "learning_rate": check.number(training, "learning_rate", "training", default=0.1,
                                         positive=True),
           "lr_decay": check.number(training, "lr_decay", "training", default=1.0,
                                    positive=True),
           "beta": check.number(training, "beta", "training", default=None, positive=True),
           "nudge": check.string(training, "nudge", "training", default="centered",
                                 choices=("positive", "negative", "centered")),
           "seed": check.integer(training, "seed", "training", default=0, minimum=0,
                                 maximum=MAX_SEED),
           "min_fraction": check.number(training, "min_fraction", "training", default=0.1,
                                        positive=True),
           "max_fraction": check.number(training, "max_fraction", "training", default=10.0,
                                        positive=True)}
    if not out["min_fraction"] < 1 < out["max_fraction"]:
        check.fail("training: need min_fraction < 1 < max_fraction (bounds of each trainable "
                   "value relative to its initial value)", training, "min_fraction")
    return out


def parse_lc(check, data: dict, name: str) -> dict:
    """Validate the body of an ``lc`` spec (everything but ``name`` and ``kind``).

    Parameters
    ----------
    check : eqprop_hw.circuit.spec_checks.SpecChecker
        Validator bound to the source file (raises line-numbered SpecErrors).
    data : mapping
        The spec as read from YAML (line-tracking containers).
    name : str
        The spec's validated name.

    Returns
    -------
    dict
        Plain, validated mapping with defaults filled in.
    """
    check.keys(data, TOP_KEYS, "an lc spec")
    out: dict[str, Any] = {"name": name, "kind": "lc",
                           "description": check.string(data, "description", "spec", default="")}
    elements = _elements(check, data)
    out["elements"] = elements
    out["inputs"], out["outputs"] = _ports(check, data, elements)
    out["trainable"] = _trainable(check, data, elements)
    for output in out["outputs"]:
        if output["kind"] == "current" and output["element"] in out["trainable"]:
            check.fail(f"outputs: the current of {output['element']} is an output, so "
                       f"{output['element']} cannot be trainable (its value would enter the "
                       "loss directly, which the echo does not measure)", data, "outputs")
    out["time"] = _time(check, data)
    targets = data.get("targets")
    if targets is None:
        out["targets"] = None
    else:
        if not isinstance(targets, list) or len(targets) != len(out["outputs"]):
            check.fail(f"targets must list {len(out['outputs'])} waveform(s), one per output",
                       data, "targets")
        out["targets"] = [parse_waveform(check, t, f"targets[{k}]", targets, k)
                          for k, t in enumerate(targets)]
    out["options"] = _options(check, data)
    out["dataset"] = _dataset(check, data)
    out["training"] = _training(check, data)
    return out

