"""The gradient of the continuous-time circuit (:func:`eqprop_hw.lc.continuous.continuous_gradient`)
and the reference row ``grad --backend ngspice`` prints with it (docs/results/lc_echo.md,
"BPTT converged in the time step").

The independent reference is finite differences of the loss integrated on a grid 32x finer than
the network's (the same inputs, the targets played as the same piecewise-linear waveforms):
that loss is the continuous-time one to (1/32)^2 of the leapfrog error at the spec's step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import eqprop_hw
from eqprop_hw.lc.bptt import agreement, bptt_gradient, loss_value
from eqprop_hw.lc.continuous import continuous_gradient
from eqprop_hw.lc.examples import random_lc_data, random_lc_model
from eqprop_hw.lc.integrate import integrate

ROOT = Path(__file__).resolve().parents[1]
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")


def pwl(values, times, fine_times):
    """Columns of ``values`` linearly interpolated onto ``fine_times``."""
    return np.stack([np.interp(fine_times, times, values[:, k])
                     for k in range(values.shape[1])], axis=1)


def test_continuous_gradient_matches_finite_differences_of_a_fine_step_loss():
    """2-node linear LC network, 250 steps of 4 ns (omega h ~ 0.13), residual 1e-2 of the
    swing: BPTT at tstep is 40 % off the continuous-time gradient (measured 0.40), the
    extrapolation 4.0e-4 (measured; the finite differences' own step error is about that);
    the two-grid estimate ``fine_error`` is calibrated (G(h/4)'s actual error ~ it / 3) and
    falls 4x per halving of the step (second order)."""
    model = random_lc_model(n_nodes=2, seed=1, nonlinear=False, train_inductors=True,
                            tstop=1e-6, tstep=4e-9)
    assert model.trainable == ["CC1_2", "L1", "L2"] and model.steps == 250
    fine = model.with_tstep(model.tstep / 32)
    u_fine = fine.input_waveforms()
    out = integrate(fine, inputs=u_fine, store=False).outputs[::32, 0]    # on the coarse grid
    y = out + 1e-2 * np.ptp(out, axis=0) * np.sin(6 * np.pi * model.times / model.tstop)[:, None]
    y_fine = pwl(y, model.times, fine.times)
    theta = model.theta0()
    fd = np.zeros(theta.size)
    for k in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[k] *= 1 + 1e-5
        down[k] *= 1 - 1e-5
        fd[k] = (loss_value(fine, up, u_fine, y_fine)
                 - loss_value(fine, down, u_fine, y_fine)) / (2e-5 * theta[k])
    ref = continuous_gradient(model, targets=y)
    assert agreement(ref.gradient, fd)["rel_error"] <= 1e-3
    assert agreement(ref.gradient, fd)["rel_error"] <= ref.fine_error / 10     # FD: its own step
    _, bptt, _ = bptt_gradient(model, inputs=model.input_waveforms(), targets=y)
    assert agreement(bptt, fd)["rel_error"] >= 0.1                      # what it corrects
    quarter = agreement(ref.fine[4], fd)["rel_error"]
    assert ref.fine_error / 6 <= quarter <= ref.fine_error / 1.5         # calibrated
    half = model.with_tstep(model.tstep / 2)
    finer = continuous_gradient(half, targets=pwl(y, model.times, half.times))
    assert 3.5 <= ref.fine_error / finer.fine_error <= 4.5               # second order
    assert ref.tstep == model.tstep and set(ref.fine) == {1, 2, 4}
    _, bptt_fine, _ = bptt_gradient(half, inputs=half.input_waveforms(),
                                    targets=pwl(y, model.times, half.times))
    assert np.array_equal(ref.fine[1], bptt) and np.array_equal(ref.fine[2], bptt_fine)


def test_continuous_error_estimate_is_conservative_and_calibrated():
    """The reported ``error`` against the extrapolation from 8x finer grids (h/16, h/32: its
    error ~ 1/4096 of this one's when the next term is O(h^4)): about 15x the actual error
    (measured 14.8-15.0 at residuals 1e-3 to 1e-1 of the swing), far below ``fine_error``."""
    model = random_lc_model(n_nodes=2, seed=1, nonlinear=False, train_inductors=True,
                            tstop=1e-6, tstep=4e-9)
    fine = model.with_tstep(model.tstep / 32)
    out = integrate(fine, inputs=fine.input_waveforms(), store=False).outputs[::32, 0]
    wave = np.sin(6 * np.pi * model.times / model.tstop)[:, None]
    eighth = model.with_tstep(model.tstep / 8)
    for r in (1e-3, 1e-1):
        y = out + r * np.ptp(out, axis=0) * wave
        ref = continuous_gradient(model, targets=y)
        best = continuous_gradient(eighth, targets=pwl(y, model.times, eighth.times))
        actual = agreement(ref.gradient, best.gradient)["rel_error"]
        assert 10 * actual <= ref.error <= 20 * actual, (r, actual, ref.error)
        assert ref.error <= ref.fine_error / 50


def test_continuous_gradient_and_with_tstep_refuse_bad_arguments():
    model = random_lc_model(n_nodes=2, seed=1, nonlinear=False, tstop=1e-6, tstep=4e-9)
    with pytest.raises(ValueError, match=r"tstop \(1e-06 s\) must be a whole number"):
        model.with_tstep(3e-9)
    with pytest.raises(ValueError, match="positive and finite"):
        model.with_tstep(float("nan"))
    with pytest.raises(ValueError, match="steps is too many"):
        model.with_tstep(1e-13)
    with pytest.raises(ValueError, match=r"'targets' must have shape \(steps \+ 1 = 251"):
        continuous_gradient(model, targets=np.zeros((250, 1)))
    bad = np.zeros((251, 1))
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="'inputs' holds a value that is not finite"):
        continuous_gradient(model, inputs=bad)
    with pytest.raises(ValueError, match="'tstep_gradient' must be 1 finite numbers"):
        continuous_gradient(model, targets=np.zeros((251, 1)), tstep_gradient=np.zeros(3))
    assert model.with_tstep(2e-9).spec_data["time"]["tstep"] == 2e-9
    assert model.spec_data["time"]["tstep"] == 4e-9                      # a copy


@pytest.fixture()
def tiny_spec(tmp_path):
    """4 nodes (2 nonlinear inductors), 5 trainable couplings, 1000 steps of 0.2 ns."""
    path = tmp_path / "lc_tiny.yaml"
    path.write_text(yaml.safe_dump(random_lc_data(n_nodes=4, seed=1, tstep=2e-10, tstop=2e-7,
                                                  name="lc_tiny"), sort_keys=False))
    return path


def small_residual(net, r=1e-3):
    """User waveforms of the tiny network: a 4.3 MHz input, targets its outputs plus
    ``r`` x the swing."""
    u = 2e-3 * np.sin(2 * np.pi * 4.3e6 * net.times + 0.4)[:, None]
    out = net.simulate(u).outputs.T
    y = out + r * np.ptp(out, axis=0) * np.sin(6 * np.pi * net.times / net.times[-1])[:, None]
    return u, y


@needs_ngspice
def test_check_adds_the_continuous_reference_row_with_ngspice(tiny_spec):
    """``check`` with ngspice: the row ``echo ngspice vs continuous`` (measured rel. 1.5e-3
    against 1.3e-2 for ``echo ngspice`` vs BPTT at r = 1e-3); not without ngspice."""
    net = eqprop_hw.load(tiny_spec)
    u, y = small_residual(net)
    rows = {row["name"]: row for row in net.check(1, x=u, y=y).rows}
    row = rows["echo ngspice vs continuous"]
    assert row["against"] == "continuous" and row["elements"] == len(net.trainable)
    assert row["rel_error"] <= rows["echo ngspice"]["rel_error"] / 4
    assert 0 < row["reference_error"] < 1e-5
    assert "echo ngspice vs continuous" not in [
        r["name"] for r in net.check(1, x=u, y=y, ngspice=False).rows]


@needs_ngspice
def test_grad_ngspice_reports_the_continuous_reference_at_a_small_residual(tiny_spec,
                                                                          tmp_path):
    """``grad --backend ngspice`` of user waveforms, residual 1e-3 of the swing: the echo is
    8.7x closer to the continuous-time gradient than to BPTT at tstep (measured 1.5e-3 vs
    1.3e-2), because BPTT at tstep is itself 1.1e-2 away from it; ``exact``/``rel_error``
    stay BPTT at tstep; the native backend leaves the reference off unless asked."""
    net = eqprop_hw.load(tiny_spec)
    u, y = small_residual(net)
    np.save(tmp_path / "u.npy", u)
    np.save(tmp_path / "y.npy", y)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    done = subprocess.run([sys.executable, "-m", "eqprop_hw", "grad", str(tiny_spec),
                           "--backend", "ngspice", "--input-file", str(tmp_path / "u.npy"),
                           "--target-file", str(tmp_path / "y.npy"), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300, check=True)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith(
        "echo vs BPTT converged in the time step (the continuous-time circuit ngspice "
        "integrates;"), done.stdout
    g = net.gradient(u, y, backend="ngspice").data
    assert g["continuous_rel_error"] <= g["rel_error"] / 4, g["rel_error"]
    assert g["continuous_cosine"] >= 0.99999
    _, bptt, _ = bptt_gradient(net.model, inputs=u, targets=y)
    assert agreement(list(g["exact"].values()), bptt)["rel_error"] == 0.0
    ref = continuous_gradient(net.model, inputs=u, targets=y)
    assert list(g["continuous"].values()) == ref.gradient.tolist()
    assert g["continuous_error"] == ref.error
    assert g["exact_vs_continuous"]["rel_error"] == pytest.approx(
        agreement(bptt, ref.gradient)["rel_error"], rel=1e-12)
    assert 0.5 <= g["exact_vs_continuous"]["rel_error"] / g["rel_error"] <= 1.5
    native = net.gradient(u, y).data
    assert native["continuous"] is None and native["continuous_rel_error"] is None
    assert net.gradient(u, y, continuous=True).data["continuous"] == g["continuous"]
    off = net.gradient(u, y, backend="ngspice", continuous=False).data
    assert off["continuous"] is None and off["rel_error"] == g["rel_error"]
    with pytest.raises(eqprop_hw.InvalidParameterError, match="continuous"):
        net.gradient(u, y, continuous="yes")


@needs_ngspice
def test_a_network_too_large_for_the_reference_skips_or_refuses_it(tiny_spec, monkeypatch):
    """The default reference of a network over the size limit is skipped and says why; asked
    for explicitly, it is refused before anything runs."""
    import eqprop_hw.lc.continuous as continuous
    net = eqprop_hw.load(tiny_spec)
    u, y = small_residual(net)
    assert continuous.size_problem(net.model) is None
    monkeypatch.setattr(continuous, "MAX_FINE_VALUES", 4 * net.steps * net.model.n)
    problem = continuous.size_problem(net.model)
    assert problem == ("the continuous-time reference would store 16,004 values per "
                       "trajectory array at tstep / 4, more than the limit of 16,000")
    g = net.gradient(u, y, backend="ngspice").data
    assert g["continuous"] is None and g["continuous_skipped"] == problem
    assert g["rel_error"] < 0.02                                   # the echo itself ran
    with pytest.raises(eqprop_hw.InvalidParameterError,
                       match="gradient: 'continuous': the continuous-time reference would"):
        net.gradient(u, y, continuous=True)
    with pytest.raises(ValueError, match="continuous_gradient: the continuous-time"):
        continuous_gradient(net.model, inputs=u, targets=y)
    rows = [row["name"] for row in net.check(1, x=u, y=y).rows]
    assert rows[-1] == "echo ngspice vs echo native"
    assert "steps at tstep / 4, more than the limit of 2,000,000" in continuous.size_problem(
        net.model.with_tstep(net.model.tstep / 1000))


def test_continuous_reference_option_is_refused_for_resistive_specs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "eqprop_hw", "grad",
                           str(ROOT / "circuits" / "xor.yaml"), "--input", "1,0", "--target",
                           "0.1", "--continuous-reference"], capture_output=True, text=True,
                          env=env, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == (
        "eqprop-hw: error: --continuous-reference: only lc specs take a continuous-time "
        "reference (grad)")
    assert not list(tmp_path.iterdir())


@needs_ngspice
def test_the_tools_no_fd_mode_records_what_grad_prints(tiny_spec, tmp_path):
    """``tools/lc_fd_ngspice.py --no-fd``: its row is ``grad --backend ngspice --json`` of the
    tool's own user inputs, r = 1e-3 (echo closer to the continuous gradient than to BPTT)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("lc_fd_ngspice",
                                                  ROOT / "tools" / "lc_fd_ngspice.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    entry = tool.grad_continuous(tiny_spec, [1e-3], 0, tmp_path)
    row = entry["residuals"]["0.001"]
    assert entry["steps"] == 1000
    assert row["echo_vs_continuous"]["rel_error"] <= row["echo_vs_bptt"]["rel_error"] / 4, row
    assert 0.5 <= row["bptt_vs_continuous"]["rel_error"] / row["echo_vs_bptt"]["rel_error"] <= 1.5
    assert 0 < row["continuous_error"] < 1e-5
