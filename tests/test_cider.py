"""CIDER numerical devices (NUMD, NBJT, NUMOS) end to end: grammar, import, ngspice, refusals.

Operating points are checked against raw ``ngspice -b`` on the ORIGINAL netlist (not ours) to
1e-6 V (:func:`test_import_real.assert_matches_raw`); meshes are small so each solve is fast.
"""

from __future__ import annotations

import shutil

import pytest

from eqprop_hw.circuit import cider
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.graph import Element
from eqprop_hw.circuit.spec import parse_spec
from eqprop_hw.circuit.spice_import import import_netlist_text
from eqprop_hw.errors import CircuitError, NetlistError
from eqprop_hw.learning.reference import EnergyModel
from test_import_real import assert_matches_raw, cli

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")

#: A NUMD diode (21 mesh lines, abbreviated keywords as ngspice's examples write them) in a
#: resistor divider, forward biased.
NUMD_DIVIDER = """numd divider
V1 1 0 DC 1.0
R1 1 2 1k
D1 2 0 MPN AREA=100
.model MPN numd level=1
+ ***** a one-dimensional pn diode *****
+ options defa=1p
+ x.mesh loc=0.0 n=1
+ x.mesh loc=1.0 n=21
+ domain num=1 material=1
+ material num=1 silicon
+ mobility mat=1 concmod=ct fieldmod=ct
+ doping unif p.type conc=1e17 x.l=0.0 x.h=0.5
+ doping unif n.type conc=1e16 x.l=0.5
++ x.h=1.0
+ models bgn srh auger conctau concmob fieldmob ^aval
.op
.end
"""

#: An NBJT inverter (one-dimensional, 21 mesh lines) with its base driven through 8k.
NBJT_INVERTER = """nbjt inverter
vin 1 0 dc 1
vcc 12 0 dc 5.0
rc1 12 3 2.5k
rb1 1 2 8k
q1 3 2 0 qmod area = 100p
.model qmod nbjt level=1
+ x.mesh node=1 loc=0.0
+ x.mesh node=21 loc=3.0
+ region num=1 material=1
+ material num=1 silicon nbgnn=1e17 nbgnp=1e17
+ mobility material=1 concmod=sg fieldmod=sg
+ doping unif n.type conc=1e17 x.l=0.0 x.h=1.0
+ doping unif p.type conc=1e16 x.l=0.0 x.h=1.5
+ doping unif n.type conc=1e15 x.l=0.0 x.h=3.0
+ models bgnw srh conctau auger concmob fieldmob
+ options base.length=1.0 base.depth=1.25
.op
.end
"""


# -- the grammar ---------------------------------------------------------------------------------
def test_cards_read_as_ngspice_matches_keywords_and_write_back_whole():
    card = cider.parse_card("doping unif n.type conc=1e16 x.l=0.5 x.h = 1.0 char.l 0.1", "m")
    assert cider.card_text(card) == ("doping uniform n.type conc=1e+16 x.low=0.5 x.high=1.0 "
                                     "char.length=0.1")
    assert cider.card_text(cider.parse_card("MODELS BGN ^AVAL SRH", "m")) == \
        "models bgn ^avalanche srh"
    assert cider.parse_card("elec num=1 ix.l=1 ix.h=2", "m")[0] == "electrode"
    assert cider.parse_card("doping domains=1,2 n.type conc=1", "m") == \
        ("doping", (("n.type", True), ("conc", 1.0), ("domains", (1, 2))))   # lists last
    with pytest.raises(CircuitError, match="'m' is ambiguous"):
        cider.parse_card("m num=1", "m")
    with pytest.raises(CircuitError, match="'h' is ambiguous"):
        cider.parse_card("x.mesh loc=1 h=2", "m")


def test_mesh_line_counts_follow_ngspice_layout():
    """Absolute numbers give the last number; widths add their spaces (by hand)."""
    def lines(*texts):
        return cider.mesh_nodes([cider.parse_card(t, "m") for t in texts], "x", "m")
    assert lines("x.mesh loc=0 n=1", "x.mesh loc=1.3 n=201") == 201
    assert lines("x.mesh loc=0 n=5", "x.mesh loc=1 n=15") == 11
    assert lines("x.mesh w=1 n=10", "x.mesh w=2 n=4") == 15
    with pytest.raises(CircuitError, match="locations must increase"):
        lines("x.mesh loc=1 n=1", "x.mesh loc=0 n=3")
    with pytest.raises(CircuitError, match="numbers must increase"):
        lines("x.mesh loc=0 n=5", "x.mesh loc=1 n=5")


