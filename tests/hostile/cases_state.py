"""Training state: params files and checkpoints of every kind (incl. lc), refused with one line.

Truncated, empty, mis-shaped, NaN/inf, foreign-spec, pickled, forged-header and JSON-bomb
params and checkpoints. For ``train --resume`` the run folder also holds a trained
``params.npz``: the harness asserts that no file changes, so a refused resume trains nothing
and overwrites nothing.
"""

import json
import zipfile

import numpy as np
import yaml

from hostile import DIVIDER, Case, forge


TINY = """\
name: tiny
kind: layered
layers: [2, 2, 1]
conductance: {min: 1.0e-8, max: 1.0e-3, init: {distribution: uniform, low: 1.0e-6,
              high: 2.0e-5}, seed: 0}
dataset: {name: xor}
training: {epochs: 3, batch_size: 4}
"""

LC = (forge.ROOT / "circuits" / "lc" / "lc_teacher.yaml").read_text()
CURVES = ("epochs", "train_loss", "test_loss", "train_accuracy", "test_accuracy", "seconds",
          "samples_per_second")


def _tiny_circuit():
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.circuit.spec import parse_spec
    return build_circuit(parse_spec(yaml.safe_load(TINY)))


def _lc_model():
    from eqprop_hw.lc.model import build_model
    from eqprop_hw.circuit.spec import parse_spec
    return build_model(parse_spec(yaml.safe_load(LC)))


