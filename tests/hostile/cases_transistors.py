"""Hostile netlists and specs for transistors (M Q J Z) and their models (issue 21 part 2).

Injection through model parameter names and values, instance parameters and flags, LEVEL and
VERSION abuse, model-type confusion and huge parameter counts: each is refused with one line
naming the file, the line and the reason; nothing is written.
"""

from hostile import Case

HEAD = "t\nVDD vdd 0 DC 3\nVIN in 0 DC 1\nRD vdd out 10k\n"
NM = ".model NM NMOS(LEVEL=1 VTO=0.7 KP=1e-4)\n"
M1 = "M1 out in 0 0 NM w=1u l=1u\n"

NETLISTS = {
    "model-param-name-injection": (HEAD + ".model NM NMOS(LEVEL=1 VTO`id`=0.7)\n" + M1, 5,
                                   "expected PARAM=value"),
    "model-param-name-dot-card": (HEAD + ".model NM NMOS(LEVEL=1 .control=1)\n" + M1, 5,
                                  "expected PARAM=value"),
    "model-param-name-underscore": (HEAD + ".model NM NMOS(VT_O=0.7)\n" + M1, 5,
                                    "parameter name 'VT_O' refused"),
    "model-param-name-long": (HEAD + ".model NM NMOS(" + "A" * 17 + "=1)\n" + M1, 5,
                              "at most 16 characters"),
    "model-param-type": (HEAD + ".model NM NMOS(TYPE=1)\n" + M1, 5, "parameter name 'TYPE'"),
    "model-param-value-word": (HEAD + ".model NM NMOS(VTO=shell)\n" + M1, 5,
                               "malformed value 'shell'"),
    "model-param-value-call": (HEAD + ".model NM NMOS(VTO={system(1)})\n" + M1, 5,
                               "function 'system' is not allowed"),
    "model-param-value-huge": (HEAD + ".model NM NMOS(KP=1e300)\n" + M1, 5,
                               "beyond the limit"),
    "model-param-value-overflow": (HEAD + ".model NM NMOS(KP={1e200*1e200})\n" + M1, 5,
                                   "cannot evaluate"),
    "model-param-twice": (HEAD + ".model NM NMOS(VTO=1 vto=2)\n" + M1, 5, "given twice"),
    "model-flag": (HEAD + ".model NM NMOS(LEVEL=1 noise)\n" + M1, 5, "expected PARAM=value"),
    "model-too-many-params": (HEAD + ".model NM NMOS(" + " ".join(
        f"P{i}=1" for i in range(1001)) + ")\n" + M1, 5, "more than 1000"),
    "level-unknown": (HEAD + ".model NM NMOS(LEVEL=99)\n" + M1, 5, "LEVEL=99 is not a MOSFET"),
    "level-fraction": (HEAD + ".model NM NMOS(LEVEL=1.5)\n" + M1, 5, "LEVEL must be an integer"),
    "level-negative": (HEAD + ".model NM NMOS(LEVEL=-1)\n" + M1, 5, "LEVEL=-1 is not"),
    "level-huge": (HEAD + ".model NM NMOS(LEVEL=1e300)\n" + M1, 5, "LEVEL must be an integer"),
    "level-bjt-on-jfet": (HEAD + ".model JN NJF(LEVEL=4)\nJ1 vdd in out JN\n", 5,
                          "LEVEL=4 is not a JFET level"),
    "version-injection": (HEAD + ".model NM NMOS(LEVEL=54 VERSION=4.8.1.2)\n" + M1, 5,
                          "VERSION"),
    "model-type-vdmos": (HEAD + ".model NM VDMOS(VTO=1)\n" + M1, 6, "of type VDMOS"),
    "model-type-swapped": (HEAD + ".model NM NPN(BF=100)\n" + M1, 6, "of type NPN"),
    "model-unknown": (HEAD + M1, 5, "unknown model 'NM'"),
    "diode-model-on-mosfet": (HEAD + ".model NM D(IS=1e-14)\n" + M1, 6, "of type D"),
    "instance-ic": (HEAD + NM + "M1 out in 0 0 NM w=1u ic=1,2\n", 6,
                    "instance parameter 'ic'"),
    "instance-off": (HEAD + NM + "M1 out in 0 0 NM off\n", 6, "instance flag 'off'"),
    "instance-unknown": (HEAD + NM + "M1 out in 0 0 NM w=1u shell=1\n", 6,
                         "instance parameter 'shell'"),
    "instance-negative-width": (HEAD + NM + "M1 out in 0 0 NM w=-1u\n", 6,
                                "w must be positive"),
    "instance-huge-multiplier": (HEAD + NM + "M1 out in 0 0 NM m=1e12\n", 6, "out of range"),
    "instance-value-injection": (HEAD + NM + "M1 out in 0 0 NM w={exec(1)}\n", 6,
                                 "function 'exec' is not allowed"),
    "instance-division": (HEAD + NM + "M1 out in 0 0 NM w={1/0}\n", 6, "division by zero"),
    "too-few-nodes": (HEAD + NM + "M1 out in NM\n", 6, "needs 4 nodes"),
    "bjt-extra-words": (HEAD + ".model QN NPN\nQ1 out in 0 QN 1 2\n", 6, "unexpected"),
    "node-injection": (HEAD + NM + "M1 out in`id` 0 0 NM\n", 6, "invalid node name"),
    "bin-level1": (HEAD + ".model NM.1 NMOS(LMIN=0 LMAX=1)\nM1 out in 0 0 NM w=1u l=1u\n", 6,
                   "ngspice bins only BSIM3/BSIM4"),
    "bin-none-fits": (HEAD + ".model NM.1 NMOS(LEVEL=54 LMIN=1 LMAX=2)\n" + M1, 6,
                      "fit 0 bins"),
    "scale-negative": (HEAD + ".options scale=-1\n" + NM + M1, 5, "scale must be positive"),
    "soi-five-nodes": (HEAD + NM + "M1 out in 0 0 0 NM\n", 6, "more than 4 nodes"),
    "mesfet-instance-temp": (HEAD + ".model ZN NMF(LEVEL=1)\nZ1 out in 0 ZN temp=27\n", 6,
                             "instance parameter 'temp'"),
}

