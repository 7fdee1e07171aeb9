"""Command-line counts, seeds, value lists and output paths: refused with the limit named.

A no-op or out-of-range run (``--epochs 0``) must never overwrite a trained ``params.npz``: the
run folder given holds one and the harness asserts that it is unchanged.
"""

from hostile import DIVIDER, Case, forge


XOR = (forge.ROOT / "circuits" / "xor.yaml").read_text()
LC = (forge.ROOT / "circuits" / "lc" / "lc_teacher.yaml").read_text()
TRAINED = {"run/params.npz": b"PK trained params: must not be overwritten"}


def teacher(samples: int) -> str:
    return ("name: t\nkind: layered\nlayers: [2, 1]\nconductance: {min: 1.0e-8, max: 1.0e-3, "
            "init: {distribution: uniform, low: 1.0e-6, high: 2.0e-5}, seed: 0}\n"
            f"dataset: {{name: teacher, samples: {samples}}}\n")


def train(case_id, options, error, spec="xor.yaml"):
    files = {"xor.yaml": XOR, "lc.yaml": LC, **TRAINED}
    return Case(case_id, ["train", spec, "--out", "run", "--no-plots", *options], files,
                error=error, names="")


def option(case_id, argv, error, files=None, names=""):
    return Case(case_id, argv, {"divider.yaml": DIVIDER, **(files or {})}, error=error,
                names=names)


MANY = ",".join(["1"] * 1_000_000)

CASES = [
    train("epochs-zero", ["--epochs", "0"],
          ("argument --epochs: 0 is out of range (allowed: 1 to 1000000)",)),
    train("epochs-negative", ["--epochs", "-1"], ("argument --epochs: -1 is out of range",)),
    train("epochs-huge", ["--epochs", "1000000001"],
          ("argument --epochs: 1000000001 is out of range",)),
    train("epochs-not-whole", ["--epochs", "1e3"], ("argument --epochs: '1e3' is not a whole",)),
    train("epochs-5000-digits", ["--epochs", "9" * 5000],
          ("argument --epochs:", "is not a whole number", "(5000 characters)")),
    train("epochs-empty", ["--epochs", ""], ("argument --epochs: '' is not a whole number",)),
    train("epochs-zero-with-resume", ["--epochs", "0", "--resume"],
          ("argument --epochs: 0 is out of range",)),
    train("lc-epochs-zero", ["--epochs", "0"], ("argument --epochs: 0 is out of range",),
          spec="lc.yaml"),
    train("seed-negative", ["--seed", "-1"],
          ("argument --seed: -1 is out of range (allowed: 0 to 4294967295)",)),
    train("seed-2-to-the-32", ["--seed", str(2**32)], ("argument --seed: 4294967296 is out",)),
    train("lc-seed-negative", ["--seed", "-7"], ("argument --seed: -7 is out of range",),
          spec="lc.yaml"),
    train("workers-zero", ["--workers", "0"],
          ("argument --workers: 0 is out of range (allowed: 1 to 256)",)),
    train("workers-huge", ["--workers", "100000"], ("argument --workers: 100000 is out",)),
    train("chunks-zero", ["--chunks", "0"], ("argument --chunks: 0 is out of range",)),
    train("chunks-negative", ["--chunks", "-3"], ("argument --chunks: -3 is out of range",)),
    Case("out-is-a-file", ["train", "xor.yaml", "--out", "run.txt", "--no-plots"],
         {"xor.yaml": XOR, "run.txt": "not a folder\n"}, error=("--out run.txt: not a folder",),
         names="run.txt"),
    option("thermal-samples-zero", ["simulate", "divider.yaml", "--input", "1",
                                    "--temperature", "1e-7", "--samples", "0"],
           ("argument --samples: 0 is out of range (allowed: 1 to 1000000)",)),
    option("thermal-samples-huge", ["grad", "divider.yaml", "--input", "1", "--target", "0.4",
                                    "--temperature", "1e-7", "--samples", "10000000000"],
           ("argument --samples: 10000000000 is out of range",)),
    option("thermal-seed-negative", ["simulate", "divider.yaml", "--input", "1",
                                     "--temperature", "1e-7", "--seed", "-5"],
           ("argument --seed: -5 is out of range",)),
    option("check-samples-zero", ["check", "divider.yaml", "--samples", "0", "--no-ngspice"],
           ("argument --samples: 0 is out of range (allowed: 1 to 10000)",)),
    option("check-samples-million", ["check", "divider.yaml", "--samples", "1000000",
                                     "--no-ngspice"],
           ("argument --samples: 1000000 is out of range",)),
    option("lc-check-samples-zero", ["check", "lc.yaml", "--samples", "0"],
           ("argument --samples: 0 is out of range",), files={"lc.yaml": LC}),
    option("input-a-million-values", ["simulate", "divider.yaml", "--input", MANY],
           ("--input: 1000000 values, more than the limit of 100000 (expected 1)",)),
    option("export-input-a-million-values", ["export", "divider.yaml", "--input", MANY],
           ("--input: 1000000 values, more than the limit",)),
    option("grad-target-a-million-values", ["grad", "divider.yaml", "--input", "1",
                                            "--target", MANY],
           ("--target: 1000000 values, more than the limit",)),
    option("input-empty-item-in-long-text", ["simulate", "divider.yaml", "--input",
                                             "1," * 5000 + ",1"],
           ("--input: value 5001 is empty", "characters)")),
    option("input-long-non-number", ["simulate", "divider.yaml", "--input", "x" * 20_000],
           ("--input: value 1", "is not a number", "(20000 characters)")),
    option("input-too-many-values", ["simulate", "divider.yaml", "--input", "1,2,3"],
           ("--input: expected 1 value (VIN), got 3",)),
    option("export-output-folder", ["export", "divider.yaml", "-o", "netlists"],
           ("netlists: is a folder, not a file",), files={"netlists": forge.folder},
           names="netlists"),
    option("simulate-plot-folder", ["simulate", "divider.yaml", "--input", "1", "--plot",
                                    "plots"],
           ("plots: is a folder, not a file",), files={"plots": forge.folder}, names="plots"),
    option("import-output-folder", ["import", "in.cir", "-o", "specs"],
           ("specs: is a folder, not a file",),
           files={"in.cir": "* divider\nV1 in 0 DC 1\nR1 in out 1k\nR2 out 0 1k\n.end\n",
                  "specs": forge.folder}, names="specs"),
    Case("dataset-samples-a-billion", ["predict", "t.yaml"], {"t.yaml": teacher(10**9)},
         error=("dataset.samples is 1000000000, more than the limit of 1000000",)),
]
