"""Messages: a refusal names the user's file or path and what does not fit."""

from hostile import DIVIDER, Case


CASES = [
    Case("spec-missing", ["describe", "nothing.yaml"], error=("no such file",),
         names="nothing.yaml"),
    Case("export-output-is-a-folder", ["export", "spec.yaml", "-o", "out"],
         files={"spec.yaml": DIVIDER, "out/keep.txt": "kept\n"}, names="out"),
]
