"""Data-parallel EP training on a Dask cluster (``eqprop-hw train --workers N | --scheduler ADDR``).

Design
------
* The spec (its validated data dict and source), the backend name, its options (loss,
  temperature) and the starting element values form a *payload* that is sent to every worker
  ONCE, as a worker plugin (:class:`PayloadPlugin`): the scheduler keeps it and installs it on
  every worker, including workers that join later (e.g. the replacement of a killed one). Each
  worker process builds ONE backend from it (the workers present when the run starts do so
  before its first minibatch, as a single process builds its backend before training; a
  worker that joins later on its first task) and keeps it in a process-wide cache keyed by
  the payload's token (ngspice is not re-entrant: one instance per process, hence
  ``threads_per_worker=1`` and ``processes=True``). Tasks carry only the token. (Scattered data
  would not do: Dask drops "extra" replicas, and a scattered value lost with its worker cannot
  be recomputed.)
* Per minibatch the client splits the batch into ``chunks`` contiguous parts
  (:func:`eqprop_hw.learning.ep.chunk_bounds`, a function of the batch size and ``chunks`` only) and
  submits one task per part carrying the current conductance vector and the part's inputs and
  targets. A task is a pure function of those: it sets the conductances, runs the phases and
  returns the per-sample local-rule rows (:func:`eqprop_hw.learning.ep.local_rule_terms`). The client
  concatenates the rows in chunk order and takes the batch mean
  (:func:`eqprop_hw.learning.ep.reduce_terms`).
* Identity with a single process: :func:`eqprop_hw.learning.ep.chunked_gradient` with the same
  ``chunks`` solves the same parts in the same order on one backend and reduces the same rows
  with the same function, so the numbers are bitwise identical whatever worker ran which part.
  (The split itself is part of the arithmetic: a batched solve can round differently for a
  different batch size, so ``chunks`` - not the worker count - defines the result.)
* A worker killed mid-run: Dask reschedules its tasks on another worker; since tasks are pure,
  the result is the same.
* Tasks worth their round trip: the parts of a minibatch go out as at most one task per
  worker (a task solves its parts one after another, each as its own part, so the numbers do
  not change). A run on a local cluster (``workers=N``) first weighs the work against the
  scheduler (:meth:`DaskGradient.calibrate`: one minibatch solved here vs on the workers,
  measured, so a machine whose cores are busy with other work counts); when the speed-up is below
  :data:`MIN_SPEEDUP` the minibatches are solved in the client process by
  :func:`eqprop_hw.learning.ep.chunked_gradient` with the same ``chunks`` (the same numbers),
  and :meth:`DispatchEstimate.line` says why in one line.
* Parts per minibatch by default (no ``chunks``):
  :func:`eqprop_hw.learning.dispatch_model.default_chunks`, from what a part costs and never
  from timing, so the numbers do not depend on where the minibatches ran: with the native
  solver, parts of at least its own chunk of 128 rows (smaller ones cost about what the whole
  minibatch does in one call), at most one per worker; with ngspice one per worker. A
  ``workers=N`` run whose minibatch is one task starts no cluster (nothing to share); a
  remote cluster (``scheduler``) gets every minibatch, in the parts the same rule gives.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import numpy as np

from eqprop_hw.errors import EqpropError
from eqprop_hw.extras import require
from eqprop_hw.learning.ep import (chunk_bounds, chunked_gradient, local_rule_terms,
                                  reduce_terms)

#: Worker-side cache: payload token -> (backend, probe, last values). One entry per process
#: in practice (a new run replaces the old backend, closing it first).
_WORKER_STATE: dict = {}
#: Worker-side payloads installed by :class:`PayloadPlugin`, by token.
_PAYLOADS: dict = {}


try:
    from distributed import WorkerPlugin as _WorkerPluginBase
except ImportError:  # pragma: no cover - Dask is optional
    _WorkerPluginBase = object


class PayloadPlugin(_WorkerPluginBase):
    """Installs a run's payload (spec, backend name, options) in every worker process."""

    def __init__(self, payload: dict):
        self.payload = payload
        self.name = f"eqprop-hw-{payload['token']}"

    def setup(self, worker=None):
        _PAYLOADS[self.payload["token"]] = self.payload

    def teardown(self, worker=None):
        _PAYLOADS.pop(self.payload["token"], None)
        _forget(self.payload["token"])


#: What needs Dask, as the refusal names it when Dask is missing.
DASK_USE = "training on workers (--workers/--scheduler)"


def _require_distributed():
    return require("distributed", DASK_USE)


