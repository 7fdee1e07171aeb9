"""The ``eqprop-hw`` commands on a resistive network (``kind: layered`` and ``graph``, at zero or
finite temperature): option checks naming the options, the calls of the Python API, and what
each command prints (:class:`~eqprop_hw.networks.base.Report`).

Mixed into :class:`~eqprop_hw.networks.resistive.ResistiveNetwork`; reached through
:meth:`~eqprop_hw.networks.base.Network.report`.
"""

from __future__ import annotations

import math
import os

import numpy as np

from eqprop_hw.circuit.cider import is_cider_model
from eqprop_hw.networks.base import Report
from eqprop_hw.networks.options import (UsageError, gibbs_temperature, option, parse_numbers,
                                        progress, read_rows, train_summary)

#: The --analysis tran defaults of ``eqprop-hw export`` (s).
DEFAULT_TSTEP = 1e-6
DEFAULT_TSTOP = 1e-3


def _shorten(items: list[str], limit: int = 6) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items) - limit} more)"


def label_text(value):
    """A label or prediction as ``predict --json`` shows it (list, int, float or None)."""
    from eqprop_hw.networks.results import plain
    return value.tolist() if np.ndim(value) else plain(value)


class ResistiveCommands:
    """``_report_<command>`` of :meth:`Network.report` for resistive networks."""

    # -- option values ---------------------------------------------------------------------
    def _option_inputs(self, text: str) -> list[float]:
        """``--input`` values, one per input."""
        return parse_numbers(text, "--input", len(self.input_names), self.input_names)

    def _option_nudge(self, options):
        """(beta, targets) from ``--beta``/``--target``, or (None, None)."""
        beta, target = options.beta, options.target
        if beta is None and target is None:
            return None, None
        if beta is None:
            raise UsageError("--target needs --beta (the nudging conductance in S)")
        if target is None:
            raise UsageError(f"--beta needs --target ({len(self.output_names)} target "
                             "voltage(s), one per output)")
        return beta, parse_numbers(target, "--target", len(self.output_names),
                                   self.output_names)

    def _option_loss(self, options) -> tuple[str, float | None]:
        """(loss, softmax temperature or None): ``--loss``/``--softmax-temperature``, else the
        spec's training section."""
        return self._loss("report", option(options, "loss"), option(options, "temperature"))

    # -- the commands ----------------------------------------------------------------------
    def _report_describe(self, options, log=None) -> Report:
        from eqprop_hw.circuit.graph import VALUE_MEANING
        circuit = self.circuit
        counts: dict[str, int] = {}
        for element in circuit.elements:
            counts[element.type] = counts.get(element.type, 0) + 1
        lines = [f"circuit    {circuit.name} ({circuit.kind})",
                 f"nodes      {len(circuit.nodes)} (ground 0 included)",
                 f"elements   {len(circuit.elements)}: "
                 + ", ".join(f"{n} {kind}" for kind, n in counts.items())]
        inputs = [f"{p.name} -> {p.node}" for p in circuit.inputs]
        outputs = [f"{p.name} = V({p.node})" for p in circuit.outputs]
        lines.append(f"inputs     {len(inputs)}: {_shorten(inputs)}")
        lines.append(f"outputs    {len(outputs)}: {_shorten(outputs)}")
        fixed = [f"{e.name} ({circuit.device_models[e.model].type} {e.model})"
                 for e in circuit.elements if e.model in circuit.device_models
                 and e.type not in "SWTOY"]
        if fixed:       # "devices" once CIDER numerical devices are among them
            cider = any(is_cider_model(model) for model in circuit.device_models.values())
            label = "devices    " if cider else "transistors"
            lines.append(f"{label} {len(fixed)} (fixed, ngspice only): {_shorten(fixed)}")
        others = [e.name + (f" ({circuit.device_models[e.model].type} {e.model})"
                            if e.model in circuit.device_models else "")
                  for e in circuit.elements if e.type in "SWTOY"]
        if others:      # switches and transmission lines (circuit/line_devices.py)
            lines.append(f"switches/lines {len(others)} (fixed, ngspice only): "
                         f"{_shorten(others)}")
        by_type: dict[str, list[float]] = {}
        for name in circuit.trainable:
            element = circuit.element(name)
            by_type.setdefault(element.type, []).append(element.value)
        if not by_type:
            lines.append("trainable  none")
        for kind, values in by_type.items():
            lines.append(f"trainable  {len(values)} {kind}, {VALUE_MEANING[kind]} in "
                         f"[{min(values):.4g}, {max(values):.4g}]")
        return Report(data=self.describe(), lines=lines)

    def _report_export(self, options, log=None) -> Report:
        if option(options, "twin"):
            used = [flag for flag, value in (("--input", options.input),
                                             ("--beta", option(options, "beta")),
                                             ("--target", option(options, "target")),
                                             ("--tstep", options.tstep),
                                             ("--tstop", options.tstop)) if value is not None]
            if used or options.analysis != "op":
                raise UsageError(f"{(used or ['--analysis'])[0]} does not apply to --twin (its "
                                 "inputs, targets and transient come from the data set)")
            return Report(text=self.twin_netlist(epochs=options.epochs))
        if option(options, "epochs") is not None:
            raise UsageError("--epochs applies to --twin only")
        if options.analysis != "tran" and (options.tstep is not None or
                                           options.tstop is not None):
            raise UsageError("--tstep/--tstop apply to --analysis tran only")
        inputs = None if options.input is None else self._option_inputs(options.input)
        beta, targets = self._option_nudge(options)
        tstep, tstop = options.tstep, options.tstop
        if options.analysis == "tran":
            tstep = DEFAULT_TSTEP if tstep is None else tstep
            tstop = DEFAULT_TSTOP if tstop is None else tstop
            if tstep > tstop:
                raise UsageError(f"--tstep ({tstep:g} s) must not exceed --tstop ({tstop:g} s)")
        text = self.netlist(inputs, beta=beta, target=targets, analysis=options.analysis,
                            tstep=tstep, tstop=tstop, loss=option(options, "loss"),
                            softmax_temperature=option(options, "temperature"))
        return Report(text=text)

    def _report_simulate(self, options, log=None) -> Report:
        if options.input is None and options.input_file is None and self.input_names:
            raise UsageError("one of the arguments --input --input-file is required "
                             "(see 'eqprop-hw simulate --help')")
        if options.input is None and options.input_file is None:   # a spec without inputs
            inputs = np.zeros((1, 0))
        elif options.input_file is not None:
            inputs = read_rows(options.input_file, len(self.input_names), self.input_names)
        else:
            inputs = np.asarray([self._option_inputs(options.input)])
        beta, targets = self._option_nudge(options)
        loss, softmax = self._option_loss(options)
        gibbs = gibbs_temperature(options, self.spec, loss)
        if gibbs is not None:              # finite temperature: mean over Gibbs samples
            result = self.simulate(inputs, beta=beta, target=targets,
                                   backend=options.backend, loss=loss,
                                   softmax_temperature=softmax, temperature=gibbs,
                                   samples=options.samples, seed=options.seed,
                                   progress=progress(options))
            return Report(data=result.to_json(), lines=_thermal_lines(result.data))
        single = options.input_file is None
        result, failure = self._solve(inputs, single, beta, targets, options.backend, loss,
                                      softmax, progress(options))
        if options.plot:
            if inputs.shape[0] != 1:
                raise UsageError("--plot draws one sample: give --input (not --input-file)")
            from eqprop_hw.learning.progress import waiting
            with waiting(f"drawing {os.path.basename(options.plot)}", progress(options)):
                self.plot_phases(options.plot, inputs[0], beta=beta, target=targets,
                                 backend=options.backend, loss=loss, softmax_temperature=softmax)
            if log is not None:
                log(f"wrote {options.plot}")
        outputs = np.asarray(result.outputs).reshape(len(inputs), -1)
        ports = self.circuit.outputs
        if single:
            width = max(len(port.name) for port in ports) if ports else 0
            lines = [f"{port.name:<{width}}  V({port.node}) = {value:.9g} V"
                     for port, value in zip(ports, outputs[0])]
            trailer = [f"({result.backend} backend, {result.seconds:.3g} s)"]
        else:
            lines = [",".join(port.name for port in ports)] + \
                [",".join(f"{value:.9g}" for value in row) for row in outputs]
            trailer = [f"({result.backend} backend, {len(outputs)} rows, "
                       f"{result.seconds:.3g} s)"]
        return Report(data=result.to_json(), lines=lines, trailer=trailer, failure=failure)

    def _report_grad(self, options, log=None) -> Report:
        if (options.input is None and self.input_names) or options.target is None:
            missing = "--input, --target" if self.input_names else "--target"
            raise UsageError(f"the following arguments are required: {missing} "
                             "(see 'eqprop-hw grad --help')")
        x = self._option_inputs(options.input) if options.input is not None else []
        y = parse_numbers(options.target, "--target", len(self.output_names),
                          self.output_names)
        if option(options, "rule") == "coupled" or option(options, "eta") is not None:
            return self._report_coupled(options, x, y)
        loss, softmax = self._option_loss(options)
        gibbs = gibbs_temperature(options, self.spec, loss)
        result = self.gradient(x, y, beta=options.beta, backend=options.backend,
                               nudge=options.nudge, loss=loss, softmax_temperature=softmax,
                               temperature=gibbs, samples=options.samples,
                               estimator=options.estimator, seed=options.seed,
                               progress=progress(options))
        data = result.data
        if gibbs is not None:
            return Report(data=result.to_json(), lines=_thermal_lines(data))
        units = ("nats", "W") if loss == "cross_entropy" else ("V^2", "S")
        line = (f"loss {data['loss']:.6g} {units[0]}; EP ({options.nudge}, beta="
                f"{data['beta']:g} {units[1]}, {options.backend}) vs exact: cosine "
                f"{data['cosine']:.6f}, relative error {data['rel_error']:.3g}")
        gradient_units = "1/S" if loss == "cross_entropy" else "V^2/S"
        trust = (f"numerical floor {data['numerical_floor']:.3g} {gradient_units} (the "
                 f"gradient is {data['signal_to_floor']:.3g}x it), estimated nudging bias "
                 f"{100 * data['bias_relative']:.3g}% of the gradient")
        return Report(data=result.to_json(), lines=[line, trust],
                      notes=[f"eqprop-hw: {w}" for w in data["warnings"]])

    def _report_coupled(self, options, x, y) -> Report:
        """``grad --rule coupled``: the clamped rule vs its exact small-clamp limit."""
        if option(options, "rule") != "coupled":
            raise UsageError("--eta is the clamp of --rule coupled (give --rule coupled)")
        for name in ("beta", "loss", "temperature", "softmax_temperature", "samples",
                     "estimator"):
            if option(options, name) is not None:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} does not apply to --rule coupled (it clamps the "
                                 "outputs with the squared loss at zero temperature)")
        if options.nudge != "centered":
            raise UsageError("--nudge does not apply to --rule coupled (its clamp is one-sided)")
        result = self.coupled_gradient(x, y, eta=options.eta, backend=options.backend)
        line = (f"loss {result.loss:.6g} V^2; coupled (eta={result.eta:g}, "
                f"{options.backend}) vs its eta->0 limit: cosine {result.cosine:.6f}, relative "
                f"error {result.rel_error:.3g}; vs the loss gradient: cosine "
                f"{result.loss_cosine:.6f}")
        return Report(data=result.to_json(), lines=[line])

    def _report_twin(self, options, log=None) -> Report:
        """``train --twin``: the whole run as one twin-network transient."""
        _twin_refusals(options)
        out = self._option_out(options)
        if options.resume and log is not None:    # a supervisor may always add --resume
            log("--resume: train --twin keeps no checkpoint (the whole run is one ngspice "
                "transient): starting from the beginning")
        run = self.train_twin(out, epochs=options.epochs, seed=options.seed,
                              plots=not options.no_plots)
        m = run.metrics
        lines = [f"epoch {epoch}: train loss {train:.5g}, test loss {test:.5g}"
                 for epoch, train, test in zip(m["epochs"], m["train_loss"], m["test_loss"])]
        return Report(data=run.to_json(), lines=lines, trailer=[
            f"eqprop-hw: twin transient of {m['windows']} windows in "
            f"{m['ngspice_seconds']:.3g} s; wrote {os.path.join(out, 'params.npz')}, "
            f"metrics.json, twin.cir{'' if options.no_plots else ' and twin.png'} in {out}"])

    def _report_check(self, options, log=None) -> Report:
        from eqprop_hw.learning.reference import format_report
        loss, softmax = self._option_loss(options)
        result = self.check(options.samples, beta=options.beta,
                            ngspice=not options.no_ngspice, loss=loss,
                            softmax_temperature=softmax, progress=progress(options))
        head = (f"{self.name}: {result.samples} sample(s), beta = {result.beta:g} "
                + (f"W, cross-entropy loss (tau = {softmax:g} V)" if loss == "cross_entropy"
                   else "S"))
        notes = [f"eqprop-hw: {row['name']}: {w}" for row in result.rows
                 for w in row.get("warnings", ())]
        return Report(data=result.to_json(), lines=[head, format_report(result.rows)],
                      notes=notes)

    def _report_predict(self, options, log=None) -> Report:
        loss, softmax = self._option_loss(options)
        result = self.predict(options.split, backend=options.backend, loss=loss,
                              softmax_temperature=softmax, progress=progress(options))
        if options.plot:
            from eqprop_hw.learning.progress import waiting
            with waiting(f"drawing {os.path.basename(options.plot)}", progress(options)):
                self._plot_prediction(options, result, loss, softmax)
            if log is not None:
                log(f"wrote {options.plot}")
        accuracy = "n/a" if result.accuracy is None else f"{100 * result.accuracy:.2f}%"
        line = (f"{options.split}: {len(result.samples)} samples, accuracy {accuracy}, "
                f"loss {result.loss:.6g}")
        return Report(data=result.to_json(), lines=[line])

    def _plot_prediction(self, options, result, loss: str, softmax) -> None:
        """``predict --plot``: the phases of row ``--sample`` of the split, nudged with the
        spec's training.beta towards its label."""
        from eqprop_hw.io.data import load_dataset
        from eqprop_hw.learning.train import settings_from
        rows, k = len(result.samples), options.sample
        if not 0 <= k < rows:
            raise UsageError(f"--sample {k}: the {options.split} split has {rows} rows "
                             f"(0 to {rows - 1})")
        dataset = load_dataset(self.spec, self.circuit)
        x, y, index = dataset.split(options.split)
        row = slice(k, k + 1)
        side = math.isqrt(x.shape[1])        # digits and mnist: square images, drawn as such
        image = ((side, side) if self.spec.data["dataset"].get("name") in ("digits", "mnist")
                 and side * side == x.shape[1] else None)
        self.plot_phases(options.plot, x[k], beta=settings_from(self.spec).beta,
                         target=dataset.loss_targets(y[row], loss), backend=options.backend,
                         loss=loss, softmax_temperature=softmax, image_shape=image,
                         where=f", {options.split} row {k} (data set row {int(index[k])}, "
                               f"label {label_text(y[k])})")

    def _report_train(self, options, log=None) -> Report:
        if option(options, "twin"):
            return self._report_twin(options, log)
        out = self._option_out(options)
        run = self.train(out, epochs=options.epochs, seed=options.seed,
                         backend=options.backend, resume=options.resume,
                         plots=not options.no_plots, progress=progress(options),
                         workers=options.workers, scheduler=options.scheduler,
                         chunks=options.chunks, isolate=options.isolate, log=log,
                         keep_checkpoint=bool(option(options, "keep_checkpoint", False)))
        return Report(data=run.to_json(), trailer=[train_summary(run.metrics, out, "params.npz",
                                                                 options.no_plots)])


