"""Why each trial ended, from a real Ray Tune run: ASHA's early stops name the rung and the cutoff, an errored
trial names its exception, a finished one says it reached maxT; the results file, the console summary and the
live exporter (through the reporting callback) all say so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry
from ray.tune.schedulers import AsyncHyperBandScheduler, MedianStoppingRule, PopulationBasedTraining

from kubetune.cli.inspecting import format_summary
from kubetune.engine import results, verdicts
from kubetune.engine.reasons import TrialEnd, TrialEnds, error_line
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.exporter.server import Exporter
from kubetune.exporter.store import ExperimentStore
from kubetune.reporting.callback import ReportingCallback
from kubetune.reporting.sending import SenderSettings
from kubetune.spec import load_object
from tests.conftest import experiment_doc

TOKEN = "reasons-token"
FAST = SenderSettings(flush_interval_s=0.05, initial_backoff_s=0.05, max_backoff_s=0.2, final_flush_timeout_s=30)


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    with Exporter(store=ExperimentStore(), registry=CollectorRegistry(), token=TOKEN) as exp:
        yield exp


@pytest.mark.slow
def test_asha_stops_errors_and_finishes_each_say_why(ray_local: None, tmp_path: Path, exporter: Exporter) -> None:
    exp = load_object(
        experiment_doc(
            "why",
            "tests.fixtures.printing:ranked",  # score = -id: id 1 is the best; id 3 raises before reporting
            searchSpace={"id": {"grid": [1, 2, 3]}},
            config={"iterations": 5, "fail_id": 3},
            search={"algorithm": "grid"},
            scheduler={"type": "asha", "maxT": 3, "gracePeriod": 1, "reductionFactor": 2},
            maxConcurrentTrials=1,  # one at a time, in grid order: id 2 meets id 1's result at the first rung
            storage={"path": str(tmp_path)},
        )
    )
    callback = ReportingCallback(
        url=exporter.url, token=TOKEN, namespace="local", name="why", metric="score", mode="max", settings=FAST
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0, callbacks=[callback]))

    by_id = {end["detail"]: trial for trial, end in summary.trial_ends.items()}
    assert summary.trials_by_reason == {"finished": 1, "early_stopped": 1, "errored": 1}
    ends = sorted(summary.trial_ends.values(), key=lambda e: e["reason"])
    assert ends == [
        {"reason": "early_stopped", "detail": (
            "ASHA rung 1 (training_iteration 1): score -2 missed the cutoff -1 (the top 1/2 continue)")},
        {"reason": "errored", "detail": "ValueError: id 3 is broken"},
        {"reason": "finished", "detail": "reached maxT (training_iteration 3)"},
    ]  # fmt: skip
    assert results.read(str(tmp_path / "why")) == summary

    text = format_summary(summary)
    assert "why trials ended: 1 finished, 1 stopped early by the scheduler, 1 errored" in text
    assert "ValueError: id 3 is broken" in text
    assert "best trial ended: finished (reached maxT (training_iteration 3))" in text
    assert f"kubetune logs {tmp_path / 'why'} --errors" in text

    got = exporter.store.summary("local", "why")
    assert got is not None
    assert got.ends_reported
    assert dict(got.ends) == {"finished": 1, "early_stopped": 1, "errored": 1}
    stopped = by_id["ASHA rung 1 (training_iteration 1): score -2 missed the cutoff -1 (the top 1/2 continue)"]
    assert exporter.store.snapshot().experiments[0].trials[stopped].reason == "early_stopped"
    value = exporter.registry.get_sample_value
    labels = {"namespace": "local", "experiment": "why"}
    assert value("kubetune_experiment_trials", {**labels, "state": "TERMINATED", "reason": "early_stopped"}) == 1
    assert value("kubetune_experiment_trials", {**labels, "state": "TERMINATED", "reason": "finished"}) == 1
    assert value("kubetune_experiment_trials", {**labels, "state": "ERROR", "reason": "errored"}) == 1


class _Trial:
    """What the ledger and Ray's schedulers read of a trial (hashable, as Ray's trials are)."""

    def __init__(self, trial_id: str, **last: float) -> None:
        self.trial_id, self.last_result = trial_id, dict(last)


def _trial(trial_id: str, **last: float) -> _Trial:
    return _Trial(trial_id, **last)


def test_the_median_rule_records_the_median_it_missed() -> None:
    ends = TrialEnds()
    rule = verdicts.MedianStoppingRule(time_attr="training_iteration", grace_period=1, min_samples_required=2)
    rule.set_search_properties(metric="loss", mode="min")
    verdicts.attach(rule, ends)
    good = [_trial(f"g{i}") for i in range(2)]
    bad = _trial("bad")
    for t in [*good, bad]:
        rule.on_trial_add(cast(Any, None), cast(Any, t))
    controller = SimpleNamespace(get_live_trials=list)  # nothing waits for a slot: no pausing
    for step in (1, 2):
        for t in good:
            rule.on_trial_result(controller, t, {"training_iteration": step, "loss": 0.1})
    decision = rule.on_trial_result(controller, bad, {"training_iteration": 2, "loss": 0.9})
    ends.on_trial_complete(0, [], bad)

    assert isinstance(rule, MedianStoppingRule)  # still Ray's own scheduler to Ray
    assert decision == "STOP"
    assert ends.of("bad") == TrialEnd(
        "early_stopped",
        "median rule at training_iteration 2: best loss 0.9 worse than the median 0.1 of 2 other trials' running "
        "averages",
    )


def test_a_trial_that_ran_to_the_end_of_the_stop_criterion_finished_there() -> None:
    ends = TrialEnds(stop={"training_iteration": 4})
    ends.on_trial_complete(0, [], _trial("a", training_iteration=4))
    ends.on_trial_complete(0, [], _trial("b", training_iteration=2))

    assert ends.of("a") == TrialEnd("finished", "reached spec.stop training_iteration >= 4")
    assert ends.of("b") == TrialEnd("finished", "the trainable returned after 2 results")


def test_a_decision_names_pbts_clone_when_the_trial_was_exploited() -> None:
    ends = TrialEnds()
    ends.exploited("a", "PBT replaced its config and weights with trial b's at training_iteration 4")
    ends.on_trial_complete(0, [], _trial("a", training_iteration=8))

    end = ends.of("a")
    assert end is not None
    assert end.reason == "exploited"
    assert end.detail.startswith("PBT replaced its config and weights with trial b's at training_iteration 4; then")


def test_pbts_clone_is_recorded_where_pbt_makes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray's own transfer of the config and checkpoint needs a running experiment; what is ours is the record.
    monkeypatch.setattr(PopulationBasedTraining, "_exploit", lambda self, controller, trial, clone: None)
    ends = TrialEnds()
    pbt = verdicts.PopulationBasedTraining(time_attr="training_iteration", hyperparam_mutations={"x": [1, 2]})
    verdicts.attach(pbt, ends)
    pbt._exploit(None, _trial("a", training_iteration=4), _trial("b"))
    ends.on_trial_complete(0, [], _trial("a", training_iteration=8))

    assert ends.of("a") == TrialEnd(
        "exploited",
        "PBT replaced its config and weights with trial b's at training_iteration 4; "
        "then finished: the trainable returned after 8 results",
    )


def test_the_ends_survive_a_restore_of_the_callback_state() -> None:
    ends = TrialEnds()
    ends.on_trial_complete(0, [], _trial("a", training_iteration=1))
    restored = TrialEnds()
    restored.set_state(ends.get_state() or {})
    restored.set_state({"finished": ["x"]})  # another callback's state, given by position: ignored

    assert restored.ends == ends.ends
    assert restored.counts() == {"finished": 1}


def test_an_error_without_a_stored_exception_falls_back_to_the_traceback_text() -> None:
    class Failed:
        error_file = pickled_error_file = None

        def get_pickled_error(self) -> None:
            return None

        def get_error(self) -> str:
            return "Failure # 1\nTraceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'lr'\n"

    assert error_line(Failed()) == "KeyError: 'lr'"


def test_asha_keeps_its_type_for_ray() -> None:
    assert isinstance(verdicts.ASHAScheduler(max_t=3), AsyncHyperBandScheduler)
