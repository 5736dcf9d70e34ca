"""ExperimentStore: best values, counts, deduplication, and the caps that keep it bounded."""

from __future__ import annotations

import json
import threading

import pytest
from prometheus_client import CollectorRegistry

from kubetune.exporter import ExperimentStore, StoreLimits, TrialCollector, max_series
from kubetune.exporter.settings import INGEST_CODES

from ._support import FakeClock, Sender, experiment, result, trial


def test_best_value_is_the_highest_result_ever_seen_in_max_mode() -> None:
    store, s = ExperimentStore(), Sender(mode="max")
    store.apply(s.batch(trial("a", "RUNNING", config={"lr": 0.1}), trial("b", "RUNNING", config={"lr": 0.2})))
    store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.5}), result("b", 1, {"mean_accuracy": 0.7})))
    store.apply(s.batch(result("b", 2, {"mean_accuracy": 0.6}), result("a", 2, {"mean_accuracy": 0.65})))

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert (summary.best_trial, summary.best_value, summary.best_config) == ("b", 0.7, {"lr": 0.2})
    assert summary.results_total == 4


def test_best_value_is_the_lowest_result_in_min_mode() -> None:
    store, s = ExperimentStore(), Sender(metric="loss", mode="min")
    store.apply(s.batch(result("a", 1, {"loss": 0.9}), result("b", 1, {"loss": 0.3}), result("a", 2, {"loss": 0.4})))

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert (summary.best_trial, summary.best_value) == ("b", 0.3)


def test_results_without_the_objective_do_not_set_a_best_value() -> None:
    store, s = ExperimentStore(), Sender()
    store.apply(s.batch(result("a", 1, {"loss": 0.9})))

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert (summary.best_trial, summary.best_value, summary.results_total) == (None, None, 1)


def test_trial_counts_follow_every_state_transition() -> None:
    store, s = ExperimentStore(), Sender(num_samples=4)
    store.apply(s.batch(*(trial(t, "PENDING") for t in "abcd")))
    store.apply(s.batch(trial("a", "RUNNING"), trial("b", "RUNNING"), trial("c", "PAUSED")))
    store.apply(s.batch(trial("a", "TERMINATED"), trial("b", "ERROR"), trial("b", "ERROR")))

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert dict(summary.counts) == {"PENDING": 1, "RUNNING": 0, "PAUSED": 1, "TERMINATED": 1, "ERROR": 1}
    assert summary.num_samples == 4


def test_the_drivers_own_trial_count_replaces_what_trial_events_add_up_to() -> None:
    """A resume restarts errored trials under new ids: events see six trials where the driver has two."""
    store, s = ExperimentStore(), Sender(num_samples=2)
    for attempt in range(3):  # three KubeRay attempts, each restarting both errored trials
        ids = (f"a{attempt}", f"b{attempt}")
        store.apply(s.batch(*(trial(t, "RUNNING") for t in ids), experiment("RUNNING", trials={"RUNNING": 2})))
        store.apply(s.batch(*(trial(t, "ERROR") for t in ids), experiment("FAILED", trials={"ERROR": 2})))
    summary = store.summary("ml", "exp")
    assert summary is not None
    assert summary.counts_reported
    assert dict(summary.counts) == {"PENDING": 0, "RUNNING": 0, "PAUSED": 0, "TERMINATED": 0, "ERROR": 2}


def test_a_store_that_took_over_mid_trial_has_the_best_config_from_the_drivers_figures() -> None:
    """An operator replica that became leader after the trial started saw its results, never its config."""
    store, s = ExperimentStore(), Sender()
    best = {"trial": "a", "value": 0.9, "config": {"lr": 0.1}}
    store.apply(s.batch(result("a", 5, {"mean_accuracy": 0.9}), {**experiment("RUNNING"), "best": best}))
    summary = store.summary("ml", "exp")
    assert summary is not None
    assert (summary.best_trial, summary.best_value, summary.best_config) == ("a", 0.9, {"lr": 0.1})


def test_without_a_count_from_the_driver_trial_events_are_counted() -> None:
    store, s = ExperimentStore(), Sender()
    store.apply(s.batch(trial("a", "TERMINATED"), experiment("RUNNING")))
    summary = store.summary("ml", "exp")
    assert summary is not None
    assert not summary.counts_reported
    assert summary.counts["TERMINATED"] == 1


