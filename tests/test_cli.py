"""The ``eqprop-hw`` command line: contract keys, determinism, bad-input corpus, params files.

Most tests run :func:`eqprop_hw.cli.main` in-process with ``capsys``; a few run
``python -m eqprop_hw`` in a subprocess to check the real entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from eqprop_hw import cli
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.errors import ConvergenceError, ParamsError
from eqprop_hw.io.fileio import atomic_output, atomic_write_text, read_number_rows
from eqprop_hw.io.params import apply_params, load_params, save_params
from eqprop_hw.circuit.spec import load_spec
from cli_run import run

HERE = Path(__file__).resolve().parent
BAD_INPUTS = HERE / "bad_inputs"
REPO = HERE.parent

LAYERED = """\
name: xor-small
kind: layered
description: a 2-3-1 diode crossbar
layers: [2, 3, 1]
conductance:
  min: 1.0e-7
  max: 1.0e-2
  init: {distribution: uniform, low: 1.0e-5, high: 1.0e-4}
  seed: 3
"""

DIVIDER = """\
name: divider
kind: graph
elements:
  - {name: VIN, nodes: [in, 0], dc: 1.0}
  - {name: R1, nodes: [in, out], g: 1.0e-3}
  - {name: R2, nodes: [out, 0], r: 4000}
