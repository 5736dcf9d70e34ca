"""Kubernetes Events for the scheduler's decisions (:mod:`kubetune_operator.decisions`): one per trial stopped
early, exploited, cut by the budget or errored, at most one per reason and experiment per window, the ends inside a
window aggregated into one; unit tests with an injected clock, then an ASHA-style burst on the real API server."""

from __future__ import annotations

from typing import Any, cast

from kubetune.exporter import ExperimentStore
from kubetune.exporter.decisions import KEEP
from kubetune.kube.api import KubeAPI
from kubetune.kube.bodies import Body
from kubetune_operator.decisions import DecisionEvents, message
from kubetune_operator.posting import EventPoster
from kubetune_operator.settings import StatusSettings
from tests.cluster.cluster import Cluster, eventually
from tests.exporter._support import FakeClock, Sender, trial
from tests.exporter.test_decisions import ended

from .conftest import Run, wait_tx
from .conftest import experiment as tune_experiment
from .test_ingest import post, sender

EXPERIMENT = cast(Body, {"metadata": {"namespace": "ml", "name": "exp", "uid": "u-1", "generation": 1}})
RUNG = "ASHA rung 1 (training_iteration 1): mean_accuracy 0.51 missed the cutoff 0.6"


class FakeAPI:
    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    def create_event(self, *, namespace: str, body: dict[str, Any]) -> None:
        self.posted.append(body)

    def said(self) -> list[tuple[str, str, str]]:
        return [(e["type"], e["reason"], e["message"]) for e in self.posted]


class Rig:
    """A store, a poster that sends at once to a fake API, and decisions on a fake monotonic clock."""

    def __init__(self, window: float = 10.0) -> None:
        self.store, self.api, self.clock, self.sender = ExperimentStore(), FakeAPI(), FakeClock(100.0), Sender()
        poster = EventPoster(api=cast(KubeAPI, self.api), now=lambda: "2026-01-01T00:00:00Z")
        self.decisions = DecisionEvents(store=self.store, events=poster, window_seconds=window, clock=self.clock)

    def send(self, *events: dict[str, Any]) -> None:
        self.store.apply(self.sender.batch(*events))

    def start(self, *ids: str) -> None:
        self.send(*(trial(i, "RUNNING") for i in ids))

    def look(self) -> float | None:
        return self.decisions.post(EXPERIMENT, ("ml", "exp"))


def test_the_first_decision_is_posted_at_once_as_trial_and_detail() -> None:
    rig = Rig()
    rig.start("a", "b")
    rig.send(ended("a", "early_stopped", RUNG), ended("b", "finished"))
    assert rig.look() is None
    assert rig.api.said() == [("Normal", "TrialStoppedEarly", f"trial a: {RUNG}")]
    assert rig.api.posted[0]["involvedObject"]["name"] == "exp"
    assert rig.look() is None  # nothing new: nothing posted
    assert len(rig.api.posted) == 1


def test_ends_inside_the_window_become_one_event_when_it_ends() -> None:
    rig = Rig(window=10)
    rig.start(*(f"t{i}" for i in range(16)))
    rig.send(ended("t0", "early_stopped", RUNG))
    rig.look()
    rig.clock.advance(2)
    for i in range(1, 15):  # a rung's worth of stops, in three batches, inside the window
        rig.send(ended(f"t{i}", "early_stopped", f"rung 1: trial t{i} missed the cutoff"))
        if i % 5 == 0:
            assert rig.look() == 8.0  # requeue when the window ends
    assert rig.look() == 8.0
    assert len(rig.api.posted) == 1
    rig.clock.advance(8)
    assert rig.look() is None
    assert rig.api.said()[1] == ("Normal", "TrialStoppedEarly",
                                 "14 trials stopped early in the last 10 s; latest trial t14: rung 1: trial t14 missed "
                                 "the cutoff")  # fmt: skip
    rig.send(ended("t15", "early_stopped", RUNG))  # inside the next window (it started with that post)
    assert rig.look() == 10.0


def test_each_reason_has_its_own_window_and_errors_are_warnings() -> None:
    rig = Rig()
    rig.start("a", "b", "c", "d")
    rig.send(ended("a", "early_stopped", RUNG))
    rig.look()
    rig.send(ended("b", "errored", "RuntimeError: CUDA out of memory", state="ERROR"),
             ended("c", "exploited", "PBT: took the config and checkpoint of trial d"),
             ended("d", "budget", "the time budget (60 s) ran out"))  # fmt: skip
    assert rig.look() is None
    assert rig.api.said()[1:] == [
        ("Normal", "TrialExploited", "trial c: PBT: took the config and checkpoint of trial d"),
        ("Normal", "TrialCutByBudget", "trial d: the time budget (60 s) ran out"),
        ("Warning", "TrialErrored", "trial b: RuntimeError: CUDA out of memory"),
    ]


def test_counts_stay_exact_when_more_ends_arrive_than_the_store_keeps() -> None:
    rig = Rig()
    n = KEEP * 4
    rig.start(*(f"t{i}" for i in range(n + 1)), "x")
    rig.send(ended("x", "early_stopped", RUNG))
    rig.look()
    rig.send(*(ended(f"t{i}", "early_stopped", f"rung 2, t{i}") for i in range(n)))
    rig.clock.advance(10)
    rig.look()
    last = f"t{n - 1}"
    assert rig.api.said()[-1][2] == f"{n} trials stopped early in the last 10 s; latest trial {last}: rung 2, {last}"


def test_an_experiment_the_store_started_over_still_gets_its_new_ends() -> None:
    rig = Rig()
    rig.start("a")
    rig.send(ended("a", "early_stopped", RUNG))
    rig.look()
    rig.sender = Sender(metric="loss", mode="min")  # a new objective: the store starts the experiment over
    rig.start("b")
    rig.send(ended("b", "early_stopped", "median rule"))
    rig.clock.advance(10)
    rig.look()
    assert rig.api.said()[-1][2] == "trial b: median rule"


