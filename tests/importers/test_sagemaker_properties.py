"""Whatever JSON arrives, the SageMaker importer ends in an experiment ``kubetune.spec`` validates or in errors that
name the field, one line each: never another exception, and never an invalid spec reported as a kubetune bug.

The inputs are valid-looking tuning requests (either accepted shape, with a training job inline or separate) with
arbitrary mutations on top: keys dropped or added, any value replaced by any JSON (wrong types, huge, negative,
NaN and infinite numbers, empty strings and containers), as well as JSON that is no request at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kubetune.cli.importing import render
from kubetune.importers import ImportResult
from kubetune.importers.sagemaker import CONFIG, import_tuning_job
from kubetune.spec import FieldError, SpecError, load_object, load_text

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "0", "-1", "1e400", "nan", "inf", "007", "1.5", "Auto", "Grid", "x" * 300]),
    st.text(max_size=12),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


def mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` 15 times in 16, else ``odd``: a request has a dozen such fields, so about half the unmutated
    requests import, and the mutations, not chance, make the rest fail. (Shrinks towards ``valid``.)"""
    return st.integers(min_value=0, max_value=15).flatmap(lambda i: odd if i == 15 else valid)


#: Numbers as SageMaker writes them (strings), and strings it would refuse.
BOUNDS = mostly(
    st.integers(min_value=1, max_value=100).map(str),
    st.one_of(
        st.integers(min_value=-(10**20), max_value=10**20).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["0", "0.5", "1e-3", "1e400", "-0", "+.5", "1_0", " 1", ""]),
    ),
)
NAMES = mostly(st.sampled_from(["lr", "depth", "batch_size", "eta", "alpha"]), st.sampled_from(["a/b", ""]) | st.text())
SCALINGS = mostly(st.sampled_from(["Auto", "Linear", "Logarithmic"]), st.sampled_from(["ReverseLogarithmic", "log"]))
COUNTS = mostly(st.integers(min_value=1, max_value=20), st.integers(min_value=-5, max_value=10**12))


def numeric_range(low: str, high: str) -> st.SearchStrategy[dict[str, Any]]:
    bounds = {"MinValue": st.just(low), "MaxValue": st.just(high)}
    return st.fixed_dictionaries({"Name": NAMES, **bounds}, optional={"ScalingType": SCALINGS})


def parameter_ranges() -> st.SearchStrategy[dict[str, Any]]:
    bounds = mostly(st.just(("1", "9")), st.tuples(BOUNDS, BOUNDS))
    numeric = bounds.flatmap(lambda b: numeric_range(*b))
    categorical = st.fixed_dictionaries({"Name": NAMES, "Values": st.lists(BOUNDS | NAMES, max_size=4, unique=True)})
    return st.fixed_dictionaries(
        {"ContinuousParameterRanges": st.lists(numeric, min_size=1, max_size=2, unique_by=lambda r: str(r["Name"]))},
        optional={
            "IntegerParameterRanges": st.lists(numeric, max_size=2),
            "CategoricalParameterRanges": st.lists(categorical, max_size=2),
        },
    )


def tuning_config() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "Strategy": mostly(
                st.sampled_from(["Bayesian", "Random"]), st.sampled_from(["Hyperband", "Grid", "random"])
            ),
            "ResourceLimits": st.fixed_dictionaries(
                {"MaxParallelTrainingJobs": COUNTS, "MaxNumberOfTrainingJobs": COUNTS},
                optional={"MaxRuntimeInSeconds": mostly(st.integers(120, 86_400), st.integers(-5, 10**12))},
            ),
            "HyperParameterTuningJobObjective": st.fixed_dictionaries(
                {
                    "Type": mostly(st.sampled_from(["Maximize", "Minimize"]), st.just("max")),
                    "MetricName": mostly(
                        st.sampled_from(["validation:auc", "accuracy"]), st.sampled_from(["1bad", "", "a" * 300])
                    ),
                }
            ),
            "ParameterRanges": parameter_ranges(),
        },
        optional={
            "TrainingJobEarlyStoppingType": mostly(st.sampled_from(["Off", "Auto"]), st.just("auto")),
            "RandomSeed": mostly(st.integers(min_value=0, max_value=100), st.integers(-5, 10**20)),
            "StrategyConfig": st.fixed_dictionaries(
                {
                    "HyperbandStrategyConfig": st.fixed_dictionaries(
                        {}, optional={"MinResource": COUNTS, "MaxResource": COUNTS}
                    )
                }
            ),
            "TuningJobCompletionCriteria": st.fixed_dictionaries(
                {},
                optional={
                    "TargetObjectiveMetricValue": st.floats(allow_nan=True, allow_infinity=True),
                    "BestObjectiveNotImproving": st.fixed_dictionaries({"MaxNumberOfTrainingJobsNotImproving": COUNTS}),
                    "ConvergenceDetected": st.fixed_dictionaries(
                        {"CompleteOnConvergence": st.sampled_from(["Enabled", "Disabled"])}
                    ),
                },
            ),
        },
    )


