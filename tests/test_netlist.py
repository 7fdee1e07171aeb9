"""Netlist writer: deterministic bytes, values, nudging elements, checked-in netlists current."""

import sys
from pathlib import Path

import pytest

from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.netlist import fmt, nudge_elements, write_netlist
from eqprop_hw.circuit.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import export_netlists  # noqa: E402


def xor():
    return build_circuit(load_spec(ROOT / "circuits" / "xor.yaml"))


def test_same_spec_same_bytes():
    a = write_netlist(xor(), inputs=[1.0, 0.0], beta=1e-4, targets=[0.2])
    b = write_netlist(xor(), inputs=[1.0, 0.0], beta=1e-4, targets=[0.2])
    assert a == b and a.endswith(".end\n")


def test_values_inputs_and_nudging_are_written():
    c = xor()
    text = write_netlist(c, inputs=[0.25, -2.0], beta=2e-4, targets=[0.3]).splitlines()
    gain = c.inputs[0].sources[0][1]
    assert f"VX0P x0p 0 DC {fmt(0.25 * gain)}" in text
    assert f"VX0N x0n 0 DC {fmt(-0.25 * gain)}" in text
    assert f"VX1N x1n 0 DC {fmt(2.0 * gain)}" in text
    g = c.element("RL1_0_0").value
    assert f"RL1_0_0 x0p n1_0 {fmt(1 / g)}" in text
    assert "VNUDGE0 ynudge0 0 DC 0.3" in text and "RNUDGE0 out0 ynudge0 5000.0" in text
    assert text[-2:] == [".op", ".end"]


def test_negative_beta_is_written_as_a_vccs():
    c = xor()
    text = write_netlist(c, beta=-2e-4, targets=[0.1]).splitlines()
    assert "GNUDGE0 0 out0 ynudge0 out0 -0.0002" in text
    assert not any(line.startswith("RNUDGE") for line in text)
    vccs = nudge_elements(c, 2e-4, [0.1], form="vccs")
    assert [e.name for e in vccs] == ["VNUDGE0", "GNUDGE0"]
    assert vccs[1].nodes == ("0", "out0", "ynudge0", "out0")


def test_refuses_bad_values():
    c = xor()
    with pytest.raises(CircuitError, match="expected 2 input values"):
        write_netlist(c, inputs=[1.0])
    with pytest.raises(CircuitError, match="finite"):
        write_netlist(c, inputs=[float("nan"), 0.0])
    with pytest.raises(CircuitError, match="both beta and targets"):
        write_netlist(c, beta=1e-3)
    with pytest.raises(CircuitError, match="analysis"):
        write_netlist(c, analysis=".op\n.control")


def test_round_trip_numbers():
    for value in (1e-5, 0.1, 1 / 3, 12345.678e10, -2.5e-300):
        assert float(fmt(value)) == value


def test_checked_in_netlists_are_current():
    stale = [str(path.relative_to(ROOT)) for path, text in export_netlists.expected_netlists().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"regenerate with python tools/export_netlists.py: {stale}"


def test_layered_trainable_metadata_is_compact():
    text = write_netlist(build_circuit(parse_spec({"name": "t", "kind": "layered",
                                                    "layers": [3, 2, 2]})))
    assert "*@ trainable RL1_* RL2_*" in text.splitlines()
