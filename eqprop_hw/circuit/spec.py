"""Circuit specs: YAML files validated against the schema in ``docs/specs.md``.

:func:`load_spec` reads a file, :func:`parse_spec` validates a mapping; both return a
:class:`Spec` whose ``data`` is the validated mapping with defaults filled in. Every error is a
:class:`~eqprop_hw.errors.SpecError` naming the file, the line and the key.

Examples
--------
>>> spec = parse_spec({"name": "tiny", "kind": "layered", "layers": [2, 3, 1]})
>>> spec.data["inputs"]["doubling"]
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eqprop_hw.circuit import spice_grammar
# Re-exported: reading YAML with line numbers and the typed checks live in modules of their own.
from eqprop_hw.circuit.spec_devices import DEVICE_KEYS, parse_devices  # noqa: F401
from eqprop_hw.circuit.spec_bounds import check_bounds
from eqprop_hw.circuit.spec_cider import cider_element, cider_model, is_cider_entry
from eqprop_hw.circuit.spec_checks import ELEMENT_NAME, SpecChecker, type_name  # noqa: F401
from eqprop_hw.circuit.spec_yaml import (MAX_ALIAS_EXPANSION, MAX_SPEC_BYTES,  # noqa: F401
                                         MAX_YAML_DEPTH, LineDict, LineList, read_yaml)
from eqprop_hw.errors import CircuitError, SpecError, quote
from eqprop_hw.learning.limits import MAX_EPOCHS, MAX_SEED

KINDS = ("layered", "graph", "lc")
#: A spec's name (the netlist title): matched whole, see :mod:`eqprop_hw.circuit.spice_grammar`.
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", re.A)


@dataclass
class Spec:
    """A validated circuit spec.

    Attributes
    ----------
    data : dict
        The validated spec with defaults filled in (plain dicts and lists).
    source : str
        Where it came from (file path or ``<string>``).
    overrides : dict
        Settings given outside the file (``train --set``, ``load(..., overrides=...)``),
        ``{dotted key: value}``, already in ``data`` (:mod:`eqprop_hw.circuit.overrides`).
    """

    data: dict
    source: str = "<string>"
    overrides: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def kind(self) -> str:
        return self.data["kind"]


# -- schema -------------------------------------------------------------------------------
TOP_KEYS = {
    "layered": ("name", "kind", "description", "layers", "inputs", "conductance", "activation",
                "amplifiers", "wires", "outputs", "options", "dataset", "training", "devices",
                "temperature", "node_capacitance"),
    "graph": ("name", "kind", "description", "models", "elements", "inputs", "outputs",
              "trainable", "options", "dataset", "training", "devices", "temperature",
              "node_capacitance"),
}

DEFAULT_OPTIONS = {"reltol": 1e-9, "abstol": 1e-15, "vntol": 1e-12, "gmin": 1e-12}
OPTION_NAMES = ("reltol", "abstol", "vntol", "gmin", "itl1", "itl2", "temp", "tnom")

#: Upper bound on the crossbar conductances of a layered spec (10^7: 160x mnist_size).
MAX_CONDUCTANCES = 10_000_000

DATASETS = ("xor", "iris", "digits", "teacher", "mnist", "none")


def _plain(value):
    """Strip line-tracking containers to plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _options(check: SpecChecker, spec: dict) -> dict:
    from eqprop_hw.circuit.graph import OPTION_LIMITS, TEMPERATURE_LIMITS
    options = check.mapping(spec.get("options"), "options", spec, "options")
    check.keys(options, OPTION_NAMES, "options")
    out = dict(DEFAULT_OPTIONS)
    for key in options:
        out[key] = check.number(options, key, "options", positive=key not in ("temp", "tnom"))
        if key in ("temp", "tnom"):
            check.within(out[key], options, key, f"options.{key} (degC)", *TEMPERATURE_LIMITS,
                         low_open=True)
        else:
            check.within(out[key], options, key, f"options.{key}", *OPTION_LIMITS[key])
    return out


#: Named diode models usable in place of a parameter mapping (``model: 1N4148``). The 1N4148
#: parameters are the small-signal switching diode's widely published SPICE model (DC: IS, N,
#: RS; junction capacitance and transit time for transients). Its 100 V reverse breakdown is
#: not modelled: the circuits here stay far below it.
DIODE_PRESETS = {
    "1N4148": {"IS": 4.352e-9, "N": 1.906, "RS": 0.6458, "CJO": 7.048e-12, "VJ": 0.869,
               "M": 0.03, "FC": 0.5, "TT": 3.48e-9},
}


def _diode_entry(check: SpecChecker, container: dict, key, where: str) -> dict:
    """A diode model given as a parameter mapping or as a named model (``1N4148``)."""
    model = container.get(key)
    if isinstance(model, str):
        if model.upper() not in DIODE_PRESETS:
            check.fail(f"{where}: unknown diode model {model!r} (named models: "
                       f"{', '.join(DIODE_PRESETS)}; or give IS, N, RS)", container, key)
        return {"type": "D", **DIODE_PRESETS[model.upper()]}
    return _diode_model(check, check.mapping(model, where, container, key), where)


