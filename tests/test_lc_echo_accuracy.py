"""Issue 17 (lc side): every lc command runs the same input/target waveforms (files or the one
default sequence), the exported netlist is the circuit whose gradient ``grad`` reports, and the
echo measured in ngspice matches BPTT at any residual size, with its numerical floor reported.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import eqprop_hw
from eqprop_hw.cli import main
from eqprop_hw.circuit.netlist import fmt
from eqprop_hw.lc.bptt import bptt_gradient
from eqprop_hw.lc.examples import random_lc_data
from eqprop_hw.lc.integrate import integrate

ROOT = Path(__file__).resolve().parents[1]
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out), err


@pytest.fixture()
def small_spec(tmp_path):
    path = tmp_path / "lc_small.yaml"
    data = random_lc_data(n_nodes=4, seed=1, tstep=2e-10, tstop=6e-7, name="lc_small")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def waveforms(net, seed=0):
    """Input currents (A) and targets (Wb) on the grid, unlike the spec's own."""
    t = net.times
    rng = np.random.default_rng(seed)
    u = 3e-3 * np.sin(2 * np.pi * 4.1e6 * t + rng.uniform(0, 6))[:, None]
    y = 2e-9 * np.sin(2 * np.pi * 3.3e6 * t + rng.uniform(0, 6))[:, None]
    return u, y


def test_input_and_target_files_reach_every_command_identically(capsys, small_spec, tmp_path):
    net = eqprop_hw.load(small_spec)
    u, y = waveforms(net)
    u_csv, y_npy = tmp_path / "u.csv", tmp_path / "y.npy"
    np.savetxt(u_csv, u, fmt="%.17g")
    np.save(y_npy, y)
    files = ["--input-file", u_csv, "--target-file", y_npy]
    loss, exact, run_ = bptt_gradient(net.model, inputs=u, targets=y)   # the independent one

    grad, _ = run_json(capsys, "grad", small_spec, *files, "--beta", "1e3")
    assert grad["inputs_source"] == str(u_csv) and grad["targets_source"] == str(y_npy)
    assert np.array_equal(np.array(grad["inputs"]), u.T)           # the file's waveform, echoed
    assert np.array_equal(np.array(grad["target"]), y.T)
    assert grad["loss"] == pytest.approx(loss, rel=1e-12)
    assert np.allclose([grad["exact"][n] for n in net.trainable], exact, rtol=1e-12, atol=0)

    sim, _ = run_json(capsys, "simulate", small_spec, *files)
    assert sim["inputs_source"] == str(u_csv)
    assert np.allclose(np.array(sim["outputs"]), run_.outputs[:, 0].T, rtol=0,
                       atol=1e-12 * np.max(np.abs(run_.outputs)))
    assert sim["loss"] == pytest.approx(loss, rel=1e-9)

    pred, _ = run_json(capsys, "predict", small_spec, *files)
    assert pred["inputs_source"] == str(u_csv) and pred["split"] == "given"
    assert pred["loss"] == pytest.approx(loss, rel=1e-9)
    assert np.array_equal(np.array(pred["samples"][0]["inputs"]), u.T)

    check, _ = run_json(capsys, "check", small_spec, *files, "--no-ngspice", "--beta", "1e3")
    assert check["inputs_source"] == str(u_csv) and check["samples"] == 1
    assert check["rows"][0]["loss"] == pytest.approx(loss, rel=1e-9)

    code, text, err = run(capsys, "export", small_spec, *files, "--beta", "1e3")
    assert code == 0, err
    assert text == net.netlist(u, beta=1e3, target=y)
    source = next(line for line in text.splitlines() if line.startswith("IIN1 "))
    assert source.endswith(" ".join(f"{fmt(t)} {fmt(v)}" for t, v in zip(net.times, u[:, 0]))
                           + ")")
    target = next(line for line in text.splitlines() if line.startswith("VTGT0 "))
    assert f"{fmt(net.times[7])} {fmt(y[7, 0])}" in target


def test_without_files_every_command_runs_the_same_default_sequence(capsys):
    spec = ROOT / "circuits" / "lc" / "lc_teacher.yaml"
    net = eqprop_hw.load(spec)
    grad, _ = run_json(capsys, "grad", spec, "--beta", "1e3")
    sim, _ = run_json(capsys, "simulate", spec)
    check, _ = run_json(capsys, "check", spec, "--samples", "1", "--no-ngspice", "--beta", "1e3")
    assert grad["inputs_source"] == sim["inputs_source"] == check["inputs_source"] == \
        "dataset[0]"
    u = np.array(grad["inputs"]).T
    native = integrate(net.model, inputs=u, store=True).outputs[:, 0]
    assert np.array_equal(np.array(sim["outputs"]), native.T)
    assert check["rows"][0]["loss"] == pytest.approx(grad["loss"], rel=1e-12)
    code, text, err = run(capsys, "export", spec)
    assert code == 0, err
    assert text == net.netlist(u)          # the exported circuit is the one grad ran
    assert text != eqprop_hw.load(ROOT / "circuits" / "lc" / "lc_duffing.yaml").netlist()


@needs_ngspice
def test_exported_netlist_of_a_file_runs_in_plain_ngspice_as_simulated(capsys, small_spec,
                                                                        tmp_path):
    from eqprop_hw.backends.ngspice import run_ngspice_batch
    from eqprop_hw.lc.ngspice import resample
    net = eqprop_hw.load(small_spec)
    u, _ = waveforms(net, seed=3)
    np.save(tmp_path / "u.npy", u)
    code, text, err = run(capsys, "export", small_spec, "--input-file", tmp_path / "u.npy")
    assert code == 0, err
    raw = run_ngspice_batch(text)
    node = net.model.outputs[0]["node"]
    measured = resample(np.concatenate([[0.0], raw["time"]]),
                        np.concatenate([[0.0], raw[f"flx_{node}"]])[:, None], net.times)[:, 0]
    native = integrate(net.model, inputs=u, store=True).outputs[:, 0, 0]
    assert np.max(np.abs(measured - native)) <= 1e-4 * np.max(np.abs(native))
