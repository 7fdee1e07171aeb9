"""ngspice-only devices beyond M Q J Z (issue 21, corpus slice): SOI MOSFETs with their body
and temperature nodes, bipolar transistors with a thermal node (VBIC, HICUM), switches S and W
with their models, lossless transmission lines T.

Each: import -> simulate on ngspice equals raw ``ngspice -b`` on the ORIGINAL netlist (our own
netlists below) to 1e-6 V; export -> import -> export gives the same bytes; the native backend
and the software reference refuse the circuit naming the element; malformed forms are refused
with one line (more in tests/hostile/cases_import_devices.py).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.spec import parse_spec
from eqprop_hw.errors import BackendError, CircuitError, SpecError
from eqprop_hw.learning.reference import EnergyModel
import import_checks
from cli_run import run

NGSPICE = shutil.which("ngspice")
needs_ngspice = pytest.mark.skipif(NGSPICE is None, reason="ngspice binary not installed")

NETLISTS = {
    "soi": """SOI MOSFETs with body, body contact and temperature nodes
.model nsoi nmos level=57 tox=5n
.model psoi pmos (level = 10 tox = 4n)
vdd vdd 0 dc 1.2
vg g 0 dc 0.9
ve e 0 dc 0
rd vdd d 10k
m1 d g 0 e nsoi w=2u l=0.5u
rd2 vdd d2 5k
rb b2 0 1meg
m2 d2 g 0 e b2 nsoi w=4u l=0.5u bjtoff=1
rd3 d3 0 20k
rb3 b3 vdd 1meg
m3 d3 0 vdd e p3 b3 t3 psoi w=3u l=0.4u rth0=0.01
rp p3 vdd 2meg
.op
.end
""",
    "thermal_bjt": """Bipolar transistors with a thermal node (VBIC and HICUM2)
.model qv npn (level=4 is=1e-16 bf=100 rth=300 cth=1n)
.model qh npn level=8
vcc vcc 0 dc 3
ib 0 b1 dc 20u
rc1 vcc c1 1k
q1 c1 b1 0 0 dt1 qv
vb2 b2 0 dc 0.8
rc2 vcc c2 2k
q2 c2 b2 0 0 dt2 qh area=2
.op
.end
""",
    "switches": """Voltage- and current-controlled switches
.model smod sw (vt=1 vh=0.2 ron=10 roff=1e6)
.model wmod csw it=1m ih=0.1m ron=5 roff=1meg
vdd vdd 0 dc 5
vc c 0 dc 2
r1 vdd a 1k
s1 a 0 c 0 smod
r2 vdd b 2k
vsense c2 0 dc 0
rc c c2 1k
w1 b 0 vsense wmod
vlow l 0 dc 0.3
r3 vdd x 3k
s2 x 0 l 0 smod
.op
.end
""",
    "lines": """Lossless transmission lines: a matched line and one given by frequency
vin in 0 dc 1
rs in a 50
t1 a 0 b 0 z0=50 td=1n
rl b 0 100
t2 b 0 c 0 zo=75 f=1meg nl=0.5
rl2 c 0 1k
.op
.end
""",
    "lossy_lines": """Lossy lines: LTRA (with its flags) and TXL
.model lline ltra rel=1 r=12.45 g=0 l=8.972e-9 c=0.468e-12 len=16 steplimit nocontrol
+ compactrel=1.0e-3
.model ymod txl R=12.45 L=8.972e-9 G=1e-4 C=0.468e-12 length=4
vin in 0 dc 1
rs in a 50
o1 a 0 b 0 lline
rl b 0 100
y1 b 0 c 0 ymod
rl2 c 0 1k
.op
.end
""",
    "hfet": """HFET (type NHFET, level 5) and MESA (NMF level 3) stages
