"""The report's chart data from runs built at kubetune's own seam (:class:`kubetune.report.reading.Run`): what the
real-run tests cannot steer, such as GPU-hours, enough finished trials for importance, inferred scales."""

from __future__ import annotations

import math
import random

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from kubetune.engine.results import RunSummary
from kubetune.report import figures, importance, rendering, space
from kubetune.report.reading import Run, Trial


def run_of(*trials: Trial, mode: str = "max") -> Run:
    summary = RunSummary(
        experiment="e", namespace=None, metric="score", mode=mode, experiment_path="/e", trials_by_state={}, best=None
    )
    return Run(summary=summary, trials=list(trials))


def trial(ident: str, scores: list[float], *, stamps: list[float] | None = None, ending: str = "finished",
          gpu_seconds: float | None = None, **params: object) -> Trial:  # fmt: skip
    rows = [{"score": s, "training_iteration": float(i + 1), "time_this_iter_s": 1.0} for i, s in enumerate(scores)]
    return Trial(ident, ending, "", dict(params), rows, stamps or [float(i) for i in range(len(scores))], gpu_seconds)


def test_best_so_far_steps_where_the_best_improves_in_the_order_results_came() -> None:
    run = run_of(trial("a", [1.0, 2.0, 3.0], stamps=[0, 2, 4]), trial("b", [5.0, 0.0], stamps=[1, 3]))
    assert figures.progress(run) == {"iterations": [[1, 1.0], [2, 5.0], [5, 5.0]], "gpu_hours": None}


def test_best_so_far_falls_for_a_minimised_metric() -> None:
    run = run_of(trial("a", [3.0, 2.0, 4.0, 1.0]), mode="min")
    assert figures.progress(run)["iterations"] == [[1, 3.0], [2, 2.0], [4, 1.0]]


def test_gpu_hours_appear_only_when_the_results_hold_them() -> None:
    hours = 3600.0
    run = run_of(trial("a", [1.0, 2.0], stamps=[0, 2], gpu_seconds=2 * hours), trial("b", [0.0], stamps=[1]))
    assert figures.progress(run)["gpu_hours"] == [[1.0, 1.0], [2.0, 2.0]]


def test_importance_ranks_first_the_parameter_that_drives_the_objective() -> None:
    rng = random.Random(3)
    trials = []
    for i in range(16):
        lr, opt = 10 ** rng.uniform(-4, -1), rng.choice(["sgd", "adam"])
        trials.append(trial(f"t{i}", [-abs(math.log10(lr) + 2.5) + rng.random() * 0.01], lr=lr, opt=opt))
    trials.append(trial("stopped", [9.0], ending="early_stopped", lr=1e-4, opt="sgd"))  # not finished: left out
    run = run_of(*trials)
    found = importance.importance(run, space.distributions(t.params for t in run.trials))
    assert found["trials"] == 16
    assert [name for name, _ in found["params"]] == ["lr", "opt"]
    assert sum(value for _, value in found["params"]) == pytest.approx(1.0, abs=1e-4)
    assert found["note"] == ""


def test_importance_says_why_it_is_missing_with_too_few_finished_trials() -> None:
    run = run_of(trial("a", [1.0], x=0.1), trial("b", [2.0], x=0.2), trial("c", [3.0], ending="errored", x=0.3))
    found = importance.importance(run, space.distributions(t.params for t in run.trials))
    assert found["params"] == []
    assert "needs 3 finished trials" in found["note"]


def test_scales_are_inferred_from_the_values_the_trials_drew_without_a_spec() -> None:
    dists = space.distributions([{"n": 2, "lr": 0.1, "opt": "sgd", "on": True}, {"n": 8, "lr": 0.01, "opt": "adam"}])
    assert dists == {
        "n": IntDistribution(2, 8),
        "lr": FloatDistribution(0.01, 0.1),
        "opt": CategoricalDistribution(["sgd", "adam"]),
        "on": CategoricalDistribution([True]),
    }


def test_the_json_island_cannot_close_its_script_element() -> None:
    text = rendering.json_island({"v": "</script><!-- \u2028 & <b>"})
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert "\u2028" not in text
