"""Issue 19: what a training run and the options do for a new user.

Checkpoints removed after a finished run; ``--resume`` before any checkpoint; ``--set``
overrides checked like the spec and recorded; every option's help states its default; progress
and "wrote" lines on stderr only, silenced by ``--quiet``; the removed ``--temperature`` alias;
the figures drawn once; epoch lines with the epoch's whole time.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import yaml

import eqprop_hw
from eqprop_hw.cli import build_parser
from eqprop_hw.errors import SpecError
from cli_run import run

ROOT = Path(__file__).resolve().parents[1]
XOR = str(ROOT / "circuits" / "xor.yaml")
LC = str(ROOT / "circuits" / "lc" / "lc_teacher.yaml")
#: metrics that are times (differ between two runs of the same training)
TIMING = ("seconds", "samples_per_second", "epoch_seconds_total", "wall_seconds")




def curves(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING}


def test_finished_run_removes_its_checkpoint_unless_kept(tmp_path, capsys):
    code, out, err = run(capsys, "train", XOR, "--out", tmp_path / "a", "--epochs", "2",
                         "--no-plots", "--json")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["metrics.json",
                                                                  "params.npz"]
    code, _, err = run(capsys, "train", XOR, "--out", tmp_path / "b", "--epochs", "2",
                       "--no-plots", "--keep-checkpoint")
    assert code == 0, err
    assert (tmp_path / "b" / "checkpoint.npz").is_file()
    # the kept checkpoint continues the run: 2 more epochs give the 4-epoch run's curve
    code, out, err = run(capsys, "train", XOR, "--out", tmp_path / "b", "--epochs", "4",
                         "--no-plots", "--resume", "--json")
    assert code == 0 and "resuming from" in err and "after epoch 2" in err
    code, straight, _ = run(capsys, "train", XOR, "--out", tmp_path / "c", "--epochs", "4",
                            "--no-plots", "--json")
    assert curves(json.loads(out)) == curves(json.loads(straight))
    assert not (tmp_path / "b" / "checkpoint.npz").exists()


def test_resume_without_checkpoint_starts_with_one_line_and_the_same_metrics(tmp_path, capsys):
    code, resumed, err = run(capsys, "train", XOR, "--out", tmp_path / "r", "--epochs", "3",
                             "--no-plots", "--resume", "--json", "--quiet")
    assert code == 0 and err == ""           # --quiet: not even that line
    code, resumed, err = run(capsys, "train", XOR, "--out", tmp_path / "s", "--epochs", "3",
                             "--no-plots", "--resume", "--json")
    assert code == 0, err
    said = [line for line in err.splitlines() if "checkpoint" in line]
    assert said == [f"eqprop-hw: no checkpoint {tmp_path / 's' / 'checkpoint.npz'} yet: "
                    "starting from the beginning"]
    code, fresh, _ = run(capsys, "train", XOR, "--out", tmp_path / "t", "--epochs", "3",
                         "--no-plots", "--json")
    assert curves(json.loads(resumed)) == curves(json.loads(fresh))
    # a checkpoint that exists but is bad is still refused, with one line
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.npz").write_bytes(b"PK\x03\x04 not a checkpoint")
    code, out, err = run(capsys, "train", XOR, "--out", tmp_path / "bad", "--no-plots",
                         "--resume")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "cannot resume from this checkpoint" in err


@pytest.mark.ngspice
def test_resume_on_a_twin_run_starts_it_from_the_beginning_with_one_line(tmp_path, capsys):
    """A twin run is one ngspice transient and keeps no checkpoint: ``--resume`` (which a
    supervisor may always add) runs it from the beginning, to the same curve."""
    twin = str(ROOT / "circuits" / "xor_twin.yaml")
    options = ("--twin", "--epochs", "2", "--no-plots", "--json")
    code, resumed, err = run(capsys, "train", twin, "--out", tmp_path / "r", "--resume",
                             *options)
    assert code == 0, err
    assert [line for line in err.splitlines() if "--resume" in line] == [
        "eqprop-hw: --resume: train --twin keeps no checkpoint (the whole run is one ngspice "
        "transient): starting from the beginning"]
    code, fresh, err = run(capsys, "train", twin, "--out", tmp_path / "f", *options)
    assert code == 0 and "--resume" not in err
    drop = ("ngspice_seconds", "wall_seconds")
    assert {k: v for k, v in json.loads(resumed).items() if k not in drop} == \
        {k: v for k, v in json.loads(fresh).items() if k not in drop}


def test_set_equals_the_same_value_in_the_yaml(tmp_path, capsys):
    data = yaml.safe_load(Path(XOR).read_text())
    data["training"].update(learning_rate=0.05, batch_size=2)
    edited = tmp_path / "xor.yaml"
    edited.write_text(yaml.safe_dump(data))
    code, from_yaml, err = run(capsys, "train", edited, "--out", tmp_path / "y", "--epochs",
                               "3", "--no-plots", "--json")
    assert code == 0, err
    code, from_set, err = run(capsys, "train", XOR, "--out", tmp_path / "s", "--epochs", "3",
                              "--no-plots", "--json", "--set", "training.learning_rate=0.05",
                              "--set", "training.batch_size=2", "--keep-checkpoint")
    assert code == 0, err
    code, default, err = run(capsys, "train", XOR, "--out", tmp_path / "d", "--epochs", "3",
                             "--no-plots", "--json")
    a, b, c = json.loads(from_yaml), json.loads(from_set), json.loads(default)
    assert b["overrides"] == {"training.learning_rate": 0.05, "training.batch_size": 2}
    assert a["overrides"] == {} and b["learning_rate"] == 0.05 and b["batch_size"] == 2
    assert {k: v for k, v in curves(a).items() if k != "overrides"} == \
        {k: v for k, v in curves(b).items() if k != "overrides"}
    assert b["train_loss"] != c["train_loss"]          # the setting really acts
    recorded = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert recorded["overrides"] == b["overrides"]
    # resuming with other settings is refused like any other setting change
    code, out, err = run(capsys, "train", XOR, "--out", tmp_path / "s", "--epochs", "4",
                         "--no-plots", "--resume", "--set", "training.learning_rate=0.07",
                         "--set", "training.batch_size=2")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "cannot resume" in err and "learning_rate" in err


def test_bad_set_is_one_line_naming_the_key(tmp_path, capsys):
    code, out, err = run(capsys, "train", XOR, "--out", tmp_path / "o", "--set",
                         "training.learning_rate=-1")
    assert code == 2 and out == "" and not (tmp_path / "o").exists()
    assert err == (f"eqprop-hw: error: {XOR}: --set training.learning_rate=-1: "
                   "training.learning_rate must be positive, got -1.0\n")
    # the same check as the YAML's (same message after the place)
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(Path(XOR).read_text())
    data["training"]["learning_rate"] = -1
    bad.write_text(yaml.safe_dump(data))
    code, _, err = run(capsys, "train", bad, "--out", tmp_path / "o")
    assert code == 2 and err.endswith(": training.learning_rate must be positive, got -1.0\n")


def test_api_overrides(tmp_path):
    net = eqprop_hw.load(XOR, overrides={"training.learning_rate": 0.05, "training.epochs": 2})
    assert net.spec.data["training"]["learning_rate"] == 0.05
    run_ = net.train(tmp_path / "o", plots=False)
    assert run_.metrics["overrides"] == {"training.learning_rate": 0.05, "training.epochs": 2}
    assert run_.metrics["epochs"] == [1, 2]
    with pytest.raises(SpecError, match=r"overrides\['training.beta'\]: training.beta must "
                                        r"be positive"):
        eqprop_hw.load(XOR, overrides={"training.beta": -1.0})
    with pytest.raises(SpecError, match="is not a number, bool or string"):
        eqprop_hw.load(XOR, overrides={"training.beta": {"nested": 1}})
    with pytest.raises(eqprop_hw.InvalidParameterError, match="'overrides' parameter of load "
                                                             "must be a mapping"):
        eqprop_hw.load(XOR, overrides=["training.beta=1"])


def _options():
    """(command, action) of every optional argument of every command."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = [("eqprop-hw", a) for a in parser._actions]
    for name, sub in subparsers.choices.items():
        found += [(name, a) for a in sub._actions]
    return [(name, a) for name, a in found if a.option_strings and a.help != argparse.SUPPRESS
            and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]


