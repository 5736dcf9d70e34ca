"""SageMaker ``CreateHyperParameterTuningJob`` request → ``TuneExperiment`` document.

Input is the request as JSON (the whole request, or only its ``HyperParameterTuningJobConfig`` object), optionally
with a separate ``HyperParameterTrainingJobDefinition`` (its ``StaticHyperParameters``, ``StoppingCondition``,
``RetryStrategy``). Keys, enums and limits are those of the SageMaker API model (botocore 1.43.11): a request the
real API would refuse is refused here too, with the SageMaker field path
(``HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[1].MinValue: '1.5' is not an integer``).

The mapping, and where it is only approximate (each approximation or drop is a warning in the result):

=========================================================  ===========================================================
SageMaker                                                  TuneExperiment
=========================================================  ===========================================================
Continuous Linear / Auto (Auto: warning) [1]_              ``uniform: [min, max]`` (floats)
Continuous Logarithmic                                     ``loguniform`` (MinValue > 0)
Continuous ReverseLogarithmic                              rejected [2]_
Integer Linear / Auto (Auto: warning)                      ``randint: [min, max]``, both inclusive as in SageMaker
Integer Logarithmic                                        ``lograndint`` (MinValue >= 1)
Integer ReverseLogarithmic                                 rejected (SageMaker documents it for continuous only)
Categorical                                                ``choice`` (``grid`` under Grid); numbers typed when every
                                                           value is one (warning), else strings
Strategy Bayesian                                          ``search.algorithm: optuna`` (TPE; warning) [3]_
Strategy Random / Grid                                     ``random`` / ``grid`` with ``numSamples: 1`` (categoricals
                                                           only; any other range is rejected)
Strategy Hyperband                                         ``random`` + scheduler ``asha``: ``maxT`` = MaxResource
                                                           (else epochs from StaticHyperParameters), ``gracePeriod`` =
                                                           MinResource (1) [4]_
RandomSeed                                                 ``search.seed``
Objective Type / MetricName                                ``mode`` / ``metric`` (``metric_map``, else ':' → '-')
MaxNumberOfTrainingJobs / MaxParallelTrainingJobs          ``numSamples`` / ``maxConcurrentTrials``
MaxRuntimeInSeconds (ResourceLimits)                       ``timeBudgetSeconds``
TrainingJobEarlyStoppingType Auto                          scheduler ``median`` (gracePeriod 1, training_iteration);
                                                           with Hyperband rejected, as SageMaker does
TargetObjectiveMetricValue, BestObjectiveNotImproving,     dropped with a warning [5]_
ConvergenceDetected
StaticHyperParameters                                      ``config`` (int/float/bool where the string parses)
RetryStrategy.MaximumRetryAttempts                         ``failure.maxFailures``
StoppingCondition (per training job)                       dropped with a warning: there is no per-trial timeout
WarmStartConfig, Autotune, AutoParameters,                 rejected: no faithful equivalent
more than one TrainingJobDefinitions
=========================================================  ===========================================================

.. [1] Auto lets SageMaker choose the scale while it searches; Linear is its starting point and the only choice
   that never excludes part of the range (log needs MinValue > 0).
.. [2] ReverseLogarithmic samples densest just below 1 (``1 - x`` on a log scale). The grammar has no such
   keyword and no derived parameters, and both ``uniform`` and ``loguniform`` put the samples somewhere else
   (``loguniform`` densest near the *minimum*, the opposite), so any approximation would quietly tune a different
   problem. The error says how to express it exactly: tune ``1 - x`` Logarithmically and convert in the trainable.
.. [3] ``bayesopt`` (a GP, like SageMaker) would be closer for all-continuous-Linear spaces, but it takes only
   ``uniform`` dimensions, so the algorithm would flip as soon as an integer, log or categorical range is added
   (the tutorial itself has an integer range). TPE takes every kind this importer emits, in one mapping.
.. [4] ASHA rather than ``hyperband``: SageMaker's Hyperband stops jobs asynchronously, and only ASHA has a
   ``gracePeriod`` to carry MinResource ("a job is not stopped before MinResource").
.. [5] ``stop: {metric: target}`` would end only the trial that reaches the target, never the search, and for
   Minimize it would stop trials at the wrong side (Ray's dict stopper means "≥"): misleading either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from kubetune.importers import ImportResult
from kubetune.importers._reading import Reader, describe, join
from kubetune.importers._sagemaker_ranges import INT, parse_ranges, typed_value
from kubetune.spec import API_VERSION, KIND, FieldError, SpecError, load_object
from kubetune.spec.errors import from_validation_error
from kubetune.spec.models import DnsLabel, ImportPath, MetricKey

CONFIG: Final = "HyperParameterTuningJobConfig"
STRATEGIES: Final = ("Bayesian", "Random", "Hyperband", "Grid")
#: Where SageMaker looks for Hyperband's MaxResource when the config has none, in its documented order.
EPOCH_KEYS: Final = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
#: SageMaker's cap on Hyperband's MaxResource ("The maximum value is 20,000 epochs").
MAX_RESOURCE: Final = 20_000
#: SageMaker's limit on hyperparameters per job, static and tuned together (developer guide, "Define ranges").
MAX_HYPERPARAMETERS: Final = 100

_REQUEST_KEYS: Final = (
    "HyperParameterTuningJobName", CONFIG, "TrainingJobDefinition", "TrainingJobDefinitions",
    "WarmStartConfig", "Tags", "Autotune",
)  # fmt: skip
_CONFIG_KEYS: Final = (
    "Strategy", "StrategyConfig", "HyperParameterTuningJobObjective", "ResourceLimits", "ParameterRanges",
    "TrainingJobEarlyStoppingType", "TuningJobCompletionCriteria", "RandomSeed",
)  # fmt: skip
#: HyperParameterTrainingJobDefinition fields about SageMaker's own infrastructure: reported, not imported.
_INFRA_KEYS: Final = (
    "AlgorithmSpecification", "RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig", "ResourceConfig",
    "HyperParameterTuningResourceConfig", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining", "CheckpointConfig", "Environment",
)  # fmt: skip
_DEFINITION_KEYS: Final = (
    "DefinitionName", "TuningObjective", "HyperParameterRanges", "StaticHyperParameters", "StoppingCondition",
    "RetryStrategy", *_INFRA_KEYS,
)  # fmt: skip
#: Keys of a CreateTrainingJob request, a common mix-up for the tuning job's training definition.
_DEFINITION_HINTS: Final = {
    "HyperParameters": "CreateTrainingJob's name; a tuning job's training definition calls them StaticHyperParameters",
    "TrainingJobName": "a CreateTrainingJob field; pass the tuning job's HyperParameterTrainingJobDefinition",
}
#: Static hyperparameters the SageMaker Python SDK adds for its containers (script mode, tuning bookkeeping).
_PLUMBING: Final = re.compile(r"^(sagemaker_.*|_tuning_objective_metric)$")
#: Spec keys in the README's order, so generated files read like hand-written ones.
_SPEC_ORDER: Final = (
    "trainable", "image", "metric", "mode", "searchSpace", "config", "search", "scheduler", "numSamples",
    "maxConcurrentTrials", "resourcesPerTrial", "timeBudgetSeconds", "failure", "checkpoint",
)  # fmt: skip

_DNS_LABEL: TypeAdapter[str] = TypeAdapter(DnsLabel)
_IMPORT_PATH: TypeAdapter[str] = TypeAdapter(ImportPath)
_METRIC_KEY: TypeAdapter[str] = TypeAdapter(MetricKey)


def import_tuning_job(
    request: dict[str, Any],
    *,
    training_job: dict[str, Any] | None,
    name: str | None,
    trainable: str,
    image: str | None,
    namespace: str | None,
    metric_map: dict[str, str],
) -> ImportResult:
    """Translate a SageMaker tuning request into a validated TuneExperiment document.

    ``name`` defaults to ``HyperParameterTuningJobName`` made a DNS label; ``trainable``, ``image`` and
    ``namespace`` are what SageMaker does not carry (its "trainable" is a container image plus S3 channels).
    ``metric_map`` renames SageMaker metric names to the keys the trainable reports.

    Raises :class:`~kubetune.spec.SpecError` listing every problem found, each with its SageMaker field path (or
    the CLI option, ``--name``, for the values SageMaker does not carry). A translation that
    :func:`~kubetune.spec.load_object` refuses is an importer bug and is raised as such, never returned.
    """
    r = Reader()
    warnings: list[str] = []
    if not isinstance(request, Mapping):
        raise SpecError.one("", f"expected a JSON object (a tuning job request), got {describe(request)}")
    config, job_name, definition, dpath = _split_request(request, training_job, r, warnings)
    cfg = r.obj(config, CONFIG, known=_CONFIG_KEYS, required=("Strategy", "ResourceLimits")) or {}
    if definition is not None:
        definition = r.obj(definition, dpath, known=_DEFINITION_KEYS, hints=_DEFINITION_HINTS)
    req = _Request(cfg=cfg, definition=definition or {}, dpath=dpath, r=r, warnings=warnings)
    req.strategy = r.string(cfg, "Strategy", CONFIG, enum=STRATEGIES)

    metric, mode = _objective(req, metric_map)
    space, combinations = _parameter_ranges(req)
    statics = _static_hyperparameters(req)
    spec: dict[str, Any] = {"trainable": trainable, "image": image, "metric": metric, "mode": mode}
    spec["searchSpace"] = space
    spec["config"] = _typed_config(req, statics, space)
    spec.update(_search_and_scheduler(req, statics))
    spec.update(_resource_limits(req, combinations))
    spec["resourcesPerTrial"] = {"cpu": 1}
    # SageMaker keeps one model per training job; keep each trial's best checkpoint, not every round's.
    spec["checkpoint"] = {"numToKeep": 1}
    _completion_criteria(req, metric)
    spec.update(_training_job_limits(req))
    _report_infrastructure(req)
    metadata = {"name": _experiment_name(name, job_name, r, warnings), "namespace": namespace}

    _check_option(_IMPORT_PATH, trainable, "--trainable", r)
    if namespace is not None:
        _check_option(_DNS_LABEL, namespace, "--namespace", r)
    if image is not None and not image.strip():
        r.fail("--image", "must not be empty")
    if r.errors:
        raise SpecError(r.errors)

    document = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {k: v for k, v in metadata.items() if v is not None},
        "spec": {k: spec[k] for k in _SPEC_ORDER if spec.get(k) not in (None, {})},
    }
    try:
        load_object(document)
    except SpecError as e:
        bug = "(the importer turned a valid request into an invalid spec: a kubetune bug)"
        raise SpecError([FieldError(err.path, f"{err.reason} {bug}") for err in e.errors]) from e
    return ImportResult(document=document, warnings=warnings)


@dataclass
class _Request:
    """The request being translated: its tuning config, its training definition (``{}`` when there is none) with
    the path errors should name for it, and where the problems and warnings found so far go."""

    cfg: dict[str, Any]
    definition: dict[str, Any]
    dpath: str
    r: Reader
    warnings: list[str] = field(default_factory=list)
    strategy: str | None = None


def _split_request(
    request: Mapping[str, Any], training_job: dict[str, Any] | None, r: Reader, warnings: list[str]
) -> tuple[Any, str | None, Any, str]:
    """The tuning config, job name, training definition and its path, from either accepted input shape.

    A whole request is recognised by its ``HyperParameterTuningJobConfig``; anything else must look like that
    object itself (one of its keys present), otherwise the file is probably not a tuning request at all.
    """
    definition: Any = None
    dpath = "TrainingJobDefinition"
    if CONFIG in request:
        top = r.obj(request, "", known=_REQUEST_KEYS) or {}
        config = top[CONFIG]
        job_name = r.string(top, "HyperParameterTuningJobName", "", min_length=1, max_length=32)
        _reject_unsupported(top, r)
        if "Tags" in top:
            warnings.append("Tags dropped: set metadata.labels by hand if you need them")
        definitions = r.array(top, "TrainingJobDefinitions", "", min_length=1, max_length=10)
        if "TrainingJobDefinition" in top:
            definition = top["TrainingJobDefinition"]
            if "TrainingJobDefinitions" in top:
                r.fail("TrainingJobDefinitions", "set TrainingJobDefinition or TrainingJobDefinitions, not both")
        elif len(definitions) > 1:
            r.fail(
                "TrainingJobDefinitions",
                f"{len(definitions)} definitions; a TuneExperiment runs one trainable, so import each definition "
                "on its own (as the training-job file)",
            )
        elif definitions:
            definition, dpath = definitions[0], "TrainingJobDefinitions[0]"
    elif set(request) & set(_CONFIG_KEYS):
        config, job_name = request, None
    else:
        raise SpecError.one(
            "",
            f"neither a CreateHyperParameterTuningJob request (it has no {CONFIG}) nor its {CONFIG} object (it has "
            "no Strategy, ResourceLimits, ParameterRanges, ...)",
        )
    if training_job is not None:
        if definition is not None:
            r.fail(dpath, "given twice: in the request and as a separate training-job file; keep one")
        definition, dpath = training_job, "TrainingJobDefinition"
    return config, job_name, definition, dpath


def _reject_unsupported(top: Mapping[str, Any], r: Reader) -> None:
    """Autotune and warm start decide *what* is searched from state that exists only inside SageMaker."""
    if "Autotune" in top:
        r.fail(
            "Autotune",
            "cannot be imported: Autotune lets SageMaker choose the strategy, ranges and limits itself; "
            f"write those choices in {CONFIG} and drop Autotune",
        )
    if "WarmStartConfig" in top:
        r.fail(
            "WarmStartConfig",
            "cannot be imported: warm start seeds the search with the evaluated trials of parent tuning jobs, "
            "and those results live in SageMaker, not in any kubetune experiment; remove WarmStartConfig to "
            "import a cold start",
        )


def _objective(req: _Request, metric_map: Mapping[str, str]) -> tuple[str, str]:
    """``(metric, mode)`` from the config's objective, or from the training definition's ``TuningObjective``."""
    r, cfg, d = req.r, req.cfg, req.definition
    cfg_path, def_path = f"{CONFIG}.HyperParameterTuningJobObjective", join(req.dpath, "TuningObjective")
    if "HyperParameterTuningJobObjective" in cfg:
        raw, path = cfg["HyperParameterTuningJobObjective"], cfg_path
        if "TuningObjective" in d and d["TuningObjective"] != raw:
            r.fail(def_path, f"differs from {cfg_path}; give the objective once")
    elif "TuningObjective" in d:
        raw, path = d["TuningObjective"], def_path
    else:
        r.fail(
            cfg_path,
            "required field is missing: the objective (Type Maximize|Minimize and MetricName) becomes "
            "spec.mode and spec.metric",
        )
        return "", ""
    objective = r.obj(raw, path, known=("Type", "MetricName"), required=("Type", "MetricName")) or {}
    mode = "max" if r.string(objective, "Type", path, enum=("Maximize", "Minimize")) == "Maximize" else "min"
    sm_metric = r.string(objective, "MetricName", path, min_length=1, max_length=255)
    for sm_name, ray_name in metric_map.items():
        if sm_name != sm_metric:
            req.warnings.append(f"metric map {sm_name}={ray_name} unused: the objective metric is {sm_metric!r}")
    if sm_metric is None:
        return "", mode
    metric = metric_map.get(sm_metric, sm_metric.replace(":", "-"))
    try:
        _METRIC_KEY.validate_python(metric, strict=True)
    except ValidationError:
        r.fail(
            join(path, "MetricName"),
            f"{metric!r} is not a metric key (a letter or '_' first, then letters, digits, '_', '.', '/' or '-'); "
            f"name the key the trainable reports with --metric-map {sm_metric}=<key>",
        )
    if sm_metric not in metric_map and metric != sm_metric:
        req.warnings.append(
            f"objective metric {sm_metric!r} imported as {metric!r} (':' is not allowed in a metric key; choose "
            f"another name with --metric-map {sm_metric}=<key>): the trainable must tune.report it under that key"
        )
    return metric, mode


def _parameter_ranges(req: _Request) -> tuple[dict[str, Any], int]:
    """The search space from ``ParameterRanges`` or, equally, the definition's ``HyperParameterRanges``."""
    in_cfg, in_def = "ParameterRanges" in req.cfg, "HyperParameterRanges" in req.definition
    def_path = join(req.dpath, "HyperParameterRanges")
    if in_cfg and in_def:
        req.r.fail(def_path, f"also given as {CONFIG}.ParameterRanges; give the ranges once")
    if not in_cfg and not in_def:
        req.r.fail(f"{CONFIG}.ParameterRanges", "required field is missing: there is nothing to tune")
        return {}, 0
    if in_cfg:
        raw, path = req.cfg["ParameterRanges"], f"{CONFIG}.ParameterRanges"
    else:
        raw, path = req.definition["HyperParameterRanges"], def_path
    return parse_ranges(raw, path, grid=req.strategy == "Grid", r=req.r, warnings=req.warnings)


