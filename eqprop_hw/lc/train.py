"""Training LC networks with the echo rule (Hamiltonian Echo Learning), in ngspice or native.

Every update comes from echo measurements only: per sequence, one forward run and two echo runs
(centered) or one (one-sided, plus the un-nudged echo); each trainable element's integrated
local quantity gives its gradient estimate. Parameters move by Adam on log-values (the
estimates are multiplied by the values: a relative, unit-free step), clipped to
``[min_fraction, max_fraction]`` times their initial values.

Data sets (``dataset.name``):

- ``teacher``: a teacher network of the same topology whose trainable values are the
  student's times ``exp(perturbation * N(0, 1))``; ``samples`` input sequences (sines of random
  frequency 2-6 MHz and phase, amplitude of the spec's first input); the targets are the
  teacher's outputs sampled every 10 grid steps (a PWL waveform, exactly what ngspice plays).
- ``sequence``: a small real-data sequence task: rows of scikit-learn's 8x8 digits (pen
  intensities, 64 samples per image) played as an input current; the target is the same
  sequence delayed by ``delay_fraction`` of the window (default 1/4), as a flux (a delay-line
  memory task).
- ``duffing``: nonlinear system identification. The input is a multi-sine (three sines of
  random frequency 1-6 MHz and phase, total amplitude ``amplitude``, played as a PWL of
  ``TARGET_STRIDE`` grid steps); the target is the flux of a fixed lossless Duffing filter
  ``x'' = w0^2 (inductance * u - x - x^3 / phi_nl^2)``, ``w0 = 2 pi frequency``, integrated
  with classical RK4 on a 20x finer grid (independent of the network's leapfrog integrator).
  ``test_samples`` held-out sequences use seed ``seed + 1000``. ``damping`` (1/Q, default 0)
  makes the filter lossy: ``x'' = w0^2 (...) - damping w0 x'``.
- ``series``: a nonlinear filter on a real recorded time series shipped inside an installed
  package (``source``: ``eeg``, matplotlib's 4-channel EEG sample recording, or ``membrane``;
  :data:`RECORDINGS`). Every channel is cut into non-overlapping windows of ``segment`` samples,
  shuffled with ``seed``: the first ``samples`` train, the next ``test_samples`` are held out.
  Each window is played as a PWL input current over the time window (``amplitude`` A for 3
  standard deviations of the recording); the target is the ``duffing`` filter's flux
  (``frequency``, ``inductance``, ``phi_nl``, ``damping``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from eqprop_hw.errors import SpecError
from eqprop_hw.io.fileio import atomic_write_text
from eqprop_hw.lc.bptt import agreement, bptt_gradient
from eqprop_hw.lc.echo import hel_gradient
from eqprop_hw.lc.integrate import integrate
from eqprop_hw.lc.model import LCModel, build_model, waveform_values
from eqprop_hw.learning.loop import Start, Trainer, log_resumed, read_start, run

TARGET_STRIDE = 10
#: Datasets with held-out sequences (``test_samples``).
TEST_SPLIT_DATASETS = ("duffing", "series")
#: Real recorded time series shipped inside installed packages (no download): name ->
#: (package, file in its data folder, dtype, channels, samples per second, what it is).
RECORDINGS = {
    "eeg": ("matplotlib", "mpl-data/sample_data/eeg.dat", "<f8", 4, 80.0,
            "4-channel EEG, 800 samples per channel over 10 s (matplotlib's sample data)"),
    "membrane": ("matplotlib", "mpl-data/sample_data/membrane.dat", "<f4", 1, None,
                 "intracellular membrane-potential recording, 12000 samples (V; matplotlib's "
                 "sample data)"),
}


def load_recording(source: str) -> np.ndarray:
    """A real recorded time series shipped inside an installed package, (channels, samples).

    ``eeg``: matplotlib's ``eeg.dat`` (4 EEG channels of 800 samples, 80 samples/s, stored
    sample-major); ``membrane``: matplotlib's ``membrane.dat`` (one channel). matplotlib is in
    the ``plot`` extra; nothing is downloaded.
    """
    import importlib.util
    if source not in RECORDINGS:
        raise ValueError(f"unknown recording {source!r} (choose from {', '.join(RECORDINGS)})")
    package, relative, dtype, channels, _, _ = RECORDINGS[source]
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        from eqprop_hw.errors import EqpropError
        raise EqpropError(f"dataset series/{source}: needs the {package} package (pip install "
                          f"'eqprop-hw[plot]'), whose {relative} is the recording")
    from eqprop_hw.errors import InputDataError
    from eqprop_hw.io.fileio import MAX_BINARY_BYTES, read_bounded
    path = Path(list(found.submodule_search_locations)[0]) / relative
    raw = read_bounded(path, MAX_BINARY_BYTES, InputDataError, "recording")
    frame = np.dtype(dtype).itemsize * channels
    if not raw or len(raw) % frame:
        raise InputDataError(f"dataset series/{source}: {len(raw)} bytes is not a whole number "
                             f"of {channels}-channel {dtype} samples ({frame} bytes each)",
                             str(path))
    values = np.frombuffer(raw, dtype=np.dtype(dtype)).astype(float)
    return values.reshape(-1, channels).T


def series_windows(source: str, segment: int, seed: int, train: int, test: int):
    """Disjoint windows of a recording: ``(train windows (train, segment), test windows (test,
    segment))``; every channel is cut into non-overlapping windows of ``segment`` samples, the
    windows are shuffled with ``seed`` and the first ``train`` train, the next ``test`` test.
    Each window has its own mean removed and is divided by 3 standard deviations of the whole
    recording (so that typical peaks are about 1 and quiet windows stay quiet)."""
    record = load_recording(source)
    windows = np.concatenate([channel[:(channel.size // segment) * segment]
                              .reshape(-1, segment) for channel in record])
    if train + test > len(windows):
        raise ValueError(f"dataset series/{source}: {train} + {test} windows of {segment} "
                         f"samples asked, the recording has {len(windows)}")
    order = np.random.default_rng(seed).permutation(len(windows))
    scale = 3.0 * float(np.std(record))
    windows = (windows - windows.mean(axis=1, keepdims=True)) / scale
    return windows[order[:train]], windows[order[train:train + test]]


def duffing_response(u, dt: float, frequency: float, inductance: float, phi_nl: float,
                     substeps: int = 20, damping: float = 0.0) -> np.ndarray:
    """Flux of the Duffing filter ``x'' = w0^2 (inductance u - x - x^3/phi_nl^2) - damping w0 x'``
    from rest (``damping`` = 1/Q; 0: lossless).

    ``u`` (A) is sampled every ``dt`` and interpolated linearly; classical RK4 with
    ``substeps`` steps per sample.
    """
    w0sq = (2 * math.pi * frequency) ** 2
    h = dt / substeps
    x = v = 0.0
    y = np.zeros(len(u))

    friction = damping * math.sqrt(w0sq)

    def accel(x, v, current):
        return w0sq * (inductance * current - x - x ** 3 / phi_nl ** 2) - friction * v

    for i in range(len(u) - 1):
        du = (u[i + 1] - u[i]) / substeps
        for k in range(substeps):
            c0 = u[i] + k * du
            c1 = c0 + 0.5 * du
            c2 = c0 + du
            a1 = accel(x, v, c0)
            x2, v2 = x + 0.5 * h * v, v + 0.5 * h * a1
            a2 = accel(x2, v2, c1)
            x3, v3 = x + 0.5 * h * v2, v + 0.5 * h * a2
            a3 = accel(x3, v3, c1)
            x4, v4 = x + h * v3, v + h * a3
            a4 = accel(x4, v4, c2)
            x, v = (x + h / 6 * (v + 2 * v2 + 2 * v3 + v4),
                    v + h / 6 * (a1 + 2 * a2 + 2 * a3 + a4))
        y[i + 1] = x
    return y


def _target_knots(model) -> list:
    """Grid indices of the PWL target knots: every ``TARGET_STRIDE``-th step and the last."""
    coarse = list(range(0, model.steps + 1, TARGET_STRIDE))
    if coarse[-1] != model.steps:
        coarse.append(model.steps)
    return coarse


def _filtered(model, data, input_waves, times, coarse):
    """``(u, target_waves, y)``: the input currents of ``input_waves`` on the grid ``times``,
    and the dataset's Duffing filter response to them as PWL target waveforms (knots at the grid
    indices ``coarse``) and on the grid."""
    u = np.stack([waveform_values(w, times) for w in input_waves], axis=1)
    flux = duffing_response(u[:, 0], float(times[1] - times[0]), data["frequency"] or 4e6,
                            data["inductance"], data["phi_nl"], damping=data["damping"])
    target_waves = [{"type": "pwl",
                     "points": [[float(times[i]), float(flux[i])] for i in coarse]}
                    for _ in model.outputs]
    y = np.stack([waveform_values(w, times) for w in target_waves], axis=1)
    return u, target_waves, y


def _filtered_all(model, data, input_waves, times, coarse):
    """:func:`_filtered` of every sequence: (inputs, target_waves, targets) as lists."""
    inputs, target_waves, targets = [], [], []
    for waves in input_waves:
        u, tw, y = _filtered(model, data, waves, times, coarse)
        inputs.append(u)
        target_waves.append(tw)
        targets.append(y)
    return inputs, target_waves, targets


def _teacher_sequences(model, data: dict, rng, times, test: bool) -> tuple:
    """``(input_waves, target_waves, inputs, targets)`` of the ``teacher`` data set. Sine inputs of
    random frequency and phase; targets: a perturbed copy of the model (the teacher) driven by
    them, as PWL knots."""
    theta0 = model.theta0()
    teacher = model.with_theta(theta0 * np.exp(data["perturbation"]
                                               * rng.standard_normal(theta0.size)))
    amplitude = data["amplitude"] or (model.src_waveforms[0].get("amplitude", 5e-3)
                                      if model.src_waveforms else 5e-3)
    input_waves, target_waves, inputs, targets = [], [], [], []
    coarse = _target_knots(model)
    for _ in range(data["samples"]):
        waves = [{"type": "sine", "amplitude": amplitude,
                  "frequency": data["frequency"] or float(rng.uniform(2e6, 6e6)),
                  "phase": float(rng.uniform(0, 2 * math.pi)), "offset": 0.0,
                  "delay": 0.0} for _ in model.src_names]
        u = np.stack([waveform_values(w, times) for w in waves], axis=1)
        out = integrate(teacher, inputs=u, store=False).outputs[:, 0]
        tw = [{"type": "pwl", "points": [[float(times[i]), float(out[i, k])] for i in coarse]}
              for k in range(len(model.outputs))]
        input_waves.append(waves)
        target_waves.append(tw)
        inputs.append(u)
        targets.append(np.stack([waveform_values(w, times) for w in tw], axis=1))
    return input_waves, target_waves, inputs, targets


def _sequence_sequences(model, data: dict, rng, times, test: bool) -> tuple:
    """``(input_waves, target_waves, inputs, targets)`` of the ``sequence`` data set. Scikit-learn
    digits as input sequences; targets: the input delayed by a quarter of the run, scaled."""
    from eqprop_hw.extras import require
    images = require("sklearn.datasets", "the lc sequence data set").load_digits().data / 16.0
    order = rng.permutation(len(images))[:data["samples"]]
    amplitude = data["amplitude"] or 5e-3
    delay = int(round(data.get("delay_fraction", 0.25) * model.steps))
    input_waves, target_waves, inputs, targets = [], [], [], []
    for index in order:
        seq = images[index]
        knots = np.linspace(0, model.tstop, seq.size)
        u = np.interp(times, knots, amplitude * (seq - seq.mean()))
        u_cols = np.stack([u] * len(model.src_names), axis=1)
        y = np.zeros((model.steps + 1, len(model.outputs)))
        scale = 1e-8 / amplitude
        y[delay:] = scale * u[:model.steps + 1 - delay, None]
        points = [[float(t), float(v)] for t, v in zip(knots, amplitude * (seq - seq.mean()))]
        input_waves.append([{"type": "pwl", "points": points} for _ in model.src_names])
        target_waves.append(y)
        inputs.append(u_cols)
        targets.append(y)
    return input_waves, target_waves, inputs, targets


def _duffing_sequences(model, data: dict, rng, times, test: bool) -> tuple:
    """``(input_waves, target_waves, inputs, targets)`` of the ``duffing`` data set. Sums of three
    random sines as PWL inputs; targets: the filtered response (``_filtered_all``)."""
    amplitude, coarse = data["amplitude"] or 5e-3, _target_knots(model)
    knots = times[coarse]
    input_waves = []
    for _ in range(data["test_samples"] if test else data["samples"]):
        freqs = rng.uniform(1e6, 6e6, 3)
        phases = rng.uniform(0, 2 * math.pi, 3)
        values = amplitude / 3 * np.sin(2 * math.pi * freqs[:, None] * knots[None, :]
                                        + phases[:, None]).sum(axis=0)
        input_waves.append([{"type": "pwl", "points": [[float(t), float(v)]
                                                        for t, v in zip(knots, values)]}
                            for _ in model.src_names])
    inputs, target_waves, targets = _filtered_all(model, data, input_waves, times, coarse)
    return input_waves, target_waves, inputs, targets


def _series_sequences(model, data: dict, rng, times, test: bool) -> tuple:
    """``(input_waves, target_waves, inputs, targets)`` of the ``series`` data set. Windows of a
    series file as PWL inputs; targets: the filtered response (``_filtered_all``)."""
    amplitude, coarse = data["amplitude"] or 5e-3, _target_knots(model)
    train_windows, test_windows = series_windows(
        data["source"], data["segment"], data["seed"], data["samples"],
        data["test_samples"])
    input_waves = []
    for window in (test_windows if test else train_windows):
        knots = np.linspace(0.0, model.tstop, window.size)
        input_waves.append([{"type": "pwl", "points": [[float(t), float(v)] for t, v in
                                                        zip(knots, amplitude * window)]}
                            for _ in model.src_names])
    inputs, target_waves, targets = _filtered_all(model, data, input_waves, times, coarse)
    return input_waves, target_waves, inputs, targets


def lc_dataset(spec, model: LCModel | None = None, waveforms: bool = False,
               split: str = "train"):
    """Input and target sequences of an lc spec's dataset.

    Returns
    -------
    inputs : ndarray (S, steps+1, n_in)
        Input currents (A) on the grid.
    targets : ndarray (S, steps+1, n_out)
        Targets (Wb or A) on the grid.
    split : {"train", "test"}
        ``test``: the ``test_samples`` held-out sequences (``duffing`` only).
    (input_waves, target_waves) : S lists of waveform dicts, when ``waveforms``
    """
    model = model or build_model(spec)
    data = spec.data["dataset"]
    if data is None:
        raise SpecError(f"spec {spec.name!r} has no dataset section: training and predictions "
                        "need one (teacher, sequence, duffing or series; docs/specs.md)",
                        spec.source)
    if split == "test" and not has_test_split(spec):
        raise SpecError(f"spec {spec.name!r} has no test split (its dataset has no "
                        "test_samples)", spec.source)
    test = split == "test"
    rng = np.random.default_rng(data["seed"] + (1000 if test else 0))
    times = model.times
    make = {"teacher": _teacher_sequences, "sequence": _sequence_sequences,
            "duffing": _duffing_sequences, "series": _series_sequences}.get(data["name"])
    if make is None:
        raise ValueError(f"unknown lc dataset {data['name']!r}")
    input_waves, target_waves, inputs, targets = make(model, data, rng, times, test)
    inputs, targets = np.stack(inputs), np.stack(targets)
    if waveforms:
        return inputs, targets, (input_waves, target_waves)
    return inputs, targets


class _Adam:
    def __init__(self, size, rate, beta1=0.9, beta2=0.999, eps=1e-12):
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0
        self.rate, self.beta1, self.beta2, self.eps = rate, beta1, beta2, eps

    def step(self, grad):
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        m = self.m / (1 - self.beta1 ** self.t)
        v = self.v / (1 - self.beta2 ** self.t)
        return -self.rate * m / (np.sqrt(v) + self.eps * np.sqrt(np.max(v) + 1e-300))


#: The lc checkpoint written (format 2: also mid-epoch, with the epoch's partial sums).
CHECKPOINT_FORMAT = "eqprop-hw lc checkpoint 2"
#: The lc checkpoint formats read (format 1: epoch boundaries only, cumulative seconds).
CHECKPOINT_FORMATS = ("eqprop-hw lc checkpoint 1", CHECKPOINT_FORMAT)
_CHECKPOINT_KEYS = ("format", "epoch", "theta", "adam_m", "adam_v", "adam_t", "metrics",
                    "trainable", "seconds", "position", "epoch_loss", "epoch_gradient")


def _read_checkpoint(path: Path, trainable: list, epochs: int | None = None,
                     samples: int | None = None) -> tuple:
    """``(epoch, theta, (m, v, t), metrics, (position, seconds, partial))`` of an lc checkpoint.

    Every field is checked (:class:`eqprop_hw.io.statefile.CheckpointReader`): the format, the
    trainable element names (the spec's), an epoch in [0, ``epochs``], finite positive values
    ``theta``, finite Adam moments (``v >= 0``) with step count ``t == epoch``, metrics with one
    loss per done epoch, finite seconds >= 0; format 2 also a position in [0, ``samples``]
    sequences of epoch ``epoch`` and, when it is > 0, their summed loss (>= 0) and gradient
    estimate (``partial``: ``(loss, gradient)``, else None). Format 1 holds the run's total
    seconds: they become ``metrics["seconds"]``.

    Raises
    ------
    ParamsError
        ``"<path>: cannot resume from this checkpoint: <reason>"``.
    """
    from eqprop_hw.io.fileio import quote
    from eqprop_hw.io.statefile import CheckpointReader
    state = CheckpointReader(path, _CHECKPOINT_KEYS)
    found = state.check_format(CHECKPOINT_FORMATS)
    names = state.json("trainable", list)
    if names != list(trainable):
        shown = ", ".join(quote(name, 20) for name in names[:4]) + (", ..." if len(names) > 4
                                                                   else "")
        raise state.error(f"checkpoint of trainable elements [{shown}] but the spec trains "
                          f"{list(trainable)[:4]}{'...' if len(trainable) > 4 else ''} (a "
                          "different spec?)")
    epoch = state.integer("epoch", 0)
    if epochs is not None and epoch > epochs:
        raise state.error(f"it is after epoch {epoch}, beyond the {epochs} epoch(s) asked for")
    size = len(trainable)
    theta = state.vector("theta", size, "trainable elements", positive=True)
    moments = state.vector("adam_m", size, "trainable elements")
    second = state.vector("adam_v", size, "trainable elements")
    if np.any(second < 0):
        raise state.error(f"'adam_v'[{int(np.argmin(second))}] is negative (a second moment)")
    steps = state.integer("adam_t", epoch, epoch)
    metrics = state.json("metrics")
    state.curves(metrics, ("epochs", "train_loss", "cosine"), epoch, first=0)
    from eqprop_hw.io.statefile import check_epoch_times
    check_epoch_times(state, metrics, EPOCH_TOTALS, epoch, first=0)
    if found == CHECKPOINT_FORMATS[0]:
        metrics["seconds"] = state.number("seconds")
        return epoch, theta, (moments, second, steps), metrics, (0, 0.0, None)
    position, seconds = state.place(samples)
    partial = None
    if position:
        partial = (state.number("epoch_loss"),
                   state.vector("epoch_gradient", size, "trainable elements"))
    return epoch, theta, (moments, second, steps), metrics, (position, seconds, partial)


#: Each epoch's whole time (s): a per-epoch list of the metrics (``None`` for the epochs of a
#: checkpoint written before it existed).
EPOCH_TOTALS = "epoch_seconds_total"


def train_lc(spec, out_dir, backend: str = "native", epochs: int | None = None,
             seed: int | None = None, params: dict | None = None, plots: bool = True,
             log=None, check_every: int = 0, resume: bool = False,
             progress: bool = False, keep_checkpoint: bool = False) -> dict:
    """Train an lc spec on its dataset with the echo rule.

    Parameters
    ----------
    spec : Spec
        With ``dataset`` (teacher, sequence, duffing or series); ``training`` optional. A
        dataset with ``test_samples`` also reports ``test_loss_initial``, ``test_loss`` and
        ``test_loss_ratio`` (held-out sequences, native forward runs).
    out_dir : str or Path
        Receives ``params.json``, ``metrics.json``, ``checkpoint.npz`` (removed when the run
        has finished, unless ``keep_checkpoint``) and the plots (drawn once, at the end or
        when a signal stops the run).
    backend : {"native", "ngspice"}
        Where the forward and echo runs happen (ngspice: the shared library, one circuit
        loaded once with all sequences as a bank; only ``alter`` + ``tran`` per run).
    epochs, seed : int, optional
        Override the spec's ``training`` values (the data set's own seed is its ``seed``).
    check_every : int
        Every this many epochs also record the cosine of the echo estimate with BPTT.
    resume : bool
        Continue from ``out_dir/checkpoint.npz`` (written atomically after every update): the
        result is bitwise the same as an uninterrupted run (the times aside). No checkpoint
        yet: start from the beginning, saying so through ``log``.
    progress : bool
        A tqdm bar per epoch on stderr.
    keep_checkpoint : bool
        Keep ``checkpoint.npz`` after the run has finished (to continue it with more epochs).

    Returns
    -------
    dict
        The metrics (also written to ``metrics.json``), with ``epoch_seconds_total`` (each
        epoch's whole time, s), ``wall_seconds`` (this call's wall time, s) and ``overrides``
        (the spec settings given with ``--set``).

    The epochs, checkpoints, stops and resumes are those of the one training loop
    (:mod:`eqprop_hw.learning.loop`), one step per sequence: SIGINT/SIGTERM (main thread)
    checkpoint after the current sequence (with the epoch's partial sums) and raise
    :class:`~eqprop_hw.errors.TrainingInterrupted`; ``resume=True`` continues from there.
    """
    from eqprop_hw.learning.limits import check_run_counts
    began = time.perf_counter()
    check_run_counts(epochs, seed)
    from eqprop_hw.io.plots import plots_possible
    plots = plots_possible(plots, log)
    log = log or (lambda message: None)
    trainer = LCTrainer(spec, out_dir, backend, epochs, params, plots, check_every)
    trainer.began = began
    start = read_start(trainer, resume, log)
    trainer.connect(start.resumed)
    log_resumed(trainer, start, log)
    return run(trainer, start, progress, log, keep_checkpoint)


class LCTrainer(Trainer):
    """The lc kind for :func:`eqprop_hw.learning.loop.run`: one step is the echo estimate of
    one sequence, summed over the epoch; the end of an epoch takes one Adam step on
    log-values (the loss of epoch e is measured before update e; epochs 0 .. ``epochs``, the
    last one without an update)."""

    unit = "sequence"
    first_label = 0
    checkpoint_last = False
    batch_size = 1

    def __init__(self, spec, out_dir, backend: str, epochs, params, plots: bool,
                 check_every: int):
        from eqprop_hw.lc.echo import default_beta
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.checkpoint = self.out / "checkpoint.npz"
        model = build_model(spec)
        if params:
            model = model.with_values(params)
        self.model, self.backend, self.plots, self.check_every = model, backend, plots, \
            check_every
        training = dict(spec.data.get("training") or {})
        self.epochs = training.get("epochs", 50) if epochs is None else epochs
        self.passes = self.epochs + 1
        self.rate = training.get("learning_rate", 0.05)
        self.nudge = training.get("nudge", "centered")
        self.decay = training.get("lr_decay", 1.0)
        beta = training.get("beta") or default_beta(model)
        self.beta = beta
        self.inputs, self.targets, self.waves = lc_dataset(spec, model, waveforms=True)
        self.held_out = lc_dataset(spec, model, split="test") if has_test_split(spec) else None
        self.samples = int(self.inputs.shape[0])
        self.theta0 = model.theta0()
        self.low = self.theta0 * training.get("min_fraction", 0.1)
        self.high = self.theta0 * training.get("max_fraction", 10.0)
        self.theta = self.theta0.copy()
        self.adam = _Adam(self.theta.size, self.rate)
        self.overrides = dict(getattr(spec, "overrides", None) or {})
        self.metrics = {"epochs": [], "train_loss": [], "cosine": [], "backend": backend,
                        "beta": beta, "nudge": self.nudge, "samples": self.samples,
                        "seconds": 0.0, "train_accuracy": None, "test_accuracy": None,
                        "test_loss": None, "overrides": self.overrides, EPOCH_TOTALS: []}
        self.began = time.perf_counter()
        self.partial = None
        self.ng = None

    def test_loss(self, values) -> float:
        """Summed loss of the held-out sequences at values ``values`` (native forward runs)."""
        inputs, targets = self.held_out
        return float(sum(integrate(self.model.with_theta(values), inputs=inputs[s],
                                   loss_targets=targets[s], store=False).loss.sum()
                         for s in range(inputs.shape[0])))

    def load(self, path):
        epoch, self.theta, (self.adam.m, self.adam.v, self.adam.t), self.metrics, \
            (position, seconds, self.partial) = _read_checkpoint(
                path, self.model.trainable, self.epochs, self.samples)
        from eqprop_hw.io.statefile import check_resumed_bounds, check_resumed_settings
        check_resumed_bounds(path, self.theta, self.low, self.high, "theta", "its bounds")
        self.metrics.setdefault("overrides", {})      # a checkpoint from before --set
        check_resumed_settings(path, self.metrics, {"beta": self.beta, "nudge": self.nudge,
                                                    "overrides": self.overrides})
        self.metrics["backend"] = self.backend
        return Start(epoch, position, seconds)

    def connect(self, resume: bool) -> None:
        """The initial held-out loss (a fresh run) and the ngspice session (``ngspice``)."""
        if not resume and self.held_out is not None:
            self.metrics["test_loss_initial"] = self.test_loss(self.theta)
        if self.backend == "ngspice":
            from eqprop_hw.lc.ngspice import LCNgspice
            self.ng = LCNgspice(self.model)
            self.ng.load_bank(*self.waves)
            if resume:
                self.ng.set_theta(self.theta)

    def begin_epoch(self, epoch: int, position: int) -> None:
        self.started = time.perf_counter()
        if position and self.partial is not None:
            self.loss_sum, self.grad_sum = self.partial[0], self.partial[1].copy()
        else:
            self.loss_sum, self.grad_sum = 0.0, np.zeros(self.theta.size)
        self.partial = None

    def step(self, epoch: int, first: int) -> int:
        if self.ng is not None:
            loss, estimate = self.ng.hel_gradient(None, self.beta, self.nudge, sample=first,
                                                  floor=False)
        else:
            loss, estimate = hel_gradient(self.model.with_theta(self.theta),
                                          inputs=self.inputs[first], targets=self.targets[first],
                                          beta=self.beta, nudge=self.nudge)
        self.loss_sum += loss
        self.grad_sum += estimate
        return 1

    def mark(self):
        return self.loss_sum, self.grad_sum.copy()

    def end_epoch(self, epoch: int, seconds: float) -> str:
        cosine = None
        if self.check_every and epoch % self.check_every == 0:
            ref = sum(bptt_gradient(self.model.with_theta(self.theta), inputs=self.inputs[s],
                                    targets=self.targets[s])[1] for s in range(self.samples))
            cosine = agreement(self.grad_sum, ref)["cosine"]
        metrics = self.metrics
        metrics["epochs"].append(epoch)
        metrics["train_loss"].append(self.loss_sum)
        metrics["cosine"].append(cosine)
        line = (f"epoch {epoch}: loss {self.loss_sum:.4g}" +
                (f", cos(echo, BPTT) {cosine:.6f}" if cosine is not None else ""))
        if epoch < self.epochs:
            self.adam.rate = self.rate * self.decay ** epoch
            self.theta = np.clip(self.theta * np.exp(self.adam.step(self.theta * self.grad_sum)),
                                 self.low, self.high)
            if self.ng is not None:
                self.ng.set_theta(self.theta)
        metrics["seconds"] += time.perf_counter() - self.started
        return line

    def record(self, epoch: int, seconds: float) -> None:
        self.metrics[EPOCH_TOTALS].append(seconds)

    def draw(self, mark=None) -> None:
        """The figures of the values reached (after a stop: the last update's)."""
        if self.plots and self.metrics["epochs"]:
            from eqprop_hw.lc.plots import plot_lc_training
            plot_lc_training(self.out, self.model, self.theta0, self.theta, self.inputs,
                             self.targets, self.metrics)

    def save(self, epoch: int, position: int, seconds: float, mark=None) -> None:
        from eqprop_hw.io.statefile import write_checkpoint
        loss, gradient = self.mark() if mark is None else mark
        adam = self.adam
        write_checkpoint(self.checkpoint, {
            "format": np.array(CHECKPOINT_FORMAT), "epoch": np.array(int(epoch)),
            "theta": self.theta, "adam_m": adam.m, "adam_v": adam.v,
            "adam_t": np.array(int(adam.t)), "metrics": np.array(json.dumps(self.metrics)),
            "trainable": np.array(json.dumps(self.model.trainable)),
            "seconds": np.array(float(seconds)), "position": np.array(int(position)),
            "epoch_loss": np.array(float(loss)), "epoch_gradient": gradient})

    def finish(self, start) -> dict:
        from eqprop_hw.io.params import save_params
        metrics, theta = self.metrics, self.theta
        metrics["loss_ratio"] = metrics["train_loss"][0] / metrics["train_loss"][-1]
        if self.held_out is not None:
            metrics["test_loss"] = self.test_loss(theta)
            metrics["test_loss_ratio"] = metrics["test_loss_initial"] / metrics["test_loss"]
        save_params(self.out / "params.json", dict(zip(self.model.trainable, theta.tolist())))
        self.draw()
        metrics["wall_seconds"] = time.perf_counter() - self.began
        atomic_write_text(self.out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
        return metrics

    def close(self) -> None:
        if self.ng is not None:
            self.ng.close()
        self.ng = None


def has_test_split(spec) -> bool:
    """Whether the spec's dataset has held-out sequences (``test_samples`` > 0)."""
    data = spec.data.get("dataset") or {}
    return bool(data.get("test_samples")) and data.get("name") in TEST_SPLIT_DATASETS
