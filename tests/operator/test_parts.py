"""The operator's pure parts: the work queue, the rate limiter, conditions and patches, logs, tokens, summaries."""

from __future__ import annotations

import json
import logging
import math
import threading
from pathlib import Path

import pytest

from kubetune.exporter import ExperimentStore, ExperimentSummary
from kubetune.exporter.views import FrozenConfig
from kubetune.kube.api import RateLimiter
from kubetune.kube.bodies import Summary
from kubetune_operator.following import Mark, follow
from kubetune_operator.logs import JsonFormatter
from kubetune_operator.queueing import WorkQueue
from kubetune_operator.statuses import merge_diff, set_condition
from kubetune_operator.summarizing import continued, progress, summary_status
from kubetune_operator.tokens import ExperimentTokens, experiment_token
from tests.exporter._support import Sender, result, trial


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def queue(clock: Clock | None = None) -> WorkQueue[str]:
    return WorkQueue(backoff_seconds=1.0, max_backoff_seconds=4.0, **({"clock": clock} if clock else {}))


def test_a_key_added_twice_is_reconciled_once() -> None:
    q = queue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert [q.get(0), q.get(0), q.get(0)] == ["a", "b", None]


def test_a_key_is_never_handed_to_two_workers_at_once() -> None:
    q = queue()
    q.add("a")
    assert q.get(0) == "a"
    q.add("a")  # changed while being reconciled
    assert q.get(0) is None  # not handed out again yet
    q.done("a")
    assert q.get(0) == "a"  # now it is, once


def test_retries_back_off_exponentially_up_to_the_maximum_and_forget_resets() -> None:
    clock = Clock()
    q = queue(clock)
    assert [q.retry("a") for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    q.forget("a")
    assert q.retry("b") == 1.0
    q.forget("a")
    assert q.retry("a") == 1.0


def test_a_delayed_key_comes_when_due_and_the_earliest_due_time_wins() -> None:
    clock = Clock()
    q = queue(clock)
    q.add_after("a", 10)
    q.add_after("a", 2)
    assert q.get(0) is None
    clock.now += 2
    assert q.get(0) == "a"
    q.done("a")
    clock.now += 10
    assert q.get(0) is None  # the later due time was dropped


def test_shutdown_wakes_waiting_workers() -> None:
    q = queue()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(q.get()))
    worker.start()
    q.shutdown()
    worker.join(5)
    assert got == [None]


def test_the_rate_limiter_spends_the_burst_then_paces() -> None:
    clock, slept = Clock(), list[float]()
    limiter = RateLimiter(qps=10, burst=2, clock=clock, sleep=slept.append)
    for _ in range(4):
        limiter.acquire()
    assert slept == pytest.approx([0.1, 0.2])


def test_an_event_bucket_never_waits_it_says_no() -> None:
    clock = Clock()
    limiter = RateLimiter(qps=1, burst=2, clock=clock, sleep=lambda s: pytest.fail("try_acquire slept"))
    assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]
    clock.now += 1.0
    assert limiter.try_acquire()


def test_urgent_keys_go_first_and_a_queued_key_can_become_urgent() -> None:
    q = queue()
    for key in ("a", "b", "c"):
        q.add(key)
    q.add("new", urgent=True)
    q.add("c", urgent=True)  # already queued: moves to the urgent lane
    assert [q.get(timeout=0) for _ in range(4)] == ["new", "c", "a", "b"]


def test_a_key_made_urgent_while_it_is_reconciled_comes_back_first() -> None:
    q = queue()
    q.add("busy")
    assert q.get(timeout=0) == "busy"
    q.add("other")
    q.add("busy", urgent=True)
    q.done("busy")
    assert q.get(timeout=0) == "busy"


def test_the_oldest_age_is_how_long_the_longest_waiting_key_has_waited() -> None:
    clock = Clock()
    q = queue(clock)
    assert q.oldest_age() == 0
    q.add("a")
    clock.now += 3
    q.add("b")
    clock.now += 1
    assert q.oldest_age() == 4
    assert q.get(timeout=0) == "a"
    assert q.oldest_age() == 1


