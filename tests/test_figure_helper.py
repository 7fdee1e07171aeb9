"""The figure helper process (eqprop_hw/io/figure_helper.py) draws a run's figures to the same
bytes as the run's own process, gives back what it could not draw (so the run raises the real
error), and never outlives the run."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import eqprop_hw  # noqa: E402
from eqprop_hw.io import plots  # noqa: E402
from eqprop_hw.io.figure_helper import FigureHelper  # noqa: E402
from eqprop_hw.io.params import load_params  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    """A short xor run (no figures) and its circuit, values and metrics."""
    out = tmp_path_factory.mktemp("xor")
    net = eqprop_hw.load(ROOT / "circuits" / "xor.yaml")
    net.train(out, epochs=30, plots=False)
    trained = eqprop_hw.load(ROOT / "circuits" / "xor.yaml", params=out / "params.npz")
    params = load_params(out / "params.npz")
    values = np.array([params[name] for name in trained.circuit.trainable])
    metrics = json.loads((out / "metrics.json").read_text())
    return trained, values, metrics


def training_jobs(xor_run, out: Path) -> list:
    net, values, metrics = xor_run
    return plots.training_figures(out, net.circuit, values, metrics, net.spec)


@pytest.mark.parametrize("module", ["eqprop_hw.io.plots", "eqprop_hw.io.figure_helper"])
def test_docstring_examples_run(tmp_path, module):
    result = doctest.testmod(importlib.import_module(module), extraglobs={"TMP": tmp_path},
                             verbose=False)
    assert result.failed == 0 and result.attempted > 0


def test_the_helper_draws_the_same_bytes_as_this_process(xor_run, tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    for job in training_jobs(xor_run, here):
        plots.draw_job(job)
    with FigureHelper.started() as helper:
        assert helper.draw(training_jobs(xor_run, there)) == []
    names = sorted(p.name for p in here.iterdir())
    assert names == ["accuracy.png", "conductance_map.png", "conductances.png", "loss.png"]
    assert sorted(p.name for p in there.iterdir()) == names       # no temporary files left
    for name in names:
        assert (here / name).read_bytes() == (there / name).read_bytes(), name


def test_a_job_the_helper_cannot_draw_comes_back_and_raises_here(xor_run, tmp_path):
    jobs = training_jobs(xor_run, tmp_path / "gone")          # a folder that does not exist
    jobs.append(plots.FigureJob(str(tmp_path / "x.png"), "no_such_figure", {}))
    with FigureHelper.started() as helper:
        assert helper.draw(jobs) == jobs                      # every one given back, in order
        assert helper.draw(jobs[:1]) == jobs[:1]              # and it still answers
    with FigureHelper.started() as helper, pytest.raises(FileNotFoundError):
        plots.plot_training(tmp_path / "gone", xor_run[0].circuit, xor_run[1], xor_run[2],
                            xor_run[0].spec, helper)
    assert not (tmp_path / "x.png").exists()


def test_a_dead_helper_leaves_the_figures_to_this_process(xor_run, tmp_path):
    net, values, metrics = xor_run
    with FigureHelper.started() as helper:
        helper.process.kill()
        helper.process.wait()
        jobs = training_jobs(xor_run, tmp_path)
        assert helper.draw(jobs) == jobs
        plots.plot_training(tmp_path, net.circuit, values, metrics, net.spec, helper)
    assert len(list(tmp_path.glob("*.png"))) == 4


def test_the_helper_is_in_a_session_of_its_own_and_ends_with_its_input():
    with FigureHelper.started() as helper:
        assert os.getsid(helper.process.pid) != os.getsid(0)   # no Ctrl-C from the terminal
        process = helper.process
    assert process.poll() is not None                           # closed with the block


def test_the_helper_ends_when_the_run_is_killed(tmp_path):
    script = ("import os, signal, sys; "
              f"sys.path.insert(0, {str(ROOT)!r}); "
              "from eqprop_hw.io.figure_helper import FigureHelper; "
              "helper = FigureHelper.start(); print(helper.process.pid, flush=True); "
              "os.kill(os.getpid(), signal.SIGKILL)")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == -signal.SIGKILL
    pid = int(run.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return                                              # gone
        status = Path(f"/proc/{pid}/stat")
        if status.exists() and status.read_text().split(") ")[-1].startswith("Z"):
            return                                              # ended, not yet reaped
        time.sleep(0.1)
    pytest.fail(f"the figure helper {pid} outlived the killed run by 30 s")


def test_a_run_stopped_by_sigint_gets_its_figures_from_the_helper(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "eqprop_hw", "train", str(ROOT / "circuits" / "xor.yaml"),
               "--backend", "native", "--epochs", "100000", "--out", str(out), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert sorted(p.name for p in out.glob("*.png")) == [
        "accuracy.png", "conductance_map.png", "conductances.png", "loss.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]   # no temporary files