def _static_hyperparameters(req: _Request) -> dict[str, str]:
    """``StaticHyperParameters`` as the API defines them: at most 100 string → string entries."""
    if "StaticHyperParameters" not in req.definition:
        return {}
    path, value = join(req.dpath, "StaticHyperParameters"), req.definition["StaticHyperParameters"]
    if not isinstance(value, Mapping):
        req.r.fail(path, f"expected an object of strings, got {describe(value)}")
        return {}
    if len(value) > MAX_HYPERPARAMETERS:
        req.r.fail(path, f"{len(value)} entries; SageMaker allows at most {MAX_HYPERPARAMETERS}")
    out: dict[str, str] = {}
    for key, text in value.items():
        if len(key) > 256:
            req.r.fail(join(path, key), "name longer than 256 characters")
        elif not isinstance(text, str):
            req.r.fail(join(path, key), f"expected a string (SageMaker passes strings), got {describe(text)}")
        elif len(text) > 2500:
            req.r.fail(join(path, key), "longer than 2500 characters")
        else:
            out[key] = text
    return out


def _typed_config(req: _Request, statics: Mapping[str, str], space: Mapping[str, Any]) -> dict[str, Any]:
    """``spec.config``: the static values typed where they parse, without the SDK's container settings."""
    path = join(req.dpath, "StaticHyperParameters")
    if len(statics) + len(space) > MAX_HYPERPARAMETERS:
        req.r.fail(
            path,
            f"{len(statics)} static and {len(space)} tuned hyperparameters; SageMaker allows "
            f"{MAX_HYPERPARAMETERS} in all",
        )
    plumbing = [key for key in statics if _PLUMBING.match(key)]
    if plumbing:
        req.warnings.append(f"{path} {', '.join(plumbing)} dropped: SageMaker container settings, not hyperparameters")
    config: dict[str, Any] = {}
    for key, text in statics.items():
        if key in space:
            req.r.fail(join(path, key), "also a tuned range; a hyperparameter is either static or tuned")
        elif key not in plumbing:
            config[key] = typed_value(text)
    return config


