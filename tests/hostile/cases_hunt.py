"""Hunt: hostile inputs found by a fresh-eyes hunt after issue 15 that still got through.

Each case is one finding (see the commit that added it for what happened before the fix).
"""

from hostile import Case


def _fan_out(width: int, depth: int, leaf: str) -> dict:
    """Netlist files where each level includes the next ``width`` times (width ** depth reads)."""
    files = {"top.cir": "fan-out\nV1 a 0 DC 1\nR1 a 0 1k\n.include f0.cir\n.end\n"}
    for level in range(depth):
        files[f"f{level}.cir"] = f"* level {level}\n" + f".include f{level + 1}.cir\n" * width
    files[f"f{depth}.cir"] = leaf
    return files


CASES = [
    # 50 includes per file over 7 levels: 50**7 reads of a tiny file (hung for hours)
    Case("import-include-fan-out", ["import", "top.cir", "-o", "spec.yaml"],
         _fan_out(50, 7, "* leaf\n"), error=("more than 1000 .include/.lib files",),
         names="f"),
    # 2 includes per file over 7 levels of a 1 MB leaf: 128 MB read and held in memory
    Case("import-include-fan-out-bytes", ["import", "top.cir"],
         _fan_out(2, 7, "* " + "x" * 1_000_000 + "\n"),
         error=("included files add up to more than 67108864 bytes",), names="f"),
]
