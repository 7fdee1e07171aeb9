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
