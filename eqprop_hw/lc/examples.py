"""Random LC networks (spec mappings) for tests, teacher-student tasks and bundled examples.

The scales are those of an on-chip LC network: node capacitors around 1 nF, inductors around
1 uH (resonances near 5 MHz), input currents of a few mA, fluxes around 1e-8 Wb.
"""

from __future__ import annotations

import numpy as np


def random_lc_data(n_nodes: int = 4, seed: int = 0, nonlinear: bool = True,
                   n_inputs: int = 1, n_outputs: int = 1, tstop: float = 1e-6,
                   tstep: float = 2e-9, extra_couplings: int | None = None,
                   train_inductors: bool = False, amplitude: float = 5e-3,
                   phi_nl: float = 2e-8, conductance: float | None = None,
                   output_kind: str = "flux", name: str | None = None,
                   varactors: bool = False, v_nl: float = 0.3) -> dict:
    """A spec mapping (``kind: lc``) of a random connected LC network.

    Nodes ``n1..nN`` each have a capacitor ``C{i}`` to ground (0.8-1.2 nF) and an inductor
    ``L{i}`` to ground (0.8-1.5 uH; with ``nonlinear`` every other one has
    ``phi_nl``); a chain of coupling capacitors ``CC{i}_{j}`` (0.1-0.4 nF) plus
    ``extra_couplings`` random ones connects them. Inputs are sine current sources ``IIN{k}``
    into the first nodes, outputs the fluxes of the last nodes, targets sines.

    Parameters
    ----------
    conductance : float, optional
        Adds a resistor ``RD{i}`` of this conductance (S) from every node to ground (lossy).
    varactors : bool
        Every third node capacitor becomes a varactor with ``v_nl`` (V).
    output_kind : {"flux", "current"}
        ``current``: the outputs are the currents of the last nodes' inductors (kept fixed).
    """
    rng = np.random.default_rng(seed)
    nodes = [f"n{i + 1}" for i in range(n_nodes)]
    elements = []
    for i, node in enumerate(nodes):
        item = {"name": f"C{i + 1}", "nodes": [node, "0"], "c": float(rng.uniform(0.8e-9, 1.2e-9))}
        if varactors and i % 3 == 1:
            item["v_nl"] = float(v_nl)
        elements.append(item)
    for i, node in enumerate(nodes):
        item = {"name": f"L{i + 1}", "nodes": [node, "0"], "l": float(rng.uniform(0.8e-6, 1.5e-6))}
        if nonlinear and i % 2 == 0:
            item["phi_nl"] = float(phi_nl * rng.uniform(0.8, 1.25))
        elements.append(item)
    pairs = [(i, i + 1) for i in range(n_nodes - 1)]
    extra = n_nodes // 2 if extra_couplings is None else extra_couplings
    tries = 0
    while extra > 0 and tries < 100 * n_nodes:
        tries += 1
        i, j = sorted(rng.choice(n_nodes, 2, replace=False).tolist())
        if (i, j) not in pairs:
            pairs.append((i, j))
            extra -= 1
    for i, j in pairs:
        elements.append({"name": f"CC{i + 1}_{j + 1}", "nodes": [nodes[i], nodes[j]],
                         "c": float(rng.uniform(0.1e-9, 0.4e-9))})
    if conductance is not None:
        for i, node in enumerate(nodes):
            elements.append({"name": f"RD{i + 1}", "nodes": [node, "0"], "g": float(conductance)})
    inputs = []
    for k in range(n_inputs):
        elements.append({"name": f"IIN{k + 1}", "nodes": ["0", nodes[k % n_nodes]],
                         "waveform": {"type": "sine", "amplitude": amplitude,
                                      "frequency": float(rng.uniform(2e6, 6e6)),
                                      "phase": float(rng.uniform(0, 2 * np.pi))}})
        inputs.append(f"IIN{k + 1}")
    outputs, targets = [], []
    for k in range(n_outputs):
        index = n_nodes - 1 - k
        if output_kind == "current":
            outputs.append({"name": f"y{k}", "element": f"L{index + 1}"})
            scale = 2e-3
        else:
            outputs.append({"name": f"y{k}", "node": nodes[index]})
            scale = 1e-8
        targets.append({"type": "sine", "amplitude": scale,
                        "frequency": float(rng.uniform(2e6, 6e6)),
                        "phase": float(rng.uniform(0, 2 * np.pi))})
    trainable = ["CC*"] + (["L*"] if train_inductors else [])
    if train_inductors and output_kind == "current":
        trainable = ["CC*"] + [f"L{i + 1}" for i in range(n_nodes - n_outputs)]
    return {"name": name or f"lc_random_{n_nodes}_{seed}", "kind": "lc",
            "description": f"random {'nonlinear ' if nonlinear else ''}LC network, "
                           f"{n_nodes} nodes, seed {seed}",
            "elements": elements, "inputs": inputs, "outputs": outputs, "targets": targets,
            "trainable": trainable, "time": {"tstop": tstop, "tstep": tstep}}


def random_lc_model(**kwargs):
    """:func:`random_lc_data` validated and built into an :class:`~eqprop_hw.lc.model.LCModel`."""
    from eqprop_hw.lc.model import build_model
    from eqprop_hw.circuit.spec import parse_spec
    return build_model(parse_spec(random_lc_data(**kwargs)))
