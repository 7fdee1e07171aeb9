"""Hostile inputs left open by the third hunt: an SOI MOSFET whose body floats through a
contact tied to nothing (ngspice can run without end on it), line (TXL) values ngspice dies on,
refusals that named no line, absurd transistor-twin sizes.

Each case is refused with one line naming the file (and, for a netlist, the line) and the
reason; nothing is written. The time limit of every request to the isolated ngspice child is
tested in tests/test_hunt4.py.
"""

from hostile import Case, forge

SOI = ("t\nVDD vdd 0 DC 1\nVG g 0 DC 1\nR1 vdd a 1k\nM1 {NODES} NS w=1e-6 l=1e-7\n"
       ".model NS NMOS(LEVEL={LEVEL})\n")


def soi(nodes: str, level: int = 58) -> str:
    """An SOI MOSFET netlist whose M line (line 5) has ``nodes``."""
    return SOI.replace("{NODES}", nodes).replace("{LEVEL}", str(level))


NETLISTS = {
    # body contact p and body b tied to nothing: ngspice 39 took 0.9 s to 22 s per operating
    # point, varying from run to run (the last hunt saw it not end)
    "soi-floating-body": (soi("a g 0 0 p b"), 5, "M1: the body contact node 'p' (fifth node "
                                                  "of a B4SOI MOSFET) reaches no other terminal"),
    "soi-floating-contact": (soi("a g 0 0 p", 10), 5, "leave the node out (4 nodes"),
    "soi-floating-contact-thermal": (soi("a g 0 e p 0 t", 10), 5, "body contact node 'p'"),
}

LINE = "t\nVDD vdd 0 DC 3\nR1 vdd a 1k\nRL b 0 1k\nY1 a 0 b 0 LL\n.model LL TXL({MODEL})\n"


def txl(model: str) -> str:
    """A TXL netlist whose model (line 6) has the parameters ``model``."""
    return LINE.replace("{MODEL}", model)


NETLISTS.update({
    # in-process ngspice ended the whole process ("can not choose a pivot"; the CLI said only
    # "ngspice.dll cannot recover")
    "txl-tiny-c": (txl("R=1 L=1n G=0 C=1e-30 LENGTH=1"), 6,
                   "model LL: C=1e-30 is outside the range measured safe for ngspice 39's TXL "
                   "line (1e-13 to 1e-08)"),
    "txl-huge-r": (txl("R=3e8 L=1n G=0 C=1p LENGTH=1"), 6, "R=3e+08 is outside the range"),
    "txl-tiny-length": (txl("R=1 L=1n G=0 C=1p LENGTH=1e-12"), 6, "LENGTH=1e-12 is outside"),
    # G/C = R/L: a distortionless line; ngspice's fit of it has no pivot
    "txl-distortionless": (txl("R=0.1 L=1n G=1e-5 C=0.1p LENGTH=1"), 6,
                           "a TXL line this close to distortionless (R/L=1e+08 vs G/C=1e+08)"),
    "txl-no-length": (txl("R=1 L=1n G=0 C=1p"), 6, "a TXL line needs L=, C= and LENGTH= given "
                                                  "too, not LENGTH="),
    # refusals that named no line (the spec check of the imported options)
    "temp-huge": ("t\nV1 a 0 DC 1\nR1 a 0 1k\n.temp 1e300\n", 4,
                  "options.temp (degC) 1e+300 is out of range: it must be at most 1000"),
    "options-reltol-huge": ("t\nV1 a 0 DC 1\nR1 a 0 1k\n.options reltol=5\n", 4,
                            "options.reltol 5 is out of range"),
    "options-tnom-last-line": ("t\nV1 a 0 DC 1\n.options tnom=1\nR1 a 0 1k\n"
                               ".options tnom=1e300\n", 5, "options.tnom (degC) 1e+300"),
    "cswitch-control-resistor": ("t\nVDD vdd 0 DC 3\nR1 vdd a 1k\nRC c 0 1k\nW1 a 0 RC WM\n"
                                 ".model WM CSW(IT=1m)\n", 5,
                                 "W1: RC is not a voltage source of the circuit"),
})

CASES = []
for key, (text, line, fragment) in NETLISTS.items():
    CASES.append(Case(f"hunt4-{key}", ["import", "net.cir", "-o", "spec.yaml"],
                      {"net.cir": text}, error=(f"net.cir:{line}", fragment)))

SOI_SPEC = ("name: t\nkind: graph\nmodels:\n  NS: {type: NMOS, LEVEL: 58}\nelements:\n"
            "  - {name: VDD, nodes: [vdd, '0'], dc: 1.0}\n"
            "  - {name: RD, nodes: [vdd, a], r: 1000.0}\n"
            "  - {name: M1, nodes: [a, vdd, '0', '0', p, b], model: NS}\n")
