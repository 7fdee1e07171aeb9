"""Hamiltonian LC oscillator networks (``kind: lc``) behind the
:class:`~eqprop_hw.networks.base.Network` interface.

Inputs and targets are waveforms on the spec's time grid ``t_n = n * tstep``, n = 0..steps:
``x`` has shape (steps + 1, n_inputs) (input currents, A; one row per grid time, as the rows of
``simulate --input-file``) and ``y`` shape (steps + 1, n_outputs) (fluxes in Wb or currents in
A, as ``grad --target-file``). Results follow the JSON orientation: ``outputs`` is
(n_outputs, n_times). The ``eqprop-hw`` commands on an lc spec are
:mod:`eqprop_hw.networks.lc_commands` over these methods.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from eqprop_hw.networks.base import (BACKENDS, NUDGES, SPLITS, InvalidParameterError, Network,
                                     check_array, check_bool, check_choice, check_int,
                                     check_number)
from eqprop_hw.lc.sequence import resolve_sequence
from eqprop_hw.networks.lc_commands import LCCommands
from eqprop_hw.networks.options import UsageError, read_waveforms


def describe_model(model) -> dict:
    """The ``describe --json`` object of an lc model.

    Examples
    --------
    >>> d = describe_model(eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml").model)
    >>> d["kind"], d["time"]["steps"]
    ('lc', 3000)
    """
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


def grid_targets(spec, model, target_file=None) -> np.ndarray:
    """Targets on the grid: a CSV file, the spec's target waveforms, or its dataset's first
    sequence; shape (steps + 1, n_outputs).

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml")
    >>> grid_targets(net.spec, net.model).shape
    (3001, 2)
    """
    if target_file is not None:
        return read_waveforms(target_file, len(model.outputs), model, "targets")
    if model.targets is not None:
        return model.target_waveforms()
    if spec.data.get("dataset"):
        from eqprop_hw.lc.model import build_model
        from eqprop_hw.lc.train import lc_dataset
        inputs, targets = lc_dataset(spec, build_model(spec))   # the spec's data, not --params'
        return targets[0]
    raise UsageError(f"{spec.source}: no targets: give the spec 'targets' or a dataset, or "
                       "--target-file")


def sequences(spec, model, split: str = "train", count: int | None = None):
    """(inputs (S, steps+1, n_in), targets (S, steps+1, n_out), split used) of an lc spec: its
    dataset's sequences of ``split``, else the spec's own input and target waveforms.

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml")
    >>> inputs, targets, split = sequences(net.spec, net.model)
    >>> split, inputs.shape[0], targets.shape[1:]
    ('train', 2, (3001, 2))
    """
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
        raise UsageError(f"{spec.source}: no targets: give the spec 'targets' (one waveform "
                           "per output) or a dataset")
    if count is not None:
        inputs, targets = inputs[:count], targets[:count]
    return inputs, targets, split


def _refuse(method: str, given: dict, why: str) -> None:
    """InvalidParameterError naming the first option of ``given`` that is not None."""
    for name, value in given.items():
        if value is not None:
            raise InvalidParameterError(f"{method}: {name!r} is not available for lc networks "
                                        f"({why})")


def _continuous_keys(names, estimate, exact, reference) -> dict:
    """``gradient``'s JSON keys of the continuous-time reference (None without one)."""
    if reference is None:
        return {"continuous": None, "continuous_cosine": None, "continuous_rel_error": None,
                "continuous_error": None, "exact_vs_continuous": None}
    from eqprop_hw.lc.bptt import agreement
    echo = agreement(estimate, reference.gradient)
    bptt = agreement(exact, reference.gradient)
    return {"continuous": dict(zip(names, np.asarray(reference.gradient).tolist())),
            "continuous_cosine": echo["cosine"], "continuous_rel_error": echo["rel_error"],
            "continuous_error": reference.error,
            "exact_vs_continuous": {"cosine": bptt["cosine"], "rel_error": bptt["rel_error"]}}


class LCNetwork(LCCommands, Network):
    """An LC oscillator network trained by echo learning (``kind: lc``).

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml")
    >>> type(net).__name__, net.output_kind, net.times.shape == (net.steps + 1,)
    ('LCNetwork', 'flux', True)
    """

    def __init__(self, spec, params: dict | None = None, params_source: str | None = None):
        super().__init__(spec, params, params_source)
        from eqprop_hw.lc.model import build_model
        model = build_model(spec)
        if params is not None:
            from eqprop_hw.errors import ParamsError
            try:
                model = model.with_values({str(k): float(v) for k, v in params.items()})
            except (KeyError, ValueError) as error:
                raise ParamsError(f"{error}", params_source or "params") from None
        self.model = model

    @property
    def input_names(self) -> list[str]:
        return list(self.model.src_names)

    @property
    def output_names(self) -> list[str]:
        return [output["name"] for output in self.model.outputs]

    @property
    def trainable(self) -> list[str]:
        return list(self.model.trainable)

    @property
    def steps(self) -> int:
        """Number of time steps of the spec's grid."""
        return self.model.steps

    @property
    def times(self) -> np.ndarray:
        """The time grid (s), shape (steps + 1,)."""
        return self.model.times

    @property
    def output_kind(self) -> str:
        """``"flux"`` (Wb), ``"current"`` (A) or ``"voltage"``."""
        return self.model.output_kind()

    def _waveform(self, value, name: str, method: str, width: int, labels) -> np.ndarray | None:
        return check_array(value, name, method, (self.steps + 1, width), labels, optional=True)

    def describe(self) -> dict:
        """The network as built (``eqprop-hw describe --json``), with its ``time`` grid.

        Examples
        --------
        >>> d = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml").describe()
        >>> d["kind"], sorted(d["time"])
        ('lc', ['steps', 'tstep', 'tstop'])
        """
        return describe_model(self.model)

    def simulate(self, x=None, *, beta=None, target=None, backend: str = "native",
                 loss: str | None = None, softmax_temperature: float | None = None,
                 temperature: float | None = None, samples: int | None = None,
                 seed: int | None = None, progress: bool = False):
        """Forward run on the time grid (``eqprop-hw simulate --json``).

        Parameters
        ----------
        x : array_like, shape (steps + 1, n_inputs), optional
            Input current waveforms (A), one row per grid time; default the sequence every lc
            command runs (:func:`eqprop_hw.lc.sequence.default_sequence`: the spec's
            waveforms, or its dataset's first sequence when the spec has no targets).
        target : array_like, shape (steps + 1, n_outputs), optional
            Target waveforms (Wb or A): the result's JSON then has the ``loss``
            ``int 1/2 |out - y|^2 dt`` (no nudge: nudged runs are :meth:`gradient`'s).
        backend : {"native", "ngspice"}
        progress : bool
            Accepted for a common interface (a forward run has no progress bar).
        beta, loss, softmax_temperature, temperature, samples, seed
            Not available for lc networks (nudged runs are :meth:`gradient`'s); must be None.

        Returns
        -------
        SimulationResult
            ``outputs`` (n_outputs, n_times), ``voltages`` node -> (n_times,), ``time``; its
            JSON says which inputs ran (``inputs_source``: ``"spec"``, ``"dataset[0]"`` or
            ``"x"``).

        Examples
        --------
        >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml")
        >>> sim = net.simulate()
        >>> sim.outputs.shape == (len(net.output_names), net.steps + 1), sim.output_kind
        (True, 'flux')
        """
        from eqprop_hw.networks.results import SimulationResult
        from eqprop_hw.lc.integrate import integrate
        method = "simulate"
        _refuse(method, {"beta": beta}, "use gradient for nudged (echo) runs")
        _refuse(method, {"loss": loss, "softmax_temperature": softmax_temperature,
                         "temperature": temperature, "samples": samples, "seed": seed},
                "zero-temperature networks with the squared loss")
        x = self._waveform(x, "x", method, len(self.input_names), self.input_names)
        y = self._waveform(target, "target", method, len(self.output_names),
                           self.output_names)
        check_choice(backend, "backend", method, BACKENDS)
        check_bool(progress, "progress", method)
        model = self.model
        seq = resolve_sequence(self.spec, model, x, None)
        inputs = None if seq.spec_waveforms else seq.inputs
        start = time.perf_counter()
        if backend == "native":
            run = integrate(model, inputs=inputs, store=True)
            voltages = run.voltages[:, 0]
            outputs = run.outputs[:, 0]
        else:
            from eqprop_hw.lc.ngspice import LCNgspice, resample
            with LCNgspice(model, with_nudge=False) as ng:
                if inputs is not None:
                    ng.load_bank(inputs[None],
                                 np.zeros((1, model.steps + 1, len(model.outputs))))
                    result = ng.run(sample=0)
                else:
                    result = ng.run()
                voltages = resample(result["time"], result["V"], model.times)
                outputs = ng.outputs(result)
        seconds = time.perf_counter() - start
        by_node = {node: voltages[:, k] for k, node in enumerate(model.nodes)}
        data = {"backend": backend, "time": model.times.tolist(),
                "output_kind": model.output_kind(), "outputs": outputs.T.tolist(),
                "voltages": {node: values.tolist() for node, values in by_node.items()},
                "converged": True, "seconds": seconds, "inputs_source": seq.inputs_source}
        if y is not None:
            err = outputs - y
            data["loss"] = float(np.trapezoid(0.5 * np.sum(err * err, axis=1), model.times))
            data["targets_source"] = "y"
        return SimulationResult(data=data, backend=backend, outputs=np.asarray(outputs.T),
                                voltages=by_node, converged=True, seconds=seconds,
                                time=model.times.copy(), output_kind=model.output_kind())

    def gradient(self, x=None, y=None, *, beta: float | None = None, backend: str = "native",
                 nudge: str = "centered", loss: str | None = None,
                 softmax_temperature: float | None = None, temperature: float | None = None,
                 samples: int | None = None, estimator: str | None = None,
                 seed: int | None = None, progress: bool = False,
                 continuous: bool | None = None):
        """Echo-learning estimate vs BPTT (``eqprop-hw grad --json``).

        Long because: the docstring (every parameter and JSON key) and one progress bar over
        BPTT and the echo on either backend.

        Parameters
        ----------
        x : array_like, shape (steps + 1, n_inputs), optional
            Input waveforms (A); default the sequence every lc command runs
            (:func:`eqprop_hw.lc.sequence.default_sequence`: the spec's, or its dataset's
            first sequence when the spec has no targets).
        y : array_like, shape (steps + 1, n_outputs), optional
            Target waveforms (Wb or A); default the same sequence's targets.
        beta : float, optional
            Nudge strength (> 0); default the spec's ``training.beta``, else
            :func:`eqprop_hw.lc.echo.echo_beta` of the forward run's residual (1e-3 of the
            output coordinates' stiffness, up to 10x that for residuals below 1e-2 of the
            output swing).
        backend : {"native", "ngspice"}
        nudge : {"centered", "positive", "negative"}
        progress : bool
            A progress bar on stderr over the runs (BPTT, the echo runs, the continuous-time
            reference).
        continuous : bool, optional
            Also compare the echo with the gradient of the continuous-time circuit
            (:func:`eqprop_hw.lc.continuous.continuous_gradient`: BPTT at tstep/2 and tstep/4
            on the waveforms the circuit plays, Richardson-extrapolated; about 7x one BPTT
            run). Default: on for the ngspice backend (whose echo integrates the circuit in
            continuous time; BPTT at the spec's tstep differs from that by O((omega h)^2),
            which dominates at small residuals), off for the native one (whose echo runs the
            same leapfrog as BPTT).
        loss, softmax_temperature, temperature, samples, estimator, seed
            Not available for lc networks; must be None.

        Returns
        -------
        GradientResult
            With ``time`` and ``target`` (n_outputs, n_times); its JSON also has the
            ``inputs`` used (n_inputs, n_times), ``inputs_source`` and ``targets_source``,
            and the echo's measured numerical floor (:func:`eqprop_hw.lc.echo.echo_floor`):
            ``floor``, ``signal_to_floor``, ``floor_warning`` (signal below 10x the floor)
            and ``retrace_error``. With the continuous-time reference (``continuous``):
            ``continuous`` {element: dL/dvalue}, ``continuous_cosine`` and
            ``continuous_rel_error`` (the echo against it), ``continuous_error`` (the
            reference's own estimated relative error) and ``exact_vs_continuous``
            ``{"cosine", "rel_error"}`` (BPTT at tstep against it); all None without it
            (``continuous_skipped``: why a default reference did not run, e.g. too many steps).
            ``exact``, ``cosine`` and ``rel_error`` stay BPTT at the spec's tstep.

        Examples
        --------
        >>> g = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml").gradient()
        >>> g.cosine > 0.99, g.target.shape[1] == g.time.size
        (True, True)
        """
        from eqprop_hw.networks.results import GradientResult
        from eqprop_hw.lc.bptt import agreement, bptt_gradient
        from eqprop_hw.lc.echo import echo_beta, hel_gradient
        method = "gradient"
        _refuse(method, {"loss": loss, "softmax_temperature": softmax_temperature,
                         "temperature": temperature, "samples": samples,
                         "estimator": estimator, "seed": seed},
                "zero-temperature networks with the squared loss")
        x = self._waveform(x, "x", method, len(self.input_names), self.input_names)
        y = self._waveform(y, "y", method, len(self.output_names), self.output_names)
        check_number(beta, "beta", method, positive=True)
        check_choice(backend, "backend", method, BACKENDS)
        check_choice(nudge, "nudge", method, NUDGES)
        check_bool(progress, "progress", method)
        model = self.model
        continuous, skipped = self._continuous_choice(continuous, backend, method)
        seq = resolve_sequence(self.spec, model, x, y)
        if seq.targets is None:
            raise InvalidParameterError(f"gradient: 'y': spec {self.spec.source} has no "
                                        "targets (spec 'targets' or a dataset): give y")
        # what the circuit plays: the spec's waveforms themselves, or the grid samples as PWL
        spec_played = seq.spec_waveforms and seq.targets_source == "spec"
        inputs, targets = seq.inputs, seq.targets
        training = self.spec.data.get("training") or {}
        beta = beta or training.get("beta")
        from eqprop_hw.learning.loop import progress_bar
        bar = progress_bar(3 if continuous else 2, f"grad ({backend}: BPTT, echo"
                           + (", continuous-time reference)" if continuous else ")"),
                           progress, unit="run")
        try:
            loss_value, exact, run = bptt_gradient(model, inputs=inputs, targets=targets)
            if bar is not None:
                bar.update(1)
            if backend == "native":
                beta = beta or echo_beta(model, run.outputs[:, 0], targets)
                _, estimate, info = hel_gradient(model, inputs=inputs, targets=targets, beta=beta,
                                                 nudge=nudge, details=True, floor=True)
            else:
                from eqprop_hw.lc.ngspice import LCNgspice
                with LCNgspice(model) as ng:
                    if spec_played:
                        _, estimate, info = ng.hel_gradient(model.targets, beta, nudge,
                                                            details=True)
                    else:
                        ng.load_bank(inputs[None], targets[None])
                        _, estimate, info = ng.hel_gradient(None, beta, nudge, sample=0,
                                                            details=True)
                beta = info["beta"]
            reference = None
            if continuous:
                if bar is not None:
                    bar.update(1)
                from eqprop_hw.lc.continuous import continuous_gradient
                reference = continuous_gradient(model, inputs=None if spec_played else inputs,
                                                targets=None if spec_played else targets,
                                                tstep_gradient=exact)
        finally:
            if bar is not None:
                bar.close()
        floor = info["floor"]
        result = agreement(estimate, exact)
        names = model.trainable
        data = {"loss": loss_value, "backend": backend, "beta": beta, "nudge": nudge,
                "ep": dict(zip(names, np.asarray(estimate).tolist())),
                "exact": dict(zip(names, np.asarray(exact).tolist())),
                "cosine": result["cosine"], "rel_error": result["rel_error"],
                "norm_ratio": result["norm_ratio"], "time": model.times.tolist(),
                "target": targets.T.tolist(), "output_kind": model.output_kind(),
                "inputs": inputs.T.tolist(), "inputs_source": seq.inputs_source,
                "targets_source": seq.targets_source, "floor": floor["floor"],
                "signal_to_floor": floor["signal_to_floor"],
                "floor_warning": floor["warning"], "retrace_error": floor["retrace_error"],
                **_continuous_keys(names, estimate, exact, reference),
                "continuous_skipped": skipped}
        return GradientResult(data=data, loss=float(loss_value), ep=dict(data["ep"]),
                              exact=dict(data["exact"]), cosine=result["cosine"],
                              rel_error=result["rel_error"], backend=backend, beta=beta,
                              time=model.times.copy(), target=np.asarray(targets).T.copy())

    def _continuous_choice(self, continuous, backend: str, method: str):
        """(run the continuous-time reference?, why a default one is skipped or None); an
        explicit ``continuous=True`` the network is too large for is refused up front."""
        from eqprop_hw.lc.continuous import size_problem
        if continuous is not None:
            check_bool(continuous, "continuous", method)
        problem = size_problem(self.model) if continuous or (
            continuous is None and backend == "ngspice") else None
        if continuous and problem:
            raise InvalidParameterError(f"{method}: 'continuous': {problem}")
        if continuous is None:
            return backend == "ngspice" and problem is None, problem
        return continuous, None

    def netlist(self, x=None, *, beta: float | None = None, target=None, analysis: str = "op",
                tstep: float | None = None, tstop: float | None = None,
                loss: str | None = None, softmax_temperature: float | None = None) -> str:
        """The ``.tran`` netlist (with ``UIC``), byte for byte what ``eqprop-hw export``
        writes: the circuit whose gradient :meth:`gradient` reports for the same ``x`` and
        ``target``.

        Parameters
        ----------
        x : array_like, shape (steps + 1, n_inputs), optional
            Input waveforms (A), written as PWL sources on the grid; default the sequence
            every lc command runs (:func:`eqprop_hw.lc.sequence.default_sequence`; the spec's
            own waveforms are written as they are given).
        beta : float, optional
            The nudging elements (``VNUDGEBETA`` at ``beta``) towards the targets.
        target : array_like, shape (steps + 1, n_outputs), optional
            Targets (Wb or A) of the nudge; default the same sequence's targets.
        analysis : {"op", "tran"}
            Accepted for a common interface: an lc netlist is always ``.tran``.
        tstep, tstop, loss, softmax_temperature
            Not available for lc networks (the time grid is the spec's); must be None.

        Examples
        --------
        >>> text = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml").netlist()
        >>> ".tran" in text and text.rstrip().endswith(".end")
        True
        """
        from eqprop_hw.lc.netlist import array_waveform, write_lc_netlist
        method = "netlist"
        _refuse(method, {"tstep": tstep, "tstop": tstop}, "the time grid is the spec's time "
                "section")
        _refuse(method, {"loss": loss, "softmax_temperature": softmax_temperature},
                "squared loss only")
        x = self._waveform(x, "x", method, len(self.input_names), self.input_names)
        y = self._waveform(target, "target", method, len(self.output_names),
                           self.output_names)
        check_choice(analysis, "analysis", method, ("op", "tran"))
        check_number(beta, "beta", method)
        model = self.model
        seq = resolve_sequence(self.spec, model, x, y)
        inputs = None if seq.spec_waveforms else \
            [array_waveform(model.times, seq.inputs[:, k]) for k in range(len(model.src_names))]
        targets, nudge = None, 0.0
        if beta is not None:
            if seq.targets is None:
                raise InvalidParameterError(f"netlist: 'beta': spec {self.spec.source} has no "
                                            "targets to nudge towards (give target)")
            if seq.targets_source == "spec":
                targets = model.targets
            else:
                targets = [array_waveform(model.times, seq.targets[:, k])
                           for k in range(len(model.outputs))]
            nudge = beta
        return write_lc_netlist(model, inputs=inputs, targets=targets, beta=nudge)

    def train(self, out=None, *, epochs: int | None = None, seed: int | None = None,
              backend: str = "native", resume: bool = False, plots: bool = True,
              progress: bool = False, workers: int | None = None,
              scheduler: str | None = None, chunks: int | None = None,
              isolate: bool | None = None, log=None, keep_checkpoint: bool = False):
        """Train on the spec's dataset with the echo rule (``eqprop-hw train``).

        Parameters
        ----------
        out : str or path-like, optional
            Output folder (default ``runs/<spec name>``): ``params.json``, ``metrics.json``,
            ``checkpoint.npz`` and plots, written atomically.
        epochs, seed : int, optional
            Override the spec's ``training`` values.
        backend : {"native", "ngspice"}
        resume, plots, progress : bool
            As :meth:`ResistiveNetwork.train`.
        workers, scheduler, chunks, isolate
            Not available for lc networks; must be None.
        log : callable, optional
            Called with each progress message (str).
        keep_checkpoint : bool
            As :meth:`ResistiveNetwork.train`.

        Returns
        -------
        TrainingRun

        Examples
        --------
        >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml")
        >>> run = net.train(TMP / "lc", epochs=1, plots=False)
        >>> run.metrics["epochs"], sorted(run.params) == sorted(net.trainable)
        ([0, 1], True)
        """
        from eqprop_hw.lc.train import train_lc
        method = "train"
        _refuse(method, {"workers": workers, "scheduler": scheduler, "chunks": chunks,
                         "isolate": isolate}, "one process trains an lc network")
        out = self._out(out, method)
        check_int(epochs, "epochs", method, minimum=1)
        check_int(seed, "seed", method)
        check_choice(backend, "backend", method, BACKENDS)
        for name, value in (("resume", resume), ("plots", plots), ("progress", progress),
                            ("keep_checkpoint", keep_checkpoint)):
            check_bool(value, name, method)
        metrics = train_lc(self.spec, out, backend=backend, epochs=epochs, seed=seed,
                           params=self.params, plots=plots, log=log, resume=resume,
                           progress=progress, keep_checkpoint=keep_checkpoint)
        return self._run(metrics, Path(out), "params.json")

    def predict(self, split: str = "test", *, backend: str = "native",
                loss: str | None = None, softmax_temperature: float | None = None,
                progress: bool = False, x=None, y=None):
        """Outputs over time on the spec's sequences, with targets and losses (``eqprop-hw
        predict --json``).

        Long because: the docstring and the two ways of choosing sequences (a split of the
        data set, or the waveforms given), each reported in the JSON.

        Parameters
        ----------
        split : {"test", "train", "all"}
            The dataset's split; ``"test"`` without held-out sequences gives ``"train"`` (see
            the result's ``split``); a spec without dataset: its own waveforms (``"spec"``).
        backend : {"native", "ngspice"}
        progress : bool
            Accepted for a common interface.
        loss, softmax_temperature
            Not available for lc networks; must be None (or ``loss="squared"``).
        x, y : array_like, shape (steps + 1, n_inputs) and (steps + 1, n_outputs), optional
            One sequence to run instead of the split (``predict --input-file``/
            ``--target-file``); the other one defaults to the default sequence's
            (:func:`eqprop_hw.lc.sequence.default_sequence`); ``split`` is then ``"given"``.

        Returns
        -------
        Prediction
            ``accuracy`` None; ``loss`` summed over the sequences; ``outputs`` (sequences,
            n_outputs, n_times); its JSON says which inputs ran (``inputs_source``).

        Examples
        --------
        >>> pred = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml").predict()
        >>> pred.split, pred.accuracy, len(pred.samples)
        ('train', None, 2)
        """
        from eqprop_hw.networks.results import Prediction
        method = "predict"
        if loss not in (None, "squared"):
            raise InvalidParameterError(f"predict: loss={loss!r}: lc networks use the squared "
                                        "loss int 1/2 |out - y|^2 dt")
        _refuse(method, {"softmax_temperature": softmax_temperature}, "squared loss only")
        check_choice(split, "split", method, SPLITS)
        check_choice(backend, "backend", method, BACKENDS)
        check_bool(progress, "progress", method)
        model = self.model
        x = self._waveform(x, "x", method, len(self.input_names), self.input_names)
        y = self._waveform(y, "y", method, len(self.output_names), self.output_names)
        if x is None and y is None:
            inputs, targets, used = sequences(self.spec, model, split)
            source = "spec" if used == "spec" else f"dataset[{used}]"
            target_source = source
        else:
            seq = resolve_sequence(self.spec, model, x, y)
            if seq.targets is None:
                raise InvalidParameterError(f"predict: 'y': spec {self.spec.source} has no "
                                            "targets (spec 'targets' or a dataset): give y")
            inputs, targets, used = seq.inputs[None], seq.targets[None], "given"
            source, target_source = seq.inputs_source, seq.targets_source
        start = time.perf_counter()
        if backend == "native":
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
        samples = [{"index": s, "label": None, "prediction": None,
                    "inputs": inputs[s].T.tolist(), "outputs": outputs[s].T.tolist(),
                    "targets": targets[s].T.tolist(), "loss": float(losses[s])}
                   for s in range(inputs.shape[0])]
        data = {"accuracy": None, "loss": float(np.sum(losses)), "split": used,
                "backend": backend, "kind": "lc", "output_kind": model.output_kind(),
                "time": model.times.tolist(), "outputs": samples[0]["outputs"],
                "targets": samples[0]["targets"], "samples": samples, "seconds": seconds,
                "inputs_source": source, "targets_source": target_source}
        return Prediction(data=data, accuracy=None, loss=float(np.sum(losses)), split=used,
                          backend=backend, samples=samples,
                          outputs=np.transpose(outputs, (0, 2, 1)).copy())

    def check(self, samples: int = 4, *, beta: float | None = None, ngspice: bool = True,
              loss: str | None = None, softmax_temperature: float | None = None,
              progress: bool = False, x=None, y=None):
        """The reference checks (``eqprop-hw check --json``): the echo estimate from ngspice's
        and the native integrator's measurements against BPTT and finite differences.

        Parameters
        ----------
        samples : int
            Sequences to check: the dataset's first training sequences, else the spec's own
            waveforms.
        beta : float, optional
            Nudge strength (> 0); default the spec's ``training.beta``, else 1e-3 of the
            output coordinates' stiffness.
        ngspice : bool
            Include the ngspice rows.
        loss, softmax_temperature
            Not available for lc networks; must be None (or ``loss="squared"``).
        progress : bool
            A progress bar on stderr over the runs of the checks.
        x, y : array_like, shape (steps + 1, n_inputs) and (steps + 1, n_outputs), optional
            Check this one sequence (``check --input-file``/``--target-file``; the other one
            defaults to the default sequence's, :func:`eqprop_hw.lc.sequence.default_sequence`).

        Returns
        -------
        CheckResult
            Its JSON says which inputs ran (``inputs_source``); with ngspice the last row is the
            echo vs :func:`eqprop_hw.lc.continuous.continuous_gradient` (``check_rows``).

        Examples
        --------
        >>> table = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml").check(1, ngspice=False)
        >>> [row["name"] for row in table.rows], table.data["nudge"]
        (['exact', 'echo native', 'fd native'], 'centered')
        """
        from eqprop_hw.networks.results import CheckResult
        from eqprop_hw.lc.check import check_rows, check_steps
        from eqprop_hw.lc.echo import default_beta
        from eqprop_hw.learning.loop import progress_bar
        method = "check"
        if loss not in (None, "squared"):
            raise InvalidParameterError(f"check: loss={loss!r}: lc networks use the squared "
                                        "loss int 1/2 |out - y|^2 dt")
        _refuse(method, {"softmax_temperature": softmax_temperature}, "squared loss only")
        check_int(samples, "samples", method, minimum=1, optional=False)
        check_number(beta, "beta", method, positive=True)
        check_bool(ngspice, "ngspice", method)
        check_bool(progress, "progress", method)
        x = self._waveform(x, "x", method, len(self.input_names), self.input_names)
        y = self._waveform(y, "y", method, len(self.output_names), self.output_names)
        if x is None and y is None:
            inputs, targets, used = sequences(self.spec, self.model, "train", samples)
            source = "spec" if used == "spec" else (
                "dataset[0]" if len(inputs) == 1 else f"dataset[0:{len(inputs)}]")
            target_source = source
        else:
            seq = resolve_sequence(self.spec, self.model, x, y)
            if seq.targets is None:
                raise InvalidParameterError(f"check: 'y': spec {self.spec.source} has no "
                                            "targets (spec 'targets' or a dataset): give y")
            inputs, targets = seq.inputs[None], seq.targets[None]
            source, target_source = seq.inputs_source, seq.targets_source
        training = self.spec.data.get("training") or {}
        beta = beta or training.get("beta") or default_beta(self.model)
        nudge = training.get("nudge", "centered")
        backends = ("native", "ngspice") if ngspice else ("native",)
        bar = progress_bar(check_steps(inputs.shape[0], backends,
                                       trainable=len(self.model.trainable)),
                           "check (BPTT, echo, finite differences)", progress, unit="run")
        try:
            rows = check_rows(self.model, inputs, targets, beta, backends, nudge, bar=bar)
        finally:
            if bar is not None:
                bar.close()
        data = {"spec": self.name, "kind": "lc", "beta": beta, "nudge": nudge,
                "loss": "squared", "temperature": None, "samples": int(inputs.shape[0]),
                "rows": rows, "inputs_source": source, "targets_source": target_source}
        return CheckResult(data=data, rows=rows, beta=beta, samples=int(inputs.shape[0]))