.options reltol=1e-9
.model hf nhfet level=5 rdi=0 rsi=0 m=2.57 lambda=0.17 vs=1.5e5 mu=0.385 vt0=0.13
.model ms nmf level=3
vdd vdd 0 dc 1.0
vgs g 0 dc 0.3
rd vdd d 2k
z1 d g 0 hf l=1u w=10u
rd2 vdd d2 1k
z2 d2 g 0 ms l=1u w=20u
.op
.end
""",
}
FIRST_DEVICE = {
    "soi": ("M1 is a MOSFET", "transistors"),
    "thermal_bjt": ("Q1 is a bipolar transistor", "transistors"),
    "switches": ("S1 is a voltage-controlled switch", "switches and transmission lines"),
    "lines": ("T1 is a lossless transmission line", "switches and transmission lines"),
    "lossy_lines": ("O1 is a lossy transmission line (LTRA)", "switches and transmission lines"),
    "hfet": ("Z1 is a MESFET", "transistors"),
}




def imported(tmp_path, name, capsys) -> Path:
    return import_checks.imported(tmp_path, name, NETLISTS[name], capsys)


@needs_ngspice
@pytest.mark.ngspice
@pytest.mark.parametrize("name", sorted(NETLISTS))
def test_imported_operating_point_matches_raw_ngspice_on_the_original(tmp_path, capsys,
                                                                      monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    import_checks.assert_operating_point_matches_raw_ngspice(tmp_path, name, NETLISTS[name],
                                                           capsys)


@pytest.mark.parametrize("name", sorted(NETLISTS))
def test_export_round_trip_gives_the_same_bytes(tmp_path, capsys, name):
    import_checks.assert_export_round_trip(tmp_path, name, NETLISTS[name], capsys)


@pytest.mark.parametrize("name", sorted(NETLISTS))
def test_native_backend_and_reference_refuse_naming_the_device(tmp_path, capsys, name):
    spec = imported(tmp_path, name, capsys)
    code, out, err = run(capsys, "simulate", spec, "--input", "", "--backend", "native")
    device, group = FIRST_DEVICE[name]
    assert (code, out) == (1, "")
    assert err == (f"eqprop-hw: error: native backend: {device}; {group} are simulated by "
                   "ngspice only (use --backend ngspice)\n")
    circuit = build_circuit(parse_spec(yaml.safe_load(spec.read_text())))
    with pytest.raises(BackendError, match=re.escape(f"native backend: {device}")):
        make_backend("native", circuit)
    with pytest.raises(CircuitError) as error:
        EnergyModel(circuit)
    assert str(error.value) == f"software reference: {device}; {group} are simulated by " \
                               "ngspice only"


def test_import_keeps_the_nodes_models_and_parameters(tmp_path, capsys):
    data = yaml.safe_load(imported(tmp_path, "soi", capsys).read_text())
    by_name = {e["name"]: e for e in data["elements"]}
    assert by_name["M3"] == {"name": "M3", "nodes": ["d3", "0", "vdd", "e", "p3", "b3", "t3"],
                             "model": "PSOI", "w": 3e-6, "l": 4e-7, "rth0": 0.01}
    assert by_name["M2"]["bjtoff"] == 1.0 and len(by_name["M2"]["nodes"]) == 5
    data = yaml.safe_load(imported(tmp_path, "switches", capsys).read_text())
    assert data["models"]["WMOD"] == {"type": "CSW", "IT": 1e-3, "IH": 1e-4, "RON": 5.0,
                                      "ROFF": 1e6}
    by_name = {e["name"]: e for e in data["elements"]}
    assert by_name["W1"] == {"name": "W1", "nodes": ["b", "0"], "control": "VSENSE",
                             "model": "WMOD"}
    data = yaml.safe_load(imported(tmp_path, "lossy_lines", capsys).read_text())
    assert data["models"]["LLINE"] == {"type": "LTRA", "REL": 1.0, "R": 12.45, "G": 0.0,
                                       "L": 8.972e-9, "C": 4.68e-13, "LEN": 16.0,
                                       "STEPLIMIT": 1.0, "NOCONTROL": 1.0, "COMPACTREL": 1e-3}
    data = yaml.safe_load(imported(tmp_path, "lines", capsys).read_text())
    by_name = {e["name"]: e for e in data["elements"]}
    assert by_name["T2"] == {"name": "T2", "nodes": ["b", "0", "c", "0"], "z0": 75.0,
                             "f": 1e6, "nl": 0.5}


SWITCH_SPEC = {
    "name": "sw", "kind": "graph",
    "models": {"SM": {"type": "SW", "VT": 1.0, "RON": 1.0}, "NM": {"type": "NMOS"}},
    "elements": [
        {"name": "V1", "nodes": ["a", "0"], "dc": 2.0},
        {"name": "R1", "nodes": ["a", "b"], "r": 1e3},
        {"name": "S1", "nodes": ["b", "0", "a", "0"], "model": "SM"}],
    "inputs": [], "outputs": ["b"]}


@pytest.mark.parametrize("element, message", [
    ({"name": "S2", "nodes": ["b", "0", "a", "0"], "model": "NM"},
     "'NM' is not a voltage-controlled switch model"),
    ({"name": "S2", "nodes": ["b", "0", "a"], "model": "SM"},
     "a voltage-controlled switch takes 4 nodes"),
    ({"name": "W2", "nodes": ["b", "0"], "model": "SM", "control": "V1"},
     "'SM' is not a current-controlled switch model"),
    ({"name": "T2", "nodes": ["b", "0", "a", "0"], "z0": 50.0},
     "needs exactly one of td= (delay, s) and f="),
    ({"name": "T2", "nodes": ["b", "0", "a", "0"], "td": 1e-9}, "needs z0="),
    ({"name": "T2", "nodes": ["b", "0", "a", "0"], "z0": -5.0, "td": 1e-9},
     "z0 must be positive"),
    ({"name": "T2", "nodes": ["b", "0", "a", "0"], "z0": 50.0, "td": 1e-9, "nl": 0.5},
     "nl= (normalised length) goes with f="),
    ({"name": "T2", "nodes": ["b", "0", "a", "0"], "z0": 50.0, "td": 1e-9, "model": "SM"},
     "unknown key 'model'"),
    ({"name": "M1", "nodes": ["b", "a", "0", "0", "0"], "model": "NM"},
     "a MOSFET with more than 4 nodes needs an SOI model"),
    ({"name": "M1", "nodes": ["b", "a", "0", "0"], "model": "NM", "rth0": 1.0},
     "instance parameter 'rth0' needs an SOI model"),
])
def test_spec_refuses_bad_devices(element, message):
    data = copy.deepcopy(SWITCH_SPEC)
    data["elements"].append(element)
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(data)


@pytest.mark.parametrize("model, message", [
    ({"type": "SW", "IT": 1.0}, "unsupported voltage-controlled switch model parameter 'IT'"),
    ({"type": "SW", "RON": 0.0}, "RON=0.0 is out of range"),
    ({"type": "SW", "LEVEL": 1}, "model parameter 'LEVEL'"),
    ({"type": "CSW", "VT": 1.0}, "model parameter 'VT'"),
    ({"type": "LTRA", "STEPLIMIT": 2.0}, "STEPLIMIT is a flag"),
    ({"type": "LTRA", "LEN": 0.0}, "LEN=0.0 is out of range"),
    ({"type": "TXL", "R": -1.0}, "R=-1.0 is out of range"),
    ({"type": "TXL", "LEN": 1.0}, "unsupported lossy transmission line (TXL) model parameter"),
])
def test_spec_refuses_bad_switch_models(model, message):
    data = copy.deepcopy(SWITCH_SPEC)
    data["models"]["SM"] = model
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(data)


BSIM3 = """BSIM3 and BSIM-SOI stages (their models write check logs where ngspice runs)
.model n3 nmos level=49 version=3.3.0 tox=9n
.model nsoi nmos level=57 tox=5n
vdd vdd 0 dc 1.5
vg g 0 dc 1.0
rd vdd d 10k
m1 d g 0 0 n3 w=2u l=0.5u
rd2 vdd d2 10k
m2 d2 g 0 0 nsoi w=2u l=0.5u
.op
.end
"""


def snapshot(folder: Path) -> dict:
    return {path.relative_to(folder): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@needs_ngspice
@pytest.mark.ngspice
def test_simulating_bsim3_writes_nothing_into_the_users_folder(tmp_path, capsys, monkeypatch):
    """ngspice's BSIM3/SOI models write b3v33check.log (etc.) into the working directory, also
    in-process: such circuits run in the isolated child, in a temporary folder of its own."""
    from eqprop_hw.backends.ngspice.raw import run_ngspice_batch
    import eqprop_hw
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "b.cir").write_text(BSIM3)
    monkeypatch.chdir(folder)
    assert run(capsys, "import", "b.cir", "-o", "b.yaml")[0] == 0
    before = snapshot(folder)
    code, out, err = run(capsys, "simulate", "b.yaml", "--input", "", "--backend", "ngspice",
                         "--json")
    assert code == 0, err
    ours = json.loads(out)["voltages"]
    voltages = eqprop_hw.load(folder / "b.yaml").simulate([], backend="ngspice").voltages
    assert snapshot(folder) == before
    raw = run_ngspice_batch(BSIM3)
    for node in ("d", "d2"):
        assert abs(ours[node] - float(raw[f"v({node})"][0])) <= 1e-6
        assert abs(voltages[node] - ours[node]) <= 1e-12


def test_check_log_models_choose_the_isolated_backend():
    from eqprop_hw.backends.isolated import IsolatedBackend
    from eqprop_hw.circuit.transistors import writes_check_log
    from eqprop_hw.circuit.spice_import import import_netlist_text
    circuit = build_circuit(parse_spec(import_netlist_text(BSIM3)))
    assert writes_check_log(circuit)
    with make_backend("ngspice", circuit) as backend:
        assert isinstance(backend, IsolatedBackend)
    level1 = build_circuit(parse_spec(import_netlist_text(
        BSIM3.replace("level=49 version=3.3.0", "level=1").replace("level=57", "level=1"))))
    assert not writes_check_log(level1)


@pytest.mark.parametrize("text, message", [
    ("lib\n.subckt amp in out\nR1 in out 1k\n.ends\n.subckt buf a b\nR1 a b 1\n.ends\n.end\n",
     "lib.cir:1: the netlist has no elements at the top level: it only defines subcircuits "
     "(AMP, BUF) that no X line instantiates (a library: .include it from a netlist that uses "
     "them)"),
    ("script\n.control\nlet a = 1\necho $&a\n.endc\n.end\n",
     "lib.cir:1: the netlist has no elements: it is a .control script (which the importer "
     "never runs), with no circuit to import"),
    ("cards only\n.param a=1\n.end\n", "lib.cir:1: the netlist has no elements"),
    ("xspice\nV1 a 0 1\nA1 a b gain1\n.model gain1 gain(gain=2)\n.end\n",
     "lib.cir:3: XSPICE device A1 refused: A elements run ngspice code models (digital gates, "
     "file sources, behavioural blocks), which are not supported"),
])
def test_netlists_without_a_circuit_are_refused_saying_why(text, message):
    from eqprop_hw.circuit.spice_import import import_netlist_text
    from eqprop_hw.errors import NetlistError
    with pytest.raises(NetlistError) as error:
        import_netlist_text(text, source="lib.cir")
    assert str(error.value) == message


def test_a_pss_analysis_card_is_left_out_and_noted():
    """.pss (periodic steady state) is an analysis like .tran: never run, never written."""
    from eqprop_hw.circuit.spice_import import import_netlist_text
    notes = []
    spec = import_netlist_text("osc\nV1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n.pss 1meg 1u b 1024 10\n"
                               ".end\n", notes=notes)
    assert [e["name"] for e in spec["elements"]] == ["V1", "R1", "R2"]
    assert notes == ["left out: .pss (line 5)"]


def test_a_model_parameter_repeated_with_the_same_value_is_one_parameter():
    from eqprop_hw.circuit.spice_import import import_netlist_text
    from eqprop_hw.errors import NetlistError
    text = ("t\nV1 d 0 1\nR1 d o 1k\nM1 o d 0 0 NM\n.model NM NMOS(LEVEL=1 PHI=0.55 VTO=0.7\n"
            "+ phi=0.55)\n")
    notes = []
    spec = import_netlist_text(text, notes=notes)
    assert spec["models"]["NM"] == {"type": "NMOS", "LEVEL": 1, "PHI": 0.55, "VTO": 0.7}
    assert notes == ["accepted: model NM PHI given twice with the same value"]
    with pytest.raises(NetlistError) as error:
        import_netlist_text(text.replace("phi=0.55", "phi=0.6"), source="m.cir")
    assert str(error.value) == ("m.cir:5: model NM: parameter PHI given twice with different "
                                "values (0.55 and 0.6)")


def test_a_source_given_only_as_a_parenthesized_waveform_group():
    """``V1 a 0 (PULSE 0.5 1 0 1n)``: ngspice's group form with no DC value first; the
    operating-point value is the waveform at t = 0 (PULSE: V1)."""
    from eqprop_hw.circuit.spice_import import import_netlist_text
    notes = []
    spec = import_netlist_text("t\nV1 a 0 (PULSE 0.5 1 0 1n)\nR1 a 0 1k\n", notes=notes)
    assert spec["elements"][0] == {"name": "V1", "nodes": ["a", "0"], "dc": 0.5}
    assert notes == ["left out: V1 PULSE (line 2)"]


NOISE_FORMS = ["TRNOISE(1 1n 0 0)", "DC 2 TRNOISE(1 1n 0 0)", "2 TRNOISE(0.5 1u 1 1e-3 0 0 0)",
               "TRRANDOM(1 10m 0 1 3)", "DC 1.5 TRRANDOM(2 10m 0 1 0.5)",
               "TRRANDOM(3 10m 1 1 0.4)", "TRRANDOM(1 10m 0 1)", "TRRANDOM(2 10m)"]


@needs_ngspice
@pytest.mark.ngspice
def test_noise_sources_keep_the_operating_point_value_of_raw_ngspice():
    """TRNOISE / TRRANDOM are random transient noise: the import keeps the value raw
    ``ngspice -b`` uses in an operating point (DC, else TRRANDOM's offset, else 0) and notes
    the noise as left out."""
    from eqprop_hw.backends.ngspice.raw import run_ngspice_batch
    from eqprop_hw.circuit.spice_import import import_netlist_text
    for form in NOISE_FORMS:
        text = f"t\nV1 a 0 {form}\nR1 a 0 1k\n"
        raw = float(run_ngspice_batch(text + ".op\n.end\n")["v(a)"][0])
        notes = []
        spec = import_netlist_text(text, notes=notes)
        assert spec["elements"][0]["dc"] == raw, form
        kind = "TRNOISE" if "TRNOISE" in form else "TRRANDOM"
        assert notes == [f"left out: V1 {kind} (line 2)"], form


@pytest.mark.parametrize("form, message", [
    ("TRNOISE(1 1n 0 0 0 0 0 0)", "TRNOISE takes 2 to 7 numbers, got 8"),
    ("TRRANDOM(5 1m)", "TRRANDOM type must be 1, 2, 3 or 4, got '5'"),
    ("TRNOISE(1 1n) TRRANDOM(1 1m)", "two noise specifications (TRNOISE and TRRANDOM)"),
    ("PULSE(0 1 0 1n) TRNOISE(1 1n)", "a waveform (PULSE) and TRNOISE together"),
    ("TRNOISE(1 td=1n)", "TRNOISE takes 2 to 7 numbers"),
])
def test_malformed_noise_sources_are_refused(form, message):
    from eqprop_hw.circuit.spice_import import import_netlist_text
    from eqprop_hw.errors import NetlistError
    with pytest.raises(NetlistError) as error:
        import_netlist_text(f"t\nV1 a 0 {form}\nR1 a 0 1k\n", source="n.cir")
    assert str(error.value).startswith("n.cir:2: V1") and message in str(error.value)


@needs_ngspice
@pytest.mark.ngspice
def test_a_spiceinit_in_the_users_folder_is_never_run(tmp_path):
    """libngspice sources ``.spiceinit`` from the working directory when it starts (``shell``
    commands included): a fresh process simulating in a folder holding one (someone else's
    folder) runs none of it, in-process (a level-1 circuit) or isolated (BSIM3)."""
    import os
    import subprocess
    import sys
    from eqprop_hw.circuit.spice_import import import_netlist_text, spec_to_yaml
    folder = tmp_path / "theirs"
    folder.mkdir()
    marker = tmp_path / "marker"
    (folder / ".spiceinit").write_text(f"shell touch {marker}\n")
    level1 = BSIM3.replace("level=49 version=3.3.0", "level=1").replace("level=57", "level=1")
    for name, text in (("level1.yaml", level1), ("bsim3.yaml", BSIM3)):
        (folder / name).write_text(spec_to_yaml(import_netlist_text(text)))
    before = snapshot(folder)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    for name in ("level1.yaml", "bsim3.yaml"):
        result = subprocess.run([sys.executable, "-m", "eqprop_hw", "simulate", name, "--input",
                                 "", "--backend", "ngspice", "--json"], cwd=folder, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["voltages"]["d"] > 0.0
    assert not marker.exists()
    assert snapshot(folder) == before


@pytest.mark.parametrize("call", ["max(3)", "min(4)", "max(1, 5, 2)"])
def test_min_and_max_take_two_arguments_as_in_ngspice(call):
    """ngspice 39 gives max(3) = 3, min(4) = 1 and max(1,5,2) = 2 (checked with ngspice -b):
    counts other than two are refused, naming the function (was a Python message, or a
    silently different value for three arguments)."""
    from eqprop_hw.circuit.spice_import import import_netlist_text
    from eqprop_hw.errors import NetlistError
    name = call.split("(")[0]
    with pytest.raises(NetlistError) as error:
        import_netlist_text(f"t\n.param a={{{call}}}\nV1 x 0 {{a}}\nR1 x 0 1\n", source="m.cir")
    assert str(error.value).endswith(f"wrong number of arguments to {name}() (takes 2 "
                                     "arguments)")
    spec = import_netlist_text("t\n.param a={max(1, 5)}\nV1 x 0 {min(a, 7)}\nR1 x 0 1\n")
    assert spec["elements"][0]["dc"] == 5.0


def test_describe_lists_switches_and_lines_as_fixed_elements(tmp_path, capsys):
    code, out, _err = run(capsys, "describe", imported(tmp_path, "switches", capsys))
    assert code == 0 and "switches/lines 3 (fixed, ngspice only): S1 (SW SMOD), W1 (CSW " \
                         "WMOD), S2 (SW SMOD)" in out and "transistors" not in out
    code, out, _err = run(capsys, "describe", imported(tmp_path, "lines", capsys))
    assert code == 0 and "switches/lines 2 (fixed, ngspice only): T1, T2" in out
