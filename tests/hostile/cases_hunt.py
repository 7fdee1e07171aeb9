"""Hunt: hostile inputs found by a fresh-eyes hunt after issue 15 that still got through.

Each case is one finding (see the commit that added it for what happened before the fix).
"""

import json
import re

import numpy as np

from hostile import Case
from hostile.cases_state import (CURVES, DIVIDER, LC, TINY, lc_fields, resume, state,
                                 tiny_fields, trained_params)


def _tiny_run_with(**settings):
    """Fields of a checkpoint of TINY after epoch 1 whose metrics record ``settings``."""
    metrics = {"spec": "tiny", **{key: [0.5] for key in CURVES}, "epochs": [1], **settings}
    return lambda: tiny_fields(1, metrics)


def _lc_run_with(**settings):
    """Fields of an lc checkpoint of LC after epoch 1 whose metrics record ``settings``."""
    def fields():
        made = lc_fields(1)
        made["metrics"] = np.array(json.dumps({**json.loads(str(made["metrics"])), **settings}))
        return made
    return fields


def _fan_out(width: int, depth: int, leaf: str) -> dict:
    """Netlist files where each level includes the next ``width`` times (width ** depth reads)."""
    files = {"top.cir": "fan-out\nV1 a 0 DC 1\nR1 a 0 1k\n.include f0.cir\n.end\n"}
    for level in range(depth):
        files[f"f{level}.cir"] = f"* level {level}\n" + f".include f{level + 1}.cir\n" * width
    files[f"f{depth}.cir"] = leaf
    return files


GND = """\
name: gnd
kind: graph
elements:
  - {name: VIN, nodes: [in, 0], dc: 0.0}
  - {name: R1, nodes: [in, out], g: 1.0e-3}
  - {name: R2, nodes: [out, gnd], g: 1.0e-3}
  - {name: R3, nodes: [gnd, 0], g: 1.0e-3}
inputs: [VIN]
outputs: [out]
"""

