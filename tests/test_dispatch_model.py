"""Issue 19 item 5: ``--workers N`` starts a local cluster only when its cost model allows a
gain (:mod:`eqprop_hw.learning.dispatch_model`), and stops a started one that its measured
calibration finds useless; either way the numbers equal one process with the same chunks.

The decision is tested against the model's own formulas (given times), not against timings;
the runs check which path was taken (``connect``/``disconnect`` watched) and the numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.learning import dispatch_model as model
from eqprop_hw.learning.dispatch_model import ClusterPlan, best_speedup
from eqprop_hw.learning.ep import chunk_bounds

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")


@pytest.mark.parametrize("local, workers, round_trip", [
    (0.004, 2, 0.002), (0.1, 2, 0.002), (0.03, 4, 0.01), (1.0, 1, 0.0), (0.0005, 3, 0.002)])
def test_best_speedup_is_local_over_round_trip_plus_a_share(local, workers, round_trip):
    # by hand: the minibatch split evenly over idle workers, one round trip on top
    assert best_speedup(local, workers, round_trip) == pytest.approx(
        local / (round_trip + local / workers), rel=1e-12)


def test_one_worker_never_gains_and_more_workers_gain_more():
    for local in (1e-4, 1e-3, 0.01, 0.1, 1.0, 100.0):
        assert best_speedup(local, 1) < 1.0
        assert not ClusterPlan(local, 1, 1, 4, 1.2, minibatches=10 ** 9).start
        assert best_speedup(local, 2) < best_speedup(local, 4) < 4


def test_the_plan_starts_exactly_where_both_conditions_hold():
    # speed-up: local / (rt + local / 2) >= s  <=>  local >= s rt / (1 - s / 2)
    rt, s = 0.002, 1.2
    edge = s * rt / (1 - s / 2)                          # 6 ms
    assert not ClusterPlan(edge * 0.99, 2, 2, 4, s, 10 ** 6, rt, 0.0).start
    assert ClusterPlan(edge * 1.01, 2, 2, 4, s, 10 ** 6, rt, 0.0).start
    # saving: minibatches x (local - rt - local / 2) >= cluster seconds
    local, cluster = 0.1, 2.0
    per_minibatch = local - rt - local / 2               # 48 ms
    enough = int(cluster / per_minibatch) + 1            # 42 minibatches
    plan = ClusterPlan(local, 2, 2, 4, s, enough, rt, cluster)
    assert plan.saving == pytest.approx(enough * per_minibatch) and plan.start
    assert not ClusterPlan(local, 2, 2, 4, s, enough - 1, rt, cluster).start
    assert plan.dispatch is False                        # only a calibration sends work out
    # no speed-up asked for: the workers whatever they cost
    assert ClusterPlan(1e-6, 1, 1, 4, 0.0, 1, rt, cluster).start


def test_the_line_gives_the_model_numbers_and_the_decision():
    line = ClusterPlan(0.004, 2, 2, 4, 1.2, 1080, 0.002, 2.0).line()
    assert line.startswith("workers: a task (2 of 4 samples) takes ~2 ms of work, a scheduler "
                           "round trip at least ~2 ms; a minibatch takes 4 ms here and at best "
                           "4 ms on 2 worker(s): 1.00x (needs 1.2x), 0 s saved at best over "
                           "1080 minibatches (a cluster costs >= 2 s)")
    assert ClusterPlan(0.004, 2, 2, 4, 1.2, 1080).round_trip_seconds == model.MIN_ROUND_TRIP
    assert line.endswith("so no cluster is started and minibatches run in this process (same "
                         "numbers; tasks too small to gain)")
    assert "\n" not in line


def test_default_chunks_are_parts_of_at_least_the_native_chunk_rows():
    from eqprop_hw.backends.native.chunks import CHUNK_ROWS, chunk_slices
    for batch in (1, 4, CHUNK_ROWS - 1, CHUNK_ROWS, 2 * CHUNK_ROWS - 1, 2 * CHUNK_ROWS,
                  5 * CHUNK_ROWS + 3):
        for workers in (1, 2, 3, 8):
            parts = model.default_chunks("native", batch, workers)
            # by hand: as many parts as fit CHUNK_ROWS rows each, one per worker at most
            assert parts == max(1, min(workers, batch // CHUNK_ROWS))
            if parts > 1:      # every part at least the native solver's own chunk
                assert min(b - a for a, b in chunk_bounds(batch, parts)) >= CHUNK_ROWS
            assert model.default_chunks("ngspice", batch, workers) == workers
    assert chunk_slices(CHUNK_ROWS) is None          # a part that size is one native call


def test_bundled_examples_default_to_one_native_part_and_one_ngspice_part_per_worker():
    from eqprop_hw.circuit.spec import load_spec
    from eqprop_hw.learning.train import settings_from
    for name in ("iris", "digits", "xor"):
        batch = settings_from(load_spec(ROOT / "circuits" / f"{name}.yaml")).batch_size
        assert model.default_chunks("native", batch, 2) == 1, name
        assert model.default_chunks("ngspice", batch, 2) == 2, name
    assert (model.client_parts("ngspice", 3), model.client_parts("native", 3)) == (1, 3)


def test_one_task_per_minibatch_never_starts_a_cluster():
    """A minibatch of one part goes out as one task: the best remote time is the round trip
    plus the whole local time, whatever the workers and the timing."""
    for local in (1e-4, 0.01, 1.0, 100.0):
        for workers in (1, 2, 8):
            plan = ClusterPlan(local, workers, 1, 4, 1.2, 10 ** 9)
            assert plan.speedup == pytest.approx(local / (model.MIN_ROUND_TRIP + local))
            assert plan.speedup < 1 and not plan.start
    # 2 parts on 8 workers: 2 busy at once (local / (rt + local / 2)), not 8
    assert ClusterPlan(1.0, 8, 2, 4, 1.2, 1).speedup == pytest.approx(
        1.0 / (model.MIN_ROUND_TRIP + 0.5))


def test_the_single_task_line_names_the_parts_and_the_reason():
    reason = model.single_task_reason("native", None)
    line = model.SingleTaskPlan(2, 1, 4, reason, whole=True).line()
    assert line == ("workers: 1 part per minibatch of 4 samples (native solver: a part under "
                    "128 rows costs about what one batched call of the whole minibatch costs, "
                    "so the default is 1 part; --chunks C splits it), so one task per "
                    "minibatch, which only one of the 2 workers can run: they cannot be faster "
                    "than this process; no cluster is started and minibatches run in this "
                    "process (the numbers of a run without --workers)")
    assert model.single_task_reason("ngspice", 3) == "--chunks 3"
    plan = model.SingleTaskPlan(1, 3, 16, "--chunks 3", whole=False)
    assert not plan.start and not plan.dispatch
    assert plan.line() == ("workers: 3 parts per minibatch of 16 samples (--chunks 3), one "
                           "worker runs one task at a time, so it cannot be faster than this "
                           "process; no cluster is started and minibatches run in this process "
                           "(the numbers of --chunks 3 in one process)")


# -- the runs ------------------------------------------------------------------------------------
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def iris():
    from eqprop_hw.circuit.spec import load_spec
    return load_spec(ROOT / "circuits" / "iris.yaml")


@pytest.fixture(scope="module")
def single(iris, tmp_path_factory):
    from eqprop_hw.learning.train import train
    out = tmp_path_factory.mktemp("single")
    return train(iris, out, epochs=2, progress=False, plots=False, chunks=2)


@pytest.fixture
def watched(monkeypatch):
    """Counts of ``connect`` and ``disconnect`` calls of the training's Dask helpers."""
    from eqprop_hw.learning import distributed as dask_training
    calls = {"connect": 0, "disconnect": 0}
    for name in calls:
        real = getattr(dask_training, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)
        monkeypatch.setattr(dask_training, name, counted)
    return calls


