"""Check that a trained circuit's reported accuracy is the circuit's own.

For every sample of a split, the trained circuit is exported as a netlist with that sample's
input voltages (``eqprop-hw export --params P --input X``), run by a separate ``ngspice -b``
process, and its output node voltages turned into a prediction. These predictions must equal
those of ``eqprop-hw predict`` (native backend by default), sample by sample.

Usage: ``python tools/verify_predictions.py SPEC PARAMS [--split test] [--limit N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.backends.ngspice import run_ngspice_batch
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.io.data import load_dataset
from eqprop_hw.circuit.netlist import write_netlist
from eqprop_hw.io.params import load_params
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.learning.train import evaluate


def verify(spec_path: str, params_path: str, split: str = "test", limit: int | None = None,
           backend: str = "native", progress: bool = True) -> dict:
    """Compare ``predict`` with raw ngspice runs of exported netlists, sample by sample."""
    spec = load_spec(spec_path)
    circuit = build_circuit(spec, params=load_params(params_path))
    dataset = load_dataset(spec, circuit)
    x, y, index = dataset.split(split)
    if limit is not None:
        x, y, index = x[:limit], y[:limit], index[:limit]
    with make_backend(backend, circuit) as engine:
        reported = evaluate(engine, dataset, x, y)
    raw_outputs = np.empty_like(reported["outputs"])
    iterator = range(len(x))
    if progress:
        from tqdm import tqdm
        iterator = tqdm(iterator, desc="ngspice -b", unit="sample", leave=False)
    for row in iterator:
        vectors = run_ngspice_batch(write_netlist(circuit, inputs=x[row]))
        raw_outputs[row] = [float(np.ravel(vectors[f"v({p.node})"])[0]) for p in circuit.outputs]
    predicted = dataset.predict(reported["outputs"])
    raw_predicted = dataset.predict(raw_outputs)
    same = np.all(np.asarray(predicted).reshape(len(x), -1) ==
                  np.asarray(raw_predicted).reshape(len(x), -1), axis=1)
    return {"spec": spec.name, "split": split, "samples": int(len(x)), "backend": backend,
            "reported_accuracy": reported["accuracy"],
            "raw_ngspice_accuracy": dataset.accuracy(raw_outputs, y),
            "same_predictions": int(same.sum()),
            "different_indices": [int(i) for i in index[~same]],
            "max_output_difference_V": float(np.max(np.abs(raw_outputs - reported["outputs"])))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("params")
    parser.add_argument("--split", default="test", choices=("train", "test", "all"))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--backend", default="native", choices=("native", "ngspice"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = verify(args.spec, args.params, args.split, args.limit, args.backend)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if result["same_predictions"] == result["samples"] else 1


if __name__ == "__main__":
    sys.exit(main())
