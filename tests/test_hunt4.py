"""Fixes of the fourth hostile-input hunt that the CLI corpus (tests/hostile/cases_hunt4.py)
cannot show: the time limit of every request to the isolated ngspice child."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.backends import make_backend
from eqprop_hw.backends.isolated import (TIME_LIMIT_VARIABLE, IsolatedBackend,
                                         request_time_limit)
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.errors import BackendError, SimulatorTimeout

from isolation_helpers import SLUMBER, crashing

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def xor():
    return build_circuit(load_spec(ROOT / "circuits" / "xor.yaml"))


def test_the_default_limit_scales_with_the_request_and_the_circuit():
    assert request_time_limit(0, 10**5) == 120.0
    assert request_time_limit(1, 0) == 130.0
    assert request_time_limit(12, 74) == pytest.approx(120.0 + 12 * (10.0 + 0.074))
    assert request_time_limit(3, 159792) == pytest.approx(120.0 + 3 * (10.0 + 159.792))


@pytest.mark.ngspice
def test_a_request_past_its_limit_is_stopped_once_with_one_clear_line(xor):
    """A row that sleeps a minute in the child (a stand-in for an ngspice that never settles):
    stopped at the 1 s limit, not retried, the error names the request, the row and the way
    to raise the limit; the backend then works again (a new child)."""
    x = np.zeros((3, len(xor.inputs)))
    x[1, 0] = SLUMBER
    with IsolatedBackend(xor, factory=crashing, timeout=1.0) as backend:
        start = time.perf_counter()
        with pytest.raises(SimulatorTimeout) as caught:
            backend.solve(x)
        assert time.perf_counter() - start < 10.0          # once, not twice, nor 60 s
        text = str(caught.value)
        assert "\n" not in text and caught.value.row == 1
        for fragment in ("no answer within 1 s", "the time limit given for each request",
                         "(solve of 3 operating points", "sample row 1 of a batch of 3",
                         f"set {TIME_LIMIT_VARIABLE}=SECONDS"):
            assert fragment in text, (fragment, text)
        assert backend.restarts == 0
        good = backend.solve(np.zeros((2, len(xor.inputs))))
        assert good.outputs.shape[0] == 2


@pytest.mark.ngspice
def test_the_limit_comes_from_the_environment_else_the_default(xor, monkeypatch):
    monkeypatch.setenv(TIME_LIMIT_VARIABLE, "2.5")
    with make_backend("ngspice", xor, isolated=True) as backend:
        assert backend.timeout == 2.5
    monkeypatch.delenv(TIME_LIMIT_VARIABLE)
    with make_backend("ngspice", xor, isolated=True) as backend:
        assert backend.timeout is None                       # per request, scaled
    for bad in ("0", "-1", "nan", "inf", "1e300", "ten"):
        monkeypatch.setenv(TIME_LIMIT_VARIABLE, bad)
        with pytest.raises(BackendError, match=f"{TIME_LIMIT_VARIABLE} must be a number of "
                                               r"seconds in \(0, 1e\+07\]"):
            IsolatedBackend(xor)
    monkeypatch.delenv(TIME_LIMIT_VARIABLE)
    with pytest.raises(BackendError, match="timeout must be a number of seconds"):
        IsolatedBackend(xor, timeout=-3)


@pytest.mark.ngspice
def test_the_cli_names_the_spec_file_the_limit_and_the_variable(tmp_path, monkeypatch):
    """A BSIM-SOI circuit runs in the isolated child; 1000 transistor stages take 56-74 ms
    milliseconds per operating point, so at a 1 us limit (a pipe wait rounds it up to 1 ms)
    the answer is late even when the wait wakes a few ms late on a loaded machine (one
    transistor answered in time in 2 of 3 tries, 200 in 1 of 7)."""
    from hostile import run_in
    stages = "".join(f"  - {{name: RD{k}, nodes: [vdd, a{k}], r: 1000.0}}\n"
                     f"  - {{name: M{k}, nodes: [a{k}, vdd, '0', '0', '0'], model: NS}}\n"
                     for k in range(1000))
    (tmp_path / "t.yaml").write_text(
        "name: t\nkind: graph\nmodels:\n  NS: {type: NMOS, LEVEL: 58}\nelements:\n"
        "  - {name: VDD, nodes: [vdd, '0'], dc: 1.0}\n" + stages
        + "inputs: [VDD]\noutputs: [a0]\n")
    monkeypatch.setenv(TIME_LIMIT_VARIABLE, "1e-6")
    code, out, err = run_in(["simulate", "t.yaml", "--input", "0.8", "--backend", "ngspice"],
                            tmp_path)
    assert code == 1 and out == "" and len(err.splitlines()) == 1, (code, err)
    assert err.startswith("eqprop-hw: error: t.yaml: ngspice gave no answer within 1e-06 s, "
                          "the time limit given for each request (solve of 1 operating point, "
                          ), err
    assert "circuit 't'); it was stopped" in err     # (the row is named if it had started)
    assert f"set {TIME_LIMIT_VARIABLE}=SECONDS (per request)" in err


def _raw_txl_runs(model: dict, folder: Path) -> bool:
    """Whether raw ``ngspice -b`` finds the operating point of a TXL line of ``model`` (not
    through the project's netlist writer or ngspice backend)."""
    import subprocess
    text = ("t\nVDD vdd 0 DC 3\nR1 vdd a 1k\nRL b 0 1k\nY1 a 0 b 0 LL\n.model LL TXL("
            + " ".join(f"{key}={value:.6g}" for key, value in model.items())
            + ")\n.op\n.print op v(b)\n.end\n")
    path = folder / "txl.cir"
    path.write_text(text)
    run = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True,
                         timeout=60, cwd=folder)
    return run.returncode == 0 and "v(b)" in run.stdout


