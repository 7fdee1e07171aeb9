"""Fixes of the third hostile-input hunt that the CLI corpus (tests/hostile/cases_hunt3.py)
cannot show: a CIDER mesh within the grammar's limits that ngspice cannot solve in minutes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import eqprop_hw
from eqprop_hw.backends import CIDER_TIMEOUT, make_backend
from eqprop_hw.backends.isolated import IsolatedBackend
from eqprop_hw.errors import BackendError

pytestmark = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")


def cider_spec(lines: int) -> str:
    """A diode driven through 1 kOhm: a two-dimensional NUMD of ``lines`` x ``lines`` nodes."""
    cards = ["x.mesh location=0.0 number=1", f"x.mesh location=1.0 number={lines}",
             "y.mesh location=0.0 number=1", f"y.mesh location=1.0 number={lines}",
             "domain number=1 material=1", "material number=1 silicon",
             "doping uniform p.type conc=1e+17 x.low=0.0 x.high=0.5",
             "doping uniform n.type conc=1e+17 x.low=0.5 x.high=1.0",
             "electrode number=1 x.low=0.0 x.high=0.0 y.low=0.0 y.high=1.0",
             "electrode number=2 x.low=1.0 x.high=1.0 y.low=0.0 y.high=1.0"]
    return ("name: big_mesh\nkind: graph\nmodels:\n  MPN: {type: NUMD, LEVEL: 2, cards: ["
            + ", ".join(f"'{card}'" for card in cards) + "]}\nelements:\n"
            "  - {name: V1, nodes: ['1', '0'], dc: 0.7}\n"
            "  - {name: R1, nodes: ['1', a], r: 1000.0}\n"
            "  - {name: D1, nodes: [a, '0'], model: MPN}\ninputs: []\noutputs: [a]\n")


def test_cider_circuit_runs_isolated_with_a_time_limit(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(cider_spec(11))
    backend = make_backend("ngspice", eqprop_hw.load(path).circuit)
    try:
        assert isinstance(backend, IsolatedBackend)
        assert backend.timeout == CIDER_TIMEOUT
    finally:
        backend.close()


def test_huge_cider_mesh_is_stopped_at_the_time_limit(tmp_path):
    """44 x 44 = 1936 nodes (within the grammar's 2000 per 2-D device): raw ngspice ran
    > 100 s for one operating point of 45 x 45; the child is killed at the limit and the error
    says so."""
    path = tmp_path / "s.yaml"
    path.write_text(cider_spec(44))
    backend = make_backend("ngspice", eqprop_hw.load(path).circuit, timeout=1.5)
    try:
        with pytest.raises(BackendError, match="no answer within 1.5 s"):
            backend.solve(np.zeros((1, 0)))
    finally:
        backend.close()


def test_many_unused_models_make_one_short_note(tmp_path, capsys, monkeypatch):
    """200000 unused switch models: the note was one stderr line of 2.9 MB listing them all."""
    from eqprop_hw.cli import main
    (tmp_path / "net.cir").write_text(
        "t\nVDD vdd 0 DC 3\nVC c 0 DC 1\nR1 vdd a 1k\nS1 a 0 c 0 SM1\n"
        + "".join(f".model SM{k} SW(VT=1)\n" for k in range(3000))
        + "".join(f".subckt U{k} a b\nR1 a b 1k\n.ends\n" for k in range(3000)))
    monkeypatch.chdir(tmp_path)
    assert main(["import", "net.cir", "-o", "spec.yaml"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
    assert len(notes) == 1 and len(notes[0]) < 1000
    assert "unused models SM0 (SW), SM2 (SW)" in notes[0] and "and 2979 more" in notes[0]
    assert "unused subcircuits U0, U1" in notes[0] and "and 2980 more" in notes[0]
