"""A helper process that draws a training run's figures while the run trains.

A run's four figures cost more than xor's whole training: importing matplotlib and drawing
them took 2.0-2.3 s of a 7.2-7.4 s run of ``train circuits/xor.yaml`` (2-core shared session
machine), its 300 epochs 2.0-2.1 s. :class:`FigureHelper` starts a second Python process with
the run; it imports matplotlib and draws a small figure of every kind while the circuit
trains (on the core the training leaves free), then waits. At the end the run hands it the
figures as plain data (:class:`~eqprop_hw.io.plots.FigureJob`); it draws them, half of them
in a copy of itself (``fork``) so that both cores draw, and answers which it could not draw.
Those the run draws itself, so an error (a full disk, a folder that is gone) is raised in the
run exactly as without the helper.

The helper reads jobs (pickles) from its standard input and answers one JSON line on its
standard output; it draws only the figure functions of :data:`eqprop_hw.io.plots.FIGURES`.
It runs in a session of its own (a Ctrl-C at the terminal stops the run, which then asks it
for the figures of the state kept) and ends when its input closes, so it never outlives the
run, even a killed one. The PNG files are the same bytes as those drawn in the run's process.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

#: Longest wait (s) for the helper's answer; after it the run draws the figures itself.
ANSWER_SECONDS = 600.0

#: The directory holding the ``eqprop_hw`` package this process runs (put first on the
#: helper's path, so that it draws with the same code).
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class FigureHelper:
    """The helper process of one run (see the module docstring).

    Start it with :meth:`start`, hand it jobs with :meth:`draw`, end it with :meth:`close`.

    Examples
    --------
    >>> from eqprop_hw.io.plots import FigureJob
    >>> job = FigureJob(str(TMP / "helped.png"), "epoch_curves",
    ...                 {"epochs": [1, 2, 3], "train": [0.4, 0.2, 0.1],
    ...                  "test": [0.5, 0.3, 0.2], "ylabel": "loss (V^2)", "title": "a run"})
    >>> helper = FigureHelper.start()
    >>> helper.draw([job])          # the jobs it could not draw: none
    []
    >>> helper.close(); (TMP / "helped.png").read_bytes()[:4]
    b'\\x89PNG'
    """

    def __init__(self, process: subprocess.Popen):
        self.process = process
        """The helper's process."""

    @classmethod
    def start(cls) -> "FigureHelper | None":
        """A new helper process, or None when none can be started (the run then draws its
        figures itself)."""
        if not sys.executable:
            return None
        command = [sys.executable, "-c", f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); "
                   "from eqprop_hw.io.figure_helper import serve; serve()"]
        # one BLAS thread: drawing needs none, and a process without threads forks safely
        environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                           MKL_NUM_THREADS="1")
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, start_new_session=True,
                                       env=environment)
        except OSError:
            return None
        return cls(process)

    @classmethod
    @contextmanager
    def started(cls, wanted: bool = True):
        """``with FigureHelper.started(plots) as helper:`` a helper (None when not
        ``wanted`` or none can be started), closed when the block ends."""
        helper = cls.start() if wanted else None
        try:
            yield helper
        finally:
            if helper is not None:
                helper.close()

    def draw(self, jobs: list) -> list:
        """Have the helper draw ``jobs`` (:class:`~eqprop_hw.io.plots.FigureJob`); returns
        those it did not draw (all of them if it is gone, failed or took longer than
        :data:`ANSWER_SECONDS`), for the caller to draw."""
        if not jobs:
            return []
        process = self.process
        try:
            pickle.dump([(os.path.abspath(job.path), job.figure, job.arguments)
                         for job in jobs], process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            process.stdin.flush()
            answer = _read_line(process.stdout, ANSWER_SECONDS)
            failed = json.loads(answer)
        except (OSError, ValueError, pickle.PicklingError):
            self.close()
            return list(jobs)
        if not isinstance(failed, list) or not all(isinstance(k, int) and 0 <= k < len(jobs)
                                                   for k in failed):
            self.close()
            return list(jobs)
        return [jobs[k] for k in sorted(set(failed))]

    def close(self) -> None:
        """End the helper (it exits when its input closes; killed after 5 s)."""
        process = self.process
        if process.poll() is None:
            try:
                process.stdin.close()
            except OSError:
                pass
            try:
                process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass


def _read_line(stream, seconds: float) -> bytes:
    """One line of ``stream`` (a pipe) within ``seconds`` s.

    Raises
    ------
    OSError
        When the line does not come in time or the stream ends first.
    """
    deadline = time.monotonic() + seconds
    data = b""
    descriptor = stream.fileno()
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([descriptor], [], [], left)[0]:
            raise OSError("the figure helper did not answer in time")
        chunk = os.read(descriptor, 65536)
        if not chunk:
            raise OSError("the figure helper ended")
        data += chunk
    return data


# -- the helper's side ------------------------------------------------------------------------

def serve() -> None:
    """The helper process: warm up, then draw each list of jobs read from standard input and
    answer the indices of those that failed, until the input ends."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)                        # anything printed while drawing goes to stderr
    from eqprop_hw.io import plots
    _warm_up(plots)
    while True:
        try:
            jobs = pickle.load(sys.stdin.buffer)
        except EOFError:
            break
        failed = _draw_on_two_cores(plots, list(enumerate(jobs)))
        answers.write((json.dumps(sorted(failed)) + "\n").encode())
        answers.flush()
    answers.close()
    os._exit(0)                          # no interpreter teardown: the run is waiting


def _warm_up(plots) -> None:
    """Draw one small figure of every kind into memory: the imports, fonts and caches the
    first figure of a process would pay for are paid while the run trains."""
    import io
    import numpy as np
    samples = {
        "epoch_curves": {"epochs": [1, 2, 3], "train": [0.4, 0.2, 0.1], "test": [0.5, 0.3, 0.2],
                         "ylabel": "loss (V^2)", "title": "warm-up", "log": True},
        "conductance_histograms": {"groups": [{"layer": 1, "g": np.geomspace(1e-6, 1e-4, 9)}],
                                   "title": "warm-up"},
        "conductance_maps": {"matrices": [{"title": "warm-up", "rows": ["a", "b"],
                                           "columns": ["c", "d"],
                                           "g": np.array([[1e-6, 2e-6], [np.nan, 1e-5]])}],
                             "title": "warm-up"}}
    for name, arguments in samples.items():
        try:
            plots.FIGURES[name](**arguments).savefig(io.BytesIO(), format="png", dpi=plots.DPI)
        except Exception:  # noqa: BLE001 - a warm-up only: the real figure reports its error
            pass


def _draw_all(plots, jobs) -> list:
    """Draw ``jobs`` (``(index, (path, figure, arguments))``); returns the failed indices."""
    failed = []
    for index, (path, figure, arguments) in jobs:
        try:
            if figure not in plots.FIGURES:
                raise ValueError(figure)
            plots.draw_job(plots.FigureJob(path, figure, arguments))
        except Exception:  # noqa: BLE001 - the run draws it again and raises the error
            failed.append(index)
    return failed


def _draw_on_two_cores(plots, jobs) -> list:
    """:func:`_draw_all`, every second job in a forked copy of this process when the machine
    has two cores or more; returns the failed indices."""
    if len(jobs) < 2 or not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        return _draw_all(plots, jobs)
    mine, theirs = jobs[0::2], jobs[1::2]
    read, write = os.pipe()
    child = os.fork()
    if child == 0:                       # the copy: draw its half, report, exit at once
        os.close(read)
        status = 1
        try:
            os.write(write, json.dumps(_draw_all(plots, theirs)).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    failed = _draw_all(plots, mine)
    report = b""
    while True:
        chunk = os.read(read, 65536)
        if not chunk:
            break
        report += chunk
    os.close(read)
    os.waitpid(child, 0)
    try:
        theirs_failed = json.loads(report)
    except ValueError:                   # the copy died: the run draws its half
        theirs_failed = [index for index, _ in theirs]
    return failed + [int(k) for k in theirs_failed]
