"""Why trials ended, on the exporter's side: a bounded ``reason`` label on the trial-state series, taken from the
driver's count by reason (or from the trial events), and batches from drivers that predate reasons still taken."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from kubetune.exporter import ExperimentStore, TrialCollector
from kubetune.exporter.collector import encode_text
from kubetune.reporting.wire import END_REASONS, Batch

from ._support import Sender, experiment, trial

EXP = {"namespace": "ml", "experiment": "exp"}


def ended(trial_id: str, state: str, reason: str, detail: str = "") -> dict[str, Any]:
    return {**trial(trial_id, state), "reason": reason, "detail": detail}


@pytest.fixture
def store(registry: CollectorRegistry) -> ExperimentStore:
    store = ExperimentStore()
    registry.register(TrialCollector(store))
    return store


def test_the_trial_state_series_split_ended_trials_by_the_drivers_reasons(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    s = Sender()
    counts = {"TERMINATED": 4, "ERROR": 1, "RUNNING": 1}
    ends = {"finished": 1, "early_stopped": 2, "errored": 1}
    store.apply(s.batch({**experiment("RUNNING", trials=counts), "ends": ends}))

    def value(state: str, reason: str) -> float | None:
        return registry.get_sample_value("kubetune_experiment_trials", {**EXP, "state": state, "reason": reason})

    assert value("TERMINATED", "finished") == 1
    assert value("TERMINATED", "early_stopped") == 2
    assert value("TERMINATED", "budget") == 0
    assert value("TERMINATED", "") == 1  # terminated, but the driver's reasons do not say why
    assert value("ERROR", "errored") == 1
    assert value("RUNNING", "") == 1
    summary = store.summary("ml", "exp")
    assert summary is not None
    assert summary.ends_reported
    assert dict(summary.ends) == ends


def test_each_state_still_sums_to_its_count_and_the_reason_label_is_bounded(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    store.apply(Sender().batch({**experiment("FINISHED", trials={"TERMINATED": 2}), "ends": {"finished": 5}}))

    samples = [s for m in registry.collect() if m.name == "kubetune_experiment_trials" for s in m.samples]
    terminated = [s.value for s in samples if s.labels["state"] == "TERMINATED"]
    assert sum(terminated) == 2  # never more than the state's own count, whatever the driver says
    assert {s.labels["reason"] for s in samples} <= {"", *END_REASONS}
    assert len(samples) == 10  # per experiment, whatever the number of trials


def test_without_a_drivers_count_the_reasons_come_from_the_trial_events(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    s = Sender()
    store.apply(s.batch(trial("a", "RUNNING"), trial("b", "RUNNING"), trial("c", "RUNNING")))
    store.apply(
        s.batch(
            ended("a", "TERMINATED", "early_stopped", "ASHA rung 1 (training_iteration 1): score 0.1 missed 0.5"),
            ended("b", "ERROR", "errored", "ValueError: bad lr"),
        )
    )

    value = registry.get_sample_value
    assert value("kubetune_experiment_trials", {**EXP, "state": "TERMINATED", "reason": "early_stopped"}) == 1
    assert value("kubetune_experiment_trials", {**EXP, "state": "ERROR", "reason": "errored"}) == 1
    snapshot = store.snapshot().experiments[0]
    summary = snapshot.summary
    assert not summary.ends_reported
    assert dict(summary.ends) == {"early_stopped": 1, "errored": 1}


def test_a_batch_from_a_driver_that_predates_reasons_is_taken_and_counts_as_no_reason(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    store.apply(Sender().batch(trial("a", "TERMINATED"), experiment("FINISHED", trials={"TERMINATED": 1})))

    value = registry.get_sample_value
    assert value("kubetune_experiment_trials", {**EXP, "state": "TERMINATED", "reason": ""}) == 1
    assert value("kubetune_experiment_trials", {**EXP, "state": "TERMINATED", "reason": "finished"}) == 0


def test_a_reason_outside_the_fixed_set_is_refused() -> None:
    with pytest.raises(ValidationError, match="reason"):
        Batch.model_validate(Sender().payload(ended("a", "TERMINATED", "bored")))
    with pytest.raises(ValidationError, match="ends"):
        Batch.model_validate(Sender().payload({**experiment("RUNNING"), "ends": {"bored": 1}}))


def test_the_exposition_with_reasons_passes_promtool(
    store: ExperimentStore, registry: CollectorRegistry, promtool: Callable[[bytes], subprocess.CompletedProcess[str]]
) -> None:
    s = Sender()
    store.apply(s.batch(trial("a", "RUNNING")))
    store.apply(
        s.batch(
            ended("a", "TERMINATED", "budget", 'the time budget ran out "while running"\\ ok'),
            {**experiment("FINISHED", trials={"TERMINATED": 1}), "ends": {"budget": 1}},
        )
    )

    body = encode_text(registry)
    assert b'kubetune_experiment_trials{experiment="exp",namespace="ml",reason="budget",state="TERMINATED"} 1.0' in body
    checked = promtool(body)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
