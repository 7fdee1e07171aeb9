"""The one ngspice shared-library session of a process (:class:`NgspiceSession`): finds and
loads ``libngspice``, sends commands (split at :data:`MAX_COMMAND_LENGTH`), loads netlist
lines, reads vectors, and captures every line ngspice writes.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import logging
import os
import re
import tempfile
import threading
import time
from typing import Sequence
from collections import deque

import numpy as np

from eqprop_hw.backends.ngspice.messages import INSTALL_HINT, LOGGER, classify_message, classify_text
from eqprop_hw.errors import BackendError
from eqprop_hw.circuit.spice_grammar import check_lines


#: Length limit (characters) of one command sent to ngspice: longer ``alter`` lists are split.
MAX_COMMAND_LENGTH = 1000

#: Clear ngspice's command memory (``ngSpice_Command(NULL)``) after this many commands.
COMMANDS_BEFORE_RESET = 1000

#: The percentage in one of ngspice's status lines (``tran: 42.1%``).
_PERCENT = re.compile(r"(\d+(?:\.\d*)?)\s*%")

#: ngspice's defaults for the options the retries change (read back from ``option``).
DEFAULT_OP_OPTIONS = {"itl1": 100, "itl2": 50, "gminsteps": 1, "srcsteps": 1}


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


class _PySpiceState:
    """PySpice's own state, touched only here (PySpice 1.5 has no public accessors for it).

    Mixed into the session's NgSpiceShared subclass; the session calls these on an instance of
    that class, or as plain functions on an NgSpiceShared someone else created
    (``CapturingNgSpiceShared.clear_output(shared)``).
    """

    @classmethod
    def registered(cls):
        """PySpice's instance for ngspice id 0 (one ngspice per process), or None."""
        return cls._instances.get(0)

    @classmethod
    def register(cls, shared) -> None:
        """Make ``shared`` PySpice's instance for ngspice id 0."""
        cls._instances[0] = shared

    @classmethod
    def pyspice_logger(cls) -> logging.Logger:
        """The logger PySpice's NgSpiceShared writes to."""
        return cls._logger

    def library_handle(self):
        """The cffi handle of the loaded libngspice (``ngSpice_Command``, ...)."""
        return self._ngspice_shared

    def ngspice_version(self):
        """ngspice's version number as PySpice read it (39 for Debian 12), or None."""
        return getattr(self, "_ngspice_version", None)

    def clear_output(self) -> None:
        """Forget the output lines PySpice keeps per command (they would pile up)."""
        if self._stdout:
            self._stdout = []
        if self._stderr:
            self._stderr = []


_CAPTURING_CLASS = None


def _capturing_class(shared_class, ffi):
    """A subclass of PySpice's NgSpiceShared whose output callback feeds the session."""
    global _CAPTURING_CLASS
    if _CAPTURING_CLASS is not None:
        return _CAPTURING_CLASS

    class CapturingNgSpiceShared(_PySpiceState, shared_class):
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

        #: Called with each status line of ngspice (``tran: 42.1%``, ``--ready--``) while set.
        eqprop_status = None

        def send_stat(self, message, ngspice_id):
            hook = self.eqprop_status
            if hook is not None:
                try:
                    hook(message)
                except Exception:  # noqa: BLE001 - never raise through C
                    pass
            return 0

        @staticmethod
        def _send_init_data(data, ngspice_id, user_data):
            # Called at the start of every analysis; PySpice's version only forwards to a
            # no-op hook, so answer at once.
            return 0

    _CAPTURING_CLASS = CapturingNgSpiceShared
    return CapturingNgSpiceShared


