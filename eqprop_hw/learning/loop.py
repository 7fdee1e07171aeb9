"""The one training loop of every network kind: epochs, steps, checkpoints, stops and resumes.

A network kind plugs in a small *trainer* object (:class:`Trainer`): the gradient/update step
of one minibatch, the end of an epoch (evaluation, metrics, outputs), and the state to
checkpoint. This loop owns everything else, so that it behaves the same for every kind:

- the epochs ``0 .. trainer.passes - 1``, each a pass over ``trainer.samples`` samples in steps
  of ``trainer.batch_size``, with a tqdm bar per epoch (``progress``) and one log line per
  epoch (``log``: the trainer's line and the epoch's whole time, training and evaluation);
- ``checkpoint.npz`` written atomically at the end of an epoch
  (:func:`eqprop_hw.io.statefile.write_checkpoint`), with the per-epoch outputs (the trainer's
  ``outputs``: params, metrics), after the first epoch, the last one checkpointed, one a signal
  ends, and otherwise at most once every :data:`WRITE_EVERY_SECONDS`; removed once the run has
  finished and written its outputs (``keep_checkpoint`` keeps it, to continue the run later
  with more epochs);
- the figures: drawn once, at the end of the run (``trainer.finish``) or when a signal stops
  it (``trainer.draw``), never on a timer;
- SIGINT/SIGTERM (:class:`~eqprop_hw.learning.interrupt.StopSignals`): the first signal
  checkpoints the state after the current step, with the position within the epoch, and raises
  :class:`~eqprop_hw.errors.TrainingInterrupted`; a second signal during a step abandons it and
  checkpoints the state from before it;
- ``resume``: :func:`read_start` reads the checkpoint (none yet: the run starts from the
  beginning and says so in one line) (strictly, through
  :class:`eqprop_hw.io.statefile.CheckpointReader`) and the loop continues from its epoch and
  position to exactly the uninterrupted result (the trainer's steps depend only on the epoch
  and the position, never on how the run was split).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from eqprop_hw.errors import SimulatorCrash, TrainingInterrupted
from eqprop_hw.learning.interrupt import Abandon, StopSignals

#: The checkpoint file of a run folder.
CHECKPOINT_NAME = "checkpoint.npz"

#: Seconds (s) between two writes of a run's state at the end of an epoch (checkpoint, params,
#: metrics; besides the first epoch's, the last one's and a stop's). Writing all three after
#: every epoch took 9.2 s of a 13.8 s profiled run of xor's 300 epochs (902 atomic writes, 1804
#: fsyncs; 2-core shared session machine), 7x its training. A run killed outright (SIGKILL,
#: power loss) redoes at most this much training plus one epoch; SIGINT/SIGTERM checkpoint
#: the state they stop, as before.
WRITE_EVERY_SECONDS = 1.0


@dataclass
class Start:
    """Where a run starts: ``epoch`` epochs are done and ``position`` samples of the next one,
    in ``seconds`` s (0, 0, 0.0 for a fresh run); ``resumed`` when it continues a
    checkpoint."""

    epoch: int = 0
    position: int = 0
    seconds: float = 0.0
    resumed: bool = False


class Trainer:
    """What a network kind gives :func:`run` (subclass and fill in the methods).

    Attributes
    ----------
    checkpoint : Path
        The run's ``checkpoint.npz``.
    epochs : int
        Epochs asked for (a checkpoint may be after at most this many).
    passes : int
        Epoch passes the loop runs (``epochs``, or ``epochs + 1`` for a kind that measures the
        loss once more after the last update).
    samples, batch_size : int
        Samples of one epoch and of one step.
    unit : str
        What a sample is called in the progress bar and messages.
    first_label : int
        The number the log lines give the first epoch (1, or 0).
    checkpoint_last : bool
        Whether the end of the last pass is checkpointed too.
    """

    checkpoint: Path
    epochs: int
    passes: int
    samples: int
    batch_size: int
    unit = "sample"
    first_label = 1
    checkpoint_last = True

    def load(self, state) -> Start:
        """Take the state of a checkpoint (a checked reader); return where it stands."""
        raise NotImplementedError

    def begin_epoch(self, epoch: int, position: int) -> None:
        """Prepare epoch ``epoch`` (0-based), of which ``position`` samples are done already."""

    def step(self, epoch: int, first: int) -> int:
        """Train on samples ``first, first + 1, ...`` of the epoch's order; return how many."""
        raise NotImplementedError

    def mark(self):
        """A copy of the state after the last step (what a stop checkpoints)."""
        raise NotImplementedError

    def end_epoch(self, epoch: int, seconds: float) -> str:
        """Finish epoch ``epoch`` that trained for ``seconds`` s (evaluate it); return its log
        line (the loop adds the epoch's whole time)."""
        raise NotImplementedError

    def record(self, epoch: int, seconds: float) -> None:
        """Epoch ``epoch`` took ``seconds`` s in all (training and evaluation): record it."""

    def outputs(self) -> None:
        """Write the per-epoch outputs (params, metrics; no figures) of the epochs recorded;
        called with each end-of-epoch checkpoint."""

    def draw(self, mark=None) -> None:
        """Draw the figures of the state ``mark`` (default: the current one) after a stop."""

    def save(self, epoch: int, position: int, seconds: float, mark=None) -> None:
        """Write the checkpoint: ``epoch`` epochs and ``position`` samples done, in
        ``seconds`` s, with the state ``mark`` (default: the current state)."""
        raise NotImplementedError

    def crashed(self, crash: SimulatorCrash, epoch: int, first: int):
        """A clearer exception for a simulator crash during a step, or None to re-raise it."""
        return None

    def finish(self, start: Start) -> dict:
        """Write the final outputs and return the metrics."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the engines (called once, also after an error)."""


