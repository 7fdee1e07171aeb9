"""Training with the hardware-local EP rule, with either backend in the loop.

Each minibatch runs the free phase and the nudged phase(s) on the backend, measures the voltage
across every trainable conductance, and updates it with the local rule
(:func:`eqprop_hw.learning.ep.local_rule`):

    g <- clip(g - eta_k * g_max^2 * dL/dg_estimate, g_min, g_max)

``eta_k`` is the spec's ``training.learning_rate`` for crossbar k (one number, or one per crossbar),
multiplied by ``training.lr_decay ** epoch``: it acts on normalised conductances w = g / g_max, so
it is dimensionless. Every epoch the train
and test sets are evaluated (free phase only), a checkpoint is written atomically and the curves
are saved; ``resume=True`` continues from the checkpoint and reproduces the uninterrupted run
exactly (the sample order of epoch e depends only on (seed, e)).

The spec's ``training.loss`` picks the nudge: ``squared`` (targets are voltages from
:meth:`Dataset.targets`, beta in S) or ``cross_entropy`` (targets are one-hot probabilities from
:meth:`Dataset.probabilities`, beta in W, softmax temperature ``training.temperature`` in V);
the reported train/test loss is that loss (V^2 or nats).

Outputs in ``out_dir``: ``params.npz`` (loadable by ``--params``), ``metrics.json``,
``checkpoint.npz`` (removed when the run has finished, unless ``keep_checkpoint``),
``loss.png``, ``accuracy.png``, ``conductances.png``, ``conductance_map.png`` (the figures are
drawn once, at the end of the run or when a signal stops it; params, metrics and checkpoint
every epoch).

SIGINT/SIGTERM write ``checkpoint.npz`` after the current minibatch (with the position within
the epoch) and stop with :class:`~eqprop_hw.errors.TrainingInterrupted`; ``resume=True``
continues from it to exactly the uninterrupted result.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.learning.dispatch_model import client_parts, default_chunks
from eqprop_hw.learning.devices import hardware_from_spec, measured_gradient, probe_for
from eqprop_hw.learning.device_checkpoint import (DEVICE_FIELDS, DEVICE_SECTION,
                                                 check_device_section, read_device_state,
                                                 section_field)
from eqprop_hw.learning.ep import chunked_gradient, ep_gradient, loss_values
from eqprop_hw.errors import EqpropError, SimulatorCrash, SpecError
from eqprop_hw.io.fileio import atomic_write_text, quote
from eqprop_hw.io.figure_helper import FigureHelper
from eqprop_hw.io.statefile import (CheckpointReader, check_epoch_times, check_resumed_bounds,
                                     check_resumed_settings, write_checkpoint)
from eqprop_hw.learning.loop import (CHECKPOINT_NAME, Start, Trainer, log_resumed, read_start,
                                     run)
from eqprop_hw.learning.limits import check_run_counts
from eqprop_hw.learning.progress import waiting
from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.learning.losses import backend_options
from eqprop_hw.io.params import save_params
from eqprop_hw.circuit.spec import Spec

DEFAULT_TRAINING = {"epochs": 10, "batch_size": 16, "learning_rate": 0.01, "lr_decay": 1.0,
                    "beta": 1e-6, "nudge": "centered", "loss": "squared", "temperature": 0.1,
                    "seed": 0, "rule": "ep", "eta": 0.1,
                    "layer_beta": None}
CHECKPOINT_FORMAT = "eqprop-hw checkpoint 2"
#: Older checkpoint formats still read (format 1: epoch boundaries only).
CHECKPOINT_FORMATS = ("eqprop-hw checkpoint 1", CHECKPOINT_FORMAT)


@dataclass
class TrainSettings:
    """Resolved training settings (spec ``training`` section plus command-line overrides)."""

    epochs: int
    batch_size: int
    learning_rate: object
    lr_decay: float
    beta: float
    nudge: str
    loss: str
    seed: int
    temperature: float = 0.1
    rule: str = "ep"
    eta: float = 0.1
    layer_beta: list | None = None
    """Per-crossbar nudging strengths (:func:`layer_gradient`), or None: ``beta`` for all."""


def settings_from(spec: Spec, epochs: int | None = None, seed: int | None = None,
                  beta: float | None = None, nudge: str | None = None) -> TrainSettings:
    """Training settings of a spec, with optional overrides."""
    data = dict(DEFAULT_TRAINING)
    data.update(spec.data.get("training") or {})
    if epochs is not None:
        data["epochs"] = int(epochs)
    if seed is not None:
        data["seed"] = int(seed)
    if beta is not None:
        data["beta"] = float(beta)
    if nudge is not None:
        data["nudge"] = nudge
    return TrainSettings(**{k: data[k] for k in TrainSettings.__dataclass_fields__})


def conductance_bounds(spec: Spec, circuit: Circuit) -> tuple[float, float]:
    """[g_min, g_max] (S) of the trainable conductances."""
    if spec.kind == "layered":
        return spec.data["conductance"]["min"], spec.data["conductance"]["max"]
    values = np.array(circuit.trainable_values())
    return 1e-12, float(values.max()) * 100.0


def crossbar_of(circuit: Circuit) -> np.ndarray:
    """Crossbar index (0-based) of every trainable element; all 0 for graph circuits."""
    if not circuit.crossbars:
        return np.zeros(len(circuit.trainable), dtype=int)
    layer_of = {}
    for k, crossbar in enumerate(circuit.crossbars):
        for name in crossbar["elements"]:
            layer_of[name] = k
    return np.array([layer_of.get(name, 0) for name in circuit.trainable])


def learning_rates(settings: TrainSettings, circuit: Circuit, source: str) -> np.ndarray:
    """Per-element learning rate from one rate or one per crossbar."""
    layers = crossbar_of(circuit)
    rate = settings.learning_rate
    if isinstance(rate, (list, tuple)):
        n_crossbars = int(layers.max()) + 1
        if len(rate) != n_crossbars:
            raise SpecError(f"training.learning_rate lists {len(rate)} rates but the circuit has "
                            f"{n_crossbars} crossbar(s)", source)
        return np.asarray(rate, dtype=float)[layers]
    return np.full(len(layers), float(rate))


def layer_gradient(estimate, layers: np.ndarray, layer_beta) -> np.ndarray:
    """The local rule with one nudging strength per crossbar (``training.layer_beta``).

    The elements of crossbar k take their estimate from phases nudged with ``layer_beta[k]``:
    ``estimate(beta)`` (the batch-mean local rule of phases at ``beta``) runs once per distinct
    value, so the cost is one set of phases per distinct beta. A larger beta lifts the weak
    nudge signal of crossbars far from the outputs above read noise and ADC steps; the price
    is the EP bias of that crossbar's estimate, O(beta) one-sided, O(beta^2) centered.

    Parameters
    ----------
    estimate : callable
        ``estimate(beta) -> ndarray (n_trainable,)``.
    layers : ndarray of int (n_trainable,)
        Crossbar index of every trainable element (:func:`crossbar_of`).
    layer_beta : sequence of float
        One nudging strength per crossbar (> 0).

    Returns
    -------
    ndarray (n_trainable,)

    Examples
    --------
    >>> import numpy as np
    >>> layer_gradient(lambda beta: np.full(3, beta), np.array([0, 1, 1]), [2.0, 5.0])
    array([2., 5., 5.])
    """
    gradient = np.zeros(len(layers))
    for beta in sorted(set(float(b) for b in layer_beta)):
        chosen = np.asarray(layer_beta, dtype=float)[layers] == beta
        gradient[chosen] = estimate(beta)[chosen]
    return gradient


def evaluate(backend, dataset, x: np.ndarray, y: np.ndarray, batch: int = 512,
             loss: str | None = None, temperature: float | None = None, bar=None) -> dict:
    """Free-phase loss and accuracy of a split (outputs in V).

    ``loss`` (default: the backend's loss) is ``squared`` (V^2, against
    :meth:`Dataset.targets`) or ``cross_entropy`` (nats, against one-hot probabilities, with
    the softmax temperature ``temperature`` in V, default the backend's). ``bar`` (a tqdm
    bar, optional) is advanced by the rows solved.
    """
    if loss is None:
        loss = getattr(backend, "loss", "squared")
        if temperature is None:
            temperature = getattr(backend, "temperature", None)
    outputs = []
    for start in range(0, len(x), batch):
        outputs.append(backend.solve(x[start:start + batch]).outputs)
        if bar is not None:
            bar.update(len(outputs[-1]))
    outputs = np.concatenate(outputs) if outputs else np.zeros((0, backend.n_outputs))
    value = float(loss_values(loss, outputs, dataset.loss_targets(y, loss),
                              temperature).mean()) if len(x) else math.nan
    accuracy = dataset.accuracy(outputs, y, loss) if len(x) else None
    return {"loss": value, "accuracy": accuracy, "outputs": outputs}


def _write_checkpoint(path: Path, epoch: int, values: np.ndarray, metrics: dict,
                      position: int = 0, seconds: float = 0.0, devices: dict | None = None,
                      section: np.ndarray | None = None) -> None:
    """Write the training state atomically (:func:`eqprop_hw.io.statefile.write_checkpoint`).

    ``epoch`` epochs are complete (their metrics are in ``metrics``) and ``position`` samples of
    the sample order of epoch ``epoch`` (0-based; it depends only on (seed, epoch)) are trained
    already, in ``seconds`` s; ``values`` are the trainable values after them. The learning rate
    of an epoch is a function of the epoch, so this is the whole state, apart from the devices'
    update-scheme state ``devices`` (:meth:`Hardware.scheme_state`: every cell's register or
    fast device ``device_buffer`` in S, its pulse count ``device_pulses`` and the number of
    minibatches applied ``device_updates``), written when training has a ``devices`` section,
    and ``section``, the field ``device_section`` (the run's ``devices`` section as JSON,
    ``null`` without one: the drawn device parameters and every random stream depend on it, so
    a resume checks it, :func:`eqprop_hw.learning.device_checkpoint.check_device_section`).
    """
    fields = {"format": np.array(CHECKPOINT_FORMAT), "epoch": np.array(epoch),
              "values": values, "metrics": np.array(json.dumps(metrics)),
              "position": np.array(int(position)), "seconds": np.array(float(seconds))}
    if devices is not None:
        fields.update(device_buffer=devices["buffer"], device_pulses=devices["pulses"],
                      device_updates=np.array(int(devices["updates"])))
    if section is not None:
        fields[DEVICE_SECTION] = section
    write_checkpoint(path, fields)


#: Per-epoch lists of a checkpoint's metrics (one item per finished epoch).
CHECKPOINT_CURVES = ("epochs", "train_loss", "test_loss", "train_accuracy", "test_accuracy",
                     "seconds", "samples_per_second")
#: Each epoch's whole time (s), training and evaluation: a per-epoch list of the metrics
#: added later (a checkpoint written before it holds none: ``None`` per epoch).
EPOCH_TOTALS = "epoch_seconds_total"


def _read_checkpoint(path: Path, n_values: int, spec_name: str | None = None,
                     epochs: int | None = None, samples: int | None = None
                     ) -> tuple[int, np.ndarray, dict, int, float]:
    """``(epoch, values, metrics, position, seconds)`` of a checkpoint (see _write_checkpoint).

    Every field is checked (:class:`eqprop_hw.io.statefile.CheckpointReader`): the format, an
    epoch in [0, ``epochs``], ``n_values`` finite positive values (S), metrics of spec
    ``spec_name`` with one item per finished epoch, a position in [0, ``samples``] and finite
    seconds >= 0.

    Raises
    ------
    ParamsError
        ``"<path>: cannot resume from this checkpoint: <reason>"``.
    """
    state = CheckpointReader(path, ("format", "epoch", "values", "metrics", "position",
                                    "seconds") + DEVICE_FIELDS)
    state.check_format(CHECKPOINT_FORMATS)
    epoch = state.integer("epoch")
    if epochs is not None and epoch > epochs:
        raise state.error(f"it is after epoch {epoch}, beyond the {epochs} epoch(s) asked for")
    values = state.vector("values", n_values, "trainable elements", positive=True)
    metrics = state.json("metrics")
    if spec_name is not None and metrics.get("spec") != spec_name:
        raise state.error(f"it was written for spec {quote(metrics.get('spec'))}, not "
                          f"{quote(spec_name)}")
    state.curves(metrics, CHECKPOINT_CURVES, epoch, first=1)
    check_epoch_times(state, metrics, EPOCH_TOTALS, epoch, first=1)
    position, seconds = state.place(samples)
    return epoch, values, metrics, position, seconds


def train(spec: Spec, out_dir: str | Path, backend: str = "native", epochs: int | None = None,
          seed: int | None = None, resume: bool = False, params: dict | None = None,
          progress: bool = True, plots: bool = True, log=None, workers: int | None = None,
          scheduler: str | None = None, chunks: int | None = None,
          isolate: bool | None = None, keep_checkpoint: bool = False) -> dict:
    """Train a spec's circuit on its dataset with the local EP rule.

    Parameters
    ----------
    spec : Spec
        A spec with a ``dataset`` (and optionally ``training``) section.
    out_dir : path
        Where params, metrics, checkpoint and plots go (created if needed).
    backend : {"native", "ngspice"}
    epochs, seed : int, optional
        Override the spec's ``training`` values.
    resume : bool
        Continue from ``out_dir/checkpoint.npz`` (none yet: start from the beginning and say
        so through ``log``).
    params : dict, optional
        Start from these element values instead of the spec's initial conductances.
    progress : bool
        tqdm progress bars on stderr.
    plots : bool
        Draw the PNG figures once, at the end or on a stop (:mod:`eqprop_hw.io.figure_helper`).
    log : callable, optional
        Receives each epoch's line of text (with its whole time: training and evaluation).
    workers : int, optional
        Data-parallel training on a new local Dask cluster of this many single-threaded
        worker processes (one backend each); see :mod:`eqprop_hw.learning.distributed`.
    scheduler : str, optional
        Address of a Dask scheduler to train on instead of workers (every minibatch goes there).
    chunks : int, optional
        Split every minibatch into this many contiguous parts, solved separately, and average
        the rows (:func:`eqprop_hw.learning.ep.chunked_gradient`), the same bits on any cluster.
        Default with workers/scheduler: from what a part costs, never timed (``plan_workers``
        in :mod:`eqprop_hw.learning.dispatch_model`); else whole minibatches.
    isolate : bool, optional
        Run ngspice in a child process that is restarted (and the request retried once) if
        it dies (:mod:`eqprop_hw.backends.isolated`). Default: on for ``backend="ngspice"``
        (measured cost: ``eqprop-hw bench isolation``); the native backend ignores it.
    keep_checkpoint : bool
        Keep ``checkpoint.npz`` after the run has finished (to continue it later with
        ``resume=True`` and more epochs); by default it is removed once the params, metrics
        and figures are written.

    The epochs, checkpoints, SIGINT/SIGTERM stops and resumes are those of the one training
    loop (:mod:`eqprop_hw.learning.loop`): SIGINT or SIGTERM during training (main thread)
    writes ``checkpoint.npz`` after the current minibatch (a second signal abandons the
    minibatch and checkpoints the state before it) and raises
    :class:`~eqprop_hw.errors.TrainingInterrupted`; ``resume=True`` then continues to exactly
    the uninterrupted result. The previous signal handlers are restored when ``train`` returns
    or raises.

    Returns
    -------
    dict
        The metrics (as written to ``metrics.json``), with ``epoch_seconds_total`` (each
        epoch's whole time, s), ``wall_seconds`` (this call's wall time, s) and ``overrides``
        (the spec settings given with ``--set``, :attr:`Spec.overrides`).
    """
    from eqprop_hw.io.plots import plots_possible
    began = time.perf_counter()
    check_run_counts(epochs, seed)
    if workers is not None or scheduler is not None:
        from eqprop_hw.extras import require
        from eqprop_hw.learning.distributed import DASK_USE
        require("distributed", DASK_USE)     # before anything is written
    plots = plots_possible(plots, log)
    with waiting("starting (circuit, data set)", progress):
        trainer = ResistiveTrainer(spec, out_dir, backend, epochs, seed, params, plots)
    with FigureHelper.started(plots) as trainer.figure_helper:   # matplotlib while it trains
        trainer.began, start = began, read_start(trainer, resume, log)   # (began: wall time)
        with waiting("starting (backend" + (", workers)" if workers or scheduler else ")"),
                     progress):
            trainer.connect(workers, scheduler, chunks, isolate, start.resumed)
        if trainer.dispatch is not None and log is not None:
            log(trainer.dispatch.line())        # --workers: is the work per task worth it?
        log_resumed(trainer, start, log)
        return run(trainer, start, progress, log, keep_checkpoint)


#: Settings a run records in its metrics; a resumed run must use the same ones.
RESUMED_SETTINGS = ("backend", "seed", "beta", "nudge", "loss", "temperature",
                    "learning_rate", "lr_decay", "batch_size", "overrides", "device_update",
                    "layer_beta")


class ResistiveTrainer(Trainer):
    """The resistive kinds (layered, graph; devices, finite temperature) for
    :func:`eqprop_hw.learning.loop.run`: one step is one minibatch of the local EP rule."""

    def __init__(self, spec: Spec, out_dir, backend: str, epochs, seed, params, plots: bool):
        from eqprop_hw.io.data import load_dataset
        self.spec, self.backend, self.plots = spec, backend, plots
        self.settings = settings = settings_from(spec, epochs=epochs, seed=seed)
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint = self.out_dir / CHECKPOINT_NAME
        self.params = params
        self.circuit = circuit = build_circuit(spec, params=params)
        self.dataset = load_dataset(spec, circuit)
        self.g_min, self.g_max = conductance_bounds(spec, circuit)
        self.rates = learning_rates(settings, circuit, spec.source) * self.g_max ** 2
        self.layers = crossbar_of(circuit)
        if settings.layer_beta and len(settings.layer_beta) != int(self.layers.max()) + 1:
            raise SpecError(f"training.layer_beta lists {len(settings.layer_beta)} value(s) but "
                            f"the circuit has {int(self.layers.max()) + 1} crossbar(s)",
                            spec.source)
        self.values = np.clip(np.array(circuit.trainable_values()), self.g_min, self.g_max)
        self.epochs = self.passes = settings.epochs
        self.samples, self.batch_size = len(self.dataset.x_train), settings.batch_size
        self.metrics = {
            "spec": spec.name, "backend": backend, "seed": settings.seed,
            "beta": settings.beta, "nudge": settings.nudge, "loss": settings.loss,
            "temperature": settings.temperature if settings.loss == "cross_entropy" else None,
            "learning_rate": settings.learning_rate, "lr_decay": settings.lr_decay,
            "batch_size": settings.batch_size,
            "overrides": dict(getattr(spec, "overrides", None) or {}),
            **({"layer_beta": settings.layer_beta} if settings.layer_beta else {}),
            "epochs": [], "train_loss": [], "test_loss": [], "train_accuracy": [],
            "test_accuracy": [], "seconds": [], "samples_per_second": [],
            EPOCH_TOTALS: []}
        if settings.rule == "coupled":     # recorded only for Coupled Learning: EP runs as before
            self.metrics.update(rule="coupled", eta=settings.eta)
            # The clamp rule's direction is in V^2 (EP's in V^2/S): one g_max less.
            self.rates = self.rates / self.g_max
        devices = spec.data.get("devices")
        self.device_section = dict(devices) if devices else None    # kept in the checkpoint
        self.device_update = dict(devices["update"]) if devices and devices.get("update") \
            else None
        # A scheme other than direct is a setting of the run (recorded, compared on resume),
        # e.g. "accumulate, threshold 1".
        self.recorded_update = None
        if self.device_update is not None and self.device_update["scheme"] != "direct":
            self.recorded_update = ", ".join(
                [self.device_update["scheme"]] +
                [f"{key} {value}" if isinstance(value, str) else f"{key} {value:g}"
                 for key, value in self.device_update.items() if key != "scheme"])
        if self.recorded_update is not None:
            self.metrics["device_update"] = self.recorded_update
        self.engine = self.client = self.cluster = self.remote = self.thermal = None
        self.clamped = self.device_state = None
        self.hardware = self.probe = self.chunks = self.dispatch = None
        self.solve_parts = None    # calls per minibatch here (chunks, or fewer: same numbers)
        self.resumed, self.progress = False, False
        self.began = time.perf_counter()
        self.figure_helper = None    # draws the figures in a process of its own (train sets it)

    def load(self, path) -> Start:
        epoch, self.values, self.metrics, position, seconds = _read_checkpoint(
            path, self.values.size, self.spec.name, self.settings.epochs, self.samples)
        settings = self.settings
        now = {"backend": self.backend, "seed": settings.seed, "beta": settings.beta,
               "nudge": settings.nudge, "loss": settings.loss,
               "temperature": settings.temperature if settings.loss == "cross_entropy" else None,
               "learning_rate": settings.learning_rate, "lr_decay": settings.lr_decay,
               "batch_size": settings.batch_size,
               "overrides": dict(getattr(self.spec, "overrides", None) or {}),
               "device_update": self.recorded_update, "layer_beta": settings.layer_beta}
        self.metrics.setdefault("overrides", {})      # a checkpoint from before --set
        check_resumed_settings(path, self.metrics, {key: now[key] for key in RESUMED_SETTINGS})
        coupled = settings.rule == "coupled"      # EP runs record no rule (their metrics
        check_resumed_settings(                    # stay as they were): compare explicitly
            path, {"rule": self.metrics.get("rule", "ep"), "eta": self.metrics.get("eta")},
            {"rule": settings.rule, "eta": settings.eta if coupled else None})
        check_device_section(path, self.device_section)
        if self.device_update is not None:
            from eqprop_hw.learning.schemes import scheme_from_mapping
            self.device_state = read_device_state(path, self.values.size,
                                                  scheme_from_mapping(self.device_update))
        self.resumed = True
        return Start(epoch, position, seconds)

    def connect(self, workers, scheduler, chunks, isolate, resume: bool) -> None:
        """Check the run options and start the engines (backend, Dask, sampler, devices)."""
        settings, circuit = self.settings, self.circuit
        if settings.loss == "cross_entropy":
            self.dataset.probabilities(self.dataset.y_train[:1])   # one output per class
        if workers is not None and scheduler is not None:
            raise EqpropError("train: give either workers or scheduler, not both")
        if chunks is not None and int(chunks) < 1:
            raise EqpropError(f"train: chunks must be a positive number, got {chunks!r}")
        self.options = backend_options(settings.loss, settings.temperature)
        self.engine = self._make_engine(circuit, isolate)
        try:
            self._attach(workers, scheduler, chunks, resume, isolate)
        except BaseException:
            self.close()
            raise

    def _make_engine(self, circuit, isolate):
        """A backend for ``circuit``: ngspice in an isolated child unless ``isolate`` is False
        (:mod:`eqprop_hw.backends.isolated`), the native solver compiled."""
        if self.backend == "ngspice" and (isolate is None or isolate):
            return make_backend(self.backend, circuit, isolated=True, **self.options)
        return make_backend(self.backend, circuit, compiled=True, **self.options)

    def _attach(self, workers, scheduler, chunks, resume: bool, isolate) -> None:
        """The Dask gradient, the finite-temperature sampler and the devices, when asked."""
        spec, circuit, metrics = self.spec, self.circuit, self.metrics
        special = self._special()
        may_gain, parts = (self._cluster_may_gain(workers, chunks)
                           if workers is not None and scheduler is None and not special
                           else (True, chunks))
        if not may_gain:
            metrics["workers"] = int(workers)                                  # no cluster
            chunks = None if chunks is None and parts == 1 else parts   # 1 part: whole
        elif workers is not None or scheduler is not None:
            from eqprop_hw.learning.distributed import DaskGradient, connect
            self.client, self.cluster = connect(workers=workers, scheduler=scheduler)
            count = len(self.client.scheduler_info().get("workers", {}))
            if scheduler is not None and chunks is None and not special:   # the same rule
                parts = default_chunks(self.backend, self.settings.batch_size, max(1, count))
            self.remote = DaskGradient(self.client, spec, self.backend, self.options,
                                       params=self.params, chunks=parts)
            chunks = self.remote.chunks
            metrics["workers"] = count
        metrics["chunks"] = self.chunks = self.solve_parts = chunks
        if workers is not None and self.remote is None and chunks is not None:
            self.solve_parts = client_parts(self.backend, chunks)      # the same numbers
        engine = self.engine
        engine.set_trainable(self.values)
        self.hardware = hardware_from_spec(spec, circuit, engine.node_names, self.g_min,
                                           self.g_max)
        if resume:
            hardware = self.hardware
            low, high = ((hardware.g_min, hardware.g_max) if hardware is not None
                         else (self.g_min, self.g_max))
            check_resumed_bounds(self.checkpoint, self.values, low, high, "values",
                                 "the conductance bounds", " S")
        self.probe = probe_for(self.hardware, circuit, engine.node_names)
        from eqprop_hw.thermal.train import thermal_trainer
        self.thermal = thermal_trainer(spec, circuit, self.backend)   # temperature: T > 0
        if self.thermal is not None:
            metrics.update(gibbs_temperature=self.thermal.temperature,
                           estimator=self.thermal.estimator, thermal_samples=self.thermal.samples)
        if self.hardware is not None:
            if self.remote is not None or chunks is not None:
                raise EqpropError("train: a spec with a devices section trains in one process "
                                  "(no workers, scheduler or chunks yet)")
            if not resume:
                self.values = self.hardware.clip(self.values)   # every device in its range
            elif self.device_state is not None:
                low, high = self.hardware.buffer_range()
                check_resumed_bounds(self.checkpoint, self.device_state["buffer"], low, high,
                                     "device_buffer", "the range of the scheme's register "
                                     "or fast device", " S")
                self.hardware.restore(self.device_state)
            engine.set_trainable(self.deployed())
        if self.remote is not None and workers is not None and self.thermal is None:
            self._calibrate()
        if self.settings.rule == "coupled":
            self._attach_clamped(chunks, isolate)

    def _special(self) -> bool:
        """Runs that refuse workers or do not calibrate (finite temperature, devices, Coupled
        Learning): they start the cluster and choose ``chunks`` as before issue 19."""
        spec = self.spec
        return bool(spec.data.get("temperature") is not None or spec.data.get("devices")
                    or self.settings.rule == "coupled")

    def _cluster_may_gain(self, workers: int, chunks) -> tuple:
        """``--workers N``: ``(whether N workers could gain, parts per minibatch)`` by
        :func:`eqprop_hw.learning.dispatch_model.plan_workers` (one task per minibatch: never,
        untimed; else one minibatch timed here). If not, no cluster is started and
        :attr:`dispatch` says why."""
        from eqprop_hw.learning import distributed
        from eqprop_hw.learning.dispatch_model import plan_workers
        settings, dataset, engine = self.settings, self.dataset, self.engine
        rows = slice(0, settings.batch_size)
        x = dataset.x_train[rows]
        t = dataset.loss_targets(dataset.y_train[rows], settings.loss)
        probe = probe_for(None, self.circuit, engine.node_names)
        engine.set_trainable(self.values)
        per_epoch = -(-self.samples // settings.batch_size)
        plan, parts = plan_workers(
            self.backend, int(workers), chunks, settings.batch_size, len(x),
            lambda here: chunked_gradient(engine, x, t, settings.beta, settings.nudge, probe,
                                          here),
            distributed.MIN_SPEEDUP, per_epoch * self.passes)   # the run (a resumed one: less)
        if not plan.start:
            self.dispatch = plan
            self.metrics["workers_dispatch"] = "client"
        return plan.start, parts

    def _calibrate(self) -> None:
        """A local cluster: are the tasks big enough to gain? (``DaskGradient.calibrate``)"""
        settings, dataset = self.settings, self.dataset
        rows = slice(0, settings.batch_size)
        self.dispatch = self.remote.calibrate(
            self.engine, self.probe, self.values, dataset.x_train[rows],
            dataset.loss_targets(dataset.y_train[rows], settings.loss), settings.beta,
            settings.nudge)
        self.metrics["workers_dispatch"] = "workers" if self.dispatch.dispatch else "client"
        if not self.dispatch.dispatch:    # idle workers only cost: stop them now (same chunks)
            from eqprop_hw.learning.distributed import disconnect
            self.remote.close()
            disconnect(self.client, self.cluster)
            self.remote = self.client = self.cluster = None
            self.solve_parts = client_parts(self.backend, self.chunks)   # the same numbers

    def _attach_clamped(self, chunks, isolate) -> None:
        """Coupled Learning: a second backend of the clamped circuit, same values."""
        from eqprop_hw.learning.coupled import clamped_circuit
        settings = self.settings
        refused = {"a loss other than squared": settings.loss != "squared",
                   "finite temperature": self.thermal is not None,
                   "workers or a scheduler": self.remote is not None,
                   "chunks": chunks is not None,
                   "a devices section": self.hardware is not None}
        for what, present in refused.items():
            if present:
                raise EqpropError(f"train: training.rule coupled (clamped outputs) does not "
                                  f"run with {what} yet; use training.rule ep")
        self.clamped = self._make_engine(clamped_circuit(self.circuit), isolate)
        self.clamped.set_trainable(self.values)

    def begin_epoch(self, epoch: int, position: int) -> None:
        settings = self.settings
        self.order = np.random.default_rng([settings.seed, epoch]).permutation(self.samples)
        self.epoch_rates = self.rates * settings.lr_decay ** epoch

    def step(self, epoch: int, first: int) -> int:
        settings, dataset = self.settings, self.dataset
        batch = self.order[first:first + settings.batch_size]
        x, targets = dataset.x_train[batch], dataset.loss_targets(dataset.y_train[batch],
                                                                  settings.loss)
        gradient, device_rng = self._gradient(epoch, first, x, targets)
        if self.hardware is None:
            self.values = np.clip(self.values - self.epoch_rates * gradient, self.g_min,
                                  self.g_max)
        else:   # the devices turn the requested change into pulses
            self.values = self.hardware.update(self.values, -self.epoch_rates * gradient,
                                               device_rng)
        if self.remote is None:
            self.engine.set_trainable(self.deployed())
        if self.clamped is not None:
            self.clamped.set_trainable(self.values)
        return len(batch)

    def deployed(self) -> np.ndarray:
        """The conductances (S) the circuit has: the trained values, or with devices what the
        update scheme makes of them (:meth:`Hardware.effective`)."""
        return self.values if self.hardware is None else self.hardware.effective(self.values)

    def _gradient(self, epoch: int, first: int, x, targets):
        """``(gradient, device rng or None)`` of one minibatch by the run's estimator."""
        settings, beta, nudge = self.settings, self.settings.beta, self.settings.nudge
        if self.clamped is not None:     # Coupled Learning (eqprop_hw.learning.coupled)
            from eqprop_hw.learning.coupled import coupled_gradient
            return coupled_gradient(self.engine, self.clamped, x, targets, settings.eta)[0], None
        if settings.layer_beta:
            return self._layer_gradient(epoch, first, x, targets)
        if self.thermal is not None:     # finite temperature (eqprop_hw.thermal.train)
            return self.thermal(self.values, x, targets, beta,
                                (settings.seed, epoch, first)), None
        if self.remote is not None:
            return self.remote(self.values, x, targets, beta, nudge), None
        if self.chunks is not None:
            return chunked_gradient(self.engine, x, targets, beta, nudge, self.probe,
                                    self.solve_parts), None
        if self.hardware is not None:
            # Device randomness depends only on (seed, epoch, position): resumable.
            device_rng = np.random.default_rng([settings.seed, epoch, first, 0xDE71CE])
            return measured_gradient(self.engine, self.hardware, x, targets, beta, nudge,
                                     self.probe, device_rng), device_rng
        return ep_gradient(self.engine, x, targets, beta, nudge, self.probe)[0], None

    def _layer_gradient(self, epoch: int, first: int, x, targets):
        """:meth:`_gradient` with one beta per crossbar (:func:`layer_gradient`)."""
        settings, nudge = self.settings, self.settings.nudge
        if self.thermal is not None or self.remote is not None or self.chunks is not None:
            raise EqpropError("train: training.layer_beta trains in one process at T = 0 "
                              "(no temperature, workers, scheduler or chunks)")
        if self.hardware is None:
            return layer_gradient(lambda beta: ep_gradient(self.engine, x, targets, beta, nudge,
                                                           self.probe)[0],
                                  self.layers, settings.layer_beta), None
        device_rng = np.random.default_rng([settings.seed, epoch, first, 0xDE71CE])
        return layer_gradient(lambda beta: measured_gradient(
            self.engine, self.hardware, x, targets, beta, nudge, self.probe, device_rng),
            self.layers, settings.layer_beta), device_rng

    def mark(self):
        if self.hardware is None:
            return self.values.copy()
        return self.values.copy(), self.hardware.scheme_state()

    def end_epoch(self, epoch: int, seconds: float) -> str:
        if self.remote is not None:
            self.engine.set_trainable(self.values)    # the local backend only evaluates
        dataset, metrics = self.dataset, self.metrics
        from eqprop_hw.learning.loop import progress_bar
        same = dataset.test_is_train        # xor: the test set is the training set
        bar = progress_bar(len(dataset.x_train) + (0 if same else len(dataset.x_test)),
                           f"evaluate epoch {epoch + 1}", self.progress, delay=2.0)
        # a backend solving row by row (ngspice in this process) reports every row, else the
        # bar moves by batches
        rows = bar is not None and getattr(self.engine, "on_row", False) is not False
        previous = getattr(self.engine, "on_row", None)
        if rows:
            self.engine.on_row = lambda row: bar.update(1)
        try:
            by_batch = None if rows else bar
            on_train = evaluate(self.engine, dataset, dataset.x_train, dataset.y_train,
                                bar=by_batch)
            on_test = on_train if same else evaluate(self.engine, dataset, dataset.x_test,
                                                     dataset.y_test, bar=by_batch)
        finally:
            if rows:
                self.engine.on_row = previous
            if bar is not None:
                bar.close()
        metrics["epochs"].append(epoch + 1)
        metrics["train_loss"].append(on_train["loss"])
        metrics["test_loss"].append(on_test["loss"])
        metrics["train_accuracy"].append(on_train["accuracy"])
        metrics["test_accuracy"].append(on_test["accuracy"])
        metrics["seconds"].append(seconds)
        metrics["samples_per_second"].append(self.samples / seconds)
        if self.hardware is not None:    # pulses per device so far (energy and wear)
            done = metrics.setdefault("pulses_per_cell", [None] * epoch)
            done.append(float(self.hardware.pulses.mean()) if self.hardware.pulses.size
                        else 0.0)
        return _epoch_line(metrics)

    def record(self, epoch: int, seconds: float) -> None:
        self.metrics[EPOCH_TOTALS].append(seconds)

    def outputs(self) -> None:
        _write_outputs(self.out_dir, self.circuit, self.deployed(), self.metrics, False,
                       self.spec)

    def draw(self, mark=None) -> None:
        if self.plots and self.metrics["epochs"]:
            from eqprop_hw.io.plots import plot_training
            if isinstance(mark, tuple):          # devices: (values, scheme state)
                mark = mark[0] if self.hardware is None else self.hardware.effective(mark[0])
            plot_training(self.out_dir, self.circuit, self.deployed() if mark is None else mark,
                          self.metrics, self.spec, self.figure_helper)

    def save(self, epoch: int, position: int, seconds: float, mark=None) -> None:
        values, devices = self.values, None
        if self.hardware is not None:
            values, devices = mark if mark is not None else (values,
                                                             self.hardware.scheme_state())
        elif mark is not None:
            values = mark
        _write_checkpoint(self.checkpoint, epoch, values, self.metrics, position, seconds,
                          devices, section_field(self.device_section))

    def crashed(self, crash: SimulatorCrash, epoch: int, first: int):
        """ngspice died twice on one sample: name it in the data set."""
        if crash.row is None or self.remote is not None or (self.solve_parts or 1) > 1:
            return None
        sample = int(self.order[first:first + self.batch_size][crash.row])
        return type(crash)(f"training sample {sample} (data set row "
                           f"{int(self.dataset.index_train[sample])}) in epoch {epoch + 1}: "
                           f"{crash}", crash.row, crash.reason)

    def finish(self, start: Start) -> dict:
        """The figures (once), then params and metrics with the run's wall time."""
        self.draw()
        self.metrics["wall_seconds"] = time.perf_counter() - self.began
        _write_outputs(self.out_dir, self.circuit, self.deployed(), self.metrics, False,
                       self.spec)
        return self.metrics

    def close(self) -> None:
        try:
            if self.remote is not None:
                self.remote.close()
            if self.thermal is not None:
                self.thermal.close()
            if self.client is not None:
                from eqprop_hw.learning.distributed import disconnect
                disconnect(self.client, self.cluster)
        finally:
            self.remote = self.thermal = self.client = None
            for engine in (self.engine, self.clamped):
                if engine is not None:
                    engine.close()
            self.engine = self.clamped = None


def _epoch_line(metrics: dict) -> str:
    def pct(value):
        return "n/a" if value is None else f"{100 * value:.2f}%"
    return (f"epoch {metrics['epochs'][-1]}: train loss {metrics['train_loss'][-1]:.5f} "
            f"acc {pct(metrics['train_accuracy'][-1])}, test loss "
            f"{metrics['test_loss'][-1]:.5f} acc {pct(metrics['test_accuracy'][-1])}")


def _write_outputs(out_dir: Path, circuit: Circuit, values: np.ndarray, metrics: dict,
                   plots: bool, spec: Spec) -> None:
    save_params(out_dir / "params.npz", dict(zip(circuit.trainable, values.tolist())))
    summary = dict(metrics)
    for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss"):
        summary[f"final_{key}"] = metrics[key][-1] if metrics[key] else None
    atomic_write_text(out_dir / "metrics.json", json.dumps(summary, indent=1) + "\n")
    if plots:
        from eqprop_hw.io.plots import plot_training
        plot_training(out_dir, circuit, values, metrics, spec)
