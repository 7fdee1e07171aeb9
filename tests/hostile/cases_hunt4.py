"""Hostile inputs left open by the third hunt: an SOI MOSFET whose body floats through a
contact tied to nothing (ngspice can run without end on it), line (TXL) values ngspice dies on,
refusals that named no line, absurd transistor-twin sizes.

Each case is refused with one line naming the file (and, for a netlist, the line) and the
reason; nothing is written. The time limit of every request to the isolated ngspice child is
tested in tests/test_hunt4.py.
"""

from hostile import Case

SOI = ("t\nVDD vdd 0 DC 1\nVG g 0 DC 1\nR1 vdd a 1k\nM1 {NODES} NS w=1e-6 l=1e-7\n"
       ".model NS NMOS(LEVEL={LEVEL})\n")


def soi(nodes: str, level: int = 58) -> str:
    """An SOI MOSFET netlist whose M line (line 5) has ``nodes``."""
    return SOI.replace("{NODES}", nodes).replace("{LEVEL}", str(level))


NETLISTS = {
    # body contact p and body b tied to nothing: ngspice 39 took 0.9 s to 22 s per operating
    # point, varying from run to run (the last hunt saw it not end)
    "soi-floating-body": (soi("a g 0 0 p b"), 5, "M1: the body contact node 'p' (fifth node "
                                                  "of an SOI MOSFET) reaches no other terminal"),
    "soi-floating-contact": (soi("a g 0 0 p", 10), 5, "leave the node out (4 nodes"),
    "soi-floating-contact-thermal": (soi("a g 0 e p 0 t", 57), 5, "body contact node 'p'"),
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
