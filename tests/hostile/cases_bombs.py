"""Resource bombs in specs and netlists: YAML alias expansion, nesting, size; netlist size,
devices, FIFOs, continuation chains, subcircuit and include nesting, parameter overflow.

Each must be refused quickly with one line naming the file and the limit (the harness runs the
command in-process: a case that hangs or exhausts memory fails the whole run).
"""

from hostile import Case, forge

SPEC_HEAD = "name: b\nkind: layered\nlayers: [2, 2]\n"


def _laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int = 24) -> str:
    lines = ["m0: &m0 {k0: 1}"]
    for level in range(1, levels + 1):
        lines.append(f"m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}], "
                     f"k{level}: 1}}")
    return "\n".join(lines) + "\n"


def _big_spec(path):
    """A valid-looking spec padded past 32 MiB with a comment."""
    with open(path, "w") as handle:
        handle.write(SPEC_HEAD + "# " + "x" * (33 * 2**20) + "\n")


def _subckt_chain(depth: int = 40) -> str:
    lines = ["t", "V1 a 0 DC 1", "R0 a b 1k"]
    for level in range(depth):
        lines.append(f".subckt s{level} p q")
        lines.append(f"X{level} p q s{level + 1}" if level + 1 < depth else "R1 p q 1k")
        lines.append(".ends")
    lines += ["XTOP b 0 s0", ".end"]
    return "\n".join(lines) + "\n"


def _subckt_fanout(levels: int = 12) -> str:
    """Each subcircuit instantiates the next twice: 2^12 resistors from 40 lines ... and
    2^40 with 40 levels (the element cap must stop it, not memory)."""
    lines = ["t", "V1 a 0 DC 1", "R0 a b 1k"]
    for level in range(levels):
        if level + 1 < levels:
            lines += [f".subckt f{level} p q", f"XA p q f{level + 1}", f"XB p q f{level + 1}",
                      ".ends"]
        else:
            lines += [f".subckt f{level} p q", "R1 p q 1meg", ".ends"]
    lines += ["XTOP b 0 f0", ".end"]
    return "\n".join(lines) + "\n"


def _include_chain(path):
    folder = path.parent
    for level in range(12):
        (folder / f"inc{level}.cir").write_text(f".include inc{level + 1}.cir\nR{level} a 0 1k\n")
    (folder / "inc12.cir").write_text("R99 a 0 1k\n")
    path.write_text("t\nV1 a 0 DC 1\n.include inc0.cir\n.end\n")


