"""ngspice behind a process boundary: a crash of the simulator does not end the caller.

ngspice runs inside the calling process as a shared library. When it dies - a segmentation
fault, an ``abort()``, a ``controlled_exit`` that ends the process, a hang - it takes the
caller (e.g. a training run hours in) with it, and nothing in-process can prevent that.
:class:`IsolatedBackend` therefore runs the backend in a child process (a fresh interpreter
started with :mod:`subprocess`, like multiprocessing's *spawn* but without re-importing the
caller's main module, so scripts need no ``if __name__ == "__main__"`` guard) and forwards the
:class:`~eqprop_hw.backends.base.Backend` methods to it over a socket pair
(:class:`multiprocessing.connection.Connection`, pickled messages):

* :meth:`~IsolatedBackend.solve`, :meth:`~IsolatedBackend.solve_phases`,
  :meth:`~IsolatedBackend.set_values`, :meth:`~IsolatedBackend.set_trainable` and
  :meth:`~IsolatedBackend.close` behave as the in-process backend's (same results, bitwise:
  the child runs the very same code on the same values; errors such as
  :class:`~eqprop_hw.errors.ConvergenceError` come back as themselves). ``set_trainable``
  values are checked at once and travel with the next request, so a training minibatch costs
  one round trip.
* If the child dies during a request (any exit, a signal, or no answer within ``timeout``),
  a new child is started with the circuit's *current* values (the parent keeps them: every
  ``set_values``/``set_trainable`` updates its copy) and the request is sent once more. The
  restart is logged (logger ``eqprop_hw.isolated``, level WARNING) and counted in
  :attr:`IsolatedBackend.restarts`.
* If the child dies again on the same request, :class:`~eqprop_hw.errors.SimulatorCrash` is
  raised, naming the circuit, the request, the sample row of the batch that was running (the
  in-process backend reports each row through its ``on_row`` hook into a shared 8-byte memory
  map, which survives the child) and how the child ended.
* Every request has a time limit (:func:`request_time_limit`): ``timeout`` seconds when given,
  else the environment variable :data:`TIME_LIMIT_VARIABLE` (seconds per request), else a
  generous default scaled by the request (its operating points) and the circuit (its
  elements). ngspice can run without end on some circuits (a B4SOI MOSFET with a floating
  body took 0.9 s to 22 s per operating point, varying from run to run). A request past its
  limit stops the child and raises :class:`~eqprop_hw.errors.SimulatorTimeout` at once (not
  retried), naming the request, the limit and how to raise it.

The child runs in its own session (a Ctrl-C in the terminal reaches only the parent, which
decides what to do; the child also ignores SIGINT) and exits when the parent closes the socket
or dies. Its working directory is a private temporary folder (removed when the backend closes):
files ngspice writes where it runs (the ``b3v33check.log`` of BSIM3 and BSIM-SOI models) never
land in the caller's folder, and an ``.spiceinit`` there is not read by the child.

Examples
--------
>>> from eqprop_hw.backends import make_backend
>>> backend = make_backend("ngspice", circuit, isolated=True)      # doctest: +SKIP
>>> backend.solve([[0.5, -0.5]]).outputs                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import mmap
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from multiprocessing.connection import Connection, wait
from pathlib import Path

import numpy as np

from eqprop_hw.backends.base import Backend
from eqprop_hw.errors import BackendError, SimulatorCrash, SimulatorTimeout
from eqprop_hw.circuit.graph import Circuit

LOGGER = logging.getLogger("eqprop_hw.isolated")

#: Seconds to wait for a new child to load the library and the circuit.
START_TIMEOUT = 300.0
#: The default time limit of one request (:func:`request_time_limit`): seconds per request,
#: plus seconds per operating point, plus seconds per element per operating point. Measured on
#: the 2-core shared session machine with ngspice 39 (``tools/op_seconds.py``, two runs, see
#: docs/netlists.md): an operating point of xor (74 elements) took 0.15-0.5 ms, of digits
#: (14252) 66-117 ms, of mnist_size (159792) 3.9-5.7 s, i.e. up to 36 us per element; the
#: default allows 10 s + 1 ms per element (~30x mnist_size's, ~20000x xor's).
TIME_LIMIT_BASE = 120.0
TIME_LIMIT_PER_POINT = 10.0
TIME_LIMIT_PER_ELEMENT = 1e-3
#: Environment variable giving the time limit of every request in seconds (overrides the
#: default; ``timeout=`` overrides it).
TIME_LIMIT_VARIABLE = "EQPROP_HW_TIME_LIMIT"
#: Largest time limit accepted (s): about 115 days.
MAX_TIME_LIMIT = 1e7


def request_time_limit(points: int, elements: int) -> float:
    """The default time limit (s) of one request to the child.

    Parameters
    ----------
    points : int
        Operating points the request solves (rows times phases; 0 for ``set_values`` and the
        like).
    elements : int
        Elements of the circuit.

    Returns
    -------
    float
        ``TIME_LIMIT_BASE + points * (TIME_LIMIT_PER_POINT + TIME_LIMIT_PER_ELEMENT *
        elements)`` seconds.

    Examples
    --------
    >>> request_time_limit(0, 74)
    120.0
    >>> request_time_limit(12, 1000)
    252.0
    """
    points, elements = max(int(points), 0), max(int(elements), 0)
    return TIME_LIMIT_BASE + points * (TIME_LIMIT_PER_POINT + TIME_LIMIT_PER_ELEMENT * elements)


def time_limit_from_environment() -> float | None:
    """Seconds per request from :data:`TIME_LIMIT_VARIABLE`, or None when it is unset or empty.

    Raises
    ------
    BackendError
        If it is not a number of seconds in (0, :data:`MAX_TIME_LIMIT`].
    """
    text = os.environ.get(TIME_LIMIT_VARIABLE, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value <= MAX_TIME_LIMIT:      # also NaN
        shown = text[:40] + ("..." if len(text) > 40 else "")
        raise BackendError(f"environment variable {TIME_LIMIT_VARIABLE} must be a number of "
                           f"seconds in (0, {MAX_TIME_LIMIT:g}], got {shown!r}")
    return value


def ngspice_factory(circuit: Circuit, **options) -> Backend:
    """The default child-side backend: :class:`~eqprop_hw.backends.ngspice.NgspiceBackend`."""
    from eqprop_hw.backends.ngspice import NgspiceBackend
    return NgspiceBackend(circuit, **options)


def _portable(error: BaseException) -> BaseException:
    """``error`` itself if it survives pickling, else a BackendError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - anything unpicklable
        return BackendError(f"{type(error).__name__}: {error}")


