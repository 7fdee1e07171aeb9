"""SIGINT and SIGTERM as requests to stop at the next safe point (used by training).

:class:`StopSignals` replaces the handlers of SIGINT and SIGTERM while it is installed and puts
the previous handlers back on :meth:`StopSignals.restore`, so no process-wide state is left
behind. The first signal only records itself (:attr:`StopSignals.signum`); the owner polls it at
safe points (e.g. after each minibatch), writes a checkpoint and stops. A second signal while
:attr:`StopSignals.abandonable` is true raises :class:`Abandon` at once, for a step that does not
return (e.g. a simulator stuck on one sample): the owner then checkpoints the state from before
that step.

Handlers can only be set from the main thread; elsewhere the object installs nothing and never
reports a signal (the process's own handlers stay in charge).

Examples
--------
>>> import os, signal
>>> stop = StopSignals().install()
>>> os.kill(os.getpid(), signal.SIGTERM)
>>> stop.signum == signal.SIGTERM
True
>>> stop.restore()
>>> signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
True
"""

from __future__ import annotations

import signal
import threading

#: The signals turned into stop requests.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Abandon(BaseException):
    """Raised by the handler on a repeated signal while the current step may be abandoned."""


class StopSignals:
    """Records SIGINT/SIGTERM instead of dying; see the module docstring.

    Attributes
    ----------
    signum : int or None
        The first signal received since :meth:`install` (None: none yet).
    count : int
        Signals received since :meth:`install`.
    abandonable : bool
        While true, a second (or later) signal raises :class:`Abandon` from the handler.
    installed : bool
        Whether the handlers are in place (false outside the main thread).
    """

    def __init__(self, signals=STOP_SIGNALS):
        self.signals = tuple(signals)
        self.signum = None
        self.count = 0
        self.abandonable = False
        self.installed = False
        self._previous: dict = {}

    def install(self) -> "StopSignals":
        """Install the handlers (main thread only); returns ``self``."""
        if threading.current_thread() is not threading.main_thread() or self.installed:
            return self
        for number in self.signals:
            self._previous[number] = signal.getsignal(number)
            signal.signal(number, self._handle)
        self.installed = True
        return self

    def restore(self) -> None:
        """Put the previous handlers back (idempotent)."""
        for number, handler in self._previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        self._previous = {}
        self.installed = False
        self.abandonable = False

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
        self.count += 1
        if self.count >= 2 and self.abandonable:
            self.abandonable = False
            raise Abandon()

    @property
    def name(self) -> str:
        """``"SIGINT"``/``"SIGTERM"`` for the recorded signal (``""`` when none)."""
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.restore()
