"""Several objectives (``metric`` and ``mode`` as lists): what the spec accepts, its defaults, what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.spec import SpecError, defaults, load_object
from kubetune.spec.schema import experiment_json_schema
from tests.spec.test_invalid_specs import apply

TWO = {"spec.metric": ["accuracy", "latency_ms"], "spec.mode": ["max", "min"]}


def test_two_objectives_are_accepted_with_optuna_and_fifo_by_default() -> None:
    exp = load_object(apply(TWO))
    spec = exp.spec
    assert (spec.metrics, spec.modes, spec.multi_objective) == (["accuracy", "latency_ms"], ["max", "min"], True)
    assert (spec.primary_metric, spec.primary_mode) == ("accuracy", "max")
    assert (exp.algorithm, exp.scheduler_type) == (defaults.ALGORITHM, defaults.MULTI_OBJECTIVE_SCHEDULER)
    assert defaults.MULTI_OBJECTIVE_SCHEDULER == "fifo"
    assert exp.to_dict()["spec"]["metric"] == ["accuracy", "latency_ms"]  # written back as given


def test_a_single_objective_reads_the_same_through_the_list_accessors() -> None:
    spec = load_object(apply({})).spec
    assert (spec.metrics, spec.modes, spec.multi_objective) == (["mean_accuracy"], ["max"], False)
    one = load_object(apply({"spec.metric": ["mean_accuracy"], "spec.mode": ["max"]}))
    assert (one.spec.multi_objective, one.scheduler_type) == (False, "asha")


@pytest.mark.parametrize("algorithm", ["optuna", "random"])
def test_searchers_that_can_rank_by_several_objectives_are_accepted(algorithm: str) -> None:
    exp = load_object(apply({**TWO, "spec.search": {"algorithm": algorithm}}))
    assert exp.algorithm == algorithm


def test_grid_search_takes_several_objectives() -> None:
    doc = apply({**TWO, "spec.search": {"algorithm": "grid"}, "spec.searchSpace": {"a": {"choice": [1, 2]}}})
    assert load_object(doc).total_trials == 2


@pytest.mark.parametrize(
    ("patch", "field", "reason"),
    [
        ({"spec.mode": ["max"]}, "spec.mode", "has 1 entry, spec.metric has 2"),
        ({"spec.mode": ["max", "min", "min"]}, "spec.mode", "has 3 entries, spec.metric has 2"),
        ({"spec.mode": "max"}, "spec.mode", "is one mode, spec.metric has 2 entries"),
        ({"spec.metric": "accuracy"}, "spec.mode", "has 2 entries, spec.metric has 1"),
        ({"spec.metric": ["accuracy", "accuracy"]}, "spec.metric[1]", "'accuracy' is listed twice"),
        ({"spec.metric": ["accuracy", "1ms"]}, "spec.metric[1]", "is not a metric key"),
        ({"spec.mode": ["max", "fastest"]}, "spec.mode[1]", "'fastest'"),
        ({"spec.metric": []}, "spec.metric", "at least 1"),
        ({"spec.metric": 7}, "spec.metric", "expected a string or a list of strings, got int"),
        ({"spec.metric": [f"m{i}" for i in range(9)], "spec.mode": ["max"] * 9}, "spec.metric", "at most 8"),
        ({"spec.search": {"algorithm": "hyperopt"}}, "spec.search.algorithm", "hyperopt optimises one objective"),
        ({"spec.search": {"algorithm": "bayesopt"}}, "spec.search.algorithm", "bayesopt optimises one objective"),
        ({"spec.search": {"algorithm": "bohb"}}, "spec.search.algorithm", "bohb optimises one objective"),
        ({"spec.scheduler": {"type": "asha"}}, "spec.scheduler.type", "asha stops trials by comparing one"),
        ({"spec.scheduler": {"type": "hyperband"}}, "spec.scheduler.type", "use fifo"),
        ({"spec.scheduler": {"type": "median"}}, "spec.scheduler.type", "median stops trials"),
        (
            {"spec.scheduler": {"type": "pbt"}, "spec.search": {"algorithm": "random"}},
            "spec.scheduler.type",
            "pbt stops trials",
        ),
        ({"spec.goal": 0.9}, "spec.goal", "no one trial reaches"),
        ({"spec.warmStart": {"from": ["earlier"]}}, "spec.warmStart", "does not support several objectives"),
    ],
)
def test_what_several_objectives_cannot_take_is_refused_naming_the_field(
    patch: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(SpecError) as info:
        load_object(apply({**TWO, **patch}))
    matching = [str(e) for e in info.value.errors if e.path == field]
    assert matching, f"{field} not in {[e.path for e in info.value.errors]}"
    assert any(reason in m for m in matching), matching


def test_fifo_is_accepted_explicitly() -> None:
    assert load_object(apply({**TWO, "spec.scheduler": {"type": "fifo"}})).scheduler_type == "fifo"


def test_the_checkpoint_ranking_defaults_to_the_first_objective_and_its_mode() -> None:
    from kubetune.engine.configuring import score_attribute, score_order

    exp = load_object(apply({"spec.metric": ["latency_ms", "accuracy"], "spec.mode": ["min", "max"]}))
    assert (score_attribute(exp), score_order(exp)) == ("latency_ms", "min")
    second = load_object(
        apply(
            {
                "spec.metric": ["latency_ms", "accuracy"],
                "spec.mode": ["min", "max"],
                "spec.checkpoint": {"scoreAttribute": "accuracy"},
            }
        )
    )
    assert (score_attribute(second), score_order(second)) == ("accuracy", "max")


def test_the_json_schema_offers_one_value_or_a_list() -> None:
    spec = experiment_json_schema()["$defs"]["Spec"]["properties"]
    assert [o["type"] for o in spec["metric"]["oneOf"]] == ["string", "array"]
    assert [o["type"] for o in spec["mode"]["oneOf"]] == ["string", "array"]
