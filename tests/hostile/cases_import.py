"""Hostile netlists for the importer's issue-21 constructs (vendor names, .global, .temp,
instance parameters, sources, Latin-1): each is refused with one line naming the file and line.

.func bodies may only call functions defined before them (no recursion) and expand within
1000 characters (doubling bombs refused); .if conditions are constant expressions over
earlier .param values, nested at most 16 deep.
"""

from hostile import Case

HEAD = "t\nV1 a 0 DC 1\nR1 a b 1k\nR2 b 0 1k\n"
NETLISTS = {
    "func-recursion-bomb": (HEAD + ".func f(x) {f(x)+f(x)}\nR3 b 0 {f(1)}\n", 5,
                            "no recursion"),
    "func-mutual-recursion": (HEAD + ".func g(x) {h(x)}\n.func h(x) {g(x)}\n", 5,
                              "no recursion"),
    "func-doubling-bomb": (HEAD + ".func f0(x) {x}\n" + "".join(
        f".func f{i}(x) {{f{i - 1}(x)*f{i - 1}(x)}}\n" for i in range(1, 40))
        + "R3 b 0 {f39(1)}\n", 45, "expand to more than 1000 characters"),
    "func-in-subckt": (HEAD + ".subckt S p\n.func f(x) {x}\nR1 p 0 1\n.ends\n", 6,
                       ".func inside a subcircuit"),
    "func-shadows-builtin": (HEAD + ".func exp(x) {x}\n", 5, "built-in function"),
    "func-wrong-arguments": (HEAD + ".func f(x) {x}\nR3 b 0 {f(1, 2)}\n", 6,
                             "2 arguments, expected 1"),
    "if-depth": (HEAD + ".if (1)\n" * 200 + ".endif\n" * 200, 21, "nested deeper than 16"),
    "if-unknown-parameter": (HEAD + ".if (later > 1)\nR9 a 0 1\n.endif\n.param later=2\n", 5,
                             "cannot evaluate"),
    "if-not-closed": (HEAD + ".if (1)\nR9 a 0 1\n", 5, "no .endif"),
    "if-else-twice": (HEAD + ".if (0)\n.else\n.else\n.endif\n", 7, "after .else"),
    "endif-alone": (HEAD + ".endif\n", 5, "without a matching .if"),
    "if-in-subckt": (HEAD + ".subckt S p\n.if (1)\nR1 p 0 1\n.endif\n.ends\n", 6,
                     "inside a subcircuit"),
    "if-condition-call": (HEAD + ".if (system(1))\n.endif\n", 5, "function 'system'"),
    "global-in-subckt": (HEAD + ".subckt S p\n.global p\nR1 p 0 1\n.ends\nX1 a S\n", 6,
                         "only allowed at the top level"),
    "global-pin": (HEAD + ".global n\n.subckt S n\nR1 n 0 1\n.ends\nX1 a S\n", 9,
                   "is a .global node"),
    "global-injection": (HEAD + ".global a|sh\n", 5, "invalid node name"),
    "node-map-injection": (HEAD + "R3 b+`id` 0 1k\n", 5, "invalid node name"),
    "node-map-newline-lookalike": (HEAD + "R3 b+\u2028 0 1k\n", 5, "non-ASCII"),
    "model-name-injection": (HEAD + ".model 1N$(id) D(IS=1e-14)\n", 5, "invalid model name"),
    "latin1-in-code": (HEAD.encode() + b"R3 b\xe9 0 1k\n", 5, "non-ASCII character"),
    "latin1-in-value": (HEAD.encode() + b"R3 b 0 1k\xb5\n", 5, "non-ASCII character"),
    "temp-two-values": (HEAD + ".temp 27 85\n", 5, ".temp takes one temperature"),
    "dot-temp-below-zero": (HEAD + ".temp -300\n", None, "options.temp"),
    "tc-away-from-tnom": (HEAD + "R3 b 0 1k tc1=1\n.temp 85\n", 5, "tc1=1 changes the value"),
    "instance-temp": (HEAD + "R3 b 0 1k dtemp=5\n", 5, "unsupported instance parameter"),
    "multiplier-zero": (HEAD + "R3 b 0 1k m=0\n", 5, "must be positive"),
    "pulse-negative-delay": ("t\nV1 a 0 PULSE(0 1 -1u)\nR1 a 0 1k\n", 2, "negative delay"),
    "pwl-negative-td": ("t\nV1 a 0 PWL(0 1 1u 2) td=-1u\nR1 a 0 1k\n", 2, "must not be negative"),
    "sin-option": ("t\nV1 a 0 SIN(0 1 1k) td=1\nR1 a 0 1k\n", 2, "SIN option td="),
    "source-trnoise": ("t\nV1 a 0 TRNOISE(1 1 0 0 0 0 0 1)\nR1 a 0 1k\n", 2, "TRNOISE takes 2 to 7"),
    "shell-outside-control": (HEAD + "shell touch {marker}\n", 5, "control command"),
    "exec-unsafe": (HEAD + ".exec touch {marker}\n", 5, "card .exec refused"),
    "unknown-card-unsafe": (HEAD + ".foo touch {marker}\n", 5, "card .foo refused"),
    "rc-line-used": (HEAD + ".model U1M URC\nU1 a b 0 U1M\n", 6, "unsupported element U1"),
    "diode-with-bjt-model": (HEAD + ".model QN NPN\nD1 a b QN\n", 6, "not a diode"),
}

CASES = []
for key, (text, line, fragment) in NETLISTS.items():
    for extra in ([], ["--allow-unsafe"]):
        CASES.append(Case(f"import-{key}{'-unsafe' if extra else ''}",
                          ["import", "net.cir", "-o", "spec.yaml", *extra], {"net.cir": text},
                          error=(f"net.cir:{line}" if line else "net.cir", fragment)))
