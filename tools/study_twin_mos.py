"""The transistor twin (circuits/xor_twin_mos.yaml) against its software checks.

1. Learning curve: ``train --twin`` (the transient, gates read at each epoch's end and
   evaluated on ngspice operating points) against the Python-side discrete rule on the same
   operating points (:func:`eqprop_hw.twin.mos_check.mos_discrete_run`), 10 epochs without the
   cut, at the bundled learning rate times 0.01, 0.1, 0.3 and 1: the largest relative
   difference of the train loss over the epochs and the largest gate difference (V).
2. Direction: the transient's first window at a tiny rate and eta = 0.1, 0.01, 0.001, against
   d(loss)/d(V_G) by central finite differences (1 mV) of ngspice operating points, per sample,
   at the initial gates and at the gates the bundled run ends with; over all edges and over
   the edges in the ohmic regime only (:func:`eqprop_hw.twin.mos_check.edge_regimes`).
3. The bundled run as it is: loss before/after, accuracy, the cut's effect, the wall times, and
   plain ``ngspice -b`` of the exported netlist against the gates ``train --twin`` read.

Writes ``docs/results/twin_mos_study.json`` and prints a summary.

Usage: ``python tools/study_twin_mos.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import eqprop_hw
from eqprop_hw.io.data import load_dataset
from eqprop_hw.io.fileio import atomic_write_text
from eqprop_hw.twin.mos_check import (OHMIC, MosBackends, edge_regimes, mos_discrete_run,
                                      mos_fd_gradient, mos_losses)
from eqprop_hw.twin.mos_train import (initial_gates, mosfet_edge_from, run_twin_mos,
                                      train_twin_mos)
from eqprop_hw.twin.netlist import TwinSettings
from eqprop_hw.twin.train import twin_inputs

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "circuits" / "xor_twin_mos.yaml"
DAMAGE = "    damage: {epoch: 40, elements: [R24, R39]}"
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.1], [0.9], [0.9], [0.1]])


def variant(folder: Path, factor: float, epochs: int) -> Path:
    text = SPEC.read_text().replace(DAMAGE, "")
    text = text.replace("learning_rate: 0.0023 ", f"learning_rate: {0.0023 * factor!r} ")
    text = text.replace("epochs: 120", f"epochs: {epochs}")
    path = folder / f"mos_{factor}.yaml"
    path.write_text(text)
    return path


def curve(folder: Path, factor: float) -> dict:
    net = eqprop_hw.load(variant(folder, factor, 10))
    edge = mosfet_edge_from(net.spec)
    settings, dataset, inputs, targets, scale, _ = twin_inputs(net.spec, net.circuit)
    settings = edge.unit_settings(settings)
    run = net.train_twin(folder / f"twin_{factor}", plots=False)
    with MosBackends(net.circuit, edge) as pair:
        gates = mos_discrete_run(pair, settings, inputs, targets,
                                 initial_gates(net.circuit, settings, edge), scale)
        python = np.array([mos_losses(pair, dataset, dataset.x_train, dataset.y_train,
                                      gates[4 * (epoch + 1)])["loss"] for epoch in range(10)])
    twin = np.array(run.metrics["train_loss"])
    final = np.array(list(run.metrics["final_gates"].values()))
    return {"rate_factor": factor, "learning_rate_S_per_V2": settings.learning_rate,
            "max_rel_loss_difference": float(np.max(np.abs(twin - python) / python)),
            "max_gate_difference_V": float(np.max(np.abs(final - gates[-1]))),
            "twin_final_loss": float(twin[-1]), "python_final_loss": float(python[-1]),
            "initial_loss": run.metrics["initial_train_loss"],
            "ngspice_seconds": run.metrics["ngspice_seconds"]}


def cosines(net, gates) -> list:
    edge = mosfet_edge_from(net.spec)
    rows = []
    with MosBackends(net.circuit, edge) as pair:
        gradients = [mos_fd_gradient(pair, X[i:i + 1], Y[i:i + 1], gates, 1e-3)
                     for i in range(4)]
        regimes = [edge_regimes(pair, X[i:i + 1], gates)[0] for i in range(4)]

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    for eta in (0.1, 0.01, 0.001):
        settings = TwinSettings(eta=eta, learning_rate=1e-9, g_min=1e-12, g_max=1.0)
        row = {"eta": eta, "cosine": [], "cosine_ohmic_edges": [],
               "edges_ohmic_saturated_off": [np.bincount(r, minlength=3).tolist()
                                             for r in regimes]}
        for i in range(4):
            step = np.diff(run_twin_mos(net.circuit, settings, edge, X[i:i + 1], Y[i:i + 1],
                                        gates).values, axis=0)[0]
            ohmic = regimes[i] == OHMIC
            row["cosine"].append(cos(step, -gradients[i]))
            row["cosine_ohmic_edges"].append(cos(step[ohmic], -gradients[i][ohmic]))
        rows.append(row)
    return rows


def bundled(folder: Path) -> dict:
    from eqprop_hw.backends.ngspice.raw import read_raw_file
    net = eqprop_hw.load(SPEC)
    start = time.perf_counter()
    run = train_twin_mos(net.spec, net.circuit)        # the TwinTraining: gates per window
    wall = time.perf_counter() - start
    m = run.metrics
    edge = mosfet_edge_from(net.spec)
    cut = m["damage"]["window"]
    cut_gates = run.run.values[cut]
    whole = cut_gates.copy()
    for name in m["damage"]["elements"]:
        k = net.circuit.trainable.index(name)
        whole[k] = run.run.values[cut - 1, k]
    dataset = load_dataset(net.spec, net.circuit)
    with MosBackends(net.circuit, edge) as pair:
        hurt, intact = (mos_losses(pair, dataset, dataset.x_train, dataset.y_train, g)["loss"]
                        for g in (cut_gates, whole))
    (folder / "twin.cir").write_text(net.twin_netlist())
    start = time.perf_counter()
    subprocess.run(["ngspice", "-b", "-r", "out.raw", "twin.cir"], cwd=folder, check=True,
                   capture_output=True, env=dict(os.environ, SPICE_ASCIIRAWFILE="1"))
    plain_seconds = time.perf_counter() - start
    vectors = read_raw_file(folder / "out.raw")
    rel = max(abs(np.interp(m["windows"] * 1e-3, vectors["time"],
                            vectors[f"v(tw_{name.lower()})"]) - gate) / abs(gate)
              for name, gate in m["final_gates"].items()
              if name not in m["damage"]["elements"])
    return {"initial_loss": m["initial_train_loss"], "final_loss": m["train_loss"][-1],
            "fall": m["initial_train_loss"] / m["train_loss"][-1],
            "final_accuracy": m["train_accuracy"][-1],
            "loss_at_cut_intact": intact, "loss_at_cut_with_cut": hurt,
            "windows": m["windows"], "ngspice_seconds": m["ngspice_seconds"],
            "train_twin_wall_seconds": wall, "plain_ngspice_seconds": plain_seconds,
            "plain_vs_train_max_rel_gate_difference": float(rel),
            "final_gates": m["final_gates"]}, net, np.array(list(m["final_gates"].values()))


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        curves = [curve(folder, factor) for factor in (0.01, 0.1, 0.3, 1.0)]
        summary, net, final = bundled(folder)
        edge = mosfet_edge_from(net.spec)
        settings = edge.unit_settings(twin_inputs(net.spec, net.circuit)[0])
        start = cosines(net, initial_gates(net.circuit, settings, edge))
        final[[net.circuit.trainable.index(n) for n in ("R24", "R39")]] = edge.bulk
        end = cosines(net, final)
    result = {"curves": curves, "cosines_initial": start, "cosines_final": end,
              "bundled": summary}
    atomic_write_text(ROOT / "docs" / "results" / "twin_mos_study.json",
                      json.dumps(result, indent=1) + "\n")
    print("| rate factor | lr (S/V^2) | max rel. loss difference | max gate difference (V) | "
          "final loss twin / python |")
    print("| --- | --- | --- | --- | --- |")
    for r in curves:
        print(f"| {r['rate_factor']:g} | {r['learning_rate_S_per_V2']:.3g} | "
              f"{r['max_rel_loss_difference']:.2%} | {r['max_gate_difference_V']:.3g} | "
              f"{r['twin_final_loss']:.4f} / {r['python_final_loss']:.4f} |")
    for label, rows in (("initial", start), ("final", end)):
        for row in rows:
            print(f"cosine at {label} gates, eta {row['eta']:g}: "
                  f"{', '.join(f'{c:.5f}' for c in row['cosine'])}; ohmic edges only: "
                  f"{', '.join(f'{c:.5f}' for c in row['cosine_ohmic_edges'])}; edges "
                  f"ohmic/saturated/off per sample {row['edges_ohmic_saturated_off']}")
    print(json.dumps({k: v for k, v in summary.items() if k != "final_gates"}, indent=1))


if __name__ == "__main__":
    main()