def test_a_result_before_any_trial_event_counts_the_trial_as_running() -> None:
    store, s = ExperimentStore(), Sender()
    store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.5})))

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert summary.counts["RUNNING"] == 1
    assert store.snapshot().experiments[0].trials["a"].iteration == 1


def test_a_batch_whose_seq_is_not_greater_than_the_last_is_ignored() -> None:
    store, s = ExperimentStore(), Sender()
    assert store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.5}), seq=5)) == 1
    assert store.apply(s.batch(result("a", 2, {"mean_accuracy": 0.9}), seq=5)) == 0
    assert store.ingest(s.batch(result("a", 2, {"mean_accuracy": 0.9}), seq=3)).duplicate

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert (summary.results_total, summary.best_value) == (1, 0.5)
    assert store.apply(s.batch(result("a", 2, {"mean_accuracy": 0.9}), seq=7)) == 1


def test_sequence_numbers_are_tracked_per_sender() -> None:
    store = ExperimentStore()
    one, two = Sender(sender="one"), Sender(sender="two")
    assert store.apply(one.batch(result("a", 1, {"x": 1.0}), seq=1)) == 1
    assert store.apply(two.batch(result("b", 1, {"x": 1.0}), seq=1)) == 1


def test_the_least_recently_used_sender_is_forgotten_beyond_max_senders() -> None:
    store = ExperimentStore(limits=StoreLimits(max_senders=1))
    one, two = Sender(sender="one"), Sender(sender="two")
    store.apply(one.batch(seq=1))
    store.apply(two.batch(seq=1))
    assert not store.ingest(one.batch(seq=1)).duplicate  # "one" was forgotten: its retry applies again
    assert store.ingest(one.batch(seq=1)).duplicate


def test_only_live_and_the_best_finished_trials_keep_records() -> None:
    store, s = ExperimentStore(limits=StoreLimits(keep_best_finished=2)), Sender()
    store.apply(s.batch(*(result(f"t{i}", 1, {"mean_accuracy": i / 10}) for i in range(6))))
    store.apply(s.batch(*(trial(f"t{i}", "TERMINATED") for i in range(5))))

    view = store.snapshot().experiments[0]
    assert set(view.trials) == {"t5", "t4", "t3"}  # t5 live; t4, t3 the best finished
    assert view.summary.counts["TERMINATED"] == 5


def test_the_best_trial_keeps_its_record_and_config_after_finishing() -> None:
    store, s = ExperimentStore(limits=StoreLimits(keep_best_finished=1)), Sender(mode="min", metric="loss")
    store.apply(s.batch(trial("a", "RUNNING", config={"lr": 1}), trial("b", "RUNNING", config={"lr": 2})))
    store.apply(s.batch(result("a", 1, {"loss": 0.1}), result("b", 1, {"loss": 0.5})))
    store.apply(s.batch(trial("b", "TERMINATED"), trial("a", "TERMINATED")))

    view = store.snapshot().experiments[0]
    assert set(view.trials) == {"a"}
    assert view.trials["a"].best == 0.1
    assert view.summary.best_config == {"lr": 1}


def test_live_trials_beyond_the_cap_are_counted_and_dropped_without_records() -> None:
    store, s = ExperimentStore(limits=StoreLimits(max_trials_per_experiment=2)), Sender()
    store.apply(s.batch(*(trial(f"t{i}", "RUNNING") for i in range(5))))
    store.apply(s.batch(*(result(f"t{i}", 1, {"mean_accuracy": 0.1}) for i in range(5))))

    snapshot = store.snapshot()
    view = snapshot.experiments[0]
    assert set(view.trials) == {"t0", "t1"}
    assert view.summary.counts["RUNNING"] == 5
    assert view.summary.results_total == 5
    assert view.dropped_trials == snapshot.dropped_trials_total == 3


def test_a_dropped_trial_gets_a_record_once_a_slot_is_free() -> None:
    store, s = ExperimentStore(limits=StoreLimits(max_trials_per_experiment=1, keep_best_finished=0)), Sender()
    store.apply(s.batch(trial("a", "RUNNING"), trial("b", "RUNNING")))
    store.apply(s.batch(trial("a", "TERMINATED"), result("b", 3, {"mean_accuracy": 0.4})))

    view = store.snapshot().experiments[0]
    assert set(view.trials) == {"b"}
    assert view.trials["b"].iteration == 3
    assert view.dropped_trials == 1


