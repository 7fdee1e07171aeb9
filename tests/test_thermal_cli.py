"""The command line at finite temperature: --temperature (Gibbs T) vs --softmax-temperature, and
grad with ngspice's noisy transients."""

import json

import numpy as np
import pytest

from eqprop_hw.cli import main

from test_thermal import LINEAR_SPEC

IRIS = ["grad", "circuits/iris.yaml", "--input", "0.5,-1,1.2,0.3", "--target", "1,0,0",
        "--beta", "2e-8", "--loss", "cross_entropy", "--json"]


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture()
def in_repo(monkeypatch):
    from pathlib import Path
    monkeypatch.chdir(Path(__file__).resolve().parents[1])


def test_softmax_temperature_option_and_the_removed_alias(in_repo, capsys):
    code, out, err = run(IRIS + ["--softmax-temperature", "0.2"], capsys)
    assert code == 0 and err == ""
    new = json.loads(out)
    assert new["temperature"] == 0.2 and new["loss_kind"] == "cross_entropy"
    # the softmax temperature changes the loss (so the option is really used)
    code, out, _ = run(IRIS + ["--softmax-temperature", "0.5"], capsys)
    assert code == 0 and json.loads(out)["loss"] != new["loss"]
    # issue 19: --temperature is only the Gibbs temperature; with cross-entropy it is refused
    # with one line naming --softmax-temperature (it was a deprecated alias)
    code, out, err = run(IRIS + ["--temperature", "0.2"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--softmax-temperature" in err and "Gibbs temperature" in err
    # commands without a Gibbs mode (export, predict, check) refuse it the same way
    for command in (["export", "circuits/iris.yaml", "--input", "0.5,-1,1.2,0.3"],
                    ["predict", "circuits/iris.yaml"], ["check", "circuits/iris.yaml"]):
        code, out, err = run(command + ["--loss", "cross_entropy", "--temperature", "0.2"],
                             capsys)
        assert code == 2 and out == "" and err.count("\n") == 1, (command, err)
        assert err.startswith("eqprop-hw: error: --temperature:") and \
            "--softmax-temperature" in err
    # both given with cross-entropy: --temperature is the Gibbs T, which needs the squared loss
    code, _, err = run(IRIS + ["--softmax-temperature", "0.2", "--temperature", "1e-7"], capsys)
    assert code != 0 and "squared loss only" in err and err.count("\n") == 1


def test_temperature_is_the_gibbs_temperature_with_the_squared_loss(tmp_path, capsys):
    spec = tmp_path / "lin.yaml"
    spec.write_text(LINEAR_SPEC)
    base = ["grad", str(spec), "--input", "0.5,-0.3", "--target", "0.2,-0.1", "--beta",
            "6e-4", "--json"]
    code, out, err = run(base + ["--temperature", "1e-7", "--samples", "256"], capsys)
    data = json.loads(out)
    # stderr carries the sampling progress bar only: no deprecation warning
    assert code == 0 and "warning" not in err and "deprecated" not in err
    assert "sampling (chl)" in err and data["temperature"] == 1e-7 and "stderr" in data
    # --softmax-temperature with the squared loss is not a Gibbs temperature: deterministic EP
    code, out, err = run(base + ["--softmax-temperature", "0.2"], capsys)
    data = json.loads(out)
    assert code == 0 and "stderr" not in data and data["temperature"] is None


def test_cli_grad_ngspice_at_finite_temperature(tmp_path, capsys):
    pytest.importorskip("PySpice")
    spec = tmp_path / "lin.yaml"
    spec.write_text(LINEAR_SPEC)
    code, out, err = run(["grad", str(spec), "--input", "0.5,-0.3", "--target", "0.2,-0.1",
                          "--beta", "6e-5", "--temperature", "1e-7", "--samples", "384",
                          "--backend", "ngspice", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    for key in ("ep", "exact", "stderr", "effective_samples"):
        assert key in data
    names = list(data["exact"])
    assert set(data["ep"]) == set(names) == set(data["stderr"])
    ep, exact, se = (np.array([data[k][n] for n in names]) for k in ("ep", "exact", "stderr"))
    assert np.all(se > 0) and data["effective_samples"] > 100
    assert np.all(np.abs(ep - exact) <= 4 * se), np.max(np.abs(ep - exact) / se)
    assert data["sampler"] == "ngspice" and data["reference_method"] == "gaussian closed form"