def _diode_model(check: SpecChecker, model: dict, where: str) -> dict:
    """A diode model mapping: IS, N, RS (always in the result, SPICE defaults), the datasheet
    parameters BV (V), IBV (A), EG (eV), XTI, TNOM (degC) and the transient-only CJO, CJ0, VJ,
    M, TT, FC (in the result only when given, in that order)."""
    from eqprop_hw.circuit.graph import (ABSOLUTE_ZERO_C, DIODE_AC_PARAMS, DIODE_DATASHEET_PARAMS,
                                 DIODE_DC_PARAMS, DIODE_MIN_EG, EMISSION_LIMITS,
                                 SATURATION_LIMITS, TEMPERATURE_LIMITS)
    allowed = ("type",) + tuple(DIODE_DC_PARAMS) + tuple(DIODE_DATASHEET_PARAMS) + \
        DIODE_AC_PARAMS
    check.keys(model, allowed, where)
    if model.get("type", "D") != "D":
        check.fail(f"{where}.type must be D (only diode models are supported; transistor "
                   "models have type NMOS PMOS NPN PNP NJF PJF NMF or PMF)", model, "type")
    out = {"type": "D"}
    for key in DIODE_DC_PARAMS:
        out[key] = check.number(model, key, where, default=DIODE_DC_PARAMS[key],
                                positive=key != "RS", nonneg=key == "RS")
    for key in DIODE_DATASHEET_PARAMS:
        if key in model:
            out[key] = check.number(model, key, where, positive=key in ("BV", "IBV"))
    if out.get("EG", DIODE_MIN_EG) < DIODE_MIN_EG:
        check.fail(f"{where}.EG (activation energy) must be >= {DIODE_MIN_EG} eV, got "
                   f"{out['EG']!r}", model, "EG")
    if out.get("TNOM", 0.0) <= ABSOLUTE_ZERO_C:
        check.fail(f"{where}.TNOM must be above absolute zero ({ABSOLUTE_ZERO_C} degC), got "
                   f"{out['TNOM']!r}", model, "TNOM")
    check.within(out.get("TNOM"), model, "TNOM", f"{where}.TNOM (degC)", *TEMPERATURE_LIMITS,
                 low_open=True)
    check.within(out["IS"], model, "IS", f"{where}.IS", *SATURATION_LIMITS, "A")
    check.within(out["N"], model, "N", f"{where}.N", *EMISSION_LIMITS)
    for key in DIODE_AC_PARAMS:
        if key in model:
            out[key] = check.number(model, key, where)
    return out


def _device_model(check: SpecChecker, model: dict, where: str) -> dict:
    """A transistor model mapping: ``type`` (NMOS PMOS NPN PNP NJF PJF NMF PMF), then its
    parameters (upper-case names, numbers; ``LEVEL`` an integer, ``VERSION`` a version
    number), checked by :class:`eqprop_hw.circuit.transistors.DeviceModel`'s rules."""
    from eqprop_hw.circuit.transistors import MAX_MODEL_PARAMS, MODEL_TYPES, check_model_param
    kind = str(model.get("type")).upper()
    out = {"type": kind}
    if len(model) > MAX_MODEL_PARAMS + 1:
        check.fail(f"{where}: {len(model) - 1} parameters, more than {MAX_MODEL_PARAMS}",
                   model, "type")
    for key, value in model.items():
        if key == "type":
            continue
        name = str(key).upper() if isinstance(key, str) else key
        if name in out:
            check.fail(f"{where}: parameter {name} given twice", model, key)
        try:
            out[name] = check_model_param(name, value, MODEL_TYPES[kind], where)
        except CircuitError as error:
            check.fail(str(error), model, key)
    from eqprop_hw.circuit.transistors import line_model_problem
    problem = line_model_problem(kind, out)
    if problem:
        check.fail(f"{where}: {problem}", model, "type")
    return out


