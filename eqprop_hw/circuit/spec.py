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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from eqprop_hw.circuit import spice_grammar
from eqprop_hw.errors import CircuitError, SpecError, quote

KINDS = ("layered", "graph", "lc")
#: A spec's name (the netlist title): matched whole, see :mod:`eqprop_hw.circuit.spice_grammar`.
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", re.A)


# -- YAML with line numbers -------------------------------------------------------------
class _LineDict(dict):
    """A dict that remembers the line of each key (1-based; 0 and no key lines when it was
    not read from YAML, e.g. an omitted optional section)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.line = 0
        self.key_lines: dict = {}


class _LineList(list):
    """A list that remembers the line of each item (1-based)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.line = 0
        self.item_lines: list = []


#: Largest spec file read (bytes actually read).
MAX_SPEC_BYTES = 32 * 1024 * 1024
#: Deepest nesting of YAML collections in a spec.
MAX_YAML_DEPTH = 64
#: Most YAML nodes that aliases (``*anchor``) may add when expanded (a "billion laughs"
#: document is a few lines that expand to 10^9 nodes).
MAX_ALIAS_EXPANSION = 1_000_000


class _LineLoader(yaml.SafeLoader):
    """PyYAML's safe loader with bounds: nesting depth and alias expansion (SpecError)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise SpecError(f"YAML nested deeper than {MAX_YAML_DEPTH} levels; refused",
                                None, mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        written, expanded = _node_counts(node)
        if expanded - written > MAX_ALIAS_EXPANSION:
            raise SpecError(f"YAML aliases expand the document by more than "
                            f"{MAX_ALIAS_EXPANSION:,} nodes; refused", None,
                            node.start_mark.line + 1)
        return node


def _node_counts(root) -> tuple[int, int]:
    """(nodes written, nodes once every alias is expanded) of a composed YAML document."""
    sizes: dict = {}

    def size(node) -> int:
        key = id(node)
        if key not in sizes:
            sizes[key] = 1   # a cycle (impossible in composed YAML) cannot recurse forever
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [item for pair in node.value for item in pair]
            else:
                children = []
            total = 1
            for child in children:
                total += size(child)
                if total > 10 * MAX_ALIAS_EXPANSION + len(sizes):
                    break
            sizes[key] = total
        return sizes[key]

    expanded = size(root)
    return len(sizes), expanded


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    result = _LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise SpecError(f"unhashable mapping key {key!r}", None, key_node.start_mark.line + 1)
        if key in result:
            raise SpecError(f"duplicate key {key!r}", None, key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader, node):
    result = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text keeping line numbers; YAML errors become SpecError with the line."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except SpecError as error:
        raise SpecError(error.message, source, error.line) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise SpecError(f"malformed YAML: {error.problem or error}", source, line) from None
    except yaml.reader.ReaderError as error:
        line = text[:error.position].count("\n") + 1
        raise SpecError(f"malformed YAML: character {error.character!r} is not allowed in YAML",
                        source, line) from None
    except yaml.YAMLError as error:
        message = " ".join(str(error).split())
        raise SpecError(f"malformed YAML: {message}", source) from None


# -- validation helpers -----------------------------------------------------------------
class _Checker:
    """Validates values and raises SpecError with file and line."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, message: str, container: Any = None, key: Any = None):
        line = None
        if isinstance(container, _LineDict):
            line = container.key_lines.get(key, container.line)
        elif isinstance(container, _LineList):
            if isinstance(key, int) and 0 <= key < len(container.item_lines):
                line = container.item_lines[key]
            else:
                line = container.line
        raise SpecError(message, self.source, line)

    def mapping(self, value, where: str, container=None, key=None) -> dict:
        if value is None:
            return _LineDict()
        if not isinstance(value, dict):
            self.fail(f"{where} must be a mapping, got {_type_name(value)}", container, key)
        return value

    def keys(self, mapping: dict, allowed, where: str):
        for key in mapping:
            if key not in allowed:
                self.fail(f"unknown key {key!r} in {where} (allowed: {', '.join(allowed)})",
                          mapping, key)

    def number(self, mapping, key, where, default=None, positive=False, nonneg=False,
               required=False) -> float | None:
        """A finite float at ``mapping[key]``.

        ``where`` names the container (``training``); for a list, ``key`` is an index and
        ``where`` the full name of the item (``training.learning_rate[2]``).
        """
        if isinstance(mapping, list):
            present, label = isinstance(key, int) and 0 <= key < len(mapping), where
        else:
            present, label = key in mapping, f"{where}.{key}"
        if not present or mapping[key] is None:
            if required:
                self.fail(f"{label} is required", mapping, None)
            return default
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                if not isinstance(value, str):
                    raise ValueError
                value = float(value)
            except ValueError:
                self.fail(f"{label} must be a number, got {mapping[key]!r}", mapping, key)
        value = float(value)
        if not math.isfinite(value):
            self.fail(f"{label} must be finite, got {value!r}", mapping, key)
        if positive and value <= 0:
            self.fail(f"{label} must be positive, got {value!r}", mapping, key)
        if nonneg and value < 0:
            self.fail(f"{label} must be >= 0, got {value!r}", mapping, key)
        return value

    def within(self, value, mapping, key, label: str, low: float, high: float,
               unit: str = "", low_open: bool = False):
        """``value`` if inside the documented limits (:func:`eqprop_hw.circuit.graph.check_range`),
        else a SpecError naming ``label`` and the line of ``mapping[key]``."""
        from eqprop_hw.circuit.graph import check_range
        if value is None:
            return value
        try:
            check_range(label, value, low, high, unit, low_open)
        except CircuitError as error:
            self.fail(str(error), mapping, key)
        return value

    def integer(self, mapping, key, where, default=None, minimum=None, required=False):
        if key not in mapping or mapping[key] is None:
            if required:
                self.fail(f"{where}.{key} is required", mapping, None)
            return default
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{where}.{key} must be an integer, got {value!r}", mapping, key)
        if minimum is not None and value < minimum:
            self.fail(f"{where}.{key} must be >= {minimum}, got {value}", mapping, key)
        return int(value)

    def boolean(self, mapping, key, where, default):
        if key not in mapping or mapping[key] is None:
            return default
        if not isinstance(mapping[key], bool):
            self.fail(f"{where}.{key} must be true or false, got {mapping[key]!r}", mapping, key)
        return mapping[key]

    def string(self, mapping, key, where, default=None, choices=None, required=False):
        if key not in mapping or mapping[key] is None:
            if required:
                self.fail(f"{where}.{key} is required", mapping, None)
            return default
        value = mapping[key]
        if not isinstance(value, str):
            self.fail(f"{where}.{key} must be a string, got {value!r}", mapping, key)
        if choices is not None and value not in choices:
            self.fail(f"{where}.{key} must be one of {', '.join(choices)}, got {value!r}",
                      mapping, key)
        return value

    def element_name(self, element: dict, where: str, seen: dict, position: int,
                     types, naming: str, refused: str, family: str) -> tuple[str, str]:
        """An element's ``name`` checked and upper-cased, and its type letter.

        ``seen`` maps the names so far to their positions (this one is added); ``types`` are the
        type letters allowed; ``naming`` ends the message for a malformed name ("starting with
        ..."), ``refused`` formats the one for another type (``{kind}``, ``{name}``); names the
        ``family``'s netlist writer reserves (``"resistive"``, ``"lc"``) are refused.
        """
        name = self.string(element, "name", where, required=True)
        if not ELEMENT_NAME.fullmatch(name) or len(name) > spice_grammar.MAX_NAME_CHARS:
            self.fail(f"{where}: invalid element name {quote(name)} (letters, "
                      f"digits, '_', {naming}, at most {spice_grammar.MAX_NAME_CHARS}"
                      f"{self._why(name.upper(), 'element')})", element, "name")
        name = name.upper()
        kind = name[0]
        if kind not in types:
            self.fail(f"{where}: " + refused.format(kind=kind, name=name), element, "name")
        if name in seen:
            self.fail(f"{where}: duplicate element name {name!r} (first at "
                      f"elements[{seen[name]}])", element, "name")
        seen[name] = position
        self.not_reserved(name, "element", family, f"{where}: element name", element, "name")
        return name, kind

    def node_names(self, element: dict, count: int, where: str, family: str) -> list[str]:
        """An element's ``nodes``: ``count`` names or integers, lower-cased, each a valid
        netlist node name (:mod:`eqprop_hw.circuit.spice_grammar`) that the ``family``'s
        writer does not reserve."""
        nodes = element.get("nodes")
        if not isinstance(nodes, list) or len(nodes) != count:
            self.fail(f"{where}: nodes must list {count} node names", element, "nodes")
        names = []
        for node in nodes:
            if node is None or isinstance(node, (bool, float, list, dict)):
                self.fail(f"{where}: node names must be names or integers, got {node!r}",
                          element, "nodes")
            node = str(node).lower()
            self.spice_name(node, "node", f"{where}: node name", element, "nodes")
            self.not_reserved(node, "node", family, f"{where}: node", element, "nodes")
            names.append(node)
        return names


    @staticmethod
    def _why(text, kind: str) -> str:
        """``: it holds ...`` when a control or white-space character is the problem."""
        problem = spice_grammar.name_problem(text, kind)
        return f"; it {problem.split(';')[0]}" if problem and problem.startswith("holds") else ""

    def spice_name(self, text, kind: str, label: str, container, key):
        """``text`` if it is a valid netlist name of ``kind`` (:mod:`eqprop_hw.circuit.spice_grammar`),
        else fail naming ``label`` and the reason."""
        problem = spice_grammar.name_problem(text, kind)
        if problem is not None:
            where, what = label.rsplit(": ", 1) if ": " in label else (label, f"{kind} name")
            self.fail(f"{where}: invalid {what} {quote(str(text))} (it {problem})",
                      container, key)
        return text

    def not_reserved(self, text, kind: str, family: str, label: str, container, key):
        """Fail when ``text`` is a name the netlist writer reserves for its own elements."""
        problem = spice_grammar.reserved_problem(text, kind, family)
        if problem is not None:
            self.fail(f"{label} {text!r} {problem}", container, key)
        return text

    def expression(self, text, label: str, container, key):
        """A behavioural expression parsed by :func:`eqprop_hw.circuit.spice_grammar.parse_expression`."""
        try:
            spice_grammar.parse_expression(text)
        except spice_grammar.ExpressionError as error:
            self.fail(f"{label}: behavioural expression {quote(str(text))}: "
                      f"{error}", container, key)
        return text


