"""What one part of a minibatch costs the native solver (issue 19 item 5: the default ``chunks``).

For each bundled example that trains (iris, digits, xor), times one EP gradient
(:func:`eqprop_hw.learning.ep.ep_gradient`: free and both nudged phases, local rule) on the first
1, 2, 4, 16, 64, 128 and 256 rows of the training set, and a minibatch of 4 rows in 1 and in 2
parts (:func:`eqprop_hw.learning.ep.chunked_gradient`), best of ``--repeats`` after one warm-up
call each. Prints ms per call: this is the ground of
:func:`eqprop_hw.learning.dispatch_model.default_chunks` (a part smaller than the native
solver's own chunk of rows costs about what one batched call of the whole minibatch costs).

Usage::

    PYTHONPATH=$PWD python3 tools/native_part_cost.py [--repeats 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from eqprop_hw.backends import make_backend
from eqprop_hw.bench import spec_path
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.io.data import load_dataset
from eqprop_hw.learning.ep import chunked_gradient, ep_gradient, make_probe

ROWS = (1, 2, 4, 16, 64, 128, 256)
BETA = 2e-6


def best_ms(function, repeats: int) -> float:
    """Least wall time of ``function()`` over ``repeats`` calls after a warm-up (ms)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1e3 * min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--repeats", type=int, default=30,
                        help="timed calls per size, the least is kept (default: 30)")
    options = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name in ("iris", "digits", "xor"):
        spec = load_spec(spec_path(name))
        circuit = build_circuit(spec)
        data = load_dataset(spec, circuit)
        engine = make_backend("native", circuit, compiled=True)
        probe = make_probe(circuit, engine.node_names)
        cells = []
        for rows in ROWS:
            if rows > len(data.x_train):
                continue
            x, t = data.x_train[:rows], data.loss_targets(data.y_train[:rows], "squared")
            cost = best_ms(lambda: ep_gradient(engine, x, t, BETA, "centered", probe),
                           options.repeats)
            cells.append(f"{rows} rows {cost:.2f}")
        x, t = data.x_train[:4], data.loss_targets(data.y_train[:4], "squared")
        parts = [best_ms(lambda: chunked_gradient(engine, x, t, BETA, "centered", probe, k),
                         options.repeats) for k in (1, 2)]
        print(f"{name}: ms per EP gradient: {', '.join(cells)}; 4 rows in 2 parts / in 1: "
              f"{parts[1]:.2f} / {parts[0]:.2f} ms = {parts[1] / parts[0]:.2f}x", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