class _Row:
    """An int64 in a memory map shared by parent and child (the row being solved, -1: none)."""

    def __init__(self, fd: int):
        self.map = mmap.mmap(fd, 8)

    @property
    def value(self) -> int:
        return int.from_bytes(self.map[:8], "little", signed=True)

    @value.setter
    def value(self, number: int) -> None:
        self.map[:8] = int(number).to_bytes(8, "little", signed=True)


def _exit_with_parent(parent: int, period: float = 1.0) -> None:
    """Child, in a daemon thread: end the process once ``parent`` is gone (the child is
    re-parented). A parent killed mid-request closes the pipe, but a child busy in a long
    ngspice call would only see that when the call ends; this ends it within ``period`` s."""
    while True:
        time.sleep(period)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)     # nothing to hand back to anyone


def _child_main(connection_fd: int, row_fd: int, parent: int | None = None) -> None:
    """Entry point of the child: ``python -c "...; _child_main(fd, fd, parent_pid)"``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                         name="exit-with-parent").start()
    connection = Connection(connection_fd)
    row = _Row(row_fd)
    try:
        path = connection.recv()                  # first: where the caller imports from
        sys.path[:] = path + [p for p in sys.path if p not in path]
        factory, circuit, options, trainable = connection.recv()
    except (EOFError, OSError):
        return
    except Exception as error:  # noqa: BLE001 - e.g. the factory's module is not importable
        connection.send(("error", BackendError(f"isolated backend: the child cannot load the "
                                               f"backend ({type(error).__name__}: {error})")))
        return
    _serve(connection, factory, circuit, options, trainable, row)


def _serve(connection, factory, circuit: Circuit, options: dict, trainable, row) -> None:
    """Child process: build the backend, then answer requests until told to stop or EOF."""
    try:
        backend = factory(circuit, **options)
        if trainable is not None:
            backend.set_trainable(trainable)
        if hasattr(backend, "on_row"):
            def on_row(k, shared=row):
                shared.value = k
            backend.on_row = on_row
    except BaseException as error:  # noqa: BLE001 - report whatever stopped the start
        reply = ("error", _portable(error))
    else:
        reply = ("ok", None)
    try:
        connection.send(reply)
    except (OSError, ValueError):           # the parent is gone
        reply = ("error", None)
    if reply[0] == "error":
        return
    try:
        while True:
            try:
                method, args, queued = connection.recv()
            except (EOFError, OSError):
                break
            if method == "close":
                break
            try:
                if queued is not None:            # values of a deferred set_trainable first
                    backend.set_trainable(queued)
                if method == "stats":
                    reply = ("ok", dict(getattr(backend, "stats", {})))
                else:
                    reply = ("ok", getattr(backend, method)(*args))
            except Exception as error:  # noqa: BLE001 - sent back to the caller
                reply = ("error", _portable(error))
            try:
                connection.send(reply)
            except (OSError, ValueError):
                break
    finally:
        backend.close()


class _Died(Exception):
    """The child ended (or stopped answering) during a request."""


class _TimedOut(Exception):
    """The child gave no answer within the request's time limit (it has been killed)."""


