"""How a run ended, as the summary and the results file tell it: which trials finished, which did not and why, and
whether the best value came from a trial that later failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetune.cli.inspecting import format_summary
from kubetune.engine import results
from kubetune.engine.errors import MetricNotReported
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.spec import load_object
from tests.conftest import experiment_doc

pytestmark = pytest.mark.slow


def test_a_time_budget_that_cuts_the_run_short_reports_the_unfinished_trials_and_why(
    ray_local: None, tmp_path: Path
) -> None:
    exp = load_object(
        experiment_doc(
            "budget",
            "tests.fixtures.trainables:epochs",
            # Trial 1 is short; 2 and 3 run far past the budget; 4 waits for a free slot that never comes.
            searchSpace={"id": {"grid": [1, 2, 3, 4]}},
            config={"epochs": 500, "short": [1], "sleep": 0.1, "log": str(tmp_path / "trials.log")},
            search={"algorithm": "grid"},
            scheduler={"type": "fifo"},
            maxConcurrentTrials=2,
            timeBudgetSeconds=20,  # ample for trial 1 and two starts on a busy machine; 2 and 3 need 50 s
            storage={"path": str(tmp_path)},
        )
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0))
    assert summary.trials_by_state == {"TERMINATED": 1, "RUNNING": 2, "PENDING": 1}
    assert summary.stopped_by == "time-budget"
    assert results.read(str(tmp_path / "budget")) == summary
    text = format_summary(summary)
    assert "4 trials (1 finished, 2 stopped while running, 1 not started)" in text
    assert "3 of 4 trials did not finish: the time budget (spec.timeBudgetSeconds) ran out" in text
    # Why each trial ended: trial 4 never started (the bounded generator never created it), so it has no end.
    assert summary.trials_by_reason == {"finished": 1, "budget": 2}
    cut = [end["detail"] for end in summary.trial_ends.values() if end["reason"] == "budget"]
    assert cut == ["the time budget (spec.timeBudgetSeconds) ran out while running"] * 2
    assert "why trials ended: 1 finished, 2 cut by a budget" in text


def test_a_best_value_from_a_trial_that_then_errored_is_marked_as_such(ray_local: None, tmp_path: Path) -> None:
    exp = load_object(
        experiment_doc(
            "all-fail",
            "tests.fixtures.trainables:failing",  # reports once, then raises: in every trial and every retry
            numSamples=2,
            failure={"maxFailures": 1},  # the default search, Optuna, sees each retry report step 1 again
            storage={"path": str(tmp_path)},
        )
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0))
    assert summary.trials_by_state == {"ERROR": 2}
    assert summary.finished_trials == 0
    assert summary.best is not None
    assert summary.best.state == "ERROR"
    assert results.read(str(tmp_path / "all-fail")).best == summary.best
    assert f"best trial {summary.best.trial_id}: score = 0.0 (max), then errored" in format_summary(summary)


def test_a_trainable_that_never_reports_the_metric_fails_naming_the_metric_and_what_it_reported(
    ray_local: None, tmp_path: Path
) -> None:
    doc = experiment_doc("typo", "tests.fixtures.trainables:misnamed", metric="loss", mode="min", numSamples=1)
    exp = load_object({**doc, "spec": {**doc["spec"], "storage": {"path": str(tmp_path)}}})  # type: ignore[dict-item]
    with pytest.raises(MetricNotReported) as info:
        run_experiment(exp, options=RunOptions(verbose=0))
    message = str(info.value)
    assert "\n" not in message
    assert "spec.metric 'loss'" in message
    assert "reported acc, los " in message
