"""Seconds per ngspice operating point of bundled specs: the figures behind the default time
limit of a request to the isolated ngspice child (``eqprop_hw.backends.isolated``,
``request_time_limit``).

For each spec: the in-process ngspice backend solves ``--rows`` seeded random input rows
(uniform in [-1, 1]) once to warm up, then ``--repeats`` times; prints the elements, and the
seconds per row of the fastest and the slowest repeat, and that per element.

Usage: ``python tools/op_seconds.py [--rows N] [--repeats K] SPEC...``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import eqprop_hw
from eqprop_hw.backends import make_backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+")
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for spec in args.specs:
        circuit = eqprop_hw.load(spec).circuit
        x = np.random.default_rng(0).uniform(-1, 1, (args.rows, len(circuit.inputs)))
        with make_backend("ngspice", circuit, isolated=False) as backend:
            backend.solve(x[:1])
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                backend.solve(x)
                times.append((time.perf_counter() - start) / args.rows)
        n = len(circuit.elements)
        print(f"{spec}: {n} elements, {min(times):.3g}-{max(times):.3g} s per operating "
              f"point, {min(times) / n:.2g}-{max(times) / n:.2g} s per element")


if __name__ == "__main__":
    main()
