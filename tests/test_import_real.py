"""Real SPICE netlists import safely (issue 21, part 1), checked against raw ngspice.

Each construct is a small netlist written in the style of ngspice's examples. It is imported
with ``eqprop-hw import``; its operating point from ``eqprop-hw simulate --backend ngspice``
and ``--backend native`` is compared with raw ``ngspice -b`` run on the ORIGINAL netlist (its
``.op`` written to a raw file, or its ``.control`` block's ``print``) to 1e-6 V. Raw ngspice
gets one line more after the title: :data:`PRECISION`, eqprop-hw's default tolerances (at
ngspice's own reltol of 1e-3 its Newton loop stops up to ~1e-5 V from the solution).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from eqprop_hw.circuit.spice_import import import_netlist, import_netlist_text
from eqprop_hw.cli import main
from eqprop_hw.errors import NetlistError

pytestmark = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")

TOLERANCE = 1e-6   # V
#: Inserted after the title for raw ngspice: the solver tolerances eqprop-hw uses by default.
PRECISION = b".options reltol=1e-9 abstol=1e-15 vntol=1e-12\n"


def _raw_file(data: bytes) -> dict:
    """Node voltages of an ngspice binary raw file holding one operating point."""
    head, _sep, body = data.partition(b"Binary:\n")
    text = head.decode("latin-1")
    count = int(re.search(r"No\. Variables:\s*(\d+)", text).group(1))
    rows = text.split("Variables:\n")[1].splitlines()[:count]
    values = np.frombuffer(body[:8 * count], dtype="<f8")
    out = {}
    for row, value in zip(rows, values):
        _index, name, kind = row.split()[:3]
        if kind == "voltage":
            match = re.fullmatch(r"v\((.*)\)", name)
            out[(match.group(1) if match else name).lower()] = float(value)
    return out


def raw_ngspice(tmp_path, text: str | bytes) -> dict:
    """Raw ``ngspice -b`` on the original netlist: node name -> operating-point voltage.

    A netlist with a ``.control`` block is read from the block's ``print v(a) ...`` output;
    any other from the raw file of its ``.op``.
    """
    path = tmp_path / "original.cir"
    data = text if isinstance(text, bytes) else text.encode("ascii")
    title, _newline, rest = data.partition(b"\n")
    path.write_bytes(title + b"\n" + PRECISION + rest)
    raw = tmp_path / "original.raw"
    control = b".control" in data
    argv = ["ngspice", "-b", str(path)] if control else ["ngspice", "-b", "-r", str(raw), str(path)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         errors="replace")
    if not control:
        assert raw.exists(), run.stdout[-2000:] + run.stderr[-2000:]
        return _raw_file(raw.read_bytes())
    out = {}
    for match in re.finditer(r"^v\(([^)]+)\)\s*=\s*(\S+)$", run.stdout, re.M):
        out[match.group(1).lower()] = float(match.group(2))
    assert out, run.stdout[-2000:]
    return out


def cli(*argv) -> tuple[int, str, str]:
    """``eqprop-hw ARGV`` in-process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def imported_op(tmp_path, text: str | bytes, backends=("ngspice", "native")) -> tuple:
    """Import the netlist with the CLI; (notes line, {backend: voltages})."""
    path = tmp_path / "import_me.cir"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("ascii"))
    spec = tmp_path / "spec.yaml"
    code, out, err = cli("import", path, "-o", spec)
    assert code == 0 and out == "", err
    wrote = f"eqprop-hw: wrote {spec}\n"          # the one confirmation line of -o
    assert wrote in err, err
    err = err.replace(wrote, "")
    voltages = {}
    for backend in backends:
        code, out, err2 = cli("simulate", spec, "--input", "", "--backend", backend, "--json")
        assert code == 0, err2
        voltages[backend] = json.loads(out)["voltages"]
    return err, voltages


