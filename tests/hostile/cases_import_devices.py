"""Hostile netlists and specs for the ngspice-only devices beyond M Q J Z: SOI MOSFETs (5 to 7
nodes), bipolar transistors with a thermal node, switches S/W and their SW/CSW models,
transmission lines T (lossless), O (LTRA) and Y (TXL) and their models.

Switch models with unknown or out-of-range parameters, line parameters that try to escape
(expressions calling functions, file paths, card injection), flags choosing an initial state,
node counts the model cannot take: each is refused with one line naming the file, the line
and the reason; nothing is written.
"""

from hostile import Case

HEAD = "t\nVDD vdd 0 DC 3\nVC c 0 DC 1\nR1 vdd a 1k\n"
SM = ".model SM SW(VT=1 VH=0.1 RON=1 ROFF=1meg)\n"
S1 = "S1 a 0 c 0 SM\n"
NM = ".model NM NMOS(LEVEL=1 VTO=0.7 KP=1e-4)\n"
SOI = ".model NS NMOS(LEVEL=57)\n"

NETLISTS = {
    "switch-model-unknown-param": (HEAD + ".model SM SW(VT=1 SHELL=1)\n" + S1, 5,
                                   "unsupported voltage-controlled switch model parameter "
                                   "'SHELL'"),
    "switch-model-level": (HEAD + ".model SM SW(LEVEL=2)\n" + S1, 5, "parameter 'LEVEL'"),
    "switch-model-ron-zero": (HEAD + ".model SM SW(RON=0)\n" + S1, 5, "RON=0.0 is out of range"),
    "switch-model-roff-huge": (HEAD + ".model SM SW(ROFF=1e300)\n" + S1, 5, "out of range"),
    "switch-model-vt-huge": (HEAD + ".model SM SW(VT=1e12)\n" + S1, 5, "VT=1000000000000.0"),
    "switch-model-path": (HEAD + ".model SM SW(VT=/etc/passwd)\n" + S1, 5, "malformed value"),
    "switch-model-call": (HEAD + ".model SM SW(VT={system(1)})\n" + S1, 5,
                          "function 'system' is not allowed"),
    "switch-model-flag": (HEAD + ".model SM SW(VT=1 ON)\n" + S1, 5, "expected PARAM=value"),
    "cswitch-model-vt": (HEAD + ".model WM CSW(VT=1)\nVS s 0 0\nRS c s 1k\nW1 a 0 VS WM\n", 5,
                         "current-controlled switch model parameter 'VT'"),
    "switch-flag-on": (HEAD + SM + "S1 a 0 c 0 SM ON\n", 6, "instance flag 'ON'"),
    "switch-instance-param": (HEAD + SM + "S1 a 0 c 0 SM m=2\n", 6,
                              "instance parameter 'm'"),
    "switch-too-few-nodes": (HEAD + SM + "S1 a 0 c SM\n", 6, "expected 5 words"),
    "switch-model-is-diode": (HEAD + ".model SM D(IS=1e-14)\n" + S1, 6, "of type D"),
    "switch-model-unknown": (HEAD + S1, 5, "unknown model 'SM'"),
    "cswitch-control-missing": (HEAD + ".model WM CSW(IT=1m)\nW1 a 0 VNONE WM\n", 6,
                                "VNONE"),
    "cswitch-control-injection": (HEAD + ".model WM CSW(IT=1m)\nW1 a 0 V`id` WM\n", 6,
                                  "invalid element name"),
    "line-expression-call": (HEAD + "T1 a 0 b 0 z0={exec(1)} td=1n\nRL b 0 1k\n", 5,
                             "function 'exec' is not allowed"),
    "line-file-path": (HEAD + "T1 a 0 b 0 z0=50 td=/etc/passwd\nRL b 0 1k\n", 5,
                       "malformed value"),
    "line-card-injection": (HEAD + "T1 a 0 b 0 z0=50 td={1}\n.control=1\nRL b 0 1k\n", 6,
                            "card .control=1 refused"),
    "line-quote-escape": (HEAD + "T1 a 0 b 0 z0='50\nRL b 0 1k\n", 5, "unclosed group"),
    "line-ic": (HEAD + "T1 a 0 b 0 z0=50 td=1n ic=1,0,1,0\nRL b 0 1k\n", 5,
                "instance parameter 'ic'"),
    "line-no-delay": (HEAD + "T1 a 0 b 0 z0=50\nRL b 0 1k\n", 5, "exactly one of td="),
    "line-both-delays": (HEAD + "T1 a 0 b 0 z0=50 td=1n f=1meg\nRL b 0 1k\n", 5,
                         "exactly one of td="),
    "line-negative-z0": (HEAD + "T1 a 0 b 0 z0=-50 td=1n\nRL b 0 1k\n", 5,
                         "z0 must be positive"),
    "line-huge-delay": (HEAD + "T1 a 0 b 0 z0=50 td=1e9\nRL b 0 1k\n", 5, "out of range"),
    "line-with-model": (HEAD + SM + "T1 a 0 b 0 SM z0=50 td=1n\nRL b 0 1k\n", 6,
                        "expected 4 words"),
    "ltra-unknown-flag": (HEAD + ".model LL LTRA(R=1 L=1n C=1p LEN=1 NOPRINT)\n"
                          "O1 a 0 b 0 LL\nRL b 0 1k\n", 5, "expected PARAM=value"),
    "ltra-flag-value": (HEAD + ".model LL LTRA(R=1 L=1n C=1p LEN=1 STEPLIMIT=5)\n"
                        "O1 a 0 b 0 LL\nRL b 0 1k\n", 5, "STEPLIMIT is a flag"),
    "ltra-flag-twice": (HEAD + ".model LL LTRA(LEN=1 STEPLIMIT steplimit)\n"
                        "O1 a 0 b 0 LL\nRL b 0 1k\n", 5, "given twice"),
    "ltra-len-expression": (HEAD + ".model LL LTRA(LEN={system(1)})\nO1 a 0 b 0 LL\n"
                            "RL b 0 1k\n", 5, "function 'system' is not allowed"),
    "ltra-instance-param": (HEAD + ".model LL LTRA(LEN=1)\nO1 a 0 b 0 LL len=2\nRL b 0 1k\n",
                            6, "instance parameter 'len'"),
    "txl-path": (HEAD + ".model YM TXL(LENGTH=./x.lib)\nY1 a 0 b 0 YM\nRL b 0 1k\n", 5,
                 "malformed value"),
    "txl-negative-r": (HEAD + ".model YM TXL(R=-1 LENGTH=1)\nY1 a 0 b 0 YM\nRL b 0 1k\n", 5,
                       "out of range"),
    "soi-nodes-on-bulk-model": (HEAD + NM + "M1 a c 0 0 0 NM\n", 6,
                                "more than 4 nodes needs an SOI model"),
    "soi-eight-nodes": (HEAD + SOI + "M1 a c 0 0 b1 b2 b3 b4 NS\n", 6, "at most 7 nodes"),
    "soi3-seven-nodes": (HEAD + ".model NS NMOS(LEVEL=60)\nM1 a c 0 0 b1 b2 b3 NS\n", 6,
                         "LEVEL=60 takes at most 6 nodes"),
    "soi-param-on-bulk-model": (HEAD + NM + "M1 a c 0 0 NM rth0=1\n", 6,
                                "'rth0' needs an SOI model"),
    "soi-debug-fraction": (HEAD + SOI + "M1 a c 0 0 NS debug=0.5\n", 6,
                           "debug must be a whole number"),
    "bjt-thermal-on-gummel-poon": (HEAD + ".model QN NPN(BF=100)\nQ1 a c 0 0 dt QN\n", 6,
                                   "needs a VBIC or HICUM model"),
}

