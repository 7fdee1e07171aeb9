"""Training: XOR is learnt, runs are deterministic, resume is exact, outputs are written."""

import json
from pathlib import Path

import pytest

from eqprop_hw.cli import main
from eqprop_hw.io.params import load_params
from eqprop_hw.circuit.spec import load_spec, parse_spec
from eqprop_hw.learning.train import train

ROOT = Path(__file__).resolve().parents[1]


def test_xor_is_learnt_to_100_percent(tmp_path):
    metrics = train(load_spec(ROOT / "circuits" / "xor.yaml"), tmp_path, progress=False,
                    plots=False)
    assert metrics["test_accuracy"][-1] == 1.0
    assert metrics["train_loss"][-1] < 0.5 * metrics["train_loss"][0]
    params = load_params(tmp_path / "params.npz")
    assert len(params) == 2 * 3 * 8 + 10 and all(1e-8 <= v <= 1e-3 for v in params.values())


def test_same_seed_same_curve_and_resume_is_exact(tmp_path):
    spec = load_spec(ROOT / "circuits" / "iris.yaml")
    full = train(spec, tmp_path / "full", epochs=4, progress=False, plots=False)
    again = train(spec, tmp_path / "again", epochs=4, progress=False, plots=False)
    assert full["test_loss"] == again["test_loss"]
    train(spec, tmp_path / "resumed", epochs=2, progress=False, plots=False,
          keep_checkpoint=True)
    assert (tmp_path / "resumed" / "checkpoint.npz").is_file()   # so the next call resumes
    lines = []
    resumed = train(spec, tmp_path / "resumed", epochs=4, resume=True, progress=False,
                    plots=False, log=lines.append)
    assert lines[0].startswith("resuming from") and "after epoch 2" in lines[0]
    for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
        assert resumed[key] == full[key]
    a = load_params(tmp_path / "full" / "params.npz")
    b = load_params(tmp_path / "resumed" / "params.npz")
    assert a == b
    other = train(spec, tmp_path / "other", epochs=2, seed=5, progress=False, plots=False)
    assert other["train_loss"] != full["train_loss"][:2]


def test_outputs_and_plots_are_written(tmp_path):
    train(load_spec(ROOT / "circuits" / "iris.yaml"), tmp_path, epochs=2, progress=False)
    for name in ("params.npz", "metrics.json", "loss.png", "accuracy.png",
                 "conductances.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not (tmp_path / "checkpoint.npz").exists()     # a finished run leaves none (issue 19)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs"] == [1, 2] and len(metrics["test_accuracy"]) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_teacher_student_loss_falls(tmp_path):
    spec = parse_spec({"name": "ts", "kind": "layered", "layers": [4, 8, 2],
                       "inputs": {"gain": 5.0}, "activation": {"type": "rectify"},
                       "conductance": {"min": 1e-8, "max": 1e-3,
                                       "init": {"low": 1e-6, "high": 2e-5}},
                       "dataset": {"name": "teacher", "samples": 200, "test_fraction": 0.25},
                       "training": {"epochs": 15, "batch_size": 4, "learning_rate": 0.03,
                                    "beta": 2e-6}})
    metrics = train(spec, tmp_path, progress=False, plots=False)
    assert metrics["test_loss"][-1] < 0.2 * metrics["test_loss"][0]
    assert metrics["test_accuracy"][-1] is None


def test_resume_without_checkpoint_starts_from_the_beginning(tmp_path):
    """Issue 19: --resume before any checkpoint starts the run (one line says so)."""
    lines = []
    resumed = train(load_spec(ROOT / "circuits" / "xor.yaml"), tmp_path / "a", resume=True,
                    progress=False, plots=False, epochs=2, log=lines.append)
    fresh = train(load_spec(ROOT / "circuits" / "xor.yaml"), tmp_path / "b", progress=False,
                  plots=False, epochs=2)
    assert lines[0] == (f"no checkpoint {tmp_path / 'a' / 'checkpoint.npz'} yet: starting "
                        "from the beginning")
    assert resumed["train_loss"] == fresh["train_loss"]


