"""The ngspice backend: DC operating points computed by ngspice's shared library.

ngspice is reached through PySpice's ``NgSpiceShared`` (cffi bindings of ``libngspice``), but
only through one thin adapter, :class:`NgspiceSession`, which

* finds and loads the library (``NGSPICE_LIBRARY_PATH``, else ``ctypes.util.find_library``;
  Debian ships only ``libngspice.so.0``, which PySpice would not find by itself),
* captures every line ngspice writes (it never reaches the terminal unless asked) into a
  bounded buffer and the logger ``eqprop_hw.ngspice``, and classifies each line with the pure
  function :func:`classify_message` (newer ngspice writes harmless notes such as
  ``Using SPARSE 1.3`` or gmin-stepping progress on stderr, which PySpice mistakes for
  failures),
* runs commands directly (``ngSpice_Command``), reads result vectors directly
  (``ngGet_Vec_Info``) and keeps exactly one circuit loaded.

ngspice is not re-entrant and there is one ngspice per process, so there is one session per
process (:meth:`NgspiceSession.get`). Several :class:`NgspiceBackend` objects may share it: the
circuit of whichever backend solves is loaded, replacing the previous one (a backend that lost
the session reloads its circuit, with its current values, on its next solve).

:class:`NgspiceBackend` loads its netlist once and then, per sample, only ``alter``\\ s the
sources whose values changed (inputs, nudging targets, nudging gain), runs ``op``, reads the
node voltages and frees the result plot (``destroy all``, sent in the same ngspice command as
the next operating point's ``alter``\\ s; every analysis otherwise keeps its plot, memory grows
without bound and every later command slows down). The phases of a sample run back to back,
every other sample in reverse order, so that consecutive samples meet in the same phase. A
conductance update ``alter``\\ s only the conductances that changed. ngspice's command
interpreter costs about 2 µs per ``alter`` whatever its form (``docs/performance.md``), so the
number of ``alter``\\ s is what counts.

:func:`read_raw_file` and :func:`run_ngspice_batch` run the ``ngspice`` program itself on a
netlist, independently of the shared library, for cross-checks.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> circuit = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [2, 3, 1]}))
>>> with NgspiceBackend(circuit) as backend:                     # doctest: +SKIP
...     result = backend.solve([[0.5, -0.5], [1.0, 0.0]])
...     result.outputs.shape
(2, 1)
"""

from __future__ import annotations

import ctypes.util
import functools
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Sequence
from collections import deque
from pathlib import Path

import numpy as np

from eqprop_hw.backends.base import Backend, SolveResult
from eqprop_hw.errors import BackendError, CircuitError, ConvergenceError
from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.circuit.netlist import BETA_SOURCE, fmt, netlist_lines, nudge_elements
from eqprop_hw.circuit.spice_grammar import check_lines, join_lines

LOGGER = logging.getLogger("eqprop_hw.ngspice")

INSTALL_HINT = "install with `apt-get install -y ngspice libngspice0`"

#: ``alter`` parameter that sets an element's value, per element type. ``alter NAME VALUE``
#: (no parameter name) works for R, V and I in ngspice 39, but E and G answer "no default
#: parameter", so the name is always given.
ALTER_PARAMETER = {"R": "resistance", "V": "dc", "I": "dc", "E": "gain", "G": "gain",
                   "F": "gain", "H": "gain", "C": "capacitance", "L": "inductance", "D": "area"}

#: Retries after a failed ``op``. ngspice's own ``op`` already falls back from Newton to
#: dynamic gmin stepping, true gmin stepping, adaptive source stepping and a transient
#: operating point. The retries switch to what else ngspice 39 offers: many more Newton
#: iterations (``itl1``, and ``itl2`` which bounds each stepping stage), the fixed SPICE3 gmin
#: ladder (``gminsteps`` = n > 1 starts at ``gmin * 10**n`` and divides by 10 per step, so
#: n = 12 starts near 1 S; do not use large n: 100 starts at 1e88 S) and the SPICE3 source
#: ladder (``srcsteps`` = n > 1 equal steps), and skipping the first Newton attempt
#: (``noopiter``). The circuit's options are restored after each retry.
OP_RETRIES = (
    ("itl1=itl2=1000, SPICE3 gmin ladder from 1 S, 100 source steps",
     "option itl1=1000 itl2=1000 gminsteps=12 srcsteps=100"),
    ("noopiter, itl1=itl2=1000, dynamic gmin and source stepping",
     "option noopiter itl1=1000 itl2=1000 gminsteps=1 srcsteps=1"),
)

#: ngspice's defaults for the options the retries change (read back from ``option``).
DEFAULT_OP_OPTIONS = {"itl1": 100, "itl2": 50, "gminsteps": 1, "srcsteps": 1}

#: Length limit (characters) of one command sent to ngspice: longer ``alter`` lists are split.
MAX_COMMAND_LENGTH = 1000

#: :meth:`NgspiceBackend.set_trainable` leaves a conductance alone when it changed by no more than
#: this fraction of the value ngspice holds (voltages then differ by ~1e-15 relative at most).
UNCHANGED_RELATIVE = 1e-15

#: Clear ngspice's command memory (``ngSpice_Command(NULL)``) after this many commands.
COMMANDS_BEFORE_RESET = 1000


# -- message classification --------------------------------------------------------------------
_HARMLESS = re.compile(
    r"^(?:\*\*|\*\s*$|note:|using sparse|doing analysis at|no\. of data (?:rows|columns)|"
    r"reference value|circuit:|binary raw file|ascii raw file|total analysis time|"
    r"total elapsed time|total dram|dram currently|maximum ngspice|current ngspice|"
    r"shared ngspice|text \(code\)|stack =|library pages|initial transient solution|"
    r"-+$|node\s+voltage|source\s+current|supplies reduced|ngspice-\d+ done|"
    r"unsupported ngspice version|current simulation options|temperatures:|"
    r"integration method|tolerances \(|truncation error correction|iteration limits:|"
    r"conductances:|default parameters for|default [mlw]:|default a[ds]:)",
    re.IGNORECASE)