def _reference_words(data: dict) -> str:
    """What the estimate is compared with, for the summary line."""
    if data["reference_exact"]:
        return f"exact ({data['reference_method']})"
    return (f"reference ({data['reference_method']}, {data['reference_samples']} samples per "
            f"phase, seed {data['reference_seed']}; an estimate, not exact)")


def _twin_refusals(options) -> None:
    """``train --twin`` runs one ngspice transient: the loop's options do not apply
    (``--resume`` does, as for a run without a checkpoint yet: it starts from the beginning)."""
    for flag, value in (("--workers", options.workers),
                        ("--scheduler", options.scheduler), ("--chunks", options.chunks),
                        ("--params", options.params), ("--isolate", options.isolate)):
        if value:
            raise UsageError(f"{flag} does not apply to --twin (the whole run is one "
                             "ngspice transient)")


def _thermal_lines(data: dict) -> list[str]:
    """The readable lines of ``simulate``/``grad`` at finite temperature."""
    if "ep" in data:
        lines = [f"T = {data['temperature']:g} W, {data['estimator']} estimator, beta = "
                 f"{data['beta']:g} S, {data['samples']} samples per phase "
                 f"(effective {data['effective_samples']:.0f}, {data['sampler']} sampler)",
                 f"expected free-phase loss {data['loss']:.6g} V^2; estimate vs "
                 f"{_reference_words(data)}: cosine {data['cosine']:.6f}, relative error "
                 f"{data['rel_error']:.3g}, max |z| {data['max_abs_z']:.2f}"]
        width = max(len(name) for name in data["ep"]) if data["ep"] else 0
        label = "exact" if data["reference_exact"] else "reference"
        for name in data["ep"]:
            ref = f"{label} {data['reference'][name]: .6g}"
            if not data["reference_exact"]:
                ref += f" +- {data['reference_stderr'][name]:.2g}"
            lines.append(f"{name:<{width}}  {data['ep'][name]: .6g} +- "
                         f"{data['stderr'][name]:.2g}  ({ref}, z {data['z'][name]:+.2f}) V^2/S")
        return lines
    lines = [f"T = {data['temperature']:g} W, {data['samples']} samples (effective "
             f"{data['effective_samples']:.0f}, {data['sampler']} sampler); mean voltages:"]
    for node, value in data["voltages"].items():
        se = data["stderr"].get(node)
        lines.append(f"V({node}) = {value:.9g} V" + (f" +- {se:.2g}" if se is not None else ""))
    return lines
