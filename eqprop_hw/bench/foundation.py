"""Foundation benchmarks, measured side by side in one process on the same work.

1. ``native_vs_ngspice``: time per sample of the DC operating point of ``mnist_size``
   (784-100-10 diode crossbar) with the native backend (one batch) and with ngspice in the loop
   (the circuit loaded once, inputs changed by ``alter``); the outputs of the samples both ran
   must agree to 1 µV.
2. ``export_vs_pyspice``: writing the netlist text of a circuit with :func:`write_netlist`
   versus building the same circuit element by element with PySpice's ``Circuit`` API and
   rendering it.

Run with ``eqprop-hw bench foundation`` (``--json`` for machines) or
``python -m eqprop_hw.bench.foundation [--quick]``. Ratios, not absolute times, are the result:
these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.bench import spec_path
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.netlist import write_netlist
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.bench._table import Row


#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = (
    Row("mnist_size.speedup", "mnist_size DC operating point: ngspice / native time per sample",
        "x", ">= 200"),
    Row("mnist_size.agree_to_1uV", "native and ngspice outputs agree to 1 uV", "", "yes",
        "mnist_size.agree_to_1uV"),
    Row("export.speedup", "netlist text: PySpice element by element / write_netlist", "x"),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)


def _circuit(name: str):
    return build_circuit(load_spec(spec_path(name)))


def native_vs_ngspice(spec: str = "mnist_size", batch: int = 1024, ngspice_samples: int = 8,
                      seed: int = 0) -> dict:
    """Per-sample time of native (batched) and ngspice (in the loop) on the same inputs."""
    circuit = _circuit(spec)
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0.0, 1.0, (batch, len(circuit.inputs)))
    native = make_backend("native", circuit)
    native.solve(inputs[:4])  # warm-up (BLAS threads, caches)
    start = time.perf_counter()
    native_result = native.solve(inputs)
    native_per_sample = (time.perf_counter() - start) / batch
    with make_backend("ngspice", circuit) as ngspice:
        ngspice.solve(inputs[:1])  # first op pays one-off set-up
        start = time.perf_counter()
        spice_result = ngspice.solve(inputs[1:1 + ngspice_samples])
        ngspice_per_sample = (time.perf_counter() - start) / ngspice_samples
    difference = float(np.max(np.abs(spice_result.voltages -
                                      native_result.voltages[1:1 + ngspice_samples])))
    return {
        "spec": spec,
        "native_batch": batch,
        "ngspice_samples": ngspice_samples,
        "native_ms_per_sample": native_per_sample * 1e3,
        "ngspice_ms_per_sample": ngspice_per_sample * 1e3,
        "speedup": ngspice_per_sample / native_per_sample,
        "max_voltage_difference_V": difference,
        "agree_to_1uV": difference <= 1e-6,
    }


def _pyspice_circuit(circuit):
    """Build the same circuit with PySpice's element-by-element API and render it."""
    logging.getLogger("PySpice").setLevel(logging.ERROR)
    from PySpice.Spice.Netlist import Circuit as PySpiceCircuit
    built = PySpiceCircuit(circuit.name)
    for name, model in sorted(circuit.models.items()):
        built.model(name, "D", **{key: value for key, value in model.params()})
    for element in circuit.elements:
        suffix, (a, b) = element.name[1:], element.nodes[:2]
        if element.type == "R":
            built.R(suffix, a, b, element.resistance_ohm())
        elif element.type == "V":
            built.V(suffix, a, b, element.value)
        elif element.type == "D":
            built.D(suffix, a, b, model=element.model)
        elif element.type == "E":
            built.VCVS(suffix, a, b, element.nodes[2], element.nodes[3],
                       voltage_gain=element.value)
        elif element.type == "F":
            built.CCCS(suffix, a, b, element.control, current_gain=element.value)
        else:
            raise ValueError(f"benchmark does not map element type {element.type}")
    return str(built)


def export_vs_pyspice(spec: str = "mnist_size", repeats: int = 1) -> dict:
    """Time of our netlist writer versus PySpice's Circuit API on the same circuit."""
    circuit = _circuit(spec)
    start = time.perf_counter()
    for _ in range(repeats):
        text = write_netlist(circuit)
    ours = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for _ in range(repeats):
        _pyspice_circuit(circuit)
    theirs = (time.perf_counter() - start) / repeats
    return {"spec": spec, "elements": len(circuit.elements), "netlist_bytes": len(text),
            "export_seconds": ours, "pyspice_seconds": theirs, "speedup": theirs / ours}


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``: both benchmarks (``quick``: smaller runs)."""
    quick = bool(getattr(args, "quick", False))
    result = {}
    native = native_vs_ngspice(batch=256 if quick else 1024, ngspice_samples=3 if quick else 8)
    for key, value in native.items():
        result[f"mnist_size.{key}"] = value
    export = export_vs_pyspice("digits" if quick else "mnist_size")
    for key, value in export.items():
        result[f"export.{key}"] = value
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batch and circuit")
    result = run(parser.parse_args())
    json.dump(result, sys.stdout, indent=1)
    print()
