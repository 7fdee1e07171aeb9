"""Echo learning on lossy LC networks: at which quality factor does it stop matching the gradient?

Real LC hardware is lossy. A resistor of conductance g from every node to ground (the same g
everywhere) gives each node a quality factor ``Q = w0 C / g`` with ``w0 = 1/sqrt(L C)`` of its
own node capacitor and inductor (the median over nodes is reported). The echo is run exactly as
on the lossless network (hardware cannot tell), and compared by cosine and relative error with
the exact gradient of the lossy network (central finite differences through the same
integrator, which handles the losses exactly by Strang splitting). BPTT is not used: the
adjoint here is written for the lossless map.

Usage: ``python tools/study_lc_damping.py [--out docs/results]`` (writes ``lc_damping.json``
and ``lc_damping.png``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eqprop_hw.lc.bptt import agreement, fd_gradient
from eqprop_hw.lc.echo import hel_gradient
from eqprop_hw.lc.examples import random_lc_model

CONDUCTANCES = (1e-7, 1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


def quality_factor(model, g: float) -> float:
    """Median over nodes of w0 C / g (node capacitor and inductor to ground)."""
    caps, inds = model.values()
    q = []
    for k in range(model.n):
        c = sum(caps[j] for j, row in enumerate(model.cap_incidence)
                if np.count_nonzero(row) == 1 and row[k] != 0)
        l_k = [inds[j] for j, row in enumerate(model.ind_incidence)
               if np.count_nonzero(row) == 1 and row[k] != 0]
        if l_k:
            q.append(np.sqrt(c / l_k[0]) / g)
    return float(np.median(q))


def run_study(conductances=CONDUCTANCES, beta: float = 1e3) -> dict:
    rows = []
    for g in conductances:
        model = random_lc_model(n_nodes=4, seed=1, nonlinear=True, tstep=2e-9, tstop=1e-6,
                                conductance=g)
        y = model.target_waveforms()
        exact = fd_gradient(model, targets=y, rel_step=1e-5)
        estimate = hel_gradient(model, targets=y, beta=beta)[1]
        result = agreement(estimate, exact)
        rows.append({"conductance": g, "Q": quality_factor(model, g), **result})
    threshold = next((row["Q"] for row in rows if row["cosine"] < 0.99), None)
    return {"beta": beta, "rows": rows, "Q_where_cosine_below_0.99": threshold}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for lc_damping.json/.png")
    args = parser.parse_args(argv)
    result = run_study()
    print(f"{'g (S)':>8} {'Q':>10} {'cosine':>10} {'rel err':>9}")
    for row in result["rows"]:
        print(f"{row['conductance']:>8.0e} {row['Q']:>10.3g} {row['cosine']:>10.6f} "
              f"{row['rel_error']:>9.3g}")
    print(f"cosine drops below 0.99 at Q = {result['Q_where_cosine_below_0.99']}")
    if args.out:
        out = Path(args.out)
        (out / "lc_damping.json").write_text(json.dumps(result, indent=1) + "\n")
        from eqprop_hw.io.plots import pyplot, save_figure
        plt = pyplot()
        figure, axis = plt.subplots(figsize=(5, 3.2))
        q = [row["Q"] for row in result["rows"]]
        axis.semilogx(q, [row["cosine"] for row in result["rows"]], "o-")
        axis.axhline(0.99, color="k", lw=0.8, ls=":")
        axis.set_xlabel("quality factor Q = w0 C / g")
        axis.set_ylabel("cos(echo, exact gradient)")
        axis.set_title("echo learning on a lossy LC network")
        axis.grid(True, which="both", alpha=0.3)
        save_figure(figure, out / "lc_damping.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
