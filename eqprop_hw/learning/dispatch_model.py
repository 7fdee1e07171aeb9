"""Whether ``train --workers N`` should start a local Dask cluster at all (issue 19 item 5).

Starting and stopping a local cluster costs seconds (measured with ``tools/compare_workers.py``
on the 2-core shared session machine: iris native, 40 epochs, 11.6-30.6 s with 1 worker and
17.7-33.9 s with 2 against ~3-5 s of training, every minibatch in the client either way).
Before paying that, the run times one minibatch here and asks the cost model below whether
``N`` workers could gain even in the best case: idle workers, every task in parallel, and only
the least scheduler round trip a local cluster has (:data:`MIN_ROUND_TRIP`); a minibatch
goes out as T = min(parts, N) tasks:

    best remote time  =  round trip + local time / T
    best speed-up     =  local time / best remote time
    best saving       =  minibatches of the run x (local time - best remote time)

When the best speed-up is below the one the run asks of its workers
(:data:`eqprop_hw.learning.distributed.MIN_SPEEDUP`), or the best saving is below what starting
and stopping a cluster costs at least (:data:`MIN_CLUSTER_SECONDS`), no cluster is started:
the minibatches are solved in this process with the same ``chunks``
(:func:`eqprop_hw.learning.ep.chunked_gradient`: the same numbers as on the workers; ngspice in
one call, :func:`client_parts`), and :meth:`ClusterPlan.line` says so in one line. One
worker can never gain (best speed-up below 1), so ``--workers 1`` never starts a cluster for
the minibatches. When the model allows a gain the cluster is started and the measured
calibration (:meth:`eqprop_hw.learning.distributed.DaskGradient.calibrate`) decides.

Parts per minibatch without ``--chunks`` (:func:`default_chunks`): they fix the numbers (a
batched solve can round differently for another batch size), so they are chosen from what a
part costs as known WITHOUT timing, never from a measurement: the native solver solves a batch
in one call whose cost is mostly per call at small sizes (``tools/native_part_cost.py``, one
EP gradient, best of 30, three runs on the 2-core shared session machine at load 5: iris
0.46-0.48 / 0.46-0.48 / 0.49-0.53 ms for 1 / 2 / 4 rows, digits 0.58-0.61 / 0.68-0.73 /
0.74-0.87 ms; a minibatch of 4 in 2 parts costs 1.76-1.96x one call), so a part smaller
than the solver's own chunk (:data:`~eqprop_hw.backends.native.chunks.CHUNK_ROWS`
rows) is not counted on to gain on a worker over the same rows in one call, and the default is
the number of parts of at least ``CHUNK_ROWS`` rows (at most one per worker; 1 for every
bundled example, whose minibatches have 4 rows). This is conservative: a digits call of 64
rows took 7-44 ms in those runs (BLAS threads under load), so ``--chunks C`` can pay for
larger minibatches (the measured calibration then decides where they run). ngspice solves
sample by sample (a part costs in proportion to its rows), so its default stays one part per
worker. ``--chunks C`` is always obeyed. With one task per minibatch (one part, or one
worker) no worker can share the work: the run stays in this process without timing
anything, and :class:`SingleTaskPlan` says why; when the default gives one part, the
minibatches are solved whole (the numbers of a run without ``--workers``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eqprop_hw.backends.native.chunks import CHUNK_ROWS

#: The least time (s) a local Dask cluster takes to submit and gather the tasks of one
#: minibatch when they do no work. Dask's documentation gives about 1 ms of overhead per task
#: and "a small computation and network roundtrip ... in less than 10ms"; a minibatch is up to
#: one task per worker plus the client's submit and gather. Measured on the 2-core shared
#: session machine: 13-72 ms under load 7-9 (``DaskGradient.calibrate``'s idle round trip).
#: Kept at the low end so that the model skips only clusters that cannot gain.
MIN_ROUND_TRIP = 0.005

#: The least time (s) starting and stopping a local cluster of 1-2 workers costs: measured on
#: the 2-core shared session machine 3.1-6.0 s under load 9-10 (``connect``/``disconnect``,
#: 1 and 2 workers, before any backend is built on them); kept below that.
MIN_CLUSTER_SECONDS = 2.0


def default_chunks(backend: str, batch_size: int, workers: int) -> int:
    """Parts per minibatch of ``train --workers N`` or ``--scheduler`` without ``--chunks``.

    Chosen from what a part costs, known without timing (see the module docstring), so the
    same spec, seed and options give the same numbers on any machine and any load.

    Parameters
    ----------
    backend : {"native", "ngspice"}
        The backend that solves the parts.
    batch_size : int
        Samples per minibatch (>= 1).
    workers : int
        Workers of the cluster (>= 1).

    Returns
    -------
    int
        native: ``batch_size // CHUNK_ROWS`` parts (every part at least
        :data:`~eqprop_hw.backends.native.chunks.CHUNK_ROWS` rows), at most ``workers``, at
        least 1; ngspice: ``workers``.

    Examples
    --------
    >>> default_chunks("native", 4, 2), default_chunks("ngspice", 4, 2)
    (1, 2)
    >>> default_chunks("native", 3 * CHUNK_ROWS, 2), default_chunks("native", 3 * CHUNK_ROWS, 8)
    (2, 3)
    """
    if backend == "native":
        return max(1, min(int(workers), int(batch_size) // CHUNK_ROWS))
    return max(1, int(workers))


def best_speedup(local_seconds: float, workers: int,
                 round_trip: float = MIN_ROUND_TRIP) -> float:
    """The most ``workers`` idle workers could speed up a minibatch that takes
    ``local_seconds`` (s) here: ``local / (round_trip + local / workers)``.

    Examples
    --------
    >>> round(best_speedup(0.004, 2), 3)        # iris native: 4 ms per minibatch
    0.571
    >>> round(best_speedup(0.100, 2), 3)        # 100 ms: the round trip hardly counts
    1.818
    >>> best_speedup(10.0, 1) < 1               # one worker never gains
    True
    """
    if local_seconds <= 0:
        return 0.0
    return local_seconds / (round_trip + local_seconds / workers)


@dataclass(frozen=True)
class ClusterPlan:
    """The cost model's answer for one run (see the module docstring).

    Attributes
    ----------
    local_seconds : float
        One minibatch solved in this process, all its chunks (s; best of 3 after a warm-up).
    workers, tasks, samples : int
        Workers asked for, tasks per minibatch (one per worker at most), samples per minibatch.
    min_speedup : float
        The speed-up the workers must reach.
    minibatches : int
        Minibatches the run still has to solve.
    round_trip_seconds, cluster_seconds : float
        The least scheduler round trip and cluster start and stop assumed (s).
    """

    local_seconds: float
    workers: int
    tasks: int
    samples: int
    min_speedup: float
    minibatches: int = 1
    round_trip_seconds: float = MIN_ROUND_TRIP
    cluster_seconds: float = MIN_CLUSTER_SECONDS

    @property
    def speedup(self) -> float:
        """The best speed-up the workers could reach (``tasks`` of them busy at once)."""
        return best_speedup(self.local_seconds, min(self.workers, self.tasks),
                            self.round_trip_seconds)

    @property
    def best_remote_seconds(self) -> float:
        """The least a minibatch could take on the workers (s)."""
        return self.round_trip_seconds + self.local_seconds / min(self.workers, self.tasks)

    @property
    def saving(self) -> float:
        """The most the workers could save over the run's minibatches (s)."""
        return self.minibatches * (self.local_seconds - self.best_remote_seconds)

    @property
    def start(self) -> bool:
        """Whether to start the cluster (then the measured calibration decides); always when
        no speed-up is asked for (``min_speedup <= 0``: the workers whatever they cost)."""
        if self.min_speedup <= 0:
            return True
        return self.speedup >= self.min_speedup and self.saving >= self.cluster_seconds

    #: Minibatches go to workers only through a started cluster's calibration.
    dispatch = False

    def line(self) -> str:
        """One line for the user: the work per task, the least overhead and the decision."""
        best = self.best_remote_seconds
        return (f"workers: a task ({self.samples // self.tasks} of {self.samples} samples) takes "
                f"~{1e3 * self.local_seconds / self.tasks:.2g} ms of work, a scheduler round "
                f"trip at least ~{1e3 * self.round_trip_seconds:.2g} ms; a minibatch takes "
                f"{1e3 * self.local_seconds:.2g} ms here and at best {1e3 * best:.2g} ms on "
                f"{self.workers} worker(s): {self.speedup:.2f}x (needs {self.min_speedup:g}x), "
                f"{max(self.saving, 0.0):.2g} s saved at best over {self.minibatches} minibatches "
                f"(a cluster costs >= {self.cluster_seconds:g} s), so no cluster is started and "
                f"minibatches run in this process (same numbers; tasks too small to gain)")