def _search_and_scheduler(req: _Request, statics: Mapping[str, str]) -> dict[str, Any]:
    """``search`` and ``scheduler`` from Strategy, StrategyConfig, RandomSeed and TrainingJobEarlyStoppingType."""
    r, cfg, strategy = req.r, req.cfg, req.strategy
    algorithm = {"Bayesian": "optuna", "Random": "random", "Grid": "grid", "Hyperband": "random"}.get(strategy or "")
    search: dict[str, Any] = {"algorithm": algorithm, "seed": r.integer(cfg, "RandomSeed", CONFIG, minimum=0)}
    out: dict[str, Any] = {"search": {k: v for k, v in search.items() if v is not None}}
    if strategy == "Bayesian":
        req.warnings.append(
            "Strategy Bayesian -> search.algorithm optuna: SageMaker's Bayesian search (a Gaussian-process model) "
            "is approximated by Optuna's TPE, which handles integer, log-scaled and categorical ranges alike"
        )
    stopping = r.string(cfg, "TrainingJobEarlyStoppingType", CONFIG, enum=("Off", "Auto"))
    strategy_config = r.child(cfg, "StrategyConfig", CONFIG, known=("HyperbandStrategyConfig",))
    if strategy == "Hyperband":
        if stopping == "Auto":
            r.fail(
                f"{CONFIG}.TrainingJobEarlyStoppingType",
                "must be Off with Strategy Hyperband, which stops jobs early itself (as SageMaker requires)",
            )
        out["scheduler"] = _hyperband(req, strategy_config or {}, statics)
    elif strategy_config is not None and strategy is not None:
        r.fail(f"{CONFIG}.StrategyConfig", f"applies to Strategy Hyperband only, not {strategy}")
    if stopping == "Auto" and strategy != "Hyperband":
        out["scheduler"] = {"type": "median", "timeAttr": "training_iteration", "gracePeriod": 1}
        req.warnings.append(
            "TrainingJobEarlyStoppingType Auto -> scheduler median (Ray's median stopping rule: stop a trial whose "
            "best result is worse than the median of the other trials' running averages at the same "
            "training_iteration); SageMaker compares per epoch, so the trainable should tune.report once per epoch"
        )
    return out


