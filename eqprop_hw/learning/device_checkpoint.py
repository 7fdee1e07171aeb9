"""The ``devices`` section a training checkpoint was written with, checked on resume.

The device-to-device draws (``devices.seed``), the measurement and every pulse of a run with a
``devices`` section depend on that section, so a run continued with another one would give
neither run's result. A checkpoint keeps the section as JSON (field ``device_section``;
``null`` for a run without one) and ``resume=True`` refuses a spec whose section differs,
naming the first setting that does (a run without devices continued with them, or the
reverse, included).

Examples
--------
>>> first_difference({"seed": 5, "measurement": {"reads": 1}},
...                  {"seed": 5, "measurement": {"reads": 3}}, "devices")
('devices.measurement.reads', 1, 3)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eqprop_hw.io.statefile import CheckpointReader

#: Checkpoint field holding the run's ``devices`` section (JSON; older checkpoints have none).
DEVICE_SECTION = "device_section"


def section_field(section: dict | None) -> np.ndarray:
    """The checkpoint field of a validated ``devices`` section: its JSON, keys sorted
    (``null`` for None: a run without devices)."""
    return np.array(json.dumps(section, sort_keys=True))


def check_device_section(path: Path, section: dict | None) -> None:
    """Refuse to resume a checkpoint written with another ``devices`` section than
    ``section`` (None: the spec has none). A checkpoint without the field (written before it
    existed) is not compared.

    Raises
    ------
    ParamsError
        ``"<path>: cannot resume from this checkpoint: it was written with
        devices.measurement.reads 1, not 3 (...)"``.
    """
    state = CheckpointReader(path, (DEVICE_SECTION,))
    if not state.has(DEVICE_SECTION):
        return
    written = state.json(DEVICE_SECTION, object)
    if written is not None and not isinstance(written, dict):
        raise state.error(f"{DEVICE_SECTION!r} must be a JSON object or null, got "
                          f"{type(written).__name__}")
    now = json.loads(json.dumps(section, sort_keys=True)) if section is not None else None
    key, old, new = first_difference(written, now, "devices")
    if key is not None:
        raise state.error(f"it was written with {key} {shown(old)}, not {shown(new)} (resume "
                          "with the run's own devices section, or train into a new --out "
                          "folder)")


def first_difference(old, new, key: str) -> tuple:
    """``(dotted key, old value, new value)`` of the first difference (keys sorted) of two
    JSON values, or ``(None, None, None)`` when they are equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            found = first_difference(old.get(name), new.get(name), f"{key}.{name}")
            if found[0] is not None:
                return found
        return None, None, None
    return (None, None, None) if old == new else (key, old, new)


def shown(value) -> str:
    """A setting in a refusal: its JSON, at most 80 characters; ``none`` when absent."""
    text = "none" if value is None else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


#: Checkpoint fields of the devices' update-scheme state (optional: older checkpoints and runs
#: without ``devices`` have none).
DEVICE_FIELDS = ("device_buffer", "device_pulses", "device_updates")


def read_device_state(path: Path, n_values: int, scheme) -> dict | None:
    """The devices' scheme state of a training checkpoint (its ``device_*`` fields), or None.

    ``device_buffer`` must hold ``n_values`` finite numbers (S; required when ``scheme`` keeps
    state: a checkpoint without it cannot continue an ``accumulate`` run), ``device_pulses``
    ``n_values`` integers >= 0 (zeros when absent: older checkpoints still load). The register
    bound is checked once the devices are drawn (:func:`check_resumed_bounds`).
    """
    state = CheckpointReader(path, DEVICE_FIELDS)
    if not any(state.has(key) for key in DEVICE_FIELDS) and not scheme.stateful:
        return None
    if scheme.stateful or state.has("device_buffer"):
        buffer = state.vector("device_buffer", n_values, "trainable elements")
    else:
        buffer = np.zeros(n_values)
    pulses = np.zeros(n_values, dtype=np.int64)
    if state.has("device_pulses"):
        raw = state.arrays["device_pulses"]
        if raw.dtype.kind not in "iu":
            raise state.error(f"'device_pulses' must hold integers, got dtype {raw.dtype}")
        counts = state.vector("device_pulses", n_values, "trainable elements")
        if np.any(counts < 0) or np.any(counts > 2.0 ** 62):
            index = int(np.flatnonzero((counts < 0) | (counts > 2.0 ** 62))[0])
            raise state.error(f"'device_pulses'[{index}] is {int(raw[index])}, it must be a "
                              "pulse count in [0, 2^62]")
        pulses = raw.astype(np.int64)
    updates = state.integer("device_updates", 0, 2**62) if state.has("device_updates") else 0
    return {"buffer": buffer, "pulses": pulses, "updates": updates}
