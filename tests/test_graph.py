"""Circuit graph: layered expansion, roles, and validation errors naming the element or node."""

from pathlib import Path

import pytest

from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.graph import floating_nodes
from eqprop_hw.circuit.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]


def graph(elements, **extra):
    return build_circuit(parse_spec({"name": "t", "kind": "graph", "elements": elements, **extra}))


def test_layered_expansion_counts_and_names():
    spec = parse_spec({"name": "t", "kind": "layered", "layers": [3, 4, 2],
                       "amplifiers": {"gain": 2.0}})
    c = build_circuit(spec)
    rows1 = 3 * 2 + 2  # doubled inputs + bias pair
    rows2 = 4 + 2
    assert len(c.trainable) == rows1 * 4 + rows2 * 2
    assert [e.name for e in c.elements if e.type == "D"][:2] == ["DH1_0", "DL1_0"]
    assert c.element("RL2_0_0").nodes == ("a1_0", "out0")  # amplifier output feeds layer 2
    assert c.element("FA1_0").control == "VA1_0"
    assert [p.sources for p in c.inputs][0] == (("VX0P", 1.0), ("VX0N", -1.0))
    assert c.crossbars[1]["rows"][:4] == ["a1_0", "a1_1", "a1_2", "a1_3"]
    assert c.graph.number_of_edges() == len(c.elements)


def test_same_seed_same_conductances_other_seed_differs():
    base = {"name": "t", "kind": "layered", "layers": [2, 3, 1]}
    a = build_circuit(parse_spec(base)).trainable_values()
    b = build_circuit(parse_spec(base)).trainable_values()
    c = build_circuit(parse_spec({**base, "conductance": {"seed": 1}})).trainable_values()
    assert a == b and a != c
    assert all(1e-5 <= g <= 1e-4 for g in a)


def test_floating_node_is_named():
    with pytest.raises(CircuitError, match="node 'island' is floating"):
        graph([{"name": "V1", "nodes": ["a", "0"], "dc": 1.0},
               {"name": "R1", "nodes": ["a", "0"], "g": 1e-3},
               {"name": "R2", "nodes": ["island", "island2"], "g": 1e-3}])


def test_node_held_only_by_capacitor_or_current_source_floats():
    c_elements = [{"name": "V1", "nodes": ["a", "0"], "dc": 1.0},
                  {"name": "C1", "nodes": ["a", "b"], "c": 1e-9},
                  {"name": "I1", "nodes": ["0", "b"], "dc": 1e-3}]
    with pytest.raises(CircuitError, match="'b' is floating"):
        graph(c_elements)


def test_params_override_and_unknown_names():
    spec = load_spec(ROOT / "circuits" / "xor.yaml")
    c = build_circuit(spec, params={"RL1_0_0": 3e-4})
    assert c.element("RL1_0_0").value == 3e-4
    with pytest.raises(CircuitError, match="RNOPE"):
        build_circuit(spec, params={"RNOPE": 1e-3})
    with pytest.raises(CircuitError, match="conductance must be positive"):
        build_circuit(spec, params={"RL1_0_0": -1e-3})


def test_f_source_needs_a_voltage_source_control():
    with pytest.raises(CircuitError, match="controlling source"):
        graph([{"name": "V1", "nodes": ["a", "0"], "dc": 1.0},
               {"name": "R1", "nodes": ["a", "0"], "g": 1e-3},
               {"name": "F1", "nodes": ["a", "0"], "control": "R1", "gain": 2.0}])


def test_trainable_pattern_must_match():
    with pytest.raises(CircuitError, match="matches no element"):
        graph([{"name": "V1", "nodes": ["a", "0"], "dc": 1.0},
               {"name": "R1", "nodes": ["a", "0"], "g": 1e-3}], trainable=["RX*"])


def test_floating_nodes_helper_on_examples():
    for path in (ROOT / "circuits").glob("*.yaml"):
        if path.stem != "mnist_size":
            assert floating_nodes(build_circuit(load_spec(path))) == []
