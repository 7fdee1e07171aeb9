"""LC specs through the CLI (describe, export, simulate, grad, train), training with the echo
rule, and the echo's flat memory."""

import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

from eqprop_hw.lc.bptt import bptt_gradient
from eqprop_hw.lc.echo import hel_gradient
from eqprop_hw.lc.examples import random_lc_data, random_lc_model
from eqprop_hw.lc.integrate import integrate
from eqprop_hw.lc.model import build_model
from eqprop_hw.circuit.spec import load_spec
from cli_run import run

ROOT = Path(__file__).resolve().parents[1]
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")




@pytest.fixture()
def small_spec(tmp_path):
    path = tmp_path / "lc_small.yaml"
    data = random_lc_data(n_nodes=4, seed=1, tstep=2e-10, tstop=6e-7, name="lc_small")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_describe_json(capsys, small_spec):
    code, out, err = run(capsys, "describe", small_spec, "--json")
    assert code == 0, err
    data = json.loads(out)
    model = build_model(load_spec(small_spec))
    assert data["kind"] == "lc" and data["nodes"][-1] == "0"
    assert [t["name"] for t in data["trainable"]] == model.trainable
    assert [t["value"] for t in data["trainable"]] == model.theta0().tolist()
    assert data["outputs"] == [{"name": "y0", "node": "n4", "kind": "flux"}]


@needs_ngspice
def test_exported_netlist_runs_in_plain_ngspice_and_matches_native(capsys, small_spec, tmp_path):
    from eqprop_hw.backends.ngspice import run_ngspice_batch
    from eqprop_hw.lc.ngspice import resample
    code, out, err = run(capsys, "export", small_spec)
    assert code == 0, err
    assert ".tran" in out and "UIC" in out and "method=trap" in out
    raw = run_ngspice_batch(out)
    model = build_model(load_spec(small_spec))
    native = integrate(model, store=True)
    t = np.concatenate([[0.0], raw["time"]])
    phi = np.concatenate([[0.0], raw["flx_n4"]])
    measured = resample(t, phi[:, None], model.times)[:, 0]
    scale = np.max(np.abs(native.outputs[:, 0, 0]))
    assert np.max(np.abs(measured - native.outputs[:, 0, 0])) <= 1e-4 * scale


@needs_ngspice
def test_simulate_json_backends_agree(capsys, small_spec):
    results = {}
    for backend in ("native", "ngspice"):
        code, out, err = run(capsys, "simulate", small_spec, "--backend", backend, "--json")
        assert code == 0, err
        results[backend] = json.loads(out)
    native, ngspice = (np.array(results[b]["outputs"]) for b in ("native", "ngspice"))
    assert results["native"]["output_kind"] == "flux"
    assert native.shape == (1, len(results["native"]["time"]))
    assert np.max(np.abs(native - ngspice)) <= 1e-4 * np.max(np.abs(native))


def test_grad_json_native(capsys, small_spec):
    code, out, err = run(capsys, "grad", small_spec, "--json", "--beta", "1e3")
    assert code == 0, err
    data = json.loads(out)
    model = build_model(load_spec(small_spec))
    loss, grad, _ = bptt_gradient(model, targets=model.target_waveforms())
    assert data["loss"] == pytest.approx(loss, rel=1e-12)
    assert np.allclose([data["exact"][n] for n in model.trainable], grad, rtol=1e-12, atol=0)
    assert data["cosine"] > 1 - 1e-9 and data["rel_error"] < 1e-5
    assert len(data["target"]) == 1 and len(data["target"][0]) == len(data["time"])


@pytest.mark.parametrize("argv, fragment", [
    (["simulate", "{spec}", "--input", "1"], "--input: an lc spec's inputs are waveforms"),
    (["grad", "{spec}", "--input", "1", "--target", "1"], "--input/--target"),
    (["export", "{spec}", "--tstep", "1e-9", "--analysis", "tran"], "--tstep/--tstop"),
])
def test_lc_usage_errors_are_one_line(capsys, small_spec, argv, fragment):
    code, out, err = run(capsys, *[a.format(spec=small_spec) for a in argv])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err


