"""Conductance maps and node-voltage maps: the numbers drawn, the files written, the options."""

import json
import re
from pathlib import Path

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.cli import main
from eqprop_hw.io.plots import (conductance_matrices, plot_conductance_maps, plot_node_voltages,
                             voltage_layers)
from eqprop_hw.circuit.spec import load_spec, parse_spec
from eqprop_hw.learning.train import train

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def test_crossbar_matrices_hold_each_element_at_its_row_and_column():
    circuit = build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))
    values = np.random.default_rng(0).uniform(1e-8, 1e-3, len(circuit.trainable))
    matrices = conductance_matrices(circuit, values)
    assert [m["g"].shape for m in matrices] == [(10, 16), (18, 3)]
    assert matrices[1]["rows"][-2:] == ["biasp", "biasn"] and matrices[1]["columns"][0] == "out0"
    # independent reference: the element names RL{layer}_{row}_{column} of the builder
    for k, name in enumerate(circuit.trainable):
        layer, row, column = map(int, re.fullmatch(r"RL(\d+)_(\d+)_(\d+)", name).groups())
        assert matrices[layer - 1]["g"][row, column] == values[k]
    assert not np.isnan(np.concatenate([m["g"].ravel() for m in matrices])).any()


def test_graph_circuits_get_one_node_by_node_matrix(tmp_path):
    circuit = build_circuit(parse_spec({
        "name": "g", "kind": "graph", "inputs": ["V1"], "outputs": ["b"],
        "elements": [{"name": "V1", "nodes": ["a", "0"], "dc": 1.0},
                     {"name": "R1", "nodes": ["a", "b"], "g": 1e-3},
                     {"name": "R2", "nodes": ["b", "0"], "g": 2e-3}]}))
    assert list(circuit.trainable) == ["R1", "R2"]
    (matrix,) = conductance_matrices(circuit, [1e-3, 2e-3])
    assert sorted(matrix["rows"]) == ["0", "a", "b"] and matrix["columns"] == matrix["rows"]
    where = {node: i for i, node in enumerate(matrix["rows"])}
    assert matrix["g"][where["a"], where["b"]] == 1e-3
    assert matrix["g"][where["b"], where["0"]] == 2e-3
    assert np.isnan(matrix["g"]).sum() == matrix["g"].size - 2
    plot_conductance_maps(tmp_path / "map.png", circuit, [1e-3, 2e-3])
    assert (tmp_path / "map.png").read_bytes().startswith(PNG)


def test_voltage_layers_cover_every_layer_node_once():
    circuit = build_circuit(load_spec(ROOT / "circuits" / "xor.yaml"))
    groups = voltage_layers(circuit)
    assert [label for label, _ in groups] == ["inputs and bias", "hidden layer 1", "outputs"]
    assert groups[1][1] == [f"n1_{j}" for j in range(8)] and groups[2][1] == ["out0"]
    nodes = [n for _, group in groups for n in group]
    assert len(nodes) == len(set(nodes))


def test_train_writes_the_conductance_map(tmp_path):
    train(load_spec(ROOT / "circuits" / "xor.yaml"), tmp_path, epochs=2, progress=False)
    assert (tmp_path / "conductance_map.png").read_bytes().startswith(PNG)


def test_simulate_and_predict_draw_node_voltages(tmp_path, capsys):
    spec = str(ROOT / "circuits" / "iris.yaml")
    assert main(["simulate", spec, "--input", "0.5,-1,1.2,0.3", "--beta", "2e-6", "--target",
                 "1,0,0", "--plot", str(tmp_path / "sim.png"), "--json"]) == 0
    nudged = json.loads(capsys.readouterr().out)["outputs"]
    assert (tmp_path / "sim.png").read_bytes().startswith(PNG)
    # the printed result is still the nudged operating point, as without --plot
    with make_backend("native", build_circuit(load_spec(spec))) as backend:
        reference = backend.solve([[0.5, -1, 1.2, 0.3]], 2e-6, [[1, 0, 0]]).outputs[0]
    assert nudged == reference.tolist()
    assert main(["predict", spec, "--plot", str(tmp_path / "one.png"), "--sample", "2"]) == 0
    assert (tmp_path / "one.png").read_bytes().startswith(PNG)
    capsys.readouterr()
    assert main(["predict", spec, "--plot", str(tmp_path / "bad.png"), "--sample", "45"]) == 2
    assert "--sample 45: the test split has 45 rows" in capsys.readouterr().err
    rows = tmp_path / "rows.csv"
    rows.write_text("0.5,-1,1.2,0.3\n0,0,0,0\n")
    assert main(["simulate", spec, "--input-file", str(rows), "--plot",
                 str(tmp_path / "x.png")]) == 2
    assert "--plot draws one sample" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "bad.png").exists()


def test_node_voltage_map_without_nudging(tmp_path):
    circuit = build_circuit(load_spec(ROOT / "circuits" / "xor.yaml"))
    with make_backend("native", circuit) as backend:
        free = backend.solve([[1.0, 0.0]])
    plot_node_voltages(tmp_path / "free.png", circuit, free.node_names,
                       {"free": free.voltages[0]})
    assert (tmp_path / "free.png").read_bytes().startswith(PNG)


def test_lc_simulate_draws_the_forward_run(tmp_path, capsys):
    """`simulate --plot` on an lc spec draws outputs and node voltages over time; the printed
    trajectory is the one without --plot."""
    spec = str(ROOT / "circuits" / "lc" / "lc_teacher.yaml")
    assert main(["simulate", spec, "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["simulate", spec, "--plot", str(tmp_path / "lc.png"), "--json"]) == 0
    drawn = json.loads(capsys.readouterr().out)
    assert (tmp_path / "lc.png").read_bytes().startswith(PNG)
    assert drawn["outputs"] == plain["outputs"] and len(drawn["time"]) == len(plain["time"])