CASES = []
for key, (text, line, fragment) in NETLISTS.items():
    for extra in ([], ["--allow-unsafe"]):
        CASES.append(Case(f"transistor-{key}{'-unsafe' if extra else ''}",
                          ["import", "net.cir", "-o", "spec.yaml", *extra], {"net.cir": text},
                          error=(f"net.cir:{line}", fragment)))

SPEC_HEAD = ("name: t\nkind: graph\nmodels:\n  NM: {MODEL}\nelements:\n"
             "  - {name: VDD, nodes: [vdd, '0'], dc: 3.0}\n"
             "  - {name: RD, nodes: [vdd, out], r: 1000.0}\n"
             "  - {ELEMENT}\n")
M_OK = "name: M1, nodes: [out, vdd, '0', '0'], model: NM"
SPECS = {
    "spec-param-newline": ("{type: NMOS, VTO: \"0.7\\n.control\"}", M_OK, 4,
                           "must be a finite number"),
    "spec-param-name": ("{type: NMOS, \"VTO\\nshell\": 1.0}", M_OK, 4,
                        "invalid parameter name"),
    "spec-version-injection": ("{type: NMOS, LEVEL: 54, VERSION: \"4.7 .control\"}", M_OK, 4,
                               "VERSION must be a version number"),
    "spec-level-abuse": ("{type: NMOS, LEVEL: 100000}", M_OK, 4, "got 100000"),
    "spec-instance-ic": ("{type: NMOS}", M_OK + ", ic: 1.0", 8, "unknown key 'ic'"),
    "spec-model-type": ("{type: VDMOS}", M_OK, 4, "models.NM.type must be D"),
}
for key, (model, element, line, fragment) in SPECS.items():
    text = SPEC_HEAD.replace("{MODEL}", model).replace("{ELEMENT}", "{" + element + "}")
    for command in (["export", "t.yaml", "-o", "t.cir"],
                    ["simulate", "t.yaml", "--input", "", "--backend", "ngspice"]):
        CASES.append(Case(f"transistor-{key}-{command[0]}", command, {"t.yaml": text},
                          error=(f"t.yaml:{line}", fragment)))