@dataclass(frozen=True)
class SingleTaskPlan:
    """No cluster because a minibatch is one task (one part, or one worker): no worker can
    share its work, so whatever the timing a cluster only adds its round trip. Decided
    without timing anything.

    Attributes
    ----------
    workers, parts, samples : int
        Workers asked for, parts per minibatch, samples per minibatch.
    why : str
        Where the parts come from (the default rule or ``--chunks C``), for :meth:`line`.
    whole : bool
        The minibatches are solved whole (the numbers of a run without ``--workers``), not in
        ``parts`` parts (the numbers of ``--chunks parts`` in one process).
    """

    workers: int
    parts: int
    samples: int
    why: str
    whole: bool

    #: No cluster is started; the minibatches stay in this process.
    start = False
    dispatch = False

    def line(self) -> str:
        """One line for the user: the parts, the tasks and why no worker can gain.

        Examples
        --------
        >>> line = SingleTaskPlan(2, 1, 4, "--chunks 1", whole=False).line()
        >>> line.startswith("workers: 1 part per minibatch of 4 samples (--chunks 1), so one task")
        True
        >>> line.endswith("in this process (the numbers of --chunks 1 in one process)")
        True
        """
        parts = f"{self.parts} part{'s' if self.parts > 1 else ''}"
        if self.workers == 1:
            share = "one worker runs one task at a time, so it cannot be faster than this process"
        else:
            share = (f"so one task per minibatch, which only one of the {self.workers} workers "
                     f"can run: they cannot be faster than this process")
        same = ("the numbers of a run without --workers" if self.whole else
                f"the numbers of --chunks {self.parts} in one process")
        return (f"workers: {parts} per minibatch of {self.samples} samples ({self.why}), "
                f"{share}; no cluster is started and minibatches run in this process ({same})")


