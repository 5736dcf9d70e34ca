"""``spec.goal`` ends a whole experiment at the first trial that reaches it; ``spec.trialTimeoutSeconds`` stops one
trial that runs too long. Both on real Ray Tune runs, as the summary and the results file tell them."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState
from ray.tune import ExperimentAnalysis

from kubetune.cli.inspecting import format_summary
from kubetune.engine import results
from kubetune.engine.optuna_bridge import load_study
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.spec import load_object
from tests.conftest import experiment_doc

pytestmark = pytest.mark.slow

ITERATIONS = 40


def test_a_goal_on_a_minimised_metric_ends_the_experiment_at_the_trial_that_reaches_it(
    ray_local: None, tmp_path: Path
) -> None:
    exp = load_object(
        experiment_doc(
            "goal-min",
            "tests.fixtures.trainables:descending",  # loss = start / (step + 1): reaches 0.1 by step 19
            metric="loss",
            mode="min",
            searchSpace={"start": {"uniform": [1.0, 2.0]}},
            config={"iterations": ITERATIONS},
            numSamples=4,
            maxConcurrentTrials=1,  # the default search, Optuna; one trial at a time, so the first one reaches it
            scheduler={"type": "fifo"},
            goal=0.1,
            storage={"path": str(tmp_path)},
        )
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0))

    assert summary.best is not None
    assert summary.goal_reached_by == summary.best.trial_id
    assert summary.best.metric_value is not None
    assert summary.best.metric_value <= 0.1
    assert summary.best.metrics["training_iteration"] < ITERATIONS  # stopped there, not run to its end
    assert summary.best.state == "TERMINATED"
    assert summary.trials_by_state["TERMINATED"] == 1
    assert summary.unfinished_trials == 3  # the rest never ran to their end: the experiment was over
    assert summary.stopped_by == "goal"
    assert summary.timed_out_trials == []
    assert results.read(str(tmp_path / "goal-min")) == summary
    text = format_summary(summary)
    assert f"goal reached by trial {summary.best.trial_id} (spec.goal)" in text
    assert "3 of 4 trials did not finish: a trial reached the goal (spec.goal)" in text
    # Optuna hears of the trial that reached the goal as a complete one, not as pruned.
    study = {t.user_attrs["ray_trial_id"]: t for t in load_study(tmp_path / "goal-min").trials}
    assert study[summary.best.trial_id].state == TrialState.COMPLETE


def test_a_trial_timeout_stops_only_the_trial_that_runs_too_long(ray_local: None, tmp_path: Path) -> None:
    exp = load_object(
        experiment_doc(
            "timeout",
            "tests.fixtures.trainables:descending",
            metric="loss",
            mode="min",
            # A trial of 2 reports finishes at once; one of 2000 reports 0.05 s apart would take 100 s.
            searchSpace={"iterations": {"grid": [2, 2000]}},
            config={"start": 1.0, "sleep": 0.05},
            search={"algorithm": "grid"},
            scheduler={"type": "fifo"},
            trialTimeoutSeconds=2,
            storage={"path": str(tmp_path)},
        )
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0))

    assert summary.trials_by_state == {"TERMINATED": 2}
    assert summary.stopped_by is None
    assert summary.goal_reached_by is None
    last = {t.config["iterations"]: t.last_result for t in ExperimentAnalysis(str(tmp_path / "timeout")).trials}
    long, short = last[2000], last[2]
    assert summary.timed_out_trials == [long["trial_id"]]
    assert long["training_iteration"] < 2000  # cut short...
    assert long["time_total_s"] >= 2  # ...by the timeout: it had run its 2 seconds
    assert short["training_iteration"] == 2
    assert results.read(str(tmp_path / "timeout")) == summary
    text = format_summary(summary)
    assert f"1 trial stopped by the trial timeout (spec.trialTimeoutSeconds): {long['trial_id']}" in text


def test_a_resumed_experiment_that_had_reached_its_goal_stays_over(ray_local: None, tmp_path: Path) -> None:
    doc = experiment_doc(
        "goal-resume",
        "tests.fixtures.trainables:descending",
        metric="loss",
        mode="min",
        searchSpace={"start": {"uniform": [1.0, 2.0]}},
        config={"iterations": ITERATIONS},
        numSamples=4,
        maxConcurrentTrials=1,
        search={"algorithm": "random", "seed": 4},
        scheduler={"type": "fifo"},
        goal=0.1,
        storage={"path": str(tmp_path)},
    )
    first = run_experiment(load_object(doc), options=RunOptions(verbose=0))
    created = len(ExperimentAnalysis(str(tmp_path / "goal-resume")).trials)
    again = run_experiment(load_object(doc), options=RunOptions(verbose=0))  # same storage: a resume

    assert again.resumed
    assert again.goal_reached_by == first.goal_reached_by is not None
    assert again.stopped_by == "goal"
    assert again.trials_by_state["TERMINATED"] == 1  # no trial ran to its end after the goal
    assert len(ExperimentAnalysis(str(tmp_path / "goal-resume")).trials) == created  # nor did a new one start
