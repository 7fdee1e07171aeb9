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
"""

from __future__ import annotations

import uuid

import numpy as np

from eqprop_hw.errors import EqpropError
from eqprop_hw.extras import require
from eqprop_hw.learning.ep import chunk_bounds, local_rule_terms, reduce_terms

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

    def __call__(self, values, inputs, targets, beta: float, nudge: str) -> np.ndarray:
        inputs, targets = np.asarray(inputs, dtype=float), np.asarray(targets, dtype=float)
        values = np.asarray(values, dtype=float)
        futures = [self.client.submit(chunk_terms, self._token, values, inputs[a:b],
                                      targets[a:b], beta, nudge, pure=False)
                   for a, b in chunk_bounds(len(inputs), self.chunks)]
        rows = self.client.gather(futures)
        return reduce_terms(np.concatenate(rows), beta, nudge)

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


__all__ = ["DaskGradient", "PayloadPlugin", "chunk_terms", "connect", "disconnect"]