def test_a_condition_keeps_its_transition_time_until_its_status_changes() -> None:
    first = set_condition([], "Running", Mark("False", "Created"), generation=1, now="t1")
    again = set_condition(first, "Running", Mark("False", "Initializing", "new message"), generation=2, now="t2")
    flipped = set_condition(again, "Running", Mark("True", "Running"), generation=2, now="t3")
    assert [c["lastTransitionTime"] for c in (*first, *again, *flipped)] == ["t1", "t1", "t3"]
    assert again[0]["reason"] == "Initializing"
    assert again[0]["observedGeneration"] == 2
    ordered = set_condition(flipped, "Valid", Mark("True", "Valid"), generation=2, now="t4")
    assert [c["type"] for c in ordered] == ["Valid", "Running"]
    assert set_condition(ordered, "Running", None, generation=2, now="t5")[0]["type"] == "Valid"


def test_the_merge_patch_removes_what_disappeared_at_any_depth() -> None:
    current = {"phase": "Running", "summary": {"bestConfig": {"a": 1}, "bestValue": 1.0}, "completionTime": "t"}
    desired = {"phase": "Running", "summary": {"bestValue": 2.0}}
    assert merge_diff(current, desired) == {"summary": {"bestConfig": None, "bestValue": 2.0}, "completionTime": None}
    assert merge_diff(desired, desired) == {}


def test_unknown_and_suspended_deployments_are_pending() -> None:
    assert follow({"jobDeploymentStatus": "Suspended"}).phase == "Pending"
    odd = follow({"jobDeploymentStatus": "SomethingNew", "message": "?"})
    assert (odd.phase, odd.running.status, odd.running.reason) == ("Pending", "Unknown", "SomethingNew")
    stopped = follow({"jobDeploymentStatus": "Complete", "jobStatus": "STOPPED"})
    assert (stopped.phase, stopped.failed) == ("Failed", Mark("True", "JobStopped", "the Ray job ended STOPPED"))


def test_an_experiment_token_is_good_for_that_experiment_only() -> None:
    tokens = ExperimentTokens("master")
    token = experiment_token("master", namespace="ml", name="a").encode()
    assert tokens.authorize(token, namespace="ml", name="a")
    assert not tokens.authorize(token, namespace="ml", name="b")
    assert not tokens.authorize(token, namespace="other", name="a")
    assert tokens.authorize(b"master", namespace="ml", name="b")  # the master writes any experiment
    assert not tokens.authorize(b"guess", namespace="ml", name="a")


def test_a_rotated_token_file_takes_effect_and_the_old_token_lapses_after_its_grace(tmp_path: Path) -> None:
    clock, path = Clock(), tmp_path / "token"
    path.write_text("old\n")
    tokens = ExperimentTokens("old", path=str(path), previous_seconds=60, clock=clock)
    old_scoped = experiment_token("old", namespace="ml", name="a").encode()
    path.write_text("new\n")  # the kubelet updates the mounted Secret
    assert tokens.master() == "old"  # looked at again at most once a second
    clock.now += 1
    assert tokens.token(namespace="ml", name="a") == experiment_token("new", namespace="ml", name="a")
    assert tokens.authorize(b"new", namespace="ml", name="a")
    assert tokens.authorize(old_scoped, namespace="ml", name="a")  # running experiments keep reporting
    clock.now += 60
    assert not tokens.authorize(old_scoped, namespace="ml", name="a")
    assert not tokens.authorize(b"old", namespace="ml", name="a")


def test_an_unreadable_token_file_keeps_the_current_token(tmp_path: Path) -> None:
    clock, path = Clock(), tmp_path / "token"
    tokens = ExperimentTokens("current", path=str(path), clock=clock)
    clock.now += 5
    assert tokens.master() == "current"


