"""Random but well-posed resistive circuits for property tests (native vs ngspice).

Every circuit is connected to ground through a spanning tree of resistors, so no node floats;
controlled sources have small gains so the operating point is unique; voltage sources never
form loops.
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.spec import parse_spec


def random_graph_spec(seed: int, max_nodes: int = 10) -> dict:
    """A random ``graph`` spec: R spanning tree + extras, V/I sources, diodes, E/G/F/H."""
    rng = np.random.default_rng(seed)
    n_nodes = int(rng.integers(3, max_nodes + 1))
    nodes = [f"n{i}" for i in range(n_nodes)]
    elements = []
    # Spanning tree of resistors rooted at ground.
    order = ["0"] + nodes
    for position in range(1, len(order)):
        parent = order[int(rng.integers(0, position))]
        g = float(10 ** rng.uniform(-5, -2))
        elements.append({"name": f"RT{position}", "nodes": [order[position], parent], "g": g})
    for k in range(int(rng.integers(0, n_nodes))):
        a, b = rng.choice(order, size=2, replace=False)
        elements.append({"name": f"RX{k}", "nodes": [str(a), str(b)],
                         "g": float(10 ** rng.uniform(-5, -2))})
    # Grounded voltage sources pin some nodes (the inputs); never two on one node.
    pinned = list(rng.choice(nodes, size=int(rng.integers(1, max(2, n_nodes // 2))),
                             replace=False))
    inputs = []
    for k, node in enumerate(pinned):
        name = f"VIN{k}"
        elements.append({"name": name, "nodes": [str(node), "0"] if k % 2 == 0 else
                         ["0", str(node)], "dc": float(rng.uniform(-1, 1))})
        inputs.append(name)
    free = [n for n in nodes if n not in pinned]
    # A floating voltage source between two free nodes, which also controls F/H sources.
    models = {"DA": {"IS": 1e-14, "N": 1.0},
              "DB": {"IS": float(10 ** rng.uniform(-12, -8)), "N": float(rng.uniform(1, 2)),
                     "RS": float(rng.uniform(0, 50))}}
    for k in range(int(rng.integers(0, 4))):
        a, b = rng.choice(order, size=2, replace=False)
        elements.append({"name": f"D{k}", "nodes": [str(a), str(b)],
                         "model": "DA" if k % 2 == 0 else "DB"})
    control = None
    if len(free) >= 2 and rng.random() < 0.7:
        a, b = rng.choice(free, size=2, replace=False)
        elements.append({"name": "VSENSE", "nodes": [str(a), f"s{a}"], "dc": 0.0})
        elements.append({"name": "RSENSE", "nodes": [f"s{a}", str(b)],
                         "g": float(10 ** rng.uniform(-4, -3))})
        control = "VSENSE"
    if rng.random() < 0.7:
        a, b = rng.choice(order, size=2, replace=False)
        elements.append({"name": "EBUF", "nodes": ["ebuf", "0", str(a), str(b)],
                         "gain": float(rng.uniform(-2, 2))})
        elements.append({"name": "REBUF", "nodes": ["ebuf", "eload"], "g": 1e-3})
        elements.append({"name": "RELOAD", "nodes": ["eload", "0"], "g": 1e-3})
    if rng.random() < 0.7:
        a, b, c, d = (str(v) for v in rng.choice(order, size=4))
        elements.append({"name": "GX", "nodes": [a, b, c, d], "gain": float(rng.uniform(-1, 1)) * 1e-6})
    if control and rng.random() < 0.7:
        a, b = rng.choice(order, size=2, replace=False)
        elements.append({"name": "FX", "nodes": [str(a), str(b)], "control": control,
                         "gain": float(rng.uniform(-0.05, 0.05))})
    if control and rng.random() < 0.7:
        elements.append({"name": "HX", "nodes": ["hout", "0"], "control": control,
                         "gain": float(rng.uniform(-1e3, 1e3))})
        elements.append({"name": "RHX", "nodes": ["hout", "0"], "g": 1e-3})
    if rng.random() < 0.5:
        node = str(rng.choice(order[1:]))
        elements.append({"name": "IX", "nodes": ["0", node], "dc": float(rng.uniform(-1e-4, 1e-4))})
    outputs = [str(n) for n in free[:2]] or [str(nodes[0])]
    return {"name": f"random{seed}", "kind": "graph", "models": models, "elements": elements,
            "inputs": inputs, "outputs": outputs, "trainable": ["R*"]}


def random_circuit(seed: int, max_nodes: int = 10):
    """The built circuit of :func:`random_graph_spec`."""
    return build_circuit(parse_spec(random_graph_spec(seed, max_nodes)))