def client_parts(backend: str, parts: int) -> int:
    """Calls per minibatch when a ``--workers`` run keeps its minibatches in this process.

    ngspice solves every sample as its own analyses: a sample's local-rule row does not depend
    on the other samples of its call (checked bit for bit in ``tests/test_dispatch_model.py``),
    so the ``parts`` parts are solved in one call, with the same numbers, and without the
    per-call cost (iris: 3.2 ms for a minibatch of 4 in one call against 3.7 ms in two, isolated
    ngspice, 2-core shared session machine). The native solver's batched call rounds
    differently for another batch size, so its parts stay separate calls.

    Examples
    --------
    >>> client_parts("ngspice", 2), client_parts("native", 2)
    (1, 2)
    """
    return 1 if backend == "ngspice" else int(parts)


def single_task_reason(backend: str, chunks: int | None, batch_size: int = 1) -> str:
    """Why a minibatch of ``batch_size`` samples has the parts it has: ``--chunks C`` or the
    default rule (:func:`default_chunks`), in words for :meth:`SingleTaskPlan.line`.

    Examples
    --------
    >>> single_task_reason("native", 3), single_task_reason("native", None, 4 * CHUNK_ROWS)
    ('--chunks 3', 'at most one part per worker by default')
    """
    if chunks is not None:
        return f"--chunks {int(chunks)}"
    if backend == "native" and batch_size < 2 * CHUNK_ROWS:
        return (f"native solver: a part under {CHUNK_ROWS} rows costs about what one batched "
                f"call of the whole minibatch costs, so the default is 1 part; --chunks C "
                f"splits it")
    return "at most one part per worker by default"