def _transistor(check: SpecChecker, element: dict, kind: str, name: str, where: str,
                models: dict) -> dict:
    """A transistor element (M Q J Z; or a switch S W, a lossless line T): nodes, ``model``
    (a model of the right type; none for T), ``control`` (W: the controlling voltage source)
    and the instance parameters of :data:`eqprop_hw.circuit.transistors.INSTANCE_PARAMS`."""
    from eqprop_hw.circuit.line_devices import check_line_params
    from eqprop_hw.circuit.transistors import (CONTROLLED, INSTANCE_PARAMS, MODEL_TYPES,
                                               MODELLESS, SOI_INSTANCE_PARAMS, SOI_NODES,
                                               TRANSISTOR_KINDS, TRANSISTOR_NODES,
                                               check_instance_params, model_level,
                                               node_count_problem, node_counts_text)
    label = f"{where} ({name})"
    extra = ("control",) if kind in CONTROLLED else ()
    model_key = () if kind in MODELLESS else ("model",)
    check.keys(element, ("name", "nodes") + model_key + extra + INSTANCE_PARAMS[kind], label)
    nodes = element.get("nodes")
    counts = TRANSISTOR_NODES[kind]
    count = len(nodes) if isinstance(nodes, list) and len(nodes) in counts else counts[0]
    if not isinstance(nodes, list) or len(nodes) not in counts:
        check.fail(f"{label}: a {TRANSISTOR_KINDS[kind]} takes {node_counts_text(kind)}",
                   element, "nodes")
    item = {"name": name, "nodes": check.node_names(element, count, label, "resistive")}
    if extra:
        control = check.string(element, "control", label, required=True).upper()
        check.spice_name(control, "element", f"{label}: controlling source name", element,
                         "control")
        item["control"] = control
    if model_key:
        model = check.string(element, "model", label, required=True).upper()
        check.spice_name(model, "model", f"{label}: model name", element, "model")
        entry = models.get(model)
        if entry is None or MODEL_TYPES.get(entry.get("type")) != kind:
            types = ", ".join(t for t, k in MODEL_TYPES.items() if k == kind)
            check.fail(f"{label}: {model!r} is not a {TRANSISTOR_KINDS[kind]} model of this "
                       f"spec (a model of type {types})", element, "model")
        item["model"] = model
        problem = node_count_problem(kind, count, model_level(entry))
        if problem:
            check.fail(f"{label}: {problem}", element, "nodes")
    params = [(key, check.number(element, key, label)) for key in element
              if key not in ("name", "nodes", "model", "control")]
    try:
        check_instance_params(kind, tuple(params), label)
        if not model_key:
            check_line_params(tuple(params), label)
        soi_only = [key for key, _value in params if key in SOI_INSTANCE_PARAMS]
        if soi_only and model_level(entry) not in SOI_NODES:
            raise CircuitError(f"{label}: instance parameter {soi_only[0]!r} needs an SOI "
                               f"model (LEVEL {' '.join(map(str, sorted(SOI_NODES)))})")
    except CircuitError as error:
        check.fail(str(error), element, "name")
    item.update(params)
    return item


def _dataset(check: SpecChecker, spec: dict):
    if spec.get("dataset") is None:
        return None
    dataset = check.mapping(spec["dataset"], "dataset", spec, "dataset")
    check.keys(dataset, ("name", "test_fraction", "seed", "path", "samples", "test_samples",
                         "encoding", "target_high", "target_low"), "dataset")
    out = {"name": check.string(dataset, "name", "dataset", choices=DATASETS, required=True)}
    out["test_fraction"] = check.number(dataset, "test_fraction", "dataset", default=0.25)
    if not 0 <= out["test_fraction"] < 1:
        check.fail("dataset.test_fraction must be in [0, 1)", dataset, "test_fraction")
    out["seed"] = check.integer(dataset, "seed", "dataset", default=0, minimum=0)
    out["path"] = check.string(dataset, "path", "dataset")
    out["samples"] = check.integer(dataset, "samples", "dataset", minimum=1)
    out["test_samples"] = check.integer(dataset, "test_samples", "dataset", minimum=1)
    # None: the data set's own default (eqprop_hw.io.data.DEFAULT_ENCODING)
    out["encoding"] = check.string(dataset, "encoding", "dataset", default=None,
                                   choices=("standard", "minmax", "raw"))
    out["target_high"] = check.number(dataset, "target_high", "dataset", default=None)
    out["target_low"] = check.number(dataset, "target_low", "dataset", default=None)
    return out


#: training.twin keys (eqprop_hw.twin.netlist.TwinSettings): positive numbers, leakage >= 0.
TWIN_KEYS = ("sample_time", "settle_fraction", "rise_fraction", "capacitance",
             "conductance_per_volt", "leakage", "update_limit", "reltol")


