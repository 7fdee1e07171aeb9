"""Issue 19 item 5: ``--workers N`` starts a local cluster only when its cost model allows a
gain (:mod:`eqprop_hw.learning.dispatch_model`), and stops a started one that its measured
calibration finds useless; either way the numbers equal one process with the same chunks.

The decision is tested against the model's own formulas (given times), not against timings;
the runs check which path was taken (``connect``/``disconnect`` watched) and the numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eqprop_hw.learning import dispatch_model as model
from eqprop_hw.learning.dispatch_model import ClusterPlan, best_speedup

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
                    log=lines.append)
    assert watched == {"connect": 0, "disconnect": 0}
    assert metrics["workers"] == 2 and metrics["chunks"] == 2
    assert metrics["workers_dispatch"] == "client"
    assert "(a cluster costs >= inf s), so no cluster is started" in lines[0]
    for key in KEYS:
        assert metrics[key] == single[key]


def test_one_worker_never_starts_a_cluster(iris, tmp_path, watched):
    from eqprop_hw.learning.train import train
    reference = train(iris, tmp_path / "one", epochs=1, progress=False, plots=False, chunks=1)
    metrics = train(iris, tmp_path / "w", epochs=1, progress=False, plots=False, workers=1)
    assert watched["connect"] == 0 and metrics["workers_dispatch"] == "client"
    for key in KEYS:
        assert metrics[key] == reference[key]


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
                    log=lines.append)
    assert watched["connect"] == 1 and stopped_before[0] == 1      # stopped before epoch 1
    assert metrics["workers_dispatch"] == "client"
    assert lines[0].endswith("in this process (same numbers; tasks too small to gain)")
    for key in KEYS:
        assert metrics[key] == single[key]