def test_every_option_help_states_its_default():
    """Every option's help says its default; one with a default value shows that value.
    (Plain on/off flags, store_true, say their default too, 'default: off', but need not
    show the value False.)"""
    missing = []
    for command, action in _options():
        text = action.help % {"default": action.default} if action.help else ""
        ok = "default" in text.lower()
        if isinstance(action, argparse._StoreTrueAction):
            ok = ok and "default: off" in text.lower() or "the default" in text.lower()
        elif action.default not in (None, argparse.SUPPRESS):
            ok = ok and str(action.default) in text
        if not ok:
            missing.append(f"{command} {'/'.join(action.option_strings)}")
    assert missing == []


def test_progress_on_stderr_only_and_quiet_silences_it(tmp_path, capsys):
    code, out, err = run(capsys, "train", XOR, "--out", tmp_path / "a", "--epochs", "2",
                         "--no-plots")
    assert code == 0 and out == ""                                 # stdout: nothing
    assert "epoch 1/2" in err                                       # the tqdm bar
    lines = re.findall(r"eqprop-hw: epoch (\d+): .* \((\d+\.\d) s\)", err)
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert [int(n) for n, _ in lines] == [1, 2]
    # the epoch line's time is the epoch's whole time (training + evaluation)
    for (_, shown), whole, trained in zip(lines, metrics["epoch_seconds_total"],
                                          metrics["seconds"]):
        assert float(shown) == pytest.approx(whole, abs=0.051) and whole >= trained
    assert f"wall time {metrics['wall_seconds']:.1f} s" in err.splitlines()[-1]
    code, out, err = run(capsys, "train", XOR, "--out", tmp_path / "b", "--epochs", "2",
                         "--no-plots", "--json", "--quiet")
    assert code == 0 and err == "" and json.loads(out)["epochs"] == [1, 2]
    # commands writing a file say which, in one line; --quiet silences it
    netlist = tmp_path / "x.cir"
    code, out, err = run(capsys, "export", XOR, "-o", netlist)
    assert code == 0 and out == "" and err == f"eqprop-hw: wrote {netlist}\n"
    code, out, err = run(capsys, "export", XOR, "-o", netlist, "--quiet")
    assert code == 0 and out == "" and err == ""


