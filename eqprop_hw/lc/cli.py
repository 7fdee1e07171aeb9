"""``eqprop-hw`` commands for ``kind: lc`` specs (called by :mod:`eqprop_hw.cli`).

``describe``, ``export`` (``.tran`` with ``UIC``), ``simulate`` (waveforms on the spec's time
grid), ``grad`` (the echo estimate from the chosen backend's measurements against BPTT),
``check`` (echo from ngspice and native vs BPTT vs finite differences) and ``predict`` (outputs
over time of a trained network on the spec's sequences, with targets and loss); ``train`` is in
:mod:`eqprop_hw.lc.train`.
JSON keys follow ``CONTRACT.md``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from eqprop_hw.errors import EqpropError


class LCUsageError(EqpropError):
    """Bad command-line use for an lc spec (exit code 2)."""


def load_model(spec_path: str, params_path: str | None = None):
    """(spec, model) of an lc spec file, with trained values from ``params_path`` applied."""
    from eqprop_hw.lc.model import build_model
    from eqprop_hw.circuit.spec import load_spec
    spec = load_spec(spec_path)
    model = build_model(spec)
    if params_path is not None:
        from eqprop_hw.errors import ParamsError
        from eqprop_hw.io.params import load_params
        values = load_params(params_path)
        try:
            model = model.with_values({str(k): float(v) for k, v in dict(values).items()})
        except (KeyError, ValueError) as error:
            raise ParamsError(f"{error}", str(params_path)) from None
    return spec, model


def default_beta(model) -> float:
    """A weak nudge: 1e-3 of the stiffness of the output coordinates (A/Wb for fluxes).

    For a flux output the stiffness is the sum of 1/L of the node's inductors; for an inductor
    current ``I = x/L`` the nudge stiffness is ``beta / L^2``, so ``beta = 1e-3 L``.
    """
    _, inds = model.values()
    values = []
    for output in model.outputs:
        if output["kind"] == "flux":
            k = model.nodes.index(output["node"])
            touching = np.abs(model.ind_incidence[:, k]) > 0
            stiffness = float(np.sum(1.0 / inds[touching])) if touching.any() else 0.0
            if stiffness == 0.0:
                caps = model.capacitance_matrix(model.values()[0])
                stiffness = caps[k, k] * (2 * np.pi / model.tstop) ** 2
            values.append(1e-3 * stiffness)
        else:
            values.append(1e-3 * inds[model.ind_names.index(output["element"])])
    return float(min(values))


def describe(model) -> dict:
    """The ``describe --json`` object of an lc model."""
    caps, inds = model.values()
    elements = []
    spec_elements = model.spec_data["elements"]
    for element in spec_elements:
        name = element["name"]
        record = {"name": name, "type": element["type"], "nodes": list(element["nodes"])}
        if element["type"] == "C":
            record["value"] = float(caps[model.cap_names.index(name)])
            if element.get("v_nl"):
                record["v_nl"] = element["v_nl"]
        elif element["type"] == "L":
            record["value"] = float(inds[model.ind_names.index(name)])
            if element.get("phi_nl"):
                record["phi_nl"] = element["phi_nl"]
        elif element["type"] == "R":
            record["value"] = float(model.res_values[model.res_names.index(name)])
        else:
            record["value"] = None
            record["waveform"] = element["waveform"]
        elements.append(record)
    by_name = {e["name"]: e for e in elements}
    outputs = []
    for output in model.outputs:
        record = {"name": output["name"], "node": output["node"], "kind": output["kind"]}
        if output["kind"] == "current":
            record["element"] = output["element"]
        outputs.append(record)
    inputs = [{"name": name, "node": by_name[name]["nodes"][1]} for name in model.src_names]
    return {"name": model.name, "kind": "lc", "nodes": list(model.nodes) + ["0"],
            "inputs": inputs, "outputs": outputs,
            "trainable": [by_name[name] for name in model.trainable], "elements": elements,
            "time": {"tstop": model.tstop, "tstep": model.tstep, "steps": model.steps}}


def cmd_describe(args, print_json) -> int:
    _, model = load_model(args.spec, args.params)
    data = describe(model)
    if args.json:
        print_json(data)
        return 0
    counts: dict[str, int] = {}
    for element in data["elements"]:
        counts[element["type"]] = counts.get(element["type"], 0) + 1
    nonlinear = int(np.isfinite(model.ind_phi_nl).sum())
    print("\n".join([
        f"circuit    {model.name} (lc, Hamiltonian LC network)",
        f"nodes      {model.n + 1} (ground 0 included)",
        f"elements   {len(data['elements'])}: "
        + ", ".join(f"{n} {kind}" for kind, n in counts.items())
        + (f" ({nonlinear} nonlinear L)" if nonlinear else ""),
        f"inputs     {len(model.src_names)}: " + ", ".join(
            f"{i['name']} -> {i['node']}" for i in data["inputs"]),
        f"outputs    {len(model.outputs)}: " + ", ".join(
            f"{o['name']} = " + (f"phi({o['node']})" if o["kind"] == "flux"
                                 else f"I({o['element']})")
            for o in model.outputs),
        f"trainable  {len(model.trainable)}: " + ", ".join(model.trainable[:6])
        + (" ..." if len(model.trainable) > 6 else ""),
        f"time       0 .. {model.tstop:g} s in steps of {model.tstep:g} s ({model.steps})"]))
    return 0


def cmd_export(args, write_text) -> int:
    from eqprop_hw.lc.netlist import write_lc_netlist
    _, model = load_model(args.spec, args.params)
    if args.input is not None:
        raise LCUsageError("--input: an lc spec's inputs are waveforms given in the spec "
                           "(elements[].waveform)")
    if args.analysis == "op":
        pass   # an LC network has no operating point worth exporting: always .tran
    if args.tstep is not None or args.tstop is not None:
        raise LCUsageError("--tstep/--tstop: an lc spec's time grid is its time section")
    targets = None
    beta = 0.0
    if args.beta is not None:
        if args.target is not None:
            raise LCUsageError("--target: an lc spec's targets are waveforms (spec 'targets')")
        if model.targets is None:
            raise LCUsageError(f"--beta: spec {args.spec} has no targets to nudge towards")
        targets, beta = model.targets, args.beta
    write_text(write_lc_netlist(model, targets=targets, beta=beta))
    return 0


def _read_waveform_file(path, width: int, model, what: str) -> np.ndarray:
    from eqprop_hw.io.fileio import read_number_rows
    rows = np.asarray(read_number_rows(path, width, None), dtype=float)
    if rows.shape[0] != model.steps + 1:
        raise LCUsageError(f"{path}: {what} need one row per grid time ({model.steps + 1} rows "
                           f"for 0..{model.tstop:g} s in steps of {model.tstep:g} s), got "
                           f"{rows.shape[0]}")
    return rows


def cmd_simulate(args, print_json) -> int:
    """Forward run of an lc spec: outputs and node voltages on the time grid."""
    from eqprop_hw.lc.integrate import integrate
    _, model = load_model(args.spec, args.params)
    if args.input is not None:
        raise LCUsageError("--input: an lc spec's inputs are waveforms; give them with "
                           "--input-file (one row per grid time, one column per input, A) or "
                           "in the spec")
    if args.beta is not None or args.target is not None:
        raise LCUsageError("--beta/--target: use 'grad' for nudged (echo) runs of lc specs")
    inputs = None
    if args.input_file is not None:
        inputs = _read_waveform_file(args.input_file, len(model.src_names), model, "inputs")
    start = time.perf_counter()
    if args.backend == "native":
        run = integrate(model, inputs=inputs, store=True)
        voltages = run.voltages[:, 0]
        outputs = run.outputs[:, 0]
    else:
        from eqprop_hw.lc.ngspice import LCNgspice, _resample
        with LCNgspice(model, with_nudge=False) as ng:
            if inputs is not None:
                ng.load_bank(inputs[None], np.zeros((1, model.steps + 1, len(model.outputs))))
                result = ng.run(sample=0)
            else:
                result = ng.run()
            voltages = _resample(result["time"], result["V"], model.times)
            outputs = ng.outputs(result)
    seconds = time.perf_counter() - start
    if getattr(args, "plot", None):
        from eqprop_hw.lc.plots import plot_simulation
        plot_simulation(args.plot, model, outputs, voltages,
                        f"{model.name}: forward run ({args.backend})")
    data = {"backend": args.backend, "time": model.times.tolist(),
            "output_kind": model.output_kind(),
            "outputs": outputs.T.tolist(),
            "voltages": {node: voltages[:, k].tolist() for k, node in enumerate(model.nodes)},
            "converged": True, "seconds": seconds}
    if args.json:
        print_json(data)
    else:
        for k, output in enumerate(model.outputs):
            unit = "Wb" if output["kind"] == "flux" else "A"
            print(f"{output['name']}: {model.steps + 1} points, final {outputs[-1, k]:.6g} "
                  f"{unit}, peak {np.max(np.abs(outputs[:, k])):.6g} {unit}")
        print(f"({args.backend} backend, {seconds:.3g} s)", file=sys.stderr)
    return 0


def grid_targets(spec, model, target_file=None) -> np.ndarray:
    """Targets on the grid: a CSV file, the spec's target waveforms, or its dataset's first
    sequence."""
    if target_file is not None:
        return _read_waveform_file(target_file, len(model.outputs), model, "targets")
    if model.targets is not None:
        return model.target_waveforms()
    if spec.data.get("dataset"):
        from eqprop_hw.lc.model import build_model
        from eqprop_hw.lc.train import lc_dataset
        inputs, targets = lc_dataset(spec, build_model(spec))   # the spec's data, not --params'
        return targets[0]
    raise LCUsageError(f"{spec.source}: no targets: give the spec 'targets' or a dataset, or "
                       "--target-file")


def cmd_grad(args, print_json) -> int:
    """Echo estimate (from the backend's measurements) vs BPTT for an lc spec."""
    from eqprop_hw.lc.bptt import agreement, bptt_gradient
    from eqprop_hw.lc.echo import hel_gradient
    spec, model = load_model(args.spec, args.params)
    if args.input is not None or args.target is not None:
        raise LCUsageError("--input/--target: an lc spec's inputs and targets are waveforms "
                           "(spec, dataset or --target-file)")
    inputs = None
    target_file = getattr(args, "target_file", None)
    if model.targets is None and spec.data.get("dataset"):
        # the dataset's first sequence (built once; --target-file still replaces its target)
        from eqprop_hw.lc.model import build_model
        from eqprop_hw.lc.train import lc_dataset
        sequences = lc_dataset(spec, build_model(spec))   # the spec's data, not --params'
        inputs = sequences[0][0]
        targets = sequences[1][0] if target_file is None else \
            grid_targets(spec, model, target_file)
    else:
        targets = grid_targets(spec, model, target_file)
    training = spec.data.get("training") or {}
    beta = args.beta or training.get("beta") or default_beta(model)
    loss, exact, _ = bptt_gradient(model, inputs=inputs, targets=targets)
    if args.backend == "native":
        _, estimate = hel_gradient(model, inputs=inputs, targets=targets, beta=beta,
                                   nudge=args.nudge)
    else:
        from eqprop_hw.lc.ngspice import LCNgspice
        with LCNgspice(model) as ng:
            if inputs is None and model.targets is not None and \
                    getattr(args, "target_file", None) is None:
                _, estimate = ng.hel_gradient(model.targets, beta, args.nudge)
            else:
                u = model.input_waveforms() if inputs is None else inputs
                ng.load_bank(u[None], targets[None])
                _, estimate = ng.hel_gradient(None, beta, args.nudge, sample=0)
    result = agreement(estimate, exact)
    data = {"loss": loss, "backend": args.backend, "beta": beta, "nudge": args.nudge,
            "ep": dict(zip(model.trainable, np.asarray(estimate).tolist())),
            "exact": dict(zip(model.trainable, np.asarray(exact).tolist())),
            "cosine": result["cosine"], "rel_error": result["rel_error"],
            "norm_ratio": result["norm_ratio"], "time": model.times.tolist(),
            "target": targets.T.tolist(), "output_kind": model.output_kind()}
    if args.json:
        print_json(data)
    else:
        print(f"loss {loss:.6g}; echo ({args.nudge}, beta={beta:g}, {args.backend}) vs BPTT: "
              f"cosine {result['cosine']:.6f}, relative error {result['rel_error']:.3g}")
    return 0


def _sequences(spec, model, split: str = "train", count: int | None = None):
    """(inputs (S, steps+1, n_in), targets (S, steps+1, n_out), split used) of an lc spec: its
    dataset's sequences of ``split``, else the spec's own input and target waveforms."""
    if spec.data.get("dataset"):
        from eqprop_hw.lc.model import build_model
        from eqprop_hw.lc.train import has_test_split, lc_dataset
        # the data set is a function of the spec alone (a teacher is built from the spec's
        # values, not from trained ones given with --params)
        model = build_model(spec)
        if split == "test" and not has_test_split(spec):
            split = "train"
        if split == "all":
            parts = [lc_dataset(spec, model)]
            if has_test_split(spec):
                parts.append(lc_dataset(spec, model, split="test"))
            inputs = np.concatenate([p[0] for p in parts])
            targets = np.concatenate([p[1] for p in parts])
        else:
            inputs, targets = lc_dataset(spec, model, split=split)
    elif model.targets is not None:
        inputs, targets, split = model.input_waveforms()[None], model.target_waveforms()[None], \
            "spec"
    else:
        raise LCUsageError(f"{spec.source}: no targets: give the spec 'targets' (one waveform "
                           "per output) or a dataset")
    if count is not None:
        inputs, targets = inputs[:count], targets[:count]
    return inputs, targets, split


def _no_resistive_options(args, command: str) -> None:
    if getattr(args, "loss", None) not in (None, "squared"):
        raise LCUsageError(f"--loss {args.loss}: lc specs use the squared loss "
                           "int 1/2 |out - y|^2 dt")
    for option in ("temperature", "softmax_temperature"):
        if getattr(args, option, None) is not None:
            raise LCUsageError(f"--{option.replace('_', '-')}: not available for lc specs "
                               f"({command})")


def check_rows(model, inputs, targets, beta: float, backends=("native", "ngspice"),
               nudge: str = "centered", fd_count: int = 8, fd_step: float = 1e-5) -> list:
    """The reference checks of an lc network on a batch of sequences (losses and gradients
    summed over the batch).

    Rows (keys as :func:`eqprop_hw.learning.reference.check_report`'s): ``exact`` (BPTT, with ``loss``
    and ``norm``), ``echo ngspice`` and ``echo native`` (the echo estimate from each backend's
    measurements vs BPTT), ``fd native`` (central finite differences of the loss, relative step
    ``fd_step``, on the ``fd_count`` elements of largest |BPTT| gradient, vs BPTT) and ``echo
    ngspice vs echo native``.
    """
    from eqprop_hw.lc.bptt import bptt_gradient, loss_value
    from eqprop_hw.lc.echo import hel_gradient
    from eqprop_hw.learning.reference import _row
    u = np.transpose(inputs, (1, 0, 2))           # (steps+1, S, n_in): one batched run
    y = np.transpose(targets, (1, 0, 2))
    start = time.perf_counter()
    loss, exact, _ = bptt_gradient(model, inputs=u, targets=y)
    rows = [_row("exact", exact, exact, time.perf_counter() - start, loss=float(loss),
                 norm=float(np.linalg.norm(exact)), loss_kind="squared", method="bptt")]
    estimates = {}
    if "ngspice" in backends:
        from eqprop_hw.lc.ngspice import LCNgspice
        start = time.perf_counter()
        with LCNgspice(model) as ng:
            ng.load_bank(inputs, targets)
            estimates["ngspice"] = sum(ng.hel_gradient(None, beta, nudge, sample=s)[1]
                                       for s in range(inputs.shape[0]))
        rows.append(_row("echo ngspice", estimates["ngspice"], exact,
                         time.perf_counter() - start, beta=float(beta), nudge=nudge))
    if "native" in backends:
        start = time.perf_counter()
        estimates["native"] = hel_gradient(model, inputs=u, targets=y, beta=beta,
                                           nudge=nudge)[1]
        rows.append(_row("echo native", estimates["native"], exact,
                         time.perf_counter() - start, beta=float(beta), nudge=nudge))
    if fd_count > 0:
        order = sorted(np.argsort(-np.abs(exact), kind="stable")[:fd_count].tolist())
        theta = model.theta0()
        start = time.perf_counter()
        fd = np.zeros(len(order))
        for j, k in enumerate(order):
            step = fd_step * theta[k]
            up, down = theta.copy(), theta.copy()
            up[k] += step
            down[k] -= step
            fd[j] = (loss_value(model, up, u, y) - loss_value(model, down, u, y)) / (2 * step)
        rows.append(_row("fd native", fd, exact[order], time.perf_counter() - start,
                         step=float(fd_step), subset=[model.trainable[k] for k in order]))
    if "ngspice" in estimates and "native" in estimates:
        rows.append(_row("echo ngspice vs echo native", estimates["ngspice"],
                         estimates["native"], 0.0, against="echo native"))
    return rows


def cmd_check(args, print_json) -> int:
    """``eqprop-hw check`` for an lc spec: echo (ngspice, native) vs BPTT vs finite
    differences."""
    _no_resistive_options(args, "check")
    if args.samples < 1:
        raise LCUsageError("--samples must be at least 1")
    spec, model = load_model(args.spec, args.params)
    inputs, targets, _ = _sequences(spec, model, "train", args.samples)
    training = spec.data.get("training") or {}
    beta = args.beta or training.get("beta") or default_beta(model)
    nudge = training.get("nudge", "centered")
    backends = ("native",) if args.no_ngspice else ("native", "ngspice")
    rows = check_rows(model, inputs, targets, beta, backends, nudge)
    if args.json:
        print_json({"spec": spec.name, "kind": "lc", "beta": beta, "nudge": nudge,
                    "loss": "squared", "temperature": None, "samples": int(inputs.shape[0]),
                    "rows": rows})
        return 0
    unit = "Wb" if model.output_kind() == "flux" else "A"
    print(f"{spec.name}: {inputs.shape[0]} sequence(s) of {model.steps + 1} points, "
          f"beta = {beta:g}, {nudge} echo")
    lines = [f"{'estimator':<28} {'vs':<11} {'cosine':>12} {'rel_error':>11} "
             f"{'norm_ratio':>11} {'n':>6} {'seconds':>8}"]
    for row in rows:
        against = "bptt" if row["against"] == "exact" else row["against"]
        lines.append(f"{row['name']:<28} {against:<11} {row['cosine']:>12.8f} "
                     f"{row['rel_error']:>11.3e} {row['norm_ratio']:>11.6f} "
                     f"{row['elements']:>6d} {row['seconds']:>8.3f}")
    print("\n".join(lines))
    print(f"loss {rows[0]['loss']:.6g} {unit}^2 s, |dL/dtheta| {rows[0]['norm']:.6g} "
          f"(per F or H; exact = BPTT of the leapfrog integrator)")
    return 0


def cmd_predict(args, print_json) -> int:
    """``eqprop-hw predict`` for an lc spec: the outputs over time of the (trained) network on
    the spec's sequences (its dataset's split, else its own waveforms), with the targets and
    the loss of each."""
    _no_resistive_options(args, "predict")
    spec, model = load_model(args.spec, args.params)
    asked = args.split
    inputs, targets, split = _sequences(spec, model, asked)
    if split != asked and split == "train":
        print(f"eqprop-hw: note: {spec.name} has no held-out sequences (dataset.test_samples): "
              "predicting its training sequences", file=sys.stderr)
    start = time.perf_counter()
    if args.backend == "native":
        from eqprop_hw.lc.integrate import integrate
        run = integrate(model, inputs=np.transpose(inputs, (1, 0, 2)),
                        loss_targets=np.transpose(targets, (1, 0, 2)), store=False)
        outputs = np.transpose(run.outputs, (1, 0, 2))
        losses = run.loss
    else:
        from eqprop_hw.lc.ngspice import LCNgspice
        outputs = np.zeros(targets.shape)
        losses = np.zeros(inputs.shape[0])
        with LCNgspice(model, with_nudge=False) as ng:
            ng.load_bank(inputs, targets)
            for s in range(inputs.shape[0]):
                result = ng.run(sample=s)
                outputs[s] = ng.outputs(result)
                losses[s] = ng.loss(result, targets[s])
    seconds = time.perf_counter() - start
    if args.plot:
        if not 0 <= args.sample < inputs.shape[0]:
            raise LCUsageError(f"--sample {args.sample}: the {split} split has "
                               f"{inputs.shape[0]} sequence(s) (0 to {inputs.shape[0] - 1})")
        from eqprop_hw.lc.plots import plot_prediction
        plot_prediction(args.plot, model, outputs[args.sample], targets[args.sample],
                        f"{model.name}: {split} sequence {args.sample} ({args.backend}), "
                        f"loss {losses[args.sample]:.3g}")
    samples = [{"index": s, "label": None, "prediction": None,
                "inputs": inputs[s].T.tolist(), "outputs": outputs[s].T.tolist(),
                "targets": targets[s].T.tolist(), "loss": float(losses[s])}
               for s in range(inputs.shape[0])]
    data = {"accuracy": None, "loss": float(np.sum(losses)), "split": split,
            "backend": args.backend, "kind": "lc", "output_kind": model.output_kind(),
            "time": model.times.tolist(), "outputs": samples[0]["outputs"],
            "targets": samples[0]["targets"], "samples": samples, "seconds": seconds}
    if args.json:
        print_json(data)
    else:
        unit = "Wb" if model.output_kind() == "flux" else "A"
        print(f"{split}: {inputs.shape[0]} sequence(s) of {model.steps + 1} points, loss "
              f"{np.sum(losses):.6g} {unit}^2 s (per sequence: "
              + ", ".join(f"{v:.3g}" for v in losses[:8])
              + (", ..." if len(losses) > 8 else "") + ")")
    return 0