def test_cli_train_predict_grad(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "circuits" / "xor.yaml"), "--out", str(out), "--no-plots",
                 "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["test_accuracy"][-1] == 1.0
    assert main(["predict", str(ROOT / "circuits" / "xor.yaml"), "--params",
                 str(out / "params.npz"), "--split", "all", "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out)
    assert predicted["accuracy"] == 1.0
    assert [s["index"] for s in predicted["samples"]] == [0, 1, 2, 3]
    assert [s["prediction"] for s in predicted["samples"]] == [s["label"] for s in
                                                               predicted["samples"]]
    assert predicted["samples"][1]["inputs"] == [0.0, 1.0]  # what --input takes (issue 17)
    assert predicted["samples"][1]["source_voltages"] == {     # gain 5 V per unit, doubled
        "VX0P": 0.0, "VX0N": 0.0, "VX1P": 5.0, "VX1N": -5.0}
    assert main(["grad", str(ROOT / "circuits" / "xor.yaml"), "--params", str(out / "params.npz"),
                 "--input", "1,0", "--target", "1", "--beta", "1e-9", "--json"]) == 0
    gradient = json.loads(capsys.readouterr().out)
    assert set(gradient) >= {"loss", "ep", "exact", "cosine", "rel_error"}
    assert gradient["cosine"] > 0.99999 and gradient["rel_error"] < 1e-4


@pytest.mark.ngspice
def test_trained_predictions_hold_in_raw_ngspice(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    from verify_predictions import verify
    train(load_spec(ROOT / "circuits" / "xor.yaml"), tmp_path, progress=False, plots=False)
    result = verify(str(ROOT / "circuits" / "xor.yaml"), str(tmp_path / "params.npz"),
                    split="all", progress=False)
    assert result["same_predictions"] == 4 and result["raw_ngspice_accuracy"] == 1.0
    assert result["max_output_difference_V"] < 1e-6


def test_kill_9_then_resume_reproduces_the_uninterrupted_run(tmp_path):
    """A real training process killed with SIGKILL mid-run resumes to the identical result."""
    import os
    import signal
    import subprocess
    import sys
    import time

    spec = str(ROOT / "circuits" / "iris.yaml")
    # 200 epochs (5-20 s): the state is written at most once a second
    # (loop.WRITE_EVERY_SECONDS), so metrics.json shows a second epoch only after about a
    # second of training; with 40 epochs that second write could already be the last one
    epochs = 200
    command = [sys.executable, "-m", "eqprop_hw", "train", spec, "--epochs", str(epochs),
               "--no-plots", "--backend", "native"]
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    process = subprocess.Popen(command + ["--out", str(killed_dir)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    epochs_done = 0
    while time.time() < deadline and process.poll() is None:
        try:
            epochs_done = len(json.loads((killed_dir / "metrics.json").read_text())["epochs"])
        except (OSError, ValueError, KeyError):
            epochs_done = 0
        if epochs_done >= 2:
            break
        time.sleep(0.02)
    # metrics.json is written just before checkpoint.npz, at most once a second: killing the
    # moment it shows a new epoch hits the checkpoint's write, and a kill between its
    # linkat and rename leaves a .tmp name (once in CI). 0.3 s later the run is training.
    time.sleep(0.3)
    if process.poll() is not None:
        pytest.skip("the run finished before it could be killed (machine too fast)")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = len(json.loads((killed_dir / "metrics.json").read_text())["epochs"])
    if interrupted == epochs:
        pytest.skip("the run had written its last epoch before it could be killed")
    assert 2 <= interrupted < epochs
    assert [p.name for p in killed_dir.iterdir() if ".tmp" in p.name or p.name.startswith(".")] == []
    subprocess.run(command + ["--out", str(killed_dir), "--resume"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(command + ["--out", str(clean_dir)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    resumed = json.loads((killed_dir / "metrics.json").read_text())
    clean = json.loads((clean_dir / "metrics.json").read_text())
    for key in ("epochs", "train_loss", "test_loss", "train_accuracy", "test_accuracy"):
        assert resumed[key] == clean[key]
    assert load_params(killed_dir / "params.npz") == load_params(clean_dir / "params.npz")