CASES = [
    # 50 includes per file over 7 levels: 50**7 reads of a tiny file (hung for hours)
    Case("import-include-fan-out", ["import", "top.cir", "-o", "spec.yaml"],
         _fan_out(50, 7, "* leaf\n"), error=("more than 1000 .include/.lib files",),
         names="f"),
    # 2 includes per file over 7 levels of a 1 MB leaf: 128 MB read and held in memory
    Case("import-include-fan-out-bytes", ["import", "top.cir"],
         _fan_out(2, 7, "* " + "x" * 1_000_000 + "\n"),
         error=("included files add up to more than 67108864 bytes",), names="f"),
    # a forged value far above conductance.max (1e-3 S) was trained on for a whole minibatch
    resume("hunt-ckpt-value-above-max", state(tiny_fields, values=lambda v: np.r_[1e6, v[1:]]),
           ("'values'[0] is 1000000.0 S, outside the conductance bounds [1e-08, 0.001] S",)),
    resume("hunt-ckpt-value-below-min", state(tiny_fields, values=lambda v: np.r_[v[:-1], 1e-300]),
           ("is 1e-300 S, outside the conductance bounds",)),
    # --resume with other settings than the run's: trained on, metrics.json kept the old ones
    resume("hunt-ckpt-other-seed", state(_tiny_run_with(seed=0)),
           ("it was written with seed 0, not 9",), extra=("--epochs", "2", "--seed", "9")),
    resume("hunt-ckpt-other-backend", state(_tiny_run_with(backend="ngspice")),
           ("it was written with backend 'ngspice', not 'native'",), extra=("--epochs", "2")),
    resume("hunt-ckpt-other-learning-rate", state(_tiny_run_with(learning_rate=0.5)),
           ("learning_rate 0.5, not",), extra=("--epochs", "2")),
    # lc: a theta 1000x its spec value (training clips to 10x) and another nudge
    resume("hunt-lc-ckpt-theta-above-max", state(lc_fields, theta=lambda t: t * 1000.0),
           ("'theta'[0] is", "outside its bounds"), spec="lc.yaml", extra=("--epochs", "2")),
    resume("hunt-lc-ckpt-other-nudge", state(_lc_run_with(nudge="positive")),
           ("it was written with nudge 'positive', not 'centered'",), spec="lc.yaml",
           extra=("--epochs", "2")),
    # numbers outside the decimal grammar that Python's float()/int() took: '1_0' was 10.0,
    # Arabic-Indic and full-width digits were read as 1 and 3
    Case("hunt-csv-underscore-digits", ["simulate", "divider.yaml", "--input-file", "x.csv"],
         {"x.csv": "VIN\n1_0\n", "divider.yaml": DIVIDER},
         error=("x.csv:2: column 1: '1_0' is not a number",)),
    Case("hunt-csv-arabic-indic-digit", ["simulate", "divider.yaml", "--input-file", "x.csv"],
         {"x.csv": "0.5\n\u0661\n", "divider.yaml": DIVIDER},
         error=("x.csv:2: column 1: '\u0661' is not a number",)),
    Case("hunt-input-underscore-digits", ["simulate", "divider.yaml", "--input", "1_0"],
         {"divider.yaml": DIVIDER}, error=("--input: value 1 ('1_0') is not a number",),
         names=""),
    Case("hunt-target-fullwidth-digit", ["grad", "divider.yaml", "--input", "1", "--target",
                                         "\uff13"],
         {"divider.yaml": DIVIDER}, error=("--target: value 1 ('\uff13') is not a number",),
         names=""),
    Case("hunt-beta-underscore-digits", ["grad", "divider.yaml", "--input", "1", "--target",
                                         "0.5", "--beta", "1_0"],
         {"divider.yaml": DIVIDER}, error=("argument --beta: '1_0' is not a number",), names=""),
    Case("hunt-epochs-arabic-indic-digit", ["train", "tiny.yaml", "--epochs", "\u0661",
                                            "--out", "run"],
         {"tiny.yaml": TINY}, error=("argument --epochs: '\u0661' is not a whole number",),
         names=""),
    # --plot naming an input file replaced the user's spec (or params) by a PNG, exit 0
    Case("hunt-plot-overwrites-spec", ["simulate", "divider.yaml", "--input", "1", "--plot",
                                       "./divider.yaml"],
         {"divider.yaml": DIVIDER}, error=("--plot ./divider.yaml would overwrite the input file",)),
    Case("hunt-predict-plot-overwrites-params", ["predict", "tiny.yaml", "--params",
                                                 "p.npz", "--plot", "p.npz"],
         {"p.npz": trained_params, "tiny.yaml": TINY},
         error=("--plot p.npz would overwrite the input file p.npz",)),
    Case("hunt-lc-plot-overwrites-spec", ["simulate", "lc.yaml", "--plot", "lc.yaml"],
         {"lc.yaml": LC}, error=("--plot lc.yaml would overwrite the input file lc.yaml",)),
    # a node called gnd: ngspice joins it to ground, the native solver did not (out 2/3 V
    # native; ngspice "did not converge ... vector gnd not found"; an exported netlist differed)
    Case("hunt-node-gnd-ngspice", ["simulate", "gnd.yaml", "--input", "1", "--backend",
                                   "ngspice"],
         {"gnd.yaml": GND}, error=("gnd.yaml:6:", "R2", "invalid node name 'gnd'",
                                   "is ground in SPICE")),
    Case("hunt-node-gnd-export", ["export", "gnd.yaml", "-o", "out.cir"], {"gnd.yaml": GND},
         error=("invalid node name 'gnd'",)),
    Case("hunt-lc-node-gnd", ["export", "lc.yaml"],
         {"lc.yaml": LC.replace("nodes: [n1, '0']", "nodes: [n1, gnd]", 1)},
         error=("invalid node name 'gnd'",)),
    # a node or model called temper: ngspice 39 died of a segmentation fault (exit 139) while
    # loading the circuit (simulate/grad/train --backend ngspice, and ngspice -b on an export)
    Case("hunt-node-temper-ngspice", ["simulate", "t.yaml", "--input", "1", "--backend",
                                      "ngspice"],
         {"t.yaml": GND.replace("gnd", "temper")},
         error=("t.yaml:6:", "invalid node name 'temper'", "segmentation fault")),
    Case("hunt-model-temper-ngspice", ["grad", "d.yaml", "--input", "1", "--target", "0.5",
                                       "--beta", "1e-4", "--backend", "ngspice"],
         {"d.yaml": GND.replace("trainable", "x").replace(
             "kind: graph", "kind: graph\nmodels: {TEMPER: {IS: 1.0e-14, N: 1.0}}").replace(
             "{name: R3, nodes: [gnd, 0], g: 1.0e-3}",
             "{name: D1, nodes: [gnd, 0], model: TEMPER}").replace("gnd", "mid")},
         error=("invalid model name 'TEMPER'", "segmentation fault")),
    Case("hunt-lc-node-temper", ["simulate", "lc.yaml", "--backend", "ngspice"],
         {"lc.yaml": re.sub(r"\bn1\b", "temper", LC)},
         error=("invalid node name 'temper'",)),
    Case("hunt-import-model-temper", ["import", "mt.cir", "-o", "spec.yaml"],
         {"mt.cir": "t\n.model temper d(is=1e-14)\nV1 a 0 DC 1\nR1 a b 1k\nD1 b 0 temper\n"
                    ".end\n"},
         error=("invalid model name 'TEMPER'",)),
    # a model name holding VDMOS: ngspice 39 looped forever loading the circuit (killed at
    # 120 s; ngspice -b on the export hung too)
    Case("hunt-model-vdmos-ngspice", ["simulate", "d.yaml", "--input", "1", "--backend",
                                      "ngspice"],
         {"d.yaml": GND.replace("kind: graph",
                                "kind: graph\nmodels: {XVDMOS1: {IS: 1.0e-14, N: 1.0}}").replace(
             "{name: R3, nodes: [gnd, 0], g: 1.0e-3}",
             "{name: D1, nodes: [gnd, 0], model: XVDMOS1}").replace("gnd", "mid")},
         error=("invalid model name 'XVDMOS1'", "hangs")),
    Case("hunt-import-model-vdmos", ["import", "mv.cir"],
         {"mv.cir": "t\n.model vdmos d(is=1e-14)\nV1 a 0 DC 1\nR1 a b 1k\nD1 b 0 vdmos\n.end\n"},
         error=("invalid model name 'VDMOS'",)),
]