def _twin(check: SpecChecker, training: dict) -> dict:
    """training.twin: the twin-network circuitry's settings (numbers, checked here; their
    relations are checked when the circuitry is built)."""
    twin = check.mapping(training["twin"], "training.twin", training, "twin")
    check.keys(twin, TWIN_KEYS + ("damage", "mosfet"), "training.twin")
    out = {}
    for key in TWIN_KEYS:
        if twin.get(key) is not None:
            out[key] = check.number(twin, key, "training.twin", positive=key != "leakage",
                                    nonneg=key == "leakage")
    if twin.get("mosfet") is not None:       # transistor edges (eqprop_hw.twin.mosfet)
        from eqprop_hw.circuit.spec_twin import twin_mosfet
        out["mosfet"] = twin_mosfet(check, twin)
    if twin.get("damage") is not None:
        # Edges cut mid-run (eqprop_hw.twin.netlist.twin_lines): at the start of an epoch.
        damage = check.mapping(twin["damage"], "training.twin.damage", twin, "damage")
        check.keys(damage, ("epoch", "elements"), "training.twin.damage")
        elements = damage.get("elements")
        if not isinstance(elements, list) or not elements or \
                not all(isinstance(name, str) for name in elements) or len(elements) > 10_000:
            check.fail("training.twin.damage.elements must be a non-empty list of element "
                       "names", damage, "elements")
        seen: dict = {}
        for position, name in enumerate(elements):
            check.unique(name.upper(), seen, f"training.twin.damage.elements[{position}]",
                         "element", elements, position)
        out["damage"] = {"epoch": check.integer(damage, "epoch", "training.twin.damage",
                                                minimum=1, required=True),
                         "elements": list(elements)}
    return out


def _training(check: SpecChecker, spec: dict):
    if spec.get("training") is None:
        return None
    training = check.mapping(spec["training"], "training", spec, "training")
    allowed = ("epochs", "batch_size", "learning_rate", "lr_decay", "beta", "nudge", "loss",
               "temperature", "seed", "estimator", "samples", "rule", "eta", "twin",
               "layer_beta")
    check.keys(training, allowed, "training")
    out = {
        "epochs": check.integer(training, "epochs", "training", default=10, minimum=1,
                                maximum=MAX_EPOCHS),
        "batch_size": check.integer(training, "batch_size", "training", default=16, minimum=1),
        "beta": check.number(training, "beta", "training", default=1e-6, positive=True),
        "lr_decay": check.number(training, "lr_decay", "training", default=1.0, positive=True),
        "nudge": check.string(training, "nudge", "training", default="centered",
                              choices=("positive", "negative", "centered")),
        "loss": check.string(training, "loss", "training", default="squared",
                             choices=("squared", "cross_entropy")),
        # Softmax temperature (V) of the cross-entropy loss (eqprop_hw.learning.losses); unused by
        # the squared loss.
        "temperature": check.number(training, "temperature", "training", default=0.1),
        "seed": check.integer(training, "seed", "training", default=0, minimum=0,
                              maximum=MAX_SEED),
        # Finite temperature (top-level `temperature:`, eqprop_hw.thermal.gibbs): the estimator and
        # the samples per phase and minibatch; unused at T = 0.
        "estimator": check.string(training, "estimator", "training", default="chl",
                                  choices=("chl", "covariance", "path")),
        "samples": check.integer(training, "samples", "training", default=256, minimum=32),
    }
    # The learning rule (eqprop_hw.learning.coupled): EP's nudge, or Coupled Learning's clamp
    # at V_F + eta (y - V_F). Recorded only when given, so older specs read as before.
    if "rule" in training:
        out["rule"] = check.string(training, "rule", "training", default="ep",
                                   choices=("ep", "coupled"))
    if "eta" in training:
        out["eta"] = check.number(training, "eta", "training", default=0.1, positive=True)
        if out["eta"] > 1:
            check.fail(f"training.eta (the clamped fraction of the output error) must be in "
                       f"(0, 1], got {out['eta']!r}", training, "eta")
    if training.get("twin") is not None:
        out["twin"] = _twin(check, training)
    if out["temperature"] <= 0:
        check.fail(f"training.temperature (the softmax temperature of the cross-entropy loss, "
                   f"in V) must be > 0, got {out['temperature']!r}", training, "temperature")
    rate = training.get("learning_rate", 0.1)
    if isinstance(rate, list):
        if not rate:
            check.fail("training.learning_rate must be a number or a non-empty list "
                       "(one per crossbar)", training, "learning_rate")
        rates = []
        for position in range(len(rate)):
            rates.append(check.number(rate, position, f"training.learning_rate[{position}]",
                                      positive=True))
        out["learning_rate"] = rates
    else:
        out["learning_rate"] = check.number(training, "learning_rate", "training", default=0.01,
                                            positive=True)
    out["layer_beta"] = _layer_beta(check, training)
    return out


#: Most entries of ``training.layer_beta`` (one per crossbar).
MAX_LAYER_BETA = 64


def _layer_beta(check: SpecChecker, training: dict) -> list | None:
    """``training.layer_beta``: one positive nudging strength per crossbar, or None."""
    values = training.get("layer_beta")
    if values is None:
        return None
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_LAYER_BETA:
        check.fail(f"training.layer_beta must be a list of 1 to {MAX_LAYER_BETA} positive "
                   "numbers (one nudging strength per crossbar)", training, "layer_beta")
    return [check.number(values, k, f"training.layer_beta[{k}]", positive=True)
            for k in range(len(values))]


