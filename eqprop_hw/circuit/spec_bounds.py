"""Bounds on the numbers of a spec that are not element values (part of
:mod:`eqprop_hw.circuit.spec`): input gains and biases, activation levels, amplifier gains, wire
and crossbar conductances, targets, ADC ranges, node capacitances, diode areas, the nudge
conductance ``beta`` and the twin's storage capacitance.

Each is held to the limit the circuit applies to what it becomes (:mod:`eqprop_hw.circuit.limits`,
``docs/specs.md`` "Value limits"): a layered spec's ``inputs.gain`` drives the input sources at
``gain * x``, so it obeys :data:`~eqprop_hw.circuit.limits.MAX_SOURCE` like them;
``activation.high`` becomes the source ``VDHI``; ``wires`` and ``conductance.min/max`` are
conductances. Without these bounds ``inputs.gain: 1e300`` was read and only refused at
``simulate``, naming a source but no line. A refusal here is one
:class:`~eqprop_hw.errors.SpecError` naming the file, the line of the key and the limit.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> parse_spec({"name": "t", "kind": "layered", "layers": [2, 1],
...             "inputs": {"gain": 1e300}}, "t.yaml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eqprop_hw.errors.SpecError: t.yaml: inputs.gain (V per unit of input) 1e+300 is out of range: ...
"""

from __future__ import annotations

from eqprop_hw.circuit.limits import (CONDUCTANCE_LIMITS, MAX_GAIN, MAX_SOURCE,
                                      REACTANCE_LIMITS, SATURATION_LIMITS)
from eqprop_hw.circuit.spec_checks import SpecChecker

_SOURCE = (0.0, MAX_SOURCE)

#: (path of the mapping, key, label, (low, high), unit, magnitude): a number of the parsed spec
#: at ``path + key`` held to ``low <= value <= high`` (``|value|`` if ``magnitude``). The path
#: is the same in the document and in the parsed spec.
BOUNDS = (
    (("inputs",), "gain", "inputs.gain (V per unit of input)", _SOURCE, "", False),
    (("inputs",), "bias", "inputs.bias", _SOURCE, "V", False),
    (("activation",), "high", "activation.high magnitude", _SOURCE, "V", True),
    (("activation",), "low", "activation.low magnitude", _SOURCE, "V", True),
    (("amplifiers",), "gain", "amplifiers.gain", (0.0, MAX_GAIN["E"]), "", False),
    (("wires",), "row_conductance", "wires.row_conductance", CONDUCTANCE_LIMITS, "S", False),
    (("wires",), "column_conductance", "wires.column_conductance", CONDUCTANCE_LIMITS, "S",
     False),
    (("conductance",), "min", "conductance.min", CONDUCTANCE_LIMITS, "S", False),
    (("conductance",), "max", "conductance.max", CONDUCTANCE_LIMITS, "S", False),
    (("conductance", "init"), "scale", "conductance.init.scale", CONDUCTANCE_LIMITS, "S",
     False),
    (("dataset",), "target_high", "dataset.target_high magnitude", _SOURCE, "V", True),
    (("dataset",), "target_low", "dataset.target_low magnitude", _SOURCE, "V", True),
    (("devices", "amplifier"), "offset_std", "devices.amplifier.offset_std", _SOURCE, "V",
     False),
    # the squared loss's nudge is a conductance beta (S) to the target (cross entropy: W)
    (("training",), "beta", "training.beta (the nudge conductance, S)", CONDUCTANCE_LIMITS, "",
     False),
    (("training", "twin"), "capacitance", "training.twin.capacitance", REACTANCE_LIMITS["C"],
     "F", False),
)


def _at(mapping, path):
    """``mapping[path[0]][path[1]]...``, or None where a level is missing."""
    for key in path:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping if isinstance(mapping, dict) else None


def check_bounds(check: SpecChecker, document: dict, parsed: dict) -> None:
    """Hold the numbers of a parsed ``layered`` or ``graph`` spec to their bounds.

    Parameters
    ----------
    check : SpecChecker
        Bound to the spec's file (names it and the line in every refusal).
    document : dict
        The spec as read (line-tracking mappings: the lines of the keys).
    parsed : dict
        The validated spec (defaults filled in), from the same document.

    Raises
    ------
    SpecError
        Naming the key, the value and the limit, at the key's line.
    """
    for path, key, label, (low, high), unit, magnitude in BOUNDS:
        values, container = _at(parsed, path), _at(document, path)
        if values is None or container is None or values.get(key) is None or \
                key not in container:
            continue                         # not given: the defaults are within bounds
        value = values[key]
        check.within(abs(value) if magnitude else value, container, key, label, low, high,
                     unit)
    _check_layer_beta(check, document, parsed)
    _check_adc_ranges(check, document, parsed)
    _check_node_capacitance(check, document, parsed)
    if parsed.get("kind") == "graph":
        _check_diode_areas(check, document, parsed)


def _check_layer_beta(check: SpecChecker, document: dict, parsed: dict) -> None:
    """``training.layer_beta``: each nudge conductance within the conductance limits."""
    values = (parsed.get("training") or {}).get("layer_beta")
    for position, value in enumerate(values or []):
        check.within(value, document["training"]["layer_beta"], position,
                     f"training.layer_beta[{position}] (S)", *CONDUCTANCE_LIMITS)


def _check_adc_ranges(check: SpecChecker, document: dict, parsed: dict) -> None:
    """``devices.measurement.adc_range`` and each ``adc_ranges`` pair: |V| <= MAX_SOURCE."""
    measurement = _at(parsed, ("devices", "measurement")) or {}
    given = _at(document, ("devices", "measurement")) or {}
    pairs = []
    if measurement.get("adc_range") is not None:
        pairs.append(("devices.measurement.adc_range", measurement["adc_range"],
                      given["adc_range"]))
    ranges = given.get("adc_ranges")
    for pattern, pair in (measurement.get("adc_ranges") or {}).items():
        pairs.append((f"devices.measurement.adc_ranges[{pattern!r}]", pair, ranges[pattern]))
    for label, pair, container in pairs:
        for index, value in enumerate(pair):
            check.within(abs(value), container, index, f"{label}[{index}] magnitude", *_SOURCE,
                         "V")


def _check_node_capacitance(check: SpecChecker, document: dict, parsed: dict) -> None:
    """``node_capacitance`` (one number or ``{node: F}``) within the capacitance limits."""
    value = parsed.get("node_capacitance")
    if isinstance(value, dict):
        given = document["node_capacitance"]
        for (key, _given), (node, farad) in zip(given.items(), value.items()):
            check.within(farad, given, key, f"node_capacitance.{node}",
                         *REACTANCE_LIMITS["C"], "F")
    elif value is not None:
        check.within(value, document, "node_capacitance", "node_capacitance",
                     *REACTANCE_LIMITS["C"], "F")


def _check_diode_areas(check: SpecChecker, document: dict, parsed: dict) -> None:
    """Each diode's ``IS * area`` within the saturation-current limits (A), at its ``area``."""
    elements = document.get("elements")
    for position, item in enumerate(parsed["elements"]):
        if item["name"][0] != "D" or "area" not in item:
            continue
        model = parsed["models"].get(item["model"], {})
        if model.get("type") != "D" or "IS" not in model:
            continue
        entry = elements[position]
        check.within(model["IS"] * item["area"], entry, "area",
                     f"elements[{position}] ({item['name']}): saturation current IS*area "
                     f"(IS = {model['IS']:g} A, area = {item['area']:g})",
                     *SATURATION_LIMITS, "A")


__all__ = ["BOUNDS", "check_bounds"]
