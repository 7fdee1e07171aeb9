"""SIGINT/SIGTERM during training: an atomic mid-epoch checkpoint, exit 130/143, exact resume.

The reference is always an uninterrupted run of the same spec in the same test: the resumed run
must reproduce its metrics and trained values bitwise.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import eqprop_hw.learning.train as train_module
from eqprop_hw.errors import TrainingInterrupted
from eqprop_hw.learning.interrupt import StopSignals
from eqprop_hw.io.params import load_params
from eqprop_hw.circuit.spec import load_spec, parse_spec
from eqprop_hw.learning.train import train

ROOT = Path(__file__).resolve().parents[1]
CURVES = ("epochs", "train_loss", "test_loss", "train_accuracy", "test_accuracy")

#: A teacher-student spec whose epochs are mostly minibatches (batch size 1, cheap evaluation).
TEACHER = """\
name: ts
kind: layered
layers: [4, 8, 2]
inputs: {gain: 5.0}
activation: {type: rectify}
conductance: {min: 1.0e-8, max: 1.0e-3, init: {low: 1.0e-6, high: 2.0e-5}}
dataset: {name: teacher, samples: 3000, test_fraction: 0.2}
training: {epochs: 2, batch_size: 1, learning_rate: 0.03, lr_decay: 0.9, beta: 2.0e-6}
"""


def _assert_same_run(resumed_dir: Path, clean_dir: Path) -> None:
    resumed = json.loads((resumed_dir / "metrics.json").read_text())
    clean = json.loads((clean_dir / "metrics.json").read_text())
    for key in CURVES:
        assert resumed[key] == clean[key], key
    assert load_params(resumed_dir / "params.npz") == load_params(clean_dir / "params.npz")


@pytest.fixture(scope="module")
def teacher_runs(tmp_path_factory):
    """(spec path, folder of the uninterrupted CLI run, the command without --out)."""
    folder = tmp_path_factory.mktemp("teacher")
    spec = folder / "teacher.yaml"
    spec.write_text(TEACHER)
    command = [sys.executable, "-m", "eqprop_hw", "train", str(spec), "--no-plots"]
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(command + ["--out", str(folder / "clean")], check=True, env=environment,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return folder, command, environment


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_epoch_checkpoints_and_resume_is_exact(teacher_runs, signum, code):
    folder, command, environment = teacher_runs
    out = folder / signal.Signals(signum).name
    process = subprocess.Popen(command + ["--out", str(out)], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        try:        # epoch 1 is checkpointed: the signal lands in epoch 2 (~1 s of minibatches)
            with np.load(out / "checkpoint.npz") as state:
                if int(state["epoch"]) >= 1:
                    break
        except Exception:   # noqa: BLE001 - not written yet
            pass
        time.sleep(0.01)
    time.sleep(0.15)
    if process.poll() is not None:
        pytest.skip("the run finished before the signal (machine too fast)")
    process.send_signal(signum)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == code
    last = stderr.strip().splitlines()[-1]
    checkpoint = out / "checkpoint.npz"
    assert last.startswith(f"eqprop-hw: {signal.Signals(signum).name} received")
    assert str(checkpoint) in last and "--resume" in last
    with np.load(checkpoint) as state:
        epoch, position = int(state["epoch"]), int(state["position"])
    assert epoch == 1 and 0 < position < 2400      # mid-epoch 2 (2400 training samples)
    assert f"after {position} of 2400 samples" in last
    assert [p.name for p in out.iterdir() if ".tmp" in p.name or p.name.startswith(".")] == []
    subprocess.run(command + ["--out", str(out), "--resume"], check=True, env=environment,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _assert_same_run(out, folder / "clean")


def _signalling(monkeypatch, at_call: int, signals: list):
    """Make the training loop's ``ep_gradient`` send ``signals`` to this process on its
    ``at_call``-th call (1-based), before computing."""
    original = train_module.ep_gradient
    calls = []

    def gradient(*args, **kwargs):
        calls.append(1)
        if len(calls) == at_call:
            for number in signals:
                os.kill(os.getpid(), number)
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "ep_gradient", gradient)


def test_one_signal_finishes_the_minibatch_then_stops(tmp_path, monkeypatch):
    spec = load_spec(ROOT / "circuits" / "iris.yaml")
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    train(spec, tmp_path / "clean", epochs=3, progress=False, plots=False)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    _signalling(monkeypatch, 27 + 5, [signal.SIGTERM])      # 27 minibatches per epoch
    with pytest.raises(TrainingInterrupted) as caught:
        train(spec, tmp_path / "stopped", epochs=3, progress=False, plots=False)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert caught.value.signum == signal.SIGTERM
    assert caught.value.checkpoint == str(tmp_path / "stopped" / "checkpoint.npz")
    with np.load(tmp_path / "stopped" / "checkpoint.npz") as state:
        assert (int(state["epoch"]), int(state["position"])) == (1, 5 * 4)   # batch size 4
    monkeypatch.undo()
    train(spec, tmp_path / "stopped", epochs=3, resume=True, progress=False, plots=False)
    _assert_same_run(tmp_path / "stopped", tmp_path / "clean")


def test_a_second_signal_abandons_the_minibatch(tmp_path, monkeypatch):
    spec = load_spec(ROOT / "circuits" / "iris.yaml")
    train(spec, tmp_path / "clean", epochs=2, progress=False, plots=False)
    _signalling(monkeypatch, 7, [signal.SIGINT, signal.SIGINT])
    with pytest.raises(TrainingInterrupted) as caught:
        train(spec, tmp_path / "stopped", epochs=2, progress=False, plots=False)
    assert caught.value.signum == signal.SIGINT
    with np.load(tmp_path / "stopped" / "checkpoint.npz") as state:
        # the 7th minibatch was abandoned before its update: 6 minibatches of 4 are done
        assert (int(state["epoch"]), int(state["position"])) == (0, 6 * 4)
    monkeypatch.undo()
    train(spec, tmp_path / "stopped", epochs=2, resume=True, progress=False, plots=False)
    _assert_same_run(tmp_path / "stopped", tmp_path / "clean")


def test_stop_signals_restore_the_previous_handlers():
    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with StopSignals() as stop:
            assert signal.getsignal(signal.SIGTERM) is not mine
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.signum == signal.SIGTERM and stop.name == "SIGTERM"
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_old_epoch_checkpoints_still_resume(tmp_path):
    """A format-1 checkpoint (epoch boundary, no position) resumes like before."""
    spec = parse_spec({"name": "x", "kind": "layered", "layers": [2, 4, 1],
                       "dataset": {"name": "xor"},
                       "training": {"epochs": 3, "batch_size": 4, "learning_rate": 0.03,
                                    "beta": 2e-6}})
    full = train(spec, tmp_path / "full", progress=False, plots=False)
    train(spec, tmp_path / "old", epochs=1, progress=False, plots=False, keep_checkpoint=True)
    with np.load(tmp_path / "old" / "checkpoint.npz") as state:
        old = json.loads(str(state["metrics"]))     # as written before these keys existed
        for key in ("epoch_seconds_total", "overrides"):
            del old[key]
        np.savez(tmp_path / "old" / "checkpoint.npz", format=np.array("eqprop-hw checkpoint 1"),
                 epoch=state["epoch"], values=state["values"],
                 metrics=np.array(json.dumps(old)))
    resumed = train(spec, tmp_path / "old", resume=True, progress=False, plots=False)
    assert resumed["train_loss"] == full["train_loss"]
