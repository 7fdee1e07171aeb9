"""Simulation backends: ``ngspice`` (the physical relaxation) and ``native`` (fast numpy)."""

from __future__ import annotations

from eqprop_hw.backends.base import Backend, SolveResult
from eqprop_hw.errors import BackendError
from eqprop_hw.circuit.graph import Circuit

BACKENDS = ("ngspice", "native")
#: Seconds one request (a solve, a training step) of a circuit holding a CIDER device may take
#: in ngspice by default before the child running it is killed: a two-dimensional CIDER mesh
#: within the grammar's limits (3969 nodes) ran more than 100 s per operating point in raw
#: ngspice (2-core shared session machine), 961 nodes 22 s, 441 nodes 1.5 s.
CIDER_TIMEOUT = 300.0


def make_backend(name: str, circuit: Circuit, **options) -> Backend:
    """A backend by name for a circuit.

    ``isolated=True`` (ngspice only) runs ngspice in a child process that is restarted if it
    dies (:class:`eqprop_hw.backends.isolated.IsolatedBackend`; ``timeout=`` seconds per
    request, default: the environment variable ``EQPROP_HW_TIME_LIMIT``, else a generous limit
    scaled by each request, :func:`eqprop_hw.backends.isolated.request_time_limit`); the native backend ignores it (it cannot take the process down). Left out
    (None), it is on for a circuit whose MOSFET models make ngspice write a check log into its
    working directory (BSIM3, BSIM4, BSIM-SOI:
    :func:`eqprop_hw.circuit.transistors.writes_check_log`; unless ``log=`` is given): the
    child runs in a temporary folder, so nothing lands in the caller's.
    A circuit holding a CIDER device (:mod:`eqprop_hw.circuit.cider`) runs isolated too, with
    ``timeout=`` :data:`CIDER_TIMEOUT` unless given (or set in the environment): its meshes can take ngspice hours.
    ``compiled=True`` (native only; ngspice ignores it) runs the native Newton iterations as
    compiled loops where they apply (:mod:`eqprop_hw.backends.native.fused`): for repeated solves such
    as training; the first solve of a process then loads numba (~0.5 s).

    Raises
    ------
    BackendError
        For an unknown name, or when ngspice's shared library cannot be loaded.
    """
    isolated = options.pop("isolated", None)
    compiled = options.pop("compiled", False)
    if isolated is None:        # BSIM3/BSIM4/SOI models write a check log where ngspice runs
        from eqprop_hw.backends.isolated import time_limit_from_environment
        from eqprop_hw.circuit.cider import first_cider
        from eqprop_hw.circuit.transistors import writes_check_log
        cider = name == "ngspice" and options.get("log") is None and \
            first_cider(circuit) is not None
        isolated = cider or name == "ngspice" and options.get("log") is None and \
            writes_check_log(circuit)
        if cider and options.get("timeout") is None and \
                time_limit_from_environment() is None:   # a CIDER mesh can take hours
            options["timeout"] = CIDER_TIMEOUT
    if name == "native":
        options.pop("timeout", None)
        from eqprop_hw.backends.native import NativeBackend
        return NativeBackend(circuit, compiled=compiled, **options)
    if name == "ngspice" and isolated:
        from eqprop_hw.backends.isolated import IsolatedBackend
        return IsolatedBackend(circuit, **options)
    if name == "ngspice":
        from eqprop_hw.backends.ngspice import NgspiceBackend
        return NgspiceBackend(circuit, **options)
    raise BackendError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")


__all__ = ["Backend", "SolveResult", "make_backend", "BACKENDS"]
