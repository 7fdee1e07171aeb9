"""The ``eqprop-hw`` commands on an LC network (``kind: lc``): option checks naming the options
(an lc spec's inputs and targets are waveforms, its loss is the squared one), the calls of the
Python API, and what each command prints (:class:`~eqprop_hw.networks.base.Report`).

Mixed into :class:`~eqprop_hw.networks.lc.LCNetwork`; reached through
:meth:`~eqprop_hw.networks.base.Network.report`.
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.networks.base import Report
from eqprop_hw.networks.options import UsageError, option, progress, train_summary


def _no_resistive_options(options, command: str) -> None:
    """Refuse ``--loss`` other than squared and the temperatures (lc specs have neither)."""
    if option(options, "loss") not in (None, "squared"):
        raise UsageError(f"--loss {options.loss}: lc specs use the squared loss "
                         "int 1/2 |out - y|^2 dt")
    for name in ("temperature", "softmax_temperature"):
        if option(options, name) is not None:
            raise UsageError(f"--{name.replace('_', '-')}: not available for lc specs "
                             f"({command})")


def _unit(output_kind: str) -> str:
    return "Wb" if output_kind == "flux" else "A"


def _waveform_files(network, options):
    """(x, y): the arrays of ``--input-file`` and ``--target-file`` (None when not given)."""
    from eqprop_hw.io.waveforms import read_waveform_file
    rows = network.steps + 1
    x = y = None
    if option(options, "input_file") is not None:
        x = read_waveform_file(options.input_file, rows, network.input_names, "inputs")
    if option(options, "target_file") is not None:
        y = read_waveform_file(options.target_file, rows, network.output_names, "targets")
    return x, y


def _name_files(data: dict, options) -> dict:
    """The JSON's ``inputs_source``/``targets_source``: the file names where files ran."""
    if option(options, "input_file") is not None and data.get("inputs_source") == "x":
        data["inputs_source"] = str(options.input_file)
    if option(options, "target_file") is not None and \
            data.get("targets_source") in ("y", "target"):
        data["targets_source"] = str(options.target_file)
    return data


