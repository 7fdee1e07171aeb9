"""Checks shared by the importer's device tests: import a netlist text through the CLI, compare
its operating point with raw ``ngspice -b`` on the original, and the export round trip."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cli_run import run


def imported(tmp_path: Path, name: str, text: str, capsys) -> Path:
    """``eqprop-hw import`` of ``text`` (written as ``name.cir``); the spec's path."""
    source = tmp_path / f"{name}.cir"
    source.write_text(text)
    spec = tmp_path / f"{name}.yaml"
    code, _out, err = run(capsys, "import", source, "-o", spec)
    assert code == 0, err
    return spec


def assert_operating_point_matches_raw_ngspice(tmp_path: Path, name: str, text: str,
                                               capsys) -> None:
    """The imported spec's ngspice operating point equals raw ``ngspice -b`` on ``text`` to
    1e-6 V at every node (at least 4 nodes compared)."""
    from eqprop_hw.backends.ngspice.raw import run_ngspice_batch
    raw = run_ngspice_batch(text)
    spec = imported(tmp_path, name, text, capsys)
    code, out, err = run(capsys, "simulate", spec, "--input", "", "--backend", "ngspice",
                         "--json")
    assert code == 0, err
    ours = json.loads(out)["voltages"]
    compared = [node for node in ours if node != "0"]
    assert len(compared) >= 4
    for node in compared:
        assert abs(ours[node] - float(raw[f"v({node})"][0])) <= 1e-6, node


def assert_export_round_trip(tmp_path: Path, name: str, text: str, capsys) -> str:
    """export -> import -> export gives the same bytes and the same models and elements;
    returns the exported netlist's text."""
    spec = imported(tmp_path, name, text, capsys)
    first = tmp_path / "first.cir"
    assert run(capsys, "export", spec, "-o", first)[0] == 0
    again = tmp_path / "again.yaml"
    assert run(capsys, "import", first, "-o", again)[0] == 0
    second = tmp_path / "second.cir"
    assert run(capsys, "export", again, "-o", second)[0] == 0
    assert first.read_bytes() == second.read_bytes()
    before, after = yaml.safe_load(spec.read_text()), yaml.safe_load(again.read_text())
    assert after.get("models") == before.get("models")
    assert after["elements"] == before["elements"]
    return first.read_text()