def _hyperband(req: _Request, strategy_config: Mapping[str, Any], statics: Mapping[str, str]) -> dict[str, Any]:
    """ASHA with maxT = MaxResource (or the epochs SageMaker would infer it from) and gracePeriod = MinResource."""
    r, path = req.r, f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig"
    known = ("MinResource", "MaxResource")
    hb = r.child(strategy_config, "HyperbandStrategyConfig", f"{CONFIG}.StrategyConfig", known=known) or {}
    min_resource = r.integer(hb, "MinResource", path, minimum=1)
    grace = min_resource or 1
    max_resource = r.integer(hb, "MaxResource", path, minimum=1, maximum=MAX_RESOURCE)
    if "MaxResource" not in hb:
        key = next((k for k in EPOCH_KEYS if k in statics), None)
        if key is None:
            r.fail(
                join(path, "MaxResource"),
                f"required with Strategy Hyperband unless StaticHyperParameters has one of {', '.join(EPOCH_KEYS)} "
                "to infer it from",
            )
        elif not INT.fullmatch(statics[key]) or not 1 <= int(statics[key]) <= MAX_RESOURCE:
            r.fail(
                join(join(req.dpath, "StaticHyperParameters"), key),
                f"{statics[key]!r} is not a number of epochs from 1 to {MAX_RESOURCE} (Hyperband infers "
                "MaxResource from it)",
            )
        else:
            max_resource = int(statics[key])
            req.warnings.append(
                f"HyperbandStrategyConfig.MaxResource inferred from StaticHyperParameters.{key}: {max_resource}, "
                "as SageMaker does"
            )
    if max_resource is None:
        return {}
    if grace > max_resource:
        r.fail(join(path, "MinResource"), f"{grace} is above MaxResource {max_resource}")
    req.warnings.append(
        f"Strategy Hyperband -> random search with scheduler asha (asynchronous successive halving, as SageMaker's "
        f"Hyperband stops jobs asynchronously): maxT {max_resource} (MaxResource), gracePeriod {grace} "
        f"({'MinResource' if min_resource else 'no MinResource given'}), counted in training_iteration, so the "
        "trainable should tune.report once per epoch"
    )
    return {"type": "asha", "timeAttr": "training_iteration", "maxT": max_resource, "gracePeriod": grace}


