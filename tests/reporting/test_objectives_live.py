"""Several objectives on the live path: the driver names every objective and counts the Pareto front of the
finished trials, the exporter keeps both, and the operator's status shows them (older drivers and statuses,
without them, read as before)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from kubetune.engine.running import RunOptions, run_experiment
from kubetune.exporter.server import Exporter
from kubetune.exporter.store import ExperimentStore
from kubetune.reporting.callback import ReportingCallback
from kubetune.reporting.sending import SenderSettings
from kubetune.reporting.wire import ExperimentRef
from kubetune.spec import load_object
from kubetune_operator.summarizing import continued, status_of, summary_status
from tests.fixtures.objective_docs import two_objective_doc

TOKEN = "s3cret-token"
FAST = SenderSettings(flush_interval_s=0.05, initial_backoff_s=0.05, max_backoff_s=0.2, final_flush_timeout_s=30)
OBJECTIVES = [("accuracy", "max"), ("latency_ms", "min")]


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    with Exporter(store=ExperimentStore(), registry=CollectorRegistry(), token=TOKEN) as exp:
        yield exp


def callback(url: str, objectives: list[tuple[str, str]] | None = OBJECTIVES) -> ReportingCallback:
    return ReportingCallback(url=url, token=TOKEN, namespace="local", name="pareto", metric="accuracy", mode="max",
                             settings=FAST, objectives=objectives)  # fmt: skip


def trial(trial_id: str, status: str, **last: Any) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, status=status, config={}, last_result={"training_iteration": 2, **last})


def test_the_wire_takes_several_objectives_and_still_one() -> None:
    one = ExperimentRef.model_validate({"name": "x", "metric": "accuracy", "mode": "max"})  # an older driver
    assert one.objectives is None
    two = ExperimentRef.model_validate(
        {"name": "x", "metric": "accuracy", "mode": "max",
         "objectives": [{"metric": "accuracy", "mode": "max"}, {"metric": "latency_ms", "mode": "min"}]}
    )  # fmt: skip
    assert two.objectives is not None
    assert [(o.metric, o.mode) for o in two.objectives] == OBJECTIVES
    with pytest.raises(ValidationError):
        ExperimentRef.model_validate({"name": "x", "metric": "a", "mode": "max", "objectives": [{"metric": "a"}]})


def test_the_driver_counts_the_front_of_its_finished_trials(exporter: Exporter) -> None:
    cb = callback(exporter.url)
    trials = [
        trial("t1", "TERMINATED", accuracy=0.9, latency_ms=8.0),
        trial("t2", "TERMINATED", accuracy=0.6, latency_ms=2.0),
        trial("t3", "TERMINATED", accuracy=0.5, latency_ms=3.0),  # dominated by t2
        trial("t4", "RUNNING", accuracy=0.99, latency_ms=0.1),  # not finished: not yet
        trial("t5", "ERROR", accuracy=0.99, latency_ms=0.1),  # errored: never
        trial("t6", "TERMINATED", accuracy=math.nan, latency_ms=0.1),  # diverged
        trial("t7", "TERMINATED", accuracy=0.95),  # an objective missing
    ]
    cb.on_step_begin(0, trials)
    snapshot = cb.snapshot()
    assert snapshot is not None
    assert snapshot.paretoFront == 2
    trials[3].status = "TERMINATED"  # t4 finishes and beats everyone
    assert cb.snapshot().paretoFront == 1  # type: ignore[union-attr]
    cb.on_experiment_end(trials)

    summary = exporter.store.summary("local", "pareto")
    assert summary is not None
    assert (summary.objectives, summary.pareto_front) == (tuple(OBJECTIVES), 1)
    status = summary_status(summary, max_config_bytes=10_000)
    assert status["objectives"] == [{"metric": "accuracy", "mode": "max"}, {"metric": "latency_ms", "mode": "min"}]
    assert status["paretoFront"] == 1
    assert (status["metric"], status["mode"]) == ("accuracy", "max")  # the primary objective, as before


def test_one_objective_sends_and_shows_no_front(exporter: Exporter) -> None:
    cb = callback(exporter.url, objectives=[("accuracy", "max")])
    cb.on_step_begin(0, [trial("t1", "TERMINATED", accuracy=0.9)])
    assert cb.snapshot().paretoFront is None  # type: ignore[union-attr]
    cb.on_experiment_end([trial("t1", "TERMINATED", accuracy=0.9)])
    summary = exporter.store.summary("local", "pareto")
    assert summary is not None
    assert (summary.objectives, summary.pareto_front) == (None, None)
    assert {"objectives", "paretoFront"}.isdisjoint(status_of(summary))


def test_a_status_keeps_the_front_until_a_driver_says_again() -> None:
    baseline: Any = {"metric": "accuracy", "mode": "max", "trials": {}, "resultsTotal": 3, "paretoFront": 4}
    fresh: Any = {"metric": "accuracy", "mode": "max", "trials": {}, "resultsTotal": 0}
    assert continued(baseline, fresh)["paretoFront"] == 4
    newer: Any = {**fresh, "paretoFront": 5}
    assert continued(baseline, newer)["paretoFront"] == 5


@pytest.mark.slow
def test_a_real_run_reports_the_front_the_results_file_holds(
    ray_local: None, tmp_path: Path, exporter: Exporter
) -> None:
    exp = load_object(
        two_objective_doc(
            "pareto",
            numSamples=8,
            search={"algorithm": "random", "seed": 6},
            storage={"path": str(tmp_path)},
        )
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0, callbacks=[callback(exporter.url)]))
    assert summary.pareto_front
    live = exporter.store.summary("local", "pareto")
    assert live is not None
    assert live.pareto_front == len(summary.pareto_front)
    assert live.objectives == tuple(OBJECTIVES)