def test_a_model_without_gain_starts_no_cluster_and_keeps_the_numbers(iris, single, tmp_path,
                                                                      monkeypatch, watched):
    from eqprop_hw.learning.train import train
    monkeypatch.setattr(model, "MIN_CLUSTER_SECONDS", float("inf"))   # no run can repay it
    lines = []
    metrics = train(iris, tmp_path, epochs=2, progress=False, plots=False, workers=2,
                    chunks=2, log=lines.append)
    assert watched == {"connect": 0, "disconnect": 0}
    assert metrics["workers"] == 2 and metrics["chunks"] == 2
    assert metrics["workers_dispatch"] == "client"
    assert "(a cluster costs >= inf s), so no cluster is started" in lines[0]
    for key in KEYS:
        assert metrics[key] == single[key]


def test_one_worker_never_starts_a_cluster(iris, single, tmp_path, watched):
    """Whole minibatches by default (the numbers of a run without --workers); with --chunks 2
    the numbers of --chunks 2 in one process."""
    from eqprop_hw.learning.train import train
    reference = train(iris, tmp_path / "one", epochs=1, progress=False, plots=False)
    metrics = train(iris, tmp_path / "w", epochs=1, progress=False, plots=False, workers=1)
    assert watched["connect"] == 0 and metrics["workers_dispatch"] == "client"
    assert metrics["chunks"] is None
    for key in KEYS:
        assert metrics[key] == reference[key]
    lines = []
    metrics = train(iris, tmp_path / "w2", epochs=2, progress=False, plots=False, workers=1,
                    chunks=2, log=lines.append)
    assert watched["connect"] == 0 and metrics["chunks"] == 2
    assert lines[0].startswith("workers: 2 parts per minibatch of 4 samples (--chunks 2), one "
                               "worker runs one task at a time")
    for key in KEYS:
        assert metrics[key] == single[key]


