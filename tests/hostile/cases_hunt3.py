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


NETLISTS = {
    # the model word given as name=value: was an IndexError (internal error)
    "cider-diode-model-pair": (cider("D1 2 0 MPN=1"), 4,
                               "a CIDER numerical diode takes 2 nodes, then its model name"),
    "cider-bjt-model-pair": (cider("Q1 1 2 0 MPN=1", "nbjt"), 4,
                             "takes 3 nodes (collector base emitter), then its model name"),
    "cider-diode-model-pair-more": (cider("D1 2 0 MPN=1 x"), 4,
                                    "a CIDER numerical diode takes 2 nodes"),
}

CASES = []
for key, (text, line, fragment) in NETLISTS.items():
    CASES.append(Case(f"hunt3-{key}", ["import", "net.cir", "-o", "spec.yaml"],
                      {"net.cir": text}, error=(f"net.cir:{line}", fragment)))
