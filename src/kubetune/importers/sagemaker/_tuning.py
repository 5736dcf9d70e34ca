"""The tuning config's own sections: objective, strategy and early stopping, resource limits, completion criteria.

Each function reads one part of ``HyperParameterTuningJobConfig`` through the request's reader and returns the
spec fields it becomes; what SageMaker does that kubetune does not is appended to ``req.warnings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from kubetune.importers._reading import join, shown
from kubetune.importers.sagemaker._ranges import INT
from kubetune.importers.sagemaker._request import CONFIG, Request
from kubetune.spec.models import MetricKey

#: Where SageMaker looks for Hyperband's MaxResource when the config has none, in its documented order.
EPOCH_KEYS: Final = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
#: SageMaker's cap on Hyperband's MaxResource ("The maximum value is 20,000 epochs").
MAX_RESOURCE: Final = 20_000
METRIC_KEY: TypeAdapter[str] = TypeAdapter(MetricKey)


def objective(req: Request, metric_map: Mapping[str, str]) -> tuple[str, str]:
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
            req.warnings.append(
                f"metric map {shown(sm_name)}={shown(ray_name)} unused: the objective metric is {sm_metric!r}"
            )
    if sm_metric is None:
        return "", mode
    metric = metric_map.get(sm_metric, sm_metric.replace(":", "-"))
    try:
        METRIC_KEY.validate_python(metric, strict=True)
    except ValidationError:
        r.fail(
            join(path, "MetricName"),
            f"{metric!r} is not a metric key (a letter or '_' first, then letters, digits, '_', '.', '/' or '-'); "
            f"name the key the trainable reports with --metric-map {shown(sm_metric)}=<key>",
        )
    if sm_metric not in metric_map and metric != sm_metric:
        req.warnings.append(
            f"objective metric {sm_metric!r} imported as {metric!r} (':' is not allowed in a metric key; choose "
            f"another name with --metric-map {shown(sm_metric)}=<key>): the trainable must tune.report it under that "
            "key"
        )
    return metric, mode


def search_and_scheduler(req: Request, statics: Mapping[str, str]) -> dict[str, Any]:
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
        out["scheduler"] = hyperband(req, strategy_config or {}, statics)
    elif strategy_config is not None and strategy is not None:
        r.fail(f"{CONFIG}.StrategyConfig", f"applies to Strategy Hyperband only, not {strategy}")
    if stopping == "Auto" and strategy != "Hyperband":
        out["scheduler"] = {"type": "median", "timeAttr": "training_iteration", "gracePeriod": 1}
        req.warnings.append(
            "TrainingJobEarlyStoppingType Auto -> scheduler median (Ray's median stopping rule: stop a trial whose "
            "best result is worse than the median of the other trials' running averages at the same "
            "training_iteration); SageMaker compares per epoch, so the trainable should tune.report once per epoch"
        )
    elif strategy != "Hyperband":
        # Off, or absent (SageMaker's default): every training job runs to its end. Said explicitly, because a
        # spec without a scheduler gets kubetune's default, ASHA, which would stop trials early.
        out["scheduler"] = {"type": "fifo"}
    return out


def hyperband(req: Request, strategy_config: Mapping[str, Any], statics: Mapping[str, str]) -> dict[str, Any]:
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


def resource_limits(req: Request, combinations: int) -> dict[str, Any]:
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


def completion_criteria(req: Request, metric: str, mode: str) -> dict[str, Any]:
    """``goal`` from TargetObjectiveMetricValue; the other criteria are validated, then reported as dropped."""
    r, path = req.r, f"{CONFIG}.TuningJobCompletionCriteria"
    known = ("TargetObjectiveMetricValue", "BestObjectiveNotImproving", "ConvergenceDetected")
    criteria = r.child(req.cfg, "TuningJobCompletionCriteria", CONFIG, known=known) or {}
    target = r.number(criteria, "TargetObjectiveMetricValue", path)
    out: dict[str, Any] = {}
    if target is not None:
        out["goal"] = target
        req.warnings.append(
            f"TuningJobCompletionCriteria.TargetObjectiveMetricValue {target:g} -> spec.goal: the experiment ends "
            f"when a trial reports {metric} {'>=' if mode == 'max' else '<='} {target:g}, checked on every result "
            "(SageMaker compares each training job's final objective value), so it may end sooner"
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
    return out