def assert_matches_raw(tmp_path, text, backends=("ngspice", "native"), mapping=None) -> str:
    """Every node of the imported circuit within TOLERANCE of raw ngspice; returns the note.

    ``mapping`` maps imported node names back to the original ones (vendor names)."""
    reference = raw_ngspice(tmp_path, text)
    note, voltages = imported_op(tmp_path, text, backends)
    back = {new: old for old, new in (mapping or {}).items()}
    for backend, values in voltages.items():
        compared = 0
        for node, value in values.items():
            if node == "0":
                continue
            original = back.get(node, node)
            assert original in reference, (backend, node, sorted(reference))
            assert abs(value - reference[original]) <= TOLERANCE, \
                (backend, node, value, reference[original])
            compared += 1
        assert compared == len([n for n in reference if not n.endswith("#branch")]), \
            (backend, sorted(values), sorted(reference))
    return note


# -- sources: the operating-point value of waveforms ------------------------------------------
WAVEFORM_NETLIST = """waveforms at t=0
V1 1 0 PULSE(0.3 1 1n 1n 1n 5n 10n)
R1 1 0 1k
V2 2 0 SIN(0.2 1 1k 0 0 30)
R2 2 0 1k
V3 3 0 PWL(0 0.7 1 2)
R3 3 0 1k
V4 4 0 EXP(0.4 1 1n 1n 2n 2n)
R4 4 0 1k
V5 5 0 SFFM(0.1 1 1k 2 100 40 25)
R5 5 0 1k
V6 6 0 AC 1
R6 6 0 1k
V7 7 0 DC 0.25 AC 1 0 SIN 0 1 1k
R7 7 0 1k
V8 8 0 PULSE 0.6 1
R8 8 0 1k
V9 9 0 PWL(1u 0.9 2u 2)
R9 9 0 1k
V10 10 0 SIN(0.2 1 1k 1m 0 -45)
R10 10 0 1k
I11 0 11 SIN(1m 2m 1k 0 0 90) AC 1
R11 11 0 1k
V12 12 0 0.35 PULSE(0 5 0 1n)
R12 12 0 2k
V13 13 0 AC 1 DC 0.45
R13 13 0 1k
V14 14 0 0.7v (PWL 0ns 3.0v 0.01ns -6.0v) (AC 1v)
R14 14 0 1k
.param vp=0.8 dfall=1n tfall=0.1n
V15 15 0 pwl
+ 0ns 'vp'
+ 'dfall-0.8*tfall' 'vp'
+ 'dfall+0.8*tfall' 0v
R15 15 0 1k
V16 16 0 PWL(0 0.55 1u 1 2u 0.55) r=0 td=1n
R16 16 0 1k
.op
.end
"""


def test_waveform_sources_keep_ngspice_operating_point_value(tmp_path):
    note = assert_matches_raw(tmp_path, WAVEFORM_NETLIST)
    assert note == ("eqprop-hw: note: left out: V1 PULSE (line 2), V2 SIN (line 4), V3 PWL "
                    "(line 6), V4 EXP (line 8), V5 SFFM (line 10), V6 AC (line 12), V7 AC/SIN "
                    "(line 14), V8 PULSE (line 16), V9 PWL (line 18), V10 SIN (line 20), I11 "
                    "SIN/AC (line 22), V12 PULSE (line 24), V13 AC (line 26), V14 PWL/AC (line 28), V15 "
                    "PWL (line 31), V16 PWL (line 36), .op (line 38)\n")


# -- .control blocks and analysis cards --------------------------------------------------------
CONTROL_NETLIST = """divider with a control block
V1 in 0 DC 2
R1 in mid 1k
R2 mid 0 3k
.tran 1u 10u
.print tran v(mid)
.control
op
print v(in) v(mid)
.endc
.end
"""


def test_control_block_and_analysis_cards_left_out(tmp_path):
    note = assert_matches_raw(tmp_path, CONTROL_NETLIST)
    assert note == ("eqprop-hw: note: left out: .control block (lines 7-10), .tran (line 5), "
                    ".print (line 6)\n")


