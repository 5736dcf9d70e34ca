"""The store's record of the scheduler's decisions (early stops, exploits, budget cuts, errors): exact counts by
reason, the latest few with their particulars, bounded, each end noted once (:mod:`kubetune.exporter.decisions`)."""

from __future__ import annotations

from typing import Any

from kubetune.exporter import ExperimentStore
from kubetune.exporter.decisions import DECISIONS, KEEP, EndsLog
from tests.exporter._support import Sender, trial


def ended(trial_id: str, reason: str, detail: str | None = None, *, state: str = "TERMINATED") -> dict[str, Any]:
    event = trial(trial_id, state)
    event["reason"] = reason
    if detail is not None:
        event["detail"] = detail
    return event


def decisions(store: ExperimentStore, name: str = "exp") -> EndsLog:
    found = store.summary("ml", name)
    assert found is not None
    return found.decisions


def test_decisions_are_counted_by_reason_with_the_latest_particulars() -> None:
    store, s = ExperimentStore(), Sender()
    store.apply(s.batch(trial("a", "RUNNING"), trial("b", "RUNNING"), trial("c", "RUNNING"), trial("d", "RUNNING")))
    store.apply(s.batch(
        ended("a", "early_stopped", "ASHA rung 1 (training_iteration 1): mean_accuracy 0.51 missed the cutoff 0.6"),
        ended("b", "finished"), ended("c", "errored", "ValueError: boom", state="ERROR"), ended("d", "cancelled"),
    ))  # fmt: skip

    log = decisions(store)
    assert dict(log.totals) == {"early_stopped": 1, "exploited": 0, "budget": 0, "errored": 1}
    assert [(e.seq, e.trial, e.reason) for e in log.latest] == [(1, "a", "early_stopped"), (2, "c", "errored")]
    assert log.latest[0].detail.startswith("ASHA rung 1")
    assert log.seq == 2
    assert set(log.totals) == set(DECISIONS)


def test_an_end_sent_again_is_noted_once_and_a_restarted_trial_may_end_again() -> None:
    store, s = ExperimentStore(), Sender()
    store.apply(s.batch(trial("a", "RUNNING"), ended("a", "exploited", "PBT: took trial b's config")))
    store.apply(s.batch(ended("a", "exploited", "PBT: took trial b's config")))  # the same end, resent
    assert decisions(store).totals["exploited"] == 1
    store.apply(s.batch(trial("a", "RUNNING"), ended("a", "exploited", "PBT: took trial c's config")))
    assert decisions(store).totals["exploited"] == 2


def test_the_log_is_bounded_and_the_counts_stay_exact() -> None:
    store, s = ExperimentStore(), Sender()
    n = KEEP * 3
    store.apply(s.batch(*(trial(f"t{i}", "RUNNING") for i in range(n))))
    store.apply(s.batch(*(ended(f"t{i}", "early_stopped", f"rung {i}") for i in range(n))))

    log = decisions(store)
    assert log.totals["early_stopped"] == n
    assert len(log.latest) == KEEP
    assert (log.latest[0].seq, log.latest[-1].seq, log.latest[-1].trial) == (n - KEEP + 1, n, f"t{n - 1}")


def test_an_experiment_the_store_starts_over_has_a_new_epoch() -> None:
    store = ExperimentStore()
    store.apply(Sender().batch(trial("a", "RUNNING"), ended("a", "budget", "time budget 60 s spent")))
    first = decisions(store)
    store.apply(Sender(metric="loss", mode="min").batch(trial("b", "RUNNING")))  # a new objective: a new start
    second = decisions(store)
    assert second.epoch != first.epoch
    assert second.seq == 0


def test_a_log_is_reused_until_the_next_decision() -> None:
    store, s = ExperimentStore(), Sender()
    store.apply(s.batch(trial("a", "RUNNING"), ended("a", "errored", "boom", state="ERROR")))
    assert decisions(store) is decisions(store)
