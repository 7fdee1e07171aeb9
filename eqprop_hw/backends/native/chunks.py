"""Large batches in fixed chunks of :data:`CHUNK_ROWS` rows on a process-wide thread pool.

The chunks depend on the batch size only, never on the thread count, so results are the same
to the bit on one thread or several. While chunks run on threads BLAS is held to one thread
(threadpoolctl, when installed). Per-thread work arrays are kept between solves.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from eqprop_hw.backends.base import SolveResult


#: Smallest array (cells) kept between solves as a work array (:class:`WorkArrays`).
WORK_ARRAY_CELLS = 1 << 17

#: Rows per chunk of a large batch (:func:`chunk_slices`), fixed so that results
#: do not depend on the number of threads (measured on ``mnist_size``: 128-512 rows equally fast,
#: 64 slower from per-chunk overheads).
CHUNK_ROWS = 128

_POOLS: dict = {}

_BLAS_CONTROLLER: list = []


def _thread_pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads (made once)."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="eqprop-native")
    return _POOLS[workers]


def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries, or None without threadpoolctl."""
    if not _BLAS_CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
            _BLAS_CONTROLLER.append(ThreadpoolController().select(user_api="blas"))
        except Exception:                     # not installed, or no BLAS it can control
            _BLAS_CONTROLLER.append(None)
    return _BLAS_CONTROLLER[0]


def _blas_threads() -> int:
    """How many threads BLAS uses now (1 when they cannot be controlled)."""
    controller = _blas_controller()
    if controller is None:
        return 1
    return max((lib.num_threads for lib in controller.lib_controllers), default=1)


@contextlib.contextmanager
def one_blas_thread():
    """BLAS limited to one thread inside; yields how many it had (1 without threadpoolctl,
    which then changes nothing)."""
    controller = _blas_controller()
    threads = _blas_threads()
    if threads <= 1:
        yield 1
        return
    with controller.limit(limits=1):
        yield threads

class WorkArrays:
    """Scratch arrays kept between solves, one set per thread (contents undefined).

    For a large array used only inside one solve (``mnist_size``'s pinned voltages at batch
    1024: 13 MB): a fresh one costs more in page faults (first touch of new memory) than
    filling it.

    Attributes
    ----------
    arrays : dict
        ``(thread id, name) -> array``.
    """

    def __init__(self):
        self.arrays: dict = {}

    def get(self, name: str, shape) -> np.ndarray:
        """This thread's kept array ``name`` of ``shape`` (made, or remade on a new shape)."""
        key = (threading.get_ident(), name)
        array = self.arrays.get(key)
        if array is None or array.shape != shape:
            array = self.arrays[key] = np.empty(shape)
        return array

    def scratch(self, name: str, shape) -> np.ndarray:
        """A fresh array, or this thread's kept array (:meth:`get`) when it has at least
        :data:`WORK_ARRAY_CELLS` cells (contents undefined either way)."""
        if shape[0] * shape[1] >= WORK_ARRAY_CELLS:
            return self.get(name, shape)
        return np.empty(shape)


def chunk_slices(batch: int) -> list | None:
    """Row chunks (slices) of a batch of ``batch`` rows, or None to solve it whole.

    More than :data:`CHUNK_ROWS` rows are cut into equal chunks of at most ``CHUNK_ROWS`` rows.
    Their number depends on the batch size only, not on the threads that solve them
    (:func:`on_threads`), so a result is the same bit for bit on any number of cores.

    Examples
    --------
    >>> chunk_slices(100) is None, len(chunk_slices(2 * CHUNK_ROWS + 1))
    (True, 3)
    """
    chunks = -(-batch // CHUNK_ROWS)
    if chunks <= 1:
        return None
    bounds = np.linspace(0, batch, chunks + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def on_threads(function, parts, threads: int | None = None) -> list:
    """``function(part)`` for every chunk, BLAS on one thread, on as many threads as BLAS
    had (``threads`` overrides), at most one per chunk."""
    with one_blas_thread() as blas_threads:
        threads = min(threads if threads is not None else blas_threads, len(parts))
        if threads <= 1:
            return [function(part) for part in parts]
        pool = _thread_pool(threads)
        return list(pool.map(function, parts))


def joined(results, voltages, start: float, node_names, output_columns) -> SolveResult:
    """One result from the results of consecutive slices written into ``voltages`` (V; its
    columns follow ``node_names``), timed from ``start`` (``time.perf_counter()``)."""
    result = SolveResult("native", list(node_names), voltages, voltages[:, output_columns],
                         np.concatenate([r.converged for r in results]),
                         time.perf_counter() - start)
    result.unknowns = np.concatenate([r.unknowns for r in results])
    result.iterations = np.concatenate([r.iterations for r in results])
    return result