def _resource_limits(req: _Request, combinations: int) -> dict[str, Any]:
    """``numSamples``, ``maxConcurrentTrials`` and ``timeBudgetSeconds`` from ResourceLimits."""
    r, path = req.r, f"{CONFIG}.ResourceLimits"
    known = ("MaxNumberOfTrainingJobs", "MaxParallelTrainingJobs", "MaxRuntimeInSeconds")
    limits = r.child(req.cfg, "ResourceLimits", CONFIG, known=known, required=("MaxParallelTrainingJobs",)) or {}
    max_jobs = r.integer(limits, "MaxNumberOfTrainingJobs", path, minimum=1)
    out: dict[str, Any] = {
        "maxConcurrentTrials": r.integer(limits, "MaxParallelTrainingJobs", path, minimum=1),
        "timeBudgetSeconds": r.integer(limits, "MaxRuntimeInSeconds", path, minimum=120, maximum=15_768_000),
    }
    if req.strategy == "Grid":
        out["numSamples"] = 1
        if max_jobs is not None and max_jobs != combinations:
            req.warnings.append(
                f"Strategy Grid runs every combination once ({combinations} trials, numSamples 1); "
                f"ResourceLimits.MaxNumberOfTrainingJobs {max_jobs} is not used"
            )
    elif max_jobs is not None:
        out["numSamples"] = max_jobs
    elif req.strategy is not None and "ResourceLimits" in req.cfg:
        r.fail(
            join(path, "MaxNumberOfTrainingJobs"),
            f"required with Strategy {req.strategy}: it is the number of trials (spec.numSamples)",
        )
    return out