inputs: [VIN]
outputs: [{name: y, node: out}]
"""


def _native_available() -> bool:
    try:
        import eqprop_hw.backends.native  # noqa: F401
    except ImportError:
        return False
    return True


needs_native = pytest.mark.skipif(not _native_available(),
                                  reason="eqprop_hw.backends.native not available yet")


@pytest.fixture
def layered(tmp_path) -> Path:
    path = tmp_path / "xor.yaml"
    path.write_text(LAYERED)
    return path


@pytest.fixture
def divider(tmp_path) -> Path:
    path = tmp_path / "divider.yaml"
    path.write_text(DIVIDER)
    return path




def assert_one_error_line(code, out, err, *fragments, exit_code=2):
    """A failed command: given exit code, nothing on stdout, one error line, no traceback."""
    assert code == exit_code, (code, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), err
    assert lines[0].startswith("eqprop-hw: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# -- describe ------------------------------------------------------------------------------
def test_describe_json_keys_and_values(capsys, layered):
    code, out, err = run(capsys, "describe", layered, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert out.count("\n") == 1  # one JSON object, one line
    assert set(data) >= {"name", "kind", "nodes", "inputs", "outputs", "trainable", "elements"}
    circuit = build_circuit(load_spec(layered))
    assert data["name"] == "xor-small" and data["kind"] == "layered"
    assert data["nodes"][0] == "0" and data["nodes"] == circuit.nodes
    assert [p["name"] for p in data["inputs"]] == ["x0", "x1"]
    assert data["inputs"][0] == {"name": "x0", "node": "x0p",
                                 "sources": [{"element": "VX0P", "gain": 1.0},
                                             {"element": "VX0N", "gain": -1.0}]}
    assert data["outputs"] == [{"name": "y0", "node": "out0"}]
    assert [t["name"] for t in data["trainable"]] == circuit.trainable
    for record in data["trainable"]:
        element = circuit.element(record["name"])
        assert set(record) == {"name", "type", "nodes", "value"}
        assert record["type"] == "R" and record["nodes"] == list(element.nodes)
        assert record["value"] == element.value  # conductance in S, exactly
    assert [e["name"] for e in data["elements"]] == [e.name for e in circuit.elements]
    diodes = [e for e in data["elements"] if e["type"] == "D"]
    assert diodes and all(e["model"] == "DACT" for e in diodes)


def test_describe_graph_resistance_is_reported_as_conductance(capsys, divider):
    code, out, _ = run(capsys, "describe", divider, "--json")
    assert code == 0
    data = json.loads(out)
    values = {t["name"]: t["value"] for t in data["trainable"]}
    assert values == {"R1": 1e-3, "R2": 1 / 4000}
    assert data["inputs"] == [{"name": "VIN", "node": "in",
                               "sources": [{"element": "VIN", "gain": 1.0}]}]
    assert data["outputs"] == [{"name": "y", "node": "out"}]
    assert data["nodes"] == ["0", "in", "out"]


def test_describe_human_summary(capsys, layered):
    code, out, err = run(capsys, "describe", layered)
    assert code == 0 and err == ""
    assert "xor-small (layered)" in out
    assert "trainable" in out and "conductance (S)" in out


def test_describe_with_params(capsys, tmp_path, divider):
    params = tmp_path / "p.json"
    save_params(params, {"R1": 2e-3})
    code, out, _ = run(capsys, "describe", divider, "--params", params, "--json")
    assert code == 0
    values = {t["name"]: t["value"] for t in json.loads(out)["trainable"]}
    assert values == {"R1": 2e-3, "R2": 1 / 4000}


# -- export --------------------------------------------------------------------------------
def test_export_is_deterministic(capsys, tmp_path, layered):
    first = run(capsys, "export", layered)
    second = run(capsys, "export", layered)
    assert first[0] == second[0] == 0
    assert first[1] == second[1] and first[1].endswith(".end\n")
    target = tmp_path / "out.cir"
    assert run(capsys, "export", layered, "-o", target)[:2] == (0, "")
    assert target.read_bytes() == first[1].encode()
    assert run(capsys, "export", layered, "-o", target)[0] == 0
    assert target.read_bytes() == first[1].encode()
    assert sorted(os.listdir(tmp_path)) == ["out.cir", "xor.yaml"]  # no temporary files


def test_export_inputs_and_nudging(capsys, layered):
    code, out, err = run(capsys, "export", layered, "--input", "0.5,-0.25",
                         "--beta", "1e-4", "--target", "0.3")
    assert code == 0, err
    lines = out.splitlines()
    assert "VX0P x0p 0 DC 0.5" in lines and "VX0N x0n 0 DC -0.5" in lines
    assert "VX1P x1p 0 DC -0.25" in lines and "VX1N x1n 0 DC 0.25" in lines
    assert "VNUDGE0 ynudge0 0 DC 0.3" in lines
    assert "RNUDGE0 out0 ynudge0 10000.0" in lines
    assert lines[-2:] == [".op", ".end"]
    plain = run(capsys, "export", layered)[1]
    assert "NUDGE" not in plain


def test_export_negative_values_without_equals_sign(capsys, divider):
    code, out, err = run(capsys, "export", divider, "--input", "-0.5", "--beta", "-1e-3",
                         "--target", "-0.1")
    assert code == 0, err
    assert "VIN in 0 DC -0.5" in out and "GNUDGE0 0 out ynudge0 out -0.001" in out


def test_negative_number_lists_are_values(capsys, layered):
    code, out, err = run(capsys, "export", layered, "--input", "-0.5,0.25", "--beta", "-1e-4",
                         "--target", "-0.3")
    assert code == 0, err
    assert "VX0P x0p 0 DC -0.5" in out and "VNUDGE0 ynudge0 0 DC -0.3" in out


def test_export_tran(capsys, divider):
    code, out, _ = run(capsys, "export", divider, "--analysis", "tran")
    assert code == 0 and ".tran 1e-06 0.001" in out.splitlines()
    code, out, _ = run(capsys, "export", divider, "--analysis", "tran", "--tstep", "1e-9",
                       "--tstop", "2e-6")
    assert code == 0 and out.splitlines()[-2] == ".tran 1e-09 2e-06"
    assert_one_error_line(*run(capsys, "export", divider, "--tstep", "1e-9"), "--tstep")
    assert_one_error_line(*run(capsys, "export", divider, "--analysis", "tran", "--tstep",
                               "1", "--tstop", "1e-3"), "must not exceed --tstop")


def test_failed_export_leaves_no_file(capsys, tmp_path, layered):
    target = tmp_path / "out.cir"
    assert_one_error_line(*run(capsys, "export", layered, "--input", "1,2,3", "-o", target),
                          "--input: expected 2 values (x0, x1), got 3")
    assert not target.exists()
    bad = BAD_INPUTS / "floating_node.yaml"
    assert_one_error_line(*run(capsys, "export", bad, "-o", target), "floating")
    assert not target.exists()
    target.write_text("previous contents\n")
    assert_one_error_line(*run(capsys, "export", layered, "--beta", "1e-3", "-o", target),
                          "--beta needs --target")
    assert target.read_text() == "previous contents\n"
    assert sorted(os.listdir(tmp_path)) == ["out.cir", "xor.yaml"]


def test_output_must_not_overwrite_an_input(capsys, tmp_path, layered):
    before = layered.read_bytes()
    assert_one_error_line(*run(capsys, "export", layered, "-o", layered),
                          "would overwrite the input file")
    assert layered.read_bytes() == before


def test_export_into_missing_folder(capsys, tmp_path, layered):
    target = tmp_path / "nope" / "out.cir"
    assert_one_error_line(*run(capsys, "export", layered, "-o", target), str(target),
                          "No such file or directory")


# -- simulate ------------------------------------------------------------------------------
@needs_native
def test_simulate_single_native(capsys, divider):
    code, out, err = run(capsys, "simulate", divider, "--input", "2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"backend", "voltages", "outputs", "converged", "seconds"}
    assert data["backend"] == "native" and data["converged"] is True
    expected = 2.0 * 1e-3 / (1e-3 + 1 / 4000)
    assert data["outputs"] == pytest.approx([expected], rel=1e-9)
    assert data["voltages"]["out"] == pytest.approx(expected, rel=1e-9)
    assert data["voltages"]["in"] == pytest.approx(2.0)
    assert data["voltages"]["0"] == 0.0
    assert data["seconds"] >= 0


@needs_native
def test_simulate_nudged_native(capsys, divider):
    code, out, err = run(capsys, "simulate", divider, "--input", "1", "--beta", "1e-3",
                         "--target", "0.5", "--json")
    assert code == 0, err
    g1, g2, beta = 1e-3, 1 / 4000, 1e-3
    expected = (g1 * 1.0 + beta * 0.5) / (g1 + g2 + beta)
    assert json.loads(out)["outputs"] == pytest.approx([expected], rel=1e-9)


@needs_native
def test_simulate_batch_native(capsys, tmp_path, divider, layered):
    rows = tmp_path / "rows.csv"
    rows.write_text("VIN\n1\n-2\n\n# comment\n0.5\n")
    code, out, err = run(capsys, "simulate", divider, "--input-file", rows, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"backend", "outputs", "seconds"}
    ratio = 1e-3 / (1e-3 + 1 / 4000)
    assert np.allclose(data["outputs"], [[ratio], [-2 * ratio], [0.5 * ratio]], rtol=1e-9)
    rows2 = tmp_path / "rows2.csv"
    rows2.write_text("0.1,0.2\n-0.3,0.4\n")
    code, out, err = run(capsys, "simulate", layered, "--input-file", rows2, "--json")
    assert code == 0, err
    batch = json.loads(out)["outputs"]
    single = json.loads(run(capsys, "simulate", layered, "--input", "-0.3,0.4", "--json")[1])
    assert np.allclose(batch[1], single["outputs"], rtol=1e-9, atol=1e-12)


@needs_native
def test_simulate_human_output(capsys, divider, tmp_path):
    code, out, _ = run(capsys, "simulate", divider, "--input", "1")
    assert code == 0 and "V(out) = 0.8 V" in out
    rows = tmp_path / "rows.csv"
    rows.write_text("1\n2\n")
    code, out, _ = run(capsys, "simulate", divider, "--input-file", rows)
    assert code == 0 and out.splitlines() == ["y", "0.8", "1.6"]


@needs_native
@pytest.mark.ngspice
def test_simulate_ngspice_agrees_with_native(capsys, layered):
    from eqprop_hw.backends import make_backend
    from eqprop_hw.errors import BackendError
    try:
        make_backend("ngspice", build_circuit(load_spec(layered))).close()
    except BackendError as error:
        pytest.skip(f"ngspice backend unavailable: {error}")
    argv = ["simulate", layered, "--input", "0.5,-0.3", "--beta", "1e-4", "--target", "0.2",
            "--json"]
    code, out, err = run(capsys, *argv, "--backend", "ngspice")
    assert code == 0, err
    spice = json.loads(out)
    native = json.loads(run(capsys, *argv)[1])
    assert spice["backend"] == "ngspice" and spice["converged"] is True
    assert set(spice["voltages"]) == set(native["voltages"])
    for node, value in native["voltages"].items():
        assert spice["voltages"][node] == pytest.approx(value, abs=1e-6)


class _FakeBackend:
    """Stands in for a backend: returns unconverged rows or raises."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def solve(self, inputs, beta=0.0, targets=None):
        from eqprop_hw.backends.base import SolveResult
        if self.mode == "raise":
            raise ConvergenceError("Newton did not converge in 200 iterations")
        inputs = np.atleast_2d(inputs)
        return SolveResult("fake", ["in", "out"], np.zeros((len(inputs), 2)),
                           np.zeros((len(inputs), 1)), np.array([False] * len(inputs)), 0.0)