def _worker_engine(token: str):
    """This process's backend for a run, built on first use from the installed payload."""
    state = _WORKER_STATE.get(token)
    if state is None:
        payload = _PAYLOADS.get(token)
        if payload is None:
            raise EqpropError(f"Dask worker has no eqprop-hw payload {token} (plugin missing)")
        from eqprop_hw.backends import make_backend
        from eqprop_hw.circuit.build import build_circuit
        from eqprop_hw.learning.ep import make_probe
        from eqprop_hw.circuit.spec import Spec

        for old in list(_WORKER_STATE):          # one backend per process: drop older runs
            engine = _WORKER_STATE.pop(old)["engine"]
            try:
                engine.close()
            except Exception:  # noqa: BLE001 - best effort
                pass
        spec = Spec(payload["spec_data"], payload["source"])
        circuit = build_circuit(spec, params=payload["params"])
        engine = make_backend(payload["backend"], circuit, compiled=True, **payload["options"])
        state = {"engine": engine, "probe": make_probe(circuit, engine.node_names),
                 "values": None}
        _WORKER_STATE[token] = state
    return state


def _forget(token: str) -> None:
    """Close and drop this process's backend of a finished run (best effort)."""
    state = _WORKER_STATE.pop(token, None)
    if state is not None:
        try:
            state["engine"].close()
        except Exception:  # noqa: BLE001 - best effort
            pass


def _prepare(token: str) -> None:
    """Build this worker's backend for the run now (``Client.run`` on every worker)."""
    _worker_engine(token)


def chunk_terms(token: str, values: np.ndarray, inputs: np.ndarray, targets: np.ndarray,
                beta: float, nudge: str) -> np.ndarray:
    """Task body: per-sample local-rule rows of one chunk at conductances ``values``."""
    from eqprop_hw.learning.ep import run_phases

    state = _worker_engine(token)
    engine = state["engine"]
    if state["values"] is None or not np.array_equal(state["values"], values):
        engine.set_trainable(values)
        state["values"] = np.array(values, copy=True)
    phases = run_phases(engine, state["probe"], inputs, targets, beta, nudge)
    return local_rule_terms(phases.voltages, state["probe"], nudge)


def chunks_terms(token: str, values: np.ndarray, parts: list, beta: float,
                 nudge: str) -> np.ndarray:
    """Task body: the rows of several chunks ``[(inputs, targets), ...]``, each solved as its own
    part (as :func:`chunk_terms`), concatenated in order."""
    return np.concatenate([chunk_terms(token, values, inputs, targets, beta, nudge)
                           for inputs, targets in parts])


def _idle_terms(values: np.ndarray, rows: int) -> np.ndarray:
    """A task that does no work but returns what a real one returns (the round trip alone)."""
    return np.zeros((rows, values.size))


#: Minibatches go to the workers of a local cluster only when the measured speed-up over
#: solving them in the client process is at least this (below it they run in the client).
MIN_SPEEDUP = 1.2


@dataclass(frozen=True)
class DispatchEstimate:
    """What one minibatch costs here and on the workers (:meth:`DaskGradient.calibrate`).

    Attributes
    ----------
    local_seconds : float
        One minibatch solved in the client process, all its chunks (s; best of 3).
    remote_seconds : float
        The same minibatch solved by its tasks on the workers, submitted and gathered (s; best
        of 3): the measured cost, with whatever cores the machine really has free.
    round_trip_seconds : float
        Submitting and gathering the minibatch's tasks when they do no work (s; best of 3).
    tasks, workers, samples : int
        Tasks per minibatch, workers, samples per minibatch.
    """

    local_seconds: float
    remote_seconds: float
    round_trip_seconds: float
    tasks: int
    workers: int
    samples: int

    @property
    def speedup(self) -> float:
        """Measured minibatch time in the client over on the workers (> 1: workers gain)."""
        return (self.local_seconds / self.remote_seconds if self.remote_seconds > 0
                else float("inf"))

    @property
    def dispatch(self) -> bool:
        """Whether the minibatches go to the workers."""
        return self.speedup >= MIN_SPEEDUP

    def line(self) -> str:
        """One line for the user: the work per task, the overhead and the decision."""
        per_task = 1e3 * self.local_seconds / self.tasks
        where = ("on the workers" if self.dispatch else
                 "in this process (same numbers; tasks too small to gain)")
        return (f"workers: a task ({self.samples // self.tasks} of {self.samples} samples) takes "
                f"~{per_task:.2g} ms of work, a scheduler round trip ~"
                f"{1e3 * self.round_trip_seconds:.2g} ms; a minibatch takes "
                f"{1e3 * self.local_seconds:.2g} ms here, {1e3 * self.remote_seconds:.2g} ms on "
                f"{self.workers} worker(s): {self.speedup:.2f}x (needs {MIN_SPEEDUP:g}x), so "
                f"minibatches run {where}")