def test_extra_metric_names_are_ignored_but_the_objective_always_has_a_slot() -> None:
    store, s = ExperimentStore(limits=StoreLimits(max_metrics_per_trial=3)), Sender()
    store.apply(s.batch(result("a", 1, {"m1": 1.0, "m2": 2.0, "m3": 3.0, "m4": 4.0})))
    store.apply(s.batch(result("a", 2, {"m1": 5.0, "mean_accuracy": 0.5, "m9": 9.0})))

    metrics = store.snapshot().experiments[0].trials["a"].metrics
    assert dict(metrics) == {"m1": 5.0, "m2": 2.0, "mean_accuracy": 0.5}


def test_finished_experiments_age_out_after_the_ttl(clock: FakeClock) -> None:
    store = ExperimentStore(limits=StoreLimits(finished_ttl_seconds=60), clock=clock)
    done, running = Sender(name="done"), Sender(name="running", sender="driver-2")
    store.apply(done.batch(result("a", 1, {"mean_accuracy": 0.5}), experiment("FINISHED")))
    store.apply(running.batch(result("a", 1, {"mean_accuracy": 0.5})))

    clock.advance(59)
    assert store.summary("ml", "done") is not None
    clock.advance(1)
    assert store.summary("ml", "done") is None
    assert store.summary("ml", "running") is not None
    assert [v.summary.name for v in store.snapshot().experiments] == ["running"]


def test_the_experiment_cap_evicts_finished_experiments_first_oldest_first(clock: FakeClock) -> None:
    store = ExperimentStore(limits=StoreLimits(max_experiments=3), clock=clock)
    for i, name in enumerate(["old-done", "running", "new-done"]):
        clock.advance(1)
        events = [experiment("FINISHED")] if name.endswith("done") else []
        store.apply(Sender(name=name, sender=f"d{i}").batch(*events))
    clock.advance(1)
    store.apply(Sender(name="fourth", sender="d9").batch())

    names = {v.summary.name for v in store.snapshot().experiments}
    assert names == {"running", "new-done", "fourth"}
    assert store.snapshot().evicted_experiments_total == 1


def test_the_experiment_cap_evicts_the_stalest_running_experiment_when_none_finished(clock: FakeClock) -> None:
    store = ExperimentStore(limits=StoreLimits(max_experiments=2), clock=clock)
    stale, fresh = Sender(name="stale", sender="d1"), Sender(name="fresh", sender="d2")
    store.apply(stale.batch())
    clock.advance(1)
    store.apply(fresh.batch())
    clock.advance(1)
    store.apply(Sender(name="new", sender="d3").batch())

    assert {v.summary.name for v in store.snapshot().experiments} == {"fresh", "new"}


def test_a_changed_objective_starts_the_experiment_over() -> None:
    store = ExperimentStore()
    store.apply(Sender(sender="d1").batch(result("a", 1, {"mean_accuracy": 0.9})))
    store.apply(Sender(sender="d2", metric="loss", mode="min").batch(result("b", 1, {"loss": 0.3})))

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert (summary.metric, summary.best_trial, summary.results_total) == ("loss", "b", 1)


def test_the_oldest_finished_trial_id_is_forgotten_when_the_id_cap_is_reached() -> None:
    limits = StoreLimits(max_trial_ids_per_experiment=3, keep_best_finished=0)
    store, s = ExperimentStore(limits=limits), Sender()
    store.apply(s.batch(trial("a", "TERMINATED"), trial("b", "RUNNING"), trial("c", "RUNNING")))
    store.apply(s.batch(trial("d", "RUNNING")))  # forgets "a" (still counted)
    store.apply(s.batch(trial("e", "RUNNING")))  # nothing finished to forget: only counted as dropped

    view = store.snapshot().experiments[0]
    assert dict(view.summary.counts) == {"PENDING": 0, "RUNNING": 3, "PAUSED": 0, "TERMINATED": 1, "ERROR": 0}
    assert view.dropped_trials == 1


def test_the_summary_stays_small_with_5000_trials() -> None:
    store, s = ExperimentStore(), Sender()
    for start in range(0, 5000, 500):
        ids = [f"trial_{i:05d}" for i in range(start, start + 500)]
        store.apply(s.batch(*(trial(t, "RUNNING", config={"lr": 0.1}) for t in ids)))
        store.apply(s.batch(*(result(t, 1, {"mean_accuracy": int(t[-5:]) / 5000}) for t in ids)))
        store.apply(s.batch(*(trial(t, "TERMINATED") for t in ids)))

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert summary.counts["TERMINATED"] == 5000
    assert summary.best_trial == "trial_04999"
    assert len(json.dumps(dict(summary.counts))) + len(json.dumps(summary.best_config)) < 200
    assert len(store.snapshot().experiments[0].trials) == 5  # only the best finished keep records