def test_simulation_failures_exit_1(capsys, monkeypatch, divider):
    import eqprop_hw.backends as backends
    monkeypatch.setattr(backends, "make_backend", lambda name, circuit: _FakeBackend("raise"))
    assert_one_error_line(*run(capsys, "simulate", divider, "--input", "1", "--json"),
                          "did not converge", exit_code=1)
    monkeypatch.setattr(backends, "make_backend", lambda name, circuit: _FakeBackend("nan"))
    code, out, err = run(capsys, "simulate", divider, "--input", "1", "--json")
    assert code == 1
    assert json.loads(out)["converged"] is False  # the JSON object is still printed
    assert len(err.splitlines()) == 1 and "no converged operating point" in err


# -- bad command-line input -----------------------------------------------------------------
@pytest.mark.parametrize("argv, fragments", [
    (["simulate", "{layered}", "--input", "1,2,3"], ["--input: expected 2 values (x0, x1)"]),
    (["simulate", "{layered}", "--input", "1,nan"], ["--input", "not a finite number"]),
    (["simulate", "{layered}", "--input", "1,abc"], ["--input: value 2 ('abc') is not a number"]),
    (["simulate", "{layered}", "--input", "1,,2"], ["--input", "empty"]),
    (["simulate", "{layered}", "--input", "1,2", "--beta", "1e-3"], ["--beta needs --target"]),
    (["simulate", "{layered}", "--input", "1,2", "--target", "1"], ["--target needs --beta"]),
    (["simulate", "{layered}", "--input", "1,2", "--beta", "nan", "--target", "1"],
     ["--beta", "not a finite number"]),
    (["simulate", "{layered}", "--input", "1,2", "--beta", "1e-3", "--target", "1,2"],
     ["--target: expected 1 value (y0), got 2"]),
    (["simulate", "{layered}", "--input", "1,2", "--backend", "hspice"], ["invalid choice"]),
    (["simulate", "{layered}"], ["one of the arguments --input --input-file is required"]),
    (["simulate", "{missing}", "--input", "1"], ["missing.yaml", "no such file"]),
    (["describe", "{missing}"], ["missing.yaml", "no such file"]),
    (["describe", "{tmp}"], ["cannot read spec"]),
    (["export", "{layered}", "--params", "{missing_params}"], ["nope.json", "no such file"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    ([], ["the following arguments are required: COMMAND"]),
    (["describe", "{layered}", "--jsn"], ["unrecognized arguments: --jsn"]),
])
def test_bad_command_lines(capsys, tmp_path, layered, argv, fragments):
    names = {"layered": str(layered), "missing": str(tmp_path / "missing.yaml"),
             "tmp": str(tmp_path), "missing_params": str(tmp_path / "nope.json")}
    argv = [arg.format(**names) for arg in argv]
    assert_one_error_line(*run(capsys, *argv), *fragments)


@pytest.mark.parametrize("text, fragments", [
    ("0.1,0.2\n0.3\n", [":2: expected 2 values per row (x0, x1), got 1"]),
    ("x0,x1\n0.1,0.2\n0.3,abc\n", [":3: column 2: 'abc' is not a number"]),
    ("0.1,0.2\n\n0.3,nan\n", [":3: column 2: 'nan' is not a finite number"]),
    ("0.1,inf\n", [":1: column 2: 'inf' is not a finite number"]),
    ("", ["no data rows"]),
    ("x0,x1\n", ["no data rows"]),
    ("a,b,c\n1,2\n", [":1: header has 3 column(s)"]),
    ("x1,x0\n1,2\n", [":1: header lists the inputs in another order"]),
])
def test_bad_csv(capsys, tmp_path, layered, text, fragments):
    rows = tmp_path / "rows.csv"
    rows.write_text(text)
    line = assert_one_error_line(*run(capsys, "simulate", layered, "--input-file", rows),
                                 *fragments)
    assert str(rows) in line


def test_bad_csv_binary(capsys, tmp_path, layered):
    rows = tmp_path / "rows.csv"
    rows.write_bytes(b"\xff\xfe\x00\x01")
    assert_one_error_line(*run(capsys, "simulate", layered, "--input-file", rows),
                          "not a UTF-8 text file")
    assert_one_error_line(*run(capsys, "simulate", layered, "--input-file",
                               tmp_path / "none.csv"), "none.csv", "No such file")


@pytest.mark.parametrize("content, fragments", [
    ({"format": "eqprop-hw params 1", "values": {"RX9": 1e-4}},
     ["'RX9': not an element of circuit 'xor-small'"]),
    ({"format": "eqprop-hw params 1", "values": {"VX0P": 1.0}},
     ["'VX0P' is a V element"]),
    ({"format": "eqprop-hw params 1", "values": {"RL1_0_0": -1e-4}}, ["must be positive"]),
    ({"format": "eqprop-hw params 1", "values": {"RL1_0_0": "big"}}, ["must be a number"]),
    ({"format": "eqprop-hw params 1", "values": [1, 2]}, ["\"values\" must be an object"]),
    ({"values": {"RL1_0_0": 1e-4}}, ["not an eqprop-hw params file"]),
    ({"format": "eqprop-hw params 1", "values": {}, "extra": 1}, ["unknown key(s) 'extra'"]),
])
def test_bad_params_files(capsys, tmp_path, layered, content, fragments):
    params = tmp_path / "p.json"
    params.write_text(json.dumps(content))
    line = assert_one_error_line(*run(capsys, "describe", layered, "--params", params,
                                      "--json"), *fragments)
    assert str(params) in line


@pytest.mark.parametrize("text, fragment", [
    ('{"format": "eqprop-hw params 1", "values": {"RL1_0_0": NaN}}', "NaN"),
    ('{"format": "eqprop-hw params 1", "values": {"RL1_0_0": 1e999}}', "must be finite"),
    ('{"format": "eqprop-hw params 1", "values": {"RL1_0_0": 1, "RL1_0_0": 2}}',
     "listed twice"),
    ('{"format": "eqprop-hw params 1",\n "values": {', ":2: malformed JSON"),
])
def test_bad_params_json_text(tmp_path, text, fragment):
    params = tmp_path / "p.json"
    params.write_text(text)
    with pytest.raises(ParamsError, match=None) as info:
        load_params(params)
    assert fragment in str(info.value) and str(params) in str(info.value)


# -- the bad spec corpus ---------------------------------------------------------------------
EXPECTED = yaml.safe_load((BAD_INPUTS / "expected.yaml").read_text())


def test_bad_input_corpus_is_complete():
    files = {p.name for p in BAD_INPUTS.glob("*.yaml")} - {"expected.yaml"}
    assert files == set(EXPECTED)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_spec(capsys, name):
    path = BAD_INPUTS / name
    line = assert_one_error_line(*run(capsys, "describe", path, "--json"), EXPECTED[name])
    assert name in line


@pytest.mark.parametrize("name", ["floating_node.yaml", "malformed_yaml_indent.yaml",
                                  "negative_conductance.yaml"])
def test_bad_spec_other_commands(capsys, tmp_path, name):
    path = BAD_INPUTS / name
    for argv in (["export", path], ["simulate", path, "--input", "1"]):
        line = assert_one_error_line(*run(capsys, *argv), EXPECTED[name])
        assert name in line


# -- general error handling -----------------------------------------------------------------
def test_interrupt_and_internal_errors(capsys, monkeypatch, divider):
    def interrupted(args):
        raise KeyboardInterrupt

    def broken(args):
        raise ValueError("oops")

    monkeypatch.setattr(cli, "cmd_describe", interrupted)
    assert_one_error_line(*run(capsys, "describe", divider), "interrupted", exit_code=130)
    monkeypatch.setattr(cli, "cmd_describe", broken)
    assert_one_error_line(*run(capsys, "describe", divider),
                          "internal error: ValueError: oops", exit_code=3)
    code, out, err = run(capsys, "describe", divider, "--verbose")
    assert code == 3 and "Traceback" in err and err.splitlines()[-1].startswith("eqprop-hw:")


def test_version_and_help(capsys):
    import eqprop_hw
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"eqprop-hw {eqprop_hw.__version__}"
    code, out, _ = run(capsys, "simulate", "--help")
    assert code == 0 and "--input-file" in out


def test_json_output_is_strict(capsys):
    cli._print_json({"a": float("nan"), "b": np.float32(1.5), "c": np.arange(2),
                     "d": [np.inf, np.int64(3)]})
    out = capsys.readouterr().out
    assert json.loads(out) == {"a": None, "b": 1.5, "c": [0, 1], "d": [None, 3]}
    assert "NaN" not in out and "Infinity" not in out


def test_verbose_after_command(capsys, tmp_path):
    code, out, err = run(capsys, "describe", tmp_path / "missing.yaml", "-v")
    assert code == 2 and "no such file" in err


# -- import --------------------------------------------------------------------------------
def test_import_roundtrip(capsys, tmp_path, layered):
    pytest.importorskip("eqprop_hw.circuit.spice_import")
    netlist = tmp_path / "xor.cir"
    assert run(capsys, "export", layered, "-o", netlist)[0] == 0
    spec = tmp_path / "imported.yaml"
    code, out, err = run(capsys, "import", netlist, "-o", spec)
    assert code == 0 and out == "", err
    code, out, err = run(capsys, "import", netlist)
    assert code == 0 and out == spec.read_text()
    original = json.loads(run(capsys, "describe", layered, "--json")[1])
    imported = json.loads(run(capsys, "describe", spec, "--json")[1])
    assert [t["name"] for t in imported["trainable"]] == \
        [t["name"] for t in original["trainable"]]
    assert [t["value"] for t in imported["trainable"]] == pytest.approx(
        [t["value"] for t in original["trainable"]], rel=1e-15)


def test_import_refuses_unsafe_netlist(capsys, tmp_path):
    pytest.importorskip("eqprop_hw.circuit.spice_import")
    netlist = tmp_path / "evil.cir"
    netlist.write_text("evil\nV1 a 0 DC 1\nR1 a 0 1k\nshell rm -rf /\n.end\n")
    target = tmp_path / "evil.yaml"
    line = assert_one_error_line(*run(capsys, "import", netlist, "-o", target))
    assert "evil.cir:4" in line and "control command" in line
    assert not target.exists()


def test_import_allow_unsafe(capsys, monkeypatch, tmp_path):
    pytest.importorskip("eqprop_hw.circuit.spice_import")
    monkeypatch.chdir(tmp_path)
    netlist = tmp_path / "evil.cir"
    netlist.write_text("evil\nV1 a 0 DC 1\nR1 a 0 1k\n.control\nshell touch pwned\n.endc\n"
                       ".end\n")
    code, out, err = run(capsys, "import", netlist, "--allow-unsafe")
    assert code == 0, err
    assert "R1" in out and not (tmp_path / "pwned").exists()
    # the block is left out (never run, never written) with and without --allow-unsafe,
    # and named in ONE note line on stderr
    assert err == "eqprop-hw: note: left out: .control block (lines 4-6)\n"
    code, out2, err2 = run(capsys, "import", netlist)
    assert (code, out2, err2) == (0, out, err)
    assert "shell" not in out


def test_import_missing_file(capsys, tmp_path):
    pytest.importorskip("eqprop_hw.circuit.spice_import")
    line = assert_one_error_line(*run(capsys, "import", tmp_path / "none.cir"))
    assert "none.cir" in line


# -- bench -----------------------------------------------------------------------------------
def test_bench_without_benchmark_folder(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "bench_folder", lambda: tmp_path / "bench")
    assert_one_error_line(*run(capsys, "bench"), "no benchmarks found in",
                          str(tmp_path / "bench"), "reinstall eqprop-hw")


def test_bench_runs_benchmark_modules(capsys, monkeypatch, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "alpha.py").write_text(
        "def run(args):\n    print('noise that must not reach stdout')\n"
        "    return {'ratio': 2.5, 'n': 3}\n")
    (tools / "beta.py").write_text("def run(args):\n    return {'ok': True}\n")
    monkeypatch.setattr(cli, "bench_folder", lambda: tools)
    code, out, err = run(capsys, "bench", "--json")
    assert code == 0, err
    assert json.loads(out)["benchmarks"] == {"alpha": {"ratio": 2.5, "n": 3},
                                             "beta": {"ok": True}}
    assert "noise" in err
    code, out, err = run(capsys, "bench", "alpha")
    assert code == 0 and "ratio" in out and "2.5" in out and "ok" not in out
    assert_one_error_line(*run(capsys, "bench", "gamma"), "unknown benchmark 'gamma'",
                          "alpha, beta")


# -- real subprocess runs ------------------------------------------------------------------
def _python_m(*argv, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "eqprop_hw", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=env)


def test_python_m_describe(tmp_path, layered):
    done = _python_m("describe", layered, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "xor-small"


def test_python_m_bad_input(tmp_path):
    done = _python_m("describe", BAD_INPUTS / "floating_node.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "floating_node.yaml" in done.stderr and "floating" in done.stderr


# -- params files --------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_params_round_trip(tmp_path, suffix):
    values = {"RL1_0_0": 1e-4, "RL1_1_0": 3.0000000000000004e-05, "R2": 1 / 3}
    path = tmp_path / f"params{suffix}"
    save_params(path, values)
    loaded = load_params(path)
    assert loaded == values and list(loaded) == list(values)
    save_params(path, {"R9": 2.0})  # overwrite
    assert load_params(path) == {"R9": 2.0}
    assert os.listdir(tmp_path) == [path.name]  # no temporary files left behind


def test_params_json_format(tmp_path):
    path = tmp_path / "p.json"
    save_params(path, {"R1": 1e-3})
    assert json.loads(path.read_text()) == {"format": "eqprop-hw params 1",
                                            "values": {"R1": 1e-3}}


@pytest.mark.parametrize("values, fragment", [
    ({"R1": float("nan")}, "must be finite"),
    ({"R1": float("inf")}, "must be finite"),
    ({"R1": -1e-3}, "must be positive"),
    ({"R1": 0.0}, "must be positive"),
    ({"": 1.0}, "non-empty strings"),
])
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_params_rejects_bad_values_and_keeps_old_file(tmp_path, values, fragment, suffix):
    path = tmp_path / f"p{suffix}"
    save_params(path, {"R1": 1e-3})
    before = path.read_bytes()
    with pytest.raises(ParamsError, match=fragment):
        save_params(path, values)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


def test_params_bad_files(tmp_path):
    with pytest.raises(ParamsError, match="no such file"):
        load_params(tmp_path / "missing.json")
    with pytest.raises(ParamsError, match="use .json or .npz"):
        load_params(tmp_path / "p.txt")
    with pytest.raises(ParamsError, match="use .json or .npz"):
        save_params(tmp_path / "p.yaml", {"R1": 1.0})
    npz = tmp_path / "p.npz"
    np.savez(npz, values=np.ones(2))
    with pytest.raises(ParamsError, match="missing array"):
        load_params(npz)
    np.savez(npz, names=np.array(["R1", "R2"]), values=np.ones(3))
    with pytest.raises(ParamsError, match="same length"):
        load_params(npz)
    np.savez(npz, names=np.array([{"R1": 1}], dtype=object), values=np.ones(1))
    with pytest.raises(ParamsError, match="readable .npz"):  # pickles are refused
        load_params(npz)
    np.savez(npz, names=np.array(["R1", "R1"]), values=np.ones(2))
    with pytest.raises(ParamsError, match="listed twice"):
        load_params(npz)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ParamsError, match="readable .npz"):
        load_params(tmp_path / "junk.npz")


def test_apply_params(tmp_path, divider):
    circuit = build_circuit(load_spec(divider))
    updated = apply_params(circuit, {"R2": 5e-4})
    assert updated.element("R2").value == 5e-4 and circuit.element("R2").value == 1 / 4000
    with pytest.raises(ParamsError, match="'R7': not an element"):
        apply_params(circuit, {"R7": 1e-3}, source="p.json")
    # build_circuit applies params too and rejects unknown names
    from eqprop_hw.errors import CircuitError
    with pytest.raises(CircuitError, match="R7"):
        build_circuit(load_spec(divider), {"R7": 1e-3})


# -- atomic writes and CSV reading -----------------------------------------------------------
def test_atomic_output_failure_keeps_old_file(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_output(target, "w") as handle:
            handle.write("half")
            raise RuntimeError("disk on fire")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_atomic_write_permissions_follow_umask(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "x")
    old = os.umask(0o022)
    os.umask(old)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~old)


def test_read_number_rows(tmp_path):
    rows = tmp_path / "r.csv"
    rows.write_text("\ufeffa, b\n1, 2\n# skip\n\n3,4.5e-1\n")
    assert read_number_rows(rows, 2).tolist() == [[1.0, 2.0], [3.0, 0.45]]


# -- the documented examples are valid -------------------------------------------------------
def _yaml_blocks(markdown: str) -> list[str]:
    blocks, inside, current = [], False, []
    for line in markdown.splitlines():
        if line.strip() == "```yaml":
            inside, current = True, []
        elif line.strip() == "```" and inside:
            inside = False
            blocks.append("\n".join(current) + "\n")
        elif inside:
            current.append(line)
    return blocks


def test_documented_spec_examples_build(tmp_path, capsys):
    docs = REPO / "docs" / "specs.md"
    if not docs.exists():
        pytest.skip("docs/specs.md not present")
    examples = [b for b in _yaml_blocks(docs.read_text()) if b.startswith("name:")]
    assert len(examples) >= 2
    for position, text in enumerate(examples):
        path = tmp_path / f"example{position}.yaml"
        path.write_text(text)
        code, out, err = run(capsys, "describe", path, "--json")
        assert code == 0, (text, err)


# -- both backends against raw ngspice, through the CLI --------------------------------------
EXAMPLE_SPECS = sorted((Path(__file__).resolve().parents[1] / "circuits").glob("*.yaml"))


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["native", "ngspice"])
@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_simulate_matches_raw_ngspice_on_every_example(capsys, tmp_path, spec_path, backend):
    """``simulate --json`` equals an independent ``ngspice -b`` run of ``export``'s netlist."""
    from eqprop_hw.backends.ngspice import run_ngspice_batch
    circuit = build_circuit(load_spec(spec_path))
    rng = np.random.default_rng(7)
    x = ",".join(repr(float(v)) for v in rng.uniform(-1, 1, len(circuit.inputs)))
    y = ",".join(repr(float(v)) for v in rng.uniform(-0.2, 0.2, len(circuit.outputs)))
    args = ["--input", x, "--beta", "1e-4", "--target", y]
    code, out, err = run(capsys, "simulate", spec_path, *args, "--backend", backend, "--json")
    assert code == 0, err
    simulated = json.loads(out)
    code, netlist, err = run(capsys, "export", spec_path, *args)
    assert code == 0, err
    reference = run_ngspice_batch(netlist)
    worst = max(abs(v - float(np.ravel(reference[f"v({node})"])[0]))
                for node, v in simulated["voltages"].items() if node != "0")
    assert worst <= 1e-6
    assert simulated["outputs"] == [simulated["voltages"][p.node] for p in circuit.outputs]