@pytest.mark.skipif(__import__("shutil").which("ngspice") is None, reason="needs ngspice")
def test_txl_models_accepted_run_in_raw_ngspice_and_refused_ones_fail(tmp_path):
    """Seeded log-uniform TXL models inside the measured ranges: every one the check accepts
    runs in raw ngspice; the distortionless ones it refuses make raw ngspice fail."""
    from eqprop_hw.circuit.line_devices import TXL_LIMITS, txl_problem
    rng = np.random.default_rng(4)
    accepted = 0
    for _ in range(25):
        model = {key: float(np.exp(rng.uniform(np.log(low), np.log(high))))
                 for key, (low, high) in TXL_LIMITS.items()}
        if txl_problem(model) is None:
            accepted += 1
            assert _raw_txl_runs(model, tmp_path), model
    assert accepted >= 15
    for r, inductance, c, length in ((0.1, 1e-9, 1e-13, 1.0), (5.0, 1e-8, 1e-11, 0.01),
                                     (1e3, 1e-6, 1e-9, 2.0)):
        model = {"R": r, "L": inductance, "G": r * c / inductance, "C": c, "LENGTH": length}
        assert "close to distortionless" in txl_problem(model)
        assert not _raw_txl_runs(model, tmp_path), model


def test_twin_edges_refuse_absurd_sizes_through_the_api_too():
    from eqprop_hw.circuit.transistors import DeviceModel
    from eqprop_hw.errors import CircuitError
    from eqprop_hw.twin.mosfet import MosfetEdge

    def edge(*params, w=1e-6, l=1e-6):
        return MosfetEdge(DeviceModel("TWMOS", "NMOS", (("VTO", 0.5),) + params), w=w, l=l)

    assert edge(("KP", 1e-5)).beta == pytest.approx(1e-5)
    with pytest.raises(CircuitError, match=r"KP=1e-30 is outside the physical range"):
        edge(("KP", 1e-30))
    with pytest.raises(CircuitError, match=r"IS=1.0 is outside"):
        edge(("KP", 1e-5), ("IS", 1.0))
    with pytest.raises(CircuitError, match=r"KP \* w / l = 1e-11 S/V is outside 1e-09 to 1"):
        edge(("KP", 1e-8), w=1e-9)


