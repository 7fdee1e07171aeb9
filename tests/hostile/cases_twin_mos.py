"""The transistor twin's spec fields (training.twin.mosfet: model, w, l, bulk) through
``export --twin`` and ``train --twin``: refused with one line naming the field, never run,
nothing written (a model card is written into the netlist, so its names and values are an
injection surface)."""

from hostile import Case, forge

SPEC = (forge.ROOT / "circuits" / "xor_twin_mos.yaml").read_text()
MODEL = "      model: {type: NMOS, LEVEL: 1, VTO: 0.5, KP: 1.0e-5}   # A/V^2"
W = "      w: 1.0e-6          # m"
BULK = "      bulk: -6.5         # V: below every node (the inputs reach -5 V)"
MOSFET = "    mosfet:"


def mos(case_id, source, replacement, error, argv=("export", "t.yaml", "--twin")):
    assert SPEC.count(source) == 1, source
    text = SPEC.replace(source, replacement)
    return Case(case_id, [*argv], {"t.yaml": text}, error=error)


CASES = [
    mos("mos-pmos", MODEL, "      model: {type: PMOS, LEVEL: 1, VTO: -0.5}",
        ("training.twin.mosfet.model", "give a model of type NMOS")),
    mos("mos-npn", MODEL, "      model: {type: NPN}",
        ("training.twin.mosfet.model", "give a model of type NMOS")),
    mos("mos-no-type", MODEL, "      model: {LEVEL: 1}",
        ("training.twin.mosfet.model", "give a model of type NMOS")),
    mos("mos-level-3", MODEL, "      model: {type: NMOS, LEVEL: 3}",
        ("training.twin.mosfet.model", "LEVEL must be 1")),
    mos("mos-level-bogus", MODEL, "      model: {type: NMOS, LEVEL: 7}",
        ("training.twin.mosfet.model", "LEVEL=7 is not a MOSFET level")),
    mos("mos-body-effect", MODEL, "      model: {type: NMOS, GAMMA: 0.4}",
        ("training.twin.mosfet.model", "GAMMA must be 0 or absent")),
    mos("mos-lambda", MODEL, "      model: {type: NMOS, LAMBDA: 0.02}",
        ("LAMBDA must be 0 or absent",)),
    mos("mos-kp-negative", MODEL, "      model: {type: NMOS, KP: -1.0e-5}",
        ("training.twin.mosfet.model", "KP must be positive")),
    mos("mos-param-injection", MODEL,
        '      model: {type: NMOS, "KP)\\n.control\\nshell touch {marker}\\n.endc\\n*": 1.0}',
        ("training.twin.mosfet.model", "invalid parameter name")),
    mos("mos-value-injection", MODEL,
        "      model: {type: NMOS, KP: '1e-5)\\n.control\\nshell touch {marker}\\n.endc'}",
        ("training.twin.mosfet.model", "parameter KP must be a finite number")),
    mos("mos-value-huge", MODEL, "      model: {type: NMOS, VTO: 1.0e+31}",
        ("training.twin.mosfet.model", "beyond the limit")),
    mos("mos-value-nan", MODEL, "      model: {type: NMOS, VTO: .nan}",
        ("training.twin.mosfet.model", "parameter VTO must be a finite number")),
    mos("mos-param-twice", MODEL, "      model: {type: NMOS, kp: 1.0e-5, KP: 2.0e-5}",
        ("training.twin.mosfet.model: parameter KP given twice",)),
    mos("mos-too-many-params", MODEL,
        "      model: {type: NMOS, " + ", ".join(f"P{k}: 1.0" for k in range(100)) + "}",
        ("training.twin.mosfet.model: 100 parameters, more than 64",)),
    mos("mos-model-string", MODEL, "      model: nmos",
        ("training.twin.mosfet.model must be a mapping",)),
    mos("mos-no-model", MODEL + "\n", "", ("training.twin.mosfet.model is required",)),
    mos("mos-w-zero", W, "      w: 0.0", ("training.twin.mosfet.w must be positive",)),
    mos("mos-w-tiny", W, "      w: 1.0e-20",
        ("training.twin.mosfet: w must be a size in m from 1e-09 to 1",)),
    mos("mos-w-string", W, "      w: 'wide; shell touch {marker}'",
        ("training.twin.mosfet.w must be a number",)),
    mos("mos-bulk-huge", BULK, "      bulk: -1.0e9",
        ("training.twin.mosfet: bulk must be a voltage within +-1000 V",)),
    mos("mos-bulk-inf", BULK, "      bulk: -.inf", ("training.twin.mosfet.bulk must be finite",)),
    mos("mos-unknown-key", BULK, "      bulk: -6.5\n      shell: 'touch {marker}'",
        ("unknown key 'shell' in training.twin.mosfet",)),
    mos("mos-not-a-mapping", "\n".join([MOSFET, MODEL, W, "      l: 1.0e-6          # m", BULK]),
        "    mosfet: [NMOS]", ("training.twin.mosfet must be a mapping",)),
    mos("mos-conductance-per-volt", MOSFET, "    conductance_per_volt: 2.0\n    mosfet:",
        ("training.twin: conductance_per_volt is set by the MOSFET edge",)),
    mos("mos-cut-with-vto-zero", MODEL, "      model: {type: NMOS, VTO: 0.0, KP: 1.0e-5}",
        ("training.twin.mosfet.model: a cut (training.twin.damage) pulls the edge's gate",
         "only for VTO > 0")),
    mos("mos-train-bad-model", MODEL, "      model: {type: PMOS}",
        ("training.twin.mosfet.model", "give a model of type NMOS"),
        argv=("train", "t.yaml", "--twin", "--out", "run", "--no-plots")),
    mos("mos-train-cut-too-late", "    damage: {epoch: 40,", "    damage: {epoch: 120,",
        ("training.twin.damage.epoch is 120: the cut must come before the last epoch",),
        argv=("train", "t.yaml", "--twin", "--out", "run", "--no-plots")),
    Case("mos-plain-train", ["train", "t.yaml", "--out", "run", "--no-plots"], {"t.yaml": SPEC},
         error=("training.twin.mosfet: this network's edges are MOSFETs",
                "train --twin")),
]