def test_control_block_is_never_run_or_written(tmp_path):
    marker = tmp_path / "pwned"
    text = f"t\nV1 a 0 1\nR1 a 0 1k\n.control\nshell touch {marker}\n.endc\n.end\n"
    path = tmp_path / "n.cir"
    path.write_text(text)
    code, out, err = cli("import", path)
    assert code == 0 and "shell" not in out and "touch" not in out
    assert not marker.exists()
    assert err == "eqprop-hw: note: left out: .control block (lines 4-6)\n"


# -- models: unused ones of any type are ignored; a used transistor is imported -----------------
MODELS_NETLIST = """vendor library with transistors
.model Q2N2222 NPN(IS=1e-14 BF=200)
.model M2N7000 NMOS(LEVEL=1 VTO=2)
.model DLED D(IS=1e-19 N=2 RS=5)
.subckt UNUSED a b
Q1 a b 0 Q2N2222
.ends UNUSED
V1 in 0 DC 5
R1 in a 1k
D1 a 0 DLED
.op
.end
"""


def test_unused_models_and_subcircuits_ignored(tmp_path):
    note = assert_matches_raw(tmp_path, MODELS_NETLIST)
    assert note == ("eqprop-hw: note: left out: .op (line 11); ignored: unused models "
                    "Q2N2222 (NPN), M2N7000 (NMOS), unused subcircuits UNUSED\n")


@pytest.mark.parametrize("element, model", [("Q1 c b 0 Q2N2222", "Q2N2222"),
                                            ("M1 c b 0 0 M2N7000", "M2N7000")])
def test_used_transistor_imported_with_its_model(element, model):
    """Transistors import since issue 21 part 2 (tests/test_transistors.py checks them against
    raw ngspice); a used model is read, the others stay ignored."""
    text = MODELS_NETLIST.replace(".op\n", f"{element}\nR9 c 0 1k\n")
    notes = []
    spec = import_netlist_text(text, notes=notes)
    assert model in spec["models"] and spec["elements"][-2]["model"] == model
    assert "unused models" in " ".join(notes) and model not in " ".join(notes)


def test_transistor_with_unknown_model_refused_by_name():
    text = MODELS_NETLIST.replace(".op\n", "J1 c b 0 JMOD\n")
    with pytest.raises(NetlistError, match=":11: J1: unknown model 'JMOD'"):
        import_netlist_text(text)


# -- Latin-1 comments ---------------------------------------------------------------------------
def test_latin1_comments_accepted_code_ascii(tmp_path):
    text = (b"r\xe9seau \xb5A\n* R\xe9sistance 1 k\xa6, \xb5F\nV1 a 0 DC 1.5 ; \xe9t\xe9\n"
            b"R1 a b 1k $ \xb1 1%\nR2 b 0 2k\n.op\n.end\n")
    assert_matches_raw(tmp_path, text)
    path = tmp_path / "bad.cir"
    path.write_bytes(b"t\nV1 a 0 DC 1\nR1 a b\xe9 1k\n")
    with pytest.raises(NetlistError, match=r"bad\.cir:3: non-ASCII character"):
        import_netlist(path)


# -- vendor naming, m=, ic=, tc1= at TNOM, .global, .temp -------------------------------------
VENDOR_NETLIST = """vendor names
.model 1N4148 D(IS=2.52n N=1.752 RS=0.568 BV=100 IBV=100u)
.global vcc
.subckt BUF-1 IN+ OUT-
R1 IN+ mid 1k
R2 mid OUT- 2k m=2
R3 mid vcc 3k
.ends BUF-1
VCC vcc 0 DC 5
V1 in+ 0 DC 1
X1 in+ out- BUF-1
D1 out- 0 1N4148 m=3
R9 out- 0 10k tc1=0.01
C1 out- 0 1n ic=1
L1 out- l 1u ic=1m
R10 l 0 1k m=4
.op
.end
"""


