"""Limits of the echo measured in ngspice (issue 17): per lc example and residual size (1e-3 to
1 of the output swing), the centered estimate vs BPTT at several beta, before (ngspice's own step
control, PWL sources) and after (fixed steps, breakpoint-free sources), with the measured floor;
and the accuracy vs ngspice's maximum step.

Usage: ``nice -n 10 python tools/study_lc_echo_limits.py [--out docs/results] [--quick]``
(prints a table; writes ``lc_echo_limits.json`` and ``lc_echo_limits.png``). Targets are the
native outputs plus ``r * swing * sin(6 pi t / T + k)`` (output k), inputs the spec's waveforms.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.lc.bptt import agreement, bptt_gradient
from eqprop_hw.lc.echo import default_beta
from eqprop_hw.lc.integrate import integrate
from eqprop_hw.lc.model import build_model
import eqprop_hw.lc.ngspice as lcng

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("lc_duffing", "lc_eeg_filter", "lc_teacher", "lc_nonlinear20")
RESIDUALS = (1e-3, 1e-2, 1e-1, 1.0)
FACTORS = (1e-6, 1e-3, 1.0, 10.0, 100.0)


def targets_for(model, u, residual):
    out = integrate(model, inputs=u, store=True).outputs[:, 0]
    swing = np.ptp(out, axis=0)
    t = model.times
    wave = np.stack([np.sin(2 * np.pi * 3 * t / model.tstop + k)
                     for k in range(out.shape[1])], axis=1)
    return out + residual * swing * wave


#: "after" with this branch's library; "before" when run on the code before issue 17
#: (``PYTHONPATH=<old checkout>``: no fixed echo steps, PWL bank sources, no floor)
MODE = "after" if hasattr(lcng, "ECHO_TRTOL") else "before"


def echo_rows(model, u, y, exact, factors):
    """One row per beta factor (and the default beta): the centered estimate from ngspice vs
    BPTT, with its measured floor (after) ."""
    rows = []
    with lcng.LCNgspice(model) as ng:
        ng.load_bank(u[None], y[None])
        for factor in list(factors) + ["default"]:
            beta = None if factor == "default" else factor * default_beta(model)
            start = time.perf_counter()
            if MODE == "after":
                _, estimate, info = ng.hel_gradient(None, beta, "centered", sample=0,
                                                    details=True)
                extra = {**info["floor"], "beta": info["beta"]}
            else:
                beta = beta or default_beta(model)
                _, estimate = ng.hel_gradient(None, beta, "centered", sample=0)
                extra = {"beta": beta}
            rows.append({"mode": MODE, "factor": factor, **agreement(estimate, exact),
                         **extra, "seconds": time.perf_counter() - start})
    return rows


def run_study(examples, residuals, factors, fraction_sweep=True) -> dict:
    results = {"examples": {}, "machine": "2-core shared session machine", "ngspice": "39"}
    for name in examples:
        spec = ROOT / "circuits" / "lc" / f"{name}.yaml"
        model = build_model(load_spec(spec))
        u = model.input_waveforms()
        entry = {"default_beta": default_beta(model), "steps": model.steps,
                 "trainable": len(model.trainable), "residuals": {}}
        for residual in residuals:
            y = targets_for(model, u, residual)
            _, exact, _ = bptt_gradient(model, inputs=u, targets=y)
            rows = echo_rows(model, u, y, exact, factors)
            entry["residuals"][str(residual)] = rows
            for row in rows:
                print(f"{name:>15} r={residual:<6g} {row['mode']:>6} beta={row['factor']!s:>7}"
                      f" ({row['beta']:.3g}) cos={row['cosine']:.9f} rel={row['rel_error']:.3g}"
                      f" signal/floor={row.get('signal_to_floor', float('nan')):.3g}",
                      flush=True)
        results["examples"][name] = entry
    if fraction_sweep:
        results["max_step"] = max_step_sweep(examples[0])
    return results


def max_step_sweep(name, fractions=(1.0, 0.5, 0.25, 0.1)):
    """Accuracy vs ngspice's maximum step (fraction of tstep), residual 1e-2, default beta."""
    import tempfile
    import yaml
    rows = []
    data = yaml.safe_load((ROOT / "circuits" / "lc" / f"{name}.yaml").read_text())
    for fraction in fractions:
        data.setdefault("options", {})["max_step_fraction"] = fraction
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{name}.yaml"
            path.write_text(yaml.safe_dump(data))
            model = build_model(load_spec(path))
        u = model.input_waveforms()
        y = targets_for(model, u, 1e-2)
        _, exact, _ = bptt_gradient(model, inputs=u, targets=y)
        row = echo_rows(model, u, y, exact, (1.0,))[0]
        rows.append({"max_step_fraction": fraction, **row})
        print(f"max step {fraction:g} tstep: cos={row['cosine']:.9f} rel={row['rel_error']:.3g}"
              f" {row['seconds']:.1f} s", flush=True)
    return rows


