"""Issue 19 item 2: every wait over ~2 s shows progress on stderr.

The bars keep moving during a long step (:mod:`eqprop_hw.learning.progress`), finite-temperature
``simulate`` has a bar over its sampled phase, and ngspice's transients report their progress
(``tran: 42%``) to the sampling bars. ``--quiet`` silences the bars; stdout and the JSON are the
same with and without them. ``tools/silent_waits.py`` finds silent waits in the commands.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from eqprop_hw.learning import progress
from cli_run import run

ROOT = Path(__file__).resolve().parents[1]
XOR = str(ROOT / "circuits" / "xor.yaml")




def test_an_open_bar_is_redrawn_while_its_step_takes_long(monkeypatch, capsys):
    monkeypatch.setattr(progress, "TICK_SECONDS", 0.02)
    bar = progress.ticking_bar(2, "long step", unit="phase")
    time.sleep(0.3)                                    # one step, no update
    drawn = capsys.readouterr().err.count("long step")
    bar.update(0.5)
    bar.close()
    closed = capsys.readouterr().err
    assert drawn >= 5                                  # the first draw and the redraws
    assert "0.5/2" in closed                           # fractions of a step, two decimals
    time.sleep(0.1)
    assert capsys.readouterr().err == ""               # closed: no more redraws


def test_a_delayed_bar_draws_nothing_before_its_delay(monkeypatch, capsys):
    monkeypatch.setattr(progress, "TICK_SECONDS", 0.02)
    bar = progress.ticking_bar(2, "short wait", delay=30.0)
    time.sleep(0.2)
    bar.close()
    assert "short wait" not in capsys.readouterr().err


def test_thermal_simulate_shows_a_bar_and_quiet_silences_it(capsys):
    argv = ["simulate", XOR, "--input", "1,0", "--temperature", "1e-7", "--samples", "256"]
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    assert "sampling" in err and "phase" in err
    code, quiet_out, quiet_err = run(capsys, *argv, "--json", "--quiet")
    assert code == 0 and quiet_err == ""
    shown, quiet = json.loads(out), json.loads(quiet_out)
    shown.pop("seconds"), quiet.pop("seconds")
    assert shown == quiet                              # same samples, same numbers
    code, text, err = run(capsys, *argv)
    code, quiet_text, _ = run(capsys, *argv, "--quiet")
    assert text == quiet_text and "sampling" in err    # the readable lines hold no time


def test_ngspice_status_reaches_the_callback_as_growing_fractions():
    from eqprop_hw.backends.ngspice.session import NgspiceSession
    session = NgspiceSession.get()
    token, fractions = object(), []
    with session.lock:
        session.load(["* status", "V1 1 0 1", "R1 1 2 1k", "C1 2 0 1u", ".end"], token,
                     "status")
        try:
            with session.status_to(fractions.append):
                session.command("tran 1e-7 2e-2 0 1e-7")          # ~1 s of ngspice
            session.command("tran 1e-5 1e-4")                     # after: not reported
        finally:
            session.destroy_plots()
            session.remove(token)
    assert len(fractions) >= 2, fractions
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1
    assert fractions[-1] > 0.5


def test_ngspice_sampling_bar_moves_within_a_phase(monkeypatch):
    """The ngspice sampler reports each transient's progress to the phase bar: the bar's count
    takes values between whole phases."""
    import eqprop_hw
    from eqprop_hw.thermal import measure
    seen = []

    class Bar:
        n = 0.0

        def update(self, amount):
            self.n += amount
            seen.append(self.n)

    net = eqprop_hw.load(XOR)
    sampler, _, owned = measure.make_sampler("ngspice", net.circuit, 1e-7, net.spec)
    try:
        sampler.time_constant /= 8                     # a shorter transient (~1 s)
        counted = measure._Counted(sampler, Bar())
        counted.sample([[1.0, 0.0]], 0.0, [[0.0]], 64, 0)
    finally:
        owned.close()
    assert seen[-1] == pytest.approx(1.0)
    assert any(0 < value < 1 for value in seen), seen
    assert sampler.on_fraction is None                 # the hook is removed afterwards


def test_train_shows_its_start_and_its_figures_when_they_take_long(tmp_path, monkeypatch,
                                                                   capsys):
    """Building the run and drawing the figures at the end get a bar once they take over a
    second (here the figures are made slow); --quiet: none; the metrics are the same."""
    from eqprop_hw.io import plots
    drawing = plots.plot_training

    def slow(*args, **kwargs):
        time.sleep(1.5)
        return drawing(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_training", slow)
    argv = ["train", XOR, "--epochs", "1", "--json"]
    code, out, err = run(capsys, *argv, "--out", tmp_path / "a")
    assert code == 0 and "finishing" not in err        # not a terminal: no one-step bar
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: True)
    code, out, err = run(capsys, *argv, "--out", tmp_path / "c")
    assert code == 0, err
    assert "finishing (figures, params, metrics)" in err
    code, quiet, quiet_err = run(capsys, *argv, "--out", tmp_path / "b", "--quiet")
    assert code == 0 and quiet_err == ""
    timing = ("seconds", "samples_per_second", "epoch_seconds_total", "wall_seconds")
    shown, quiet = json.loads(out), json.loads(quiet)
    assert {k: v for k, v in shown.items() if k not in timing} == \
        {k: v for k, v in quiet.items() if k not in timing}
