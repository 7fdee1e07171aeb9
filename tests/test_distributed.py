"""Data-parallel training on Dask: bitwise identical to one process, survives a killed worker."""

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.cli import main
from eqprop_hw.learning.ep import chunk_bounds, chunked_gradient, ep_gradient, make_probe
from eqprop_hw.io.params import load_params
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.learning.train import train

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")


@pytest.fixture(scope="module")
def iris():
    return load_spec(ROOT / "circuits" / "iris.yaml")


@pytest.fixture(scope="module")
def single(iris, tmp_path_factory):
    """The single-process reference: 2 epochs, every minibatch in 2 parts."""
    out = tmp_path_factory.mktemp("single")
    metrics = train(iris, out, epochs=2, progress=False, plots=False, chunks=2)
    return metrics, load_params(out / "params.npz")


def test_chunk_bounds_depend_only_on_batch_and_chunks():
    assert chunk_bounds(4, 2) == [(0, 2), (2, 4)]
    assert chunk_bounds(5, 2) == [(0, 3), (3, 5)]
    assert chunk_bounds(2, 3) == [(0, 1), (1, 2)]


def test_one_chunk_equals_ep_gradient_on_small_batches(iris, monkeypatch):
    """Bitwise where ep_gradient takes the per-sample path (forced: iris is a crossbar, whose
    gradient otherwise comes from the block of node moments, equal to round-off)."""
    from eqprop_hw.learning import ep
    from eqprop_hw.backends import make_backend
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.io.data import load_dataset

    circuit = build_circuit(iris)
    dataset = load_dataset(iris, circuit)
    engine = make_backend("native", circuit)
    probe = make_probe(circuit, engine.node_names)
    x, t = dataset.x_train[:4], dataset.loss_targets(dataset.y_train[:4], "squared")
    blocks, _ = ep_gradient(engine, x, t, 2e-6, "centered", probe)
    monkeypatch.setattr(ep, "GRID_FILL", 0)
    reference, _ = ep_gradient(engine, x, t, 2e-6, "centered", probe)
    np.testing.assert_allclose(blocks, reference, rtol=1e-9, atol=0)
    assert np.array_equal(chunked_gradient(engine, x, t, 2e-6, "centered", probe, 1), reference)
    np.testing.assert_allclose(chunked_gradient(engine, x, t, 2e-6, "centered", probe, 3),
                               reference, rtol=1e-9, atol=0)


@pytest.mark.parametrize("min_speedup, where", [(0.0, "workers"), (float("inf"), "client")])
def test_two_workers_identical_to_single_process(iris, single, tmp_path, monkeypatch,
                                                 min_speedup, where):
    """Identical whether the minibatches go to the workers or, too small to gain, stay in the
    client (the threshold is forced both ways; the line says which and why)."""
    from eqprop_hw.learning import distributed as dask_training
    monkeypatch.setattr(dask_training, "MIN_SPEEDUP", min_speedup)
    lines = []
    metrics = train(iris, tmp_path, epochs=2, progress=False, plots=False, workers=2,
                    chunks=2, log=lines.append)
    assert metrics["workers"] == 2 and metrics["chunks"] == 2
    assert metrics["workers_dispatch"] == where
    assert lines[0].startswith("workers: a task (2 of 4 samples) takes ~")
    assert lines[0].endswith("on the workers" if where == "workers" else
                             "in this process (same numbers; tasks too small to gain)")
    for key in KEYS:
        assert metrics[key] == single[0][key]
    assert load_params(tmp_path / "params.npz") == single[1]


def test_killed_worker_is_survived_with_identical_results(iris, single, tmp_path):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        first_epoch = threading.Event()
        killed = []

        def kill_one():
            if not first_epoch.wait(120):
                return
            victim = sorted(client.scheduler_info()["workers"])[0]
            deadline = time.time() + 60
            while not client.processing([victim]).get(victim) and time.time() < deadline:
                time.sleep(0.001)                # wait until it holds a chunk of epoch 2
            try:
                client.run(os._exit, 1, workers=[victim])
            except Exception:  # noqa: BLE001 - the worker dies while answering
                pass
            killed.append(victim)

        killer = threading.Thread(target=kill_one, daemon=True)
        killer.start()
        metrics = train(iris, tmp_path, epochs=2, progress=False, plots=False,
                        scheduler=cluster.scheduler_address, chunks=2,
                        log=lambda line: first_epoch.set())
        killer.join(30)
        assert killed
        deadline = time.time() + 30
        while killed[0] in client.scheduler_info()["workers"] and time.time() < deadline:
            time.sleep(0.1)
        assert killed[0] not in client.scheduler_info()["workers"]   # it really died
    for key in KEYS:
        assert metrics[key] == single[0][key]
    assert load_params(tmp_path / "params.npz") == single[1]


def test_three_chunks_on_two_workers_go_as_two_tasks(iris, tmp_path, monkeypatch):
    """More chunks than workers: one task per worker, each solving its chunks as separate
    parts, so the numbers equal the single process with the same chunks."""
    from eqprop_hw.learning import distributed as dask_training
    monkeypatch.setattr(dask_training, "MIN_SPEEDUP", 0.0)
    submitted = []
    real = distributed.Client.submit
    monkeypatch.setattr(distributed.Client, "submit", lambda self, fn, *a, **k: (
        submitted.append(fn.__name__), real(self, fn, *a, **k))[1])
    reference = train(iris, tmp_path / "one", epochs=1, progress=False, plots=False, chunks=3)
    metrics = train(iris, tmp_path / "two", epochs=1, progress=False, plots=False, workers=2,
                    chunks=3)
    assert metrics["workers_dispatch"] == "workers"
    for key in KEYS:
        assert metrics[key] == reference[key]
    assert load_params(tmp_path / "two" / "params.npz") == load_params(
        tmp_path / "one" / "params.npz")
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.io.data import load_dataset
    samples = len(load_dataset(iris, build_circuit(iris)).x_train)
    batches = [min(4, samples - first) for first in range(0, samples, 4)]
    expected = sum(min(2, len(chunk_bounds(batch, 3))) for batch in batches)
    calibration = 4 * 2                      # calibrate() times the first minibatch 4 times
    assert submitted.count("chunks_terms") == expected + calibration   # 2 tasks, not 3, each
    assert "chunk_terms" not in submitted


def test_cli_workers_smoke(tmp_path, capsys):
    code = main(["train", str(ROOT / "circuits" / "iris.yaml"), "--epochs", "1", "--workers",
                 "2", "--out", str(tmp_path), "--no-plots", "--json"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["workers"] == 2 and metrics["epochs"] == [1]
    assert (tmp_path / "params.npz").exists()


def test_cli_workers_and_scheduler_are_exclusive(capsys):
    code = main(["train", str(ROOT / "circuits" / "iris.yaml"), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1"])
    assert code != 0
    assert "not allowed with" in capsys.readouterr().err


def test_scheduler_default_chunks_follow_the_rule(iris, tmp_path):
    """--scheduler without --chunks: the same rule as --workers (native, 4-sample minibatches:
    1 part, whatever the cluster's 2 workers); the minibatches go to the cluster, with the
    numbers of --chunks 1 in one process."""
    reference = train(iris, tmp_path / "one", epochs=1, progress=False, plots=False, chunks=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        metrics = train(iris, tmp_path / "cluster", epochs=1, progress=False, plots=False,
                        scheduler=cluster.scheduler_address)
    assert metrics["workers"] == 2 and metrics["chunks"] == 1
    assert "workers_dispatch" not in metrics               # a remote cluster is not calibrated
    for key in KEYS:
        assert metrics[key] == reference[key]