def plot(results, path, before=None):
    """Left: rel. error vs residual at the default beta (after; before from ``before``);
    right: rel. error and floor / |estimate| vs beta at the smallest residual."""
    from eqprop_hw.io.plots import pyplot, save_figure
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 5.6))

    def default_errors(entry):
        residuals = sorted(entry["residuals"], key=float)
        return [float(r) for r in residuals], [
            next(row["rel_error"] for row in entry["residuals"][r]
                 if row["factor"] == "default" and row["mode"] in ("after", "before"))
            for r in residuals]

    for k, (name, entry) in enumerate(results["examples"].items()):
        axes[0].loglog(*default_errors(entry), "-o", color=f"C{k}", label=f"{name}")
        if before and name in before["examples"]:
            axes[0].loglog(*default_errors(before["examples"][name]), ":x", color=f"C{k}",
                           label=f"{name} (before)")
        res = sorted(entry["residuals"], key=float)[0]
        rows = [r for r in entry["residuals"][res]
                if r["factor"] != "default" and r["mode"] == "after"]
        axes[1].loglog([r["beta"] for r in rows], [r["rel_error"] for r in rows], "-o",
                       color=f"C{k}", label=f"{name}: rel. error")
        axes[1].loglog([r["beta"] for r in rows], [1.0 / r["signal_to_floor"] for r in rows],
                       ":", color=f"C{k}", label=f"{name}: floor / |estimate|")
    axes[0].axhline(1e-2, color="k", lw=0.5)
    axes[0].set_xlabel("residual r (target - output = r * swing * sine)")
    axes[0].set_ylabel("rel. error vs BPTT, default beta (1)")
    axes[0].set_title("ngspice echo vs BPTT")
    axes[1].axhline(1e-2, color="k", lw=0.5)
    axes[1].set_xlabel("beta (A/Wb)")
    axes[1].set_ylabel("rel. error; floor / |estimate| (1)")
    axes[1].set_title("beta sweep, r = 1e-3")
    for axis in axes:           # legends below the panels, off the curves
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
                    frameon=False)
    figure.tight_layout()
    save_figure(figure, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true", help="lc_duffing only")
    parser.add_argument("--examples", default=None, help="comma-separated example names")
    parser.add_argument("--factors", default=None,
                        help="comma-separated beta factors (x default_beta); '' for the "
                             "default beta only")
    parser.add_argument("--residuals", default=None,
                        help="comma-separated residual sizes (default 1e-3,1e-2,1e-1,1)")
    parser.add_argument("--json-only", action="store_true", help="write the JSON, no plot")
    parser.add_argument("--merge", nargs="*", default=(), help="JSON files of earlier runs to "
                        "merge (plot all examples)")
    parser.add_argument("--plot-only", action="store_true", help="run nothing: merge the "
                        "--merge files and plot them")
    parser.add_argument("--before", default=None, help="JSON of a run on the code before "
                        "issue 17 (drawn dotted)")
    args = parser.parse_args(argv)
    examples = args.examples.split(",") if args.examples else \
        (EXAMPLES[:1] if args.quick else EXAMPLES)
    factors = FACTORS if args.factors is None else \
        tuple(float(f) for f in args.factors.split(",") if f)
    residuals = RESIDUALS if args.residuals is None else \
        tuple(float(r) for r in args.residuals.split(","))
    if args.plot_only:
        results = {"examples": {}, "max_step": None, "machine": "2-core shared session machine",
                   "ngspice": "39"}
    else:
        results = run_study(examples, residuals, factors,
                            fraction_sweep=examples[0] == EXAMPLES[0])
    for path in args.merge:
        earlier = json.loads(Path(path).read_text())
        results["examples"] = {**earlier["examples"], **results["examples"]}
        if results.get("max_step") is None:
            results["max_step"] = earlier.get("max_step")
    if args.out:
        out = Path(args.out)
        (out / "lc_echo_limits.json").write_text(json.dumps(results, indent=1) + "\n")
        if not args.json_only:
            before = json.loads(Path(args.before).read_text()) if args.before else None
            plot(results, out / "lc_echo_limits.png", before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