def _layered(check: SpecChecker, spec: dict) -> dict:
    out: dict[str, Any] = {}
    layers = spec.get("layers")
    if not isinstance(layers, list) or len(layers) < 2:
        check.fail("layers must be a list of at least two layer sizes, e.g. [2, 8, 1]",
                   spec, "layers")
    for position, size in enumerate(layers):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            check.fail(f"layers[{position}] must be a positive integer, got {size!r}",
                       layers, position)
    out["layers"] = [int(size) for size in layers]
    conductances = sum((2 * a + 2) * b for a, b in zip(layers[:-1], layers[1:]))
    if conductances > MAX_CONDUCTANCES:
        check.fail(f"layers {layers} make {conductances:,} crossbar conductances; the limit is "
                   f"{MAX_CONDUCTANCES:,} (a typo in a layer size?)", spec, "layers")

    inputs = check.mapping(spec.get("inputs"), "inputs", spec, "inputs")
    check.keys(inputs, ("doubling", "gain", "bias"), "inputs")
    out["inputs"] = {
        "doubling": check.boolean(inputs, "doubling", "inputs", True),
        "gain": check.number(inputs, "gain", "inputs", default=1.0, positive=True),
        "bias": check.number(inputs, "bias", "inputs", default=1.0, nonneg=True),
    }

    out["conductance"] = _layered_conductance(check, spec)

    activation = check.mapping(spec.get("activation"), "activation", spec, "activation")
    check.keys(activation, ("type", "model", "high", "low", "outputs"), "activation")
    kind = check.string(activation, "type", "activation", default="diode",
                        choices=("diode", "rectify", "none"))
    act_out = {"type": kind}
    if kind in ("diode", "rectify"):
        act_out["model"] = _diode_entry(check, activation, "model", "activation.model")
        act_out["high"] = check.number(activation, "high", "activation", default=0.0)
        act_out["low"] = check.number(activation, "low", "activation", default=0.0)
        act_out["outputs"] = check.boolean(activation, "outputs", "activation", False)
    out["activation"] = act_out

    if spec.get("wires") is not None:
        wires = check.mapping(spec["wires"], "wires", spec, "wires")
        check.keys(wires, ("row_conductance", "column_conductance"), "wires")
        out["wires"] = {key: check.number(wires, key, "wires", required=True, positive=True)
                        for key in ("row_conductance", "column_conductance")}
    else:
        out["wires"] = None

    if spec.get("amplifiers") is not None:
        amplifiers = check.mapping(spec["amplifiers"], "amplifiers", spec, "amplifiers")
        check.keys(amplifiers, ("gain",), "amplifiers")
        out["amplifiers"] = {"gain": check.number(amplifiers, "gain", "amplifiers",
                                                  default=1.0, positive=True)}
    else:
        out["amplifiers"] = None

    outputs = check.mapping(spec.get("outputs"), "outputs", spec, "outputs")
    check.keys(outputs, ("names",), "outputs")
    names = outputs.get("names")
    if names is not None:
        if not isinstance(names, list) or len(names) != out["layers"][-1] or \
                not all(isinstance(n, str) for n in names):
            check.fail(f"outputs.names must list {out['layers'][-1]} strings", outputs, "names")
        seen: dict = {}
        for position, port in enumerate(names):
            check.spice_name(port, "port", f"outputs.names[{position}]", names, position)
            check.unique(port, seen, f"outputs.names[{position}]", "output name", names,
                         position)
    out["outputs"] = {"names": names}
    return out


def _layered_conductance(check: SpecChecker, spec: dict) -> dict:
    """The ``conductance:`` of a layered spec: bounds (S), the initial distribution, seed."""
    conductance = check.mapping(spec.get("conductance"), "conductance", spec, "conductance")
    check.keys(conductance, ("min", "max", "init", "seed"), "conductance")
    g_min = check.number(conductance, "min", "conductance", default=1e-7, positive=True)
    g_max = check.number(conductance, "max", "conductance", default=1e-2, positive=True)
    if g_min >= g_max:
        check.fail(f"conductance.min ({g_min}) must be below conductance.max ({g_max})",
                   conductance, "min")
    init = check.mapping(conductance.get("init"), "conductance.init", conductance, "init")
    check.keys(init, ("distribution", "low", "high", "scale"), "conductance.init")
    distribution = check.string(init, "distribution", "conductance.init", default="uniform",
                                choices=("uniform", "glorot"))
    init_out = {"distribution": distribution}
    if distribution == "uniform":
        low = check.number(init, "low", "conductance.init", default=max(g_min, 1e-5), positive=True)
        high = check.number(init, "high", "conductance.init", default=min(g_max, 1e-4),
                            positive=True)
        if not g_min <= low < high <= g_max:
            check.fail(f"conductance.init needs min <= low < high <= max, got low={low}, "
                       f"high={high} with [{g_min}, {g_max}]", init, "low")
        init_out.update(low=low, high=high)
    else:
        init_out["scale"] = check.number(init, "scale", "conductance.init", default=1e-4,
                                         positive=True)
    return {"min": g_min, "max": g_max, "init": init_out,
            "seed": check.integer(conductance, "seed", "conductance", default=0, minimum=0)}


