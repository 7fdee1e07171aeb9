"""The one training loop (eqprop_hw.learning.loop): the same stop/resume behaviour for a
resistive spec (iris, minibatches of 4) and an lc spec (a teacher task, one sequence a step).

For each kind: one SIGTERM during a step finishes the step, checkpoints (epoch, position) and
raises TrainingInterrupted; a second signal abandons the step and checkpoints the state before
it; --resume then ends bitwise where an uninterrupted run of the same spec ends (metrics
without wall-clock seconds, and the params file).
"""

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import yaml

import eqprop_hw.learning.train as train_module
import eqprop_hw.lc.train as lc_train_module
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.errors import TrainingInterrupted
from eqprop_hw.lc.examples import random_lc_data
from eqprop_hw.learning.train import train
from eqprop_hw.lc.train import train_lc

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("seconds", "samples_per_second", "epoch_seconds_total", "wall_seconds")


def _lc_spec(folder: Path) -> Path:
    """A tiny lc teacher task: 5 sequences, so that an epoch has mid-epoch positions."""
    data = random_lc_data(n_nodes=4, seed=2, tstep=1e-9, tstop=3e-7, name="lc_loop")
    data.pop("targets")
    data["trainable"] = ["CC*", "L1"]
    data["dataset"] = {"name": "teacher", "seed": 1, "samples": 5, "perturbation": 0.2}
    data["training"] = {"epochs": 2, "learning_rate": 0.1, "lr_decay": 0.95}
    path = folder / "lc_loop.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


#: kind -> (module whose gradient function a signal is sent from, its name, params file,
#: samples per step, steps per epoch, unit)
KINDS = {"resistive": (train_module, "ep_gradient", "params.npz", 4, 27, "samples"),
         "lc": (lc_train_module, "hel_gradient", "params.json", 1, 5, "sequences")}


def _train(kind: str, folder: Path, out: Path, resume: bool = False) -> dict:
    if kind == "resistive":
        return train(load_spec(ROOT / "circuits" / "iris.yaml"), out, epochs=2, resume=resume,
                     progress=False, plots=False)
    return train_lc(load_spec(_lc_spec(folder)), out, resume=resume, plots=False)


class _Signalling:
    """A stand-in for a gradient function ``original`` that sends ``signals`` to this process
    on its ``at_call``-th (1-based) call, before computing."""

    def __init__(self, original, at_call: int, signals: list):
        self.original, self.at_call, self.signals, self.calls = original, at_call, signals, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        for number in self.signals if self.calls == self.at_call else ():
            os.kill(os.getpid(), number)
        return self.original(*args, **kwargs)


def _same_run(a: Path, b: Path, params: str) -> None:
    first = json.loads((a / "metrics.json").read_text())
    second = json.loads((b / "metrics.json").read_text())
    assert {k: v for k, v in first.items() if k not in TIMING} == \
        {k: v for k, v in second.items() if k not in TIMING}
    assert (a / params).read_bytes() == (b / params).read_bytes()


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("signals, steps_done", [([signal.SIGTERM], 3),
                                                 ([signal.SIGINT, signal.SIGINT], 2)],
                         ids=["one-signal-finishes-the-step", "second-signal-abandons-it"])
def test_mid_epoch_stop_and_exact_resume_for_every_kind(tmp_path, monkeypatch, kind, signals,
                                                        steps_done):
    module, name, params, batch, steps, unit = KINDS[kind]
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    _train(kind, tmp_path, tmp_path / "clean")
    monkeypatch.setattr(module, name, _Signalling(getattr(module, name), steps + 3,
                                                  signals))          # 3rd step of epoch 2
    with pytest.raises(TrainingInterrupted) as caught:
        _train(kind, tmp_path, tmp_path / "stopped")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    checkpoint = tmp_path / "stopped" / "checkpoint.npz"
    assert caught.value.signum == signals[0] and caught.value.checkpoint == str(checkpoint)
    samples = 105 if kind == "resistive" else 5
    label = "2/2" if kind == "resistive" else "1/2"     # lc log lines count epochs from 0
    assert (f"in epoch {label} after {steps_done * batch} of "
            f"{samples} {unit}; checkpoint written to {checkpoint}") in str(caught.value)
    with np.load(checkpoint) as state:
        assert (int(state["epoch"]), int(state["position"])) == (1, steps_done * batch)
    assert not (tmp_path / "stopped" / params).exists() or kind == "resistive"
    monkeypatch.undo()
    _train(kind, tmp_path, tmp_path / "stopped", resume=True)
    _same_run(tmp_path / "stopped", tmp_path / "clean", params)


def test_lc_checkpoint_of_format_1_still_resumes_exactly(tmp_path):
    """An lc checkpoint written before the one loop (format 1: epoch boundary, the run's total
    seconds) resumes to the uninterrupted result."""
    _train("lc", tmp_path, tmp_path / "clean")
    spec = load_spec(_lc_spec(tmp_path))
    train_lc(spec, tmp_path / "old", epochs=1, plots=False, keep_checkpoint=True)
    path = tmp_path / "old" / "checkpoint.npz"
    with np.load(path) as state:
        fields = {key: state[key] for key in ("epoch", "theta", "adam_m", "adam_v", "adam_t",
                                              "metrics", "trainable")}
    old = json.loads(str(fields["metrics"]))      # as written before these keys existed
    for key in ("epoch_seconds_total", "overrides"):
        del old[key]
    fields["metrics"] = np.array(json.dumps(old))
    np.savez(path, format=np.array("eqprop-hw lc checkpoint 1"), seconds=np.array(2.5),
             **fields)
    resumed = train_lc(spec, tmp_path / "old", resume=True, plots=False)
    assert resumed["seconds"] >= 2.5                     # the old total carries on
    _same_run(tmp_path / "old", tmp_path / "clean", "params.json")