def test_teacher_student_training_native(capsys, tmp_path):
    data = random_lc_data(n_nodes=4, seed=2, tstep=1e-9, tstop=6e-7, name="lc_tiny_teacher")
    data.pop("targets")
    data["dataset"] = {"name": "teacher", "seed": 1, "samples": 1, "perturbation": 0.2}
    data["training"] = {"epochs": 25, "learning_rate": 0.1, "lr_decay": 0.95}
    path = tmp_path / "teacher.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", path, "--out", out_dir, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["train_loss"][0] / min(metrics["train_loss"]) > 20
    assert json.loads((out_dir / "metrics.json").read_text())["train_loss"] == \
        metrics["train_loss"]
    for name in ("loss.png", "trajectories.png", "echo.png", "params.json"):
        assert (out_dir / name).stat().st_size > 0
    code, out, err = run(capsys, "describe", path, "--params", out_dir / "params.json", "--json")
    assert code == 0, err
    trained = {t["name"]: t["value"] for t in json.loads(out)["trainable"]}
    saved = json.loads((out_dir / "params.json").read_text())["values"]
    assert trained == pytest.approx(saved, rel=1e-15)


def test_echo_memory_is_flat_while_bptt_grows():
    peaks = {}
    for steps in (500, 2000):
        model = random_lc_model(n_nodes=4, seed=5, tstep=1e-9, tstop=steps * 1e-9)
        u, y = model.input_waveforms(), model.target_waveforms()
        for name, function in (("echo", lambda: hel_gradient(model, inputs=u, targets=y,
                                                               beta=1e3)),
                               ("bptt", lambda: bptt_gradient(model, inputs=u, targets=y))):
            tracemalloc.start()
            function()
            peaks[name, steps] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    # Growth from 500 to 2000 steps: BPTT stores every step (O(steps)), the echo does not.
    # Compared as growths, because tracemalloc also counts what other threads of the test
    # process allocate meanwhile (a few kB against the echo's ~12 kB peak).
    echo_growth = peaks["echo", 2000] - peaks["echo", 500]
    bptt_growth = peaks["bptt", 2000] - peaks["bptt", 500]
    assert echo_growth < 0.05 * bptt_growth
    assert peaks["bptt", 2000] > 3 * peaks["bptt", 500]
    assert peaks["bptt", 2000] > 10 * peaks["echo", 2000]


@pytest.mark.slow
@needs_ngspice
def test_teacher_student_loss_falls_100x_with_ngspice_echo(tmp_path):
    """The bundled teacher-student task, every update from ngspice echo measurements."""
    from eqprop_hw.lc.train import train_lc
    spec = load_spec(ROOT / "circuits" / "lc" / "lc_teacher.yaml")
    metrics = train_lc(spec, tmp_path, backend="ngspice", plots=False)
    assert metrics["train_loss"][0] / metrics["train_loss"][-1] >= 100


@needs_ngspice
def test_cli_training_with_ngspice_follows_native_training(capsys, tmp_path):
    """`train --backend ngspice` (updates from ngspice echo measurements) takes the same steps as
    the native echo: after 6 epochs the trained capacitances agree to 1e-3."""
    data = random_lc_data(n_nodes=4, seed=2, tstep=2e-10, tstop=3e-7, name="lc_tiny_ng")
    data.pop("targets")
    data["dataset"] = {"name": "teacher", "seed": 1, "samples": 1, "perturbation": 0.2}
    data["training"] = {"epochs": 6, "learning_rate": 0.05}
    path = tmp_path / "teacher.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    trained, losses = {}, {}
    for backend in ("native", "ngspice"):
        code, out, err = run(capsys, "train", path, "--backend", backend, "--no-plots",
                             "--out", tmp_path / backend, "--json")
        assert code == 0, err
        losses[backend] = json.loads(out)["train_loss"]
        trained[backend] = json.loads((tmp_path / backend / "params.json").read_text())["values"]
    assert losses["ngspice"][-1] < 0.5 * losses["ngspice"][0]
    assert losses["ngspice"] == pytest.approx(losses["native"], rel=1e-3)
    for name, value in trained["native"].items():
        assert trained["ngspice"][name] == pytest.approx(value, rel=1e-3)
