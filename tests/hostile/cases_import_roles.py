"""Hostile role options of ``eqprop-hw import`` (issue 21, part 3): ``--inputs``,
``--outputs``, ``--trainable``, ``--data`` given by someone else. Each is refused with one line
naming the netlist, the option and the name, and no spec is written (``-o spec.yaml``).

Pattern bombs (``*`` x 10000, ``[`` x 5000) are refused by length before any matching; a
pattern list whose matching work (patterns x elements, repeated by the spec loader) is beyond
the bound is refused before matching; names with control, white-space or non-ASCII
characters are refused, never stripped or case-folded into another name (``ſ`` upper-cases
to ``S`` in Python); thousands of names stop at the first bad one or at the count limit.
"""

from hostile import Case

NET = """\
* roles
V1 in1 0 DC 1.5
V2 in2 0 0.7
R1 in1 n3 1k
R2 in2 n3 2.2k
R3 n3 n5 4.7k
R4 n5 0 10k
D1 n5 0 DX
.model DX D(IS=1e-14)
.end
"""
#: 2001 resistors in a ladder: 1000 patterns over it is beyond the matching bound.
LADDER = "* ladder\nV1 n0 0 1\n" + "".join(f"R{k} n{k} n{k + 1} 1k\n" for k in range(2000)) \
    + "RLAST n2000 0 1k\n.end\n"


def _case(case_id, options, error, files=None):
    return Case(case_id, ["import", "net.cir", "-o", "spec.yaml", *options],
                files or {"net.cir": NET}, error)


CASES = [
    _case("roles-star-bomb", ["--trainable", "*" * 10000],
          ("--trainable: pattern", "is 10000 characters long; a pattern has at most 128")),
    _case("roles-bracket-bomb", ["--trainable", "[" * 5000],
          ("--trainable: pattern", "is 5000 characters long")),
    _case("roles-bracket-short", ["--trainable", "[[[[R*"],
          ("--trainable: pattern '[[[[R*' matches no element",)),
    _case("roles-star-a-backtracking", ["--trainable", "*A" * 60 + "*B"],
          ("--trainable: pattern", "matches no element")),
    _case("roles-negated-class-only-sources", ["--trainable", "[!R]*"],
          ("--trainable: pattern '[!R]*' matches no resistor (it matches V1, V2, D1)",)),
    _case("roles-input-bell", ["--inputs", "V1\x07"],
          ("--inputs: invalid element name", "holds the control character U+0007")),
    _case("roles-output-newline", ["--outputs", "n3\n"],
          ("--outputs: invalid node name", "U+000A (a line break)")),
    _case("roles-output-line-separator", ["--outputs", "n3\u2028"],
          ("--outputs: invalid node name", "U+2028")),
    _case("roles-input-long-s", ["--inputs", "\u017f1"],
          ("--inputs: invalid element name", "non-ASCII character U+017F")),
    _case("roles-output-injection", ["--outputs", "n3;shell touch {marker}"],
          ("--outputs: invalid node name",)),
    _case("roles-pattern-backquote", ["--trainable", "R*`id`"],
          ("--trainable: pattern", "holds the character '`'")),
    _case("roles-output-reserved-node", ["--outputs", "ynudge0"],
          ("--outputs: node 'ynudge0' is reserved",)),
    _case("roles-input-reserved-element", ["--inputs", "VNUDGE0"],
          ("--inputs: no element named 'VNUDGE0'",)),
    _case("roles-output-is-a-source", ["--outputs", "v2"],
          ("--outputs: 'v2' is an element (a voltage source), not a node",)),
    _case("roles-output-ground", ["--outputs", "n5,0"],
          ("--outputs: '0' is ground",)),
    _case("roles-input-is-a-diode", ["--inputs", "D1"],
          ("--inputs: 'D1' is a diode, not an independent source",)),
    _case("roles-input-too-long", ["--inputs", "V" * 200],
          ("--inputs: invalid element name", "is 200 characters long")),
    _case("roles-thousands-of-unknown-names", ["--inputs", ",".join(f"X{k}" for k in
                                                                  range(5000))],
          ("--inputs: no element named 'X0'",)),
    _case("roles-thousands-of-repeats", ["--outputs", ",".join(["n3"] * 5000)],
          ("--outputs: 'n3' is given twice",)),
    _case("roles-too-many-names", ["--outputs", ",".join(["n3"] * 100_001)],
          ("--outputs: more than 100000 nodes",)),
    _case("roles-empty-name", ["--trainable", "R1,,R2"],
          ("--trainable: pattern 2 is empty",)),
    _case("roles-pattern-work", ["--trainable", ",".join(f"R{k}*" for k in range(1000))],
          ("--trainable: 1000 names or patterns over 2002 elements",
           "more than 2,000,000 comparisons"), {"net.cir": LADDER}),
    _case("roles-data-unknown", ["--data", "../../etc/passwd"],
          ("--data: unknown data set '../../etc/passwd'",)),
    _case("roles-data-path-newline", ["--data", "mnist:x\ny: 1"],
          ("--data: path", "U+000A (a line break)")),
    _case("roles-data-path-long", ["--data", "mnist:" + "a" * 5000],
          ("--data: path of 5000 characters; at most 4096",)),
]
