"""Errors for bad input and failed simulations.

Every error the user can cause is an :class:`EqpropError`; the CLI prints ``str(error)`` as one
line on stderr and exits non-zero. Messages name where (file, line, element, node) and what.
"""

from __future__ import annotations


class EqpropError(Exception):
    """Base class of every error caused by input or by a failed simulation."""


class SpecError(EqpropError):
    """A circuit spec is malformed or inconsistent (YAML, schema, values)."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)


class CircuitError(EqpropError):
    """The circuit built from a spec is not simulable (floating node, bad value, ...)."""


class NetlistError(EqpropError):
    """A SPICE netlist cannot be imported, or is refused as unsafe."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)


class ConvergenceError(EqpropError):
    """A solver did not find the operating point."""


class BackendError(EqpropError):
    """A simulation backend is unavailable or failed."""


class ParamsError(EqpropError):
    """A parameter file (trained element values) is missing, malformed or does not fit."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)