def test_models_are_bounded_and_checked_whole():
    mesh = (cider.parse_card("x.mesh loc=0 n=1", "m"),)
    with pytest.raises(CircuitError, match="needs x.mesh"):
        cider.CiderModel("M", "NUMD", 1, ())
    with pytest.raises(CircuitError, match="more than 2000"):
        cider.CiderModel("M", "NUMD", 1, mesh + (cider.parse_card("x.mesh w=1 n=1999", "m"),
                                                 cider.parse_card("x.mesh w=1 n=9", "m")))
    with pytest.raises(CircuitError, match="up to 1e[+]06 mesh lines"):   # automatic spacing
        cider.CiderModel("M", "NUMD", 1, mesh + (cider.parse_card("x.mesh w=1 h1=1e-6", "m"),))
    assert cider.mesh_nodes(mesh + (cider.parse_card("x.mesh w=1 h.s=0.01 r=1.5", "m"),), "x",
                            "m") == 104             # a bound: width / h + 3 lines
    with pytest.raises(CircuitError, match="needs y.mesh"):
        cider.CiderModel("M", "NUMOS", 2, mesh + (cider.parse_card("x.mesh w=1 n=9", "m"),))
    with pytest.raises(CircuitError, match="doping infile refused: it reads or writes a file"):
        cider.CiderModel("M", "NUMD", 1, mesh + (("doping", (("infile", "x"),)),))
    with pytest.raises(CircuitError, match="unknown parameter"):
        cider.CiderModel("M", "NUMD", 1, mesh + (("doping", (("x.l", 1.0),)),))


# -- import, ngspice, export -------------------------------------------------------------------
@needs_ngspice
def test_numd_divider_matches_raw_ngspice(tmp_path):
    note = assert_matches_raw(tmp_path, NUMD_DIVIDER, backends=("ngspice",))
    assert ".op (line 17)" in note


@needs_ngspice
def test_nbjt_inverter_matches_raw_ngspice(tmp_path):
    assert_matches_raw(tmp_path, NBJT_INVERTER, backends=("ngspice",))


def test_export_round_trip_is_byte_identical(tmp_path):
    source = tmp_path / "d.cir"
    source.write_text(NUMD_DIVIDER)
    assert cli("import", source, "-o", tmp_path / "a.yaml")[0] == 0
    assert cli("export", tmp_path / "a.yaml", "-o", tmp_path / "a.cir")[0] == 0
    assert cli("import", tmp_path / "a.cir", "-o", tmp_path / "b.yaml")[0] == 0
    assert cli("export", tmp_path / "b.yaml", "-o", tmp_path / "b.cir")[0] == 0
    first, second = (tmp_path / "a.cir").read_bytes(), (tmp_path / "b.cir").read_bytes()
    assert first == second
    assert b"+ doping uniform n.type conc=1e+16 x.low=0.5 x.high=1.0\n" in first
    assert b"+ models bgn srh auger consrh conmob fldmob ^avalanche\n" in first
    assert b"D1 2 0 MPN area=100.0\n" in first


def test_native_solver_and_reference_refuse_cider_devices_by_name(tmp_path):
    for name, text, device in (("d", NUMD_DIVIDER, "D1 is a CIDER numerical diode"),
                               ("q", NBJT_INVERTER, "Q1 is a CIDER numerical bipolar")):
        source = tmp_path / f"{name}.cir"
        source.write_text(text)
        assert cli("import", source, "-o", tmp_path / f"{name}.yaml")[0] == 0
        code, out, err = cli("simulate", tmp_path / f"{name}.yaml", "--backend", "native")
        assert code == 1 and out == ""      # exit status 1, as for transistors
        assert err == (f"eqprop-hw: error: native backend: {device} "
                       f"{err.split(device, 1)[1].strip()}\n")
        assert "CIDER devices are simulated by ngspice only (use --backend ngspice)" in err
    spec = parse_spec(import_netlist_text(NUMD_DIVIDER))
    with pytest.raises(CircuitError, match="software reference: D1 is a CIDER numerical diode"):
        EnergyModel(build_circuit(spec))


