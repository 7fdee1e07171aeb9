"""Device update schemes (issue 18): the spec fields ``devices.update`` and
``devices.measurement.reads``, and the checkpoint fields ``device_buffer`` / ``device_pulses``
that carry the schemes' per-cell state, refused with one line when forged."""

import json

import numpy as np

from hostile import Case
from hostile.cases_state import CURVES, TINY, state, tiny_fields, trained_params

DEVICES = """\
devices:
  conductance: {model: constant_step, states: 64}
  update: {scheme: accumulate, threshold: 1.0}
"""
ACCUMULATE = TINY + DEVICES
DW = (1e-3 - 1e-8) / 63           # TINY's nominal step with 64 states (S)
TRANSFER = TINY + """\
devices:
  conductance: {model: constant_step, states: 64}
  update: {scheme: transfer, threshold: 1.0}
"""



def spec_case(case_id, devices, error):
    """``describe`` a TINY spec with a hostile ``devices`` section."""
    return Case(case_id, ["describe", "spec.yaml"], {"spec.yaml": TINY + devices},
                error=error)


def accumulate_fields(**changes) -> dict:
    """A valid checkpoint of ACCUMULATE after one epoch (register and pulse counts)."""
    fields = tiny_fields(1, metrics={"spec": "tiny", **{key: [0.5] for key in CURVES},
                                     "epochs": [1], "pulses_per_cell": [3.0],
                                     "device_update": "accumulate, threshold 1"})
    size = fields["values"].size
    fields.update(device_buffer=np.full(size, 0.25 * DW),
                  device_pulses=np.full(size, 3, dtype=np.int64))
    fields.update(changes)
    return fields


def resume(case_id, checkpoint, error, spec=ACCUMULATE):
    """``train --resume`` of ACCUMULATE from a hostile checkpoint: nothing trained or written."""
    files = {"tiny.yaml": spec, "run/params.npz": trained_params,
             "run/checkpoint.npz": checkpoint}
    return Case(case_id, ["train", "tiny.yaml", "--out", "run", "--resume", "--no-plots"],
                files, error=("cannot resume from this checkpoint",) + tuple(error),
                names="run/checkpoint.npz")


def with_metrics(**entries):
    """accumulate_fields with the metrics' entries changed."""
    def fields():
        out = accumulate_fields()
        metrics = json.loads(str(out["metrics"]))
        metrics.update(entries)
        out["metrics"] = np.array(json.dumps(metrics))
        return out
    return fields