def test_an_end_without_detail_and_a_window_of_zero() -> None:
    rig = Rig(window=0)
    rig.start("a", "b", "c")
    rig.send(ended("a", "budget"))
    assert rig.look() is None
    rig.send(ended("b", "budget"), ended("c", "budget"))
    assert rig.look() is None
    assert [m for _, _, m in rig.api.said()] == ["trial a cut by the budget",
                                                  "2 trials cut by the budget in the last 0 s; latest trial c cut by "
                                                  "the budget"]  # fmt: skip
    assert message("errored", 3, None, window_seconds=10) == "3 trials errored in the last 10 s"


def test_a_shutdown_posts_what_the_window_held_back() -> None:
    rig = Rig()
    rig.start("a", "b", "c")
    rig.send(ended("a", "early_stopped", RUNG))
    rig.look()
    rig.send(ended("b", "early_stopped", RUNG), ended("c", "early_stopped", RUNG))
    assert rig.look() == 10.0
    rig.decisions.stop_pacing()
    assert rig.look() is None
    assert rig.api.said()[-1][2] == f"2 trials stopped early in the last 10 s; latest trial c: {RUNG}"


def test_nothing_fails_the_reconcile_and_forgotten_experiments_start_afresh() -> None:
    rig = Rig()
    assert rig.look() is None  # unknown to the store

    def broken(namespace: str, name: str) -> None:
        raise RuntimeError("a bug")

    rig.start("a")
    rig.send(ended("a", "errored", "boom", state="ERROR"))
    good = rig.store.summary
    rig.store.summary = broken  # type: ignore[method-assign]
    assert rig.look() is None
    assert rig.api.posted == []
    rig.store.summary = good  # type: ignore[method-assign]
    rig.look()
    rig.decisions.forget(("ml", "exp"))
    rig.look()  # the store's totals are all new to a forgotten experiment: posted once more, never more
    assert [r for _, r, _ in rig.api.said()] == ["TrialErrored", "TrialErrored"]


# -- on the real API server ---------------------------------------------------------------------------------------


def decision_events(cluster: Cluster, namespace: str) -> list[tuple[str, str]]:
    found = sorted(cluster.objects("events", namespace), key=lambda e: e["metadata"]["creationTimestamp"])
    return [(e["reason"], e["message"]) for e in found if e["reason"].startswith("Trial")]


def test_an_asha_burst_of_early_stops_yields_aggregated_events(run_operator: Run, cluster: Cluster, ml: str) -> None:
    window = 3.0
    status = StatusSettings(summary_interval_seconds=0, trial_end_event_seconds=window)
    op = run_operator(status=status)
    cluster.create(tune_experiment("exp", ml, metric="score", numSamples=30))
    wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
    s = sender(ml)
    ids = [f"t{i:02d}" for i in range(30)]
    assert post(op, s.body(*(trial(t, "RUNNING") for t in ids)), namespace=ml) == 200

    def stops(chosen: list[str]) -> bytes:
        return s.body(*(ended(t, "early_stopped", f"ASHA rung 1: {t} missed the cutoff 0.6") for t in chosen))

    assert post(op, stops(ids[:9]), namespace=ml) == 200  # rung 1 stops two thirds of the first batch at once
    first = eventually(lambda: decision_events(cluster, ml))  # polled until there is one
    assert first == [("TrialStoppedEarly", "9 trials stopped early in the last 3 s; latest trial t08: ASHA rung 1: "
                                           "t08 missed the cutoff 0.6")]  # fmt: skip
    for chunk in (ids[9:12], ids[12:16], ids[16:20]):  # more stops inside the window: held back, then one Event
        assert post(op, stops(chunk), namespace=ml) == 200
    assert post(op, s.body(ended("t20", "errored", "ValueError: nan loss", state="ERROR")), namespace=ml) == 200
    assert len([r for r, _ in decision_events(cluster, ml) if r == "TrialStoppedEarly"]) == 1

    def both() -> list[tuple[str, str]]:
        found = decision_events(cluster, ml)
        assert len(found) == 3, found
        return found

    found = eventually(both, timeout=window + 10)
    assert ("TrialErrored", "trial t20: ValueError: nan loss") in found
    assert found[-1] == ("TrialStoppedEarly", "11 trials stopped early in the last 3 s; latest trial t19: ASHA rung "
                                              "1: t19 missed the cutoff 0.6")  # fmt: skip
    errored = [e for e in cluster.objects("events", ml) if e["reason"] == "TrialErrored"]
    assert errored[0]["type"] == "Warning"
    assert errored[0]["involvedObject"]["kind"] == "TuneExperiment"

    assert post(op, stops(["t21", "t22"]), namespace=ml) == 200  # inside the window the last Event opened
    op.stop(grace_seconds=5)  # a graceful stop posts what the window held back
    held = ("TrialStoppedEarly", "2 trials stopped early in the last 3 s; latest trial t22: ASHA rung 1: t22 missed "
                                 "the cutoff 0.6")  # fmt: skip
    assert held in decision_events(cluster, ml)
    second = run_operator(status=status)  # a restarted operator posts what is new to it, not the past again
    assert post(second, stops(["t23"]), namespace=ml) == 200
    latest = ("TrialStoppedEarly", "trial t23: ASHA rung 1: t23 missed the cutoff 0.6")

    def five() -> list[tuple[str, str]]:
        found = decision_events(cluster, ml)
        assert len(found) == 5, found
        assert latest in found, found
        return found

    eventually(five)