CASES = [
    # -- YAML ---------------------------------------------------------------------------------
    Case("yaml-billion-laughs", ["describe", "spec.yaml"],
         {"spec.yaml": SPEC_HEAD + _laughs()}, error=("aliases expand", "1,000,000")),
    Case("yaml-laughs-in-simulate", ["simulate", "spec.yaml", "--input", "1,0"],
         {"spec.yaml": SPEC_HEAD + _laughs() + "description: *a9\n"},
         error=("aliases expand",)),
    Case("yaml-merge-key-bomb", ["export", "spec.yaml"],
         {"spec.yaml": SPEC_HEAD + _merge_bomb()}, error=("spec.yaml",)),
    Case("yaml-deep-sequence", ["describe", "spec.yaml"],
         {"spec.yaml": SPEC_HEAD + "x: " + "[" * 5000 + "]" * 5000 + "\n"},
         error=("nested deeper than 64",)),
    Case("yaml-deep-mapping", ["describe", "spec.yaml"],
         {"spec.yaml": SPEC_HEAD + "x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"},
         error=("nested deeper than 64",)),
    Case("yaml-deep-block", ["describe", "spec.yaml"],
         {"spec.yaml": SPEC_HEAD + "".join("  " * i + f"k{i}:\n" for i in range(200))},
         error=("nested deeper than 64",)),
    Case("yaml-over-32-mib", ["describe", "spec.yaml"], {"spec.yaml": _big_spec},
         error=("too large", "32 MiB")),
    Case("yaml-sparse-40-mib", ["describe", "spec.yaml"],
         {"spec.yaml": forge.sparse(40 * 2**20)}, error=("too large",)),
    Case("yaml-dev-zero", ["describe", "spec.yaml"],
         {"spec.yaml": forge.symlink_to("/dev/zero")}, error=("not a regular file",)),
    Case("yaml-fifo", ["describe", "spec.yaml"], {"spec.yaml": forge.fifo},
         error=("not a regular file",)),
    Case("yaml-folder", ["describe", "spec.yaml"], {"spec.yaml": forge.folder},
         error=("is a folder",)),
    Case("yaml-long-name-echo", ["describe", "spec.yaml"],
         {"spec.yaml": "name: \"" + "n" * 1_000_000 + "\"\nkind: layered\nlayers: [1, 1]\n"},
         error=("(1000000 characters)",)),
    Case("yaml-python-object", ["describe", "spec.yaml"],
         {"spec.yaml": SPEC_HEAD + "x: !!python/object/apply:os.system ['touch {marker}']\n"},
         error=("malformed YAML",)),
    Case("yaml-binary-tag", ["describe", "spec.yaml"],
         {"spec.yaml": SPEC_HEAD + "x: !!binary " + "QUFB" * 100 + "\n"}, error=("spec.yaml",)),
    # -- netlists given to import ---------------------------------------------------------------
    Case("netlist-over-64-mib", ["import", "net.cir"], {"net.cir": forge.sparse(65 * 2**20)},
         error=("too large",)),
    Case("netlist-dev-zero", ["import", "net.cir"], {"net.cir": forge.symlink_to("/dev/zero")},
         error=("not a regular file",)),
    Case("netlist-fifo", ["import", "net.cir"], {"net.cir": forge.fifo},
         error=("not a regular file",)),
    Case("netlist-include-fifo", ["import", "net.cir"],
         {"net.cir": "t\nV1 a 0 DC 1\n.include pipe.inc\n.end\n", "pipe.inc": forge.fifo},
         error=("not a regular file",), names="pipe.inc"),
    Case("netlist-subckt-depth", ["import", "net.cir", "-o", "spec.yaml"],
         {"net.cir": _subckt_chain()}, error=("deeper",)),
    Case("netlist-subckt-fanout", ["import", "net.cir", "-o", "spec.yaml"],
         {"net.cir": _subckt_fanout(40)}, error=("net.cir",)),
    Case("netlist-subckt-fanout-under-the-old-cap", ["import", "net.cir", "-o", "spec.yaml"],
         {"net.cir": _subckt_fanout(20)}, error=("400000 elements",)),
    Case("netlist-include-depth", ["import", "net.cir", "-o", "spec.yaml"],
         {"net.cir": _include_chain}, error=("deeper",), names=""),
    Case("netlist-param-overflow", ["import", "net.cir", "-o", "spec.yaml"],
         {"net.cir": "t\n.param a=1e300*1e300\nV1 x 0 DC 1\nR1 x 0 {a}\n.end\n"},
         error=("net.cir:2",)),
    Case("netlist-param-recursion", ["import", "net.cir", "-o", "spec.yaml"],
         {"net.cir": "t\n.param a={b}\n.param b={a}\nV1 x 0 DC 1\nR1 x 0 {a}\n.end\n"},
         error=("net.cir",)),
    Case("netlist-param-power-bomb", ["import", "net.cir", "-o", "spec.yaml"],
         {"net.cir": "t\n.param a=9^9^9^9\nV1 x 0 DC 1\nR1 x 0 {a}\n.end\n"},
         error=("net.cir:2",)),
    Case("netlist-long-expression", ["import", "net.cir", "-o", "spec.yaml"],
         {"net.cir": "t\nV1 x 0 DC 1\nR1 x 0 {" + "1+" * 5000 + "1}\n.end\n"},
         error=("net.cir:3",)),
    Case("netlist-nul-bytes", ["import", "net.cir"],
         {"net.cir": b"t\nV1 x 0 DC 1\nR1 x 0 1k\x00\n.end\n"}, error=("NUL",)),
]