class LCCommands:
    """``_report_<command>`` of :meth:`Network.report` for lc networks."""

    def _report_describe(self, options, log=None) -> Report:
        model, data = self.model, self.describe()
        counts: dict[str, int] = {}
        for element in data["elements"]:
            counts[element["type"]] = counts.get(element["type"], 0) + 1
        nonlinear = int(np.isfinite(model.ind_phi_nl).sum())
        lines = [
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
            f"time       0 .. {model.tstop:g} s in steps of {model.tstep:g} s ({model.steps})"]
        return Report(data=data, lines=lines)

    def _report_export(self, options, log=None) -> Report:
        if option(options, "twin") or option(options, "epochs") is not None:
            raise UsageError("--twin/--epochs: twin-network circuitry trains resistive specs")
        if options.input is not None:
            raise UsageError("--input: an lc spec's inputs are waveforms: give them with "
                             "--input-file (one row per grid time, one column per input, A)")
        if options.tstep is not None or options.tstop is not None:
            raise UsageError("--tstep/--tstop: an lc spec's time grid is its time section")
        if options.target is not None:
            raise UsageError("--target: an lc spec's targets are waveforms: give them with "
                             "--target-file (one row per grid time, one column per output)")
        x, y = _waveform_files(self, options)
        if options.beta is None and y is not None:
            raise UsageError("--target-file: export writes the nudge towards the targets only "
                             "with --beta")
        if options.beta is not None:       # an LC netlist is always .tran (no operating point)
            from eqprop_hw.lc.sequence import resolve_sequence
            if y is None and resolve_sequence(self.spec, self.model, x).targets is None:
                raise UsageError(f"--beta: spec {options.spec} has no targets to nudge towards "
                                 "(give --target-file)")
        return Report(text=self.netlist(x, beta=options.beta, target=y))

    def _report_simulate(self, options, log=None) -> Report:
        if options.input is not None:
            raise UsageError("--input: an lc spec's inputs are waveforms; give them with "
                             "--input-file (one row per grid time, one column per input, A) "
                             "or in the spec")
        if options.beta is not None or options.target is not None:
            raise UsageError("--beta/--target: use 'grad' for nudged (echo) runs of lc specs")
        inputs, targets = _waveform_files(self, options)
        result = self.simulate(inputs, target=targets, backend=options.backend)
        _name_files(result.data, options)
        outputs = result.outputs.T                                  # (steps + 1, n_outputs)
        if option(options, "plot"):
            from eqprop_hw.lc.plots import plot_simulation
            voltages = np.stack([result.voltages[node] for node in self.model.nodes], axis=1)
            plot_simulation(options.plot, self.model, outputs, voltages,
                            f"{self.name}: forward run ({options.backend})")
            if log is not None:
                log(f"wrote {options.plot}")
        lines = []
        for k, output in enumerate(self.model.outputs):
            unit = _unit(output["kind"])
            lines.append(f"{output['name']}: {self.steps + 1} points, final "
                         f"{outputs[-1, k]:.6g} {unit}, peak {np.max(np.abs(outputs[:, k])):.6g} "
                         f"{unit}")
        return Report(data=result.to_json(), lines=lines,
                      trailer=[f"({options.backend} backend, {result.seconds:.3g} s)"])

    def _report_grad(self, options, log=None) -> Report:
        if option(options, "rule") == "coupled" or option(options, "eta") is not None:
            raise UsageError("--rule coupled/--eta: Coupled Learning clamps a resistive "
                             "network's outputs; lc specs learn by the Hamiltonian echo")
        if options.input is not None or options.target is not None:
            raise UsageError("--input/--target: an lc spec's inputs and targets are waveforms "
                             "(spec, dataset, or --input-file and --target-file)")
        inputs, targets = _waveform_files(self, options)
        result = self.gradient(inputs, targets, beta=options.beta, backend=options.backend,
                               nudge=options.nudge, progress=progress(options),
                               continuous=option(options, "continuous_reference"))
        _name_files(result.data, options)
        line = (f"loss {result.loss:.6g}; echo ({options.nudge}, beta={result.beta:g}, "
                f"{options.backend}) vs BPTT: cosine {result.cosine:.6f}, relative error "
                f"{result.rel_error:.3g}; signal {result.data['signal_to_floor']:.3g}x its "
                "numerical floor")
        lines = [line]
        data = result.data
        if data["continuous"] is not None:
            what = "ngspice integrates" if options.backend == "ngspice" else "the echo measures"
            lines.append(f"echo vs BPTT converged in the time step (the continuous-time circuit "
                         f"{what}; its own error {data['continuous_error']:.2g}): "
                         f"cosine {data['continuous_cosine']:.6f}, relative error "
                         f"{data['continuous_rel_error']:.3g} (BPTT at tstep: "
                         f"{data['exact_vs_continuous']['rel_error']:.3g})")
        notes = []
        if data.get("continuous_skipped"):
            notes.append(f"eqprop-hw: note: no continuous-time reference: "
                         f"{data['continuous_skipped']}")
        if result.data["floor_warning"]:
            notes.append(f"eqprop-hw: warning: the nudge's signal is only "
                         f"{result.data['signal_to_floor']:.3g}x the echo's measured numerical "
                         f"floor ({result.data['floor']:.3g}): the estimate is not reliable; "
                         "use a larger --beta")
        return Report(data=result.to_json(), lines=lines, notes=notes)

    def _report_check(self, options, log=None) -> Report:
        _no_resistive_options(options, "check")
        inputs, targets = _waveform_files(self, options)
        result = self.check(options.samples, beta=options.beta,
                            ngspice=not options.no_ngspice, x=inputs, y=targets,
                            progress=progress(options))
        _name_files(result.data, options)
        data, rows = result.to_json(), result.rows
        lines = [f"{self.name}: {result.samples} sequence(s) of {self.steps + 1} points, "
                 f"beta = {result.beta:g}, {data['nudge']} echo",
                 f"{'estimator':<28} {'vs':<11} {'cosine':>12} {'rel_error':>11} "
                 f"{'norm_ratio':>11} {'n':>6} {'seconds':>8}"]
        for row in rows:
            against = "bptt" if row["against"] == "exact" else row["against"]
            lines.append(f"{row['name']:<28} {against:<11} {row['cosine']:>12.8f} "
                         f"{row['rel_error']:>11.3e} {row['norm_ratio']:>11.6f} "
                         f"{row['elements']:>6d} {row['seconds']:>8.3f}")
        lines.append(f"loss {rows[0]['loss']:.6g} {_unit(self.output_kind)}^2 s, |dL/dtheta| "
                     f"{rows[0]['norm']:.6g} (per F or H; exact = BPTT of the leapfrog "
                     "integrator" + ("; continuous = BPTT converged in the time step"
                                     if any(r["against"] == "continuous" for r in rows)
                                     else "") + ")")
        return Report(data=data, lines=lines)

    def _report_predict(self, options, log=None) -> Report:
        _no_resistive_options(options, "predict")
        inputs, targets = _waveform_files(self, options)
        result = self.predict(options.split, backend=options.backend, x=inputs, y=targets)
        _name_files(result.data, options)
        notes = []
        if result.split != options.split and result.split == "train":
            notes.append(f"eqprop-hw: note: {self.name} has no held-out sequences "
                         "(dataset.test_samples): predicting its training sequences")
        count = len(result.samples)
        if options.plot:
            if not 0 <= options.sample < count:
                raise UsageError(f"--sample {options.sample}: the {result.split} split has "
                                 f"{count} sequence(s) (0 to {count - 1})")
            from eqprop_hw.lc.plots import plot_prediction
            sample = result.samples[options.sample]
            plot_prediction(options.plot, self.model, result.outputs[options.sample].T,
                            np.asarray(sample["targets"]).T,
                            f"{self.name}: {result.split} sequence {options.sample} "
                            f"({options.backend}), loss {sample['loss']:.3g} "
                            f"{_unit(self.output_kind)}² s")
            if log is not None:
                log(f"wrote {options.plot}")
        losses = [sample["loss"] for sample in result.samples]
        line = (f"{result.split}: {count} sequence(s) of {self.steps + 1} points, loss "
                f"{np.sum(losses):.6g} {_unit(self.output_kind)}^2 s (per sequence: "
                + ", ".join(f"{v:.3g}" for v in losses[:8])
                + (", ..." if len(losses) > 8 else "") + ")")
        return Report(data=result.to_json(), lines=[line], notes=notes)

    def _report_train(self, options, log=None) -> Report:
        if option(options, "twin"):
            raise UsageError("--twin: twin-network circuitry trains resistive specs")
        out = self._option_out(options)
        if options.workers or options.scheduler:
            raise UsageError("--workers/--scheduler are not available for lc specs")
        run = self.train(out, epochs=options.epochs, seed=options.seed,
                         backend=options.backend, resume=options.resume,
                         plots=not options.no_plots, progress=progress(options), log=log,
                         keep_checkpoint=bool(option(options, "keep_checkpoint", False)))
        return Report(data=run.to_json(), trailer=[train_summary(run.metrics, out,
                                                                 "params.json",
                                                                 options.no_plots)])
