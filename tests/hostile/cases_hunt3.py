"""Hostile inputs found by the third hunt on the new input surfaces: CIDER models in imported
netlists, ngspice-only devices (SOI MOSFETs, 5-node Q, switches, lines T/O/Y, Z), transistor
twin specs (training.twin.mosfet) and netlists without elements.

Each case is a crash, hang or unclear refusal found by hand; each is now refused with one line
naming the file, the line and the reason, and nothing is written.
"""

from hostile import Case

CIDER = ("t\nV1 1 0 DC 1\nR1 1 2 1k\n{ELEMENT}\n.model MPN {TYPE} level=1\n"
         "+ x.mesh loc=0 n=1\n+ x.mesh loc=1 n=21\n+ domain num=1 material=1\n"
         "+ material num=1 silicon\n")


def cider(element: str, kind: str = "numd") -> str:
    """A CIDER netlist whose element line (line 4) is ``element``."""
    return CIDER.replace("{ELEMENT}", element).replace("{TYPE}", kind)


SOI3 = ("t\nVDD vdd 0 DC 1\nVG g 0 DC 1\nR1 vdd a 1k\nM1 {NODES} NS w=1e-6 l=1e-7\n"
        ".model NS NMOS(LEVEL=60)\n")

LINE = "t\nVDD vdd 0 DC 3\nR1 vdd a 1k\nRL b 0 1k\n{L}1 a 0 b 0 LL\n.model LL {MODEL}\n"

NETLISTS = {
    # the model word given as name=value: was an IndexError (internal error)
    "cider-diode-model-pair": (cider("D1 2 0 MPN=1"), 4,
                               "a CIDER numerical diode takes 2 nodes, then its model name"),
    "cider-bjt-model-pair": (cider("Q1 1 2 0 MPN=1", "nbjt"), 4,
                             "takes 3 nodes (collector base emitter), then its model name"),
    "cider-diode-model-pair-more": (cider("D1 2 0 MPN=1 x"), 4,
                                    "a CIDER numerical diode takes 2 nodes"),
    # SOI3 (LEVEL=60) on fewer than 6 nodes: ngspice 39 aborted the whole process (SIGABRT,
    # an assertion in its sparse matrix code) under simulate
    "soi3-four-nodes": (SOI3.replace("{NODES}", "a g 0 0"), 5,
                        "a MOSFET of LEVEL=60 takes 6 nodes (ngspice 39 aborts on fewer), got 4"),
    "soi3-five-nodes": (SOI3.replace("{NODES}", "a g 0 0 b"), 5, "takes 6 nodes"),
    # line models ngspice stops on with a fatal error (was a 'did not converge' line, or for
    # TXL 'ngspice.dll cannot recover' at simulate)
    "ltra-one-of-rlgc": (LINE.replace("{MODEL}", "LTRA(R=1 LEN=1)").replace("{L}", "O"), 6,
                         "an LTRA line needs at least two of R, L, G, C given and nonzero"),
    "ltra-all-zero": (LINE.replace("{MODEL}", "LTRA(R=0 L=0 G=0 C=0 LEN=1)").replace("{L}",
                                                                                     "O"), 6,
                      "at least two of R, L, G, C"),
    "txl-no-r": (LINE.replace("{MODEL}", "TXL(L=1n C=1p LENGTH=1)").replace("{L}", "Y"), 6,
                 "a TXL line needs R= and G= given"),
}

CASES = []
for key, (text, line, fragment) in NETLISTS.items():
    CASES.append(Case(f"hunt3-{key}", ["import", "net.cir", "-o", "spec.yaml"],
                      {"net.cir": text}, error=(f"net.cir:{line}", fragment)))

SPEC = ("name: t\nkind: graph\nmodels:\n  NS: {type: NMOS, LEVEL: 60}\nelements:\n"
        "  - {name: VDD, nodes: [vdd, '0'], dc: 1.0}\n"
        "  - {name: RD, nodes: [vdd, a], r: 1000.0}\n"
        "  - {name: M1, nodes: [a, vdd, '0', '0'], model: NS}\n")
for command in (["export", "t.yaml", "-o", "t.cir"],
                ["simulate", "t.yaml", "--input", "", "--backend", "ngspice"]):
    CASES.append(Case(f"hunt3-soi3-four-nodes-{command[0]}", command, {"t.yaml": SPEC},
                      error=("t.yaml:8", "LEVEL=60 takes 6 nodes")))

LTRA_SPEC = ("name: t\nkind: graph\nmodels:\n  LL: {type: LTRA, R: 1.0, LEN: 1.0}\nelements:\n"
             "  - {name: VDD, nodes: [vdd, '0'], dc: 1.0}\n"
             "  - {name: RD, nodes: [vdd, a], r: 1000.0}\n"
             "  - {name: RL, nodes: [b, '0'], r: 1000.0}\n"
             "  - {name: O1, nodes: [a, '0', b, '0'], model: LL}\n")
for command in (["export", "t.yaml", "-o", "t.cir"],
                ["simulate", "t.yaml", "--input", "", "--backend", "ngspice"]):
    CASES.append(Case(f"hunt3-ltra-one-of-rlgc-{command[0]}", command, {"t.yaml": LTRA_SPEC},
                      error=("t.yaml:4", "models.LL: an LTRA line needs at least two of R, L")))
