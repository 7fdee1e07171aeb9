"""Errors for bad input and failed simulations.

Every error the user can cause is an :class:`EqpropError`; the CLI prints ``str(error)`` as one
line on stderr and exits non-zero. Messages name where (file, line, element, node) and what.
"""

from __future__ import annotations


class EqpropError(Exception):
    """Base class of every error caused by input or by a failed simulation."""


class LocatedError(EqpropError):
    """An error in a file: ``str()`` is ``"source:line: message"`` (or ``"source: message"``).

    Attributes
    ----------
    message : str
        What is wrong, without the location.
    source : str or None
        The file (or ``<string>``).
    line : int or None
        1-based line number.
    """

    def __init__(self, message: str, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)


class SpecError(LocatedError):
    """A circuit spec is malformed or inconsistent (YAML, schema, values)."""


class NetlistError(LocatedError):
    """A SPICE netlist cannot be imported, or is refused as unsafe."""


class ParamsError(LocatedError):
    """A parameter file (trained element values) is missing, malformed or does not fit."""


class InputDataError(LocatedError):
    """A data file given by the user (CSV rows of inputs, MNIST files) is malformed."""


class CircuitError(EqpropError):
    """The circuit built from a spec is not simulable (floating node, bad value, ...)."""


class ConvergenceError(EqpropError):
    """A solver did not find the operating point."""


class BackendError(EqpropError):
    """A simulation backend is unavailable or failed."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT or SIGTERM after writing a checkpoint to resume from.

    A :class:`KeyboardInterrupt` (not an :class:`EqpropError`): it is not caused by bad input,
    and ``except Exception`` must not swallow it. The CLI exits with ``128 + signum`` (130 for
    SIGINT, 143 for SIGTERM) and prints ``str(error)`` as one line.

    Attributes
    ----------
    signum : int
        The signal received.
    checkpoint : str
        The checkpoint written (continue with ``train --resume``).
    """

    def __init__(self, message: str, signum: int, checkpoint: str):
        super().__init__(message)
        self.signum = signum
        self.checkpoint = checkpoint


class SimulatorCrash(BackendError):
    """The simulator process died (exit, signal, hang) twice on the same request.

    Attributes
    ----------
    row : int or None
        Row of the batch (sample) being solved when it died, if known.
    reason : str
        How the simulator process ended the last time.
    """

    def __init__(self, message: str, row: int | None = None, reason: str = ""):
        super().__init__(message)
        self.row = row
        self.reason = reason

    def __reduce__(self):
        return (type(self), (str(self), self.row, self.reason))


class SimulatorTimeout(SimulatorCrash):
    """A request to the simulator process ran past its time limit; the process was stopped
    (not retried: a hang would only cost the limit once more)."""


#: Characters of a user's value quoted in an error message.
QUOTE_CHARS = 40


def quote(text, limit: int = QUOTE_CHARS) -> str:
    """``repr(text)``, cut to about ``limit`` characters (``...`` and the length when cut): a
    message never echoes megabytes of a user's value.

    Examples
    --------
    >>> quote("R1")
    "'R1'"
    >>> quote("x" * 100, 5)
    "'xxxxx'... (100 characters)"
    """
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"