CASES = [
    # -- spec fields ---------------------------------------------------------------------------
    spec_case("update-unknown-scheme", "devices:\n  conductance: {model: constant_step, "
              "states: 64}\n  update: {scheme: tiki_taka_v9}\n",
              ("devices.update.scheme must be one of", "tiki_taka_v9")),
    spec_case("update-threshold-below-a-step", "devices:\n  conductance: {model: constant_step, "
              "states: 64}\n  update: {scheme: accumulate, threshold: 0.01}\n",
              ("devices.update.threshold must be in [1, 1000] device steps",)),
    spec_case("update-threshold-nan", "devices:\n  conductance: {model: constant_step, "
              "states: 64}\n  update: {scheme: accumulate, threshold: .nan}\n",
              ("devices.update.threshold must be finite",)),
    spec_case("update-threshold-1e308", "devices:\n  conductance: {model: constant_step, "
              "states: 64}\n  update: {scheme: accumulate, threshold: 1.0e+308}\n",
              ("devices.update.threshold must be in [1, 1000]",)),
    spec_case("update-accumulate-on-ideal-devices", "devices:\n  update: {scheme: accumulate}\n",
              ("devices.update.scheme accumulate needs a pulsed device",)),
    spec_case("update-unknown-key", "devices:\n  update: {scheme: direct, register: 64}\n",
              ("unknown key 'register'",)),
    spec_case("update-not-a-mapping", "devices:\n  update: [accumulate]\n",
              ("devices.update",)),
    spec_case("transfer-gamma-negative", "devices:\n  conductance: {model: soft_bounds, "
              "states: 64}\n  update: {scheme: transfer, gamma: -0.5}\n",
              ("devices.update.gamma must be in [0, 1]",)),
    spec_case("transfer-every-a-string", "devices:\n  conductance: {model: soft_bounds, "
              "states: 64}\n  update: {scheme: transfer, transfer_every: often}\n",
              ("devices.update.transfer_every must be an integer",)),
    spec_case("transfer-columns-huge", "devices:\n  conductance: {model: soft_bounds, "
              "states: 64}\n  update: {scheme: transfer, columns: 1000000000000}\n",
              ("devices.update.columns must be at most 100000",)),
    spec_case("transfer-field-on-direct", "devices:\n  conductance: {model: soft_bounds, "
              "states: 64}\n  update: {columns: 4}\n",
              ("devices.update.columns is a setting of the transfer scheme, not of direct",)),
    Case("layer-beta-not-a-list", ["describe", "spec.yaml"], {"spec.yaml": TINY.replace(
        "batch_size: 4}", "batch_size: 4, layer_beta: 1.0e-4}")},
        error=("training.layer_beta must be a list",)),
    Case("layer-beta-one-for-two-crossbars", ["train", "spec.yaml", "--out", "run"],
         {"spec.yaml": TINY.replace("batch_size: 4}", "batch_size: 4, layer_beta: [1.0e-4]}")},
         error=("training.layer_beta lists 1 value(s) but the circuit has 2 crossbar(s)",)),
    spec_case("reads-zero", "devices:\n  measurement: {reads: 0}\n",
              ("devices.measurement.reads",)),
    spec_case("reads-a-billion", "devices:\n  measurement: {reads: 1000000000}\n",
              ("devices.measurement.reads must be at most 1024",)),
    spec_case("reads-float", "devices:\n  measurement: {reads: 2.5}\n",
              ("devices.measurement.reads",)),
    # -- checkpoint fields ---------------------------------------------------------------------
    resume("ckpt-accumulate-without-register", state(accumulate_fields, device_buffer=None),
           ("the field 'device_buffer' is missing",)),
    resume("ckpt-register-nan", state(accumulate_fields,
                                      device_buffer=lambda b: np.r_[np.nan, b[1:]]),
           ("'device_buffer'[0] is nan",)),
    resume("ckpt-register-wrong-shape", state(accumulate_fields,
                                              device_buffer=lambda b: b[:2]),
           ("'device_buffer' has shape (2,)",)),
    resume("ckpt-register-past-saturation", state(accumulate_fields,
                                                  device_buffer=lambda b: b * 0 + 500 * DW),
           ("'device_buffer'[0] is", "outside the range of the scheme's register")),
    resume("ckpt-register-strings", state(accumulate_fields,
                                          device_buffer=lambda b: np.array(["x"] * b.size)),
           ("'device_buffer' must hold numbers",)),
    resume("ckpt-pulses-negative", state(accumulate_fields,
                                         device_pulses=lambda p: -p),
           ("'device_pulses'[0] is -3", "pulse count")),
    resume("ckpt-pulses-float", state(accumulate_fields,
                                      device_pulses=lambda p: p + 0.5),
           ("'device_pulses' must hold integers",)),
    resume("ckpt-pulses-wrong-shape", state(accumulate_fields,
                                            device_pulses=lambda p: p[:, None]),
           ("'device_pulses' has shape",)),
    resume("ckpt-updates-negative", state(accumulate_fields, device_updates=np.array(-4)),
           ("'device_updates' is -4, it must be in [0, ",)),
    resume("ckpt-updates-array", state(accumulate_fields, device_updates=np.arange(3)),
           ("'device_updates' must be an integer",)),
    resume("ckpt-fast-array-outside-its-device", state(with_metrics(
        device_update="transfer, threshold 1, gamma 0, transfer_every 1, columns 1"),
        device_buffer=lambda b: b * 0 + 1e-3),
        ("'device_buffer'[0] is 0.001 S, outside the range of the scheme's register or fast "
         "device",), spec=TRANSFER),
    resume("ckpt-other-threshold", state(with_metrics(
        device_update="accumulate, threshold 4")),
        ("it was written with device_update 'accumulate, threshold 4', not 'accumulate, "
         "threshold 1'",)),
    resume("ckpt-accumulate-resumed-as-direct", state(accumulate_fields),
           ("it was written with device_update",),
           spec=TINY + "devices:\n  conductance: {model: constant_step, states: 64}\n"),
]
