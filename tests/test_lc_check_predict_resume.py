"""``eqprop-hw check``, ``predict`` and ``train --resume`` for lc specs (CONTRACT.md keys)."""

import json

import numpy as np
import pytest
import yaml

from eqprop_hw.lc.examples import random_lc_data
from eqprop_hw.lc.integrate import integrate
from eqprop_hw.lc.model import build_model
from eqprop_hw.lc.train import lc_dataset
from eqprop_hw.circuit.spec import load_spec

from test_lc_cli_train import needs_ngspice, run  # the same CLI runner


@pytest.fixture()
def teacher_spec(tmp_path):
    data = random_lc_data(n_nodes=4, seed=2, tstep=1e-9, tstop=6e-7, name="lc_tiny_teacher")
    data.pop("targets")
    data["trainable"] = ["CC*", "L1"]              # L1 is a nonlinear inductor
    data["dataset"] = {"name": "teacher", "seed": 1, "samples": 2, "perturbation": 0.2}
    data["training"] = {"epochs": 4, "learning_rate": 0.1, "lr_decay": 0.95}
    path = tmp_path / "teacher.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture()
def target_spec(tmp_path):
    """A spec with its own input and target waveforms (no dataset)."""
    data = random_lc_data(n_nodes=4, seed=1, tstep=2e-10, tstop=6e-7, name="lc_small",
                          train_inductors=True)
    path = tmp_path / "lc_small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_check_json_native_rows(capsys, teacher_spec):
    code, out, err = run(capsys, "check", teacher_spec, "--no-ngspice", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "lc" and data["samples"] == 2 and data["beta"] > 0
    rows = {row["name"]: row for row in data["rows"]}
    assert list(rows) == ["exact", "echo native", "fd native"]
    for row in data["rows"]:
        assert {"name", "against", "cosine", "rel_error", "norm_ratio", "elements",
                "seconds"} <= set(row)
    assert rows["exact"]["loss"] > 0 and rows["exact"]["elements"] == 6
    assert rows["echo native"]["cosine"] > 0.99999 and rows["echo native"]["rel_error"] < 1e-3
    assert rows["fd native"]["rel_error"] < 1e-6 and "L1" in rows["fd native"]["subset"]


@pytest.mark.ngspice
@needs_ngspice
def test_check_text_with_ngspice(capsys, target_spec):
    code, out, err = run(capsys, "check", target_spec)
    assert code == 0, err
    lines = out.splitlines()
    names = [line.split("  ")[0].strip() for line in lines[2:7]]
    assert names == ["exact", "echo ngspice", "echo native", "fd native",
                     "echo ngspice vs echo native"]
    ngspice_row = lines[3].split()
    assert float(ngspice_row[-5]) >= 0.999 and float(ngspice_row[-4]) <= 1e-2   # cos, rel
    assert "Wb^2 s" in lines[-1]


def test_check_refuses_resistive_options(capsys, teacher_spec):
    code, out, err = run(capsys, "check", teacher_spec, "--loss", "cross_entropy")
    assert code == 2 and out == "" and "squared loss" in err
    code, out, err = run(capsys, "check", teacher_spec, "--samples", "0")
    assert code == 2 and "--samples" in err


def test_predict_json_spec_waveforms(capsys, target_spec, tmp_path):
    picture = tmp_path / "prediction.png"
    code, out, err = run(capsys, "predict", target_spec, "--json", "--plot", picture)
    assert code == 0, err
    data = json.loads(out)
    model = build_model(load_spec(target_spec))
    reference = integrate(model, loss_targets=model.target_waveforms(), store=False)
    assert data["split"] == "spec" and data["accuracy"] is None
    assert data["time"] == pytest.approx(model.times.tolist())
    assert np.array(data["outputs"]) == pytest.approx(reference.outputs[:, 0].T, rel=1e-12)
    assert np.array(data["targets"]) == pytest.approx(model.target_waveforms().T)
    assert data["loss"] == pytest.approx(float(reference.loss[0]), rel=1e-12)
    assert len(data["samples"]) == 1 and data["samples"][0]["loss"] == data["loss"]
    assert picture.stat().st_size > 0


@pytest.mark.ngspice
@needs_ngspice
def test_predict_ngspice_matches_native_after_training(capsys, teacher_spec, tmp_path):
    out_dir = tmp_path / "run"
    code, _, err = run(capsys, "train", teacher_spec, "--out", out_dir, "--epochs", "2",
                       "--no-plots")
    assert code == 0, err
    params = out_dir / "params.json"
    results = {}
    for backend in ("native", "ngspice"):
        code, out, err = run(capsys, "predict", teacher_spec, "--params", params, "--json",
                             "--backend", backend)
        assert code == 0, err
        results[backend] = json.loads(out)
    assert "no held-out sequences" in err          # falls back to the training split
    native, ngspice = results["native"], results["ngspice"]
    assert native["split"] == "train" and len(native["samples"]) == 2
    # the targets are the teacher's, built from the spec's values (not from --params)
    spec = load_spec(teacher_spec)
    _, targets = lc_dataset(spec, build_model(spec))
    assert np.array(native["samples"][1]["targets"]) == pytest.approx(targets[1].T)
    scale = np.max(np.abs(native["outputs"]))
    assert np.max(np.abs(np.array(ngspice["outputs"]) - native["outputs"])) < 1e-3 * scale
    assert ngspice["loss"] == pytest.approx(native["loss"], rel=1e-2)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    # metrics' last loss is that of the trained values, which predict reproduces
    assert native["loss"] == pytest.approx(metrics["train_loss"][-1], rel=1e-12)


def _strip(metrics):
    return {k: v for k, v in metrics.items()
            if k not in ("seconds", "epoch_seconds_total", "wall_seconds")}


def test_resume_is_bitwise_equal_to_uninterrupted_run(capsys, teacher_spec, tmp_path):
    straight, parts = tmp_path / "straight", tmp_path / "parts"
    code, out, err = run(capsys, "train", teacher_spec, "--out", straight, "--epochs", "4",
                         "--no-plots", "--json", "--keep-checkpoint")
    assert code == 0, err
    full = json.loads(out)
    assert (straight / "checkpoint.npz").exists()
    assert not list(straight.glob("*.tmp*"))                    # atomic writes leave nothing
    code, _, err = run(capsys, "train", teacher_spec, "--out", parts, "--epochs", "2",
                       "--no-plots", "--keep-checkpoint")
    assert code == 0, err
    code, out, err = run(capsys, "train", teacher_spec, "--out", parts, "--epochs", "4",
                         "--no-plots", "--json", "--resume", "--keep-checkpoint")
    assert code == 0, err
    assert "resuming" in err
    resumed = json.loads(out)
    assert _strip(resumed) == _strip(full)                      # exact float equality
    assert resumed["train_loss"][-1] < resumed["train_loss"][0]
    a = json.loads((straight / "params.json").read_text())["values"]
    b = json.loads((parts / "params.json").read_text())["values"]
    assert a == b and len(a) == 6
    with np.load(straight / "checkpoint.npz") as x, np.load(parts / "checkpoint.npz") as y:
        for key in ("theta", "adam_m", "adam_v", "adam_t", "epoch"):
            assert np.array_equal(x[key], y[key]), key


def test_resume_errors(capsys, teacher_spec, tmp_path):
    code, _, err = run(capsys, "train", teacher_spec, "--out", tmp_path / "r", "--epochs", "3",
                       "--no-plots", "--keep-checkpoint")
    assert code == 0, err
    code, _, err = run(capsys, "train", teacher_spec, "--out", tmp_path / "r", "--epochs", "2",
                       "--resume", "--no-plots")
    assert code == 2 and "beyond" in err
    (tmp_path / "r" / "checkpoint.npz").write_bytes(b"garbage")
    code, _, err = run(capsys, "train", teacher_spec, "--out", tmp_path / "r", "--resume",
                       "--no-plots")
    assert code == 2 and "cannot resume" in err and len(err.strip().splitlines()) == 1


def test_sigterm_checkpoints_and_resume_matches(capsys, teacher_spec, tmp_path):
    """SIGTERM during lc training: exit 143 after the epoch's checkpoint, then --resume ends
    bitwise where an uninterrupted run ends."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    clean, stopped = tmp_path / "clean", tmp_path / "stopped"
    code, _, err = run(capsys, "train", teacher_spec, "--out", clean, "--epochs", "30",
                       "--no-plots")
    assert code == 0, err
    environment = dict(os.environ, PYTHONPATH=str(root), OPENBLAS_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "eqprop_hw", "train", str(teacher_spec),
                                "--out", str(stopped), "--epochs", "30", "--no-plots"],
                               env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (stopped / "checkpoint.npz").exists() and time.time() < deadline \
            and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("training finished before the signal arrived")
    assert process.returncode == 143, stderr
    assert "--resume" in stderr and len(stderr.strip().splitlines()) >= 1
    assert not (stopped / "params.json").exists()
    code, _, err = run(capsys, "train", teacher_spec, "--out", stopped, "--epochs", "30",
                       "--no-plots", "--resume")
    assert code == 0, err
    a = json.loads((clean / "metrics.json").read_text())
    b = json.loads((stopped / "metrics.json").read_text())
    assert _strip(a) == _strip(b)
    assert json.loads((clean / "params.json").read_text()) == \
        json.loads((stopped / "params.json").read_text())


@pytest.mark.ngspice
@needs_ngspice
def test_resume_with_ngspice_in_the_loop_is_bitwise_equal(teacher_spec, tmp_path):
    from eqprop_hw.lc.train import train_lc
    spec = load_spec(teacher_spec)
    full = train_lc(spec, tmp_path / "a", backend="ngspice", epochs=3, plots=False)
    train_lc(spec, tmp_path / "b", backend="ngspice", epochs=1, plots=False)
    resumed = train_lc(spec, tmp_path / "b", backend="ngspice", epochs=3, plots=False,
                       resume=True)
    assert _strip(full) == _strip(resumed)
    assert json.loads((tmp_path / "a" / "params.json").read_text()) == \
        json.loads((tmp_path / "b" / "params.json").read_text())
