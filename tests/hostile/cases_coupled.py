"""Coupled Learning's spec fields (training.rule, training.eta) and grad options (--rule,
--eta): refused with one line naming the field or option, never run."""

from hostile import Case, forge

XOR = (forge.ROOT / "circuits" / "xor.yaml").read_text()
IRIS = (forge.ROOT / "circuits" / "iris.yaml").read_text()
LC = (forge.ROOT / "circuits" / "lc" / "lc_teacher.yaml").read_text()
TRAINING = ("training: {epochs: 300, batch_size: 4, learning_rate: 0.03, beta: 2.0e-6, "
            "nudge: centered}")


def spec(case_id, fields, error):
    text = XOR.replace(TRAINING, TRAINING[:-1] + ", " + fields + "}")
    assert text != XOR
    return Case(case_id, ["train", "x.yaml", "--out", "run", "--no-plots", "--epochs", "1"],
                {"x.yaml": text}, error=error)


def grad(case_id, options, error, spec_name="xor.yaml", names=""):
    return Case(case_id, ["grad", spec_name, "--input", "1,0", "--target", "0.9", *options],
                {"xor.yaml": XOR, "lc.yaml": LC}, error=error, names=names)


CASES = [
    spec("rule-unknown", "rule: hebbian", ("training.rule must be one of ep, coupled",)),
    spec("rule-list", "rule: [coupled]", ("training.rule must be a string",)),
    spec("rule-injection", 'rule: "coupled\\n.control\\nshell touch {marker}\\n.endc"',
         ("training.rule must be one of ep, coupled",)),
    spec("rule-huge", "rule: " + "c" * 100_000, ("training.rule must be one of",)),
    spec("eta-zero", "eta: 0", ("training.eta",)),
    spec("eta-above-one", "eta: 1.0000001", ("training.eta", "must be in (0, 1]")),
    spec("eta-nan", "eta: .nan", ("training.eta",)),
    spec("eta-inf", "eta: .inf", ("training.eta",)),
    spec("eta-string", "eta: 'a tenth'", ("training.eta",)),
    spec("eta-bool", "eta: true", ("training.eta",)),
    Case("coupled-cross-entropy", ["train", "iris.yaml", "--out", "run", "--no-plots",
                                   "--epochs", "1"],
         {"iris.yaml": IRIS.replace("nudge: centered}",
                                    "nudge: centered, rule: coupled, loss: cross_entropy}")},
         error=("training.rule coupled", "a loss other than squared"), names=""),
    grad("grad-eta-without-rule", ["--eta", "0.1"], ("--eta is the clamp of --rule coupled",)),
    grad("grad-eta-above-one", ["--rule", "coupled", "--eta", "1.5"],
         ("'eta' must be in (0, 1]",)),
    grad("grad-eta-nan", ["--rule", "coupled", "--eta", "nan"], ("argument --eta",)),
    grad("grad-rule-unknown", ["--rule", "hebbian"], ("argument --rule: invalid choice",)),
    grad("grad-coupled-with-beta", ["--rule", "coupled", "--beta", "1e-6"],
         ("--beta does not apply to --rule coupled",)),
    grad("grad-coupled-with-nudge", ["--rule", "coupled", "--nudge", "positive"],
         ("--nudge does not apply to --rule coupled",)),
    Case("grad-coupled-on-lc", ["grad", "lc.yaml", "--rule", "coupled"], {"lc.yaml": LC},
         error=("lc specs learn by the Hamiltonian echo",), names=""),
]

TWIN = (forge.ROOT / "circuits" / "xor_twin.yaml").read_text()
TWIN_LINE = "  twin: {sample_time: 1.0e-3, capacitance: 1.0e-9}   # s per sample, F per edge"


def twin(case_id, replacement, error, argv=("export", "t.yaml", "--twin"), source=TWIN_LINE):
    text = TWIN.replace(source, replacement)
    assert text != TWIN
    return Case(case_id + "-twin", list(argv), {"t.yaml": text}, error=error)


CASES += [
    twin("unknown-key", "  twin: {sample_time: 1.0e-3, shell: 'touch {marker}'}",
         ("training.twin", "shell",)),
    twin("not-a-mapping", "  twin: [1, 2]", ("training.twin must be a mapping",)),
    twin("negative-capacitance", "  twin: {capacitance: -1.0e-9}",
         ("training.twin.capacitance",)),
    twin("nan-sample-time", "  twin: {sample_time: .nan}", ("training.twin.sample_time",)),
    twin("huge-reltol-string", "  twin: {reltol: '" + "9" * 5000 + "'}",
         ("training.twin.reltol",)),
    twin("negative-leakage", "  twin: {leakage: -1.0}", ("training.twin.leakage",)),
    twin("settle-below-rise", "  twin: {settle_fraction: 0.001, rise_fraction: 0.01}",
         ("training.twin: need 0 < rise_fraction <= settle_fraction",)),
    twin("windows-too-many", "  epochs: 100000", ("windows; at most 200,000",),
         source="  epochs: 100"),
    twin("rule-ep", "  rule: ep", ("set training.rule: coupled",),
         source="  rule: coupled         # outputs clamped at V_F + eta (y - V_F)"),
    twin("batch-four", "  batch_size: 4", ("training.batch_size is 4",),
         source="  batch_size: 1         # the circuitry updates after every sample"),
    twin("per-crossbar-rates", "  learning_rate: [0.003, 0.003]",
         ("a twin network has one update gain",),
         source="  learning_rate: 0.0015 # per sample: dg = -0.0015 g_max (dV_C^2 - "
                "dV_F^2) / (2 eta)"),
    Case("twin-train-workers", ["train", "t.yaml", "--twin", "--workers", "2"],
         {"t.yaml": TWIN}, error=("--workers does not apply to --twin",), names=""),
    Case("twin-export-with-input", ["export", "t.yaml", "--twin", "--input", "1,0"],
         {"t.yaml": TWIN}, error=("--input does not apply to --twin",), names=""),
    Case("export-epochs-without-twin", ["export", "t.yaml", "--epochs", "3"],
         {"t.yaml": TWIN}, error=("--epochs applies to --twin only",), names=""),
    Case("twin-on-lc", ["train", "lc.yaml", "--twin"], {"lc.yaml": LC},
         error=("--twin: twin-network circuitry trains resistive specs",), names=""),
]