@contextlib.contextmanager
def _outside_working_directory():
    """Run the block in an empty temporary folder, then come back.

    ``ngSpice_Init`` sources ``.spiceinit`` from the working directory (``shell`` commands
    included): the library starts in an empty folder, so a file of that name in the user's
    folder (or someone else's, where a spec was unpacked) is never run. Only the start of the
    library (once per process) is moved; simulations run where they did.
    """
    try:
        previous = os.getcwd()
    except OSError:            # the working directory was removed: nothing to protect
        yield
        return
    with tempfile.TemporaryDirectory(prefix="eqprop-ngspice-init-") as folder:
        os.chdir(folder)
        try:
            yield
        finally:
            os.chdir(previous)


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
        adapter = self._adapter = _capturing_class(NgSpiceShared, ffi)
        adapter.pyspice_logger().addFilter(self._log_filter)
        self._log_filter.active = True
        self._log_filter.captured = []
        try:
            existing = adapter.registered()
            if existing is not None and existing.__class__ is _CAPTURING_CLASS:
                shared, existing = existing, None          # ours, from an earlier session
                shared.eqprop_sink = self._on_message
            elif existing is not None:
                # Someone already created PySpice's instance (one ngspice per process): use it
                # and listen through its send_char hook.
                shared = existing
                shared.send_char = lambda message, ngspice_id: self._on_message(message) or 0
            else:
                adapter.LIBRARY_PATH = library
                try:
                    with _outside_working_directory():
                        shared = adapter(ngspice_id=0, send_data=False)
                except OSError as error:
                    raise BackendError(f"ngspice shared library not found ({library}: "
                                       f"{error}): {INSTALL_HINT}") from None
                except Exception as error:  # noqa: BLE001 - PySpice raises NameError etc.
                    raise BackendError(f"cannot start ngspice from {library}: {error}") \
                        from None
                shared.eqprop_sink = self._on_message
                adapter.register(shared)
        finally:
            self._log_filter.active = False
            for text in self._log_filter.captured:
                self.messages.append(text)
                LOGGER.debug("PySpice: %s", text)
            self._log_filter.captured = None
        self._shared = shared
        self.version = adapter.ngspice_version(shared)
        self._lib = adapter.library_handle(shared)
        self._command_c = self._lib.ngSpice_Command
        self._get_vec = self._lib.ngGet_Vec_Info
        self._foreign = existing is not None
        self.circuit_loaded = False

    # -- output --------------------------------------------------------------------------------
    def status_to(self, callback):
        """A context manager during which ``callback(fraction)`` receives the progress of the
        running analysis, a fraction in [0, 1] parsed from ngspice's status lines
        (``tran: 42.1%``); lines without a percentage are ignored. Nothing is sent when
        another program created PySpice's ngspice instance (its status hook is left alone).

        Examples
        --------
        >>> session = NgspiceSession.get()
        >>> with session.status_to(lambda fraction: None):
        ...     pass
        """
        import contextlib

        def on_status(text: str) -> None:
            found = _PERCENT.search(text)
            if found:
                callback(min(max(float(found.group(1)) / 100.0, 0.0), 1.0))

        @contextlib.contextmanager
        def attached():
            shared = self._shared
            if self._foreign:
                yield
                return
            previous, shared.eqprop_status = shared.eqprop_status, on_status
            try:
                yield
            finally:
                shared.eqprop_status = previous

        return attached()

    def _on_message(self, message: str) -> None:
        parsed = self._parsed_messages.get(message)
        if parsed is None:
            text = message[7:] if message.startswith(("stdout ", "stderr ")) else message
            text = text.strip()
            parsed = (text, classify_text(text) if text else "info")
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
            self._adapter.clear_output(self._shared)
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

    def read_vector(self, name: str) -> np.ndarray | None:
        """Every value of one real vector of the current plot, copied.

        Parameters
        ----------
        name : str
            The vector's name (``time``, or a lower-case node name for its voltage in V).

        Returns
        -------
        ndarray of float64 or None
            The values (a transient: one per time point), or None when the plot has no such
            vector or it is empty.
        """
        with self.lock:
            # ngGet_Vec_Info returns one struct that its next call frees: copy it at once.
            info = self._get_vec(name.encode("ascii"))
            if not info or info.v_length < 1 or not info.v_realdata:
                return None
            return np.frombuffer(self._ffi.buffer(info.v_realdata, 8 * info.v_length),
                                 dtype=np.float64).copy()

    @property
    def callback_seconds(self) -> float:
        """Wall time (s) in ngspice's output callback (Python run from inside commands)."""
        return float(getattr(self._shared, "eqprop_callback_seconds", 0.0))


def command_chunks(text: str, limit: int = MAX_COMMAND_LENGTH) -> list[str]:
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
