"""The state of a run is written at the end of an epoch at most once every
``loop.WRITE_EVERY_SECONDS`` (besides the first epoch, the last one and a stop): writing it after
each of xor's 300 epochs took 9.2 s of a 13.8 s run (issue 19, item 8). Resuming from a
checkpoint written at any of those epochs still ends exactly where the uninterrupted run ends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import eqprop_hw.learning.loop as loop
import eqprop_hw.learning.train as train_module
from eqprop_hw.circuit.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
XOR = ROOT / "circuits" / "xor.yaml"


def _counting(monkeypatch):
    """Epochs (from metrics.json's content) at each per-epoch write and each checkpoint."""
    outputs, checkpoints = [], []
    write_outputs, write_checkpoint = train_module._write_outputs, train_module._write_checkpoint

    def counted_outputs(out_dir, circuit, values, metrics, plots, spec):
        outputs.append(len(metrics["epochs"]))
        return write_outputs(out_dir, circuit, values, metrics, plots, spec)

    def counted_checkpoint(path, epoch, *args, **kwargs):
        checkpoints.append(epoch)
        return write_checkpoint(path, epoch, *args, **kwargs)

    monkeypatch.setattr(train_module, "_write_outputs", counted_outputs)
    monkeypatch.setattr(train_module, "_write_checkpoint", counted_checkpoint)
    return outputs, checkpoints


@pytest.mark.parametrize("every, expected", [(3600.0, [1, 12]), (0.0, list(range(1, 13)))])
def test_the_state_is_written_after_the_first_and_last_epoch_and_on_a_timer(
        tmp_path, monkeypatch, every, expected):
    monkeypatch.setattr(loop, "WRITE_EVERY_SECONDS", every)
    outputs, checkpoints = _counting(monkeypatch)
    metrics = train_module.train(load_spec(XOR), tmp_path / "o", epochs=12, progress=False,
                                 plots=False)
    assert checkpoints == expected
    assert outputs == expected + [12]                  # + the final outputs (wall time)
    assert metrics["epochs"] == list(range(1, 13))
    assert not (tmp_path / "o" / "checkpoint.npz").exists()


def test_resume_from_a_sparse_checkpoint_ends_where_the_straight_run_ends(tmp_path,
                                                                          monkeypatch):
    """A run whose only checkpoint is after epoch 1 (writes every hour) is cut after epoch 5
    by an error: --resume repeats epochs 2-5 and ends bitwise as a straight 8-epoch run."""
    spec = load_spec(XOR)
    straight = train_module.train(spec, tmp_path / "a", epochs=8, progress=False, plots=False)
    monkeypatch.setattr(loop, "WRITE_EVERY_SECONDS", 3600.0)
    end_epoch = train_module.ResistiveTrainer.end_epoch

    def failing(self, epoch, seconds):
        if epoch == 5:
            raise RuntimeError("power cut")
        return end_epoch(self, epoch, seconds)

    monkeypatch.setattr(train_module.ResistiveTrainer, "end_epoch", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        train_module.train(spec, tmp_path / "b", epochs=8, progress=False, plots=False)
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["epochs"] == [1]
    monkeypatch.setattr(train_module.ResistiveTrainer, "end_epoch", end_epoch)
    resumed = train_module.train(spec, tmp_path / "b", epochs=8, progress=False, plots=False,
                                 resume=True)
    for key in ("epochs", "train_loss", "test_loss", "train_accuracy", "test_accuracy"):
        assert resumed[key] == straight[key]
