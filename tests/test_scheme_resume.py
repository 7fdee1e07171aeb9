"""Issue 18 item 3 for every device-aware scheme and mitigation: a run is a function of its seed
(two runs agree to the bit: curves, params, the scheme's state), and N/2 epochs plus
``resume=True`` (what ``eqprop-hw train --resume`` calls) for N/2 more end bitwise where one
N-epoch run ends, the scheme's state included (registers or fast array A in
``device_buffer``, pulse counters, the minibatch counter that picks the transfer's column
group). The closed forms of the schemes are in tests/test_scheme_closed_forms.py and
tests/test_device_schemes.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.circuit.spec import load_spec, parse_spec
from eqprop_hw.learning.train import train

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("seconds", "samples_per_second", "epoch_seconds_total", "wall_seconds")
#: Checkpoint arrays that must agree to the bit (the run's whole state but its wall times).
STATE = ("epoch", "position", "values", "device_buffer", "device_pulses", "device_updates")

NOISY_READ = {"read_noise": 1e-3, "adc_bits": 10, "adc_range": [-6, 6]}
CONSTANT = {"model": "constant_step", "states": 200, "up_down": 0.1, "step_std": 0.2,
            "step_dtod": 0.1}
SOFT = {"model": "soft_bounds", "states": 200, "up_down": 0.1, "step_std": 0.2,
        "step_dtod": 0.1, "range_dtod": 0.05}

#: name -> (devices section, training overrides). Every row has device noise and read noise,
#: so a random stream consumed out of order would show.
SCHEMES = {
    "stochastic_rounding": ({"conductance": {**CONSTANT, "rounding": "stochastic"},
                             "measurement": NOISY_READ}, {}),
    "accumulate": ({"conductance": CONSTANT, "measurement": NOISY_READ,
                    "update": {"scheme": "accumulate", "threshold": 1.0}}, {}),
    "accumulate_read": ({"conductance": SOFT, "measurement": NOISY_READ,
                         "update": {"scheme": "accumulate", "step_estimate": "read"}}, {}),
    "transfer": ({"conductance": {**SOFT, "rounding": "stochastic"}, "measurement": NOISY_READ,
                  "update": {"scheme": "transfer", "gamma": 0.3, "columns": 3,
                             "transfer_every": 2}}, {}),
    "averaged_reads": ({"conductance": CONSTANT, "measurement": {**NOISY_READ, "reads": 4},
                        "update": {"scheme": "accumulate"}}, {}),
    "layer_beta": ({"conductance": CONSTANT, "measurement": NOISY_READ,
                    "update": {"scheme": "accumulate"}}, {"layer_beta": [4e-4, 1e-4]}),
    "large_centered_beta": ({"conductance": {**CONSTANT, "rounding": "stochastic"},
                             "measurement": NOISY_READ}, {"beta": 6e-4, "nudge": "centered"}),
    "large_positive_beta": ({"conductance": CONSTANT, "measurement": NOISY_READ,
                             "update": {"scheme": "accumulate"}},
                            {"beta": 6e-4, "nudge": "positive"}),
}


def xor_spec(name: str, epochs: int):
    """circuits/xor.yaml with scheme ``name``, one sample per minibatch (4 per epoch)."""
    devices, training = SCHEMES[name]
    data = copy.deepcopy(load_spec(ROOT / "circuits" / "xor.yaml").data)
    data["training"].update(epochs=epochs, batch_size=1, **copy.deepcopy(training))
    data["devices"] = {**copy.deepcopy(devices), "seed": 5}
    return parse_spec(data)


def outcome(folder: Path) -> tuple[dict, bytes, dict]:
    """(metrics without wall times, params.npz bytes, kept checkpoint's state arrays)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    with np.load(folder / "checkpoint.npz") as checkpoint:
        state = {key: checkpoint[key].copy() for key in STATE if key in checkpoint.files}
    return ({k: v for k, v in metrics.items() if k not in TIMING},
            (folder / "params.npz").read_bytes(), state)


def assert_same(first: tuple, second: tuple) -> None:
    assert first[0] == second[0]
    assert first[1] == second[1]
    assert sorted(first[2]) == sorted(second[2])
    for key, array in first[2].items():
        assert array.dtype == second[2][key].dtype, key
        np.testing.assert_array_equal(array, second[2][key], err_msg=key)


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_scheme_is_deterministic_and_resumes_to_the_bit(tmp_path, name):
    options = {"progress": False, "plots": False, "keep_checkpoint": True}
    train(xor_spec(name, 2), tmp_path / "whole", **options)
    train(xor_spec(name, 2), tmp_path / "again", **options)
    train(xor_spec(name, 1), tmp_path / "split", **options)
    said = []
    train(xor_spec(name, 2), tmp_path / "split", resume=True, log=said.append, **options)
    assert said[0] == f"resuming from {tmp_path / 'split' / 'checkpoint.npz'} after epoch 1"
    whole = outcome(tmp_path / "whole")
    assert_same(whole, outcome(tmp_path / "again"))
    assert_same(whole, outcome(tmp_path / "split"))
    # the state compared is not trivial: 8 minibatches applied, pulses fired, and a stateful
    # scheme holds something in its registers / fast array
    state = whole[2]
    assert int(state["device_updates"]) == 8 and int(state["epoch"]) == 2
    assert state["device_pulses"].sum() > 0
    if SCHEMES[name][0].get("update", {}).get("scheme", "direct") != "direct":
        assert np.any(state["device_buffer"] != 0)
    assert len(whole[0]["pulses_per_cell"]) == 2


def test_a_different_seed_changes_the_run(tmp_path):
    """The comparison above can fail: the device seed alone moves curve and params."""
    options = {"progress": False, "plots": False, "keep_checkpoint": True}
    train(xor_spec("transfer", 1), tmp_path / "five", **options)
    data = copy.deepcopy(xor_spec("transfer", 1).data)
    data["devices"]["seed"] = 6
    train(parse_spec(data), tmp_path / "six", **options)
    five, six = outcome(tmp_path / "five"), outcome(tmp_path / "six")
    assert five[1] != six[1]
    assert not np.array_equal(five[2]["device_buffer"], six[2]["device_buffer"])


@pytest.mark.parametrize("name,signals", [(name, ("SIGTERM",)) for name in sorted(SCHEMES)] +
                         [("transfer", ("SIGINT", "SIGINT")),
                          ("accumulate_read", ("SIGINT", "SIGINT"))])
def test_a_scheme_stopped_mid_epoch_resumes_to_the_bit(tmp_path, monkeypatch, name, signals):
    """A stop inside epoch 2 (minibatch 6 of 8): one signal finishes the minibatch and
    checkpoints it, two abandon it and checkpoint the state before it (conductances and the
    scheme's state as they were). Resuming ends bitwise where the uninterrupted run ends."""
    import os
    import signal

    from eqprop_hw.errors import TrainingInterrupted
    from eqprop_hw.learning.devices import Hardware
    options = {"progress": False, "plots": False, "keep_checkpoint": True}
    train(xor_spec(name, 2), tmp_path / "whole", **options)
    original, calls = Hardware.update, []

    def signalling(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            os.kill(os.getpid(), getattr(signal, signals[0]))
        values = original(self, *args, **kwargs)
        if len(calls) == 6 and len(signals) > 1:
            os.kill(os.getpid(), getattr(signal, signals[1]))
        return values
    monkeypatch.setattr(Hardware, "update", signalling)
    with pytest.raises(TrainingInterrupted):
        train(xor_spec(name, 2), tmp_path / "stopped", **options)
    monkeypatch.setattr(Hardware, "update", original)
    with np.load(tmp_path / "stopped" / "checkpoint.npz") as state:
        assert int(state["epoch"]) == 1
        assert int(state["position"]) == (2 if len(signals) == 1 else 1)
        assert int(state["device_updates"]) == 4 + int(state["position"])
    said = []
    train(xor_spec(name, 2), tmp_path / "stopped", resume=True, log=said.append, **options)
    assert said[0] == (f"resuming from {tmp_path / 'stopped' / 'checkpoint.npz'} after epoch "
                       f"1 and {2 if len(signals) == 1 else 1} sample(s)")
    assert_same(outcome(tmp_path / "whole"), outcome(tmp_path / "stopped"))


@pytest.mark.parametrize("name,change,message", [
    ("transfer", lambda data: data["devices"].update(seed=6),
     "it was written with devices.seed 5, not 6"),
    ("transfer", lambda data: data["devices"]["measurement"].update(reads=3),
     "it was written with devices.measurement.reads 1, not 3"),
    ("transfer", lambda data: data["devices"]["conductance"].update(rounding="nearest"),
     'it was written with devices.conductance.rounding "stochastic", not "nearest"'),
    ("stochastic_rounding", lambda data: data.pop("devices"),
     r'it was written with devices \{"amplifier".*, not none'),
])
def test_a_resume_with_another_devices_section_is_refused(tmp_path, name, change, message):
    """Every pulse depends on the devices section (drawn device parameters, measurement,
    rounding): a run continued with another one would give neither run's result."""
    from eqprop_hw.errors import ParamsError
    options = {"progress": False, "plots": False, "keep_checkpoint": True}
    train(xor_spec(name, 1), tmp_path, **options)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    data = copy.deepcopy(xor_spec(name, 2).data)
    change(data)
    with pytest.raises(ParamsError, match="cannot resume from this checkpoint: " + message):
        train(parse_spec(data), tmp_path, resume=True, **options)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_a_run_without_devices_is_not_continued_with_them(tmp_path):
    from eqprop_hw.errors import ParamsError
    options = {"progress": False, "plots": False, "keep_checkpoint": True}
    data = copy.deepcopy(xor_spec("stochastic_rounding", 1).data)
    del data["devices"]
    train(parse_spec(data), tmp_path, **options)
    with np.load(tmp_path / "checkpoint.npz") as checkpoint:
        assert str(checkpoint["device_section"]) == "null"
    with pytest.raises(ParamsError, match=r'it was written with devices none, not \{"amplifier"'):
        train(xor_spec("stochastic_rounding", 2), tmp_path, resume=True, **options)
    data["training"]["epochs"] = 2                       # the same spec resumes as before
    said = []
    train(parse_spec(data), tmp_path, resume=True, log=said.append, **options)
    assert said[0].endswith("checkpoint.npz after epoch 1")


def test_a_checkpoint_without_the_devices_section_still_resumes_exactly(tmp_path):
    """Checkpoints written before ``device_section`` existed are not compared."""
    from eqprop_hw.io.statefile import write_checkpoint
    options = {"progress": False, "plots": False, "keep_checkpoint": True}
    train(xor_spec("transfer", 2), tmp_path / "whole", **options)
    train(xor_spec("transfer", 1), tmp_path / "old", **options)
    with np.load(tmp_path / "old" / "checkpoint.npz") as checkpoint:
        assert "device_section" in checkpoint.files
        fields = {key: checkpoint[key] for key in checkpoint.files if key != "device_section"}
    write_checkpoint(tmp_path / "old" / "checkpoint.npz", fields)
    said = []
    train(xor_spec("transfer", 2), tmp_path / "old", resume=True, log=said.append, **options)
    assert said[0].endswith("checkpoint.npz after epoch 1")
    assert_same(outcome(tmp_path / "whole"), outcome(tmp_path / "old"))


def test_cli_train_resume_continues_a_transfer_run_to_the_bit(tmp_path, capsys):
    """``eqprop-hw train --epochs 1 --keep-checkpoint`` then ``--resume --epochs 2`` equals one
    2-epoch run (params bytes, metrics but wall times, the checkpoint's scheme state)."""
    import yaml

    from eqprop_hw.cli import main
    spec = tmp_path / "xor_transfer.yaml"
    spec.write_text(yaml.safe_dump(xor_spec("transfer", 2).data, sort_keys=False))
    common = ["train", str(spec), "--no-plots", "--keep-checkpoint"]
    assert main(common + ["--out", str(tmp_path / "whole"), "--epochs", "2"]) == 0
    assert main(common + ["--out", str(tmp_path / "split"), "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(common + ["--out", str(tmp_path / "split"), "--epochs", "2", "--resume"]) == 0
    assert "resuming from" in capsys.readouterr().err
    assert_same(outcome(tmp_path / "whole"), outcome(tmp_path / "split"))


def test_runs_in_fresh_processes_with_other_hash_seeds_agree_to_the_bit(tmp_path):
    """``python -m eqprop_hw train`` in two fresh interpreters (PYTHONHASHSEED 1 and 2: set and
    dict orders of strings differ) gives the same params bytes and curves (per-layer beta,
    accumulate, averaged noisy reads: every random stream of the schemes at once)."""
    import os
    import subprocess
    import sys

    import yaml
    data = copy.deepcopy(xor_spec("layer_beta", 1).data)
    data["devices"]["measurement"]["reads"] = 2
    spec = tmp_path / "xor_layer_beta.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    runs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"hash{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed,
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-m", "eqprop_hw", "train", str(spec), "--out",
                               str(out), "--no-plots", "--keep-checkpoint"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs.append(outcome(out))
    assert_same(*runs)
    assert runs[0][2]["device_pulses"].sum() > 0
