"""The ``devices:`` section of a spec (device models, measurement, amplifiers and the update
scheme; see :mod:`eqprop_hw.learning.devices` and :mod:`eqprop_hw.learning.schemes`), checked
by :class:`eqprop_hw.circuit.spec_checks.SpecChecker` with one line per refusal.
"""

from __future__ import annotations

from typing import Any

from eqprop_hw.circuit.spec_checks import SpecChecker

#: Keys of each part of ``devices:``.
DEVICE_KEYS = {
    "conductance": ("model", "states", "step", "up_down", "up_down_dtod", "step_dtod",
                    "step_std", "range_dtod", "max_pulses", "rounding"),
    "measurement": ("read_noise", "adc_bits", "adc_range", "adc_ranges", "at", "reads"),
    "amplifier": ("gain_dtod", "offset_std"),
    "update": ("scheme", "threshold", "gamma", "transfer_every", "columns", "step_estimate"),
}


def parse_devices(check: SpecChecker, spec: dict):
    """The ``devices`` section (device models; see :mod:`eqprop_hw.learning.devices`).

    Long because: one flat check per key of its four parts, in the order docs/specs.md lists
    them; splitting would only pass the same checker and mappings around."""
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
    out["update"] = device_update(check, devices, conductance)
    return out


def device_update(check: SpecChecker, devices: dict, conductance: dict) -> dict:
    """``devices.update``: the update scheme (:mod:`eqprop_hw.learning.schemes`)."""
    from eqprop_hw.learning.schemes import (MAX_COLUMNS, MAX_THRESHOLD, MAX_TRANSFER_EVERY,
                                            STEP_ESTIMATES, UPDATE_SCHEMES)
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
    estimate = check.string(part, "step_estimate", where, default=None, choices=STEP_ESTIMATES)
    if estimate is not None and update["scheme"] != "accumulate":
        check.fail(f"{where}.step_estimate is a setting of the accumulate scheme, not of "
                   f"{update['scheme']}", part, "step_estimate")
    if estimate not in (None, "nominal"):      # recorded only when not the default
        update["step_estimate"] = estimate
    if not 1.0 <= update["threshold"] <= MAX_THRESHOLD:
        check.fail(f"{where}.threshold must be in [1, {MAX_THRESHOLD:g}] device steps, got "
                   f"{update['threshold']!r}", part, "threshold")
    if update["scheme"] != "direct" and conductance["model"] == "ideal":
        check.fail(f"{where}.scheme {update['scheme']} needs a pulsed device "
                   "(devices.conductance.model constant_step or soft_bounds)", part, "scheme")
    return update