def test_lc_grad_shows_progress_and_quiet_silences_it(capsys):
    code, out, err = run(capsys, "grad", LC, "--json")
    assert code == 0 and json.loads(out)["cosine"] > 0.99
    assert "grad (native: BPTT, echo)" in err
    code, out, err = run(capsys, "grad", LC, "--json", "--quiet")
    assert code == 0 and err == ""


def test_the_softmax_alias_is_gone_with_a_clear_error(capsys):
    code, out, err = run(capsys, "predict", XOR, "--temperature", "0.2")
    assert code == 2 and out == ""
    assert err == ("eqprop-hw: error: --temperature: eqprop-hw predict has no Gibbs "
                   "temperature; the softmax temperature of the cross-entropy loss is "
                   "--softmax-temperature TAU (V)\n")


def test_figures_are_drawn_once_at_the_end(tmp_path, monkeypatch):
    import eqprop_hw.io.plots as plots
    pytest.importorskip("matplotlib")
    calls = []
    monkeypatch.setattr(plots, "plot_training", lambda *a, **k: calls.append(a[3]["epochs"]))
    eqprop_hw.load(XOR).train(tmp_path / "o", epochs=12, plots=True)
    assert calls == [list(range(1, 13))]          # once, after the last epoch (was 7 times)


def test_figures_are_drawn_on_a_stop(tmp_path, monkeypatch):
    """SIGTERM in epoch 2: the checkpoint is written, then the figures of the state kept (the
    first epoch's curves), once; the stop still raises TrainingInterrupted."""
    import signal

    import eqprop_hw.io.plots as plots
    import eqprop_hw.learning.train as train_module
    from eqprop_hw.errors import TrainingInterrupted
    from test_training_loop import _Signalling
    pytest.importorskip("matplotlib")
    calls = []
    monkeypatch.setattr(plots, "plot_training", lambda *a, **k: calls.append(a[3]["epochs"]))
    monkeypatch.setattr(train_module, "ep_gradient",     # xor: one step per epoch
                        _Signalling(train_module.ep_gradient, 2, [signal.SIGTERM]))
    with pytest.raises(TrainingInterrupted, match="checkpoint written") as caught:
        eqprop_hw.load(XOR).train(tmp_path / "o", epochs=5, plots=True)
    assert "figures not drawn" not in str(caught.value)
    assert calls == [[1]] and (tmp_path / "o" / "checkpoint.npz").is_file()