def _apply(fields: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if value is None:
            fields.pop(key)
        elif callable(value):
            fields[key] = value(fields[key])
        else:
            fields[key] = value
    return fields


def tiny_fields(epoch: int = 1, metrics: dict | None = None) -> dict:
    """The arrays of a valid checkpoint of TINY after ``epoch`` epochs."""
    values = np.array(_tiny_circuit().trainable_values())
    metrics = metrics if metrics is not None else \
        {"spec": "tiny", **{key: [0.5] * epoch for key in CURVES},
         "epochs": list(range(1, epoch + 1))}
    return {"format": np.array("eqprop-hw checkpoint 2"), "epoch": np.array(epoch),
            "values": values, "metrics": np.array(json.dumps(metrics)),
            "position": np.array(0), "seconds": np.array(1.0)}


def lc_fields(epoch: int = 1) -> dict:
    """The arrays of a valid lc checkpoint of LC after ``epoch`` epochs."""
    model = _lc_model()
    size = len(model.trainable)
    metrics = {"epochs": list(range(epoch)), "train_loss": [1e-25] * epoch,
               "cosine": [None] * epoch}
    return {"format": np.array("eqprop-hw lc checkpoint 1"), "epoch": np.array(epoch),
            "theta": model.theta0(), "adam_m": np.zeros(size), "adam_v": np.full(size, 1e-3),
            "adam_t": np.array(epoch), "metrics": np.array(json.dumps(metrics)),
            "trainable": np.array(json.dumps(list(model.trainable))),
            "seconds": np.array(1.0)}


def state(fields, post=None, method=zipfile.ZIP_STORED, **changes):
    """A checkpoint writer: ``fields()`` changed by ``changes`` (None removes, a callable maps
    the old array, bytes replace the NPY member), then ``post`` on the archive bytes."""
    def make(path):
        raw = forge.npz(_apply(fields(), changes), method)
        path.write_bytes(post(raw) if post else raw)
    return make


def trained_params(path):
    from eqprop_hw.io.params import save_params
    circuit = _tiny_circuit()
    save_params(path, dict(zip(circuit.trainable, circuit.trainable_values())))


def resume(case_id, checkpoint, error, spec="tiny.yaml", extra=()):
    """``train --resume`` from a hostile checkpoint; the trained params must stay as they are."""
    files = {"tiny.yaml": TINY, "lc.yaml": LC, "run/params.npz": trained_params,
             "run/checkpoint.npz": checkpoint}
    return Case(case_id, ["train", spec, "--out", "run", "--resume", "--no-plots", *extra],
                files, error=("cannot resume from this checkpoint",) + tuple(error),
                names="run/checkpoint.npz")


def params(case_id, content, error, name="p.json", spec="divider.yaml"):
    files = {"divider.yaml": DIVIDER, "lc.yaml": LC, name: content}
    return Case(case_id, ["describe", spec, "--params", name], files, error=error, names=name)


def params_npz(**arrays):
    base = {"names": np.array(["R1", "R2"]), "values": np.array([1e-3, 2e-3])}
    return forge.npz(_apply(base, arrays))


def params_json(values) -> str:
    return json.dumps({"format": "eqprop-hw params 1", "values": values})


CASES = [
    # -- JSON params ----------------------------------------------------------------------
    params("json-bomb-100k-deep", "[" * 100_000 + "]" * 100_000,
           ("JSON nested 100000 levels deep", "the limit is 32")),
    params("json-deep-in-values", '{"format": "eqprop-hw params 1", "values": {"R1": '
           + "[" * 40 + "1" + "]" * 40 + "}}", ("JSON nested 42 levels deep",)),
    params("json-truncated", params_json({"R1": 1e-3})[:30], ("malformed JSON",)),
    params("json-empty", "", ("malformed JSON",)),
    params("json-nan-literal", '{"format": "eqprop-hw params 1", "values": {"R1": NaN}}',
           ("NaN is not valid JSON",)),
    params("json-400-digit-integer", '{"format": "eqprop-hw params 1", "values": {"R1": 1'
           + "0" * 400 + "}}", ("value of 'R1' must be finite",)),
    params("json-foreign-spec", params_json({"RL1_0_0": 1e-3}),
           ("'RL1_0_0': not an element of circuit 'divider'",)),
    params("json-negative", params_json({"R1": -1e-3}), ("value of 'R1' must be positive",)),
    params("json-long-string-value", params_json({"R1": "x" * 10_000}),
           ("value of 'R1' must be a number", "(10000 characters)")),
    params("json-long-element-name", params_json({"R" * 5000: 1e-3}),
           ("(5000 characters)", "not an element")),
    params("json-latin1", params_json({"R1": 1e-3}).replace("R1", "R\xe9").encode("latin-1"),
           ("not a UTF-8 JSON file",)),
    params("json-symlink-to-dev-zero", forge.symlink_to("/dev/zero"),
           ("not a regular file", "character device")),
    params("json-fifo", forge.fifo, ("not a regular file", "FIFO")),
    params("json-over-64mib-sparse", forge.sparse(64 * 2**20 + 1),
           ("params file too large", "the limit is 67108864 bytes")),
    params("json-folder", forge.folder, ("is a folder, not a file",)),
    # -- NPZ params -----------------------------------------------------------------------
    params("npz-pickled-names", params_npz(names=np.array([{"R1": 1}], dtype=object)),
           ("'names'", "pickles"), name="p.npz"),
    params("npz-header-asks-1e12-values", params_npz(values=forge.npy_header((10**12,))),
           ("'values'", "declares shape (1000000000000,)"), name="p.npz"),
    params("npz-values-zip-bomb", forge.npz({"names": np.array(["R1"]),
                                            "values": forge.zeros_bomb()},
                                           zipfile.ZIP_DEFLATED),
           ("decompression bomb",), name="p.npz"),
    params("params-npz-truncated", params_npz()[:200], ("not a readable .npz archive",), name="p.npz"),
    params("params-npz-empty", b"", ("not a readable .npz archive",), name="p.npz"),
    params("npz-nan", params_npz(values=np.array([np.nan, 1e-3])),
           ("value of 'R1' must be finite",), name="p.npz"),
    params("npz-inf", params_npz(values=np.array([1e-3, np.inf])),
           ("value of 'R2' must be finite",), name="p.npz"),
    params("npz-2d-values", params_npz(values=np.ones((2, 2))),
           ("same length", "(2, 2)"), name="p.npz"),
    params("npz-integer-names", params_npz(names=np.array([1, 2])),
           ("'names' must be an array of strings",), name="p.npz"),
    params("npz-structured-values", params_npz(values=np.zeros(2, dtype=[("a", "<f8")])),
           ("'values'", "dtype"), name="p.npz"),
    params("npz-foreign-spec", params_npz(names=np.array(["RL1_0_0", "RL1_0_1"])),
           ("not an element of circuit 'divider'",), name="p.npz"),
    params("npz-missing-values", params_npz(values=None), ("missing array(s) values",),
           name="p.npz"),
    # -- lc params ------------------------------------------------------------------------
    params("lc-json-foreign-element", params_json({"RL1_0_0": 1e-3}), ("RL1_0_0",),
           spec="lc.yaml"),
    params("lc-npz-nan", params_npz(names=np.array(["C1", "C2"]),
                                    values=np.array([np.nan, 1e-9])),
           ("value of 'C1' must be finite",), name="p.npz", spec="lc.yaml"),
    params("lc-json-bomb", "{" * 50_000, ("JSON nested 50000 levels deep",), spec="lc.yaml"),
    # -- checkpoints of train -------------------------------------------------------------
    resume("ckpt-empty", b"", ("the file is empty",)),
    resume("ckpt-truncated", state(tiny_fields, post=lambda raw: raw[:len(raw) // 2]),
           ("not a readable .npz archive",)),
    resume("ckpt-garbage", b"garbage", ("no zip header",)),
    resume("ckpt-nan-value", state(tiny_fields, values=lambda v: np.r_[np.nan, v[1:]]),
           ("'values'[0] is nan",)),
    resume("ckpt-inf-value", state(tiny_fields, values=lambda v: np.r_[v[:-1], np.inf]),
           ("is inf", "not finite and positive")),
    resume("ckpt-negative-value", state(tiny_fields, values=lambda v: -v),
           ("not finite and positive",)),
    resume("ckpt-one-value-too-many", state(tiny_fields, values=lambda v: np.r_[v, 1e-6]),
           ("'values' has shape", "(a checkpoint of another spec?)")),
    resume("ckpt-column-of-values", state(tiny_fields, values=lambda v: v[:, None]),
           ("'values' has shape (", ", 1)")),
    resume("ckpt-foreign-spec", state(lambda: tiny_fields(metrics={
        "spec": "other", **{key: [0.5] for key in CURVES}, "epochs": [1]})),
        ("written for spec 'other', not 'tiny'",)),
    resume("ckpt-unknown-format", state(tiny_fields, format=np.array("pickle 5")),
           ("format 'pickle 5'",)),
    resume("ckpt-negative-epoch", state(tiny_fields, epoch=np.array(-1)),
           ("'epoch' is -1",)),
    resume("ckpt-epoch-beyond-epochs", state(lambda: tiny_fields(epoch=3)),
           ("after epoch 3, beyond the 2 epoch(s)",), extra=("--epochs", "2")),
    resume("ckpt-float-epoch", state(tiny_fields, epoch=np.array(1.5)),
           ("'epoch' must be an integer",)),
    resume("ckpt-array-epoch", state(tiny_fields, epoch=np.array([1, 2])),
           ("'epoch' must be an integer",)),
    resume("ckpt-missing-values", state(tiny_fields, values=None),
           ("'values' is missing",)),
    resume("ckpt-metrics-json-bomb", state(tiny_fields, metrics=np.array("[" * 100_000)),
           ("'metrics'", "JSON nested 100000 levels deep")),
    resume("ckpt-metrics-not-json", state(tiny_fields, metrics=np.array("{not json")),
           ("'metrics' is not valid JSON",)),
    resume("ckpt-epochs-not-numbered", state(lambda: tiny_fields(epoch=2, metrics={
        "spec": "tiny", **{key: [0.5, 0.5] for key in CURVES}, "epochs": [1, 7]})),
        ("metrics['epochs'] is [1, 7], expected [1, 2]",)),
    resume("lc-ckpt-epochs-not-numbered", state(lc_fields, metrics=np.array(
        '{"epochs": [5], "train_loss": [1], "cosine": [null]}')),
        ("metrics['epochs'] is [5], expected [0]",), spec="lc.yaml"),
    resume("ckpt-metrics-a-list", state(tiny_fields, metrics=np.array("[1, 2]")),
           ("'metrics' must be a JSON dict",)),
    resume("ckpt-metrics-short-curve", state(lambda: tiny_fields(epoch=2, metrics={
        "spec": "tiny", **{key: [0.5] for key in CURVES}})),
        ("metrics['epochs'] must list one value per done epoch (2), got 1 item(s)",)),
    resume("ckpt-negative-position", state(tiny_fields, position=np.array(-4)),
           ("'position' is -4",)),
    resume("ckpt-position-past-the-data", state(tiny_fields, position=np.array(10**9)),
           ("'position' is 1000000000, it must be in [0, 4]",)),
    resume("ckpt-inf-seconds", state(tiny_fields, seconds=np.array(np.inf)),
           ("'seconds' is inf",)),
    resume("ckpt-pickled-values", state(tiny_fields, values=np.array([object()] * 2,
                                                                     dtype=object)),
           ("'values'", "pickles")),
    resume("ckpt-header-asks-1e12-values", state(
        tiny_fields, values=forge.npy_header((10**12,))), ("declares shape (1000000000000,)",)),
    resume("ckpt-zip-bomb", state(tiny_fields, method=zipfile.ZIP_DEFLATED,
                                  values=forge.zeros_bomb()), ("decompression bomb",)),
    resume("ckpt-fifo", forge.fifo, ("not a regular file", "FIFO")),
    resume("ckpt-folder", forge.folder, ("is a folder, not a file",)),
    resume("ckpt-over-1gib-sparse", forge.sparse(2**30 + 1),
           ("checkpoint file too large",)),
    resume("ckpt-of-an-lc-run", state(lc_fields), ("format 'eqprop-hw lc checkpoint 1'",)),
    # -- checkpoints of lc train ----------------------------------------------------------
    resume("lc-ckpt-of-a-layered-run", state(tiny_fields),
           ("format 'eqprop-hw checkpoint 2' is not",), spec="lc.yaml"),
    resume("lc-ckpt-foreign-trainables", state(lc_fields, trainable=np.array('["X1", "X2"]')),
           ("trainable elements ['X1', 'X2']", "a different spec?"), spec="lc.yaml"),
    resume("lc-ckpt-nan-theta", state(lc_fields, theta=lambda t: np.r_[t[:-1], np.nan]),
           ("'theta'[", "is nan"), spec="lc.yaml"),
    resume("lc-ckpt-theta-wrong-shape", state(lc_fields, theta=lambda t: t[:2]),
           ("'theta' has shape (2,)",), spec="lc.yaml"),
    resume("lc-ckpt-negative-adam-v", state(lc_fields, adam_v=lambda v: -v),
           ("'adam_v'[0] is negative",), spec="lc.yaml"),
    resume("lc-ckpt-inf-adam-m", state(lc_fields, adam_m=lambda m: m + np.inf),
           ("'adam_m'[0] is inf",), spec="lc.yaml"),
    resume("lc-ckpt-adam-steps-disagree", state(lc_fields, adam_t=np.array(7)),
           ("'adam_t' is 7, it must be in [1, 1]",), spec="lc.yaml"),
    resume("lc-ckpt-short-metrics", state(lambda: lc_fields(epoch=2),
                                          metrics=np.array('{"epochs": [0], "train_loss": '
                                                           '[1], "cosine": [null]}')),
           ("metrics['epochs'] must list one value per done epoch (2)",), spec="lc.yaml"),
    resume("lc-ckpt-truncated", state(lc_fields, post=lambda raw: raw[:-100]),
           ("not a readable .npz archive",), spec="lc.yaml"),
    resume("lc-ckpt-empty", b"", ("the file is empty",), spec="lc.yaml"),
    resume("lc-ckpt-trainable-json-bomb", state(lc_fields, trainable=np.array("[" * 10_000)),
           ("'trainable'", "nested 10000 levels deep"), spec="lc.yaml"),
]
