"""Issue 17: every number a command prints can be re-run outside it, and says how far to trust it.

- ``predict --json``'s ``samples[].inputs`` are what ``--input`` takes (the encoded features):
  fed back through ``simulate --input`` and through raw ``ngspice -b`` of
  ``export --params --input`` they give the reported outputs (to 1e-6 V); the source voltages
  have their own key, ``source_voltages``.
- The resistive ngspice gradient reports its numerical floor and its O(beta^2) bias, and warns
  when beta is too small or too large for them (see the second half of this file).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import eqprop_hw
from eqprop_hw.cli import main

ROOT = Path(__file__).resolve().parent.parent
IRIS = ROOT / "circuits" / "iris.yaml"

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _numbers(values) -> str:
    return ",".join(repr(float(v)) for v in values)


@pytest.fixture(scope="module")
def trained_iris(tmp_path_factory):
    """iris trained 2 epochs natively (seeded): its params file and its test-split predictions."""
    out = tmp_path_factory.mktemp("iris") / "run"
    run = eqprop_hw.load(IRIS).train(out=out, epochs=2, plots=False, backend="native")
    return run.params_file


@needs_ngspice
def test_predict_samples_rerun_through_simulate_and_raw_ngspice(capsys, trained_iris):
    from eqprop_hw.backends.ngspice import run_ngspice_batch
    code, out, err = _cli(capsys, "predict", IRIS, "--params", trained_iris, "--split", "test",
                          "--json")
    assert code == 0, err
    predicted = json.loads(out)
    net = eqprop_hw.load(IRIS, params=trained_iris)
    outputs = [port.node for port in net.circuit.outputs]
    gain = 5.0                                        # circuits/iris.yaml: inputs.gain
    for sample in predicted["samples"][:3]:
        x = sample["inputs"]
        assert len(x) == 4 and len(sample["outputs"]) == 3
        # the source voltages are the circuit's encoding of the inputs, under their own key
        assert sample["source_voltages"] == pytest.approx(
            {f"VX{i}{s}": sign * gain * v for i, v in enumerate(x)
             for s, sign in (("P", 1.0), ("N", -1.0))}, abs=1e-15)
        code, out, err = _cli(capsys, "simulate", IRIS, "--params", trained_iris,
                              "--input", _numbers(x), "--json")
        assert code == 0, err
        np.testing.assert_allclose(json.loads(out)["outputs"], sample["outputs"], rtol=0,
                                   atol=1e-6)
        code, netlist, err = _cli(capsys, "export", IRIS, "--params", trained_iris,
                                  "--input", _numbers(x))
        assert code == 0, err
        raw = run_ngspice_batch(netlist)                  # plain `ngspice -b` of the netlist
        spice = [float(np.ravel(raw[f"v({node})"])[0]) for node in outputs]
        np.testing.assert_allclose(spice, sample["outputs"], rtol=0, atol=1e-6)


def test_predict_api_matches_cli_and_simulate(capsys, trained_iris):
    net = eqprop_hw.load(IRIS, params=trained_iris)
    pred = net.predict(split="test")
    code, out, err = _cli(capsys, "predict", IRIS, "--params", trained_iris, "--json")
    assert code == 0, err
    assert pred.to_json() == json.loads(out)
    rows = np.array([s["inputs"] for s in pred.samples])
    again = net.simulate(rows).outputs
    np.testing.assert_allclose(again, pred.outputs, rtol=0, atol=1e-9)
    # the old meaning (source voltages = 5 V x features) would not reproduce the outputs
    wrong = net.simulate(rows[:1] * 5.0).outputs
    assert np.max(np.abs(wrong - pred.outputs[:1])) > 1e-3


# -- the resistive EP gradient's numerical floor and nudging bias ------------------------------
XOR = ROOT / "circuits" / "xor.yaml"
XOR_ARGS = ("--input", "1,0", "--target", "1")


def _grad(capsys, *extra):
    code, out, err = _cli(capsys, "grad", XOR, *XOR_ARGS, *extra, "--json")
    assert code == 0, err
    data = json.loads(out)
    ep = np.array(list(data["ep"].values()))
    exact = np.array(list(data["exact"].values()))
    return data, err, float(np.linalg.norm(ep - exact)), float(np.linalg.norm(exact))


@needs_ngspice
def test_default_beta_is_trusted_and_its_bias_estimate_is_the_real_error(capsys):
    data, err, error, norm = _grad(capsys, "--backend", "ngspice")
    assert "warning" not in err and data["warnings"] == []
    assert data["rel_error"] < 1e-2 and data["signal_to_floor"] >= 10
    # at the default beta the error against the exact gradient is the O(beta^2) bias: the
    # Richardson estimate from the +-beta/2 phases predicts it
    assert data["bias_relative"] == pytest.approx(data["rel_error"], rel=0.2)
    assert data["numerical_floor"] < 1e-3 * error


@needs_ngspice
def test_tiny_beta_warns_that_ngspice_floor_dominates(capsys):
    data, err, error, norm = _grad(capsys, "--backend", "ngspice", "--beta", "1e-19")
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1 and "too small" in lines[0] and "raise --beta" in lines[0]
    assert data["warnings"] and data["signal_to_floor"] < 10
    # the error against the exact gradient really is large, and within the reported floor
    assert data["rel_error"] > 1e-2
    assert error <= data["numerical_floor"]


@pytest.mark.parametrize("nudge,beta", [("centered", "1e-5"), ("positive", "1e-6")])
def test_large_beta_warns_of_the_nudging_bias_it_measures(capsys, nudge, beta):
    data, err, error, norm = _grad(capsys, "--backend", "native", "--nudge", nudge,
                                   "--beta", beta)
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1 and "too large" in lines[0] and "lower --beta" in lines[0]
    order = "O(beta^2)" if nudge == "centered" else "O(beta)"
    assert order in lines[0]
    # the estimated bias is the measured error against the exact gradient (within 10%)
    assert data["bias_relative"] > data["bias_limit"]
    assert data["bias_estimate"] == pytest.approx(error, rel=0.1)


@needs_ngspice
def test_check_reports_floor_and_bias_per_backend(capsys):
    code, out, err = _cli(capsys, "check", XOR, "--samples", "2", "--beta", "1e-19", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["rows"]}
    for name in ("ep native", "ep ngspice"):
        row = rows[name]
        assert row["signal_to_floor"] < 10 and row["warnings"]
        assert row["numerical_floor"] > 0 and row["bias_limit"] == 0.01
    assert sum("too small" in line for line in err.splitlines()) == 2