def _graph(check: SpecChecker, spec: dict) -> dict:
    out: dict[str, Any] = {"models": _graph_models(check, spec)}
    out["elements"] = _graph_elements(check, spec, out["models"])
    out["inputs"] = _graph_inputs(check, spec, {e["name"]: e for e in out["elements"]})
    out["outputs"] = _graph_outputs(check, spec,
                                    {n for e in out["elements"] for n in e["nodes"]})
    trainable = spec.get("trainable")
    if trainable is None:
        out["trainable"] = None  # every resistor
    else:
        if not isinstance(trainable, list) or not all(isinstance(t, str) for t in trainable):
            check.fail("trainable must be a list of element names or patterns like 'R*'",
                       spec, "trainable")
        out["trainable"], seen = [], {}
        for position, pattern in enumerate(trainable):
            check.unique(pattern.upper(), seen, f"trainable[{position}]", "name or pattern",
                         trainable, position)
            out["trainable"].append(pattern.upper())
    return out


def _graph_models(check: SpecChecker, spec: dict) -> dict:
    """The ``models:`` of a graph spec (diodes and transistors), by upper-case name."""
    from eqprop_hw.circuit.transistors import MODEL_TYPES
    out: dict[str, Any] = {}
    models = check.mapping(spec.get("models"), "models", spec, "models")
    out["models"] = {}
    for name, model in models.items():
        if not isinstance(name, str) or not ELEMENT_NAME.fullmatch(name):
            check.fail(f"invalid model name {quote(str(name))} (a letter, then "
                       f"letters, digits and '_'{check.why(str(name), 'model')})", models, name)
        check.spice_name(name.upper(), "model", "models: model name", models, name)
        if name.upper() in out["models"]:
            check.fail(f"models.{name}: model name {quote(name.upper())} is given twice "
                       "(model names are case-insensitive)", models, name)
        if is_cider_entry(model):          # CIDER numerical devices (eqprop_hw.circuit.cider)
            out["models"][name.upper()] = cider_model(check, model, f"models.{name}")
        elif isinstance(model, dict) and str(model.get("type", "D")).upper() in MODEL_TYPES:
            out["models"][name.upper()] = _device_model(check, model, f"models.{name}")
        else:
            out["models"][name.upper()] = _diode_entry(check, models, name, f"models.{name}")
    return out["models"]


def _graph_elements(check: SpecChecker, spec: dict, models: dict) -> list:
    """The ``elements:`` of a graph spec: name, nodes and the value keys of each type."""
    from eqprop_hw.circuit.graph import NODE_COUNT
    from eqprop_hw.circuit.transistors import TRANSISTOR_NODES
    types = {**NODE_COUNT, **TRANSISTOR_NODES}
    elements = spec.get("elements")
    if not isinstance(elements, list) or not elements:
        check.fail("elements must be a non-empty list", spec, "elements")
    value_keys = {"R": ("g", "r"), "V": ("dc",), "I": ("dc",), "C": ("c",), "L": ("l",),
                  "E": ("gain",), "G": ("gain",), "F": ("gain",), "H": ("gain",),
                  "D": ("area",), "B": ()}
    items: list = []
    seen = {}
    for position, element in enumerate(elements):
        where = f"elements[{position}]"
        element = check.mapping(element, where, elements, position)
        name, kind = check.element_name(
            element, where, seen, position, types, "starting with the element type letter",
            "unknown element type {kind!r} in {name!r} (supported: "
            + " ".join(types) + ")", "resistive")
        if is_cider_entry(models.get(str(element.get("model")).upper())):
            items.append(cider_element(check, element, kind, name, where, models))
            continue
        if kind in TRANSISTOR_NODES:
            items.append(_transistor(check, element, kind, name, where, models))
            continue
        allowed = ("name", "nodes", "model", "control", "expr") + value_keys[kind]
        check.keys(element, allowed, f"{where} ({name})")
        node_names = check.node_names(element, NODE_COUNT[kind], f"{where} ({name})",
                                      "resistive")
        item = {"name": name, "nodes": node_names}
        item.update(_graph_element_values(check, element, f"{where} ({name})", kind,
                                          value_keys, models))
        items.append(item)
    return items


