"""Conductance maps and node-voltage maps of trained xor and iris circuits for docs/results.

Trains each example with the native backend (the same curve as ngspice in the loop, see
``docs/results/training.md``) through the command line, exactly as a user would:

    eqprop-hw train circuits/NAME.yaml --out DIR                      # DIR/conductance_map.png
    eqprop-hw predict circuits/NAME.yaml --params DIR/params.npz --split test \\
        --plot docs/results/NAME_node_voltages.png --sample K

and copies ``DIR/conductance_map.png`` to ``docs/results/NAME_conductance_map.png``; also the
untrained iris map (``iris_conductance_map_initial.png``) for comparison. For the gallery of
every kind of figure (``docs/results/pictures.md``) also: iris's other training figures
(``iris_native_{loss,accuracy,conductances}.png``), the node voltages of a digits test row
beside its input image (``digits_node_voltages.png``, after 3 epochs) and the LC figures of
``circuits/lc/lc_teacher.yaml`` after 10 epochs (``lc_teacher_{loss,trajectories,echo,
prediction,simulation}.png``).
Run: ``python tools/make_pictures.py`` (about 2 minutes on the 2-core session machine).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
#: (example, test row drawn by the node-voltage map)
EXAMPLES = (("xor", 1), ("iris", 0))


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.cli import main as cli
    from eqprop_hw.io.plots import plot_conductance_maps
    from eqprop_hw.circuit.spec import load_spec

    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name, sample in EXAMPLES:
            spec = str(ROOT / "circuits" / f"{name}.yaml")
            out = Path(scratch) / name
            if cli(["train", spec, "--out", str(out)]) != 0:
                return 1
            shutil.copyfile(out / "conductance_map.png", RESULTS / f"{name}_conductance_map.png")
            if cli(["predict", spec, "--params", str(out / "params.npz"), "--split", "test",
                    "--plot", str(RESULTS / f"{name}_node_voltages.png"),
                    "--sample", str(sample)]) != 0:
                return 1
            if name == "iris":
                for figure in ("loss", "accuracy", "conductances"):
                    shutil.copyfile(out / f"{figure}.png", RESULTS / f"iris_native_{figure}.png")
        if gallery(Path(scratch), cli) != 0:
            return 1
    iris = build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))
    plot_conductance_maps(RESULTS / "iris_conductance_map_initial.png", iris,
                          iris.trainable_values(), "iris before training (initial conductances)")
    return 0


def gallery(scratch: Path, cli) -> int:
    """The digits node voltages beside the input image, and the LC figures."""
    digits = str(ROOT / "circuits" / "digits.yaml")
    out = scratch / "digits"
    if cli(["train", digits, "--epochs", "3", "--out", str(out), "--no-plots"]) != 0:
        return 1
    if cli(["predict", digits, "--params", str(out / "params.npz"), "--split", "test",
            "--plot", str(RESULTS / "digits_node_voltages.png"), "--sample", "0"]) != 0:
        return 1
    teacher = str(ROOT / "circuits" / "lc" / "lc_teacher.yaml")
    out = scratch / "lc_teacher"
    if cli(["train", teacher, "--epochs", "10", "--out", str(out)]) != 0:
        return 1
    for figure in ("loss", "trajectories", "echo"):
        shutil.copyfile(out / f"{figure}.png", RESULTS / f"lc_teacher_{figure}.png")
    if cli(["predict", teacher, "--params", str(out / "params.json"), "--plot",
            str(RESULTS / "lc_teacher_prediction.png")]) != 0:
        return 1
    return cli(["simulate", teacher, "--plot", str(RESULTS / "lc_teacher_simulation.png")])


if __name__ == "__main__":
    raise SystemExit(main())