#: What an element name may be: a letter (its type), then letters, digits and '_'.
ELEMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.A)


@dataclass
class Spec:
    """A validated circuit spec.

    Attributes
    ----------
    data : dict
        The validated spec with defaults filled in (plain dicts and lists).
    source : str
        Where it came from (file path or ``<string>``).
    """

    data: dict
    source: str = "<string>"

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


def _type_name(value) -> str:
    """A user-facing type name (no internal class names)."""
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "nothing (null)"
    return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
        type(value).__name__, type(value).__name__)


def _plain(value):
    """Strip line-tracking containers to plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _options(check: _Checker, spec: dict) -> dict:
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


def _diode_entry(check: _Checker, container: dict, key, where: str) -> dict:
    """A diode model given as a parameter mapping or as a named model (``1N4148``)."""
    model = container.get(key)
    if isinstance(model, str):
        if model.upper() not in DIODE_PRESETS:
            check.fail(f"{where}: unknown diode model {model!r} (named models: "
                       f"{', '.join(DIODE_PRESETS)}; or give IS, N, RS)", container, key)
        return {"type": "D", **DIODE_PRESETS[model.upper()]}
    return _diode_model(check, check.mapping(model, where, container, key), where)


def _diode_model(check: _Checker, model: dict, where: str) -> dict:
    """A diode model mapping: IS, N, RS (always in the result, SPICE defaults), the datasheet
    parameters BV (V), IBV (A), EG (eV), XTI, TNOM (degC) and the transient-only CJO, CJ0, VJ,
    M, TT, FC (in the result only when given, in that order)."""
    from eqprop_hw.circuit.graph import (ABSOLUTE_ZERO_C, DIODE_AC_PARAMS, DIODE_DATASHEET_PARAMS,
                                 DIODE_DC_PARAMS, DIODE_MIN_EG, EMISSION_LIMITS,
                                 SATURATION_LIMITS)
    allowed = ("type",) + tuple(DIODE_DC_PARAMS) + tuple(DIODE_DATASHEET_PARAMS) + \
        DIODE_AC_PARAMS
    check.keys(model, allowed, where)
    if model.get("type", "D") != "D":
        check.fail(f"{where}.type must be D (only diode models are supported)", model, "type")
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
    check.within(out["IS"], model, "IS", f"{where}.IS", *SATURATION_LIMITS, "A")
    check.within(out["N"], model, "N", f"{where}.N", *EMISSION_LIMITS)
    for key in DIODE_AC_PARAMS:
        if key in model:
            out[key] = check.number(model, key, where)
    return out


def _dataset(check: _Checker, spec: dict):
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


def _training(check: _Checker, spec: dict):
    if spec.get("training") is None:
        return None
    training = check.mapping(spec["training"], "training", spec, "training")
    allowed = ("epochs", "batch_size", "learning_rate", "lr_decay", "beta", "nudge", "loss",
               "temperature", "seed", "estimator", "samples", "layer_beta")
    check.keys(training, allowed, "training")
    out = {
        "epochs": check.integer(training, "epochs", "training", default=10, minimum=1),
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
        "seed": check.integer(training, "seed", "training", default=0, minimum=0),
        # Finite temperature (top-level `temperature:`, eqprop_hw.thermal.gibbs): the estimator and
        # the samples per phase and minibatch; unused at T = 0.
        "estimator": check.string(training, "estimator", "training", default="chl",
                                  choices=("chl", "covariance", "path")),
        "samples": check.integer(training, "samples", "training", default=256, minimum=32),
    }
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


def _layer_beta(check: _Checker, training: dict) -> list | None:
    """``training.layer_beta``: one positive nudging strength per crossbar, or None."""
    values = training.get("layer_beta")
    if values is None:
        return None
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_LAYER_BETA:
        check.fail(f"training.layer_beta must be a list of 1 to {MAX_LAYER_BETA} positive "
                   "numbers (one nudging strength per crossbar)", training, "layer_beta")
    return [check.number(values, k, f"training.layer_beta[{k}]", positive=True)
            for k in range(len(values))]


DEVICE_KEYS = {
    "conductance": ("model", "states", "step", "up_down", "up_down_dtod", "step_dtod",
                    "step_std", "range_dtod", "max_pulses", "rounding"),
    "measurement": ("read_noise", "adc_bits", "adc_range", "adc_ranges", "at", "reads"),
    "amplifier": ("gain_dtod", "offset_std"),
    "update": ("scheme", "threshold", "gamma", "transfer_every", "columns"),
}


def _devices(check: _Checker, spec: dict):
    """The ``devices`` section (device models; see :mod:`eqprop_hw.learning.devices`)."""
    from eqprop_hw.learning.devices import DEVICE_MODELS, MAX_READS, ROUNDING
    if spec.get("devices") is None:
        return None
    devices = check.mapping(spec["devices"], "devices", spec, "devices")
    check.keys(devices, tuple(DEVICE_KEYS) + ("seed",), "devices")
    out: dict[str, Any] = {"seed": check.integer(devices, "seed", "devices", default=0,
                                                 minimum=0)}
    part = check.mapping(devices.get("conductance"), "devices.conductance", devices,
                         "conductance")
    check.keys(part, DEVICE_KEYS["conductance"], "devices.conductance")
    where = "devices.conductance"
    conductance = {
        "model": check.string(part, "model", where, default="ideal", choices=DEVICE_MODELS),
        "states": check.integer(part, "states", where, minimum=2),
        "step": check.number(part, "step", where, positive=True),
        "up_down": check.number(part, "up_down", where, default=0.0),
        "max_pulses": check.integer(part, "max_pulses", where, default=100, minimum=1),
        "rounding": check.string(part, "rounding", where, default="nearest", choices=ROUNDING),
    }
    for key in ("up_down_dtod", "step_dtod", "step_std", "range_dtod"):
        conductance[key] = check.number(part, key, where, default=0.0, nonneg=True)
    if not -1 < conductance["up_down"] < 1:
        check.fail(f"{where}.up_down must be in (-1, 1), got {conductance['up_down']!r}",
                   part, "up_down")
    if conductance["model"] != "ideal" and \
            (conductance["states"] is None) == (conductance["step"] is None):
        check.fail(f"{where}: a {conductance['model']} device needs exactly one of states "
                   "(number of levels) or step (S)", devices, "conductance")
    out["conductance"] = conductance
    part = check.mapping(devices.get("measurement"), "devices.measurement", devices,
                         "measurement")
    where = "devices.measurement"
    check.keys(part, DEVICE_KEYS["measurement"], where)
    measurement = {"read_noise": check.number(part, "read_noise", where, default=0.0,
                                              nonneg=True),
                   "adc_bits": check.integer(part, "adc_bits", where, minimum=1),
                   "at": check.string(part, "at", where, default="device",
                                      choices=("device", "lines")),
                   "reads": check.integer(part, "reads", where, default=1, minimum=1)}
    if measurement["reads"] > MAX_READS:
        check.fail(f"{where}.reads must be at most {MAX_READS} (conversions averaged per "
                   f"node and phase), got {measurement['reads']}", part, "reads")
    if measurement["adc_bits"] is not None and measurement["adc_bits"] > 32:
        check.fail(f"{where}.adc_bits must be at most 32, got {measurement['adc_bits']}",
                   part, "adc_bits")
    adc_range = part.get("adc_range")
    if adc_range is not None:
        if not isinstance(adc_range, list) or len(adc_range) != 2:
            check.fail(f"{where}.adc_range must be [lo, hi] in V", part, "adc_range")
        lo = check.number(adc_range, 0, f"{where}.adc_range[0]", required=True)
        hi = check.number(adc_range, 1, f"{where}.adc_range[1]", required=True)
        if not lo < hi:
            check.fail(f"{where}.adc_range needs lo < hi, got [{lo}, {hi}]", part, "adc_range")
        adc_range = [lo, hi]
    elif measurement["adc_bits"] is not None:
        check.fail(f"{where}.adc_range ([lo, hi] in V) is required with adc_bits", part,
                   "adc_bits")
    measurement["adc_range"] = adc_range
    ranges = part.get("adc_ranges")
    if ranges is not None:
        ranges = check.mapping(ranges, f"{where}.adc_ranges", part, "adc_ranges")
        out_ranges = {}
        for pattern, pair in ranges.items():
            label = f"{where}.adc_ranges[{pattern!r}]"
            if not isinstance(pattern, str) or not isinstance(pair, list) or len(pair) != 2:
                check.fail(f"{label} must be [lo, hi] in V under a node-name pattern", ranges,
                           pattern)
            lo = check.number(pair, 0, f"{label}[0]", required=True)
            hi = check.number(pair, 1, f"{label}[1]", required=True)
            if not lo < hi:
                check.fail(f"{label} needs lo < hi, got [{lo}, {hi}]", ranges, pattern)
            out_ranges[pattern] = [lo, hi]
        ranges = out_ranges
    measurement["adc_ranges"] = ranges
    out["measurement"] = measurement
    part = check.mapping(devices.get("amplifier"), "devices.amplifier", devices, "amplifier")
    check.keys(part, DEVICE_KEYS["amplifier"], "devices.amplifier")
    out["amplifier"] = {key: check.number(part, key, "devices.amplifier", default=0.0,
                                          nonneg=True) for key in DEVICE_KEYS["amplifier"]}
    out["update"] = _device_update(check, devices, conductance)
    return out


def _device_update(check: _Checker, devices: dict, conductance: dict) -> dict:
    """``devices.update``: the update scheme (:mod:`eqprop_hw.learning.schemes`)."""
    from eqprop_hw.learning.schemes import (MAX_COLUMNS, MAX_THRESHOLD, MAX_TRANSFER_EVERY,
                                            UPDATE_SCHEMES)
    where = "devices.update"
    part = check.mapping(devices.get("update"), where, devices, "update")
    check.keys(part, DEVICE_KEYS["update"], where)
    update = {"scheme": check.string(part, "scheme", where, default="direct",
                                     choices=UPDATE_SCHEMES),
              "threshold": check.number(part, "threshold", where, default=1.0)}
    transfer = {"gamma": check.number(part, "gamma", where, default=None),
                "transfer_every": check.integer(part, "transfer_every", where, default=None,
                                                minimum=1),
                "columns": check.integer(part, "columns", where, default=None, minimum=1)}
    given = [key for key, value in transfer.items() if value is not None]
    if given and update["scheme"] != "transfer":
        check.fail(f"{where}.{given[0]} is a setting of the transfer scheme, not of "
                   f"{update['scheme']}", part, given[0])
    if update["scheme"] == "transfer":
        gamma = transfer["gamma"] if transfer["gamma"] is not None else 0.0
        if not 0.0 <= gamma <= 1.0:
            check.fail(f"{where}.gamma must be in [0, 1], got {gamma!r}", part, "gamma")
        for key, top in (("transfer_every", MAX_TRANSFER_EVERY), ("columns", MAX_COLUMNS)):
            if transfer[key] is not None and transfer[key] > top:
                check.fail(f"{where}.{key} must be at most {top}, got {transfer[key]}", part,
                           key)
        update.update(gamma=gamma, transfer_every=transfer["transfer_every"] or 1,
                      columns=transfer["columns"] or 1)
    if not 1.0 <= update["threshold"] <= MAX_THRESHOLD:
        check.fail(f"{where}.threshold must be in [1, {MAX_THRESHOLD:g}] device steps, got "
                   f"{update['threshold']!r}", part, "threshold")
    if update["scheme"] != "direct" and conductance["model"] == "ideal":
        check.fail(f"{where}.scheme {update['scheme']} needs a pulsed device "
                   "(devices.conductance.model constant_step or soft_bounds)", part, "scheme")
    return update


def _layered(check: _Checker, spec: dict) -> dict:
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
    out["conductance"] = {"min": g_min, "max": g_max, "init": init_out,
                          "seed": check.integer(conductance, "seed", "conductance", default=0,
                                                minimum=0)}

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
        for position, port in enumerate(names):
            check.spice_name(port, "port", f"outputs.names[{position}]", names, position)
    out["outputs"] = {"names": names}
    return out


def _graph(check: _Checker, spec: dict) -> dict:
    from eqprop_hw.circuit.graph import (CONDUCTANCE_LIMITS, MAX_GAIN, MAX_SOURCE, NODE_COUNT,
                                 REACTANCE_LIMITS)
    out: dict[str, Any] = {}
    models = check.mapping(spec.get("models"), "models", spec, "models")
    out["models"] = {}
    for name, model in models.items():
        if not isinstance(name, str) or not ELEMENT_NAME.fullmatch(name):
            check.fail(f"invalid model name {quote(str(name))} (a letter, then "
                       f"letters, digits and '_'{check._why(str(name), 'model')})", models, name)
        check.spice_name(name.upper(), "model", "models: model name", models, name)
        out["models"][name.upper()] = _diode_entry(check, models, name, f"models.{name}")

    elements = spec.get("elements")
    if not isinstance(elements, list) or not elements:
        check.fail("elements must be a non-empty list", spec, "elements")
    value_keys = {"R": ("g", "r"), "V": ("dc",), "I": ("dc",), "C": ("c",), "L": ("l",),
                  "E": ("gain",), "G": ("gain",), "F": ("gain",), "H": ("gain",),
                  "D": ("area",), "B": ()}
    out["elements"] = []
    seen = {}
    for position, element in enumerate(elements):
        where = f"elements[{position}]"
        element = check.mapping(element, where, elements, position)
        name, kind = check.element_name(
            element, where, seen, position, NODE_COUNT, "starting with the element type letter",
            "unknown element type {kind!r} in {name!r} (supported: "
            + " ".join(NODE_COUNT) + ")", "resistive")
        allowed = ("name", "nodes", "model", "control", "expr") + value_keys[kind]
        check.keys(element, allowed, f"{where} ({name})")
        node_names = check.node_names(element, NODE_COUNT[kind], f"{where} ({name})",
                                      "resistive")
        item = {"name": name, "nodes": node_names}
        if kind == "R":
            if ("g" in element) == ("r" in element):
                check.fail(f"{where} ({name}): give exactly one of g (conductance, S) or "
                           "r (resistance, Ohm)", element, "name")
            key = "g" if "g" in element else "r"
            value = check.number(element, key, f"{where} ({name})")
            if value <= 0:
                what = "conductance" if key == "g" else "resistance"
                check.fail(f"{where} ({name}): {what} must be positive, got {value!r}",
                           element, key)
            conductance = value if key == "g" else 1.0 / value
            check.within(conductance, element, key, f"{where} ({name}): conductance"
                         + ("" if key == "g" else f" (1/r, r = {value:g} Ohm)"),
                         *CONDUCTANCE_LIMITS, "S")
            item[key] = value
        elif kind == "D":
            model = check.string(element, "model", f"{where} ({name})", required=True).upper()
            check.spice_name(model, "model", f"{where} ({name}): model name", element, "model")
            if model not in out["models"]:
                check.fail(f"{where} ({name}): unknown diode model {model!r} "
                           f"(defined: {', '.join(out['models']) or 'none'})", element, "model")
            item["model"] = model
            item["area"] = check.number(element, "area", f"{where} ({name})", default=1.0,
                                        positive=True)
        elif kind == "B":
            expr = check.string(element, "expr", f"{where} ({name})", required=True)
            item["expr"] = check.expression(expr, f"{where} ({name})", element, "expr")
        else:
            key = value_keys[kind][0]
            item[key] = check.number(element, key, f"{where} ({name})",
                                     default=0.0 if kind in "VI" else None,
                                     required=kind not in "VI",
                                     positive=kind in "CL")
            label = f"{where} ({name}): {key}"
            if kind in "CL":
                check.within(item[key], element, key, label, *REACTANCE_LIMITS[kind],
                             "F" if kind == "C" else "H")
            elif kind in "VI":
                check.within(abs(item[key]), element, key, f"{label} magnitude", 0.0,
                             MAX_SOURCE, "V" if kind == "V" else "A")
            else:
                check.within(abs(item[key]), element, key, f"{label} magnitude", 0.0,
                             MAX_GAIN[kind])
            if kind in "FH":
                item["control"] = check.string(element, "control", f"{where} ({name})",
                                               required=True).upper()
                check.spice_name(item["control"], "element", f"{where} ({name}): control",
                                 element, "control")
        out["elements"].append(item)

    names = {e["name"]: e for e in out["elements"]}
    inputs = spec.get("inputs") or []
    if not isinstance(inputs, list):
        check.fail("inputs must be a list of independent source names or "
                   "{name, sources: {SOURCE: gain}} mappings", spec, "inputs")
    out["inputs"] = []

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
            pairs = [[source_name(s, sources, s),
                      check.number(sources, s, f"inputs[{position}].sources")]
                     for s in sources]
            out["inputs"].append({"name": port, "sources": pairs})
        else:
            name = source_name(entry, inputs, position)
            out["inputs"].append({"name": name, "sources": [[name, 1.0]]})
    outputs = spec.get("outputs") or []
    if not isinstance(outputs, list):
        check.fail("outputs must be a list of node names or {name, node} mappings",
                   spec, "outputs")
    all_nodes = {n for e in out["elements"] for n in e["nodes"]}
    out["outputs"] = []
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
        out["outputs"].append({"name": port, "node": node})
    trainable = spec.get("trainable")
    if trainable is None:
        out["trainable"] = None  # every resistor
    else:
        if not isinstance(trainable, list) or not all(isinstance(t, str) for t in trainable):
            check.fail("trainable must be a list of element names or patterns like 'R*'",
                       spec, "trainable")
        out["trainable"] = [t.upper() for t in trainable]
    return out


def _thermal(check: _Checker, spec: dict) -> dict:
    """Top-level ``temperature`` (W, the Gibbs temperature of eqprop_hw.thermal.gibbs; not the softmax
    ``training.temperature``) and ``node_capacitance`` (F: one number, or {node: F})."""
    out = {"temperature": check.number(spec, "temperature", "spec", positive=True)}
    value = spec.get("node_capacitance")
    if isinstance(value, dict):
        out["node_capacitance"] = {
            check.spice_name(str(node), "node", "node_capacitance: node name", value, node):
            check.number(value, node, "node_capacitance", required=True, positive=True)
            for node in value}
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
    check = _Checker(source)
    if not isinstance(data, dict):
        raise SpecError("a spec must be a YAML mapping with at least 'name' and 'kind'", source,
                        getattr(data, "line", None))
    name = check.string(data, "name", "spec", required=True)
    if not NAME_RE.fullmatch(name) or len(name) > spice_grammar.MAX_TITLE_CHARS:
        check.fail(f"name {quote(name)} must be letters, digits, '_', '-', '.' "
                   f"(at most {spice_grammar.MAX_TITLE_CHARS}){check._why(name, 'title')}",
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
    out["devices"] = _devices(check, data)
    out.update(_thermal(check, data))
    return Spec(_plain(out), source)


def load_spec(path: str | Path) -> Spec:
    """Read and validate a YAML spec file.

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
    return parse_spec(read_yaml(text, source), source)