def test_a_snapshot_does_not_change_when_later_batches_arrive() -> None:
    store, s = ExperimentStore(), Sender()
    store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.5})))
    before = store.snapshot()
    store.apply(s.batch(result("a", 2, {"mean_accuracy": 0.8}), result("b", 1, {"mean_accuracy": 0.1})))

    view = before.experiments[0]
    assert set(view.trials) == {"a"}
    assert view.trials["a"].metrics["mean_accuracy"] == 0.5
    with pytest.raises(TypeError):
        view.trials["a"].metrics["mean_accuracy"] = 1.0  # type: ignore[index]


def test_an_unchanged_experiment_is_not_copied_again_by_the_next_snapshot() -> None:
    store, s = ExperimentStore(), Sender()
    store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.5})))
    assert store.snapshot().experiments[0] is store.snapshot().experiments[0]


def test_concurrent_batches_from_many_senders_are_all_applied() -> None:
    store = ExperimentStore()

    def send(n: int) -> None:
        s = Sender(sender=f"driver-{n}")
        for i in range(50):
            store.apply(s.batch(result(f"t{n}", i, {"mean_accuracy": i / 50})))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary = store.summary("ml", "exp")
    assert summary is not None
    assert summary.results_total == 200


def test_max_series_with_the_default_limits_is_3_823_013() -> None:
    assert max_series(StoreLimits()) == 200 * (1005 * 19 + 20) + 13 == 3_823_013


def test_the_exported_series_reach_but_never_exceed_max_series_under_a_flood() -> None:
    limits = StoreLimits(max_experiments=3, max_trials_per_experiment=4, keep_best_finished=2, max_metrics_per_trial=3)
    store = ExperimentStore(limits=limits)
    many = {f"m{j}": 1.0 for j in range(10)}
    held = {"usage": {"gpuSeconds": 1.0, "cpuSeconds": 2.0, "trialSeconds": 1.0}}  # every usage series too
    for e in range(5):
        s = Sender(name=f"exp{e}", sender=f"d{e}")
        store.apply(s.batch(*({**result(f"t{i}", 1, many), **held} for i in range(20))))
        store.apply(s.batch(*(trial(f"t{i}", "TERMINATED") for i in range(0, 20, 2))))
        store.apply(s.batch(*({**result(f"t{i}", 2, {**many, "mean_accuracy": i}), **held} for i in range(20))))
        store.apply(s.batch({**experiment("RUNNING"), **held, "seeded": 3}))
    registry = CollectorRegistry()
    registry.register(TrialCollector(store))

    series = sum(len(family.samples) for family in registry.collect())
    ingest_series = len(INGEST_CODES) + 1  # in max_series, but not in this registry
    assert series == max_series(limits) - ingest_series


def test_limits_refuse_negative_values() -> None:
    with pytest.raises(ValueError, match="max_experiments"):
        StoreLimits(max_experiments=-1)


def test_on_change_hears_of_each_batch_that_changed_an_experiment_and_nothing_else() -> None:
    seen: list[tuple[str, str]] = []
    store, s = ExperimentStore(on_change=seen.append), Sender()
    store.apply(s.batch(trial("a", "RUNNING"), seq=1))
    store.apply(s.batch(trial("a", "RUNNING"), seq=1))  # a duplicate
    store.apply(s.batch(seq=2))  # nothing in it
    store.apply(Sender(name="other").batch(result("a", 1, {"mean_accuracy": 0.5})))
    assert seen == [("ml", "exp"), ("ml", "other")]


def test_a_failing_on_change_does_not_undo_or_refuse_the_batch() -> None:
    def broken(key: tuple[str, str]) -> None:
        raise RuntimeError("listener bug")

    store = ExperimentStore(on_change=broken)
    assert store.apply(Sender().batch(trial("a", "RUNNING"))) == 1
    assert store.summary("ml", "exp") is not None


def test_a_config_larger_than_the_wire_limit_is_not_kept_but_its_event_is() -> None:
    store, s = ExperimentStore(), Sender()
    huge = {"weights": [0.5] * 5000}  # about 20 KB of JSON: memory per record stays bounded
    assert store.apply(s.batch(trial("a", "RUNNING", config=huge), result("a", 1, {"mean_accuracy": 0.5}))) == 2

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert (summary.best_trial, summary.best_config, summary.counts["RUNNING"]) == ("a", None, 1)
