"""Echo learning on the bundled 20-node nonlinear LC network: ngspice measurements vs BPTT,
native vs ngspice trajectories, finite differences through ngspice, reversibility.

Usage: ``python tools/study_lc_echo.py [--out docs/results]`` (prints a table; writes
``lc_echo.json`` and ``lc_echo_waveforms.png``). ``--limits [ARGS...]`` runs the study of the
echo's limits instead (residual size x beta x transient step, the floor:
``tools/study_lc_echo_limits.py``, which takes the ARGS).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from eqprop_hw.lc.bptt import agreement, bptt_gradient
from eqprop_hw.lc.model import build_model
from eqprop_hw.lc.ngspice import LCNgspice, resample
from eqprop_hw.circuit.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def run_study() -> dict:
    model = build_model(load_spec(ROOT / "circuits" / "lc" / "lc_nonlinear20.yaml"))
    targets = model.target_waveforms()
    out = {"nodes": model.n, "trainable": len(model.trainable), "steps": model.steps}
    start = time.perf_counter()
    loss, grad, native = bptt_gradient(model, targets=targets)
    out["bptt_seconds"] = time.perf_counter() - start
    with LCNgspice(model) as ng:
        start = time.perf_counter()
        forward = ng.run()
        out["ngspice_tran_seconds"] = time.perf_counter() - start
        out["ngspice_points"] = len(forward["time"])
        v = resample(forward["time"], forward["V"], model.times)
        out["native_vs_ngspice_voltage"] = float(np.max(np.abs(v - native.voltages[:, 0]))
                                                 / np.max(np.abs(native.voltages)))
        o = ng.outputs(forward)
        out["native_vs_ngspice_outputs"] = float(np.max(np.abs(o - native.outputs[:, 0]))
                                                 / np.max(np.abs(native.outputs)))
        back = ng.run(ic=ng.reversed_state(ng.end_state(forward)), reverse=True)
        pf, pb = (resample(r["time"], r["phi"], model.times) for r in (forward, back))
        out["ngspice_retrace"] = float(np.max(np.abs(pb - pf[::-1])) / np.max(np.abs(pf)))
        rows = []
        for nudge in ("centered", "positive"):
            for beta in (1e2, 1e3, 1e4):
                measured_loss, estimate, details = ng.hel_gradient(model.targets, beta, nudge,
                                                                   details=True)
                rows.append({"nudge": nudge, "beta": beta, **agreement(estimate, grad)})
                if nudge == "centered" and beta == 1e3:
                    echo = details["echo"][beta]
        out["echo_vs_bptt"] = rows
        out["loss_ngspice"], out["loss_native"] = measured_loss, loss
        figure_data = (forward, back, echo)
    return out, model, figure_data


def draw_waveforms(path, model, forward, back, echo) -> None:
    """``lc_echo_waveforms.png``: the forward run and its un-nudged echo at the first output
    node (flux and voltage), and the nudged minus the free echo, in scaled SI units (nWb, mV,
    ...: no offset label), each legend in a row above its panel (off the curves)."""
    from eqprop_hw.io.plots import pyplot, save_figure
    from eqprop_hw.lc.plots import si_scale
    plt = pyplot()
    figure, axes = plt.subplots(3, 1, figsize=(6.5, 6.6), sharex=True)
    k = model.nodes.index(model.outputs[0]["node"])
    t_f, t_b = forward["time"] * 1e6, (model.tstop - back["time"]) * 1e6
    pb = resample(back["time"], back["phi"], model.times)[:, k]
    pn = resample(echo["time"], echo["phi"], model.times)[:, k]
    panels = (
        ("flux", "Wb", [(t_f, forward["phi"][:, k], "C0-", 1, "forward phi(t)"),
                        (t_b, back["phi"][:, k], "C3:", 2, "un-nudged echo phi(T - s)")]),
        ("voltage", "V", [(t_f, forward["V"][:, k], "C0-", 1, "forward V(t)"),
                          (t_b, -back["V"][:, k], "C3:", 2,
                           "-V of the un-nudged echo at T - s")]),
        ("nudged - free echo\nflux", "Wb", [(model.times * 1e6, (pn - pb)[::-1], "C2-", 1,
                                              "beta = 1e3 A/Wb")]))
    for axis, (what, unit, curves) in zip(axes, panels):
        factor, prefix = si_scale(*[y for _, y, _, _, _ in curves])
        for x, y, style, width, label in curves:
            axis.plot(x, factor * np.asarray(y), style, lw=width, label=label)
        axis.set_ylabel(f"{what} ({prefix}{unit})")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.01),
                    ncol=len(curves), frameon=False, borderaxespad=0.0)
    axes[-1].set_xlabel("forward time t = T - s (µs)")
    figure.suptitle(f"{model.name}: ngspice, output node {model.outputs[0]['node']}",
                    fontsize=10)
    figure.tight_layout(h_pad=1.6)
    save_figure(figure, path)


def main(argv=None) -> int:
    import sys
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--limits"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from study_lc_echo_limits import main as limits
        return limits(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    result, model, (forward, back, echo) = run_study()
    for key, value in result.items():
        if key != "echo_vs_bptt":
            print(f"{key:>28}: {value}")
    print(f"{'nudge':>10} {'beta':>8} {'cosine':>14} {'rel_error':>10}")
    for row in result["echo_vs_bptt"]:
        print(f"{row['nudge']:>10} {row['beta']:>8.0e} {row['cosine']:>14.10f} "
              f"{row['rel_error']:>10.3g}")
    if args.out:
        out = Path(args.out)
        (out / "lc_echo.json").write_text(json.dumps(result, indent=1) + "\n")
        draw_waveforms(out / "lc_echo_waveforms.png", model, forward, back, echo)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
