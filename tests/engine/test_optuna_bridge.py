"""The searcher's side of the Ray protocol, called exactly as Ray 2.60's TuneController calls a searcher.

A result the controller decides to STOP on is not passed to ``on_trial_result``; ``on_trial_complete`` then gets
it as the trial's last result. A trainable that returns makes Ray repeat its last result (already passed to
``on_trial_result``) with ``done``. A paused trial HyperBand stops gets ``on_trial_complete`` with no result, and
an errored one ``error=True``. The real runs are in ``test_optuna_search_runs.py``; these pin down the rule
(optuna_bridge's module doc) one ending at a time.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from kubetune.engine import searching
from kubetune.engine.optuna_bridge import Horizon, OptunaBridge
from kubetune.engine.scheduling import build_scheduler
from kubetune.spec import load_object
from tests.conftest import experiment_doc

SPACE = {"x": FloatDistribution(0.0, 1.0), "g/y": FloatDistribution(0.0, 1.0)}


def bridge(horizon: Horizon | None = None, seed: int = 0) -> OptunaBridge:
    return OptunaBridge(SPACE, metric="score", mode="max", seed=seed, horizon=horizon or Horizon())


def result(step: int, score: float, **extra: Any) -> dict[str, Any]:
    return {"training_iteration": step, "score": score, "done": False, **extra}


@dataclass
class Ending:
    #: Steps delivered through on_trial_result (scores 0.1 per step).
    seen: list[int]
    #: What on_trial_complete gets: "none", "repeat" (the last seen result again), or a new step.
    last: str | int
    expected: TrialState
    horizon: Horizon = field(default_factory=Horizon)
    error: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


ENDINGS = {
    "stopped by the scheduler before max_t: pruned": Ending([1, 2], 3, TrialState.PRUNED, Horizon(max_t=9)),
    "stopped by the scheduler at max_t: complete": Ending([1, 2], 3, TrialState.COMPLETE, Horizon(max_t=3)),
    "past max_t in another time unit: complete": Ending(
        [1], 2, TrialState.COMPLETE, Horizon(time_attr="epoch", max_t=4), extra={"epoch": 4}
    ),
    "median rule stop (no max_t): pruned": Ending([1, 2, 3], 4, TrialState.PRUNED),
    "trainable returned: complete": Ending([1, 2, 3], "repeat", TrialState.COMPLETE, Horizon(max_t=9)),
    "a stop criterion reached: complete": Ending([1], 2, TrialState.COMPLETE, Horizon(max_t=9, stop={"score": 0.2})),
    "errored: fail": Ending([1, 2], "none", TrialState.FAIL, error=True),
    "removed before it reported: fail": Ending([], "none", TrialState.FAIL),
    "paused trial stopped by HyperBand: pruned": Ending([1, 2, 3], "none", TrialState.PRUNED, Horizon(max_t=9)),
    "paused trial stopped at max_t: complete": Ending([1, 2, 3], "none", TrialState.COMPLETE, Horizon(max_t=3)),
}


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS.keys())
def test_how_a_trial_ended_decides_its_optuna_state(ending: Ending) -> None:
    searcher = bridge(ending.horizon)
    assert searcher.suggest("t1") is not None
    for step in ending.seen:
        searcher.on_trial_result("t1", result(step, step / 10, **ending.extra))
    if ending.last == "none":
        last = None
    elif ending.last == "repeat":
        last = result(ending.seen[-1], ending.seen[-1] / 10, done=True)
    else:
        last = result(int(ending.last), int(ending.last) / 10, done=True, **ending.extra)
    searcher.on_trial_complete("t1", result=last, error=ending.error)

    (trial,) = searcher.study.trials
    assert trial.state == ending.expected
    steps = [*ending.seen, *([ending.last] if isinstance(ending.last, int) else [])]
    assert trial.intermediate_values == {s: s / 10 for s in steps}  # every result, each step once
    if ending.expected in (TrialState.PRUNED, TrialState.COMPLETE):
        assert trial.value == steps[-1] / 10  # the last value, also on a pruned trial
    assert trial.user_attrs["ray_trial_id"] == "t1"


def test_a_retried_trial_that_reports_its_steps_again_is_not_reported_twice() -> None:
    searcher = bridge(Horizon(max_t=3))
    searcher.suggest("t1")
    for step in (1, 2, 1, 2, 3):  # failed after step 2, restarted from scratch (maxFailures)
        searcher.on_trial_result("t1", result(step, step / 10))
    searcher.on_trial_complete("t1", result=result(3, 0.3, done=True))
    (trial,) = searcher.study.trials
    assert trial.intermediate_values == {1: 0.1, 2: 0.2, 3: 0.3}
    assert trial.state == TrialState.COMPLETE


def test_a_finished_trial_whose_last_value_is_not_a_number_is_failed_not_completed() -> None:
    searcher = bridge()
    searcher.suggest("t1")
    searcher.on_trial_result("t1", result(1, math.nan))
    searcher.on_trial_complete("t1", result=result(1, math.nan, done=True))
    assert searcher.study.trials[0].state == TrialState.FAIL


def test_results_of_trials_it_did_not_suggest_are_ignored() -> None:
    searcher = bridge()
    searcher.on_trial_result("elsewhere", result(1, 0.5))
    searcher.on_trial_complete("elsewhere", result=result(1, 0.5))
    assert searcher.study.trials == []


def test_suggestions_are_nested_configs_from_the_space() -> None:
    config = bridge().suggest("t1")
    assert config is not None
    assert set(config) == {"x", "g"}
    assert 0 <= config["x"] <= 1
    assert 0 <= config["g"]["y"] <= 1


def test_the_same_seed_suggests_the_same_sequence_and_another_seed_does_not() -> None:
    def sequence(seed: int) -> list[dict[str, Any]]:
        searcher = bridge(seed=seed)
        out = []
        for i in range(14):  # past TPE's 10 random start-up trials
            config = searcher.suggest(f"t{i}")
            assert config is not None
            out.append(config)
            searcher.on_trial_result(f"t{i}", result(1, -abs(config["x"] - 0.3)))
            searcher.on_trial_complete(f"t{i}", result=result(1, -abs(config["x"] - 0.3)))
        return out

    assert sequence(1) == sequence(1)
    assert sequence(1) != sequence(2)


def test_a_restored_searcher_continues_the_same_study_live_trials_and_sampler(tmp_path: Path) -> None:
    original = bridge(Horizon(max_t=2), seed=4)
    for i in range(12):
        original.suggest(f"t{i}")
        original.on_trial_result(f"t{i}", result(1, i / 10))
        if i < 11:  # t11 stays live across the save
            original.on_trial_complete(f"t{i}", result=result(2 if i % 2 else 1, i / 10, done=True))
    original.save(str(tmp_path / "state.pkl"))

    restored = bridge(Horizon(max_t=2), seed=99)  # Tune unpickles the searcher as first built, then restores
    restored.restore(str(tmp_path / "state.pkl"))
    assert [t.params for t in restored.study.trials] == [t.params for t in original.study.trials]
    assert [t.state for t in restored.study.trials] == [t.state for t in original.study.trials]
    for searcher in (original, restored):  # the live trial goes on reporting into its own Optuna trial
        searcher.on_trial_result("t11", result(2, 1.5))
        searcher.on_trial_complete("t11", result=result(2, 1.5, done=True))
    assert restored.study.trials[11].state == TrialState.COMPLETE
    assert restored.study.trials[11].intermediate_values == {1: 1.1, 2: 1.5}
    assert restored.suggest("t12") == original.suggest("t12")  # the sampler's random state continued


def test_it_bounds_its_live_trials_itself_and_the_bound_survives_a_restore(tmp_path: Path) -> None:
    searcher = bridge()
    assert searcher.set_max_concurrency(2)  # True: Ray's ConcurrencyLimiter then forwards every call as it comes
    assert searcher.suggest("a") is not None
    assert searcher.suggest("b") is not None
    assert searcher.suggest("c") is None  # two live: no third
    searcher.on_trial_result("a", result(1, 0.5))
    searcher.save(str(tmp_path / "state.pkl"))

    restored = bridge()
    restored.set_max_concurrency(2)
    restored.restore(str(tmp_path / "state.pkl"))
    assert restored.suggest("c") is None  # a and b were running at the snapshot and still count
    restored.on_trial_complete("b", result=result(1, 0.2, done=True))  # a limiter would drop this after a restore
    assert restored.study.trials[1].state == TrialState.PRUNED
    assert restored.suggest("c") is not None


def test_live_trials_ray_does_not_know_after_a_restore_are_failed_and_free_their_slot() -> None:
    searcher = bridge()
    searcher.set_max_concurrency(1)
    searcher.suggest("asked-before-the-crash")
    assert searcher.suggest("next") is None
    searcher.forget_unknown(known={"some-finished-trial"})
    assert searcher.study.trials[0].state == TrialState.FAIL
    assert searcher.suggest("next") is not None


def test_the_searcher_pickles_before_any_trial_as_tune_saves_it_with_the_tuner() -> None:
    copy = pickle.loads(pickle.dumps(bridge()))
    assert copy.suggest("t1") is not None


def test_a_tune_config_for_another_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="optimises score"):
        bridge().set_search_properties("loss", "min", {})
    assert bridge().set_search_properties("score", "max", {"x": 1})


@pytest.mark.parametrize(
    "spec",
    [
        {"scheduler": {"type": "asha", "maxT": 7}},
        {"scheduler": {"type": "asha"}, "stop": {"training_iteration": 12}},
        {"scheduler": {"type": "asha"}},
        {"scheduler": {"type": "hyperband", "maxT": 5}},
        {"scheduler": {"type": "asha", "timeAttr": "epoch", "maxT": 4}},
    ],
    ids=["asha-maxT", "asha-stop", "asha-default", "hyperband", "asha-epoch"],
)
def test_the_horizon_is_the_max_t_of_the_scheduler_that_runs(spec: dict[str, Any]) -> None:
    exp = load_object(experiment_doc("h", "m:f", **spec))
    scheduler = build_scheduler(exp)
    horizon = searching.horizon(exp)
    ray_max_t = getattr(scheduler, "_max_t", None) or scheduler._max_t_attr  # ASHA's or HyperBand's
    assert horizon.max_t == ray_max_t
    assert horizon.time_attr == scheduler._time_attr
    assert horizon.stop == exp.spec.stop


def test_a_fifo_or_median_scheduler_has_no_max_t_to_reach() -> None:
    for scheduler in ({"type": "fifo"}, {"type": "median"}):
        assert searching.horizon(load_object(experiment_doc("h", "m:f", scheduler=scheduler))).max_t is None


def test_the_default_search_and_optuna_are_both_this_searcher() -> None:
    for search in ({}, {"algorithm": "optuna", "seed": 3}):
        exp = load_object(experiment_doc("d", "m:f", search=search, maxConcurrentTrials=3))
        built = searching.build_searcher(exp, max_concurrent=3)
        assert isinstance(built.algorithm, OptunaBridge)
        assert built.max_concurrent_trials == 3  # Ray's ConcurrencyLimiter holds the bound
