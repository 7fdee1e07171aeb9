"""Hostile netlists and specs for CIDER numerical devices (NUMD NBJT NUMOS) and their cards.

File reads and writes hidden in sub-cards or instance parameters, huge meshes, unknown and
ambiguous sub-cards, nested continuations, expressions and injection through card text: each
is refused with one line naming the file, the line of the sub-card and the reason; nothing is
written and nothing runs.
"""

from hostile import Case

HEAD = "t\nV1 1 0 DC 1\nR1 1 2 1k\nD1 2 0 MPN\n.model MPN numd level=1\n"   # model: line 5
MESH = "+ x.mesh loc=0 n=1\n+ x.mesh loc=1 n=21\n"                          # lines 6-7
BODY = "+ domain num=1 material=1\n+ material num=1 silicon\n"              # lines 8-9


def numd(extra: str, mesh: str = MESH) -> str:
    """The divider with ``extra`` sub-card lines from line 10 on (8 with ``mesh=""``)."""
    return HEAD + mesh + BODY + extra


NETLISTS = {
    # files read or written by the device
    "doping-infile": (numd("+ doping uniform n.type infile=profile\n"), 10,
                      "infile refused: it reads or writes a file"),
    "doping-path": (numd("+ doping uniform n.type infile=/etc/passwd\n"), 10,
                    "file paths are refused"),
    "doping-suprem3": (numd("+ doping suprem3 n.type\n"), 10, "read from a file"),
    "doping-ascii": (numd("+ doping ascii p.type\n"), 10, "read from a file"),
    "output-rootfile": (numd("+ output all.debug rootfile=dump\n"), 10, "rootfile refused"),
    "options-ic-file": (numd("+ options ic.file=state\n"), 10, "ic.file refused"),
    "options-unique": (numd("+ options unique\n"), 10, "it names files"),
    "instance-ic-file": (numd("").replace("D1 2 0 MPN", "D1 2 0 MPN ic.file=state"), 4,
                         "'ic.file' refused: it reads the initial state from a file"),
    "instance-save": (numd("").replace("D1 2 0 MPN", "D1 2 0 MPN save=1"), 4,
                      "'save' refused: it writes solution files"),
    "instance-print": (numd("").replace("D1 2 0 MPN", "D1 2 0 MPN print=1"), 4,
                       "'print' refused"),
    "instance-off": (numd("").replace("D1 2 0 MPN", "D1 2 0 MPN off"), 4, "'off' refused"),
    "instance-unknown": (numd("").replace("D1 2 0 MPN", "D1 2 0 MPN m=2"), 4,
                         "unsupported CIDER instance parameter 'm'"),
    # sizes
    "mesh-1d-huge": (numd("", "+ x.mesh loc=0 n=1\n+ x.mesh loc=1 n=2000\n"
                              "+ x.mesh w=1 n=9\n"), 5, "more than 2000 x mesh lines"),
    "mesh-index-huge": (numd("", "+ x.mesh loc=0 n=1\n+ x.mesh loc=1 n=1e9\n"), 7,
                        "must be a whole number from 1 to 2000"),
    "mesh-widths-add-up": (numd("", "+ x.mesh w=1 n=1500\n+ x.mesh w=1 n=1500\n"
                                    "+ x.mesh w=1 n=1500\n"), 5, "more than 2000 x mesh"),
    "mesh-circuit-total": (HEAD.replace("D1 2 0 MPN", "".join(
        f"D{k} 2 0 MPN\n" for k in range(1, 7))).replace("level=1", "level=2")
        + "+ x.mesh loc=0 n=1\n+ x.mesh loc=1 n=40\n+ y.mesh loc=0 n=1\n+ y.mesh loc=1 n=50\n"
        + BODY, 9, "add up to more than 10000 mesh nodes"),
    "mesh-2d-huge": (numd("", "+ x.mesh loc=0 n=1\n+ x.mesh loc=1 n=200\n"
                              "+ y.mesh loc=0 n=1\n+ y.mesh loc=1 n=200\n").replace(
                                  "level=1", "level=2"), 5, "200 x 200 = 40000 nodes, more than 2000"),
    "mesh-auto-spacing-huge": (numd("", "+ x.mesh loc=0 n=1\n+ x.mesh w=1 h.start=1e-9\n"), 5,
                               "gives up to 1e+09 mesh lines, more than 2000"),
    "mesh-auto-spacing-three-h": (numd("", "+ x.mesh loc=0 n=1\n"
                                           "+ x.mesh w=1 h.s=0.1 h.e=0.1 h.m=0.2\n"), 5,
                                  "h.max= with one of them only"),
    "mesh-number-and-ratio": (numd("", "+ x.mesh loc=0 n=1\n+ x.mesh w=1 n=5 r=2\n"), 5,
                              "not both"),
    "mesh-no-number": (numd("", "+ x.mesh loc=0 n=1\n+ x.mesh loc=1\n"), 5,
                       "give number= (uniform spacing) or the automatic spacing"),
    "mesh-backwards": (numd("", "+ x.mesh loc=5 n=1\n+ x.mesh loc=1 n=9\n"), 5,
                       "locations must increase"),
    "mesh-none": (HEAD + BODY, 5, "needs x.mesh cards"),
    "mesh-y-in-1d": (numd("+ y.mesh loc=0 n=1\n+ y.mesh loc=1 n=3\n"), 5,
                     "y.mesh cards in a one-dimensional model"),
    "electrode-index-beyond-mesh": (numd("+ electrode num=1 ix.l=1 ix.h=50\n"), 5,
                                    "ix.high=50 is beyond the 21 x mesh lines"),
    "too-many-cards": (numd("+ models srh\n" * 201), 206, "more than 200 CIDER cards"),
    "value-huge": (numd("+ doping uniform n.type conc=1e31\n"), 10, "beyond 1e+30"),
    "value-overflow": (numd("+ doping uniform n.type conc=1e400\n"), 10,
                       "expected a number, got '1e400'"),
    "value-infinite-word": (numd("+ doping uniform n.type conc=inf\n"), 10,
                            "expected a number"),
    "material-id-huge": (numd("+ material num=100000 oxide\n"), 10,
                         "must be a whole number from 1 to 100"),
    # grammar
    "card-unknown": (numd("+ shell rm -rf x\n"), 10, "unknown CIDER card 'shell'"),
    "card-ambiguous": (numd("+ m num=1\n"), 10, "CIDER card 'm' is ambiguous"),
    "card-dot-control": (numd("+ .control\n"), 10, "invalid CIDER card name"),
    "param-unknown": (numd("+ models srh system\n"), 10, "unknown models parameter 'system'"),
    "param-ambiguous": (numd("+ doping uniform n.type c=1\n"), 10, "is ambiguous"),
    "param-twice-alias": (numd("+ doping uniform n.type conc=1 peak.conc=2\n"), 10,
                          "conc given twice"),
    "two-profiles": (numd("+ doping uniform gaussian n.type conc=1\n"), 10,
                     "sets both uniform and gaussian"),
    "flag-with-value": (numd("+ doping uniform=1 n.type\n"), 10, "is a flag and takes no"),
    "inverted-kind-flag": (numd("+ doping ^uniform n.type\n"), 10,
                           "'^name' only on models and output cards"),
    "word-value-path": (numd("+ mobility material=1 concmodel=/bin/sh\n"), 10,
                        "file paths are refused"),
    "word-value-unknown": (numd("+ mobility material=1 concmodel=shell\n"), 10,
                           "concmodel must be one of ct, ar, uf, sg, ga"),
    "expression-braces": (numd("+ doping uniform n.type conc={1e16*2}\n"), 10,
                          "expressions are not supported in CIDER cards"),
    "expression-quotes": (numd("+ doping uniform n.type conc='1e16'\n"), 10,
                          "expressions are not supported"),
    "semicolon": (numd("+ models srh `id`\n"), 10, "character '`' refused"),
    "continuation-after-comment": (numd("+ * a comment\n++ x.mesh loc=2 n=30\n"), 11,
                                   "'++' continuation with no CIDER card before it"),
    "nested-continuation-file": (numd("+ doping uniform n.type conc=1\n++ x.l=0\n"
                                      "+++ infile=profile\n"), 12, "infile refused"),
    "end-then-cards": (numd("+ end\n+ doping ascii infile=x\n"), 10, "cards after the end card"),
    "model-line-params": (numd("").replace("numd level=1", "numd level=1 x.mesh"), 5,
                          "only level= may follow the type"),
    "model-level-3": (numd("").replace("level=1", "level=3"), 5, "LEVEL must be one of 1 2"),
    "model-on-wrong-element": (numd("").replace("D1 2 0 MPN", "Q1 1 2 0 MPN"), 4,
                               "is a NUMD model (numerical diode, used by D elements)"),
    "nbjt-substrate-node": (HEAD.replace("D1 2 0 MPN", "Q1 1 2 0 0 MPN").replace("numd",
                                                                               "nbjt")
                            + MESH + BODY, 4, "takes 3 nodes"),
}

