"""Packaging (issue 16, part 6): the benchmarks ship inside the package.

``eqprop-hw bench`` runs the modules of ``eqprop_hw/bench/`` on the specs bundled beside them;
those specs must be the repository's ``circuits/`` files byte for byte, or a benchmark would
time a different circuit from the one the docs name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
                               "foundation", "isolation", "memory", "runs", "scaling"]
    assert all(path.parent == ROOT / "eqprop_hw" / "bench" for path in available.values())


# -- optional dependencies, each simulated missing in a fresh interpreter ---------------------
def _without(module: str, code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run Python ``code`` with ``module`` unimportable (``sys.modules[module] = None``)."""
    prelude = f"import sys\nsys.modules[{module!r}] = None\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-c", prelude + code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _cli_without(module: str, argv: list, cwd: Path) -> subprocess.CompletedProcess:
    return _without(module, f"from eqprop_hw.cli import main\nsys.exit(main({argv!r}))", cwd)


def _error_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if line.startswith("eqprop-hw: error:")]


def test_without_numba_the_compiled_solver_falls_back_and_warns_once(tmp_path):
    """compiled=True without numba: the numpy loop's voltages (bit for bit those of
    compiled=False), one RuntimeWarning naming the `fast` extra; with numba (when installed)
    the compiled loops agree to 1 nV."""
    code = f"""
import json, warnings
import numpy as np
from eqprop_hw.backends import make_backend
from eqprop_hw.backends.native import fused
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.spec import load_spec
circuit = build_circuit(load_spec({str(ROOT / "circuits" / "iris.yaml")!r}))
x = np.random.default_rng(0).uniform(-1, 1, (16, len(circuit.inputs)))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fast = make_backend("native", circuit, compiled=True)
    first = fast.solve(x).voltages
    second = fast.solve(x[::-1]).voltages
plain = make_backend("native", circuit).solve(x).voltages
print(json.dumps({{"available": fused.AVAILABLE, "same": bool(np.array_equal(first, plain)),
                  "warnings": [str(w.message) for w in caught], "v": first.tolist()}}))
"""
    proc = _without("numba", code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["available"] is False and out["same"] is True
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "numba is not installed" in out["warnings"][0]
    assert "pip install 'eqprop-hw[fast]'" in out["warnings"][0]
    from eqprop_hw.backends.native import fused
    if fused.AVAILABLE:
        from eqprop_hw.backends import make_backend
        from eqprop_hw.circuit.build import build_circuit
        from eqprop_hw.circuit.spec import load_spec
        circuit = build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))
        x = np.random.default_rng(0).uniform(-1, 1, (16, len(circuit.inputs)))
        compiled = make_backend("native", circuit, compiled=True).solve(x).voltages
        np.testing.assert_allclose(compiled, np.array(out["v"]), rtol=0, atol=1e-9)


def test_without_scikit_learn_iris_is_refused_naming_the_extra(tmp_path):
    proc = _cli_without("sklearn", ["train", str(ROOT / "circuits" / "iris.yaml"), "--epochs",
                                    "1", "--no-plots", "--out", "run"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert _error_lines(proc.stderr) == [
        "eqprop-hw: error: the iris data set needs scikit-learn, which is not installed: "
        "pip install 'eqprop-hw[data]'"]
    assert not list((tmp_path / "run").glob("*"))      # at most the empty folder


def test_without_scikit_learn_xor_still_trains(tmp_path):
    proc = _cli_without("sklearn", ["train", str(ROOT / "circuits" / "xor.yaml"), "--epochs",
                                    "1", "--no-plots", "--out", "run"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "params.npz").is_file()


def test_without_matplotlib_train_writes_no_plots_after_one_note(tmp_path):
    proc = _cli_without("matplotlib", ["train", str(ROOT / "circuits" / "xor.yaml"),
                                       "--epochs", "2", "--out", "run"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    notes = [line for line in proc.stderr.splitlines() if "matplotlib" in line]
    assert notes == ["eqprop-hw: matplotlib is not installed: no PNG plots are written "
                     "(pip install 'eqprop-hw[plot]' for them; --no-plots silences this note)"]
    written = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert "params.npz" in written and "metrics.json" in written
    assert not [name for name in written if name.endswith(".png")]
    quiet = _cli_without("matplotlib", ["train", str(ROOT / "circuits" / "xor.yaml"),
                                        "--epochs", "1", "--no-plots", "--out", "run2"],
                         tmp_path)
    assert quiet.returncode == 0 and "matplotlib" not in quiet.stderr


def test_without_matplotlib_an_asked_plot_is_refused(tmp_path):
    proc = _cli_without("matplotlib", ["simulate", str(ROOT / "circuits" / "xor.yaml"),
                                       "--input", "1,0", "--plot", "v.png"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert _error_lines(proc.stderr) == [
        "eqprop-hw: error: drawing plots (--plot, train's PNG files; or --no-plots) needs "
        "matplotlib, which is not installed: pip install 'eqprop-hw[plot]'"]
    assert not (tmp_path / "v.png").exists()


def test_without_dask_workers_are_refused_before_anything_is_written(tmp_path):
    proc = _cli_without("distributed", ["train", str(ROOT / "circuits" / "xor.yaml"),
                                        "--epochs", "1", "--workers", "2", "--out", "run"],
                        tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert _error_lines(proc.stderr) == [
        "eqprop-hw: error: training on workers (--workers/--scheduler) needs dask[distributed], "
        "which is not installed: pip install 'eqprop-hw[distributed]'"]
    assert list(tmp_path.iterdir()) == []


# -- the installed wheel -----------------------------------------------------------------------
@pytest.mark.slow
def test_bench_runs_from_an_installed_wheel(tmp_path):
    """Build a wheel from a copy of the source, install it (no deps) in a fresh venv that sees
    the system's site-packages for the heavy dependencies, and run ``eqprop-hw bench --help``
    and the quick suite from an empty folder outside the checkout, without PYTHONPATH: the
    package and its benchmarks must come from the wheel (about 3-12 minutes)."""
    import shutil
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
        "runs", "tests"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "-w", str(tmp_path / "w"),
                    "--no-deps", "-q"], check=True, env=env, timeout=600, capture_output=True)
    wheel, = (tmp_path / "w").glob("eqprop_hw-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv), "--system-site-packages"],
                   check=True, env=env, timeout=600)
    python, script = venv / "bin" / "python", venv / "bin" / "eqprop-hw"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, env=env, timeout=600, capture_output=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run([str(python), "-c", "import eqprop_hw; print(eqprop_hw.__file__)"],
                           cwd=empty, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    shown = subprocess.run([str(script), "bench", "--help"], cwd=empty, env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "eqprop_hw/bench/" in shown.stdout, shown.stderr
    done = subprocess.run([str(script), "bench", "--json"], cwd=empty, env=env,
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)["benchmarks"]
    assert sorted(results) == ["cli", "distributed", "echo_memory", "ep", "flops",
                               "foundation", "isolation", "memory", "runs", "scaling"]
    assert results["foundation"]["mnist_size.agree_to_1uV"] is True
    assert list(empty.iterdir()) == []           # the quick suite writes nothing
