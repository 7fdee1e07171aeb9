"""Progress bars on stderr that keep moving during long steps (issue 19: any wait over ~2 s shows
progress).

:func:`ticking_bar` is a tqdm bar whose line is redrawn every :data:`TICK_SECONDS` from a
daemon thread while it is open, so a step that takes longer than that (one sampled phase, one
finite-difference estimator, one ngspice transient) still shows its elapsed time going up
instead of a frozen line. Fractions of a step may be reported with ``bar.update(0.25)``; the
count is shown with at most two decimals. Nothing is drawn before ``delay`` seconds, as with
tqdm's own ``delay``; closing the bar stops the thread. The bar writes where tqdm writes
(stderr), on a terminal or not, like every other bar of the package; the caller decides
whether there is a bar at all (``--quiet``: none). The one-step bars of :func:`waiting` show
on a terminal only.
"""

from __future__ import annotations

import sys
import threading
import time

#: Seconds between redraws of an open bar whose count did not move.
TICK_SECONDS = 0.5


def ticking_bar(total: int, description: str, unit: str = "sample", delay: float = 0.0):
    """A tqdm bar on stderr redrawn every :data:`TICK_SECONDS` until closed.

    Parameters
    ----------
    total : int
        Steps of the wait (>= 0).
    description : str
        Text before the bar.
    unit : str
        What one step is called.
    delay : float
        Seconds (>= 0) before anything is drawn.

    Returns
    -------
    tqdm.tqdm
        The bar; call ``close()`` (or use it as a context manager) to stop the redraws.

    Examples
    --------
    >>> bar = ticking_bar(2, "demo", unit="step", delay=60.0)   # nothing drawn for 60 s
    >>> bar.update(0.5); bar.update(1.5); bar.n
    2.0
    >>> bar.close()
    """
    from tqdm import tqdm

    class TickingBar(tqdm):
        """A tqdm bar with a redraw thread (see the module docstring)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._opened = time.monotonic()
            self._stop = threading.Event()
            self._ticker = threading.Thread(target=self._tick, name="progress-tick",
                                            daemon=True)
            self._ticker.start()

        def _tick(self) -> None:
            while not self._stop.wait(TICK_SECONDS):
                if time.monotonic() - self._opened >= delay and not self.disable:
                    try:
                        self.refresh()
                    except (ValueError, OSError):      # stream closed under us
                        return

        @property
        def format_dict(self):
            values = super().format_dict
            count = values.get("n")
            if isinstance(count, float):
                values["n"] = round(count, 2)
            return values

        def close(self) -> None:
            stop = getattr(self, "_stop", None)
            if stop is not None:
                stop.set()
                if self._ticker is not threading.current_thread():
                    self._ticker.join()
            super().close()

    return TickingBar(total=total, desc=description, unit=unit, leave=False,
                      dynamic_ncols=True, delay=delay)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (the one-step bars of :func:`waiting` show only there)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def waiting(description: str, enabled: bool, delay: float = 0.5):
    """A context manager: a one-step :func:`ticking_bar` open while its block runs (a wait
    with no steps to count, such as building a run or drawing its figures), shown only when
    ``enabled``, on a terminal (it counts nothing a log could use, and an error after it must
    stay the only line a log gets), and once the block has taken ``delay`` seconds (s).

    Examples
    --------
    >>> with waiting("drawing figures", enabled=True, delay=60.0):
    ...     pass
    """
    import contextlib

    @contextlib.contextmanager
    def opened():
        shown = enabled and stderr_is_terminal()
        bar = ticking_bar(1, description, unit="step", delay=delay) if shown else None
        try:
            yield bar
        finally:
            if bar is not None:
                bar.close()

    return opened()


__all__ = ["TICK_SECONDS", "stderr_is_terminal", "ticking_bar", "waiting"]