def read_start(trainer: Trainer, resume: bool, log=None) -> Start:
    """Where a run starts: the checkpoint's place when ``resume`` and there is one, else the
    beginning (with ``resume``: one line to ``log`` saying that there is no checkpoint yet, so
    that a supervisor may always add ``--resume``).

    Raises
    ------
    ParamsError
        ``"<checkpoint>: cannot resume from this checkpoint: <reason>"`` (a checkpoint that
        exists but is refused).
    """
    if not resume:
        return Start()
    if not os.path.lexists(trainer.checkpoint):
        if log is not None:
            log(f"no checkpoint {trainer.checkpoint} yet: starting from the beginning")
        return Start()
    start = trainer.load(trainer.checkpoint)
    start.resumed = True
    return start


def log_resumed(trainer: Trainer, start: Start, log=None) -> None:
    """Say where a resumed run continues (after the run's engines accepted the checkpoint's
    state, so that a refused checkpoint gives one error line and nothing else); nothing for a
    run that starts from the beginning."""
    if log is not None and start.resumed:
        log(f"resuming from {trainer.checkpoint} after epoch {start.epoch}"
            + (f" and {start.position} {trainer.unit}(s)" if start.position else ""))


def progress_bar(total: int, description: str, enabled: bool, unit: str = "sample",
                 delay: float = 0.0):
    """A tqdm bar on stderr (None when not ``enabled``), shown once ``delay`` s have passed
    (a wait shorter than that prints nothing) and redrawn while open, so a long step shows
    its elapsed time (:func:`eqprop_hw.learning.progress.ticking_bar`)."""
    if not enabled:
        return None
    from eqprop_hw.learning.progress import ticking_bar
    return ticking_bar(total, description, unit=unit, delay=delay)


def run(trainer: Trainer, start: Start, progress: bool = True, log=None,
        keep_checkpoint: bool = False) -> dict:
    """Train from ``start`` to the end; see the module docstring.

    Parameters
    ----------
    trainer : Trainer
    start : Start
        From :func:`read_start`.
    progress : bool
        A tqdm bar per epoch on stderr (and the trainer's ``progress`` attribute: bars of its
        own long waits, such as the evaluation after an epoch).
    log : callable, optional
        Receives the line of every epoch.
    keep_checkpoint : bool
        Keep ``checkpoint.npz`` after the run has finished (default: removed once the params,
        metrics and figures are written; nothing is left to resume).

    Returns
    -------
    dict
        The metrics (``trainer.finish``).
    """
    trainer.progress = progress
    stop = StopSignals().install()
    try:
        _epochs(trainer, start, stop, progress, log or (lambda line: None))
    finally:
        try:
            trainer.close()
        finally:
            stop.restore()
    from eqprop_hw.learning.progress import waiting
    with waiting("finishing (figures, params, metrics)", progress):
        metrics = trainer.finish(start)
    if not keep_checkpoint:
        remove_checkpoint(trainer.checkpoint)
    return metrics


