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