def _graph_element_values(check: SpecChecker, element: dict, label: str, kind: str,
                          value_keys: dict, models: dict) -> dict:
    """The value keys of one element of type ``kind`` (``label``: ``elements[k] (NAME)``)."""
    from eqprop_hw.circuit.graph import CONDUCTANCE_LIMITS, MAX_GAIN, MAX_SOURCE, REACTANCE_LIMITS
    item: dict[str, Any] = {}
    if kind == "R":
        if ("g" in element) == ("r" in element):
            check.fail(f"{label}: give exactly one of g (conductance, S) or "
                       "r (resistance, Ohm)", element, "name")
        key = "g" if "g" in element else "r"
        value = check.number(element, key, label)
        if value <= 0:
            what = "conductance" if key == "g" else "resistance"
            check.fail(f"{label}: {what} must be positive, got {value!r}",
                       element, key)
        conductance = value if key == "g" else 1.0 / value
        check.within(conductance, element, key, f"{label}: conductance"
                     + ("" if key == "g" else f" (1/r, r = {value:g} Ohm)"),
                     *CONDUCTANCE_LIMITS, "S")
        item[key] = value
    elif kind == "D":
        model = check.string(element, "model", label, required=True).upper()
        check.spice_name(model, "model", f"{label}: model name", element, "model")
        diodes = [m for m, entry in models.items() if entry["type"] == "D"]
        if model not in diodes:
            check.fail(f"{label}: unknown diode model {model!r} "
                       f"(defined: {', '.join(diodes) or 'none'})", element, "model")
        item["model"] = model
        item["area"] = check.number(element, "area", label, default=1.0,
                                    positive=True)
    elif kind == "B":
        expr = check.string(element, "expr", label, required=True)
        item["expr"] = check.expression(expr, label, element, "expr")
    else:
        key = value_keys[kind][0]
        item[key] = check.number(element, key, label,
                                 default=0.0 if kind in "VI" else None,
                                 required=kind not in "VI",
                                 positive=kind in "CL")
        label_key = f"{label}: {key}"
        if kind in "CL":
            check.within(item[key], element, key, label_key, *REACTANCE_LIMITS[kind],
                         "F" if kind == "C" else "H")
        elif kind in "VI":
            check.within(abs(item[key]), element, key, f"{label_key} magnitude", 0.0,
                         MAX_SOURCE, "V" if kind == "V" else "A")
        else:
            check.within(abs(item[key]), element, key, f"{label_key} magnitude", 0.0,
                         MAX_GAIN[kind])
        if kind in "FH":
            item["control"] = check.string(element, "control", label,
                                           required=True).upper()
            check.spice_name(item["control"], "element", f"{label}: control",
                             element, "control")
    return item


def _graph_inputs(check: SpecChecker, spec: dict, names: dict) -> list:
    """The ``inputs:`` of a graph spec: source names or ``{name, sources}`` ports."""
    inputs = spec.get("inputs") or []
    if not isinstance(inputs, list):
        check.fail("inputs must be a list of independent source names or "
                   "{name, sources: {SOURCE: gain}} mappings", spec, "inputs")
    from eqprop_hw.circuit.graph import MAX_SOURCE
    out: dict[str, Any] = {"inputs": []}
    ports: dict = {}
    driven: dict = {}      # source -> the input that drives it (one input per source)

    def source_name(source, container, key):
        if not isinstance(source, str) or source.upper() not in names or \
                source.upper()[0] not in "VI":
            check.fail(f"inputs[{key}]: {source!r} is not a V or I element of this spec",
                       container, key)
        return source.upper()

    for position, entry in enumerate(inputs):
        if isinstance(entry, dict):
            check.keys(entry, ("name", "sources"), f"inputs[{position}]")
            port = check.string(entry, "name", f"inputs[{position}]", required=True)
            check.spice_name(port, "port", f"inputs[{position}].name", entry, "name")
            sources = check.mapping(entry.get("sources"), f"inputs[{position}].sources",
                                    entry, "sources")
            if not sources:
                check.fail(f"inputs[{position}].sources must name at least one source",
                           entry, "sources")
            check.unique(port, ports, f"inputs[{position}]", "input name", entry, "name")
            pairs = []
            for s in sources:
                name = source_name(s, sources, s)
                gain = check.number(sources, s, f"inputs[{position}].sources")
                check.within(abs(gain), sources, s, f"inputs[{position}].sources.{name}: "
                             "|gain| (V or A per unit of input)", 0.0, MAX_SOURCE)
                check.unique(name, driven, f"inputs[{position}].sources", "source", sources, s)
                pairs.append([name, gain])
            out["inputs"].append({"name": port, "sources": pairs})
        else:
            name = source_name(entry, inputs, position)
            check.unique(name, ports, f"inputs[{position}]", "input name", inputs, position)
            check.unique(name, driven, f"inputs[{position}]", "source", inputs, position)
            out["inputs"].append({"name": name, "sources": [[name, 1.0]]})
    return out["inputs"]