_WARNING = re.compile(r"^(?:warning|trying gmin|command '.*' is ignored)", re.IGNORECASE)
_ERROR = re.compile(
    r"(?:\berror\b|simulation\(s\) aborted|timestep too small|no convergence|"
    r"singular matrix|dc solution failed|^doanalyses|iteration limit|gmin step failed|"
    r"no such (?:command|device|vector|file)|unknown (?:subckt|model|parameter|device)|"
    r"there aren't any circuits|cannot|can't|fatal|could not|unable to|not found|"
    r"too few|too many|illegal|undefined|syntax)",
    re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _classify(text: str) -> str:
    if not text or _HARMLESS.match(text):
        return "info"
    if _WARNING.match(text):
        return "warning"
    if _ERROR.search(text):
        return "error"
    return "info"


def classify_message(line: str) -> str:
    """Classify one line of ngspice output.

    Parameters
    ----------
    line : str
        A line as ngspice's output callback delivers it, with or without the ``stdout `` /
        ``stderr `` prefix.

    Returns
    -------
    str
        ``"info"`` for known-harmless output (banner, ``Note: ...``, ``Using SPARSE 1.3``,
        analysis progress, tables) and for anything unrecognised that does not look like an
        error; ``"warning"`` for ``Warning: ...`` lines and gmin-stepping progress (including
        ``Warning: singular matrix`` reported while stepping, which the stepping may cure);
        ``"error"`` for real errors (``Error: ...``, ``singular matrix``, ``Timestep too
        small``, ``no convergence``, ``simulation(s) aborted``, unknown commands or devices).

    Notes
    -----
    Whether an analysis failed is not decided by single lines alone: the backend also checks
    that result vectors exist and are finite.

    Examples
    --------
    >>> classify_message("stderr Using SPARSE 1.3 as Direct Linear Solver")
    'info'
    >>> classify_message("stderr Note: Starting dynamic gmin stepping")
    'info'
    >>> classify_message("stderr Warning: singular matrix:  check node v1#branch")
    'warning'
    >>> classify_message("stderr doAnalyses: OP:  Timestep too small; cause unrecorded.")
    'error'
    """
    if line.startswith(("stdout ", "stderr ")):
        line = line[7:]
    return _classify(line.strip())


def is_harmless(line: str) -> bool:
    """True unless :func:`classify_message` calls the line an ``"error"``."""
    return classify_message(line) != "error"


# -- the ngspice program and its raw files -----------------------------------------------------
def _raw_aliases(vectors: dict) -> dict:
    """Add ``node`` for every ``v(node)`` so raw-file and shared-library names agree."""
    for name in list(vectors):
        match = re.fullmatch(r"v\(([^(),]+)\)", name)
        if match and match.group(1) not in vectors:
            vectors[match.group(1)] = vectors[name]
    return vectors


def read_raw_plots(path: str | Path) -> list[tuple[str, dict]]:
    """Every plot of a SPICE raw file (ASCII or binary, as ngspice writes them).

    Parameters
    ----------
    path : str or Path
        The raw file (``ngspice -b -r FILE``; ``SPICE_ASCIIRAWFILE=1`` selects ASCII).

    Returns
    -------
    list of (str, dict)
        ``(plot name, vectors)`` per plot in file order; ``vectors`` maps the lower-case
        vector name (``v(out0)``, ``i(v1)``, ``time``) to a float (or complex) ndarray of
        length ``No. Points``; node voltages are also available under the bare node name
        (``out0``). Units are SI (V, A, s, Hz).

    Raises
    ------
    BackendError
        If the file is missing or malformed.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BackendError(f"cannot read ngspice raw file {path}: {error}") from None
    plots = []
    position = 0
    while position < len(data):
        header = {}
        names: list[str] = []
        while True:
            end = data.find(b"\n", position)
            if end < 0:
                if header:
                    raise BackendError(f"{path}: raw file ends inside a header")
                return plots
            line = data[position:end].decode("latin-1").rstrip("\r")
            position = end + 1
            if not line.strip() and not header:
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "variables":
                count = int(header.get("no. variables", "0"))
                for _ in range(count):
                    end = data.find(b"\n", position)
                    fields = data[position:end].decode("latin-1").split()
                    position = end + 1
                    if len(fields) < 2:
                        raise BackendError(f"{path}: malformed variable line {fields!r}")
                    names.append(fields[1].lower())
                continue
            if key in ("values", "binary"):
                header["format"] = key
                break
            header[key] = value.strip()
        try:
            n_vars = int(header["no. variables"])
            n_points = int(header["no. points"])
        except (KeyError, ValueError):
            raise BackendError(f"{path}: raw file header lacks 'No. Variables'/'No. Points'") \
                from None
        complex_data = "complex" in header.get("flags", "").lower()
        if header["format"] == "binary":
            width = n_vars * (16 if complex_data else 8)
            chunk = data[position:position + width * n_points]
            if len(chunk) != width * n_points:
                raise BackendError(f"{path}: binary raw data is truncated")
            position += width * n_points
            array = np.frombuffer(chunk, dtype="<f8")
            if complex_data:
                array = array[0::2] + 1j * array[1::2]
            table = array.reshape(n_points, n_vars)
        else:
            table = np.zeros((n_points, n_vars), dtype=complex if complex_data else float)
            tokens = []
            needed = n_points * (n_vars + 1)
            while len(tokens) < needed and position < len(data):
                end = data.find(b"\n", position)
                end = len(data) if end < 0 else end
                tokens.extend(data[position:end].decode("latin-1").split())
                position = end + 1
            if len(tokens) < needed:
                raise BackendError(f"{path}: ASCII raw data is truncated")
            for point in range(n_points):
                row = tokens[point * (n_vars + 1) + 1:(point + 1) * (n_vars + 1)]
                for k, token in enumerate(row):
                    if complex_data:
                        re_part, _, im_part = token.partition(",")
                        table[point, k] = complex(float(re_part), float(im_part or 0.0))
                    else:
                        table[point, k] = float(token)
        vectors = {name: np.array(table[:, k]) for k, name in enumerate(names)}
        plots.append((header.get("plotname", ""), _raw_aliases(vectors)))
    return plots


def read_raw_file(path: str | Path, plot: int = -1) -> dict[str, np.ndarray]:
    """The vectors of one plot of a SPICE raw file.

    Parameters
    ----------
    path : str or Path
        Raw file written by ``ngspice -b -r FILE`` (ASCII or binary).
    plot : int
        Which plot (index in file order; default the last one).

    Returns
    -------
    dict of str to ndarray
        Lower-case vector name -> values (V for ``v(node)`` and ``node``, A for ``i(src)``).

    Raises
    ------
    BackendError
        If the file is missing, malformed or holds no plot.
    """
    plots = read_raw_plots(path)
    if not plots:
        raise BackendError(f"{path}: raw file holds no plot")
    return plots[plot][1]


def find_ngspice_program() -> str:
    """Path of the ``ngspice`` program; BackendError with an install hint if missing."""
    program = shutil.which("ngspice")
    if program is None:
        raise BackendError(f"ngspice program not found on PATH: {INSTALL_HINT}")
    return program


def run_ngspice_batch(netlist_text: str, timeout: float = 600.0,
                      program: str | None = None) -> dict[str, np.ndarray]:
    """Run the ``ngspice`` program in batch mode on a netlist and return its vectors.

    The netlist is written to a temporary directory and run as
    ``ngspice -b -r out.raw circuit.cir`` with ``SPICE_ASCIIRAWFILE=1``; the raw file is read
    with :func:`read_raw_file`. This uses no shared library and no state of this process, so it
    is the independent reference for the backend.

    Parameters
    ----------
    netlist_text : str
        A complete netlist with an analysis card (e.g. from ``write_netlist(..., analysis="op")``).
    timeout : float
        Seconds before the run is abandoned.
    program : str, optional
        The ngspice executable (default: ``ngspice`` on PATH).

    Returns
    -------
    dict of str to ndarray
        Vectors of the last plot (V, A); node voltages under ``v(node)`` and ``node``.

    Raises
    ------
    ConvergenceError
        If ngspice reports that the analysis failed.
    BackendError
        If ngspice is missing, times out, rejects the netlist or writes no raw file.
    """
    program = program or find_ngspice_program()
    text = netlist_text if netlist_text.endswith("\n") else netlist_text + "\n"
    with tempfile.TemporaryDirectory(prefix="eqprop-ngspice-") as directory:
        circuit_file = Path(directory, "circuit.cir")
        raw_file = Path(directory, "out.raw")
        circuit_file.write_text(text + "\n", encoding="ascii")
        env = dict(os.environ, SPICE_ASCIIRAWFILE="1", LC_NUMERIC="C")
        try:
            proc = subprocess.run([program, "-b", "-r", raw_file.name, circuit_file.name],
                                  cwd=directory, capture_output=True, text=True,
                                  timeout=timeout, env=env, errors="replace")
        except subprocess.TimeoutExpired:
            raise BackendError(f"ngspice batch run timed out after {timeout} s") from None
        except OSError as error:
            raise BackendError(f"cannot run {program}: {error}") from None
        lines = (proc.stdout + "\n" + proc.stderr).splitlines()
        errors = [line.strip() for line in lines if classify_message(line) == "error"]
        if errors and any(_is_analysis_failure(line) for line in errors):
            raise ConvergenceError("ngspice batch run: analysis failed: " + " | ".join(errors[-4:]))
        if proc.returncode != 0 or errors or not raw_file.exists():
            detail = " | ".join(errors[-4:]) or (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise BackendError(f"ngspice batch run failed (exit status {proc.returncode}): "
                               f"{detail}")
        return read_raw_file(raw_file)


def _is_analysis_failure(line: str) -> bool:
    return bool(re.search(r"simulation\(s\) aborted|timestep too small|no convergence|"
                          r"dc solution failed|singular matrix|^doanalyses|iteration limit",
                          line, re.IGNORECASE))


# -- the shared library ------------------------------------------------------------------------
def find_ngspice_library() -> str:
    """Name or path of ngspice's shared library, checked to be loadable.

    ``NGSPICE_LIBRARY_PATH`` wins when set; otherwise ``ctypes.util.find_library('ngspice')``
    (``libngspice.so.0`` on Debian, which ships no ``libngspice.so`` link).

    Raises
    ------
    BackendError
        ``ngspice shared library not found: install with ...`` when nothing loadable is found.
    """
    library = os.environ.get("NGSPICE_LIBRARY_PATH") or ctypes.util.find_library("ngspice")
    if not library:
        raise BackendError(f"ngspice shared library not found: {INSTALL_HINT}")
    try:
        ctypes.CDLL(library)
    except OSError as error:
        raise BackendError(f"ngspice shared library not found ({library}: {error}): "
                           f"{INSTALL_HINT}") from None
    return library


class _PySpiceLogFilter(logging.Filter):
    """Keeps PySpice's own log records (e.g. "Unsupported Ngspice version 39") off the terminal
    while the session creates or drives ngspice. While ``captured`` is a list, dropped records'
    messages are appended to it."""

    def __init__(self):
        super().__init__()
        self.active = False
        self.captured: list[str] | None = None

    def filter(self, record):
        if self.active:
            if self.captured is not None:
                self.captured.append(record.getMessage())
            return False
        return True


_CAPTURING_CLASS = None


def _capturing_class(shared_class, ffi):
    """A subclass of PySpice's NgSpiceShared whose output callback feeds the session."""
    global _CAPTURING_CLASS
    if _CAPTURING_CLASS is not None:
        return _CAPTURING_CLASS

    class CapturingNgSpiceShared(shared_class):
        """NgSpiceShared whose ``_send_char`` classifies lines itself and forwards them.

        PySpice's own methods (``exec_command``, ``load_circuit``) keep working and now fail
        only on real errors, not on harmless stderr notes.
        """

        eqprop_sink = None
        #: Wall time (s) spent in this output callback (Python called from inside ngspice).
        eqprop_callback_seconds = 0.0

        @staticmethod
        def _send_char(message_c, ngspice_id, user_data, _parsed={}):
            # ngspice repeats a handful of lines (two per ``op``), so each distinct line is
            # decoded and classified once: (stream, content, is_error, message) per raw bytes.
            _clock = time.perf_counter
            started = _clock()
            self = None
            try:
                self = ffi.from_handle(user_data)
                raw = ffi.string(message_c)
                parsed = _parsed.get(raw)
                if parsed is None:
                    message = raw.decode("utf-8", "replace")
                    stream, _, content = message.partition(" ")
                    parsed = (stream, content, classify_message(content) == "error", message)
                    if len(_parsed) < 4096:
                        _parsed[raw] = parsed
                stream, content, is_error, message = parsed
                if stream == "stderr":
                    self._stderr.append(content)
                    if is_error:
                        self._error_in_stderr = True
                elif stream == "stdout":
                    self._stdout.append(content)
                    if is_error:
                        self._error_in_stdout = True
                sink = self.eqprop_sink
                if sink is not None:
                    sink(message)
            except Exception:  # noqa: BLE001 - never raise through C
                pass
            if self is not None:
                self.eqprop_callback_seconds += _clock() - started
            return 0

        @staticmethod
        def _send_init_data(data, ngspice_id, user_data):
            # Called at the start of every analysis; PySpice's version only forwards to a
            # no-op hook, so answer at once.
            return 0

    _CAPTURING_CLASS = CapturingNgSpiceShared
    return CapturingNgSpiceShared


class NgspiceSession:
    """The process's one ngspice, behind a small API.

    Use :meth:`get`; do not construct directly. All methods are serialised by :attr:`lock`
    (an ``RLock``): ngspice is not re-entrant.

    Attributes
    ----------
    library : str
        The shared library loaded.
    version : int or None
        ngspice version (39 for Debian 12).
    messages : collections.deque of str
        The last 2000 lines ngspice wrote (any command, any backend).
    owner : object or None
        Token of the backend whose circuit is loaded.
    sink : callable or None
        ``sink(level, text)`` called for every line while set (the active backend's log).
    commands : int
        Commands sent so far.
    command_seconds, read_seconds : float
        Wall time (s) inside ``ngSpice_Command`` calls and inside vector reads; with
        :attr:`callback_seconds` (Python run by ngspice's output callback meanwhile) they split
        a solve's time into libngspice and Python (``tools/bench_ep.py``).
    warnings : list of str
        Warning lines of the last command.
    """

    _instance = None
    _creation_error: BackendError | None = None
    _class_lock = threading.Lock()

    @classmethod
    def get(cls) -> "NgspiceSession":
        """The per-process session, created (library loaded) on first use.

        Raises
        ------
        BackendError
            If PySpice or the shared library cannot be loaded (the same error on every call).
        """
        with cls._class_lock:
            if cls._instance is None:
                if cls._creation_error is not None:
                    raise cls._creation_error
                try:
                    cls._instance = cls()
                except BackendError as error:
                    cls._creation_error = error
                    raise
            return cls._instance

    def __init__(self):
        library = find_ngspice_library()
        if "NGSPICE_LIBRARY_PATH" not in os.environ:
            os.environ["NGSPICE_LIBRARY_PATH"] = library
        os.environ["LC_NUMERIC"] = "C"
        try:
            from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi
        except ImportError as error:
            raise BackendError(f"PySpice is not importable ({error}): pip install PySpice") \
                from None
        self.library = library
        self.lock = threading.RLock()
        self.messages: deque = deque(maxlen=2000)
        self.owner = None
        self.sink = None
        self.commands = 0
        #: Wall time (s) inside ``ngSpice_Command`` calls (output callbacks included: see
        #: :attr:`callback_seconds`) and inside vector reads (``ngGet_Vec_Info`` loops).
        self.command_seconds = 0.0
        self.read_seconds = 0.0
        self.circuit_name: str | None = None
        self._errors: list[str] = []
        self.warnings: list[str] = []
        self._capture: list[str] | None = None
        self._parsed_messages: dict = {}
        self._op_options: dict | None = None
        self._ffi = ffi
        self._log_filter = _PySpiceLogFilter()
        NgSpiceShared._logger.addFilter(self._log_filter)
        self._log_filter.active = True
        self._log_filter.captured = []
        try:
            existing = NgSpiceShared._instances.get(0)
            if existing is not None and existing.__class__ is _CAPTURING_CLASS:
                shared, existing = existing, None          # ours, from an earlier session
                shared.eqprop_sink = self._on_message
            elif existing is not None:
                # Someone already created PySpice's instance (one ngspice per process): use it
                # and listen through its send_char hook.
                shared = existing
                shared.send_char = lambda message, ngspice_id: self._on_message(message) or 0
            else:
                cls = _capturing_class(NgSpiceShared, ffi)
                cls.LIBRARY_PATH = library
                try:
                    shared = cls(ngspice_id=0, send_data=False)
                except OSError as error:
                    raise BackendError(f"ngspice shared library not found ({library}: "
                                       f"{error}): {INSTALL_HINT}") from None
                except Exception as error:  # noqa: BLE001 - PySpice raises NameError etc.
                    raise BackendError(f"cannot start ngspice from {library}: {error}") \
                        from None
                shared.eqprop_sink = self._on_message
                NgSpiceShared._instances[0] = shared
        finally:
            self._log_filter.active = False
            for text in self._log_filter.captured:
                self.messages.append(text)
                LOGGER.debug("PySpice: %s", text)
            self._log_filter.captured = None
        self._shared = shared
        self.version = getattr(shared, "_ngspice_version", None)
        self._lib = shared._ngspice_shared
        self._command_c = self._lib.ngSpice_Command
        self._get_vec = self._lib.ngGet_Vec_Info
        self._foreign = existing is not None
        self.circuit_loaded = False

    # -- output --------------------------------------------------------------------------------
    def _on_message(self, message: str) -> None:
        parsed = self._parsed_messages.get(message)
        if parsed is None:
            text = message[7:] if message.startswith(("stdout ", "stderr ")) else message
            text = text.strip()
            parsed = (text, _classify(text) if text else "info")
            if len(self._parsed_messages) < 4096:
                self._parsed_messages[message] = parsed
        text, level = parsed
        if not text:
            return
        self.messages.append(text)
        if level == "error":
            self._errors.append(text)
        elif level == "warning":
            self.warnings.append(text)
        if self._capture is not None:
            self._capture.append(text)
        LOGGER.log(logging.DEBUG if level == "info" else logging.INFO, text)
        sink = self.sink
        if sink is not None:
            sink(level, text)

    # -- commands ------------------------------------------------------------------------------
    def command(self, text: str) -> list[str]:
        """Run one ngspice command line (several may be joined with ``;``).

        Parameters
        ----------
        text : str
            The command, e.g. ``"alter VX0P dc=0.5; alter VX0N dc=-0.5"``.

        Returns
        -------
        list of str
            The error lines (see :func:`classify_message`) ngspice wrote meanwhile; empty when
            all went well.

        Raises
        ------
        BackendError
            If ngspice refuses the command altogether (non-zero return).
        """
        with self.lock:
            self._errors = errors = []
            self.warnings = []
            shared = self._shared
            if shared._stdout:
                shared._stdout = []
            if shared._stderr:
                shared._stderr = []
            data = text.encode("ascii")
            clock = time.perf_counter
            if self._foreign:
                self._log_filter.active = True
            try:
                started = clock()
                rc = self._command_c(data)
                self.command_seconds += clock() - started
            finally:
                if self._foreign:
                    self._log_filter.active = False
            self.commands += 1
            if self.commands % COMMANDS_BEFORE_RESET == 0:
                self._command_c(self._ffi.NULL)          # free ngspice's command memory
            if rc != 0:
                raise BackendError(f"ngspice refused command {text[:80]!r} (return code {rc}): "
                                   + " | ".join(errors[-3:]))
            return errors

    def load(self, lines: Sequence[str], owner, name: str = "") -> None:
        """Load a circuit, replacing whatever circuit is loaded.

        Parameters
        ----------
        lines : sequence of str
            The netlist's lines as a writer produced them (title line first, ``.end`` last, no
            analysis card needed; :func:`eqprop_hw.circuit.netlist.netlist_lines`). They are handed
            to ngspice one by one, never re-split: a line holding a line break or any
            character outside printable ASCII is refused
            (:func:`eqprop_hw.circuit.spice_grammar.check_lines`).
        owner : object
            Token recorded in :attr:`owner`.
        name : str
            Circuit name for messages.

        Raises
        ------
        BackendError
            If ngspice reports an error while parsing the netlist.
        """
        ffi = self._ffi
        with self.lock:
            self.remove()
            if isinstance(lines, str):
                raise TypeError("load takes the netlist's lines (a list), not its text")
            lines = [line for line in check_lines(lines) if line.strip()]
            lines.append("")                       # PySpice issue #264: empty line after .end
            keep = [ffi.new("char[]", line.encode("ascii")) for line in lines]
            array = ffi.new("char *[]", keep + [ffi.NULL])
            self._errors = []
            self._capture = []
            self._log_filter.active = self._foreign
            try:
                rc = self._lib.ngSpice_Circ(array)
            finally:
                said, self._capture = self._capture, None
                self._log_filter.active = False
            errors = list(self._errors)
            if rc != 0 or errors:
                self.circuit_loaded = True         # whatever got in, remove it
                self.remove()
                context = said[said.index(errors[0]):] if errors and errors[0] in said else errors
                detail = " | ".join(context)
                if len(detail) > 600:
                    detail = detail[:600] + " ..."
                raise BackendError(f"ngspice could not load circuit {name!r}: "
                                   + (detail or f"return code {rc}"))
            self.owner = owner
            self.circuit_name = name
            self.circuit_loaded = True
            self._op_options = None

    def remove(self, owner=None) -> None:
        """Remove the loaded circuit and all result plots.

        Parameters
        ----------
        owner : object, optional
            Only remove the circuit if this token owns it.
        """
        with self.lock:
            if owner is not None and owner is not self.owner:
                return
            if self.circuit_loaded:
                self.command("destroy all")
                self.command("remcirc")
            self.circuit_loaded = False
            self.owner = None
            self.circuit_name = None

    def destroy_plots(self) -> None:
        """Free every result plot (``destroy all``)."""
        self.command("destroy all")

    def plot_names(self) -> list[str]:
        """Names of the result plots ngspice holds (``["const"]`` when all are freed)."""
        with self.lock:
            return list(self._shared.plot_names)

    def op_options(self) -> dict:
        """Current ``itl1``, ``gminsteps``, ``srcsteps`` of the loaded circuit (read once)."""
        with self.lock:
            if self._op_options is None:
                options = dict(DEFAULT_OP_OPTIONS)
                self._capture = []
                try:
                    self.command("option")
                    text = "\n".join(self._capture)
                finally:
                    self._capture = None
                for key, pattern in (("itl1", r"itl1 \(DC iterations\) = (\d+)"),
                                     ("itl2", r"itl2 \(DC transfer curve iterations\) = (\d+)"),
                                     ("gminsteps", r"gminsteps = (-?\d+)"),
                                     ("srcsteps", r"srcsteps = (-?\d+)")):
                    match = re.search(pattern, text)
                    if match:
                        options[key] = int(match.group(1))
                self._op_options = options
            return self._op_options

    def read_vectors(self, names: list, out: np.ndarray) -> str | None:
        """Copy the first value of each named vector of the current plot into ``out``.

        Parameters
        ----------
        names : list of bytes
            Vector names (lower-case node names, ASCII-encoded).
        out : ndarray, shape (len(names),)
            Destination (V for node voltages).

        Returns
        -------
        str or None
            The first name that has no value (analysis failed), else None.
        """
        get = self._get_vec
        started = time.perf_counter()
        try:
            # ngGet_Vec_Info returns one struct that its next call frees: read it at once.
            values = [data[0]
                      if (info := get(name)) and (data := info.v_realdata) and info.v_length > 0
                      else None for name in names]
            if None in values:
                return names[values.index(None)].decode()
            out[:] = values
            return None
        finally:
            self.read_seconds += time.perf_counter() - started

    @property
    def callback_seconds(self) -> float:
        """Wall time (s) in ngspice's output callback (Python run from inside commands)."""
        return float(getattr(self._shared, "eqprop_callback_seconds", 0.0))


def _chunks(text: str, limit: int = MAX_COMMAND_LENGTH) -> list[str]:
    """Split commands joined by ``"; "`` into pieces of at most ``limit - 2`` characters, cut
    only between commands (a single longer command is a piece of its own)."""
    pieces = []
    start, end = 0, len(text)
    while end - start > limit - 2:
        cut = text.rfind("; ", start, start + limit)
        if cut <= start:
            cut = text.find("; ", start + 1)
            if cut < 0:
                break
        pieces.append(text[start:cut])
        start = cut + 2
    if start < end:
        pieces.append(text[start:])
    return pieces


# -- the backend -------------------------------------------------------------------------------
def _make_sink(log, verbose: bool):
    targets = []
    if isinstance(log, list):
        targets.append(lambda level, text: log.append(text))
    elif isinstance(log, logging.Logger):
        targets.append(lambda level, text: log.log(
            logging.DEBUG if level == "info" else logging.INFO, text))
    elif callable(log):
        targets.append(log)
    elif log is not None:
        raise TypeError("log must be None, a list, a logging.Logger or a callable(level, text)")
    if verbose:
        targets.append(lambda level, text: print(f"ngspice: {text}", file=sys.stderr))
    if not targets:
        return None
    if len(targets) == 1:
        return targets[0]

    def sink(level, text):
        for target in targets:
            target(level, text)
    return sink


class NgspiceBackend(Backend):
    """DC operating points by ngspice's shared library (the physical relaxation).

    Parameters
    ----------
    circuit : Circuit
        The circuit; the backend keeps a copy updated by :meth:`set_values`.
    log : list, logging.Logger or callable, optional
        Extra destination for ngspice's messages while this backend drives it: a list gets each
        line (str; about two lines per sample, so it grows with use), a Logger gets them at
        DEBUG (warnings and errors at INFO), a callable gets ``(level, text)`` with level
        ``"info" | "warning" | "error"``. Messages always also go
        to the logger ``eqprop_hw.ngspice`` and to ``session.messages``; never to the terminal
        unless ``verbose``.
    verbose : bool
        Also print every ngspice line on stderr.
    strict : bool
        Raise :class:`~eqprop_hw.errors.ConvergenceError` when a sample does not converge after
        the retries (default). With ``False`` the row is NaN and ``converged[row]`` False.
    session : NgspiceSession, optional
        Defaults to the per-process session.
    loss : {"squared", "cross_entropy"}
        The nudge loaded with the circuit (see :func:`eqprop_hw.circuit.netlist.nudge_elements`):
        ``GNUDGE{k}`` VCCSs of gain beta (S), or for ``cross_entropy`` the behavioural
        currents ``BNUDGE{k}`` with beta (W) on ``VNUDGEBETA`` and the target probabilities
        on ``VNUDGE{k}``; either way beta and targets change by ``alter`` only.
    temperature : float, optional
        Softmax temperature (V) of the cross-entropy nudge (default 0.1 V).

    Attributes
    ----------
    netlist : str
        The netlist loaded into ngspice (no analysis card; nudging in VCCS form, beta 0).
    stats : dict
        Counters for profiling: ``samples``, ``analyses`` (op runs, retries included),
        ``analysis_seconds`` (wall time inside ``op``), ``alter_seconds`` (per-sample
        ``alter``\\ s of sources and nudging elements, with the previous ``destroy all``
        riding along), ``alters`` (how many), ``update_seconds`` and ``updates`` (conductance
        ``alter``\\ s of :meth:`set_trainable`), ``read_seconds``, ``destroy_seconds`` (lone
        ``destroy all``), ``load_seconds``, ``loads``, ``retries``, ``failures`` and
        ``total_seconds`` (wall time inside :meth:`solve`; the remainder is Python overhead).
    on_row : callable or None
        Called as ``on_row(k)`` before the k-th operating point of a request (row k of a
        :meth:`solve` batch; ``row * n_phases + phase`` in :meth:`solve_phases`). The isolated
        backend (:mod:`eqprop_hw.backends.isolated`) uses it to name the sample during which
        ngspice died.

    Raises
    ------
    BackendError
        If ngspice's shared library cannot be loaded, or ngspice rejects the netlist.
    """

    name = "ngspice"

    def __init__(self, circuit: Circuit, log=None, verbose: bool = False, strict: bool = True,
                 session: NgspiceSession | None = None, loss: str = "squared",
                 temperature: float | None = None):
        super().__init__(circuit, loss, temperature)
        self.session = session or NgspiceSession.get()
        self.strict = strict
        self._sink = _make_sink(log, verbose)
        self._token = object()
        self._closed = False
        self.on_row = None
        n_out = len(circuit.outputs)
        nudges = nudge_elements(circuit, 0.0, [0.0] * n_out, form="vccs", loss=self.loss,
                                temperature=self.temperature)
        # Elements altered per sample: input sources, then VNUDGE{k} (targets), then what
        # carries beta: the gains of GNUDGE{k} (squared loss) or the DC value of VNUDGEBETA,
        # read by the behavioural currents BNUDGE{k} (cross-entropy).
        source_column: dict[str, tuple[int, float]] = {}
        for i, port in enumerate(circuit.inputs):
            for source, gain in port.sources:
                source_column[source] = (i, float(gain))
        self._source_names = list(source_column)
        self._source_inputs = np.array([source_column[s][0] for s in self._source_names],
                                       dtype=int)
        self._source_gains = np.array([source_column[s][1] for s in self._source_names])
        self._vnudge = [f"VNUDGE{k}" for k in range(n_out)]
        self._gnudge = [e.name for e in nudges if e.type == "G" or e.name == BETA_SOURCE]
        self._controlled = self._source_names + self._vnudge + self._gnudge
        self._alter_prefix = [f"alter {name} {ALTER_PARAMETER[name[0]]}="
                              for name in self._controlled]
        self._vector_names = [node.encode("ascii") for node in self.node_names]
        trainable_types = {circuit.element(name).type for name in circuit.trainable}
        self._trainable_prefix = [f"alter {name} resistance=" for name in circuit.trainable] \
            if trainable_types <= {"R"} else []
        self._sent_trainable: np.ndarray | None = None
        self.stats = {"samples": 0, "analyses": 0, "analysis_seconds": 0.0, "alter_seconds": 0.0,
                      "update_seconds": 0.0, "read_seconds": 0.0, "destroy_seconds": 0.0,
                      "alters": 0, "updates": 0,
                      "load_seconds": 0.0, "loads": 0, "retries": 0, "failures": 0,
                      "total_seconds": 0.0}
        self.netlist = ""
        with self.session.lock:
            self._load()

    # -- loading -------------------------------------------------------------------------------
    def _netlist_lines(self) -> list[str]:
        n_out = len(self.circuit.outputs)
        return netlist_lines(self.circuit, analysis="none", beta=0.0, targets=[0.0] * n_out,
                             nudge_form="vccs", loss=self.loss, temperature=self.temperature)

    def _load(self) -> None:
        """(Re)load this backend's circuit into the session with its current values."""
        start = time.perf_counter()
        lines = self._netlist_lines()
        self.netlist = join_lines(lines)
        session = self.session
        previous, session.sink = session.sink, self._sink
        try:
            session.load(lines, self._token, self.circuit.name)
        finally:
            session.sink = previous
        values = {e.name: e.value for e in self.circuit.elements}
        self._applied = [float(values[name]) for name in self._source_names] + \
            [0.0] * (len(self._vnudge) + len(self._gnudge))
        # ngspice parsed the netlist's numbers with its netlist parser, which may round a
        # value differently (1 ulp) from ``alter``'s: the next set_trainable sends every value,
        # so the loaded state is the same as after a set_trainable of the same values.
        self._sent_trainable = None
        self.stats["loads"] += 1
        self.stats["load_seconds"] += time.perf_counter() - start

    def _ensure_loaded(self) -> None:
        if self._closed:
            raise BackendError(f"ngspice backend of circuit {self._circuit.name!r} is closed")
        if self.session.owner is not self._token:
            self._load()

    def _send(self, commands: list[str]) -> None:
        """Send ``alter`` commands joined by ``;`` in chunks; BackendError on any error."""
        for chunk in _chunks("; ".join(commands)):
            errors = self.session.command(chunk)
            if errors:
                raise BackendError(f"ngspice rejected {chunk[:60]!r}...: "
                                   + " | ".join(errors[-3:]))

    # -- solving -------------------------------------------------------------------------------
    def solve(self, inputs, beta: float = 0.0, targets=None) -> SolveResult:
        """Operating points for a batch of inputs (see :meth:`Backend.solve`).

        Parameters
        ----------
        inputs : array_like, shape (batch, n_inputs) or (n_inputs,)
            Input values; source ``s`` of input ``i`` is set to ``gain_s * x_i`` (V or A).
        beta : float
            Nudging conductance (S): the gain of every ``GNUDGE{k}``; 0 is the free phase.
        targets : array_like, shape (batch, n_outputs) or (n_outputs,), optional
            Target voltages (V) set on ``VNUDGE{k}``; required when ``beta != 0``.

        Returns
        -------
        SolveResult
            ``voltages`` (V) in :attr:`node_names` order, ``outputs`` (V), ``converged``.

        Raises
        ------
        ConvergenceError
            If ``op`` fails for a row even after the retries (``strict=True``); the message
            names the circuit, the analysis and the row.
        BackendError
            If ngspice rejects a command.
        """
        start = time.perf_counter()
        inputs, beta, targets = self._prepare(inputs, beta, targets)
        values = self._controlled_values(inputs, targets, beta)
        voltages, converged = self._run_rows(values, inputs, [beta] * len(values))
        return self._result(voltages, converged, start)

    def solve_phases(self, inputs, targets, betas) -> list:
        """Phases of one batch, run sample by sample: the inputs and targets of a sample are
        set once and only the nudging gains change between its phases (fewer ``alter``s)."""
        start = time.perf_counter()
        betas = [float(b) for b in betas]
        prepared = [self._prepare(inputs, beta, targets) for beta in betas]
        inputs, _, targets = prepared[-1]
        batch, n_phases = inputs.shape[0], len(betas)
        per_phase = [self._controlled_values(inputs, targets, beta) for beta in betas]
        # Every other sample runs its phases in reverse, so that consecutive samples meet in
        # the same phase and its nudging values (gains, beta) need no ``alter`` there.
        order = [(row, phase) for row in range(batch)
                 for phase in (range(n_phases) if row % 2 == 0 else
                               range(n_phases - 1, -1, -1))]
        values = np.array([per_phase[phase][row] for row, phase in order])
        labels = [row * n_phases + phase for row, phase in order]
        done, ok = self._run_rows(values, inputs[[row for row, _ in order]],
                                  [betas[phase] for _, phase in order], labels)
        voltages = np.empty_like(done)
        converged = np.empty_like(ok)
        voltages[labels] = done
        converged[labels] = ok
        seconds = (time.perf_counter() - start) / n_phases
        results = []
        for phase in range(n_phases):
            rows = slice(phase, None, n_phases)
            results.append(SolveResult("ngspice", list(self.node_names), voltages[rows],
                                       voltages[rows][:, self.output_columns],
                                       converged[rows], seconds))
        self.stats["total_seconds"] += time.perf_counter() - start
        return results

    def _controlled_values(self, inputs, targets, beta) -> np.ndarray:
        """Values of the altered elements per row: input sources, targets, nudging gains."""
        n_src, n_out = len(self._source_names), len(self._vnudge)
        values = np.empty((inputs.shape[0], len(self._controlled)))
        values[:, :n_src] = inputs[:, self._source_inputs] * self._source_gains
        values[:, n_src:n_src + n_out] = targets
        values[:, n_src + n_out:] = beta
        return values

    def _result(self, voltages, converged, start) -> SolveResult:
        seconds = time.perf_counter() - start
        self.stats["total_seconds"] += seconds
        return SolveResult("ngspice", list(self.node_names), voltages,
                           voltages[:, self.output_columns], converged, seconds)

    def _run_rows(self, values: np.ndarray, inputs: np.ndarray, betas: list, labels=None):
        """One ``op`` per row of controlled values, altering only what changed.

        :attr:`on_row` gets ``labels[k]`` for row ``k`` (default ``k``). The result plot
        of each ``op`` is freed (``destroy all``) in the same ngspice command as the next row's
        ``alter``\\ s, and after the last row.
        """
        batch = values.shape[0]
        rows = values.tolist()
        voltages = np.empty((batch, len(self.node_names)))
        converged = np.ones(batch, dtype=bool)
        session = self.session
        command = session.command
        read = session.read_vectors
        send = self._send
        clock = time.perf_counter
        prefixes = self._alter_prefix
        names = self._vector_names
        labels = range(batch) if labels is None else labels
        alter_seconds = analysis_seconds = read_seconds = destroy_seconds = 0.0
        alters = analyses = 0
        with session.lock:
            previous, session.sink = session.sink, self._sink
            plot = False                     # an op's result plot waits to be destroyed
            try:
                self._ensure_loaded()
                applied = self._applied
                on_row = self.on_row
                for row in range(batch):
                    if on_row is not None:
                        on_row(labels[row])
                    row_values = rows[row]
                    changes = [prefixes[j] + repr(v) for j, (v, old) in
                               enumerate(zip(row_values, applied)) if v != old]
                    if changes:
                        t0 = clock()
                        alters += len(changes)
                        if plot:
                            changes.insert(0, "destroy all")
                            plot = False
                        try:
                            send(changes)
                        except BackendError:
                            applied[:] = [math.nan] * len(applied)   # unknown: re-send all
                            raise
                        applied[:] = row_values
                        alter_seconds += clock() - t0
                    elif plot:
                        t0 = clock()
                        command("destroy all")
                        plot = False
                        destroy_seconds += clock() - t0
                    t0 = clock()
                    errors = command("op")
                    t1 = clock()
                    plot = True
                    missing = None if errors else read(names, voltages[row])
                    analyses += 1
                    analysis_seconds += t1 - t0
                    read_seconds += clock() - t1
                    if errors or missing is not None:
                        warnings = session.warnings
                        command("destroy all")
                        plot = False
                        converged[row] = self._retry(row, voltages[row], betas[row], inputs[row],
                                                     errors, warnings, missing)
                if plot:
                    t0 = clock()
                    command("destroy all")
                    plot = False
                    destroy_seconds += clock() - t0
                # Rows that ran without a word from ngspice but read back non-finite voltages
                # (checked once for the whole batch): set their values again and retry.
                for row in np.flatnonzero(~np.isfinite(voltages).all(axis=1) & converged):
                    if on_row is not None:
                        on_row(labels[row])
                    send([prefix + repr(v) for prefix, v in zip(prefixes, rows[row])])
                    applied[:] = rows[row]
                    converged[row] = self._retry(row, voltages[row], betas[row], inputs[row],
                                                 [], [], None)
                self.stats["samples"] += batch
            finally:
                if plot:
                    command("destroy all")
                session.sink = previous
                stats = self.stats
                stats["alter_seconds"] += alter_seconds
                stats["analysis_seconds"] += analysis_seconds
                stats["read_seconds"] += read_seconds
                stats["destroy_seconds"] += destroy_seconds
                stats["alters"] += alters
                stats["analyses"] += analyses
        return voltages, converged

    def _retry(self, row: int, out: np.ndarray, beta: float, x: np.ndarray, errors: list,
               warnings: list, missing: str | None) -> bool:
        """Re-run a failed ``op`` with the :data:`OP_RETRIES` settings; raise or NaN-fill."""
        session = self.session
        stats = self.stats
        failures = [self._failure_text(errors, warnings, missing)]
        defaults = session.op_options()
        restore = "option noopiter=0 " + " ".join(f"{k}={v}" for k, v in defaults.items())
        for label, setting in OP_RETRIES:
            stats["retries"] += 1
            LOGGER.info("circuit %r row %d: op failed, retrying with %s", self.circuit.name, row,
                        label)
            self._send([setting])
            try:
                t0 = time.perf_counter()
                errors = session.command("op")
                warnings = session.warnings
                stats["analyses"] += 1
                stats["analysis_seconds"] += time.perf_counter() - t0
                missing = None if errors else session.read_vectors(self._vector_names, out)
                session.command("destroy all")
            finally:
                self._send([restore])
            if not errors and missing is None and np.isfinite(out).all():
                LOGGER.info("circuit %r row %d: op converged with %s", self.circuit.name, row,
                            label)
                return True
            failures.append(self._failure_text(errors, warnings, missing))
        stats["failures"] += 1
        shown = ", ".join(fmt(v) for v in x[:8]) + (", ..." if x.size > 8 else "")
        message = (f"ngspice: DC operating point ('op') of circuit {self.circuit.name!r} did not "
                   f"converge for sample row {row} (inputs [{shown}], beta={fmt(beta)}), also "
                   f"not with retries ({'; '.join(label for label, _ in OP_RETRIES)}): "
                   f"{failures[-1]}")
        if self.strict:
            raise ConvergenceError(message)
        LOGGER.info("%s", message)
        out[:] = np.nan
        return False

    @staticmethod
    def _failure_text(errors: list, warnings: list, missing: str | None) -> str:
        """What ngspice said about a failed op (errors, plus a singular-matrix warning)."""
        if errors:
            text = " | ".join(errors[-3:])
        elif missing:
            text = f"no value for node {missing!r}"
        else:
            text = "non-finite node voltages"
        singular = [w for w in warnings if "singular matrix" in w.lower()]
        if singular:
            text += " (" + singular[0].split("Warning:")[-1].strip() + ")"
        return text

    # -- values --------------------------------------------------------------------------------
    def set_values(self, values: dict) -> None:
        """Change element values in place (``alter``), without reloading the circuit.

        Parameters
        ----------
        values : dict of str to float
            Element name -> value in the circuit's units: conductance (S) for resistors
            (ngspice gets ``resistance=1/g`` Ohm), DC value (V, A) for sources, gain for
            E/F/G/H, capacitance (F), inductance (H), area for diodes.

        Raises
        ------
        CircuitError
            For an unknown element, a behavioural source, a non-finite value or a non-positive
            conductance.
        """
        commands = []
        clean = {}
        for name, value in values.items():
            element = self.circuit.element(name)
            value = float(value)
            if not math.isfinite(value):
                raise CircuitError(f"element {name}: value must be finite, got {value!r}")
            parameter = ALTER_PARAMETER.get(element.type)
            if parameter is None:
                raise CircuitError(f"element {name}: a {element.type} element has no value to set")
            if element.type == "R":
                if value <= 0:
                    raise CircuitError(f"element {name}: conductance must be positive (S), "
                                       f"got {value!r}")
                commands.append(f"alter {name} {parameter}={1.0 / value!r}")
            else:
                commands.append(f"alter {name} {parameter}={value!r}")
            clean[name] = value
        self.circuit = self.circuit.with_values(clean)
        if self._sent_trainable is not None and not clean.keys().isdisjoint(
                self.circuit.trainable):
            self._sent_trainable = None          # re-send every trainable value next time
        for j, name in enumerate(self._source_names):
            if name in clean:
                self._applied[j] = clean[name]
        if self._closed:
            return
        self._push(commands)

    def set_trainable(self, values) -> None:
        """New conductances (S) of every trainable element, pushed with ``alter`` in one go.

        The fast path for training: no element objects are rebuilt (the circuit is
        materialised lazily when it is next needed), and only the elements whose conductance
        changed by more than :data:`UNCHANGED_RELATIVE` (relative to what ngspice holds) are
        ``alter``\\ ed.
        """
        values = self._checked_trainable(values)
        if not self._trainable_prefix:
            return super().set_trainable(values)
        self._pending = values.copy()
        if self._closed:
            return
        sent = self._sent_trainable
        if sent is None:
            changed = np.arange(values.size)
        else:
            changed = np.flatnonzero(np.abs(values - sent) > UNCHANGED_RELATIVE * np.abs(sent))
        if changed.size == 0:
            return
        prefixes = self._trainable_prefix
        commands = [prefixes[k] + repr(1.0 / value)
                    for k, value in zip(changed.tolist(), values[changed].tolist())]
        try:
            pushed = self._push(commands, "update_seconds")
        except BackendError:
            self._sent_trainable = None
            raise
        if pushed:
            self.stats["updates"] += len(commands)
            if sent is None:
                self._sent_trainable = values.copy()
            else:
                sent[changed] = values[changed]

    def _push(self, commands: list[str], clock_key: str = "alter_seconds") -> bool:
        """Send ``alter`` commands now if this backend's circuit is the loaded one.

        Otherwise nothing is sent: the next solve reloads the circuit with its current values.
        Returns whether the commands were sent.
        """
        session = self.session
        with session.lock:
            if session.owner is self._token and commands:
                previous, session.sink = session.sink, self._sink
                try:
                    start = time.perf_counter()
                    self._send(commands)
                    self.stats[clock_key] += time.perf_counter() - start
                finally:
                    session.sink = previous
                return True
        return False

    def close(self) -> None:
        """Remove this backend's circuit from ngspice (if still loaded); idempotent."""
        if self._closed:
            return
        self._closed = True
        with self.session.lock:
            self.session.remove(owner=self._token)

    def __repr__(self):
        state = "closed" if self._closed else "open"
        return f"<NgspiceBackend {self.circuit.name!r} ({len(self.node_names)} nodes, {state})>"


__all__ = ["NgspiceBackend", "NgspiceSession", "classify_message", "is_harmless",
           "read_raw_file", "read_raw_plots", "run_ngspice_batch", "find_ngspice_library",
           "find_ngspice_program", "ALTER_PARAMETER", "OP_RETRIES"]