def _cli(argv, folder):
    from hostile import run_in
    return run_in(argv, folder)


def test_twin_mosfet_specs_say_they_act_on_the_resistor_linearisation(tmp_path):
    import json
    spec = str(ROOT / "circuits" / "xor_twin_mos.yaml")
    code, out, err = _cli(["describe", spec], tmp_path)
    assert code == 0 and err == ""
    assert out.splitlines()[-1].startswith("twin       training.twin.mosfet: in train --twin "
                                           "and export --twin every trainable R is an NMOS "
                                           "edge (KP W/L = 1e-05 S/V, VTO 0.5 V, bulk -6.5 V)")
    code, out, err = _cli(["describe", spec, "--json"], tmp_path)
    twin = json.loads(out)["twin_mosfet"]
    assert twin["beta"] == pytest.approx(1e-5) and twin["bulk"] == -6.5
    note = (f"eqprop-hw: note: {spec}: training.twin.mosfet: {{}} acts on the spec's resistor "
            "network, each trainable R the zero-bias conductance")
    for argv in (["simulate", spec, "--input", "1,0"],
                 ["grad", spec, "--input", "1,0", "--target", "1"]):
        for json_mode in ((), ("--json",)):
            code, out, err = _cli(argv + list(json_mode), tmp_path)
            assert code == 0, err
            assert err.splitlines()[0].startswith(note.format(argv[0])), err
            if json_mode:
                assert json.loads(out)["linearised"].startswith(
                    f"training.twin.mosfet: {argv[0]} acts on")


@pytest.mark.parametrize("name", ["xor.yaml", "xor_twin.yaml", "graph_bridge.yaml"])
def test_ordinary_specs_print_exactly_what_they_printed(tmp_path, monkeypatch, name):
    """The same commands with the annotation switched off give the same bytes (simulate's
    wall time aside), with no new line, note or key."""
    import json
    import eqprop_hw.twin.linearised as linearised
    spec = str(ROOT / "circuits" / name)
    commands = [["describe", spec], ["describe", spec, "--json"],
                ["simulate", spec, "--input", "0.5,0.25", "--json"]]

    def outputs():
        shown = []
        for argv in commands:
            code, out, err = _cli(argv, tmp_path)
            assert code == 0 and "linearised" not in out + err and "twin_mosfet" not in out
            if argv[0] == "simulate":
                out = json.loads(out)
                out.pop("seconds")
            shown.append((out, err))
        return shown

    before = outputs()
    monkeypatch.setattr(linearised, "annotate", lambda *args: None)
    assert outputs() == before


@pytest.mark.parametrize("module", ["eqprop_hw.twin.linearised", "eqprop_hw.backends.isolated",
                                    "eqprop_hw.circuit.line_devices",
                                    "eqprop_hw.circuit.transistors", "eqprop_hw.twin.mosfet"])
def test_docstring_examples_run(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module),
                             extraglobs={"CIRCUITS": ROOT / "circuits", "np": np})
    assert result.failed == 0 and result.attempted > 0


def test_only_b4soi_body_contacts_must_be_tied():
    """BSIM3SOI (55-57) with its body contact free set up in under 1 ms: still imported."""
    from eqprop_hw.circuit.spice_import import import_netlist_text
    from eqprop_hw.errors import NetlistError
    text = ("t\nVDD vdd 0 DC 1\nR1 vdd a 1k\nM1 a vdd 0 0 p NS w=1e-6 l=1e-7\n"
            ".model NS NMOS(LEVEL={})\n")
    for level in (55, 56, 57):
        assert import_netlist_text(text.format(level))["elements"][-1]["nodes"][4] == "p"
    for level in (10, 58):
        with pytest.raises(NetlistError, match="<string>:4: M1: the body contact node 'p'"):
            import_netlist_text(text.format(level))
