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
standard output; it draws only the figure functions of :data:`eqprop_hw.io.plots.FIGURES`,
with matplotlib's settings from its files (:func:`eqprop_hw.io.plots.draw_job`), so the PNG
files are the same bytes as those drawn in the run's process. Its path leaves out the current
folder (a ``select.py`` there is not imported). It runs in a session of its own (a Ctrl-C at
the terminal stops the run, which then asks it for the figures of the state kept). It ends
when its input closes; on Linux the kernel also kills it, and its copy, when the run ends
(``PR_SET_PDEATHSIG``), so a killed run leaves no process drawing behind it. Where there is no
``fork`` (Windows) no helper is started: the run draws its figures itself.
"""

from __future__ import annotations

import json
import os
import pickle
import selectors
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

#: Longest wait (s) for the helper to take the jobs and answer; after it the helper is killed
#: and the run draws the figures itself.
ANSWER_SECONDS = 120.0

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
        self.busy = False
        """Whether it has jobs it has not answered (a :meth:`draw` was interrupted)."""

    @classmethod
    def start(cls) -> "FigureHelper | None":
        """A new helper process, or None when none can be started (no ``fork``: the run then
        draws its figures itself)."""
        if not sys.executable or not hasattr(os, "fork"):
            return None
        command = [sys.executable, "-c",
                   "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
                   f"sys.path.insert(0, {_PACKAGE_ROOT!r}); "
                   f"from eqprop_hw.io.figure_helper import serve; serve({os.getpid()})"]
        # one BLAS thread: drawing needs none, and a process without threads forks safely
        environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                           MKL_NUM_THREADS="1", VECLIB_MAXIMUM_THREADS="1")
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       start_new_session=True, env=environment)
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
        those it did not draw (all of them if it is gone, failed or did not take and answer
        them within :data:`ANSWER_SECONDS`), for the caller to draw."""
        if not jobs:
            return []
        # absolute paths as this process sees them (not os.path.abspath: it drops "..")
        data = pickle.dumps([(str(Path(job.path).absolute()), job.figure, job.arguments)
                             for job in jobs], protocol=pickle.HIGHEST_PROTOCOL)
        self.busy = True
        try:
            failed = json.loads(_exchange(self.process, data, ANSWER_SECONDS))
        except (OSError, ValueError):    # it timed out or broke: kill it, nothing to wait for
            self.busy = False
            self.close()
            return list(jobs)
        self.busy = False
        if not isinstance(failed, list) or not all(isinstance(k, int) and 0 <= k < len(jobs)
                                                   for k in failed):
            self.close()
            return list(jobs)
        return [jobs[k] for k in sorted(set(failed))]

    def close(self) -> None:
        """End the helper and its copy. Idle, it is killed at once (it has nothing to write);
        in the middle of a drawing (the run was interrupted) it may finish its file for up to
        5 s, as its input is closed."""
        process = self.process
        if process.poll() is None:
            try:
                process.stdin.close()
            except OSError:
                pass
            try:
                process.wait(timeout=5.0 if self.busy else 0.0)
            except subprocess.TimeoutExpired:
                pass
            try:                       # the helper leads its session: its copy goes too
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
        self.busy = False
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass


def _exchange(process: subprocess.Popen, data: bytes, seconds: float) -> bytes:
    """Write ``data`` to ``process``'s input and read one line of its output, both within
    ``seconds`` s (a helper that stops reading cannot block the run).

    Raises
    ------
    OSError
        When it does not take the data or answer in time, or its pipes end first.
    """
    deadline = time.monotonic() + seconds
    writer, reader = process.stdin.fileno(), process.stdout.fileno()
    os.set_blocking(writer, False)
    answer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(writer, selectors.EVENT_WRITE)
        selector.register(reader, selectors.EVENT_READ)
        while not answer.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready = selector.select(left) if left > 0 else []
            if not ready:
                raise OSError("the figure helper did not answer in time")
            for key, _ in ready:
                if key.fd == writer:
                    try:
                        data = data[os.write(writer, data[:65536]):]
                    except BlockingIOError:
                        continue
                    if not data:
                        selector.unregister(writer)
                else:
                    chunk = os.read(reader, 65536)
                    if not chunk:
                        raise OSError("the figure helper ended")
                    answer += chunk
    return answer


# -- the helper's side ------------------------------------------------------------------------

def serve(parent: int) -> None:
    """The helper process of the run with process id ``parent``: warm up, then draw each list
    of jobs read from standard input and answer the indices of those that failed, until the
    input ends."""
    _end_with(parent)
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


def _end_with(parent: int) -> None:
    """Have the kernel kill this process when its parent, process ``parent``, ends (Linux:
    ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere the closed input ends it); exit now if
    that parent is gone already."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(0)


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
        try:                             # an unknown figure name is a KeyError of FIGURES
            plots.draw_job(plots.FigureJob(path, figure, arguments))
        except Exception:  # noqa: BLE001 - the run draws it again and raises the error
            failed.append(index)
    return failed


def _draw_on_two_cores(plots, jobs) -> list:
    """:func:`_draw_all`, every second job in a forked copy of this process when the machine
    has two cores or more; returns the failed indices."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    if len(jobs) < 2 or cores < 2:
        return _draw_all(plots, jobs)
    mine, theirs = jobs[0::2], jobs[1::2]
    helper = os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:                       # the copy: draw its half, report, exit at once
        os.close(read)
        status = 1
        try:
            _end_with(helper)
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