def _completion_criteria(req: _Request, metric: str) -> None:
    """Validate TuningJobCompletionCriteria, then warn that each criterion is dropped (module notes, [5])."""
    r, path = req.r, f"{CONFIG}.TuningJobCompletionCriteria"
    known = ("TargetObjectiveMetricValue", "BestObjectiveNotImproving", "ConvergenceDetected")
    criteria = r.child(req.cfg, "TuningJobCompletionCriteria", CONFIG, known=known) or {}
    target = r.number(criteria, "TargetObjectiveMetricValue", path)
    if target is not None:
        req.warnings.append(
            f"TuningJobCompletionCriteria.TargetObjectiveMetricValue {target:g} dropped: kubetune has no "
            f"experiment-level target (spec.stop {{{metric}: {target:g}}} would end only a trial whose result "
            "reaches it, never the search, and Ray's '>=' is wrong for Minimize), so every trial runs"
        )
    key = "MaxNumberOfTrainingJobsNotImproving"
    improving = r.child(criteria, "BestObjectiveNotImproving", path, known=(key,), required=(key,))
    count = r.integer(improving or {}, key, join(path, "BestObjectiveNotImproving"), minimum=3)
    if count is not None:
        req.warnings.append(
            f"TuningJobCompletionCriteria.BestObjectiveNotImproving ({key} {count}) dropped: no equivalent "
            "stopper, so every trial runs"
        )
    key = "CompleteOnConvergence"
    convergence = r.child(criteria, "ConvergenceDetected", path, known=(key,), required=(key,))
    enabled = r.string(convergence or {}, key, join(path, "ConvergenceDetected"), enum=("Disabled", "Enabled"))
    if enabled == "Enabled":
        req.warnings.append(
            "TuningJobCompletionCriteria.ConvergenceDetected dropped: no equivalent, so every trial runs"
        )