def test_a_started_cluster_that_cannot_gain_is_stopped_before_training(iris, single, tmp_path,
                                                                       monkeypatch, watched):
    """The model allows a gain (no round trip, no start-up cost), the calibration measures
    none (2 workers would have to be 1.99x faster): the cluster is stopped at once."""
    from eqprop_hw.learning import distributed as dask_training
    from eqprop_hw.learning.train import train
    monkeypatch.setattr(model, "MIN_ROUND_TRIP", 0.0)
    monkeypatch.setattr(model, "MIN_CLUSTER_SECONDS", 0.0)
    monkeypatch.setattr(dask_training, "MIN_SPEEDUP", 1.99)
    stopped_before = []
    real_step = None
    from eqprop_hw.learning.train import ResistiveTrainer
    real_step = ResistiveTrainer.step

    def step(self, epoch, first):
        stopped_before.append(watched["disconnect"])
        return real_step(self, epoch, first)
    monkeypatch.setattr(ResistiveTrainer, "step", step)
    lines = []
    metrics = train(iris, tmp_path, epochs=2, progress=False, plots=False, workers=2,
                    chunks=2, log=lines.append)
    assert watched["connect"] == 1 and stopped_before[0] == 1      # stopped before epoch 1
    assert metrics["workers_dispatch"] == "client"
    assert lines[0].endswith("in this process (same numbers; tasks too small to gain)")
    for key in KEYS:
        assert metrics[key] == single[key]


@pytest.fixture
def untimed(monkeypatch):
    """No minibatch may be timed: a one-task run decides without timing."""
    def refuse(*args, **kwargs):
        raise AssertionError("plan_cluster timed a one-task run")
    monkeypatch.setattr(model, "plan_cluster", refuse)


