"""Training with the hardware-local EP rule, with either backend in the loop.

Each minibatch runs the free phase and the nudged phase(s) on the backend, measures the voltage
across every trainable conductance, and updates it with the local rule
(:func:`eqprop_hw.ep.local_rule`):

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
``checkpoint.npz``, ``loss.png``, ``accuracy.png``, ``conductances.png``,
``conductance_map.png`` (plots are redrawn every tenth of the run and at the end; params,
metrics and checkpoint every epoch).

SIGINT/SIGTERM write ``checkpoint.npz`` after the current minibatch (with the position within
the epoch) and stop with :class:`~eqprop_hw.errors.TrainingInterrupted`; ``resume=True``
continues from it to exactly the uninterrupted result.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.build import build_circuit
from eqprop_hw.devices import hardware_from_spec, measured_gradient, probe_for
from eqprop_hw.ep import chunked_gradient, ep_gradient, loss_values
from eqprop_hw.errors import EqpropError, SimulatorCrash, SpecError, TrainingInterrupted
from eqprop_hw.fileio import atomic_write_bytes, atomic_write_text, quote
from eqprop_hw.interrupt import Abandon, StopSignals
from eqprop_hw.graph import Circuit
from eqprop_hw.losses import backend_options
from eqprop_hw.params import save_params
from eqprop_hw.spec import Spec

DEFAULT_TRAINING = {"epochs": 10, "batch_size": 16, "learning_rate": 0.01, "lr_decay": 1.0,
                    "beta": 1e-6, "nudge": "centered", "loss": "squared", "temperature": 0.1,
                    "seed": 0}
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


def evaluate(backend, dataset, x: np.ndarray, y: np.ndarray, batch: int = 512,
             loss: str | None = None, temperature: float | None = None) -> dict:
    """Free-phase loss and accuracy of a split (outputs in V).

    ``loss`` (default: the backend's loss) is ``squared`` (V^2, against
    :meth:`Dataset.targets`) or ``cross_entropy`` (nats, against one-hot probabilities, with
    the softmax temperature ``temperature`` in V, default the backend's).
    """
    if loss is None:
        loss = getattr(backend, "loss", "squared")
        if temperature is None:
            temperature = getattr(backend, "temperature", None)
    outputs = []
    for start in range(0, len(x), batch):
        outputs.append(backend.solve(x[start:start + batch]).outputs)
    outputs = np.concatenate(outputs) if outputs else np.zeros((0, backend.n_outputs))
    value = float(loss_values(loss, outputs, dataset.loss_targets(y, loss),
                              temperature).mean()) if len(x) else math.nan
    accuracy = dataset.accuracy(outputs, y, loss) if len(x) else None
    return {"loss": value, "accuracy": accuracy, "outputs": outputs}


def progress_bar(total: int, description: str, enabled: bool, unit: str = "sample"):
    """A tqdm bar on stderr (None when not ``enabled``)."""
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=description, unit=unit, leave=False, dynamic_ncols=True)


def _write_checkpoint(path: Path, epoch: int, values: np.ndarray, metrics: dict,
                      position: int = 0, seconds: float = 0.0) -> None:
    """Write the training state atomically.

    ``epoch`` epochs are complete (their metrics are in ``metrics``) and ``position`` samples of
    the sample order of epoch ``epoch`` (0-based; it depends only on (seed, epoch)) are trained
    already, in ``seconds`` s; ``values`` are the trainable values after them. The learning rate
    of an epoch is a function of the epoch, so this is the whole state.
    """
    buffer = io.BytesIO()
    np.savez(buffer, format=np.array(CHECKPOINT_FORMAT), epoch=np.array(epoch),
             values=values, metrics=np.array(json.dumps(metrics)),
             position=np.array(int(position)), seconds=np.array(float(seconds)))
    atomic_write_bytes(path, buffer.getvalue())


#: Per-epoch lists of a checkpoint's metrics (one item per finished epoch).
CHECKPOINT_CURVES = ("epochs", "train_loss", "test_loss", "train_accuracy", "test_accuracy",
                     "seconds", "samples_per_second")


def _read_checkpoint(path: Path, n_values: int, spec_name: str | None = None,
                     epochs: int | None = None, samples: int | None = None
                     ) -> tuple[int, np.ndarray, dict, int, float]:
    """``(epoch, values, metrics, position, seconds)`` of a checkpoint (see _write_checkpoint).

    Every field is checked (:class:`eqprop_hw.statefile.CheckpointReader`): the format, an
    epoch in [0, ``epochs``], ``n_values`` finite positive values (S), metrics of spec
    ``spec_name`` with one item per finished epoch, a position in [0, ``samples``] and finite
    seconds >= 0.

    Raises
    ------
    ParamsError
        ``"<path>: cannot resume from this checkpoint: <reason>"``.
    """
    from eqprop_hw.statefile import CheckpointReader
    state = CheckpointReader(path, ("format", "epoch", "values", "metrics", "position",
                                    "seconds"))
    found = state.text("format")
    if found not in CHECKPOINT_FORMATS:
        raise state.error(f"format {quote(found)} is not one of {', '.join(CHECKPOINT_FORMATS)}")
    epoch = state.integer("epoch")
    if epochs is not None and epoch > epochs:
        raise state.error(f"it is after epoch {epoch}, beyond the {epochs} epoch(s) asked for")
    values = state.vector("values", n_values, "trainable elements", positive=True)
    metrics = state.json("metrics")
    if spec_name is not None and metrics.get("spec") != spec_name:
        raise state.error(f"it was written for spec {quote(metrics.get('spec'))}, not "
                          f"{quote(spec_name)}")
    state.curves(metrics, CHECKPOINT_CURVES, epoch, first=1)
    position = state.integer("position", 0, samples) if state.has("position") else 0
    seconds = state.number("seconds") if state.has("seconds") else 0.0
    return epoch, values, metrics, position, seconds


#: Settings a run records in its metrics; a resumed run must use the same ones.
RESUMED_SETTINGS = ("backend", "seed", "beta", "nudge", "loss", "temperature",
                    "learning_rate", "lr_decay", "batch_size")


def _check_resumed_settings(path: Path, metrics: dict, backend: str, settings) -> None:
    """Refuse to resume a checkpoint written with other training settings.

    The checkpoint's metrics record the run's backend, seed, beta (S), nudge, loss, softmax
    temperature (V), learning rate, decay and batch size; continuing with another one (e.g.
    ``--resume --seed 9`` after seed 0) would give neither run's result while metrics.json kept
    the old settings. Settings a checkpoint does not record are not compared.

    Raises
    ------
    ParamsError
        ``"<path>: cannot resume from this checkpoint: it was written with seed 0, not 9 ..."``.
    """
    from eqprop_hw.errors import ParamsError
    from eqprop_hw.statefile import PREFIX
    now = {"backend": backend, "seed": settings.seed, "beta": settings.beta,
           "nudge": settings.nudge, "loss": settings.loss,
           "temperature": settings.temperature if settings.loss == "cross_entropy" else None,
           "learning_rate": settings.learning_rate, "lr_decay": settings.lr_decay,
           "batch_size": settings.batch_size}
    for key in RESUMED_SETTINGS:
        if key in metrics and metrics[key] != now[key]:
            raise ParamsError(f"{PREFIX}: it was written with {key} {_shown(metrics[key])}, "
                              f"not {_shown(now[key])} (resume with the run's own settings, or "
                              "train into a new --out folder)", str(path))


def _shown(value) -> str:
    """A setting's value for a message: numbers and None as they are, anything else quoted."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return quote(value)


def _check_resumed_values(path: Path, values: np.ndarray, low, high) -> None:
    """Refuse checkpoint values (S) outside the trainable bounds ``[low, high]``.

    Training keeps every value inside its bounds, so a value outside them is a forged or
    corrupted checkpoint (a 1e6 S conductance would be trained on for a whole minibatch).

    Raises
    ------
    ParamsError
        ``"<path>: cannot resume from this checkpoint: 'values'[i] is X S, outside ..."``.
    """
    from eqprop_hw.errors import ParamsError
    from eqprop_hw.statefile import PREFIX
    low = np.broadcast_to(np.asarray(low, dtype=float), values.shape)
    high = np.broadcast_to(np.asarray(high, dtype=float), values.shape)
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        index = int(bad[0])
        raise ParamsError(f"{PREFIX}: 'values'[{index}] is {float(values[index])!r} S, outside "
                          f"the conductance bounds [{float(low[index])!r}, "
                          f"{float(high[index])!r}] S ({bad.size} value(s) outside)", str(path))


def _stop(stop: StopSignals, path: Path, epoch: int, position: int, values: np.ndarray,
          metrics: dict, seconds: float, epochs: int, samples: int, bar=None):
    """Checkpoint the state (epoch, position, values) and raise :class:`TrainingInterrupted`."""
    if bar is not None:
        bar.close()
    if position >= samples:      # a finished epoch whose metrics are not in yet: redo its end
        position = samples
    _write_checkpoint(path, epoch, values, metrics, position, seconds)
    where = (f"after epoch {epoch}" if position == 0 else
             f"in epoch {epoch + 1}/{epochs} after {position} of {samples} samples")
    raise TrainingInterrupted(f"{stop.name} received: training stopped {where}; checkpoint "
                              f"written to {path} (continue with --resume)", stop.signum,
                              str(path))


def train(spec: Spec, out_dir: str | Path, backend: str = "native", epochs: int | None = None,
          seed: int | None = None, resume: bool = False, params: dict | None = None,
          progress: bool = True, plots: bool = True, log=None, workers: int | None = None,
          scheduler: str | None = None, chunks: int | None = None,
          isolate: bool | None = None) -> dict:
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
        Continue from ``out_dir/checkpoint.npz``.
    params : dict, optional
        Start from these element values instead of the spec's initial conductances.
    progress : bool
        tqdm progress bars on stderr.
    plots : bool
        Write PNG plots each epoch.
    log : callable, optional
        Receives one line of text per epoch.
    workers : int, optional
        Data-parallel training on a new local Dask cluster of this many single-threaded
        worker processes (one backend each); see :mod:`eqprop_hw.distributed`.
    scheduler : str, optional
        Address of an existing Dask scheduler to train on instead (exclusive with ``workers``).
    chunks : int, optional
        Split every minibatch into this many contiguous parts, solved separately, and average
        the per-sample local-rule rows (:func:`eqprop_hw.ep.chunked_gradient`). Distributed runs
        use one task per part (default: the number of workers) and are bitwise identical to a
        single-process run with the same ``chunks``. Without ``chunks``, workers or scheduler
        the whole minibatch goes through :func:`eqprop_hw.ep.ep_gradient`.
    isolate : bool, optional
        Run ngspice in a child process that is restarted (and the request retried once) if
        it dies (:mod:`eqprop_hw.backends.isolated`). Default: on for ``backend="ngspice"``
        (measured cost: ``eqprop-hw bench isolation``); the native backend ignores it.

    SIGINT or SIGTERM during training (main thread) writes ``checkpoint.npz`` after the
    current minibatch (a second signal abandons the minibatch and checkpoints the state before
    it) and raises :class:`~eqprop_hw.errors.TrainingInterrupted`; ``resume=True`` then
    continues to exactly the uninterrupted result. The previous signal handlers are restored
    when ``train`` returns or raises.

    Returns
    -------
    dict
        The metrics (as written to ``metrics.json``).
    """
    from eqprop_hw.data import load_dataset

    settings = settings_from(spec, epochs=epochs, seed=seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    circuit = build_circuit(spec, params=params)
    dataset = load_dataset(spec, circuit)
    g_min, g_max = conductance_bounds(spec, circuit)
    rates = learning_rates(settings, circuit, spec.source) * g_max ** 2
    values = np.clip(np.array(circuit.trainable_values()), g_min, g_max)
    metrics = {"spec": spec.name, "backend": backend, "seed": settings.seed,
               "beta": settings.beta, "nudge": settings.nudge, "loss": settings.loss,
               "temperature": settings.temperature if settings.loss == "cross_entropy" else None,
               "learning_rate": settings.learning_rate, "lr_decay": settings.lr_decay,
               "batch_size": settings.batch_size,
               "epochs": [], "train_loss": [], "test_loss": [], "train_accuracy": [],
               "test_accuracy": [], "seconds": [], "samples_per_second": []}
    start_epoch = start_position = 0
    done_seconds = 0.0
    checkpoint = out_dir / "checkpoint.npz"
    if resume:
        if not checkpoint.exists():
            raise EqpropError(f"{checkpoint}: no checkpoint to resume from")
        start_epoch, values, metrics, start_position, done_seconds = _read_checkpoint(
            checkpoint, values.size, spec.name, settings.epochs, len(dataset.x_train))
        _check_resumed_settings(checkpoint, metrics, backend, settings)
    if settings.loss == "cross_entropy":
        dataset.probabilities(dataset.y_train[:1])   # one output per class, or a clear error
    if workers is not None and scheduler is not None:
        raise EqpropError("train: give either workers or scheduler, not both")
    if chunks is not None and int(chunks) < 1:
        raise EqpropError(f"train: chunks must be a positive number, got {chunks!r}")
    options = backend_options(settings.loss, settings.temperature)
    if backend == "ngspice" and (isolate is None or isolate):
        engine = make_backend(backend, circuit, isolated=True, **options)
    else:
        engine = make_backend(backend, circuit, compiled=True, **options)
    client = cluster = remote = thermal = None
    stop = StopSignals().install()   # SIGINT/SIGTERM: checkpoint at the next minibatch, exit
    try:
        if workers is not None or scheduler is not None:
            from eqprop_hw.distributed import DaskGradient, connect
            client, cluster = connect(workers=workers, scheduler=scheduler)
            remote = DaskGradient(client, spec, backend, options, params=params, chunks=chunks)
            chunks = remote.chunks
            metrics["workers"] = len(client.scheduler_info().get("workers", {}))
        metrics["chunks"] = chunks
        engine.set_trainable(values)
        hardware = hardware_from_spec(spec, circuit, engine.node_names, g_min, g_max)
        if resume:
            _check_resumed_values(checkpoint, values, *((hardware.g_min, hardware.g_max)
                                                        if hardware is not None else
                                                        (g_min, g_max)))
        probe = probe_for(hardware, circuit, engine.node_names)
        from eqprop_hw.thermal_train import thermal_trainer
        thermal = thermal_trainer(spec, circuit, backend)   # top-level temperature: T > 0
        if thermal is not None:
            metrics.update(gibbs_temperature=thermal.temperature, estimator=thermal.estimator,
                           thermal_samples=thermal.samples)
        if hardware is not None:
            if remote is not None or chunks is not None:
                raise EqpropError("train: a spec with a devices section trains in one process "
                                  "(no workers, scheduler or chunks yet)")
            if not resume:
                values = hardware.clip(values)      # every device within its own range
            engine.set_trainable(values)
        x_train, y_train = dataset.x_train, dataset.y_train
        for epoch in range(start_epoch, settings.epochs):
            skip = start_position if epoch == start_epoch else 0   # samples done before a stop
            started = time.perf_counter() - (done_seconds if skip else 0.0)
            order = np.random.default_rng([settings.seed, epoch]).permutation(len(x_train))
            epoch_rates = rates * settings.lr_decay ** epoch
            bar = progress_bar(len(order), f"epoch {epoch + 1}/{settings.epochs}", progress)
            if bar is not None and skip:
                bar.update(min(skip, len(order)))
            resume_point = (skip, values.copy())     # (position, values) a stop checkpoints
            stop.abandonable = True                  # a second signal abandons the minibatch
            for first in range(skip, len(order), settings.batch_size):
                batch = order[first:first + settings.batch_size]
                targets = dataset.loss_targets(y_train[batch], settings.loss)
                if thermal is not None:     # finite temperature (eqprop_hw.thermal_train)
                    gradient = thermal(values, x_train[batch], targets, settings.beta,
                                       (settings.seed, epoch, first))
                elif remote is not None:
                    gradient = remote(values, x_train[batch], targets, settings.beta,
                                      settings.nudge)
                elif chunks is not None:
                    gradient = chunked_gradient(engine, x_train[batch], targets, settings.beta,
                                                settings.nudge, probe, chunks)
                elif hardware is not None:
                    # Device randomness depends only on (seed, epoch, position): resumable.
                    device_rng = np.random.default_rng([settings.seed, epoch, first, 0xDE71CE])
                    gradient = measured_gradient(engine, hardware, x_train[batch], targets,
                                                 settings.beta, settings.nudge, probe,
                                                 device_rng)
                else:
                    gradient, _ = ep_gradient(engine, x_train[batch], targets, settings.beta,
                                              settings.nudge, probe)
                if hardware is None:
                    values = np.clip(values - epoch_rates * gradient, g_min, g_max)
                else:   # the devices turn the requested change into pulses
                    values = hardware.update(values, -epoch_rates * gradient, device_rng)
                if remote is None:
                    engine.set_trainable(values)
                if bar is not None:
                    bar.update(len(batch))
                resume_point = (first + len(batch), values.copy())
                if stop.signum is not None:
                    stop.abandonable = False
                    _stop(stop, checkpoint, epoch, first + len(batch), values, metrics,
                          time.perf_counter() - started, settings.epochs, len(order), bar)
            stop.abandonable = False
            if bar is not None:
                bar.close()
            train_seconds = time.perf_counter() - started
            if remote is not None:
                engine.set_trainable(values)    # the local backend only evaluates
            on_train = evaluate(engine, dataset, x_train, y_train)
            on_test = evaluate(engine, dataset, dataset.x_test, dataset.y_test)
            metrics["epochs"].append(epoch + 1)
            metrics["train_loss"].append(on_train["loss"])
            metrics["test_loss"].append(on_test["loss"])
            metrics["train_accuracy"].append(on_train["accuracy"])
            metrics["test_accuracy"].append(on_test["accuracy"])
            metrics["seconds"].append(train_seconds)
            metrics["samples_per_second"].append(len(order) / train_seconds)
            plot_now = plots and ((epoch + 1) % max(1, settings.epochs // 10) == 0
                                  or epoch + 1 == settings.epochs)
            _write_outputs(out_dir, circuit, values, metrics, plot_now, spec)
            _write_checkpoint(checkpoint, epoch + 1, values, metrics)
            if log is not None:
                log(_epoch_line(metrics))
            if stop.signum is not None:
                _stop(stop, checkpoint, epoch + 1, 0, values, metrics, 0.0, settings.epochs,
                      len(order))
    except Abandon:      # a repeated signal inside a minibatch: keep the state from before it
        position, kept = resume_point
        _stop(stop, checkpoint, epoch, position, kept, metrics, time.perf_counter() - started,
              settings.epochs, len(order), bar)
    except SimulatorCrash as crash:     # ngspice died twice on one sample: name it in the data
        if crash.row is None or not stop.abandonable or remote is not None or chunks is not None:
            raise
        sample = int(batch[crash.row])
        raise SimulatorCrash(f"training sample {sample} (data set row "
                             f"{int(dataset.index_train[sample])}) in epoch {epoch + 1}: {crash}",
                             crash.row, crash.reason) from None
    finally:
        try:
            if remote is not None:
                remote.close()
            if thermal is not None:
                thermal.close()
            if client is not None:
                from eqprop_hw.distributed import disconnect
                disconnect(client, cluster)
        finally:
            try:
                engine.close()
            finally:
                stop.restore()
    if start_epoch >= settings.epochs:
        _write_outputs(out_dir, circuit, values, metrics, plots, spec)
    return metrics


def _epoch_line(metrics: dict) -> str:
    def pct(value):
        return "n/a" if value is None else f"{100 * value:.2f}%"
    return (f"epoch {metrics['epochs'][-1]}: train loss {metrics['train_loss'][-1]:.5f} "
            f"acc {pct(metrics['train_accuracy'][-1])}, test loss "
            f"{metrics['test_loss'][-1]:.5f} acc {pct(metrics['test_accuracy'][-1])} "
            f"({metrics['seconds'][-1]:.1f} s)")


def _write_outputs(out_dir: Path, circuit: Circuit, values: np.ndarray, metrics: dict,
                   plots: bool, spec: Spec) -> None:
    save_params(out_dir / "params.npz", dict(zip(circuit.trainable, values.tolist())))
    summary = dict(metrics)
    for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss"):
        summary[f"final_{key}"] = metrics[key][-1] if metrics[key] else None
    atomic_write_text(out_dir / "metrics.json", json.dumps(summary, indent=1) + "\n")
    if plots:
        from eqprop_hw.plots import plot_training
        plot_training(out_dir, circuit, values, metrics, spec)