def test_spec_cards_are_parsed_not_passed_through():
    spec = import_netlist_text(NUMD_DIVIDER)
    spec["models"]["MPN"]["cards"].append("doping uniform infile=x")
    with pytest.raises(Exception, match="infile refused"):
        parse_spec(spec)
    model = build_circuit(parse_spec(import_netlist_text(NUMD_DIVIDER))).device_models["MPN"]
    assert cider.model_lines(model)[0] == ".model MPN numd level=1"
    assert cider.first_cider(build_circuit(parse_spec(import_netlist_text(NUMD_DIVIDER))))[0] \
        == Element("D1", "D", ("2", "0"), 100.0, model="MPN")


def test_import_errors_name_the_sub_card_line():
    text = NUMD_DIVIDER.replace("+ models bgn", "+ models bgn shell")
    with pytest.raises(NetlistError) as error:
        import_netlist_text(text, source="n.cir")
    assert str(error.value).startswith("n.cir:16: model MPN: models card: unknown models "
                                       "parameter 'shell'")


def test_output_comment_and_end_cards_are_left_out_and_noted(tmp_path):
    text = NUMD_DIVIDER.replace("+ options defa=1p\n", "+ options defa=1p\n+ output all.debug "
                                "^mesh\n+ comment anything at all\n").replace(
        ".op\n", "+ end\n.op\n")
    notes = []
    spec = import_netlist_text(text, notes=notes)
    assert spec["models"]["MPN"] == import_netlist_text(NUMD_DIVIDER)["models"]["MPN"]
    assert "model MPN output card (line 8: debug printing and saved-solution contents " \
           "only)" in notes[0]
    source = tmp_path / "d.cir"
    source.write_text(NUMD_DIVIDER)
    assert cli("import", source, "-o", tmp_path / "d.yaml")[0] == 0
    code, out, _err = cli("describe", tmp_path / "d.yaml")
    assert code == 0 and "devices     1 (fixed, ngspice only): D1 (NUMD MPN)\n" in out


def test_numos_spec_builds_writes_and_is_refused_by_the_native_backend():
    from eqprop_hw.backends import make_backend
    from eqprop_hw.circuit.netlist import netlist_lines
    from eqprop_hw.errors import BackendError
    spec = parse_spec({
        "name": "nmos", "kind": "graph",
        "models": {"MN": {"type": "NUMOS", "cards": [
            "x.mesh l=0 n=1", "x.mesh l=2 n=9", "y.mesh l=0 n=1", "y.mesh l=1 n=5",
            "region num=1 material=1", "material num=1 silicon",
            "elec num=1 ix.l=1 ix.h=2 iy.l=1 iy.h=1", "doping unif p.type conc=1e16"]}},
        "elements": [{"name": "VD", "nodes": ["d", "0"], "dc": 1.0},
                     {"name": "RD", "nodes": ["d", "x"], "r": 1e3},
                     {"name": "M1", "nodes": ["x", "d", "0", "0"], "model": "MN", "w": 1e-5}]})
    circuit = build_circuit(spec)
    assert circuit.device_models["MN"].nodes == 45            # 9 x 5 mesh lines
    from eqprop_hw.circuit.transistors import writes_check_log
    assert writes_check_log(circuit) is False     # a NUMOS is no BSIM (was an AttributeError)
    lines = netlist_lines(circuit)
    assert ".model MN numos" in lines and "M1 x d 0 0 MN w=1e-05" in lines
    assert "+ electrode number=1 ix.low=1 ix.high=2 iy.low=1 iy.high=1" in lines
    with pytest.raises(BackendError, match="native backend: M1 is a CIDER numerical MOSFET "
                                           r"\(model MN, NUMOS\)"):
        make_backend("native", circuit)
    with pytest.raises(Exception, match="unknown key 'area'"):
        parse_spec({**spec.data, "models": {"MN": spec.data["models"]["MN"]},
                    "elements": [{"name": "M1", "nodes": ["x", "d", "0", "0"], "model": "MN",
                                  "area": 2.0}]})
