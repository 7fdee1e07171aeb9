"""The benchmarks that ``eqprop-hw bench`` runs, shipped inside the package.

Each public module here (``cli``, ``distributed``, ``echo_memory``, ``ep``, ``flops``,
``foundation``, ``isolation``, ``memory``, ``runs``, ``scaling``) defines ``run(args) -> dict``
(machine-readable ratios and times) and a ``TABLE`` of :class:`eqprop_hw.bench._table.Row`
(the lines of the human table: what is measured, unit, target; ``SUMMARY`` is their keys), and
runs on its own as ``python -m eqprop_hw.bench.NAME [--quick]`` (``tools/bench_NAME.py`` is the
same script, kept for source checkouts). They live in the package so that ``eqprop-hw bench``
works from an installed wheel, with the circuit specs they time bundled beside them
(``circuits/``, byte for byte the repository's ``circuits/`` files: a test checks it).

This module holds what several benchmarks share: where their specs are, and how to start a
benchmark's own module again in a fresh child process (one measurement per process, so peak
memory and BLAS threads are that measurement's own).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The specs the benchmarks time (xor, iris, digits, mnist_size), bundled with the package.
CIRCUITS = Path(__file__).resolve().parent / "circuits"

#: The folder that holds the ``eqprop_hw`` package (a source checkout or site-packages).
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


def spec_path(name: str) -> Path:
    """The bundled spec file of the benchmark circuit ``name`` (e.g. ``"iris"``)."""
    return CIRCUITS / f"{name}.yaml"


def child_env(extra: dict | None = None) -> dict:
    """The environment of a benchmark's child process.

    The folder holding this ``eqprop_hw`` is put first on ``PYTHONPATH``, so the child imports
    the same code as the parent (a checkout run with ``PYTHONPATH=$PWD``, or an installed
    wheel). ``extra`` adds or overrides variables (e.g. BLAS thread counts).
    """
    paths = [str(PACKAGE_PARENT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                     if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    env.update(extra or {})
    return env


def blas_threads_env(threads: int | None) -> dict:
    """Environment variables that cap BLAS at ``threads`` threads (None: numpy's default)."""
    if threads is None:
        return {}
    return {name: str(threads)
            for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def child_command(module: str, *argv: str) -> list[str]:
    """``python -m eqprop_hw.bench.MODULE ARGV...`` with this interpreter.

    Parameters
    ----------
    module : str
        The benchmark's name, ``memory`` for ``eqprop_hw.bench.memory`` (not ``__name__``:
        ``eqprop-hw bench`` loads the modules under names of its own).
    """
    return [sys.executable, "-m", f"eqprop_hw.bench.{module}", *argv]