def test_vendor_names_multipliers_and_global(tmp_path):
    """in+ / out- are mapped (and listed), the model 1N4148 renamed, m= folded (R/m, diode
    area*m), .global vcc shared into the subcircuit; the mid node of X1 is x1.mid in raw
    ngspice."""
    note = assert_matches_raw(tmp_path, VENDOR_NETLIST,
                              mapping={"in+": "in_p", "out-": "out_n", "x1.mid": "mid_x1"})
    assert note == (
        "eqprop-hw: note: renamed: IN+ -> in_p, OUT- -> out_n, model 1N4148 -> D1N4148; "
        "folded: R2 (in instance X1) m=2.0 (line 6), D1 m=3.0 (line 12), R10 m=4.0 (line 16); "
        "accepted: R9 tc1= (no effect on the operating point; line 13), C1 ic= (no effect on "
        "the operating point; line 14), L1 ic= (no effect on the operating point; line 15); "
        "left out: .op (line 17)\n")


def test_mapped_name_avoids_collisions():
    text = "t\nV1 in+ 0 1\nR1 in+ in_p 1k\nR2 in_p 0 1k\nR3 in_p_1 0 1k\n"
    notes = []
    spec = import_netlist_text(text, notes=notes)
    assert spec["elements"][0]["nodes"] == ["in_p_2", "0"]
    assert notes == ["renamed: in+ -> in_p_2"]


@pytest.mark.parametrize("temp", ["-40", "125"])
def test_dot_temp_sets_the_circuit_temperature(tmp_path, temp):
    text = (f"diode at {temp}\n.model DX D(IS=1e-14 N=1.1 RS=2)\nV1 a 0 DC 2\nR1 a b 1k\n"
            f"D1 b 0 DX\n.temp {temp}\n.op\n.end\n")
    spec = import_netlist_text(text)
    assert spec["options"] == {"temp": float(temp)}
    # the native solver's temperature scaling is issue 21 part 4: ngspice backend only
    assert_matches_raw(tmp_path, text, backends=("ngspice",))


@pytest.mark.parametrize("text, line, fragment", [
    ("t\nR1 a 0 1k tc1=0.01\nV1 a 0 1\n.temp 50\n", 2, "tc1=0.01 changes the value at 50.0"),
    ("t\nR1 a 0 1k temp=50\nV1 a 0 1\n", 2, "unsupported instance parameter 'temp'"),
    ("t\n.model DX D(IS=1e-14)\nD1 a 0 DX off\nV1 a 0 1\n", 3, "D1 area: malformed value 'off'"),
    ("t\nR1 a 0 1k\nV1 a 0 1\n.temp 27 50\n", 4, ".temp takes one temperature"),
    ("t\nR1 a 0 1k\nV1 a 0 1\n.options temp=30\n.temp 50\n", 5, "contradicts"),
    ("t\n.subckt S a\n.global g\nR1 a g 1\n.ends\nX1 b S\nV1 b 0 1\n", 3, "only allowed at the top"),
    ("t\n.global a\n.subckt S a\nR1 a 0 1\n.ends\nX1 b S\nV1 b 0 1\n", 6, "is a .global node"),
    ("t\nR1 a 0 1k\nV1 a 0 1\n.if (x)\n.endif\n", 4, "unknown parameter 'x'"),
])
def test_circuit_changing_cards_modelled_or_refused(text, line, fragment):
    for unsafe in (False, True):
        with pytest.raises(NetlistError, match=f":{line}: .*{re.escape(fragment)}"):
            import_netlist_text(text, allow_unsafe=unsafe)


# -- expressions: ngspice's ternary, comparisons and logic in .param and {} --------------------
EXPRESSION_NETLIST = """conditional parameters
.param a=2 b=3
.param big={a > b ? 10k : 1k} both={(a < b) && (b >= 3) ? 2 : 7} neg={!(a == 2) ? 1 : 0.5}
.param pick={a != 2 ? 1 : b <= 2 ? 2 : 3}
V1 in 0 DC {neg + pick/10}
R1 in mid {big}
R2 mid 0 {both*1k}
R3 mid 0 {a >= 2 || b < 0 ? 4k : 8k}
.op
.end
"""