def _training_job_limits(req: _Request) -> dict[str, Any]:
    """``failure.maxFailures`` from RetryStrategy; StoppingCondition is validated, then reported as dropped."""
    r, d, dpath = req.r, req.definition, req.dpath
    out: dict[str, Any] = {}
    key = "MaximumRetryAttempts"
    retry = r.child(d, "RetryStrategy", dpath, known=(key,), required=(key,))
    attempts = r.integer(retry or {}, key, join(dpath, "RetryStrategy"), minimum=1, maximum=30)
    if attempts is not None:
        out["failure"] = {"maxFailures": attempts}
        req.warnings.append(
            f"RetryStrategy.MaximumRetryAttempts {attempts} -> failure.maxFailures: SageMaker retries only after "
            "internal errors, Ray retries a failed trial from its last checkpoint"
        )
    path = join(dpath, "StoppingCondition")
    known = ("MaxRuntimeInSeconds", "MaxWaitTimeInSeconds", "MaxPendingTimeInSeconds")
    stopping = r.child(d, "StoppingCondition", dpath, known=known) or {}
    limits = {
        "MaxRuntimeInSeconds": r.integer(stopping, "MaxRuntimeInSeconds", path, minimum=1),
        "MaxWaitTimeInSeconds": r.integer(stopping, "MaxWaitTimeInSeconds", path, minimum=1),
        "MaxPendingTimeInSeconds": r.integer(stopping, "MaxPendingTimeInSeconds", path, minimum=7200, maximum=2419200),
    }
    given = ", ".join(f"{k} {v}" for k, v in limits.items() if v is not None)
    if given:
        req.warnings.append(
            f"StoppingCondition dropped ({given}): kubetune has no per-trial timeout; bound the whole experiment "
            "with ResourceLimits.MaxRuntimeInSeconds (spec.timeBudgetSeconds) or stop trials with spec.stop"
        )
    return out