def plan_workers(backend: str, workers: int, chunks: int | None, batch_size: int, samples: int,
                 solve, min_speedup: float, minibatches: int) -> tuple:
    """``(plan, parts)`` for ``train --workers N``: the parts per minibatch (``chunks``, or
    :func:`default_chunks`) and whether a cluster could gain.

    One task per minibatch (one part, or one worker) never can: a :class:`SingleTaskPlan`,
    decided without timing. Otherwise ``solve(calls)`` (one minibatch in this process in
    ``calls`` calls, :func:`client_parts`) is timed by :func:`plan_cluster`.

    Parameters
    ----------
    backend : {"native", "ngspice"}
    workers : int
        Workers asked for (>= 1).
    chunks : int or None
        ``--chunks C``, or None for the default.
    batch_size, samples : int
        The spec's minibatch size, and the samples of the minibatch ``solve`` solves.
    solve : callable
        ``solve(calls)`` solves one minibatch here.
    min_speedup : float
        The speed-up the workers must reach.
    minibatches : int
        Minibatches the run still has to solve.

    Examples
    --------
    >>> plan, parts = plan_workers("native", 2, None, 4, 4, None, 1.2, 1000)   # never timed
    >>> parts, plan.start, plan.whole
    (1, False, True)
    """
    parts = int(chunks) if chunks is not None else default_chunks(backend, batch_size, workers)
    if min(parts, int(workers)) == 1:
        return SingleTaskPlan(int(workers), parts, int(samples),
                              single_task_reason(backend, chunks, batch_size),
                              whole=chunks is None and parts == 1), parts
    calls = client_parts(backend, parts)          # as this process would solve the minibatch
    return plan_cluster(lambda: solve(calls), workers, parts, samples, min_speedup,
                        minibatches), parts


def plan_cluster(solve, workers: int, chunks: int, samples: int, min_speedup: float,
                 minibatches: int) -> ClusterPlan:
    """Time ``solve()`` (one minibatch in this process) and apply the cost model.

    Parameters
    ----------
    solve : callable
        Solves one minibatch of ``samples`` samples in ``chunks`` parts, here.
    workers, chunks, samples : int
        Workers asked for (>= 1), parts per minibatch, samples per minibatch.
    min_speedup : float
        The speed-up the workers must reach.
    minibatches : int
        Minibatches the run still has to solve.

    Examples
    --------
    >>> plan = plan_cluster(lambda: None, 1, 2, 4, 1.2, 1000)   # one worker never gains
    >>> plan.start, plan.tasks, plan.line().endswith("tasks too small to gain)")
    (False, 1, True)
    >>> [ClusterPlan(local, 2, 2, 4, 1.2, 1000).start for local in (0.001, 0.02, 0.5)]
    [False, True, True]
    >>> ClusterPlan(0.5, 2, 2, 4, 1.2, minibatches=5).start    # 5 x 0.248 s < 2 s to start
    False
    """
    timings = []
    for _ in range(4):                        # the first run warms up (first solve, caches)
        started = time.perf_counter()
        solve()
        timings.append(time.perf_counter() - started)
    return ClusterPlan(min(timings[1:]), int(workers), max(1, min(int(chunks), int(workers))),
                       int(samples), float(min_speedup), int(minibatches),
                       round_trip_seconds=MIN_ROUND_TRIP, cluster_seconds=MIN_CLUSTER_SECONDS)


__all__ = ["ClusterPlan", "MIN_CLUSTER_SECONDS", "MIN_ROUND_TRIP", "SingleTaskPlan",
           "best_speedup", "client_parts", "default_chunks", "plan_cluster", "plan_workers",
           "single_task_reason"]
