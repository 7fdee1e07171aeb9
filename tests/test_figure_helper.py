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
from process_ended import group_ended, process_ended  # noqa: E402

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
    assert process_ended(pid, 30), f"the figure helper {pid} outlived the killed run by 30 s"


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


def test_train_hands_its_figures_to_the_helper(tmp_path, monkeypatch):
    """train() starts a helper and gives it the four figures of the end (a recording fake:
    the real path of the figures, not a fallback that draws the same files)."""
    handed = []

    class Recorder:
        def draw(self, jobs):
            handed.append([Path(job.path).name for job in jobs])
            return []

        def close(self):
            handed.append("closed")

    monkeypatch.setattr(FigureHelper, "start", classmethod(lambda cls: Recorder()))
    eqprop_hw.load(ROOT / "circuits" / "xor.yaml").train(tmp_path / "o", epochs=2, plots=True)
    assert handed == [["loss.png", "accuracy.png", "conductances.png", "conductance_map.png"],
                      "closed"]
    assert not list((tmp_path / "o").glob("*.png"))        # the fake drew nothing


def test_the_callers_matplotlib_settings_do_not_change_the_bytes(xor_run, tmp_path):
    import matplotlib
    jobs = training_jobs(xor_run, tmp_path / "plain")
    (tmp_path / "plain").mkdir()
    for job in jobs:
        plots.draw_job(job)
    (tmp_path / "styled").mkdir()
    with matplotlib.rc_context({"lines.linewidth": 4.0, "font.size": 20.0}):
        for job in training_jobs(xor_run, tmp_path / "styled"):
            plots.draw_job(job)
    for job in jobs:
        name = Path(job.path).name
        assert (tmp_path / "plain" / name).read_bytes() == \
            (tmp_path / "styled" / name).read_bytes(), name


def test_dot_dot_after_a_symlink_means_what_the_run_means(xor_run, tmp_path, monkeypatch):
    """``link/../out``: the kernel resolves ``..`` after the link, and so must the helper's
    path (os.path.abspath would drop ``link/..`` and write elsewhere)."""
    (tmp_path / "real" / "inner").mkdir(parents=True)
    (tmp_path / "real" / "out").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "link").symlink_to(tmp_path / "real" / "inner")
    monkeypatch.chdir(tmp_path / "work")
    with FigureHelper.started() as helper:
        assert helper.draw(training_jobs(xor_run, Path("link") / ".." / "out")) == []
    assert len(list((tmp_path / "real" / "out").glob("*.png"))) == 4
    assert not (tmp_path / "work" / "out").exists()


def test_a_module_in_the_current_folder_is_not_imported_by_the_helper(xor_run, tmp_path,
                                                                     monkeypatch):
    marker = tmp_path / "imported"
    for name in ("select", "selectors", "json", "pickle", "numpy", "matplotlib"):
        (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    with FigureHelper.started() as helper:
        assert helper.draw(training_jobs(xor_run, tmp_path / "out")) == []
    assert not marker.exists()


def test_a_run_killed_while_the_helper_draws_leaves_no_process(tmp_path):
    """The helper and its forked copy die with the run (Linux: PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the kernel's parent-death signal is Linux's")
    script = f"""
import os, signal, sys, time
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
from eqprop_hw.io.figure_helper import FigureHelper
from eqprop_hw.io.plots import FigureJob
helper = FigureHelper.start()
big = {{"matrices": [{{"title": "m", "rows": list(range(300)), "columns": list(range(300)),
        "g": np.geomspace(1e-8, 1e-3, 90000).reshape(300, 300)}}], "title": "t"}}
jobs = [FigureJob({str(tmp_path)!r} + f"/m{{k}}.png", "conductance_maps", big)
        for k in range(40)]
print(helper.process.pid, flush=True)
import threading
threading.Timer(4.0, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
helper.draw(jobs)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    group = int(run.stdout.split()[0])           # the helper leads its own process group
    assert group_ended(group, 10), "the helper or its copy outlived the killed run"
    drawn = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(drawn) < 40                       # it was stopped while drawing
    time.sleep(1.0)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == drawn   # and draws no more
