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


#: Smallest array (cells) kept between solves as a work array (:meth:`NativeBackend._work_array`).
WORK_ARRAY_CELLS = 1 << 17

#: Rows per chunk of a large batch (:meth:`NativeBackend._thread_slices`), fixed so that results
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

class Chunks:
    """The chunking and threading part of :class:`~eqprop_hw.backends.native.NativeBackend`."""

    def _work_array(self, name: str, shape) -> np.ndarray:
        """A scratch array kept between solves, one per thread (contents undefined).

        For a large array used only inside one solve (``mnist_size``'s pinned voltages at batch
        1024: 13 MB): a fresh one costs more in page faults (first touch of new memory) than
        filling it.
        """
        buffers = self.__dict__.setdefault("_work_arrays", {})
        key = (threading.get_ident(), name)
        array = buffers.get(key)
        if array is None or array.shape != shape:
            array = buffers[key] = np.empty(shape)
        return array

    def _scratch(self, name: str, shape) -> np.ndarray:
        """A fresh array, or this thread's work array :meth:`_work_array` when it has at least
        :data:`WORK_ARRAY_CELLS` cells (contents undefined either way)."""
        if shape[0] * shape[1] >= WORK_ARRAY_CELLS:
            return self._work_array(name, shape)
        return np.empty(shape)

    def _thread_slices(self, inputs, targets):
        """Row chunks of a batch (slices), or None to solve it whole.

        On the dense path with a Newton loop a batch of more than ``CHUNK_ROWS`` rows is cut
        into equal chunks of at most ``CHUNK_ROWS`` rows. Their number depends on the batch
        size only, not on the threads that solve them (:meth:`_on_threads`), so a result is
        the same bit for bit on any number of cores.
        """
        if not self._dense or not (len(self._diodes) or self.loss == "cross_entropy"):
            return None
        batch = np.shape(inputs)[0] if np.ndim(inputs) == 2 else 1
        chunks = -(-batch // CHUNK_ROWS)
        if chunks <= 1:
            return None
        bounds = np.linspace(0, batch, chunks + 1).astype(int)
        return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

    def _on_threads(self, function, parts) -> list:
        """``function(part)`` for every chunk, BLAS on one thread, on as many threads as BLAS
        had (``threads`` overrides), at most one per chunk."""
        with one_blas_thread() as blas_threads:
            threads = min(self.threads if self.threads is not None else blas_threads,
                          len(parts))
            if threads <= 1:
                return [function(part) for part in parts]
            pool = _thread_pool(threads)
            return list(pool.map(function, parts))

    def _joined(self, results, voltages, start) -> SolveResult:
        """One result from the results of consecutive slices written into ``voltages``."""
        result = SolveResult("native", list(self.node_names), voltages,
                             voltages[:, self.output_columns],
                             np.concatenate([r.converged for r in results]),
                             time.perf_counter() - start)
        result.unknowns = np.concatenate([r.unknowns for r in results])
        result.iterations = np.concatenate([r.iterations for r in results])
        return result