class DaskGradient:
    """Batch-mean EP gradients computed by the workers of a Dask client.

    Parameters
    ----------
    client : distributed.Client
    spec : Spec
    backend : str
        Backend name each worker builds (``native`` or ``ngspice``).
    options : dict
        ``make_backend`` keyword arguments (loss, temperature).
    params : dict, optional
        Element values the circuit is built with (trainable ones are overwritten per task).
    chunks : int, optional
        Parts per minibatch (default: the number of workers when created).
    """

    def __init__(self, client, spec, backend: str, options: dict | None = None,
                 params: dict | None = None, chunks: int | None = None):
        self.client = client
        if chunks is None:
            chunks = max(1, len(client.scheduler_info().get("workers", {})))
        self.chunks = int(chunks)
        payload = {"token": uuid.uuid4().hex, "spec_data": spec.data, "source": spec.source,
                   "backend": backend, "options": dict(options or {}),
                   "params": dict(params) if params else None}
        self._token = payload["token"]
        self._plugin = PayloadPlugin(payload)
        if hasattr(client, "register_plugin"):
            client.register_plugin(self._plugin, name=self._plugin.name)
        else:  # older distributed
            client.register_worker_plugin(self._plugin, name=self._plugin.name)
        client.run(_prepare, self._token)        # backends built before the first minibatch
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))
        self.local = None            # (engine, probe, values) when minibatches run here

    def _groups(self, batch: int) -> list[list[tuple[int, int]]]:
        """The minibatch's chunk bounds in at most one contiguous group per worker."""
        bounds = chunk_bounds(batch, self.chunks)
        return [bounds[a:b] for a, b in chunk_bounds(len(bounds), self.workers)]

    def __call__(self, values, inputs, targets, beta: float, nudge: str) -> np.ndarray:
        inputs, targets = np.asarray(inputs, dtype=float), np.asarray(targets, dtype=float)
        values = np.asarray(values, dtype=float)
        if self.local is not None:
            return self._here(values, inputs, targets, beta, nudge)
        futures = [self.client.submit(chunks_terms, self._token, values,
                                      [(inputs[a:b], targets[a:b]) for a, b in group],
                                      beta, nudge, pure=False)
                   for group in self._groups(len(inputs))]
        rows = self.client.gather(futures)
        return reduce_terms(np.concatenate(rows), beta, nudge)

    def _here(self, values, inputs, targets, beta: float, nudge: str) -> np.ndarray:
        engine, probe, current = self.local
        if current is None or not np.array_equal(current, values):
            engine.set_trainable(values)
            self.local = (engine, probe, np.array(values, copy=True))
        return chunked_gradient(engine, inputs, targets, beta, nudge, probe, self.chunks)

    def calibrate(self, engine, probe, values, inputs, targets, beta: float,
                  nudge: str) -> DispatchEstimate:
        """Time one minibatch (``inputs``, ``targets``) solved by ``engine`` here against the
        same minibatch on the workers (and a round trip of idle tasks), alternating, best of 3
        after a warm-up each; below :data:`MIN_SPEEDUP` later minibatches run on ``engine``
        (with the same ``chunks``: the same numbers). ``engine`` ends at ``values``."""
        inputs, targets = np.asarray(inputs, dtype=float), np.asarray(targets, dtype=float)
        values = np.asarray(values, dtype=float)
        groups = self._groups(len(inputs))

        def timed(function):
            started = time.perf_counter()
            function()
            return time.perf_counter() - started

        def idle():
            self.client.gather([self.client.submit(_idle_terms, values,
                                                   sum(b - a for a, b in group), pure=False)
                                for group in groups])

        local, remote, trips = [], [], []
        for _ in range(4):                     # the first round warms up (first op, caches)
            self.local = (engine, probe, None)
            local.append(timed(lambda: self._here(values, inputs, targets, beta, nudge)))
            self.local = None
            remote.append(timed(lambda: self(values, inputs, targets, beta, nudge)))
            trips.append(timed(idle))
        estimate = DispatchEstimate(min(local[1:]), min(remote[1:]), min(trips[1:]),
                                    len(groups), self.workers, len(inputs))
        if not estimate.dispatch:
            self.local = (engine, probe, values.copy())
        return estimate

    def close(self) -> None:
        """Free the workers' backends and payload of this run (best effort)."""
        try:
            self.client.unregister_worker_plugin(self._plugin.name)
        except Exception:  # noqa: BLE001 - best effort (e.g. a worker is gone)
            pass
        try:
            self.client.run(_forget, self._token)
        except Exception:  # noqa: BLE001 - best effort
            pass


def connect(workers: int | None = None, scheduler: str | None = None):
    """``(client, cluster)``: a new local cluster of ``workers`` single-threaded processes, or a
    client of the scheduler at ``scheduler`` (``cluster`` is then None)."""
    distributed = _require_distributed()
    if workers is not None and scheduler is not None:
        raise EqpropError("give either workers or scheduler, not both")
    if scheduler is not None:
        try:
            return distributed.Client(scheduler, timeout="30s"), None
        except (OSError, TimeoutError) as error:
            raise EqpropError(f"cannot connect to the Dask scheduler at {scheduler}: "
                              f"{error}") from None
    if workers is None or int(workers) < 1:
        raise EqpropError(f"workers must be a positive number, got {workers!r}")
    cluster = distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1,
                                       processes=True, dashboard_address=":0")
    try:
        client = distributed.Client(cluster)
    except BaseException:
        cluster.close()
        raise
    return client, cluster


def disconnect(client, cluster) -> None:
    """Close a client and the cluster :func:`connect` started (if any)."""
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()


__all__ = ["DaskGradient", "DispatchEstimate", "MIN_SPEEDUP", "PayloadPlugin", "chunk_terms",
           "chunks_terms", "connect", "disconnect"]
