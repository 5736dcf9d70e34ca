"""``kubetune run``'s exit code from how the run ended: a budget that cut it short is the user's choice (0), an
interrupt is 130, nothing usable is 1."""

from __future__ import annotations

import pytest

from kubetune.cli.running import outcome
from kubetune.engine.results import BestTrial, RunSummary

BEST = BestTrial(trial_id="t1", metric_value=0.5, config={}, checkpoint=None, state="RUNNING")


def summary(states: dict[str, int], *, stopped_by: str | None, best: BestTrial | None = BEST) -> RunSummary:
    return RunSummary(experiment="e", namespace=None, metric="score", mode="max", experiment_path="/tmp/e",
                      trials_by_state=states, best=best, stopped_by=stopped_by)  # fmt: skip


@pytest.mark.parametrize("cause", ["time-budget", "compute-budget"])
def test_a_budget_that_left_no_trial_finished_is_still_a_result(cause: str) -> None:
    assert outcome(summary({"RUNNING": 2}, stopped_by=cause)) == (0, None)


def test_no_trial_finished_for_another_reason_is_an_error() -> None:
    code, line = outcome(summary({"RUNNING": 1, "ERROR": 1}, stopped_by="fail-fast"))
    assert code == 1
    assert line is not None
    assert "no trial finished" in line


def test_an_interrupt_is_130_and_no_metric_is_1() -> None:
    assert outcome(summary({"RUNNING": 2}, stopped_by="interrupt"))[0] == 130
    assert outcome(summary({"TERMINATED": 2}, stopped_by=None, best=None)) == (1, "error: no trial reported score")
