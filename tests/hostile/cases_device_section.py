"""The checkpoint field ``device_section`` (the ``devices`` section a run was written with,
JSON; eqprop_hw/learning/device_checkpoint.py): forged, malformed or from another devices
section, ``train --resume`` refuses it with one line and trains nothing."""

import json

import numpy as np

from hostile.cases_device_schemes import ACCUMULATE, accumulate_fields, resume
from hostile.cases_state import state


def section(**changes) -> str:
    """ACCUMULATE's validated devices section as JSON, with top-level ``changes``."""
    import yaml

    from eqprop_hw.circuit.spec import parse_spec
    devices = parse_spec(yaml.safe_load(ACCUMULATE)).data["devices"]
    devices.update(changes)
    return json.dumps(devices, sort_keys=True)


def with_section(text) -> callable:
    """accumulate_fields with ``device_section`` = ``text()`` (a string array)."""
    def fields():
        return accumulate_fields(device_section=np.array(text()))
    return fields


CASES = [
    resume("ckpt-device-section-other-seed", state(with_section(lambda: section(seed=9))),
           ("it was written with devices.seed 9, not 0",)),
    resume("ckpt-device-section-other-measurement", state(with_section(lambda: section(
        measurement={"read_noise": 0.001}))), ("it was written with devices.measurement.",)),
    resume("ckpt-device-section-not-json", state(with_section(lambda: "{seed: 9")),
           ("'device_section' is not valid JSON",)),
    resume("ckpt-device-section-a-list", state(with_section(lambda: "[1, 2]")),
           ("'device_section' must be a JSON object or null, got list",)),
    resume("ckpt-device-section-deep", state(with_section(lambda: "[" * 100_000 + "]" * 100_000)),
           ("'device_section'",)),
    resume("ckpt-device-section-numbers", state(accumulate_fields,
                                                device_section=np.arange(3.0)),
           ("'device_section' must be a string",)),
]
