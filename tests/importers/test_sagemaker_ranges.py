"""SageMaker ParameterRanges import as search-space dimensions with SageMaker's bounds and scales, or fail naming the
range's field."""

from __future__ import annotations

import numpy as np
import pytest

from kubetune.spec import load_object
from kubetune.spec.spaces import to_param_space
from tests.importers.sagemaker_cases import (
    RANGES,
    TWO_INTEGERS,
    Accepted,
    Rejected,
    categorical,
    check_accepted,
    check_rejected,
    continuous,
    integer,
    ranges,
    run_import,
)

ACCEPTED = [
    # ---- scaling types and bounds
    Accepted(
        "continuous linear is uniform over float bounds",
        ranges(Continuous=[continuous("lr", "0", "1")]),
        {"searchSpace": {"lr": {"uniform": [0.0, 1.0]}}},
    ),
    Accepted(
        "continuous bounds may be signed or in exponent form",
        ranges(Continuous=[continuous("b", "-1e-1", "+.5")]),
        {"searchSpace": {"b": {"uniform": [-0.1, 0.5]}}},
    ),
    Accepted(
        "continuous auto is uniform, with a warning",
        ranges(Continuous=[continuous("lr", "0", "1", "Auto")]),
        {"searchSpace": {"lr": {"uniform": [0.0, 1.0]}}},
        ["ScalingType Auto (SageMaker picks the scale while it searches) imported as Linear for lr"],
    ),
    Accepted(
        "a missing scaling type is SageMaker's default, auto",
        ranges(Continuous=[continuous("lr", "0", "1", None)]),
        {"searchSpace": {"lr": {"uniform": [0.0, 1.0]}}},
        ["imported as Linear for lr"],
    ),
    Accepted(
        "continuous logarithmic is loguniform",
        ranges(Continuous=[continuous("lr", "1e-5", "0.1", "Logarithmic")]),
        {"searchSpace": {"lr": {"loguniform": [1e-5, 0.1]}}},
    ),
    Accepted(
        "integer linear is randint with both bounds inclusive, no +1",
        ranges(Integer=[integer("depth", "1", "10")]),
        {"searchSpace": {"depth": {"randint": [1, 10]}}},
    ),
    Accepted(
        "a single-value integer range is kept",
        ranges(Integer=[integer("depth", "4", "4")]),
        {"searchSpace": {"depth": {"randint": [4, 4]}}},
    ),
    Accepted(
        "integer logarithmic is lograndint",
        ranges(Integer=[integer("units", "16", "4096", "Logarithmic")]),
        {"searchSpace": {"units": {"lograndint": [16, 4096]}}},
    ),
    Accepted(
        "integer auto is randint, with one warning naming every auto range",
        ranges(Integer=[integer("a", "1", "3", "Auto")], Continuous=[continuous("b", "0", "1", None)]),
        {"searchSpace": {"a": {"randint": [1, 3]}, "b": {"uniform": [0.0, 1.0]}}},
        ["imported as Linear for a, b"],
    ),
    # ---- categorical typing
    Accepted(
        "categorical strings stay strings",
        ranges(Categorical=[categorical("booster", "gbtree", "dart")]),
        {"searchSpace": {"booster": {"choice": ["gbtree", "dart"]}}},
    ),
    Accepted(
        "categorical values that are all integers become integers, with a warning",
        ranges(Categorical=[categorical("batch", "32", "64")]),
        {"searchSpace": {"batch": {"choice": [32, 64]}}},
        ["CategoricalParameterRanges[0] (batch): every value is a number, so they are imported as integers [32, 64]"],
    ),
    Accepted(
        "categorical numbers with a fraction all become floats",
        ranges(Categorical=[categorical("p", "1", "0.5", "2e-1")]),
        {"searchSpace": {"p": {"choice": [1.0, 0.5, 0.2]}}},
        ["imported as floats [1.0, 0.5, 0.2]"],
    ),
    Accepted(
        "categorical values that are not all numbers stay strings, unwarned",
        ranges(Categorical=[categorical("k", "1", "auto")]),
        {"searchSpace": {"k": {"choice": ["1", "auto"]}}},
    ),
    Accepted(
        "categorical numbers that would collide when typed stay strings",
        ranges(Categorical=[categorical("k", "1", "1.0")]),
        {"searchSpace": {"k": {"choice": ["1", "1.0"]}}},
    ),
    Accepted(
        "categorical booleans stay strings (only numbers are typed)",
        ranges(Categorical=[categorical("flag", "true", "false")]),
        {"searchSpace": {"flag": {"choice": ["true", "false"]}}},
    ),
]

