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
from eqprop_hw.circuit.netlist import fmt
from eqprop_hw.lc.bptt import bptt_gradient
from eqprop_hw.lc.examples import random_lc_data
from eqprop_hw.lc.integrate import integrate
from cli_run import run

ROOT = Path(__file__).resolve().parents[1]
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")




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
    assert grad["inputs_source"] == sim["inputs_source"] == "dataset[0]"
    u = np.array(grad["inputs"]).T
    native = integrate(net.model, inputs=u, store=True).outputs[:, 0]
    assert np.array_equal(np.array(sim["outputs"]), native.T)
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


# -- the echo measured in ngspice, at any residual ------------------------------------------
DUFFING = ROOT / "circuits" / "lc" / "lc_duffing.yaml"       # the smallest lc example


def residual_targets(net, u, residual):
    """Targets ``residual * swing * sin(6 pi t / T + k)`` away from the native outputs."""
    out = integrate(net.model, inputs=u, store=True).outputs[:, 0]
    wave = np.stack([np.sin(2 * np.pi * 3 * net.times / net.model.tstop + k)
                     for k in range(out.shape[1])], axis=1)
    return out + residual * np.ptp(out, axis=0) * wave


@needs_ngspice
@pytest.mark.parametrize("residual", [1e-3, 1.0])
def test_ngspice_echo_matches_bptt_at_small_and_large_residuals(residual):
    net = eqprop_hw.load(DUFFING)
    u = net.model.input_waveforms()
    y = residual_targets(net, u, residual)
    g = net.gradient(u, y, backend="ngspice")                 # default beta and tolerances
    _, exact, _ = bptt_gradient(net.model, inputs=u, targets=y)
    assert np.allclose(g.exact_vector, exact, rtol=1e-12, atol=0)
    assert g.cosine >= 0.999 and g.rel_error <= 1e-2, (g.cosine, g.rel_error)
    assert g.data["floor"] > 0 and g.data["signal_to_floor"] >= 10
    assert g.data["floor_warning"] is False and g.data["retrace_error"] < 1e-5


@needs_ngspice
def test_floor_is_reported_and_the_warning_fires_when_beta_is_forced_tiny(capsys):
    data, err = run_json(capsys, "grad", DUFFING, "--backend", "ngspice", "--beta", "1e-9")
    assert data["floor_warning"] is True and data["signal_to_floor"] < 10
    assert data["floor"] > 0 and data["beta"] == 1e-9
    assert err.count("warning: the nudge's signal") == 1 and "--beta" in err
    assert data["cosine"] < 0.999             # and indeed the estimate is noise


def test_native_echo_reports_its_floor_far_below_the_signal(capsys, small_spec):
    data, err = run_json(capsys, "grad", small_spec, "--beta", "1e3")
    assert data["floor_warning"] is False and data["signal_to_floor"] > 100
    assert data["rel_error"] <= 1 / data["signal_to_floor"]   # same discrete system: bounded
    assert data["retrace_error"] < 1e-12 and "warning" not in err


@needs_ngspice
@pytest.mark.slow
def test_ngspice_echo_matches_finite_differences_through_raw_ngspice(capsys, tmp_path):
    """Central differences (+-0.1 %) of the loss measured by plain ``ngspice -b`` on the
    netlists ``export --params --input-file`` writes, against ``grad --backend ngspice``."""
    from eqprop_hw.backends.ngspice import run_ngspice_batch
    from eqprop_hw.lc.bptt import agreement
    from eqprop_hw.lc.ngspice import resample
    net = eqprop_hw.load(DUFFING)
    u = net.model.input_waveforms()
    y = residual_targets(net, u, 1.0)
    np.save(tmp_path / "u.npy", u)
    np.save(tmp_path / "y.npy", y)
    grad, _ = run_json(capsys, "grad", DUFFING, "--backend", "ngspice", "--input-file",
                       tmp_path / "u.npy", "--target-file", tmp_path / "y.npy")
    theta = dict(zip(net.trainable, net.model.theta0()))

    def loss(values):
        (tmp_path / "p.json").write_text(json.dumps({"format": "eqprop-hw params 1",
                                                     "values": values}))
        code, text, err = run(capsys, "export", DUFFING, "--params", tmp_path / "p.json",
                              "--input-file", tmp_path / "u.npy")
        assert code == 0, err
        raw = run_ngspice_batch(text)
        node = net.model.outputs[0]["node"]
        phi = resample(np.concatenate([[0.0], raw["time"]]),
                       np.concatenate([[0.0], raw[f"flx_{node}"]])[:, None], net.times)
        err_ = phi - y
        return float(np.trapezoid(0.5 * np.sum(err_ * err_, axis=1), net.times))

    fd = np.array([(loss({**theta, k: v * 1.001}) - loss({**theta, k: v * 0.999})) / (0.002 * v)
                   for k, v in theta.items()])
    result = agreement(np.array([grad["ep"][k] for k in theta]), fd)
    assert result["cosine"] >= 0.99 and result["rel_error"] <= 1e-2, result


def test_check_rows_report_the_echo_floor(capsys, small_spec):
    data, _ = run_json(capsys, "check", small_spec, "--no-ngspice", "--samples", "1", "--beta",
                       "1e3")
    row = next(r for r in data["rows"] if r["name"] == "echo native")
    grad, _ = run_json(capsys, "grad", small_spec, "--beta", "1e3")
    assert row["floor"] == pytest.approx(grad["floor"], rel=1e-9)
    assert row["signal_to_floor"] == pytest.approx(grad["signal_to_floor"], rel=1e-9)
