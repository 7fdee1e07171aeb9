"""Issue 19 item 8: ``eqprop-hw bench runs`` shows a run's wall time against its training
time plus start-up. The arithmetic is checked on recorded runs (the processes are replaced by
fixed answers: timings belong in the benchmark, never in tests); the table row is the
human one."""

from __future__ import annotations

import pytest

from eqprop_hw.bench import runs
from eqprop_hw.bench._table import format_table, table_rows


def test_measure_splits_start_up_from_training_and_judges_every_repeat(monkeypatch):
    """Recorded answers: the 1-epoch run without figures took 3.0 s of which its epoch 0.5 s
    (start-up 2.5 s); the full runs 9.0 s and 12.0 s with 3.5 s and 4.5 s of training, so
    9 / (3.5 + 2.5) = 1.5 (met) and 12 / (4.5 + 2.5) = 1.714 (not met)."""
    answers = iter([
        (3.0, {"seconds": [0.4], "epoch_seconds_total": [0.5]}),
        (9.0, {"seconds": [1.0, 2.5], "epoch_seconds_total": [1.2, 2.7]}),
        (3.0, {"seconds": [0.4], "epoch_seconds_total": [0.5]}),
        (12.0, {"seconds": [2.0, 2.5], "epoch_seconds_total": [2.1, 2.6]}),
    ])
    calls = []

    def recorded(spec, out, *extra):
        calls.append(extra)
        return next(answers)

    monkeypatch.setattr(runs, "timed_train", recorded)
    result = runs.measure("iris", repeats=2)
    assert calls == [("--epochs", "1", "--no-plots"), (), ("--epochs", "1", "--no-plots"), ()]
    assert result["start_up_seconds"] == pytest.approx([2.5, 2.5])
    assert result["training_seconds"] == pytest.approx([3.5, 4.5])
    assert result["wall_over_training_and_start_up"] == pytest.approx([1.5, 12.0 / 7.0])
    assert result["meets_target"] is False and result["epochs"] == 2
    monkeypatch.setattr(runs, "measure", lambda name, repeats: {
        "wall_over_training_and_start_up": [1.2, 1.4], "meets_target": True,
        "wall_seconds": [7.0, 8.0], "training_seconds": [4.0, 5.0],
        "start_up_seconds": [2.0, 2.5], "epochs": 40})
    table = format_table(table_rows("runs", runs.TABLE,
                                    runs.run(type("Args", (), {"quick": True}))))
    line = next(t for t in table.splitlines() if "wall time / (training time" in t)
    assert "1.2-1.4 x" in line and "<= 1.5" in line and line.rstrip().endswith("yes")


def test_a_failed_run_is_one_error_naming_the_command(monkeypatch, tmp_path):
    spec = tmp_path / "missing.yaml"
    with pytest.raises(RuntimeError, match=r"train .*missing\.yaml .*failed: .*missing"):
        runs.timed_train(spec, tmp_path / "out")
