"""Check ``grad --backend ngspice`` of the lc examples against finite differences taken through
plain ``ngspice -b`` of the netlist ``export`` writes (issue 17's reproducibility target).

For each example and residual size r (fraction of the output swing) the tool

1. writes an input file of its own (the spec's default inputs, 0.8x, plus a sine of 0.2x their
   peak at 3.7 cycles per window, seeded phase; one row per grid time) and a target file (the
   native outputs for those inputs from ``eqprop-hw simulate --input-file``, plus
   ``r * swing * sin(6 pi t / T + k)`` on output k);
2. runs ``eqprop-hw grad SPEC --backend ngspice --input-file U --target-file Y --json`` at its
   default settings (beta rule, tolerances) and keeps the echo estimate (``ep``) and BPTT
   (``exact``);
3. runs ``eqprop-hw export SPEC --input-file U -o NET.cir`` once (the free-phase netlist of
   those inputs; ``export`` takes ``--target-file`` only with ``--beta``, the nudged circuit,
   and the target does not enter the free phase, so one set of ngspice runs serves every
   residual);
4. edits each trainable element's value in that netlist text (capacitor/inductor value, or the
   ``VLVAL_<L>`` source of a nonlinear inductor) to ``value * (1 +- h)``, runs ``ngspice -b -r``
   on it, reads the binary raw file with the parser below, interpolates every output's node
   flux ``v(flx_<node>)`` linearly onto the grid and computes the loss
   ``sum_n w_n h_t 1/2 |phi_n - y_n|^2`` (trapezoidal weights) itself: nothing of the
   project's ngspice or echo code is used for the reference;
5. reports cos and relative error ``|a - b| / |b|`` of the echo vs FD, BPTT vs FD, echo vs BPTT,
   and FD at step h1 vs FD at step h2 (FD's own noise).

Usage: ``nice -n 10 python3 tools/lc_fd_ngspice.py [--examples a,b] [--residuals 1e-3,1]
[--steps 1e-3,1e-4] [--subset N --seed S] [--out docs/results]`` (prints a table; with
``--out`` writes ``lc_fd_ngspice.json``). Run from the repository (``PYTHONPATH=$PWD``).
Further modes: ``--variant breakpoint-free`` (FD through the exported netlist with its PWL
inputs rewritten as breakpoint-free ``pwl()`` behavioural sources, → ``..._breakpoint_free.json``),
``--continuous`` / ``--add-continuous JSON`` (add the continuous-time reference: BPTT at
tstep/2 and tstep/4, Richardson-extrapolated: :func:`eqprop_hw.lc.continuous.continuous_gradient`),
``--max-step-sweep F1,F2`` (the echo at other ngspice maximum steps, no FD), ``--no-fd
[--seeds 0,1,2]`` (no FD: the echo ``grad --backend ngspice`` prints against BPTT and against
its continuous-time reference, → ``lc_grad_continuous.json``). Results:
docs/results/lc_echo.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("lc_duffing", "lc_eeg_filter", "lc_teacher", "lc_nonlinear20")
RESIDUALS = (1e-3, 1e-2, 1e-1, 1.0)
STEPS = (1e-3, 1e-4)
NGSPICE_TIMEOUT = 600.0          # s per ngspice run
MAX_RAW_BYTES = 1 << 30


def cli(*argv, timeout=3600.0) -> str:
    """Run ``python -m eqprop_hw ARGV`` (this checkout first on the path); return stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    done = subprocess.run([sys.executable, "-m", "eqprop_hw", *map(str, argv), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"eqprop-hw {' '.join(map(str, argv))}: {done.stderr.strip()}")
    return done.stdout


# -- the independent reference: netlist edits, ngspice -b, raw file, loss ------------------
def read_raw(path: Path) -> dict:
    """Vectors of an ngspice binary raw file of one real transient plot."""
    blob = path.read_bytes()
    if len(blob) > MAX_RAW_BYTES:
        raise ValueError(f"{path}: raw file larger than {MAX_RAW_BYTES} bytes")
    names, n_vars, n_points, pos = [], None, None, 0
    while True:
        end = blob.find(b"\n", pos)
        if end < 0:
            raise ValueError(f"{path}: no Binary: section")
        line = blob[pos:end].decode("ascii")
        pos = end + 1
        key = line.split(":", 1)[0].strip()
        if key == "Flags" and "real" not in line:
            raise ValueError(f"{path}: only real plots are read ({line.strip()})")
        if key == "No. Variables":
            n_vars = int(line.split(":", 1)[1])
        elif key == "No. Points":
            n_points = int(line.split(":", 1)[1])
        elif key == "Variables":
            for _ in range(n_vars):
                end = blob.index(b"\n", pos)
                names.append(blob[pos:end].decode("ascii").split()[1].lower())
                pos = end + 1
        elif key in ("Binary", "Values"):
            break
    if key != "Binary":
        raise ValueError(f"{path}: not a binary raw file (unset SPICE_ASCIIRAWFILE)")
    if n_vars is None or n_points is None or len(names) != n_vars \
            or len(blob) - pos < 8 * n_vars * n_points:
        raise ValueError(f"{path}: truncated or malformed raw file")
    data = np.frombuffer(blob, dtype="<f8", count=n_vars * n_points, offset=pos)
    data = data.reshape(n_points, n_vars)
    return {name: data[:, k] for k, name in enumerate(names)}


def netlist_header(text: str) -> tuple[list[str], list[str]]:
    """Trainable names and output flux nodes from the ``*@`` lines of an exported netlist."""
    trainable, outputs = [], []
    for line in text.splitlines():
        if line.startswith("*@ trainable "):
            trainable = line.split()[2:]
        elif line.startswith("*@ output "):
            _, _, _, kind, node = line.split()
            if kind != "flux":
                raise ValueError(f"output kind {kind!r}: this tool reads flux outputs only")
            outputs.append(node)
    return trainable, outputs


def perturbed(text: str, name: str, factor: float) -> str:
    """The netlist with element ``name``'s value multiplied by ``factor`` (the value of a
    linear C/L line, or the DC value of ``VLVAL_<name>`` for a nonlinear inductor)."""
    lines = text.splitlines(keepends=True)
    pattern = re.compile(rf"^(?:{re.escape(name)} \S+ \S+ |VLVAL_{re.escape(name)} \S+ \S+ DC )"
                         r"(\S+)(.*)$", re.IGNORECASE | re.DOTALL)
    hits = [k for k, line in enumerate(lines) if pattern.match(line)]
    if len(hits) != 1:
        raise ValueError(f"{name}: {len(hits)} value lines in the netlist (need exactly one)")
    if re.search(rf"^BQ{re.escape(name)} ", text, re.IGNORECASE | re.MULTILINE):
        raise ValueError(f"{name}: a varactor (its value is also in BQ{name}); not supported")
    k = hits[0]
    m = pattern.match(lines[k])
    value = float(m.group(1))
    lines[k] = lines[k][: m.start(1)] + repr(value * factor) + m.group(2)
    return "".join(lines)


def ngspice_flux(text: str, nodes, times, folder: Path) -> np.ndarray:
    """Run ``ngspice -b -r`` on the netlist; output fluxes (time, output) on the grid."""
    cir, raw = folder / "run.cir", folder / "run.raw"
    cir.write_text(text)
    raw.unlink(missing_ok=True)
    done = subprocess.run(["ngspice", "-b", "-r", str(raw), str(cir)], cwd=folder,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=NGSPICE_TIMEOUT, check=False)
    if done.returncode != 0 or not raw.exists():
        raise RuntimeError(f"ngspice -b failed ({done.returncode}): {done.stderr[-500:]}")
    vectors = read_raw(raw)
    t = vectors["time"]
    return np.stack([np.interp(times, t, vectors[f"v(flx_{node})"]) for node in nodes], axis=1)


def trapezoid_loss(phi, y, times) -> float:
    """``sum_n w_n dt_n 1/2 |phi_n - y_n|^2`` with trapezoidal weights (Wb^2 s)."""
    per = 0.5 * np.sum((phi - y) ** 2, axis=1)
    return float(np.sum(0.5 * (per[1:] + per[:-1]) * np.diff(times)))


def compare(a, b) -> dict:
    """Cosine of a and b and the relative error ``|a - b| / |b|``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return {"cosine": float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))),
            "rel_error": float(np.linalg.norm(a - b) / np.linalg.norm(b))}


# -- the study ------------------------------------------------------------------------------
def user_inputs(default: np.ndarray, times: np.ndarray, seed: int) -> np.ndarray:
    """0.8x the spec's default inputs plus a sine of 0.2x their peak, 3.7 cycles per window."""
    rng = np.random.default_rng(seed)
    span = times[-1] - times[0]
    peak = np.max(np.abs(default), axis=0)
    sine = np.stack([np.sin(2 * np.pi * 3.7 * times / span + rng.uniform(0, 2 * np.pi))
                     for _ in range(default.shape[1])], axis=1)
    return 0.8 * default + 0.2 * peak * sine


def make_sequence(spec: Path, residuals, seed, folder: Path) -> dict:
    """The user's input file and one target file per residual (see the module docstring)."""
    name = Path(spec).stem
    base = json.loads(cli("grad", spec, "--json"))           # the default sequence and grid
    u = user_inputs(np.array(base["inputs"], float).T, np.array(base["time"], float), seed)
    u_file = folder / f"{name}_u.npy"
    np.save(u_file, u)
    sim = json.loads(cli("simulate", spec, "--input-file", u_file, "--json"))
    times = np.array(sim["time"], float)
    out = np.array(sim["outputs"], float).T                   # (time, output)
    swing = np.ptp(out, axis=0)
    wave = np.stack([np.sin(2 * np.pi * 3 * times / times[-1] + k)
                     for k in range(out.shape[1])], axis=1)
    targets, y_files = {}, {}
    for r in residuals:
        targets[r] = out + r * swing * wave
        y_files[r] = folder / f"{name}_y_{r:g}.npy"
        np.save(y_files[r], targets[r])
    return {"u": u, "u_file": u_file, "times": times, "targets": targets, "y_files": y_files}


def element_value(text: str, name: str) -> float:
    """The value of trainable element ``name`` in a netlist (see :func:`perturbed`)."""
    m = re.search(rf"^(?:{re.escape(name)} \S+ \S+ |VLVAL_{re.escape(name)} \S+ \S+ DC )(\S+)",
                  text, re.IGNORECASE | re.MULTILINE)
    if m is None:
        raise ValueError(f"{name}: no value line in the netlist")
    return float(m.group(1))


def breakpoint_free(text: str) -> str:
    """The netlist with its PWL input current sources ``IIN.. a b PWL(t v ...)`` written as
    behavioural ``BIIN.. a b I=pwl(time, t, v, ...)`` sources: the same waveform without a
    breakpoint at every knot (the form the echo's bank of sequences uses)."""
    def rewrite(m):
        return f"B{m.group(1)} {m.group(2)} I=pwl(time, " + ", ".join(m.group(3).split()) + ")"
    new = re.sub(r"^(IIN\w*) (\S+ \S+) PWL\(([^)]*)\)", rewrite, text, flags=re.MULTILINE)
    if new == text:
        raise ValueError("no PWL input source to rewrite")
    return new


def continuous_reference(spec: Path, u, targets: dict, times) -> dict:
    """The gradient of the continuous-time circuit per residual, independent of ngspice:
    :func:`eqprop_hw.lc.continuous.continuous_gradient` (BPTT of the native leapfrog at
    tstep/2 and tstep/4 on the PWL waveforms the netlists play, Richardson-extrapolated).
    ``{r: {"gradient": ..., "error": |G(h/2) - G(h/4)| / |G(h/4)|}}`` (trainable order)."""
    from eqprop_hw.circuit.spec import load_spec
    from eqprop_hw.lc.continuous import continuous_gradient
    from eqprop_hw.lc.model import build_model
    model = build_model(load_spec(spec))
    if not np.allclose(model.times, times, rtol=0, atol=1e-9 * model.tstep):
        raise ValueError(f"{spec}: the sequence's grid is not the spec's")
    out = {}
    for r, y in targets.items():
        ref = continuous_gradient(model, inputs=u, targets=y)
        out[r] = {"gradient": ref.gradient, "error": ref.fine_error}
    return out


def study_example(spec: Path, residuals, steps, subset, seed, folder: Path,
                  variant: str = "exported", continuous: bool = False) -> dict:
    """Echo (``grad --backend ngspice``), BPTT and raw-ngspice FD of one lc spec, per residual;
    FD on every trainable element, or on ``subset`` of them drawn with ``seed``; ``variant``
    ``breakpoint-free`` takes the FD through :func:`breakpoint_free` of the exported netlist;
    ``continuous`` adds :func:`continuous_reference`."""
    name = Path(spec).stem
    seq = make_sequence(spec, residuals, seed, folder)
    times, targets = seq["times"], seq["targets"]
    entry = {"steps": len(times) - 1, "residuals": {}, "fd_runs": 0, "variant": variant,
             "fd_steps": list(steps)}
    cir = folder / f"{name}.cir"
    cli("export", spec, "--input-file", seq["u_file"], "-o", cir)
    netlist = cir.read_text()
    digest = hashlib.sha256(netlist.encode()).hexdigest()
    if variant == "breakpoint-free":
        netlist = breakpoint_free(netlist)
    for r in residuals:
        start = time.perf_counter()
        g = json.loads(cli("grad", spec, "--backend", "ngspice", "--input-file", seq["u_file"],
                           "--target-file", seq["y_files"][r], "--json"))
        entry["residuals"][f"{r:g}"] = {"grad": g, "grad_seconds": time.perf_counter() - start}
    trainable, nodes = netlist_header(netlist)
    names = list(trainable)
    if subset and subset < len(names):
        pick = np.random.default_rng(seed).choice(len(names), size=subset, replace=False)
        names = [names[k] for k in sorted(pick)]
    entry.update(trainable=trainable, fd_parameters=names, netlist_sha256=digest)
    values = {n: element_value(netlist, n) for n in names}
    start = time.perf_counter()
    phi0 = ngspice_flux(netlist, nodes, times, folder)
    fd = {h: {r: np.zeros(len(names)) for r in residuals} for h in steps}
    for k, n in enumerate(names):
        for h in steps:
            plus = ngspice_flux(perturbed(netlist, n, 1 + h), nodes, times, folder)
            minus = ngspice_flux(perturbed(netlist, n, 1 - h), nodes, times, folder)
            for r in residuals:
                fd[h][r][k] = (trapezoid_loss(plus, targets[r], times)
                               - trapezoid_loss(minus, targets[r], times)) / (2 * h * values[n])
        print(f"  {name}: FD {k + 1}/{len(names)} ({n})", flush=True)
    entry["fd_runs"] = 1 + 2 * len(steps) * len(names)
    entry["fd_seconds"] = time.perf_counter() - start
    h1, h2 = steps[0], steps[-1]
    for r in residuals:
        row = entry["residuals"][f"{r:g}"]
        g = row.pop("grad")
        echo = np.array([g["ep"][n] for n in names])
        bptt = np.array([g["exact"][n] for n in names])
        loss = trapezoid_loss(phi0, targets[r], times)
        row.update({
            "beta": g["beta"], "signal_to_floor": g["signal_to_floor"],
            "grad_loss": g["loss"], "raw_loss": loss,
            "echo_vs_bptt_all": {"cosine": g["cosine"], "rel_error": g["rel_error"]},
            "echo_vs_bptt": compare(echo, bptt),
            "echo_vs_fd": compare(echo, fd[h1][r]),
            "bptt_vs_fd": compare(bptt, fd[h1][r]),
            "fd_noise": compare(fd[h2][r], fd[h1][r]) if len(steps) > 1 else None,
            "echo": echo.tolist(), "bptt": bptt.tolist(),
            **{f"fd_{h:g}": fd[h][r].tolist() for h in steps}})
    if continuous:
        add_continuous(entry, spec, seq)
    return entry


def add_continuous(entry: dict, spec: Path, seq: dict) -> None:
    """Add the continuous-time reference and the echo's, BPTT's and FD's distance to it."""
    ref = continuous_reference(spec, seq["u"], seq["targets"], seq["times"])
    pick = [entry["trainable"].index(n) for n in entry["fd_parameters"]]
    for r, row in entry["residuals"].items():
        c = next(v for k, v in ref.items() if f"{k:g}" == r)
        gradient = np.asarray(c["gradient"])[pick]
        fd = row[f"fd_{entry['fd_steps'][0]:g}"]
        row.update({"continuous": gradient.tolist(), "continuous_error": c["error"],
                    "echo_vs_continuous": compare(row["echo"], gradient),
                    "bptt_vs_continuous": compare(row["bptt"], gradient),
                    "fd_vs_continuous": compare(fd, gradient)})


def grad_continuous(spec: Path, residuals, seed, folder: Path) -> dict:
    """No FD: what ``grad --backend ngspice`` prints for the user's inputs (the same
    construction as :func:`make_sequence`) at each residual: the echo against BPTT at tstep
    and against its continuous-time reference (BPTT converged in the time step), BPTT at tstep
    against that reference, and the reference's own estimated error."""
    seq = make_sequence(spec, residuals, seed, folder)
    entry = {"steps": len(seq["times"]) - 1, "residuals": {}}
    for r in residuals:
        start = time.perf_counter()
        g = json.loads(cli("grad", spec, "--backend", "ngspice", "--input-file", seq["u_file"],
                           "--target-file", seq["y_files"][r], "--json"))
        entry["residuals"][f"{r:g}"] = {
            "beta": g["beta"], "signal_to_floor": g["signal_to_floor"],
            "echo_vs_bptt": {"cosine": g["cosine"], "rel_error": g["rel_error"]},
            "echo_vs_continuous": {"cosine": g["continuous_cosine"],
                                   "rel_error": g["continuous_rel_error"]},
            "bptt_vs_continuous": g["exact_vs_continuous"],
            "continuous_error": g["continuous_error"],
            "grad_seconds": time.perf_counter() - start}
    return entry


def report_continuous(name: str, seed: int, entry: dict) -> None:
    """One line per residual of :func:`grad_continuous` on stdout."""
    for r, row in entry["residuals"].items():
        print(f"{name:>15} seed {seed} r={r:<6} echo~BPTT cos "
              f"{row['echo_vs_bptt']['cosine']:.7f} rel {row['echo_vs_bptt']['rel_error']:.2g}"
              f" | echo~continuous cos {row['echo_vs_continuous']['cosine']:.8f} rel "
              f"{row['echo_vs_continuous']['rel_error']:.2g} | BPTT~continuous rel "
              f"{row['bptt_vs_continuous']['rel_error']:.2g} | its own error "
              f"{row['continuous_error']:.1g} | {row['grad_seconds']:.1f} s", flush=True)


def max_step_sweep(spec: Path, residuals, fractions, seed, folder: Path) -> list:
    """The echo (``grad --backend ngspice``) on copies of the spec with
    ``options.max_step_fraction`` set to each fraction, against BPTT and against the
    continuous-time reference: how much of the echo's error is ngspice's step."""
    import yaml
    seq = make_sequence(spec, residuals, seed, folder)
    ref = continuous_reference(spec, seq["u"], seq["targets"], seq["times"])
    rows = []
    for fraction in fractions:
        data = yaml.safe_load(Path(spec).read_text())
        data.setdefault("options", {})["max_step_fraction"] = fraction
        copy = folder / Path(spec).name
        copy.write_text(yaml.safe_dump(data, sort_keys=False))
        for r in residuals:
            start = time.perf_counter()
            g = json.loads(cli("grad", copy, "--backend", "ngspice", "--input-file",
                               seq["u_file"], "--target-file", seq["y_files"][r], "--json"))
            echo = np.array(list(g["ep"].values()))
            rows.append({"example": Path(spec).stem, "residual": r,
                         "max_step_fraction": fraction,
                         "echo_vs_bptt": {"cosine": g["cosine"], "rel_error": g["rel_error"]},
                         "echo_vs_continuous": compare(echo, ref[r]["gradient"]),
                         "seconds": time.perf_counter() - start})
            print(f"{Path(spec).stem:>15} r={r:g} max step {fraction:g} tstep: echo~BPTT rel "
                  f"{g['rel_error']:.2g}, echo~continuous rel "
                  f"{rows[-1]['echo_vs_continuous']['rel_error']:.2g}, "
                  f"{rows[-1]['seconds']:.1f} s", flush=True)
    return rows


def report(name: str, entry: dict) -> None:
    """One line per residual on stdout."""
    for r, row in entry["residuals"].items():
        line = (f"{name:>15} r={r:<6} echo~BPTT cos {row['echo_vs_bptt']['cosine']:.7f} rel "
                f"{row['echo_vs_bptt']['rel_error']:.2g} | echo~FD cos "
                f"{row['echo_vs_fd']['cosine']:.7f} rel {row['echo_vs_fd']['rel_error']:.2g}"
                f" | BPTT~FD rel {row['bptt_vs_fd']['rel_error']:.2g} | FD noise rel "
                f"{row['fd_noise']['rel_error'] if row['fd_noise'] else float('nan'):.2g}"
                f" | loss raw/grad "
                f"{row['raw_loss'] / row['grad_loss'] - 1:+.1e}")
        if "continuous" in row:
            line += (f" | vs continuous: echo {row['echo_vs_continuous']['rel_error']:.2g}"
                     f" BPTT {row['bptt_vs_continuous']['rel_error']:.2g} FD "
                     f"{row['fd_vs_continuous']['rel_error']:.2g} (its own "
                     f"{row['continuous_error'] / 3:.1g})")
        print(line, flush=True)


def write_json(results: dict, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default=",".join(EXAMPLES))
    parser.add_argument("--residuals", default=",".join(f"{r:g}" for r in RESIDUALS))
    parser.add_argument("--steps", default=",".join(f"{h:g}" for h in STEPS),
                        help="relative FD steps: the first is the reference, the last its "
                             "noise check")
    parser.add_argument("--subset", type=int, default=0,
                        help="FD on this many trainable elements, drawn with --seed (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=("exported", "breakpoint-free"),
                        default="exported", help="FD through the exported netlist as written, "
                        "or with its PWL inputs as breakpoint-free pwl() sources")
    parser.add_argument("--continuous", action="store_true",
                        help="add the continuous-time reference (Richardson-extrapolated BPTT)")
    parser.add_argument("--add-continuous", metavar="JSON", default=None,
                        help="run no ngspice: add the continuous-time reference to the results "
                             "of an earlier run (written to --out)")
    parser.add_argument("--max-step-sweep", metavar="FRACTIONS", default=None,
                        help="run no FD: the echo at these ngspice maximum steps (fractions "
                             "of tstep) vs BPTT and the continuous-time reference "
                             "(→ lc_fd_max_step.json)")
    parser.add_argument("--no-fd", action="store_true",
                        help="run no FD: what grad --backend ngspice prints against its "
                             "continuous-time reference, for each of --seeds "
                             "(→ lc_grad_continuous.json)")
    parser.add_argument("--seeds", default=None,
                        help="--no-fd: comma-separated seeds of the inputs (default: --seed)")
    parser.add_argument("--out", default=None, help="folder for lc_fd_ngspice[_VARIANT].json")
    args = parser.parse_args(argv)
    try:
        residuals = [float(r) for r in args.residuals.split(",")]
        steps = [float(h) for h in args.steps.split(",")]
    except ValueError as exc:
        parser.error(f"--residuals/--steps: {exc}")
    if not all(0 < r <= 100 for r in residuals):
        parser.error("--residuals: each in (0, 100] (fractions of the output swing)")
    if not all(0 < h <= 0.1 for h in steps):
        parser.error("--steps: each in (0, 0.1] (relative FD steps)")
    if args.subset < 0:
        parser.error("--subset: >= 0")
    command = "python3 tools/lc_fd_ngspice.py " + " ".join(sys.argv[1:] if argv is None
                                                            else argv)
    if args.no_fd:
        try:
            seeds = [int(v) for v in (args.seeds or str(args.seed)).split(",")]
        except ValueError as exc:
            parser.error(f"--seeds: {exc}")
        results = {"machine": "2-core shared session machine", "ngspice": "39",
                   "command": command, "seeds": {}}
        with tempfile.TemporaryDirectory(prefix="lc_fd_") as folder:
            for seed in seeds:
                results["seeds"][str(seed)] = {}
                for name in args.examples.split(","):
                    entry = grad_continuous(ROOT / "circuits" / "lc" / f"{name}.yaml",
                                            residuals, seed, Path(folder))
                    results["seeds"][str(seed)][name] = entry
                    report_continuous(name, seed, entry)
        if args.out:
            write_json(results, Path(args.out) / "lc_grad_continuous.json")
        return 0
    if args.max_step_sweep:
        fractions = [float(f) for f in args.max_step_sweep.split(",")]
        rows = []
        with tempfile.TemporaryDirectory(prefix="lc_fd_") as folder:
            for name in args.examples.split(","):
                rows += max_step_sweep(ROOT / "circuits" / "lc" / f"{name}.yaml", residuals,
                                       fractions, args.seed, Path(folder))
        if args.out:
            write_json({"machine": "2-core shared session machine", "ngspice": "39",
                        "seed": args.seed, "command": command, "rows": rows},
                       Path(args.out) / "lc_fd_max_step.json")
        return 0
    if args.add_continuous:
        results = json.loads(Path(args.add_continuous).read_text())
        results["continuous_command"] = command
    else:
        results = {"machine": "2-core shared session machine", "ngspice": "39",
                   "steps": steps, "seed": args.seed, "subset": args.subset,
                   "variant": args.variant, "command": command, "examples": {}}
    with tempfile.TemporaryDirectory(prefix="lc_fd_") as folder:
        if args.add_continuous:
            for name, entry in results["examples"].items():
                spec = ROOT / "circuits" / "lc" / f"{name}.yaml"
                entry.setdefault("fd_steps", results["steps"])
                seq = make_sequence(spec, [float(r) for r in entry["residuals"]],
                                    results["seed"], Path(folder))
                add_continuous(entry, spec, seq)
                report(name, entry)
        else:
            for name in args.examples.split(","):
                entry = study_example(ROOT / "circuits" / "lc" / f"{name}.yaml", residuals,
                                      steps, args.subset, args.seed, Path(folder),
                                      args.variant, args.continuous)
                results["examples"][name] = entry
                report(name, entry)
    if args.out:
        suffix = "" if results.get("variant", "exported") == "exported" else \
            "_" + results["variant"].replace("-", "_")
        write_json(results, Path(args.out) / f"lc_fd_ngspice{suffix}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