REJECTED = [
    # ---- bounds and scaling
    Rejected(
        "a fractional integer bound",
        ranges(Integer=TWO_INTEGERS),
        f"{RANGES}.IntegerParameterRanges[1].MinValue",
        "'1.5' is not an integer",
    ),
    Rejected(
        "an integer bound in float form",
        ranges(Integer=[integer("a", "1", "10.0")]),
        f"{RANGES}.IntegerParameterRanges[0].MaxValue",
        "'10.0' is not an integer",
    ),
    Rejected(
        "a word for a bound",
        ranges(Continuous=[continuous("a", "low", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "'low' is not a number",
    ),
    Rejected(
        "an infinite bound",
        ranges(Continuous=[continuous("a", "0", "inf")]),
        f"{RANGES}.ContinuousParameterRanges[0].MaxValue",
        "'inf' is not a number",
    ),
    Rejected(
        "an overflowing bound",
        ranges(Continuous=[continuous("a", "0", "1e999")]),
        f"{RANGES}.ContinuousParameterRanges[0].MaxValue",
        "'1e999' is not a number",
    ),
    Rejected(
        "a bound padded with spaces",
        ranges(Continuous=[continuous("a", " 0", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "' 0' is not a number",
    ),
    Rejected(
        "a bound that is a JSON number",
        ranges(Continuous=[{"Name": "a", "MinValue": 0, "MaxValue": "1"}]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "expected a string such as '0.5'",
    ),
    Rejected(
        "a missing bound",
        ranges(Continuous=[{"Name": "a", "MinValue": "0"}]),
        f"{RANGES}.ContinuousParameterRanges[0].MaxValue",
        "required field is missing",
    ),
    Rejected(
        "an empty continuous range",
        ranges(Continuous=[continuous("a", "1", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "1 must be below MaxValue 1",
    ),
    Rejected(
        "an inverted integer range",
        ranges(Integer=[integer("a", "5", "4")]),
        f"{RANGES}.IntegerParameterRanges[0].MinValue",
        "5 is above MaxValue 4",
    ),
    Rejected(
        "logarithmic from zero",
        ranges(Continuous=[continuous("a", "0", "1", "Logarithmic")]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "Logarithmic scaling needs MinValue > 0, got 0",
    ),
    Rejected(
        "integer logarithmic from zero",
        ranges(Integer=[integer("a", "0", "9", "Logarithmic")]),
        f"{RANGES}.IntegerParameterRanges[0].MinValue",
        "Logarithmic scaling needs MinValue >= 1, got 0",
    ),
    Rejected(
        "continuous reverse logarithmic",
        ranges(Continuous=[continuous("m", "0.9", "0.999", "ReverseLogarithmic")]),
        f"{RANGES}.ContinuousParameterRanges[0].ScalingType",
        "ReverseLogarithmic has no equivalent in kubetune's search space",
    ),
    Rejected(
        "reverse logarithmic says how to express it exactly",
        ranges(Continuous=[continuous("m", "0.9", "0.999", "ReverseLogarithmic")]),
        f"{RANGES}.ContinuousParameterRanges[0].ScalingType",
        "Logarithmic over [0.001, 0.1]",
    ),
    Rejected(
        "reverse logarithmic outside [0, 1)",
        ranges(Continuous=[continuous("m", "0.5", "2", "ReverseLogarithmic")]),
        f"{RANGES}.ContinuousParameterRanges[0].ScalingType",
        "0 <= MinValue < MaxValue < 1",
    ),
    Rejected(
        "integer reverse logarithmic",
        ranges(Integer=[integer("a", "1", "9", "ReverseLogarithmic")]),
        f"{RANGES}.IntegerParameterRanges[0].ScalingType",
        "for continuous ranges only",
    ),
    Rejected(
        "an unknown scaling type",
        ranges(Continuous=[continuous("a", "0", "1", "Log")]),
        f"{RANGES}.ContinuousParameterRanges[0].ScalingType",
        "got 'Log'; expected one of Auto, Linear",
    ),
    # ---- ranges
    Rejected("no ranges at all", {"ParameterRanges": {"IntegerParameterRanges": []}}, RANGES, "nothing to tune"),
    Rejected("no ParameterRanges", {"ParameterRanges": None}, RANGES, "required field is missing"),
    Rejected(
        "more than 30 ranges of a kind",
        ranges(Integer=[integer(f"p{i}", "1", "2") for i in range(31)]),
        f"{RANGES}.IntegerParameterRanges",
        "31 items; SageMaker allows at most 30",
    ),
    Rejected(
        "the same name twice",
        ranges(Integer=[integer("a", "1", "2")], Continuous=[continuous("a", "0", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].Name",
        "'a' is already a range",
    ),
    Rejected(
        "a name with '/'",
        ranges(Continuous=[continuous("opt/lr", "0", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].Name",
        "cannot contain '/'",
    ),
    Rejected(
        "a categorical value twice",
        ranges(Categorical=[categorical("k", "a", "b", "a")]),
        f"{RANGES}.CategoricalParameterRanges[0].Values[2]",
        "'a' is listed twice",
    ),
    Rejected(
        "a categorical value that is a JSON number",
        ranges(Categorical=[categorical("k", "a", 2)]),
        f"{RANGES}.CategoricalParameterRanges[0].Values[1]",
        "expected a string",
    ),
    Rejected(
        "no categorical values",
        ranges(Categorical=[categorical("k")]),
        f"{RANGES}.CategoricalParameterRanges[0].Values",
        "needs at least 1 item",
    ),
    Rejected(
        "31 categorical values",
        ranges(Categorical=[categorical("k", *map(str, range(31)))]),
        f"{RANGES}.CategoricalParameterRanges[0].Values",
        "at most 30",
    ),
    Rejected(
        "AutoParameters",
        {"ParameterRanges": {"AutoParameters": [{"Name": "lr", "ValueHint": "0.1"}]}},
        f"{RANGES}.AutoParameters",
        "Autotune infers these ranges",
    ),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_accepted_range_imports_to_the_expected_dimension(case: Accepted) -> None:
    check_accepted(case)


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.id)
def test_rejected_range_names_the_sagemaker_field(case: Rejected) -> None:
    check_rejected(case)


def test_ranges_keep_the_requests_order_across_kinds() -> None:
    config = ranges(Integer=[integer("z", "1", "2")], Continuous=[continuous("a", "0", "1")])
    config["ParameterRanges"]["CategoricalParameterRanges"] = [categorical("m", "x", "y")]
    assert list(run_import(config).document["spec"]["searchSpace"]) == ["z", "a", "m"]


@pytest.mark.parametrize(
    ("scaling", "kind"), [("Linear", "randint"), ("Auto", "randint"), ("Logarithmic", "lograndint")]
)
def test_integer_ranges_sample_both_inclusive_ends(scaling: str, kind: str) -> None:
    """SageMaker's MaxValue is a value trials get: Ray's exclusive upper bound is the engine's business."""
    result = run_import(ranges(Integer=[integer("n", "1", "3", scaling)]))
    space = load_object(result.document).space
    np.random.seed(0)
    values = set(to_param_space(space)["n"].sample(size=3000))
    assert values == {1, 2, 3}
    assert result.document["spec"]["searchSpace"]["n"] == {kind: [1, 3]}


@pytest.mark.parametrize(("scaling", "kind"), [("Linear", "uniform"), ("Logarithmic", "loguniform")])
def test_continuous_ranges_sample_within_their_bounds(scaling: str, kind: str) -> None:
    result = run_import(ranges(Continuous=[continuous("x", "0.001", "10", scaling)]))
    np.random.seed(0)
    values = to_param_space(load_object(result.document).space)["x"].sample(size=3000)
    assert 0.001 <= min(values) < max(values) <= 10
    if kind == "loguniform":  # spread over decades, not crowded at the top as a uniform draw would be
        assert sum(v < 0.1 for v in values) > 1000