def test_conditional_expressions_match_ngspice(tmp_path):
    spec = import_netlist_text(EXPRESSION_NETLIST)
    values = {e["name"]: e.get("r", e.get("dc")) for e in spec["elements"]}
    assert values == {"V1": 0.8, "R1": 1000.0, "R2": 2000.0, "R3": 4000.0}
    assert_matches_raw(tmp_path, EXPRESSION_NETLIST)


# -- .func: expanded (no recursion: a body calls only functions defined before it) -----------
FUNC_NETLIST = """user functions
.func sq(x) {x*x}
.func par(a, b) = {a*b/(a+b)}
.func pick(x) 'x > 1 ? x*x : 1'
.func plus1(x) {sq(x) + 1}
.param r0=1k
V1 in 0 DC {pick(1.5) - plus1(0.5)}
R1 in mid {par(r0, 3*r0)}
R2 mid 0 {sq(2)*r0 + par(2k, 2k)}
.op
.end
"""


def test_func_expanded_matches_ngspice(tmp_path):
    spec = import_netlist_text(FUNC_NETLIST)
    values = {e["name"]: e.get("r", e.get("dc")) for e in spec["elements"]}
    assert values == {"V1": 1.0, "R1": 750.0, "R2": 5000.0}
    assert_matches_raw(tmp_path, FUNC_NETLIST)


# -- .if / .elseif / .else / .endif on constant parameter expressions -------------------------
IF_NETLIST = """conditional netlist
.param corner=2 scale=1.5
.if (corner == 1)
R1 in mid 1k
.elseif (corner == 2 && scale > 1)
R1 in mid 2k
.if (scale > 2)
R3 mid 0 1k
.else
R3 mid 0 3k
.endif
.else
R1 in mid 5k
.endif
V1 in 0 DC 1
R2 mid 0 {scale*1k}
.op
.end
"""


def test_if_blocks_resolved_like_ngspice(tmp_path):
    spec = import_netlist_text(IF_NETLIST)
    assert [(e["name"], e.get("r")) for e in spec["elements"]] == \
        [("R1", 2000.0), ("R3", 3000.0), ("V1", None), ("R2", 1500.0)]
    note = assert_matches_raw(tmp_path, IF_NETLIST)
    assert note == ("eqprop-hw: note: left out: .if branch not taken (lines 3-5), .if branch "
                    "not taken (lines 7-9), .if branch not taken (lines 12-14), .op (line 17)\n")


# -- refused because ngspice reads them otherwise than they look -------------------------------
def test_param_redefinition_refused_ngspice_uses_last_value(tmp_path):
    """ngspice gives b = 2*a with the LAST a (6k, not 2k): refused, naming both lines."""
    text = ("param override\n.param a=1k\n.param b={a*2}\nV1 in 0 DC 1\nR1 in mid {b}\n"
            ".param a=3k\nR2 mid 0 1k\n.op\n.end\n")
    assert raw_ngspice(tmp_path, text)["mid"] == pytest.approx(1 / 7, abs=TOLERANCE)
    with pytest.raises(NetlistError, match=":6: .param a defined twice \\(lines 2 and 6\\)"):
        import_netlist_text(text)


@pytest.mark.parametrize("value, read_as, advice", [("4k7", 4000.0, "4.7k"),
                                                    ("2R2", 2.0, "2.2")])
def test_4k7_notation_refused_ngspice_ignores_the_digits(tmp_path, value, read_as, advice):
    text = f"notation\nV1 in 0 DC 1\nR1 in mid {value}\nR2 mid 0 1k\n.op\n.end\n"
    assert raw_ngspice(tmp_path, text)["mid"] == pytest.approx(1000 / (1000 + read_as),
                                                               abs=TOLERANCE)
    with pytest.raises(NetlistError, match=f":3: .*ngspice reads as .*write {advice};"):
        import_netlist_text(text)