def test_a_summary_continues_from_the_status_of_a_previous_process() -> None:
    before: Summary = {
        "metric": "m",
        "mode": "max",
        "resultsTotal": 10,
        "bestValue": 0.9,
        "bestTrial": "t1",
        "bestConfig": {"x": 1},
        "trials": {"pending": 1, "running": 3, "paused": 0, "terminated": 4, "error": 1},
    }
    fresh: Summary = {"metric": "m", "mode": "max", "resultsTotal": 2, "bestValue": 0.5, "bestTrial": "t7",
             "trials": {"pending": 0, "running": 2, "paused": 0, "terminated": 1, "error": 0}}  # fmt: skip
    merged = continued(before, fresh)
    assert merged["trials"] == {"pending": 0, "running": 2, "paused": 0, "terminated": 5, "error": 1}
    assert (merged["resultsTotal"], merged["bestValue"], merged["bestTrial"]) == (12, 0.9, "t1")
    assert merged["bestConfig"] == {"x": 1}
    better = continued(before, {**fresh, "bestValue": 0.95})
    assert (better["bestValue"], better["bestTrial"], "bestConfig" in better) == (0.95, "t7", False)
    other_objective = continued(before, {**fresh, "mode": "min"})
    assert other_objective["resultsTotal"] == 2
    assert progress(merged, total=None) == "6/?"
    # The driver counted its trials itself (restored ones included): that count replaces the old one.
    reported = continued(before, fresh, counts_reported=True)
    assert reported["trials"] == fresh["trials"]
    assert reported["resultsTotal"] == 12


def test_the_status_summary_is_strict_json_of_constant_size_with_5000_trials() -> None:
    store, s = ExperimentStore(), Sender()
    for start in range(0, 5000, 500):
        ids = [f"trial_{i:05d}" for i in range(start, start + 500)]
        store.apply(s.batch(*(trial(t, "RUNNING", config={"lr": 0.1}) for t in ids)))
        store.apply(s.batch(*(result(t, 1, {"mean_accuracy": int(t[-5:]) / 5000}) for t in ids)))
        store.apply(s.batch(*(trial(t, "TERMINATED") for t in ids)))
    found = store.summary("ml", "exp")
    assert found is not None

    status = summary_status(found, max_config_bytes=1024)
    assert len(json.dumps(status, allow_nan=False)) < 500
    assert status["trials"] == {"pending": 0, "running": 0, "paused": 0, "terminated": 5000, "error": 0}
    assert (status["bestTrial"], status["bestConfig"], status["lastUpdate"][-1]) == ("trial_04999", {"lr": 0.1}, "Z")
    assert "bestConfig" not in summary_status(found, max_config_bytes=5)  # over the limit: left out


def test_a_best_config_in_the_status_is_plain_json_equal_to_what_the_api_returns() -> None:
    store, s = ExperimentStore(), Sender()
    store.apply(s.batch(trial("a", "RUNNING", config={"layers": [64, {"units": [1, 2]}]})))
    store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.5})))
    found = store.summary("ml", "exp")
    assert found is not None

    config = summary_status(found, max_config_bytes=1024).get("bestConfig")
    assert config is not None
    assert config == json.loads(json.dumps(config))
    assert type(config["layers"]) is list  # not a tuple: merge_diff would see a change every time


def test_a_best_config_that_is_not_strict_json_never_reaches_the_status() -> None:
    """The wire refuses such configs; the status stays valid JSON for the API server even if one got through."""
    counts = dict.fromkeys(("PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR"), 0)
    found = ExperimentSummary(
        namespace="ml", name="exp", metric="m", mode="max", state="RUNNING", num_samples=None, counts=counts,  # type: ignore[arg-type]
        results_total=1, best_trial="t", best_value=0.5, best_config=FrozenConfig({"lr": math.nan}), last_update=0.0,
        counts_reported=False, results_reported=False,
    )  # fmt: skip
    status = summary_status(found, max_config_bytes=1024)
    assert "bestConfig" not in status
    json.dumps(status, allow_nan=False)


def test_logs_are_one_json_object_per_line_with_the_extra_fields() -> None:
    record = logging.LogRecord("kubetune_operator", logging.INFO, "f.py", 1, "created %s", ("exp",), None)
    record.namespace = "ml"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "created exp"
    assert (entry["level"], entry["logger"], entry["namespace"]) == ("info", "kubetune_operator", "ml")
    assert entry["time"].endswith("Z")
