"""The training side: where the ranges are, the static hyperparameters, retries and per-job limits, infrastructure.

These fields live in the training job definition (``TrainingJobDefinition`` in the request, or the separate
``--training-job`` file); the ranges may also sit in the tuning config, so :func:`parameter_ranges` decides which.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from kubetune.importers._reading import describe, join, shown
from kubetune.importers.sagemaker._ranges import parse_ranges, typed_value
from kubetune.importers.sagemaker._request import CONFIG, INFRA_KEYS, Request

#: SageMaker's limit on hyperparameters per job, static and tuned together (developer guide, "Define ranges").
MAX_HYPERPARAMETERS: Final = 100
#: Static hyperparameters the SageMaker Python SDK adds for its containers (script mode, tuning bookkeeping).
PLUMBING: Final = re.compile(r"^(sagemaker_.*|_tuning_objective_metric)$")


def parameter_ranges(req: Request) -> tuple[dict[str, Any], int]:
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


def static_hyperparameters(req: Request) -> dict[str, str]:
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


def typed_config(req: Request, statics: Mapping[str, str], space: Mapping[str, Any]) -> dict[str, Any]:
    """``spec.config``: the static values typed where they parse, without the SDK's container settings."""
    path = join(req.dpath, "StaticHyperParameters")
    if len(statics) + len(space) > MAX_HYPERPARAMETERS:
        req.r.fail(
            path,
            f"{len(statics)} static and {len(space)} tuned hyperparameters; SageMaker allows "
            f"{MAX_HYPERPARAMETERS} in all",
        )
    plumbing = [key for key in statics if PLUMBING.match(key)]
    if plumbing:
        req.warnings.append(
            f"{path} {', '.join(map(shown, plumbing))} dropped: SageMaker container settings, not hyperparameters"
        )
    config: dict[str, Any] = {}
    for key, text in statics.items():
        if key in space:
            req.r.fail(join(path, key), "also a tuned range; a hyperparameter is either static or tuned")
        elif key not in plumbing:
            config[key] = typed_value(text)
    return config


def training_job_limits(req: Request) -> dict[str, Any]:
    """``failure.maxFailures`` from RetryStrategy, ``trialTimeoutSeconds`` from StoppingCondition.MaxRuntimeInSeconds;
    the condition's spot and capacity waits are validated, then reported as dropped."""
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
    runtime = limits.pop("MaxRuntimeInSeconds")
    if runtime is not None:
        out["trialTimeoutSeconds"] = runtime
        req.warnings.append(
            f"StoppingCondition.MaxRuntimeInSeconds {runtime} -> spec.trialTimeoutSeconds: checked each time a trial "
            "reports (tune.report), so a trial that stops reporting runs on until the experiment's time budget"
        )
    given = ", ".join(f"{k} {v}" for k, v in limits.items() if v is not None)
    if given:
        req.warnings.append(
            f"StoppingCondition dropped ({given}): managed spot training and capacity waits are SageMaker's; "
            "Ray starts a trial when the cluster has room for it"
        )
    return out


def trial_hours_budget(req: Request, *, trials: int | None, trial_seconds: int | None) -> dict[str, Any]:
    """``budget.trialHours`` = MaxNumberOfTrainingJobs x StoppingCondition.MaxRuntimeInSeconds: the ceiling on
    training time those two limits put on a SageMaker tuning job, kept as one (``trialTimeoutSeconds`` is checked
    only when a trial reports; the budget all the time). SageMaker has no GPU-hour limit to map."""
    if trials is None or trial_seconds is None:
        return {}
    hours = trials * trial_seconds / 3600
    req.warnings.append(
        f"{trials} training jobs x StoppingCondition.MaxRuntimeInSeconds {trial_seconds} -> spec.budget.trialHours "
        f"{hours:g}: the most training time SageMaker would allow, now a budget the experiment ends at"
    )
    return {"budget": {"trialHours": hours}}


def report_infrastructure(req: Request) -> None:
    """One warning naming the SageMaker infrastructure fields present: none of them means anything to Ray."""
    present: list[str] = [key for key in INFRA_KEYS if key in req.definition]
    if not present:
        return
    resources = req.definition.get("ResourceConfig")
    if isinstance(resources, Mapping) and "InstanceType" in resources:
        count, kind = resources.get("InstanceCount", 1), resources["InstanceType"]
        kind = shown(kind) if isinstance(kind, str) else describe(kind)
        present[present.index("ResourceConfig")] = f"ResourceConfig ({describe(count)} x {kind})"
    req.warnings.append(
        f"{req.dpath} not imported: {', '.join(present)}; the image, data, instances and role are SageMaker's: "
        "set spec.image (--image), spec.resourcesPerTrial (now cpu 1) and spec.storage by hand"
    )
