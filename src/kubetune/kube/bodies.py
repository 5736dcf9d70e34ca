"""The Kubernetes payloads the operator reads and writes, as ``TypedDict(total=False)``.

The API returns plain JSON objects, so these types describe dicts rather than wrap them: a body read from the
API is used as is, with every key optional (a server may omit any of them). The status types are also the one
source of the CRD's status schema (:mod:`kubetune_operator.crds` converts their JSON Schema), so the attribute
docstrings below are what ``kubectl explain tuneexperiment.status`` prints.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, WithJsonSchema, with_config
from typing_extensions import TypedDict

#: RFC 3339 time in UTC (``2026-01-02T03:04:05Z``), as Kubernetes writes timestamps.
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
#: The experiment's lifecycle; ``Invalid`` is a spec the operator refused (nothing was created).
Phase = Literal["Pending", "Running", "Retrying", "Succeeded", "Failed", "Invalid"]
PHASES: tuple[Phase, ...] = ("Pending", "Running", "Retrying", "Succeeded", "Failed", "Invalid")
#: Phases after which the operator leaves the experiment alone.
TERMINAL_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed"})
ConditionType = Literal["Valid", "Running", "Complete", "Failed", "SpecChanged", "SummaryRejected"]
_DOCS = ConfigDict(use_attribute_docstrings=True)


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]


@with_config(_DOCS)
class Condition(TypedDict, total=False):
    """One aspect of the experiment's state, in the ``metav1.Condition`` shape."""

    type: ConditionType
    """Valid (the spec passed validation), Running, Complete, Failed, SpecChanged (the spec was edited after
    the RayJob was created; the RayJob keeps the original spec), or SummaryRejected (the API server refused the
    trial summary; the rest of the status is still written)."""
    status: Literal["True", "False", "Unknown"]
    """True, False or Unknown."""
    reason: str
    """A CamelCase word for the last transition: InvalidSpec, Created, KubeRay's reason (AppFailed,
    DeadlineExceeded, SubmissionFailed, ValidationFailed, ...), Succeeded."""
    message: str
    """Human-readable details; for InvalidSpec every problem as 'path: reason', separated by '; '."""
    lastTransitionTime: Timestamp
    """When the status last changed between True, False and Unknown."""
    observedGeneration: int
    """The metadata.generation this condition was computed from."""


@with_config(_DOCS)
class TrialCounts(TypedDict, total=False):
    """Trials by Ray Tune state."""

    pending: int
    """Trials waiting for resources."""
    running: int
    """Trials running now."""
    paused: int
    """Trials paused by the scheduler (e.g. PBT, HyperBand)."""
    terminated: int
    """Trials that finished (including those stopped early by the scheduler)."""
    error: int
    """Trials that failed."""


@with_config(_DOCS)
class EndReasons(TypedDict, total=False):
    """Ended trials by why they ended (the driver's count across retries and resumes)."""

    finished: int
    """Ran their course: reached maxT, a spec.stop criterion or spec.goal, or the trainable returned."""
    earlyStopped: int
    """Stopped early by the scheduler (an ASHA rung, the median rule, a HyperBand bracket)."""
    exploited: int
    """Replaced by PBT with a copy of a better trial."""
    budget: int
    """Cut by spec.timeBudgetSeconds, spec.budget or spec.trialTimeoutSeconds."""
    errored: int
    """Raised an exception (after spec.failure.maxFailures retries)."""
    cancelled: int
    """Ended with the experiment before finishing (interrupted, fail-fast, another trial reached the goal)."""


@with_config(_DOCS)
class UsageHours(TypedDict, total=False):
    """What the trials held so far: reserved resources times the hours they ran (the driver's own cumulative
    count, resumed runs included; what spec.budget is checked against)."""

    gpuHours: float
    """GPU-hours: GPUs each trial reserved times the hours it ran, summed."""
    cpuHours: float
    """CPU-hours: CPUs each trial reserved times the hours it ran, summed."""
    trialHours: float
    """Hours trials ran, summed over trials."""


@with_config(_DOCS)
class ObjectiveRef(TypedDict):
    """One of several objectives."""

    metric: str
    """The result key (an entry of spec.metric)."""
    mode: Literal["min", "max"]
    """min or max (its entry of spec.mode)."""


@with_config(_DOCS)
class Summary(TypedDict, total=False):
    """What the trials reported so far, from the operator's ingest (constant size whatever the trial count)."""

    state: Literal["RUNNING", "FINISHED", "FAILED"]
    """The experiment as its Ray Tune driver reports it."""
    metric: str
    """The objective (spec.metric)."""
    mode: Literal["min", "max"]
    """min or max (spec.mode)."""
    trials: TrialCounts
    resultsTotal: int
    """Results the trials reported."""
    bestTrial: str | None
    """Ray Tune id of the best trial by the objective."""
    bestValue: float | None
    """The best value of the objective over all results."""
    bestConfig: dict[str, Any] | None
    """The best trial's hyperparameters (omitted when larger than the operator's limit)."""
    lastUpdate: Timestamp
    """When the operator last received results for this experiment."""
    endReasons: EndReasons
    """Ended trials by why they ended (left out for drivers that do not report it)."""
    usage: UsageHours
    """What the trials held (left out for drivers that do not report it)."""
    seededTrials: int
    """Finished trials of earlier experiments that seeded the search (spec.warmStart); in no count above."""
    objectives: list[ObjectiveRef]
    """Several objectives (spec.metric and spec.mode as lists), in order; metric and mode above are the first, which
    the best trial is about."""
    paretoFront: int
    """Several objectives: finished trials no other finished trial beats on every objective (the Pareto front's
    size, by their last results; kubetune best lists them)."""


@with_config(_DOCS)
class RayJobState(TypedDict, total=False):
    """KubeRay's view of the run, copied from the RayJob's status."""

    jobDeploymentStatus: str
    """Initializing, Running, Complete, Failed, Retrying, ValidationFailed, Suspended, ..."""
    jobStatus: str
    """The Ray job: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
    reason: str
    """Why the RayJob failed (KubeRay's JobFailedReason)."""
    message: str
    """KubeRay's message, e.g. why the RayJob failed."""
    failed: int
    """Attempts that failed (each retry runs on a new RayCluster)."""
    succeeded: int
    """Attempts that succeeded."""
    rayClusterName: str
    """The RayCluster of the current attempt."""


@with_config(_DOCS)
class ExperimentStatus(TypedDict, total=False):
    """Written by the kubetune operator."""

    phase: Phase
    """Pending, Running, Retrying, Succeeded, Failed or Invalid."""
    observedGeneration: int
    """The metadata.generation the operator last acted on."""
    conditions: list[Condition]
    """Valid, Running, Complete, Failed, SpecChanged and SummaryRejected, each with the reason of its last
    transition."""
    rayJobName: str
    """The RayJob running this experiment (same namespace, owned by the experiment)."""
    startTime: Timestamp
    """When the RayJob started (KubeRay's startTime) or was created."""
    completionTime: Timestamp
    """When the experiment reached Succeeded or Failed."""
    progress: str
    """Finished trials / total trials, e.g. 12/30."""
    summary: Summary
    rayJob: RayJobState


class RayJobStatus(TypedDict, total=False):
    jobDeploymentStatus: str
    jobStatus: str
    reason: str
    message: str
    failed: int
    succeeded: int
    startTime: str
    endTime: str
    rayClusterName: str


class RayJob(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: dict[str, Any]
    status: RayJobStatus


class TuneExperiment(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: dict[str, Any]
    status: ExperimentStatus


#: Any object read from the API, before it is known to be one of the above.
Body = dict[str, Any]
