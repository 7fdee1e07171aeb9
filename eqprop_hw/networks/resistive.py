"""Resistive networks (``kind: layered`` crossbars and ``kind: graph``), at zero or finite
temperature, behind the :class:`~eqprop_hw.networks.base.Network` interface.

Each method makes the library calls the matching ``eqprop-hw`` command makes and returns the
object its ``--json`` prints (wrapped in a result of :mod:`eqprop_hw.api`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eqprop_hw.errors import CircuitError, ConvergenceError
from eqprop_hw.networks.base import (BACKENDS, NUDGES, SPLITS, InvalidParameterError, Network,
                                     check_array, check_bool, check_choice, check_int,
                                     check_number, row_progress)
from eqprop_hw.learning.progress import waiting
from eqprop_hw.networks.resistive_commands import (DEFAULT_TSTEP, DEFAULT_TSTOP,
                                                   ResistiveCommands, label_text)

LOSSES = ("squared", "cross_entropy")


def element_record(element) -> dict:
    """One element as in ``describe --json``: name, type, nodes, value (+ model/control/expr).

    Examples
    --------
    >>> circuit = eqprop_hw.load(CIRCUITS / "graph_bridge.yaml").circuit
    >>> element_record(circuit.element("R1"))
    {'name': 'R1', 'type': 'R', 'nodes': ['a', 'm1'], 'value': 0.001}
    """
    record = {"name": element.name, "type": element.type, "nodes": list(element.nodes),
              "value": element.value}
    for key in ("model", "control", "expr"):
        if getattr(element, key) is not None:
            record[key] = getattr(element, key)
    if element.params:          # transistors: instance parameters (l, w, area, ...)
        record["params"] = dict(element.params)
    return record


def describe_circuit(circuit) -> dict:
    """The ``describe --json`` object of a built circuit (see CONTRACT.md).

    Examples
    --------
    >>> circuit = eqprop_hw.load(CIRCUITS / "graph_bridge.yaml").circuit
    >>> describe_circuit(circuit)["outputs"]
    [{'name': 'm2', 'node': 'm2'}, {'name': 'out', 'node': 'out'}]
    """
    return {
        "name": circuit.name,
        "kind": circuit.kind,
        "nodes": list(circuit.nodes),
        "inputs": [{"name": port.name, "node": port.node,
                    "sources": [{"element": source, "gain": float(gain)}
                                for source, gain in port.sources]}
                   for port in circuit.inputs],
        "outputs": [{"name": port.name, "node": port.node} for port in circuit.outputs],
        "trainable": [element_record(circuit.element(name)) for name in circuit.trainable],
        "elements": [element_record(element) for element in circuit.elements],
    }


def source_voltages(circuit, x) -> dict:
    """The voltage (V) each input source applies for one input vector ``x``: source element
    name -> ``gain * x[i]``, in input order (``predict --json``'s ``source_voltages``).

    ``x`` holds the values ``--input`` takes (the dataset's encoded features); this is the
    circuit's own encoding of them (``inputs.gain``, input doubling), not something to feed
    back as ``--input``.

    Examples
    --------
    >>> circuit = eqprop_hw.load(CIRCUITS / "xor.yaml").circuit
    >>> source_voltages(circuit, [1.0, 0.0])
    {'VX0P': 5.0, 'VX0N': -5.0, 'VX1P': 0.0, 'VX1N': 0.0}
    """
    values = np.asarray(x, dtype=float).ravel()
    return {source: float(gain) * float(value) + 0.0          # + 0.0: no "-0.0" in JSON
            for port, value in zip(circuit.inputs, values) for source, gain in port.sources}



class ResistiveNetwork(ResistiveCommands, Network):
    """A resistive EP network: a layered crossbar or a graph of R, diodes and sources.

    Built when loaded (:func:`eqprop_hw.load`); every method validates its arguments first.
    Inputs ``x`` are the values ``--input`` takes (in input order), targets ``y`` voltages (V)
    in output order (one-hot probabilities for the cross-entropy loss).

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "graph_bridge.yaml")
    >>> type(net).__name__, net.kind
    ('ResistiveNetwork', 'graph')
    """

    def __init__(self, spec, params: dict | None = None, params_source: str | None = None):
        super().__init__(spec, params, params_source)
        from eqprop_hw.circuit.build import build_circuit
        try:
            circuit = build_circuit(spec)
        except CircuitError as error:
            raise CircuitError(f"{spec.source}: {error}") from None
        if params is not None:
            from eqprop_hw.io.params import apply_params
            circuit = apply_params(circuit, params, source=params_source or "params")
        self.circuit = circuit

    @property
    def input_names(self) -> list[str]:
        return [port.name for port in self.circuit.inputs]

    @property
    def output_names(self) -> list[str]:
        return [port.name for port in self.circuit.outputs]

    @property
    def trainable(self) -> list[str]:
        return list(self.circuit.trainable)

    # -- argument checks -----------------------------------------------------------------
    def _loss(self, method: str, loss, softmax_temperature) -> tuple[str, float | None]:
        """(loss, softmax temperature or None): the arguments, else the spec's training."""
        from eqprop_hw.learning.train import settings_from
        if loss is not None:
            check_choice(loss, "loss", method, LOSSES)
        check_number(softmax_temperature, "softmax_temperature", method, positive=True)
        settings = settings_from(self.spec)
        loss = loss or settings.loss
        temperature = softmax_temperature or settings.temperature
        return loss, (temperature if loss == "cross_entropy" else None)

    def _gibbs(self, method: str, loss: str, temperature, samples, estimator=None):
        """The Gibbs temperature T (W) of a sampled run, or None (zero temperature)."""
        check_number(temperature, "temperature", method, positive=True)
        check_int(samples, "samples", method, minimum=1)
        if estimator is not None:
            check_choice(estimator, "estimator", method, ("chl", "covariance", "path"))
        asked = samples is not None or estimator is not None
        gibbs = temperature if temperature is not None else self.temperature
        if loss != "squared" and (asked or gibbs is not None):
            raise InvalidParameterError(f"{method}: finite-temperature sampling supports the "
                                        "squared loss only (the cross-entropy loss's softmax "
                                        "temperature is 'softmax_temperature')")
        if asked and gibbs is None:
            raise InvalidParameterError(f"{method}: 'samples'/'estimator' need a Gibbs "
                                        "temperature: give temperature=T (W) or a spec's "
                                        "top-level 'temperature:'")
        return None if gibbs is None else float(gibbs)

    def _nudge(self, method: str, beta, target):
        """(beta, targets list) or (None, None)."""
        if beta is None and target is None:
            return None, None
        if beta is None or target is None:
            raise InvalidParameterError(f"{method}: 'beta' and 'target' go together (the "
                                        "nudging conductance in S and one target per output)")
        beta = check_number(beta, "beta", method)
        target = check_array(target, "target", method, (len(self.output_names),),
                             self.output_names)
        return beta, target.tolist()

    def _inputs(self, x, method: str, batch: bool = True) -> np.ndarray:
        n = len(self.input_names)
        if n == 0:                         # a spec without inputs: empty input vectors
            if x is None:
                return np.zeros(0)
            try:
                shape = None if isinstance(x, (str, bytes)) else np.shape(x)
            except ValueError:             # ragged nested lists: refused by check_array
                shape = None
            if shape == (0,) or (batch and shape is not None and len(shape) == 2 and
                                 shape[0] >= 1 and shape[1] == 0):
                return np.zeros(shape)
        try:
            rows = batch and np.ndim(x) == 2
        except ValueError:               # ragged nested lists: refused by check_array
            rows = False
        if rows:
            return check_array(x, "x", method, (None, n), self.input_names)
        return check_array(x, "x", method, (n,), self.input_names)

    # -- the operations ------------------------------------------------------------------
    def describe(self) -> dict:
        """The circuit as built (``eqprop-hw describe --json``): name, kind, nodes, inputs,
        outputs, trainable elements and every element (``value``: conductance in S for
        resistive elements, F/H for C/L).

        Examples
        --------
        >>> d = eqprop_hw.load(CIRCUITS / "xor.yaml").describe()
        >>> d["name"], d["kind"], d["nodes"][0]
        ('xor', 'layered', '0')
        """
        return describe_circuit(self.circuit)

    def simulate(self, x=None, *, beta=None, target=None, backend: str = "native",
                 loss: str | None = None, softmax_temperature: float | None = None,
                 temperature: float | None = None, samples: int | None = None,
                 seed: int | None = None, progress: bool = False):
        """Operating point(s) for inputs ``x`` (``eqprop-hw simulate --json``).

        Parameters
        ----------
        x : array_like, shape (n_inputs,) or (rows, n_inputs)
            Input values (as ``--input``) or a batch of rows (as ``--input-file``; the JSON is
            then the batch form). Optional for a spec without inputs.
        beta : float, optional
            Nudging conductance (S) from each output to its target (W for cross-entropy);
            with ``target``.
        target : array_like, shape (n_outputs,), optional
            Target voltages (V) in output order.
        backend : {"native", "ngspice"}
        loss : {"squared", "cross_entropy"}, optional
            Default: the spec's ``training.loss``.
        softmax_temperature : float, optional
            Cross-entropy softmax temperature (V); default the spec's.
        temperature : float, optional
            Gibbs temperature T (W): mean voltages over Gibbs samples (default: the spec's
            ``temperature``, else zero temperature).
        samples : int, optional
            Finite temperature: kept samples (default 4096).
        seed : int, optional
            Finite temperature: seed of the noise (default 0).
        progress : bool
            Progress bar on stderr (ngspice rows; finite temperature: the sampled phase).

        Returns
        -------
        SimulationResult

        Raises
        ------
        ConvergenceError
            When an operating point did not converge (as the command).

        Examples
        --------
        >>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
        >>> net.simulate([[1, 0], [0, 1]]).outputs.shape
        (2, 1)
        """
        from eqprop_hw.networks.results import SimulationResult
        method = "simulate"
        if x is None and self.input_names:
            raise InvalidParameterError("The 'x' parameter of simulate is required for "
                                        f"{self.kind} networks (one value per input: "
                                        f"{', '.join(self.input_names)}).")
        inputs = self._inputs(x, method)
        single = inputs.ndim == 1
        inputs = inputs[None] if single else inputs
        check_choice(backend, "backend", method, BACKENDS)
        check_int(seed, "seed", method)
        check_bool(progress, "progress", method)
        beta, targets = self._nudge(method, beta, target)
        loss, softmax = self._loss(method, loss, softmax_temperature)
        gibbs = self._gibbs(method, loss, temperature, samples)
        if gibbs is not None:
            from eqprop_hw.thermal.measure import simulation_data
            data = simulation_data(self.spec, self.circuit, inputs, beta, targets, gibbs,
                                   backend=backend, samples=samples, seed=seed, progress=progress)
            return SimulationResult(
                data=data, backend=backend, outputs=np.asarray(data["outputs"]),
                voltages=dict(data["voltages"]), converged=True, seconds=data["seconds"],
                stderr=dict(data["stderr"]))
        simulation, failure = self._solve(inputs, single, beta, targets, backend, loss, softmax,
                                          progress)
        if failure is not None:
            raise failure
        return simulation

    def _solve(self, inputs, single: bool, beta, targets, backend: str, loss: str, softmax,
               progress: bool):
        """(SimulationResult, ConvergenceError or None) of checked inputs (rows, n_inputs) at
        zero temperature; ``single``: the one-vector JSON form."""
        from eqprop_hw.networks.results import SimulationResult
        from eqprop_hw.backends import make_backend
        from eqprop_hw.learning.losses import backend_options
        solver = make_backend(backend, self.circuit, **backend_options(loss, softmax))
        with solver, row_progress(solver, len(inputs), "simulate", progress):
            result = solver.solve(inputs, 0.0 if beta is None else beta, targets)
        converged = np.asarray(result.converged, dtype=bool).reshape(-1)
        outputs = np.asarray(result.outputs, dtype=float).reshape(len(inputs), -1)
        if single:
            voltages = {"0": 0.0, **result.voltage_dict(0)}
            data = {"backend": result.backend, "voltages": voltages,
                    "outputs": outputs[0].tolist(), "converged": bool(converged.all()),
                    "seconds": float(result.seconds)}
            simulation = SimulationResult(data=data, backend=result.backend,
                                          outputs=outputs[0], voltages=voltages,
                                          converged=bool(converged.all()),
                                          seconds=float(result.seconds))
        else:
            data = {"backend": result.backend, "outputs": outputs.tolist(),
                    "converged": converged.tolist(), "seconds": float(result.seconds)}
            columns = np.asarray(result.voltages, dtype=float).reshape(len(inputs), -1)
            voltages = {"0": np.zeros(len(inputs)),
                        **{node: columns[:, k] for k, node in enumerate(result.node_names)}}
            simulation = SimulationResult(data=data, backend=result.backend, outputs=outputs,
                                          voltages=voltages, converged=converged,
                                          seconds=float(result.seconds))
        failure = None
        if not converged.all():
            bad = np.flatnonzero(~converged)
            failure = ConvergenceError(f"no converged operating point for {bad.size} of "
                                       f"{converged.size} input row(s) (first: row "
                                       f"{bad[0] + 1})")
        return simulation, failure

    def gradient(self, x=None, y=None, *, beta: float | None = None, backend: str = "native",
                 nudge: str = "centered", loss: str | None = None,
                 softmax_temperature: float | None = None, temperature: float | None = None,
                 samples: int | None = None, estimator: str | None = None,
                 seed: int | None = None, progress: bool = False):
        """EP gradient from measured node voltages vs the exact gradient (``eqprop-hw grad
        --json``).

        Parameters
        ----------
        x : array_like, shape (n_inputs,)
            Input values in input order (None for a spec without inputs).
        y : array_like, shape (n_outputs,)
            Targets: voltages (V) in output order, or probabilities for cross-entropy.
        beta : float, optional
            Nudging conductance (S, > 0; W for cross-entropy); default the spec's
            ``training.beta``.
        backend : {"native", "ngspice"}
            Simulator whose node voltages the local rule measures.
        nudge : {"centered", "positive", "negative"}
        loss, softmax_temperature
            As in :meth:`simulate`.
        temperature : float, optional
            Gibbs temperature T (W): sampled estimators with standard errors (default: the
            spec's ``temperature``; None and no spec temperature: zero temperature).
        samples : int, optional
            Finite temperature: kept samples per phase (default 4096).
        estimator : {"chl", "covariance", "path"}, optional
            Finite temperature: the gradient estimator (default chl).
        seed : int, optional
            Finite temperature: seed of the noise (default 0).
        progress : bool
            Finite temperature: a progress bar over the sampled phases on stderr.

        Returns
        -------
        GradientResult

        Examples
        --------
        >>> net = eqprop_hw.load(CIRCUITS / "iris.yaml")
        >>> g = net.gradient([0.5, -1, 1.2, 0.3], [1, 0, 0], beta=2e-8)
        >>> g.cosine > 0.999, len(g.ep) == len(net.trainable)
        (True, True)

        Long because: its docstring documents every parameter and the result (about 40 lines);
        the code is about 50.
        """
        from eqprop_hw.networks.results import GradientResult
        method = "gradient"
        if (x is None and self.input_names) or y is None:
            raise InvalidParameterError("gradient: 'x' and 'y' are required for "
                                        f"{self.kind} networks")
        x = self._inputs(x, method, batch=False)[None]
        y = check_array(y, "y", method, (len(self.output_names),), self.output_names)[None]
        check_number(beta, "beta", method, positive=True)
        check_choice(backend, "backend", method, BACKENDS)
        check_choice(nudge, "nudge", method, NUDGES)
        check_int(seed, "seed", method)
        check_bool(progress, "progress", method)
        from eqprop_hw.learning.train import settings_from
        given_beta = beta
        beta = beta if beta is not None else settings_from(self.spec).beta
        loss, softmax = self._loss(method, loss, softmax_temperature)
        gibbs = self._gibbs(method, loss, temperature, samples, estimator)
        if gibbs is not None:
            from eqprop_hw.thermal.measure import gradient_data
            data = gradient_data(self.spec, self.circuit, x, y, beta, gibbs, backend=backend,
                                 estimator=estimator, samples=samples, seed=seed,
                                 beta_given=given_beta is not None, progress=progress)
            return GradientResult(data=data, loss=data["loss"], ep=dict(data["ep"]),
                                  exact=dict(data["exact"]), cosine=data["cosine"],
                                  rel_error=data["rel_error"], backend=backend,
                                  beta=data["beta"], stderr=dict(data["stderr"]),
                                  reference=dict(data["reference"]),
                                  reference_stderr=dict(data["reference_stderr"]),
                                  z=dict(data["z"]), reference_method=data["reference_method"])
        from eqprop_hw.backends import make_backend
        from eqprop_hw.learning.ep import ep_gradient
        from eqprop_hw.learning.losses import backend_options
        from eqprop_hw.learning.ep_floor import ep_quality
        from eqprop_hw.learning.reference import EnergyModel, exact_gradient, gradient_agreement
        model = EnergyModel(self.circuit, loss=loss, temperature=softmax)
        with make_backend(backend, self.circuit, **backend_options(loss, softmax)) as solver:
            estimate, phases = ep_gradient(solver, x, y, beta, nudge)
            quality = ep_quality(solver, model, x, y, beta, nudge, phases, estimate)
        value, exact = exact_gradient(model, x, y)
        agreement = gradient_agreement(estimate, exact)
        names = self.circuit.trainable
        data = {"loss": float(value), "loss_kind": loss, "temperature": softmax,
                "backend": backend, "beta": beta, "nudge": nudge,
                "ep": dict(zip(names, np.asarray(estimate).tolist())),
                "exact": dict(zip(names, np.asarray(exact).tolist())),
                "cosine": agreement["cosine"], "rel_error": agreement["rel_error"], **quality}
        return GradientResult(data=data, loss=float(value), ep=dict(data["ep"]),
                              exact=dict(data["exact"]), cosine=agreement["cosine"],
                              rel_error=agreement["rel_error"], backend=backend, beta=beta)

    def coupled_gradient(self, x=None, y=None, *, eta: float | None = None,
                         backend: str = "native"):
        """Coupled Learning's measured update direction vs its exact small-clamp limit
        (``eqprop-hw grad --rule coupled --json``; see :mod:`eqprop_hw.learning.coupled`).

        Parameters
        ----------
        x : array_like, shape (n_inputs,)
            Input values in input order.
        y : array_like, shape (n_outputs,)
            Target voltages (V) in output order.
        eta : float, optional
            Clamped fraction of the output error, in (0, 1]; default the spec's
            ``training.eta`` (0.1).
        backend : {"native", "ngspice"}
            Simulator of the free and the clamped phase.

        Returns
        -------
        CoupledGradientResult

        Examples
        --------
        >>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
        >>> g = net.coupled_gradient([1, 0], [0.9], eta=0.01)
        >>> g.cosine > 0.9999, g.loss_cosine > 0.9999   # one output: the loss gradient's direction
        (True, True)
        """
        from eqprop_hw.networks.coupled import coupled_gradient_result
        method = "coupled_gradient"
        if x is None or y is None:
            raise InvalidParameterError(f"{method}: 'x' and 'y' are required")
        x = self._inputs(x, method, batch=False)[None]
        y = check_array(y, "y", method, (len(self.output_names),), self.output_names)[None]
        return coupled_gradient_result(self, x, y, eta, backend)

    def twin_netlist(self, *, epochs: int | None = None, seed: int | None = None) -> str:
        """The one transient in which the twin-network circuitry trains this circuit
        (``eqprop-hw export --twin``; :mod:`eqprop_hw.twin`; needs ``training.rule: coupled``
        and ``batch_size: 1``): ``ngspice -b`` runs it.

        Parameters
        ----------
        epochs, seed : int, optional
            Override the spec's training settings.

        Returns
        -------
        str

        Examples
        --------
        >>> text = eqprop_hw.load(CIRCUITS / "xor_twin.yaml").twin_netlist(epochs=1)
        >>> text.splitlines()[0], ".tran" in text
        ('eqprop-hw twin xor_twin', True)
        """
        from eqprop_hw.networks.coupled import twin_netlist_text
        return twin_netlist_text(self, epochs, seed)

    def train_twin(self, out=None, *, epochs: int | None = None, seed: int | None = None,
                   plots: bool = True):
        """Train with the twin-network circuitry: the whole run is ONE ngspice transient
        (``eqprop-hw train --twin``; see :mod:`eqprop_hw.twin`).

        Writes ``params.npz``, ``metrics.json`` (a ``train`` run's, of the capacitors' values
        at each epoch's end, plus ``twin``, ``settings``, ``windows``, ``ngspice_seconds``) and
        ``twin.cir`` (the netlist that ran) in ``out`` (default ``runs/<spec name>``).

        Parameters
        ----------
        out : str or path-like, optional
        epochs, seed : int, optional
            Override the spec's training settings.
        plots : bool
            Also draw ``twin.png`` (edge values and train loss over time).

        Returns
        -------
        TrainingRun

        Examples
        --------
        >>> run = eqprop_hw.load(CIRCUITS / "xor_twin.yaml").train_twin(TMP / "t", epochs=1,
        ...                                                          plots=False)
        >>> run.metrics["twin"], (run.out / "twin.cir").exists()
        (True, True)
        """
        from eqprop_hw.networks.coupled import train_twin_run
        return train_twin_run(self, out, epochs, seed, plots)

    def netlist(self, x=None, *, beta: float | None = None, target=None, analysis: str = "op",
                tstep: float | None = None, tstop: float | None = None,
                loss: str | None = None, softmax_temperature: float | None = None) -> str:
        """The SPICE netlist, byte for byte what ``eqprop-hw export`` writes.

        Parameters
        ----------
        x : array_like, shape (n_inputs,), optional
            Input values (the sources' values); default the spec's.
        beta, target : optional
            With both, the nudging elements are in the netlist (S, V).
        analysis : {"op", "tran"}
            The analysis card: ``.op``, or ``.tran TSTEP TSTOP``.
        tstep, tstop : float, optional
            ``analysis="tran"`` only: time step and stop time (s; default 1e-6 and 1e-3).
        loss, softmax_temperature
            As in :meth:`simulate`.

        Returns
        -------
        str

        Examples
        --------
        >>> text = eqprop_hw.load(CIRCUITS / "xor.yaml").netlist([1, 0])
        >>> text.splitlines()[0], text.rstrip().splitlines()[-1]
        ('eqprop-hw xor', '.end')
        """
        from eqprop_hw.circuit.netlist import fmt, write_netlist
        method = "netlist"
        inputs = None if x is None else self._inputs(x, method, batch=False).tolist()
        check_choice(analysis, "analysis", method, ("op", "tran"))
        check_number(tstep, "tstep", method, positive=True)
        check_number(tstop, "tstop", method, positive=True)
        if analysis != "tran" and (tstep is not None or tstop is not None):
            raise InvalidParameterError("netlist: 'tstep'/'tstop' apply to analysis='tran' "
                                        "only")
        beta, targets = self._nudge(method, beta, target)
        loss, softmax = self._loss(method, loss, softmax_temperature)
        card = "op"
        if analysis == "tran":
            tstep = DEFAULT_TSTEP if tstep is None else tstep
            tstop = DEFAULT_TSTOP if tstop is None else tstop
            if tstep > tstop:
                raise InvalidParameterError(f"netlist: 'tstep' ({tstep:g} s) must not exceed "
                                            f"'tstop' ({tstop:g} s)")
            card = f".tran {fmt(tstep)} {fmt(tstop)}"
        return write_netlist(self.circuit, inputs=inputs, beta=beta, targets=targets,
                             analysis=card, loss=loss, temperature=softmax)

    def train(self, out=None, *, epochs: int | None = None, seed: int | None = None,
              backend: str = "native", resume: bool = False, plots: bool = True,
              progress: bool = False, workers: int | None = None,
              scheduler: str | None = None, chunks: int | None = None,
              isolate: bool | None = None, log=None, keep_checkpoint: bool = False):
        """Train on the spec's dataset with the local EP rule (``eqprop-hw train``).

        Parameters
        ----------
        out : str or path-like, optional
            Output folder (default ``runs/<spec name>``): ``params.npz``, ``metrics.json``,
            ``checkpoint.npz`` and (with ``plots``) PNG plots, all written atomically.
        epochs, seed : int, optional
            Override the spec's ``training`` values.
        backend : {"native", "ngspice"}
        resume : bool
            Continue from ``out/checkpoint.npz`` (the same result as an uninterrupted run); no
            checkpoint yet: start from the beginning (one line to ``log`` says so).
        plots : bool
            Draw the PNG figures (once, at the end, or when a signal stops the run).
        progress : bool
            tqdm progress bars on stderr.
        workers, scheduler, chunks, isolate
            Data-parallel training and ngspice isolation, as :func:`eqprop_hw.learning.train.train`.
        log : callable, optional
            Called with each progress message (str), e.g. resuming, checkpoints.
        keep_checkpoint : bool
            Keep ``out/checkpoint.npz`` after the run has finished (to continue it later with
            ``resume=True`` and more epochs); by default it is removed once params, metrics and
            figures are written.

        Returns
        -------
        TrainingRun
            ``metrics`` as in ``metrics.json``; ``params`` read back from ``params.npz``.

        Examples
        --------
        >>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
        >>> run = net.train(TMP / "xor2", epochs=2, plots=False)
        >>> run.metrics["epochs"], sorted(run.params) == sorted(net.trainable)
        ([1, 2], True)
        """
        from eqprop_hw.networks.coupled import loop_train as train   # not transistor twins
        method = "train"
        out = self._out(out, method)
        check_int(epochs, "epochs", method, minimum=1)
        check_int(seed, "seed", method)
        check_choice(backend, "backend", method, BACKENDS)
        for name, value in (("resume", resume), ("plots", plots), ("progress", progress),
                            ("keep_checkpoint", keep_checkpoint)):
            check_bool(value, name, method)
        check_int(workers, "workers", method, minimum=1)
        check_int(chunks, "chunks", method, minimum=1)
        if scheduler is not None and not isinstance(scheduler, str):
            raise InvalidParameterError("The 'scheduler' parameter of train must be an "
                                        f"address string; got {scheduler!r}.")
        if workers is not None and scheduler is not None:
            raise InvalidParameterError("train: give 'workers' or 'scheduler', not both")
        if isolate is not None:
            check_bool(isolate, "isolate", method)
        metrics = train(self.spec, out, backend=backend, epochs=epochs, seed=seed,
                        resume=resume, params=self.params, progress=progress, plots=plots,
                        log=log, workers=workers, scheduler=scheduler, chunks=chunks,
                        isolate=isolate, keep_checkpoint=keep_checkpoint)
        return self._run(metrics, Path(out), "params.npz")

    def predict(self, split: str = "test", *, backend: str = "native",
                loss: str | None = None, softmax_temperature: float | None = None,
                progress: bool = False):
        """Predictions on the spec's dataset (``eqprop-hw predict --json``).

        Parameters
        ----------
        split : {"test", "train", "all"}
        backend : {"native", "ngspice"}
        loss, softmax_temperature
            As in :meth:`simulate`.
        progress : bool
            Progress bar on stderr (ngspice rows; finite temperature: the sampled phase).

        Returns
        -------
        Prediction

        Examples
        --------
        >>> pred = eqprop_hw.load(CIRCUITS / "iris.yaml").predict(split="test")
        >>> 0.0 <= pred.accuracy <= 1.0, pred.samples[0]["label"] in (0, 1, 2)
        (True, True)
        """
        from eqprop_hw.networks.results import Prediction
        from eqprop_hw.backends import make_backend
        from eqprop_hw.io.data import load_dataset
        from eqprop_hw.learning.losses import backend_options
        from eqprop_hw.learning.train import evaluate
        method = "predict"
        check_choice(split, "split", method, SPLITS)
        check_choice(backend, "backend", method, BACKENDS)
        check_bool(progress, "progress", method)
        loss, softmax = self._loss(method, loss, softmax_temperature)
        with waiting(f"predict ({split}): the data set", progress):     # (imports)
            x, y, index = (dataset := load_dataset(self.spec, self.circuit)).split(split)
        with make_backend(backend, self.circuit, **backend_options(loss, softmax)) as solver:
            with row_progress(solver, len(x), f"predict ({split})", progress):
                result = evaluate(solver, dataset, x, y)
        outputs = result["outputs"]
        predictions = dataset.predict(outputs, loss)
        samples = [{"index": int(index[row]), "label": label_text(y[row]),
                    "prediction": label_text(predictions[row]),
                    "inputs": np.asarray(x[row], dtype=float).tolist(),
                    "source_voltages": source_voltages(self.circuit, x[row]),
                    "outputs": outputs[row].tolist()}
                   for row in range(len(x))]
        data = {"accuracy": result["accuracy"], "loss": result["loss"], "split": split,
                "backend": backend, "samples": samples}
        return Prediction(data=data, accuracy=result["accuracy"], loss=result["loss"],
                          split=split, backend=backend, samples=samples,
                          outputs=np.asarray(outputs, dtype=float))

    def check(self, samples: int = 4, *, beta: float | None = None, ngspice: bool = True,
              loss: str | None = None, softmax_temperature: float | None = None,
              progress: bool = False):
        """The reference checks (``eqprop-hw check --json``): EP from each backend and from
        the software model against the exact gradient and finite differences, and the
        backends' agreement.

        Parameters
        ----------
        samples : int
            Inputs to check: the dataset's first training rows, else random ones (seed 0).
        beta : float, optional
            Nudging conductance (S, > 0; W for cross-entropy); default the spec's
            ``training.beta``.
        ngspice : bool
            Include the ngspice rows.
        loss, softmax_temperature
            As in :meth:`simulate`.
        progress : bool
            A progress bar on stderr over the estimators.

        Returns
        -------
        CheckResult

        Examples
        --------
        >>> table = eqprop_hw.load(CIRCUITS / "xor.yaml").check(2, ngspice=False)
        >>> [row["name"] for row in table.rows][:2], table.samples
        (['exact', 'ep native'], 2)
        """
        from eqprop_hw.networks.results import CheckResult
        from eqprop_hw.learning.check import check_report, check_steps
        from eqprop_hw.learning.loop import progress_bar
        from eqprop_hw.learning.train import settings_from
        method = "check"
        check_int(samples, "samples", method, minimum=1, optional=False)
        check_number(beta, "beta", method, positive=True)
        check_bool(ngspice, "ngspice", method)
        check_bool(progress, "progress", method)
        loss, softmax = self._loss(method, loss, softmax_temperature)
        backends = ("native", "ngspice") if ngspice else ("native",)
        bar = progress_bar(check_steps(backends), "check (exact, EP, finite differences)",
                           progress, unit="estimator")      # open while the data set loads
        try:
            x, y = self._check_inputs(samples, loss)
            beta = beta if beta is not None else settings_from(self.spec).beta
            rows = check_report(self.circuit, x, y, beta, backends=backends, loss=loss,
                                temperature=softmax, bar=bar)
        finally:
            if bar is not None:
                bar.close()
        data = {"spec": self.name, "beta": beta, "loss": loss, "temperature": softmax,
                "samples": len(x), "rows": rows}
        return CheckResult(data=data, rows=rows, beta=beta, samples=len(x))

    def _check_inputs(self, samples: int, loss: str = "squared"):
        """Inputs and targets of :meth:`check`: the dataset's first training rows, else
        random (targets: voltages, or one-hot probabilities for the cross-entropy loss)."""
        circuit = self.circuit
        if self.spec.data.get("dataset"):
            from eqprop_hw.io.data import load_dataset
            dataset = load_dataset(self.spec, circuit)
            return dataset.x_train[:samples], \
                dataset.loss_targets(dataset.y_train[:samples], loss)
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (samples, len(circuit.inputs)))
        if loss == "cross_entropy":
            n_out = len(circuit.outputs)
            return x, np.eye(n_out)[np.arange(samples) % max(n_out, 1)]
        return x, rng.uniform(-0.1, 0.1, (samples, len(circuit.outputs)))

    def plot_phases(self, path, x, *, beta: float | None = None, target=None,
                    backend: str = "native", loss: str | None = None,
                    softmax_temperature: float | None = None, where: str = "",
                    image_shape: tuple | None = None) -> None:
        """Draw the node voltages per layer of one input vector to a PNG file: the free phase,
        and with ``beta`` (S) and ``target`` the +beta and -beta nudged phases
        (:func:`eqprop_hw.io.plots.plot_node_voltages`).

        Parameters
        ----------
        path : str or path-like
            The PNG file (written atomically).
        x : array_like, shape (n_inputs,)
        target : array_like, shape (n_outputs,), optional
            Target voltages (V), or probabilities for the cross-entropy loss.
        where : str
            Appended to the title (e.g. the data set row).
        image_shape : tuple of int, optional
            ``(rows, columns)`` of image inputs (``predict --plot`` on digits or mnist): ``x``
            is also drawn as that image beside the node voltages.

        Examples
        --------
        >>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
        >>> net.plot_phases(TMP / "xor_phases.png", [1, 0], beta=1e-6, target=[0.1])
        >>> (TMP / "xor_phases.png").stat().st_size > 0
        True
        """
        from eqprop_hw.backends import make_backend
        from eqprop_hw.io.plots import plot_node_voltages
        from eqprop_hw.learning.losses import backend_options
        loss, softmax = self._loss("plot_phases", loss, softmax_temperature)
        inputs = np.asarray(x, dtype=float).reshape(1, -1)
        if image_shape is not None:
            shape = tuple(image_shape)
            if (len(shape) != 2 or not all(isinstance(v, int) and v > 0 for v in shape)
                    or shape[0] * shape[1] != inputs.shape[1]):
                raise InvalidParameterError(
                    f"plot_phases: image_shape must be (rows, columns) with rows x columns = "
                    f"{inputs.shape[1]} inputs, got {image_shape!r}")
        with make_backend(backend, self.circuit, **backend_options(loss, softmax)) as solver:
            if beta is None:
                results, labels = [solver.solve(inputs)], ["free"]
            else:
                results = solver.solve_phases(inputs, target, [0.0, beta, -beta])
                u = " W)" if loss == "cross_entropy" else " S)"     # beta's unit, closing
                labels = ["free", f"nudged (+beta = {beta:g}{u}", f"nudged (-beta = {-beta:g}{u}"]
            name = solver.name
        shown = ", ".join([f"{v:g}" for v in inputs[0][:6]] + ["..."] * (inputs.shape[1] > 6))
        plot_node_voltages(path, self.circuit, results[0].node_names,
                           {label: r.voltages[0] for label, r in zip(labels, results)},
                           targets=(np.asarray(target, dtype=float).ravel()
                                    if beta is not None and loss == "squared" else None),
                           title=f"{self.circuit.name}: node voltages, input [{shown}]{where} "
                                 f"({name} backend)",
                           image=(None if image_shape is None
                                  else inputs[0].reshape(tuple(image_shape))))