CASES = []
for key, (text, line, fragment) in NETLISTS.items():
    for extra in ([], ["--allow-unsafe"]):
        CASES.append(Case(f"cider-{key}{'-unsafe' if extra else ''}",
                          ["import", "net.cir", "-o", "spec.yaml", *extra], {"net.cir": text},
                          error=(f"net.cir:{line}", fragment)))

SPEC_HEAD = ("name: t\nkind: graph\nmodels:\n  MPN: {MODEL}\nelements:\n"
             "  - {name: V1, nodes: ['1', '0'], dc: 1.0}\n"
             "  - {name: R1, nodes: ['1', '2'], r: 1000.0}\n"
             "  - {ELEMENT}\n")
D_OK = "name: D1, nodes: ['2', '0'], model: MPN"
CARDS_OK = "'x.mesh location=0.0 number=1', 'x.mesh location=1.0 number=21'"
SPECS = {
    "spec-card-newline": (f"{{type: NUMD, LEVEL: 1, cards: [{CARDS_OK}, "
                          "\"models srh\\n.control\"]}", D_OK, 4, "character '\\n' refused"),
    "spec-card-infile": (f"{{type: NUMD, LEVEL: 1, cards: [{CARDS_OK}, "
                         "'doping uniform infile=x']}", D_OK, 4, "infile refused"),
    "spec-card-rootfile": (f"{{type: NUMD, LEVEL: 1, cards: [{CARDS_OK}, "
                           "'output rootfile=x']}", D_OK, 4, "rootfile refused"),
    "spec-mesh-huge": ("{type: NUMD, LEVEL: 1, cards: ['x.mesh location=0 number=1', "
                       "'x.mesh location=1 number=2000', 'x.mesh width=1 number=5']}", D_OK, 4,
                       "more than 2000 x mesh lines"),
    "spec-model-key": (f"{{type: NUMD, LEVEL: 1, cards: [{CARDS_OK}], shell: 1}}", D_OK, 4,
                       "unknown key 'shell'"),
    "spec-no-mesh": ("{type: NUMD, LEVEL: 1, cards: ['doping uniform n.type conc=1']}", D_OK, 4,
                     "models.MPN: needs x.mesh cards"),
    "spec-level": (f"{{type: NUMD, LEVEL: '1', cards: [{CARDS_OK}]}}", D_OK, 4,
                   "LEVEL must be one of 1 2"),
    "spec-cards-not-list": ("{type: NUMD, LEVEL: 1, cards: 'x.mesh'}", D_OK, 4,
                            "must be a list"),
    "spec-instance-param": (f"{{type: NUMD, LEVEL: 1, cards: [{CARDS_OK}]}}",
                            D_OK + ", temp: 30.0", 8, "unknown key 'temp'"),
}
for key, (model, element, line, fragment) in SPECS.items():
    text = SPEC_HEAD.replace("{MODEL}", model).replace("{ELEMENT}", "{" + element + "}")
    for command in (["export", "t.yaml", "-o", "t.cir"],
                    ["simulate", "t.yaml", "--input", "", "--backend", "ngspice"]):
        CASES.append(Case(f"cider-{key}-{command[0]}", command, {"t.yaml": text},
                          error=(f"t.yaml:{line}", fragment)))