def _stop_process(process, connection) -> None:
    """End a child for good: close the pipe (it exits on EOF), then terminate / kill."""
    try:
        connection.close()
    except OSError:
        pass
    for action in (None, process.terminate, process.kill):
        if action is not None:
            action()
        try:
            process.wait(2.0)
            return
        except subprocess.TimeoutExpired:
            continue


class IsolatedBackend(Backend):
    """A backend (by default ngspice) run in a child process and restarted if it dies.

    Parameters
    ----------
    circuit : Circuit
        The circuit; the parent keeps a copy with the current values for restarts.
    factory : callable, optional
        ``factory(circuit, **options) -> Backend``, called in the child; it must be picklable
        (a module-level function). Default :func:`ngspice_factory`.
    timeout : float, optional
        Seconds any request may take; past it the child is killed and
        :class:`~eqprop_hw.errors.SimulatorTimeout` raised (default: the environment variable
        :data:`TIME_LIMIT_VARIABLE`, else :func:`request_time_limit` of each request).
    **options
        Passed to the factory (``loss``, ``temperature``, ``strict``, ``verbose`` of
        :class:`~eqprop_hw.backends.ngspice.NgspiceBackend`); ``log`` is not supported (the
        child's messages stay in the child).

    Attributes
    ----------
    restarts : int
        Children started after the first (each after a death).
    pid : int or None
        Process id of the current child.

    Raises
    ------
    BackendError
        If the child cannot start the backend (e.g. ngspice's library is missing), or
        :data:`TIME_LIMIT_VARIABLE` is malformed.
    """

    name = "ngspice"

    def __init__(self, circuit: Circuit, factory=ngspice_factory, timeout: float | None = None,
                 **options):
        if options.get("log") is not None:
            raise BackendError("isolated backend: log= is not supported (the messages stay in "
                               "the child process); use verbose=True or isolated=False")
        options.pop("log", None)
        super().__init__(circuit, options.get("loss", "squared"), options.get("temperature"))
        self._factory = factory
        self._options = options
        if timeout is not None and not (isinstance(timeout, (int, float)) and
                                        0.0 < float(timeout) <= MAX_TIME_LIMIT):
            raise BackendError(f"isolated backend: timeout must be a number of seconds in "
                               f"(0, {MAX_TIME_LIMIT:g}], got {timeout!r}")
        self.timeout = time_limit_from_environment() if timeout is None else float(timeout)
        self.restarts = 0
        self._trainable = self._queued = None
        self._row_file = tempfile.TemporaryFile()
        self._row_file.truncate(8)
        self._row = _Row(self._row_file.fileno())
        self._row.value = -1
        self._process = self._connection = None
        self._closed = False
        self._finalizer = None
        self._workdir = tempfile.mkdtemp(prefix="eqprop-ngspice-")
        self._workdir_finalizer = weakref.finalize(self, shutil.rmtree, self._workdir, True)
        self._start()

    # -- the child -------------------------------------------------------------------------
    @property
    def pid(self):
        return None if self._process is None else self._process.pid

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            [package_root] + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p])
        code = ("from eqprop_hw.backends.isolated import _child_main; "
                f"_child_main({theirs.fileno()}, {self._row_file.fileno()}, {os.getpid()})")
        try:
            process = subprocess.Popen([sys.executable, "-c", code], env=environment,
                                       pass_fds=(theirs.fileno(), self._row_file.fileno()),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       start_new_session=True, cwd=self._workdir)
        except OSError as error:
            ours.close()
            raise BackendError(f"isolated backend: cannot start a child process ({error})") \
                from None
        finally:
            theirs.close()
        connection = Connection(ours.detach())
        self._process, self._connection = process, connection
        self._finalizer = weakref.finalize(self, _stop_process, process, connection)
        try:
            # the child runs elsewhere: '' and relative entries mean the caller's folder
            connection.send([os.path.abspath(entry) for entry in sys.path])
            connection.send((self._factory, self.circuit, self._options, self._trainable))
            self._queued = None                  # the child starts with the current values
            status, value = self._receive(START_TIMEOUT, "start")
        except (_Died, OSError, ValueError) as death:
            self._discard()
            raise BackendError(f"isolated backend: the child process for circuit "
                               f"{self._circuit.name!r} did not start ({death})") from None
        if status == "error":
            self._discard()
            raise value

    def _discard(self) -> None:
        if self._finalizer is not None:
            self._finalizer()               # runs _stop_process once
        self._process = self._connection = self._finalizer = None

    def _ending(self) -> str:
        """How the current child ended (after it died)."""
        try:
            code = self._process.wait(2.0)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with status {code}"

    def _receive(self, timeout, what: str, limit=_Died):
        """The child's answer; past ``timeout`` s the child is killed and ``limit`` raised."""
        connection = self._connection
        if wait([connection], timeout):
            try:
                return connection.recv()
            except (EOFError, OSError):
                raise _Died(self._ending()) from None
        self._process.kill()
        self._process.wait()
        raise limit(f"no answer within {timeout:g} s to {what}; killed")

    def _request(self, method: str, args: tuple, limit: float):
        """One request to the current child; ``_Died`` if it ends meanwhile, ``_TimedOut``
        past ``limit`` seconds."""
        self._row.value = -1
        try:
            self._connection.send((method, args, self._queued))
        except (OSError, ValueError):
            raise _Died(self._ending()) from None
        try:
            status, value = self._receive(limit, method, _TimedOut)
        except _Died:
            raise
        except BaseException:      # interrupted while waiting: the answer would come late
            self._discard()
            raise
        self._queued = None
        if status == "error":
            raise value
        return value

    def _call(self, method: str, *args, rows: int | None = None, phases: int = 1,
              inputs=None):
        """A request with one restart and retry; SimulatorCrash if the child dies twice."""
        if self._closed:
            raise BackendError(f"isolated backend of circuit {self._circuit.name!r} is closed")
        points = (rows or 0) * phases
        limit = self.timeout if self.timeout is not None else \
            request_time_limit(points, len(self._circuit.elements))
        reasons = []
        for attempt in range(2):
            if self._process is None:
                self._start()
            try:
                return self._request(method, args, limit)
            except _TimedOut:
                row = int(self._row.value)
                self._discard()
                raise self._timed_out(method, limit, points,
                                      self._where(method, row, rows, phases, inputs),
                                      None if row < 0 or rows is None else row // phases) \
                    from None
            except _Died as death:
                row = int(self._row.value)
                reasons.append(str(death))
                self._discard()
                where = self._where(method, row, rows, phases, inputs)
                if attempt == 0:
                    self.restarts += 1
                    LOGGER.warning("ngspice child process died %s (%s); restarting it and "
                                   "retrying once", where, death)
                    continue
                raise SimulatorCrash(
                    f"ngspice died {where}, twice ({reasons[0]}; after a restart: "
                    f"{reasons[1]}); the circuit or this sample crashes the simulator",
                    row=None if row < 0 or rows is None else row // phases,
                    reason=reasons[-1]) from None

    def _timed_out(self, method: str, limit: float, points: int, where: str, row):
        """The one-line error of a request stopped at its time limit."""
        what = f"{method} of {points} operating point{'s' if points != 1 else ''}" \
            if points else method
        kind = "the default time limit of this request" if self.timeout is None else \
            "the time limit given for each request"
        return SimulatorTimeout(
            f"ngspice gave no answer within {limit:g} s, {kind} ({what}, "
            f"{where.removeprefix('during ' + method + ' of ')}); it was stopped (a "
            f"circuit ngspice cannot settle, e.g. a floating transistor body, can run without "
            f"end); for a longer legitimate run set {TIME_LIMIT_VARIABLE}=SECONDS (per "
            f"request) or timeout= of make_backend", row=row, reason=f"time limit {limit:g} s")

    def _where(self, method, row, rows, phases, inputs) -> str:
        name = self._circuit.name
        if row < 0 or rows is None:
            return f"during {method} of circuit {name!r}"
        sample = row // phases
        text = f"while solving sample row {sample} of a batch of {rows}"
        if phases > 1:
            text += f" (phase {row % phases + 1} of {phases})"
        if inputs is not None and 0 <= sample < len(inputs):
            x = np.asarray(inputs[sample]).ravel()
            shown = ", ".join(f"{v:.6g}" for v in x[:8]) + (", ..." if x.size > 8 else "")
            text += f", inputs [{shown}]"
        return text + f", circuit {name!r}"

    # -- the Backend interface -------------------------------------------------------------
    def solve(self, inputs, beta: float = 0.0, targets=None):
        """Operating points for a batch (see :meth:`Backend.solve`), computed in the child."""
        inputs, beta, targets = self._prepare(inputs, beta, targets)
        return self._call("solve", inputs, beta, targets, rows=len(inputs), inputs=inputs)

    def solve_phases(self, inputs, targets, betas) -> list:
        """The phases of one batch (see :meth:`Backend.solve_phases`), computed in the child."""
        betas = [float(b) for b in betas]
        prepared = [self._prepare(inputs, beta, targets) for beta in betas]
        inputs, _, targets = prepared[-1]
        return self._call("solve_phases", inputs, targets, betas, rows=len(inputs),
                          phases=len(betas), inputs=inputs)

    def set_values(self, values: dict) -> None:
        """Change element values (in the child, and in the copy kept for restarts)."""
        values = {str(name): float(value) for name, value in values.items()}
        for name in values:
            self._circuit.element(name)          # unknown names: CircuitError here
        self._call("set_values", values)
        self.circuit = self.circuit.with_values(values)
        if self._trainable is not None:
            position = {name: k for k, name in enumerate(self._circuit.trainable)}
            for name, value in values.items():
                if name in position:
                    self._trainable[position[name]] = value

    def set_trainable(self, values) -> None:
        """New values of every trainable element (checked here), sent to the child with the
        next request (one pipe round trip per training minibatch instead of two); an error the
        child's backend raises for them is raised by that request."""
        values = self._checked_trainable(values).copy()
        self._pending = values
        self._trainable = values
        self._queued = values

    @property
    def stats(self) -> dict:
        """The child backend's counters (see NgspiceBackend.stats) plus ``restarts``."""
        stats = self._call("stats") if not self._closed else {}
        return {**stats, "restarts": self.restarts}

    def close(self) -> None:
        """Stop the child (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._process is not None:
            try:
                self._connection.send(("close", (), None))
            except (OSError, ValueError):
                pass
            try:
                self._process.wait(5.0)
            except subprocess.TimeoutExpired:
                pass
            self._discard()
        self._row.map.close()
        self._row_file.close()
        self._workdir_finalizer()

    def __repr__(self):
        state = "closed" if self._closed else f"child pid {self.pid}"
        return f"<IsolatedBackend {self._circuit.name!r} ({state}, {self.restarts} restarts)>"


__all__ = ["IsolatedBackend", "ngspice_factory", "START_TIMEOUT", "TIME_LIMIT_VARIABLE",
           "request_time_limit", "time_limit_from_environment"]
