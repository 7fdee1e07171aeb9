"""``eqprop-hw`` commands for ``kind: lc`` specs (called by :mod:`eqprop_hw.cli`).

``describe``, ``export`` (``.tran`` with ``UIC``), ``simulate`` (waveforms on the spec's time
grid) and ``grad`` (the echo estimate from the chosen backend's measurements against BPTT).
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
    from eqprop_hw.spec import load_spec
    spec = load_spec(spec_path)
    model = build_model(spec)
    if params_path is not None:
        from eqprop_hw.errors import ParamsError
        from eqprop_hw.params import load_params
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
    from eqprop_hw.fileio import read_number_rows
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
        from eqprop_hw.lc.train import lc_dataset
        inputs, targets = lc_dataset(spec, model)
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
    targets = grid_targets(spec, model, getattr(args, "target_file", None))
    if model.targets is None and spec.data.get("dataset"):
        from eqprop_hw.lc.train import lc_dataset
        inputs = lc_dataset(spec, model)[0][0]
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