def _graph_outputs(check: SpecChecker, spec: dict, all_nodes: set) -> list:
    """The ``outputs:`` of a graph spec: node names or ``{name, node}`` ports."""
    outputs = spec.get("outputs") or []
    if not isinstance(outputs, list):
        check.fail("outputs must be a list of node names or {name, node} mappings",
                   spec, "outputs")
    out: dict[str, Any] = {"outputs": []}
    ports: dict = {}
    for position, entry in enumerate(outputs):
        if isinstance(entry, dict):
            check.keys(entry, ("name", "node"), f"outputs[{position}]")
            port = check.string(entry, "name", f"outputs[{position}]", required=True)
            node = str(check.string(entry, "node", f"outputs[{position}]", required=True))
            check.spice_name(port, "port", f"outputs[{position}].name", entry, "name")
        else:
            port = node = str(entry)
            check.spice_name(port, "port", f"outputs[{position}]", outputs, position)
        node = node.lower()
        check.spice_name(node, "node", f"outputs[{position}]: node name", outputs, position)
        if node not in all_nodes:
            check.fail(f"outputs[{position}]: node {node!r} is not in any element", outputs,
                       position)
        check.unique(port, ports, f"outputs[{position}]", "output name", outputs, position)
        out["outputs"].append({"name": port, "node": node})
    return out["outputs"]


def _thermal(check: SpecChecker, spec: dict) -> dict:
    """Top-level ``temperature`` (W, the Gibbs temperature of eqprop_hw.thermal.gibbs; not the softmax
    ``training.temperature``) and ``node_capacitance`` (F: one number, or {node: F})."""
    out = {"temperature": check.number(spec, "temperature", "spec", positive=True)}
    value = spec.get("node_capacitance")
    if isinstance(value, dict):
        out["node_capacitance"], seen = {}, {}
        for node in value:
            name = check.spice_name(str(node), "node", "node_capacitance: node name", value,
                                    node)
            check.unique(name, seen, f"node_capacitance[{node!r}]", "node", value, node)
            out["node_capacitance"][name] = check.number(value, node, "node_capacitance",
                                                         required=True, positive=True)
    else:
        out["node_capacitance"] = check.number(spec, "node_capacitance", "spec", positive=True)
    return out


def parse_spec(data: Any, source: str = "<string>") -> Spec:
    """Validate a spec mapping and fill in defaults.

    Parameters
    ----------
    data : mapping
        The spec, as read from YAML.
    source : str
        Name used in error messages (file path).

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        Naming the file, line and key of the first problem found.
    """
    check = SpecChecker(source)
    if not isinstance(data, dict):
        raise SpecError("a spec must be a YAML mapping with at least 'name' and 'kind'", source,
                        getattr(data, "line", None))
    name = check.string(data, "name", "spec", required=True)
    if not NAME_RE.fullmatch(name) or len(name) > spice_grammar.MAX_TITLE_CHARS:
        check.fail(f"name {quote(name)} must be letters, digits, '_', '-', '.' "
                   f"(at most {spice_grammar.MAX_TITLE_CHARS}){check.why(name, 'title')}",
                   data, "name")
    kind = check.string(data, "kind", "spec", required=True, choices=KINDS)
    if kind == "lc":   # Hamiltonian LC networks: validated by eqprop_hw.lc.spec
        from eqprop_hw.lc.spec import parse_lc
        return Spec(_plain(parse_lc(check, data, name)), source)
    check.keys(data, TOP_KEYS[kind], f"a {kind} spec")
    out = {"name": name, "kind": kind,
           "description": check.string(data, "description", "spec", default="")}
    out.update(_layered(check, data) if kind == "layered" else _graph(check, data))
    out["options"] = _options(check, data)
    out["dataset"] = _dataset(check, data)
    out["training"] = _training(check, data)
    out["devices"] = parse_devices(check, data)
    out.update(_thermal(check, data))
    check_bounds(check, data, out)
    return Spec(_plain(out), source)


def load_spec(path: str | Path, overrides=None) -> Spec:
    """Read and validate a YAML spec file.

    ``overrides`` (:class:`eqprop_hw.circuit.overrides.Override` s, from ``train --set`` or
    ``load(..., overrides=...)``) are written into the document before it is validated, so
    they pass the same checks as the file; an error at one of them names it instead of a line.

    Raises
    ------
    SpecError
        If the file is missing, unreadable, malformed YAML or fails validation.
    """
    from eqprop_hw.io.fileio import read_bounded
    path = Path(path)
    source = str(path)
    raw = read_bounded(path, MAX_SPEC_BYTES, SpecError, "spec")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(f"cannot read spec: not UTF-8 text (byte {error.start + 1})",
                        source) from None
    if not overrides:
        return parse_spec(read_yaml(text, source), source)
    from eqprop_hw.circuit.overrides import SetLine, apply_overrides, recorded
    document = apply_overrides(read_yaml(text, source), overrides, source, LineDict, LineList)
    try:
        spec = parse_spec(document, source)
    except SpecError as error:
        if isinstance(error.line, SetLine):     # the setting, not a line of the file
            raise SpecError(f"{error.line.origin}: {error.message}", source) from None
        raise
    spec.overrides = recorded(overrides)
    return spec
