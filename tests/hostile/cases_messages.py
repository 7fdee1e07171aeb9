"""Messages: a refusal names the user's file or path and what does not fit."""

from hostile import Case

DIVIDER = """\
name: divider
kind: graph
elements:
  - {name: VIN, nodes: [in, 0], dc: 1.0}
  - {name: R1, nodes: [in, out], g: 1.0e-3}
  - {name: R2, nodes: [out, 0], g: 1.0e-3}
inputs: [VIN]
outputs: [{name: y, node: out}]
"""

CASES = [
    Case("spec-missing", ["describe", "nothing.yaml"], error=("no such file",),
         names="nothing.yaml"),
    Case("export-output-is-a-folder", ["export", "spec.yaml", "-o", "out"],
         files={"spec.yaml": DIVIDER, "out/keep.txt": "kept\n"}, names="out"),
]