def test_two_workers_default_native_is_the_run_without_workers(iris, tmp_path, watched, untimed):
    """Determinism: --workers 2 with the default chunks on the native backend trains exactly
    as a run without --workers (same losses and params to the bit), with no cluster and no
    timing, and its one line says why."""
    from eqprop_hw.io.params import load_params
    from eqprop_hw.learning.train import train
    reference = train(iris, tmp_path / "one", epochs=2, progress=False, plots=False)
    lines = []
    metrics = train(iris, tmp_path / "two", epochs=2, progress=False, plots=False, workers=2,
                    log=lines.append)
    assert watched == {"connect": 0, "disconnect": 0}
    assert (metrics["workers"], metrics["chunks"], metrics["workers_dispatch"]) == (2, None,
                                                                                   "client")
    assert lines[0].startswith("workers: 1 part per minibatch of 4 samples (native solver: a "
                               "part under 128 rows")
    assert lines[0].endswith("(the numbers of a run without --workers)")
    for key in KEYS:
        assert metrics[key] == reference[key]
    assert load_params(tmp_path / "two" / "params.npz") == load_params(
        tmp_path / "one" / "params.npz")


def test_explicit_chunks_one_is_obeyed(iris, tmp_path, watched, untimed):
    from eqprop_hw.learning.train import train
    reference = train(iris, tmp_path / "one", epochs=1, progress=False, plots=False, chunks=1)
    lines = []
    metrics = train(iris, tmp_path / "two", epochs=1, progress=False, plots=False, workers=2,
                    chunks=1, log=lines.append)
    assert watched["connect"] == 0 and metrics["chunks"] == 1
    assert lines[0].startswith("workers: 1 part per minibatch of 4 samples (--chunks 1), so one "
                               "task per minibatch")
    for key in KEYS:
        assert metrics[key] == reference[key]


def test_ngspice_rows_do_not_depend_on_the_split(iris):
    """ngspice solves each sample as its own analyses: the local-rule rows of a sample are the
    same bits whatever else its call solves (the ground of :func:`client_parts`)."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.io.data import load_dataset
    from eqprop_hw.learning.ep import chunked_gradient, local_rule_terms, make_probe, run_phases
    circuit = build_circuit(iris)
    dataset = load_dataset(iris, circuit)
    engine = make_backend("ngspice", circuit)
    try:
        probe = make_probe(circuit, engine.node_names)
        x, t = dataset.x_train[:5], dataset.loss_targets(dataset.y_train[:5], "squared")

        def rows(inputs, targets):
            return local_rule_terms(run_phases(engine, probe, inputs, targets, 2e-6).voltages,
                                    probe, "centered")
        whole = rows(x, t)
        assert np.array_equal(rows(x[::-1], t[::-1])[::-1], whole)
        assert np.array_equal(rows(x[3:4], t[3:4]), whole[3:4])
        one = chunked_gradient(engine, x, t, 2e-6, "centered", probe, 1)
        for parts in (2, 3, 5):
            assert np.array_equal(chunked_gradient(engine, x, t, 2e-6, "centered", probe, parts),
                                  one)
    finally:
        engine.close()


def test_ngspice_kept_in_this_process_solves_a_minibatch_in_one_call(tmp_path, monkeypatch,
                                                                     watched):
    """--workers 2 with ngspice: 2 parts (one per worker, the numbers of --chunks 2); kept
    here, the minibatch is one call, the same numbers."""
    from eqprop_hw.circuit.spec import load_spec
    from eqprop_hw.learning import train as training
    xor = load_spec(ROOT / "circuits" / "xor.yaml")
    monkeypatch.setattr(model, "MIN_CLUSTER_SECONDS", float("inf"))   # no run can repay it
    reference = training.train(xor, tmp_path / "one", backend="ngspice", epochs=3,
                               progress=False, plots=False, chunks=2)
    calls = []
    real = training.chunked_gradient

    def counted(*args):
        calls.append(args[-1])
        return real(*args)
    monkeypatch.setattr(training, "chunked_gradient", counted)
    metrics = training.train(xor, tmp_path / "two", backend="ngspice", epochs=3,
                             progress=False, plots=False, workers=2)
    assert watched["connect"] == 0 and metrics["chunks"] == 2
    assert set(calls) == {1} and len(calls) == 3 + 4     # 3 minibatches, 4 to time the model
    for key in KEYS:
        assert metrics[key] == reference[key]
