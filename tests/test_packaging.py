"""Packaging (issue 16, part 6): the benchmarks ship inside the package.

``eqprop-hw bench`` runs the modules of ``eqprop_hw/bench/`` on the specs bundled beside them;
those specs must be the repository's ``circuits/`` files byte for byte, or a benchmark would
time a different circuit from the one the docs name.
"""

from __future__ import annotations

from pathlib import Path

from eqprop_hw import cli
from eqprop_hw.bench import CIRCUITS, spec_path

ROOT = Path(__file__).resolve().parents[1]


def test_bundled_benchmark_specs_equal_the_repository_circuits():
    bundled = sorted(CIRCUITS.glob("*.yaml"))
    assert [p.name for p in bundled] == ["digits.yaml", "iris.yaml", "mnist_size.yaml",
                                         "xor.yaml"]
    for path in bundled:
        assert path.read_bytes() == (ROOT / "circuits" / path.name).read_bytes(), path.name


def test_every_spec_a_benchmark_names_is_bundled():
    """Every repository spec a benchmark names as a string (``"iris"``) is bundled (so the
    benchmark runs from a wheel, where circuits/ is absent)."""
    stems = {p.stem for p in (ROOT / "circuits").glob("*.yaml")}
    text = "".join(p.read_text() for p in (ROOT / "eqprop_hw" / "bench").glob("*.py"))
    named = {stem for stem in stems if f'"{stem}"' in text}
    assert named == {"xor", "iris", "digits", "mnist_size"}
    for name in named:
        assert spec_path(name).is_file(), name


def test_bench_folder_lists_the_package_benchmarks():
    available = cli._benchmarks(cli.bench_folder())
    assert list(available) == ["cli", "distributed", "echo_memory", "ep", "flops",
                               "foundation", "isolation", "memory", "scaling"]
    assert all(path.parent == ROOT / "eqprop_hw" / "bench" for path in available.values())