def _report_infrastructure(req: _Request) -> None:
    """One warning naming the SageMaker infrastructure fields present: none of them means anything to Ray."""
    present: list[str] = [key for key in _INFRA_KEYS if key in req.definition]
    if not present:
        return
    resources = req.definition.get("ResourceConfig")
    if isinstance(resources, Mapping) and "InstanceType" in resources:
        count = resources.get("InstanceCount", 1)
        present[present.index("ResourceConfig")] = f"ResourceConfig ({count} x {resources['InstanceType']})"
    req.warnings.append(
        f"{req.dpath} not imported: {', '.join(present)}; the image, data, instances and role are SageMaker's: "
        "set spec.image (--image), spec.resourcesPerTrial (now cpu 1) and spec.storage by hand"
    )


def _experiment_name(name: str | None, job_name: str | None, r: Reader, warnings: list[str]) -> str:
    """``--name``, else HyperParameterTuningJobName lower-cased, with every run of other characters made one '-'."""
    if name is not None:
        _check_option(_DNS_LABEL, name, "--name", r)
        return name
    if job_name is None:
        r.fail("--name", "required: the request has no HyperParameterTuningJobName to name the experiment after")
        return ""
    label = re.sub(r"[^a-z0-9]+", "-", job_name.lower()).strip("-")[:63].rstrip("-")
    if not label:
        r.fail("--name", f"required: HyperParameterTuningJobName {job_name!r} gives no DNS label")
    elif label != job_name:
        warnings.append(f"metadata.name {label!r} derived from HyperParameterTuningJobName {job_name!r}")
    return label


def _check_option(adapter: TypeAdapter[str], value: str, option: str, r: Reader) -> None:
    """Check a value the user typed against the spec's own field type, reported under the option's name."""
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError as e:
        r.errors.extend(from_validation_error(e, prefix=(option,)).errors)
