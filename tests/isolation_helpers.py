"""Backends that crash on purpose, for tests of the isolated backend (imported in its child).

:class:`CrashingNgspice` is the real ngspice backend plus a trap in its per-row hook: it ends
its process (``os.abort()``, like a failing assertion inside ngspice, or SIGKILL) before the
operating point of a chosen row.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from eqprop_hw.backends.ngspice import NgspiceBackend

#: A first input value that makes :class:`CrashingNgspice` abort on that row, every time.
POISON = 123.25
#: A first input value that makes :class:`CrashingNgspice` sleep for a minute on that row
#: (a request that outlasts its caller).
SLUMBER = 321.5


class CrashingNgspice(NgspiceBackend):
    """NgspiceBackend that aborts on any row whose first input is :data:`POISON` (or, with
    ``poison``, whose inputs are exactly ``poison``), and (once per ``marker`` file) kills itself
    with SIGKILL before its ``kill_at``-th operating point."""

    def __init__(self, circuit, marker: str | None = None, kill_at: int | None = None,
                 poison=None, **options):
        self._hook = None
        self._poison = None if poison is None else [float(v) for v in poison]
        self._marker = marker
        self._kill_at = kill_at
        self._rows_seen = 0
        self._inputs = None
        super().__init__(circuit, **options)

    @property
    def on_row(self):
        return self._trap

    @on_row.setter
    def on_row(self, hook):
        self._hook = hook

    def _run_rows(self, values, inputs, betas, labels=None):
        self._inputs = inputs
        return super()._run_rows(values, inputs, betas, labels)

    def _trap(self, row):
        if self._hook is not None:
            self._hook(row)
        self._rows_seen += 1
        if self._inputs is not None:
            x = [float(v) for v in self._inputs[row]]
            if x[0] == POISON or x == self._poison:
                os.abort()
            if x[0] == SLUMBER:
                time.sleep(60.0)
        if (self._kill_at is not None and self._rows_seen == self._kill_at
                and not Path(self._marker).exists()):
            Path(self._marker).write_text("killed\n")
            os.kill(os.getpid(), signal.SIGKILL)


def crashing(circuit, **options):
    """Factory for :class:`~eqprop_hw.backends.isolated.IsolatedBackend` (picklable)."""
    return CrashingNgspice(circuit, **options)
