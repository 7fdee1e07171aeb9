"""Whether ``train --workers N`` should start a local Dask cluster at all (issue 19 item 5).

Starting and stopping a local cluster costs seconds (measured with ``tools/compare_workers.py``
on the 2-core shared session machine: iris native, 40 epochs, 11.6-30.6 s with 1 worker and
17.7-33.9 s with 2 against ~3-5 s of training, every minibatch in the client either way).
Before paying that, the run times one minibatch here and asks the cost model below whether
``N`` workers could gain even in the best case: idle workers, every task in parallel, and only
the least scheduler round trip a local cluster has (:data:`MIN_ROUND_TRIP`):

    best remote time  =  round trip + local time / N
    best speed-up     =  local time / best remote time
    best saving       =  minibatches of the run x (local time - best remote time)

When the best speed-up is below the one the run asks of its workers
(:data:`eqprop_hw.learning.distributed.MIN_SPEEDUP`), or the best saving is below what starting
and stopping a cluster costs at least (:data:`MIN_CLUSTER_SECONDS`), no cluster is started:
the minibatches are
solved in this process with the same ``chunks`` (:func:`eqprop_hw.learning.ep.chunked_gradient`:
the same numbers as on the workers), and :meth:`ClusterPlan.line` says so in one line. One
worker can never gain (best speed-up below 1), so ``--workers 1`` never starts a cluster for
the minibatches. When the model allows a gain the cluster is started and the measured
calibration (:meth:`eqprop_hw.learning.distributed.DaskGradient.calibrate`) decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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
        """The best speed-up the workers could reach."""
        return best_speedup(self.local_seconds, self.workers, self.round_trip_seconds)

    @property
    def saving(self) -> float:
        """The most the workers could save over the run's minibatches (s)."""
        best = self.round_trip_seconds + self.local_seconds / self.workers
        return self.minibatches * (self.local_seconds - best)

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
        best = self.round_trip_seconds + self.local_seconds / self.workers
        return (f"workers: a task ({self.samples // self.tasks} of {self.samples} samples) takes "
                f"~{1e3 * self.local_seconds / self.tasks:.2g} ms of work, a scheduler round "
                f"trip at least ~{1e3 * self.round_trip_seconds:.2g} ms; a minibatch takes "
                f"{1e3 * self.local_seconds:.2g} ms here and at best {1e3 * best:.2g} ms on "
                f"{self.workers} worker(s): {self.speedup:.2f}x (needs {self.min_speedup:g}x), "
                f"{max(self.saving, 0.0):.2g} s saved at best over {self.minibatches} minibatches "
                f"(a cluster costs >= {self.cluster_seconds:g} s), so no cluster is started and "
                f"minibatches run in this process (same numbers; tasks too small to gain)")


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


__all__ = ["ClusterPlan", "MIN_CLUSTER_SECONDS", "MIN_ROUND_TRIP", "best_speedup",
           "plan_cluster"]