CASES = []
for key, (text, line, fragment) in NETLISTS.items():
    for extra in ([], ["--allow-unsafe"]):
        CASES.append(Case(f"import-device-{key}{'-unsafe' if extra else ''}",
                          ["import", "net.cir", "-o", "spec.yaml", *extra], {"net.cir": text},
                          error=(f"net.cir:{line}", fragment)))

SPEC_HEAD = ("name: t\nkind: graph\nmodels:\n  SM: {MODEL}\nelements:\n"
             "  - {name: VDD, nodes: [vdd, '0'], dc: 3.0}\n"
             "  - {name: RD, nodes: [vdd, out], r: 1000.0}\n"
             "  - {ELEMENT}\n")
S_OK = "name: S1, nodes: [out, '0', vdd, '0'], model: SM"
SPECS = {
    "spec-switch-param-newline": ("{type: SW, VT: \"1\\n.control\"}", S_OK, 4,
                                  "must be a finite number"),
    "spec-switch-param-unknown": ("{type: SW, SHELL: 1.0}", S_OK, 4,
                                  "model parameter 'SHELL'"),
    "spec-switch-ron-negative": ("{type: SW, RON: -1.0}", S_OK, 4, "out of range"),
    "spec-line-expression": ("{type: SW}", "name: T1, nodes: [out, '0', vdd, '0'], z0: "
                             "'{exec(1)}', td: 1.0e-9", 8, "z0"),
    "spec-line-model": ("{type: SW}", "name: T1, nodes: [out, '0', vdd, '0'], model: SM, "
                        "z0: 50.0, td: 1.0e-9", 8, "unknown key 'model'"),
    "spec-cswitch-control-injection": ("{type: CSW}", "name: W1, nodes: [out, '0'], "
                                       "control: \"VDD\\n.control\", model: SM", 8,
                                       "controlling source name"),
    "spec-cswitch-no-control": ("{type: CSW}", "name: W1, nodes: [out, '0'], model: SM", 8,
                                "control"),
}
for key, (model, element, line, fragment) in SPECS.items():
    text = SPEC_HEAD.replace("{MODEL}", model).replace("{ELEMENT}", "{" + element + "}")
    for command in (["export", "t.yaml", "-o", "t.cir"],
                    ["simulate", "t.yaml", "--input", "", "--backend", "ngspice"]):
        CASES.append(Case(f"import-device-{key}-{command[0]}", command, {"t.yaml": text},
                          error=(f"t.yaml:{line}", fragment)))
