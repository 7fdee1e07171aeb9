"""Memory of echo learning vs BPTT as the sequence grows.

One nonlinear LC network (8 nodes, 1 ns steps) and sequences of 1000 .. 16000 steps
(``--quick``: up to 4000). For each length, the peak memory allocated by numpy/Python during
one gradient (``tracemalloc``, which numpy reports to) is measured for:

- ``echo``: :func:`eqprop_hw.lc.echo.hel_gradient` (forward run keeping only its end state, then
  the centered echoes, each element integrating its own quantity on the fly);
- ``bptt``: :func:`eqprop_hw.lc.bptt.bptt_gradient` (stores the trajectory for the adjoint).

Reported per length: peak MB of each and their ratio; and the growth factor of each from the
shortest to the longest sequence (echo: flat, ~1; BPTT: ~ the length ratio). The input and
target waveform arrays (an input of the measurement, not of the method) are allocated before
tracing starts.

Run with ``eqprop-hw bench echo_memory`` or ``python -m eqprop_hw.bench.echo_memory [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import tracemalloc

from eqprop_hw.lc.bptt import bptt_gradient
from eqprop_hw.lc.echo import hel_gradient
from eqprop_hw.lc.examples import random_lc_model
from eqprop_hw.bench._table import Row

#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = (
    Row("echo_growth", "echo learning peak memory, longest / shortest sequence", "x", "flat (~1)"),
    Row("bptt_growth", "BPTT peak memory, longest / shortest sequence", "x",
        "~ length ratio"),
    Row("longest.bptt_over_echo", "peak memory BPTT / echo at the longest sequence", "x"),
    Row("length_ratio", "longest / shortest sequence length", "x"),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)


def _peak_mb(function) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2 ** 20


def run(args) -> dict:
    """Measure and return ``{"lengths", "echo_mb", "bptt_mb", ...}`` (see module docstring)."""
    quick = bool(getattr(args, "quick", False))
    lengths = [1000, 2000, 4000] if quick else [1000, 2000, 4000, 8000, 16000]
    result = {"lengths": lengths, "echo_mb": [], "bptt_mb": []}
    for steps in lengths:
        model = random_lc_model(n_nodes=8, seed=5, nonlinear=True, tstep=1e-9,
                                tstop=steps * 1e-9)
        inputs = model.input_waveforms()
        targets = model.target_waveforms()
        echo = _peak_mb(lambda: hel_gradient(model, inputs=inputs, targets=targets, beta=1e3))
        bptt = _peak_mb(lambda: bptt_gradient(model, inputs=inputs, targets=targets))
        result["echo_mb"].append(echo)
        result["bptt_mb"].append(bptt)
        result[f"steps{steps}.echo_mb"] = echo
        result[f"steps{steps}.bptt_mb"] = bptt
    result["echo_growth"] = result["echo_mb"][-1] / result["echo_mb"][0]
    result["bptt_growth"] = result["bptt_mb"][-1] / result["bptt_mb"][0]
    result["longest.bptt_over_echo"] = result["bptt_mb"][-1] / result["echo_mb"][-1]
    result["length_ratio"] = lengths[-1] / lengths[0]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{'steps':>7} {'echo MB':>9} {'BPTT MB':>9}")
        for steps, echo, bptt in zip(result["lengths"], result["echo_mb"], result["bptt_mb"]):
            print(f"{steps:>7} {echo:>9.3f} {bptt:>9.3f}")
        print(f"growth over {result['length_ratio']:.0f}x length: echo "
              f"{result['echo_growth']:.2f}x, BPTT {result['bptt_growth']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