def training_job() -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from(["epochs", "num_round", "objective", "sagemaker_program", "k"])
    return st.fixed_dictionaries(
        {},
        optional={
            "StaticHyperParameters": st.dictionaries(keys, BOUNDS | NAMES, max_size=3),
            "RetryStrategy": st.fixed_dictionaries({"MaximumRetryAttempts": mostly(st.integers(1, 30), st.integers())}),
            "StoppingCondition": st.fixed_dictionaries({"MaxRuntimeInSeconds": COUNTS}),
            "ResourceConfig": st.fixed_dictionaries({"InstanceType": st.text(max_size=8), "InstanceCount": JSON}),
        },
    )


def request() -> st.SearchStrategy[Any]:
    whole = st.fixed_dictionaries(
        {CONFIG: tuning_config()},
        optional={"HyperParameterTuningJobName": NAMES, "TrainingJobDefinition": training_job(), "Tags": JSON},
    )
    return mostly(tuning_config() | whole, JSON)


def mutated(value: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    """``value`` with one random change somewhere inside: a key dropped or added, or a value replaced by any JSON."""
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        action = draw(st.sampled_from(["drop", "replace", "descend", "add"]))
        out = dict(value)
        if action == "drop":
            del out[key]
        elif action == "replace":
            out[key] = draw(JSON)
        elif action == "descend":
            out[key] = mutated(out[key], draw)
        else:
            out[draw(st.text(max_size=10))] = draw(JSON)
        return out
    if isinstance(value, list) and value:
        i = draw(st.integers(min_value=0, max_value=len(value) - 1))
        return [*value[:i], mutated(value[i], draw), *value[i + 1 :]]
    return draw(JSON)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_json_imports_to_a_valid_experiment_or_fails_naming_the_field(data: st.DataObject) -> None:
    body = data.draw(request())
    job = data.draw(mostly(st.none() | training_job(), JSON))
    for _ in range(data.draw(st.sampled_from([0, 0, 1, 2, 3]))):  # unmutated half the time: valid-looking
        body, job = (mutated(body, data.draw), job) if data.draw(st.booleans()) else (body, mutated(job, data.draw))
    result: ImportResult | None = None
    errors: list[FieldError] = []
    try:
        result = import_tuning_job(
            body,
            training_job=job,
            name=data.draw(mostly(st.none() | st.just("exp"), st.sampled_from(["Bad_Name", ""]))),
            trainable="pkg.module:train",
            image=data.draw(mostly(st.none() | st.just("img:1"), st.just(" "))),
            namespace=data.draw(mostly(st.none() | st.just("ml"), st.just("ML"))),
            metric_map=data.draw(st.dictionaries(st.sampled_from(["validation:auc", "x"]), NAMES, max_size=1)),
            source_name=data.draw(
                mostly(st.sampled_from(["tuning.json", "Nightly Run.json"]), st.none() | st.just("__"))
            ),
        )
    except SpecError as e:
        errors = list(e.errors)
    if result is None:
        event("refused")
        assert errors
        for error in errors:
            assert error.reason.strip(), error
            assert "\n" not in str(error), error
            assert "a kubetune bug" not in error.reason, error
            assert error.path or _not_a_request(body), error  # only the request as a whole has no field to name
        return
    event("imported")
    assert all("\n" not in warning for warning in result.warnings), result.warnings  # one console line each
    experiment = load_object(result.document)
    assert experiment.to_dict() == result.document
    text = render(result, sources=["t.json"], command=["kubetune", "import-sagemaker", "t.json"])
    assert load_text(text).to_dict() == result.document


def _not_a_request(body: Any) -> bool:
    keys = {"Strategy", "StrategyConfig", "HyperParameterTuningJobObjective", "ResourceLimits", "ParameterRanges"}
    keys |= {"TrainingJobEarlyStoppingType", "TuningJobCompletionCriteria", "RandomSeed"}
    return not isinstance(body, dict) or (CONFIG not in body and not keys & set(body))
