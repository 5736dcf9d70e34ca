"""``spec.warmStart``: which earlier experiments seed the search, checked before anything runs, each error naming
the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from kubetune.spec import SpecError, load_object
from tests.conftest import experiment_doc


def doc(**spec: Any) -> dict[str, Any]:
    return experiment_doc("second", "tests.fixtures.trainables:quadratic", **spec)


def test_a_warm_start_names_earlier_experiments_by_path_uri_or_name() -> None:
    sources = ["/data/first", "s3://bucket/kubetune/first", "first"]
    exp = load_object(doc(warmStart={"from": sources}))

    assert exp.spec.warm_start is not None
    assert exp.spec.warm_start.from_ == sources
    assert exp.to_dict()["spec"]["warmStart"] == {"from": sources}  # written back as the user wrote it


@dataclass
class Case:
    id: str
    spec: dict[str, Any]
    field: str
    reason: str


CASES = [
    Case("no source", {"warmStart": {"from": []}}, "spec.warmStart.from", "at least 1"),
    Case("no from at all", {"warmStart": {}}, "spec.warmStart.from", "required"),
    Case("an empty source", {"warmStart": {"from": [""]}}, "spec.warmStart.from[0]", "at least 1"),
    Case("a typo", {"warmStart": {"form": ["a"]}}, "spec.warmStart.form", "did you mean from"),
    Case("a source twice", {"warmStart": {"from": ["a", "b", "a"]}}, "spec.warmStart.from[2]", "listed twice"),
    Case("the experiment itself", {"warmStart": {"from": ["second"]}}, "spec.warmStart.from[0]", "itself"),
    Case(
        "random search learns nothing from earlier trials",
        {"warmStart": {"from": ["a"]}, "search": {"algorithm": "random"}},
        "spec.warmStart",
        "search.algorithm random cannot be seeded",
    ),
    Case(
        "Ray's hyperopt searcher would re-run the earlier trials",
        {"warmStart": {"from": ["a"]}, "search": {"algorithm": "hyperopt"}},
        "spec.warmStart",
        "search.algorithm hyperopt cannot be seeded",
    ),
    Case(
        "a default that falls back to random search is refused too",
        {"warmStart": {"from": ["a"]}, "searchSpace": {"x": {"grid": [1, 2]}}},
        "spec.warmStart",
        "search.algorithm random cannot be seeded",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_bad_warm_start_names_the_field(case: Case) -> None:
    with pytest.raises(SpecError) as info:
        load_object(doc(**case.spec))
    matching = [e for e in info.value.errors if e.path == case.field]
    assert matching, [str(e) for e in info.value.errors]
    assert any(case.reason in e.reason for e in matching), [str(e) for e in matching]