def remove_checkpoint(path: Path) -> None:
    """Remove a finished run's checkpoint (its params and metrics are written already)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _label(trainer: Trainer, epoch: int) -> str:
    last = trainer.passes - 1 + trainer.first_label
    return f"{epoch + trainer.first_label}/{last}"


def _epochs(trainer: Trainer, start: Start, stop: StopSignals, progress: bool, log) -> None:
    """The epochs of :func:`run` (signals already installed)."""
    written = None                       # when the state was last written (perf_counter, s)
    for epoch in range(start.epoch, trainer.passes):
        skip = start.position if epoch == start.epoch else 0   # samples done before a stop
        started = time.perf_counter() - (start.seconds if skip else 0.0)
        trainer.begin_epoch(epoch, skip)
        bar = progress_bar(trainer.samples, f"epoch {_label(trainer, epoch)}", progress,
                           trainer.unit)
        if bar is not None and skip:
            bar.update(min(skip, trainer.samples))
        kept = (skip, trainer.mark())            # (position, state) a second signal keeps
        stop.abandonable = True                  # a second signal abandons the step
        try:
            for first in range(skip, trainer.samples, trainer.batch_size):
                done = first + trainer.step(epoch, first)
                if bar is not None:
                    bar.update(done - first)
                kept = (done, trainer.mark())
                if stop.signum is not None:
                    stop.abandonable = False
                    _stop(trainer, stop, epoch, done, time.perf_counter() - started, None, bar)
        except Abandon:   # a repeated signal inside a step: keep the state from before it
            _stop(trainer, stop, epoch, kept[0], time.perf_counter() - started, kept[1], bar)
        except SimulatorCrash as crash:
            clearer = trainer.crashed(crash, epoch, kept[0]) if stop.abandonable else None
            if clearer is None:
                raise
            raise clearer from None
        stop.abandonable = False
        if bar is not None:
            bar.close()
        line = trainer.end_epoch(epoch, time.perf_counter() - started)
        whole = time.perf_counter() - started          # training and evaluation
        trainer.record(epoch, whole)
        line = f"{line} ({whole:.1f} s)"
        last = epoch + 1 == trainer.passes
        if last and not trainer.checkpoint_last:
            log(line)
            break
        final = epoch + 2 == trainer.passes and not trainer.checkpoint_last   # its last one
        if last or final or written is None or stop.signum is not None \
                or time.perf_counter() - written >= WRITE_EVERY_SECONDS:
            trainer.outputs()
            trainer.save(epoch + 1, 0, 0.0)
            written = time.perf_counter()
        log(line)
        if stop.signum is not None:
            _stop(trainer, stop, epoch + 1, 0, 0.0, None, None)


def _stop(trainer: Trainer, stop: StopSignals, epoch: int, position: int, seconds: float,
          mark, bar) -> None:
    """Checkpoint the state (epoch, position, ``mark``) and raise :class:`TrainingInterrupted`."""
    if bar is not None:
        bar.close()
    position = min(position, trainer.samples)   # a finished epoch whose end is not in yet
    trainer.save(epoch, position, seconds, mark)
    where = (f"after epoch {epoch}" if position == 0 else
             f"in epoch {_label(trainer, epoch)} after {position} of {trainer.samples} "
             f"{trainer.unit}s")
    unplotted = ""
    try:                        # the figures of the state kept (the checkpoint comes first)
        trainer.draw(mark)
    except Exception as error:  # noqa: BLE001 - a figure must not hide the stop
        unplotted = f"; figures not drawn: {type(error).__name__}: {error}"
    raise TrainingInterrupted(f"{stop.name} received: training stopped {where}; checkpoint "
                              f"written to {trainer.checkpoint} (continue with --resume)"
                              f"{unplotted}", stop.signum, str(trainer.checkpoint))
