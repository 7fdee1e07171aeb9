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