for command in (["export", "t.yaml", "-o", "t.cir"],
                ["simulate", "t.yaml", "--input", "", "--backend", "ngspice"]):
    CASES.append(Case(f"hunt4-soi-floating-body-{command[0]}", command, {"t.yaml": SOI_SPEC},
                      error=("element M1: the body contact node 'p'", "reaches no other")))

TXL_SPEC = ("name: t\nkind: graph\nmodels:\n  LL: {type: TXL, R: 1.0, L: 1.0e-9, G: 0.0, "
            "C: 1.0e-30, LENGTH: 1.0}\nelements:\n"
            "  - {name: VDD, nodes: [vdd, '0'], dc: 1.0}\n"
            "  - {name: RD, nodes: [vdd, a], r: 1000.0}\n"
            "  - {name: RL, nodes: [b, '0'], r: 1000.0}\n"
            "  - {name: Y1, nodes: [a, '0', b, '0'], model: LL}\n")
for command in (["export", "t.yaml", "-o", "t.cir"],
                ["simulate", "t.yaml", "--input", "", "--backend", "ngspice"]):
    CASES.append(Case(f"hunt4-txl-tiny-c-{command[0]}", command, {"t.yaml": TXL_SPEC},
                      error=("t.yaml:4", "models.LL: C=1e-30 is outside the range")))

# an option set in an included file: the refusal names that file and its line
CASES.append(Case("hunt4-options-in-include", ["import", "net.cir", "-o", "spec.yaml"],
                  {"net.cir": "t\nV1 a 0 DC 1\nR1 a 0 1k\n.include opts.inc\n",
                   "opts.inc": "* options\n.options gmin=1e300\n"},
                  error=("opts.inc:2", "options.gmin 1e+300 is out of range"), names="opts.inc"))

# training.twin.mosfet: every number within a physical range, the refusal at the key's line
# (KP 1e-30 was accepted and failed later in the transient with "Timestep too small")
TWIN = (forge.ROOT / "circuits" / "xor_twin_mos.yaml").read_text()
TWIN_MODEL = "      model: {type: NMOS, LEVEL: 1, VTO: 0.5, KP: 1.0e-5}   # A/V^2"
TWIN_LINE = TWIN.splitlines().index(TWIN_MODEL) + 1
assert TWIN.count(TWIN_MODEL) == 1
TWIN_MODELS = {
    "kp-tiny": ("VTO: 0.5, KP: 1.0e-30", "KP=1e-30 is outside the physical range of a twin "
                                         "edge's model (1e-08 to 0.01)"),
    "kp-huge": ("VTO: 0.5, KP: 10.0", "KP=10.0 is outside the physical range"),
    "vto-huge": ("VTO: 1.0e+20, KP: 1.0e-5", "VTO=1e+20 is outside the physical range"),
    "rd-huge": ("VTO: 0.5, KP: 1.0e-5, RD: 1.0e+25", "RD=1e+25 is outside"),
    "cbd-huge": ("VTO: 0.5, KP: 1.0e-5, CBD: 1.0", "CBD=1.0 is outside"),
    "pb-zero": ("VTO: 0.5, KP: 1.0e-5, PB: 0.0", "PB=0.0 is outside"),
    "tnom-absurd": ("VTO: 0.5, KP: 1.0e-5, TNOM: 1.0e+6", "TNOM=1000000.0 is outside"),
    "unknown-param": ("VTO: 0.5, KP: 1.0e-5, VERSION: 4.8", "VERSION is not a level-1 "
                                                            "parameter a twin edge takes"),
}
for key, (params, fragment) in TWIN_MODELS.items():
    text = TWIN.replace(TWIN_MODEL, "      model: {type: NMOS, LEVEL: 1, " + params + "}")
    CASES.append(Case(f"hunt4-twin-{key}", ["export", "t.yaml", "--twin"], {"t.yaml": text},
                      error=(f"t.yaml:{TWIN_LINE}", "training.twin.mosfet.model: ", fragment)))
# KP W / L: each within range, the product (the gate map's slope) not
TWIN_W = "      w: 1.0e-6          # m"
for key, (argv, replacement) in {
        "beta-tiny-export": (["export", "t.yaml", "--twin"], "      w: 1.0e-9"),
        "beta-tiny-train": (["train", "t.yaml", "--twin", "--out", "run", "--no-plots"],
                            "      w: 1.0e-9")}.items():
    CASES.append(Case(f"hunt4-twin-{key}", argv,
                      {"t.yaml": TWIN.replace(TWIN_MODEL, TWIN_MODEL.replace(
                          "KP: 1.0e-5", "KP: 1.0e-8")).replace(TWIN_W, replacement)},
                      error=("training.twin.mosfet", "KP * w / l = 1e-11 S/V is outside 1e-09 "
                                                     "to 1")))
