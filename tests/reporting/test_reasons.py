"""The reporting callback sends why trials ended: each TERMINATED or ERROR event with its reason, the ended trials
counted by reason with every snapshot, and the trials the end of the run cut short (no Tune hook of their own)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from kubetune.engine.reasons import TrialEnd, TrialEnds
from kubetune.exporter.server import Exporter
from kubetune.exporter.store import ExperimentStore
from kubetune.reporting.callback import ReportingCallback
from kubetune.reporting.sending import SenderSettings

TOKEN = "reasons-token"
FAST = SenderSettings(flush_interval_s=0.05, initial_backoff_s=0.05, max_backoff_s=0.2, final_flush_timeout_s=30)


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    with Exporter(store=ExperimentStore(), registry=CollectorRegistry(), token=TOKEN) as exp:
        yield exp


def trial_of(trial_id: str, status: str = "RUNNING") -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, config={}, status=status, last_result={"training_iteration": 1})


def callback_with(url: str, ends: TrialEnds) -> ReportingCallback:
    callback = ReportingCallback(
        url=url, token=TOKEN, namespace="local", name="x", metric="score", mode="max", settings=FAST
    )
    callback.ends = ends
    return callback


def test_an_ended_trials_event_carries_its_reason_and_the_snapshot_counts_them(exporter: Exporter) -> None:
    ends = TrialEnds()
    callback = callback_with(exporter.url, ends)
    a, b = trial_of("a"), trial_of("b")
    for t in (a, b):
        callback.on_trial_start(0, [a, b], t)
    ends.decide("a", TrialEnd("early_stopped", "ASHA rung 1 (training_iteration 1): score 0.1 missed the cutoff 0.5"))
    ends.on_trial_complete(0, [a, b], a)  # the ledger comes first in the runner's callbacks
    callback.on_trial_complete(0, [a, b], a)
    a.status = "TERMINATED"
    ends.on_experiment_end([a, b])
    b.status = "TERMINATED"  # a time budget: Ray marks it TERMINATED and calls no trial hook
    callback.on_experiment_end([a, b])

    summary = exporter.store.summary("local", "x")
    assert summary is not None
    assert dict(summary.ends) == {"early_stopped": 1, "cancelled": 1}  # no budget was set: the run just ended
    trials = exporter.store.snapshot().experiments[0].trials
    assert (trials["a"].state, trials["a"].reason) == ("TERMINATED", "early_stopped")
    assert (trials["b"].state, trials["b"].reason) == ("TERMINATED", "cancelled")


def test_without_a_ledger_events_go_without_reasons_as_from_older_drivers(exporter: Exporter) -> None:
    callback = ReportingCallback(
        url=exporter.url, token=TOKEN, namespace="local", name="x", metric="score", mode="max", settings=FAST
    )
    t = trial_of("a")
    callback.on_trial_start(0, [t], t)
    callback.on_trial_complete(0, [t], t)
    t.status = "TERMINATED"
    callback.on_experiment_end([t])

    summary = exporter.store.summary("local", "x")
    assert summary is not None
    assert (dict(summary.ends), summary.ends_reported) == ({}, False)
    assert summary.counts["TERMINATED"] == 1


def test_the_ledger_does_not_travel_with_the_pickled_callback(exporter: Exporter) -> None:
    callback = callback_with(exporter.url, TrialEnds())
    assert pickle.loads(pickle.dumps(callback)).ends is None  # a restored run attaches its own
