"""The experiment spec as typed models: the one source of truth.

The same models validate the file ``kubetune run`` takes, the ``TuneExperiment`` custom resource the operator
watches (its CRD schema is generated from them), what ``import-sagemaker`` writes and what the RayJob entrypoint
receives. Field names are the camelCase ones users write in YAML; Python code uses the snake_case attributes.

Models are strict (``"10"`` is not a number, ``true`` is not an integer) and forbid unknown fields, so a typo is an
error instead of a silently ignored setting. Cross-field rules (algorithm vs. space, scheduler vs. algorithm) live
in :mod:`kubetune.spec.loading`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, field_validator
from pydantic.alias_generators import to_camel

from kubetune.spec.errors import PATTERN_HINTS, UNION_TAGS

API_VERSION = "kubetune.io/v1alpha1"
KIND = "TuneExperiment"

Algorithm = Literal["random", "grid", "optuna", "hyperopt", "bayesopt", "bohb"]
SchedulerType = Literal["fifo", "asha", "hyperband", "median", "pbt"]
Mode = Literal["min", "max"]

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_IMPORT_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
_METRIC_KEY = r"^[A-Za-z_][A-Za-z0-9_./-]*$"
PATTERN_HINTS.update(
    {
        _DNS_LABEL: "is not a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit",
        _IMPORT_PATH: "is not an import path such as package.module:function",
        _METRIC_KEY: "is not a metric key: a letter or '_' first, then letters, digits, '_', '.', '/' or '-'",
    }
)

#: DNS-1123 label: the experiment name becomes part of Kubernetes object names and Prometheus labels.
DnsLabel = Annotated[str, StringConstraints(max_length=63, pattern=_DNS_LABEL)]
#: DNS-1123 subdomain: names of other Kubernetes objects (queues, priority classes).
DnsSubdomain = Annotated[
    str, StringConstraints(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
]
ImportPath = Annotated[str, StringConstraints(pattern=_IMPORT_PATH)]
MetricKey = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_METRIC_KEY)]

#: Most objectives one experiment may have (a Pareto front over more is rarely readable, and NSGA/TPE degrade).
MAX_OBJECTIVES = 8
#: Tags of the one-or-many unions below; they appear in pydantic's error locations and errors.py drops them.
_ONE, _MANY = "<one>", "<list>"
UNION_TAGS.update({_ONE, _MANY})


def _one_or_many(value: Any) -> str:
    return _MANY if isinstance(value, list) else _ONE


#: ``spec.metric``: one result key, or a list of them for several objectives (a tagged union, so an error names
#: the branch the value was written for: ``spec.metric[1]``, not both).
MetricKeys = Annotated[
    Annotated[MetricKey, Tag(_ONE)]
    | Annotated[list[MetricKey], Field(min_length=1, max_length=MAX_OBJECTIVES), Tag(_MANY)],
    Discriminator(_one_or_many),
]
#: ``spec.mode``: one direction, or one per entry of ``spec.metric``.
Modes = Annotated[
    Annotated[Mode, Tag(_ONE)] | Annotated[list[Mode], Field(min_length=1, max_length=MAX_OBJECTIVES), Tag(_MANY)],
    Discriminator(_one_or_many),
]


class _Model(BaseModel):
    # No NaN or infinity in any float field: JSON (the API server) has none, and Ray cannot use them
    # (resources, scheduler rates, stop values, budgets).
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
    )


class Search(_Model):
    """How new trials' hyperparameters are chosen."""

    algorithm: Algorithm | None = Field(
        default=None,
        description="random | grid | optuna (TPE) | hyperopt | bayesopt | bohb. Unset: kubetune's default.",
    )
    seed: int | None = Field(default=None, description="Seed for the searcher, so a run can be repeated.")


class Scheduler(_Model):
    """Trial scheduling and early stopping. Every time unit is ``timeAttr`` (training iterations by default)."""

    type: SchedulerType | None = Field(default=None, description="fifo | asha | hyperband | median | pbt.")
    time_attr: MetricKey = Field(default="training_iteration", description="The result key that measures progress.")
    max_t: int | None = Field(
        default=None,
        ge=1,
        description="asha/hyperband: most units a trial gets. Default: stop.training_iteration or 100.",
    )
    grace_period: int | None = Field(default=None, ge=1, description="asha/median: units before a trial may stop. 1.")
    reduction_factor: float | None = Field(default=None, gt=1, description="asha/hyperband: halving rate. 3.")
    brackets: int | None = Field(default=None, ge=1, description="asha: number of brackets. 1.")
    min_samples_required: int | None = Field(default=None, ge=1, description="median: trials before comparing. 3.")
    perturbation_interval: float | None = Field(default=None, gt=0, description="pbt: units between exploits. 2.")
    quantile_fraction: float | None = Field(
        default=None, gt=0, le=0.5, description="pbt: bottom fraction replaced by the top one. 0.25."
    )
    resample_probability: float | None = Field(
        default=None, ge=0, le=1, description="pbt: chance a mutation resamples instead of perturbing. 0.25."
    )


class Resources(_Model):
    """What one trial reserves. Fractional GPUs pack several trials on one card (memory is not isolated)."""

    cpu: float = Field(default=1, gt=0, description="CPUs per trial.")
    gpu: float = Field(default=0, ge=0, description="GPUs per trial; below 1 shares a GPU, above 1 must be whole.")
    memory: int | None = Field(
        default=None, gt=0, description="Memory per trial, bytes or a Kubernetes quantity such as 4Gi."
    )

    @field_validator("gpu")
    @classmethod
    def _whole_gpus_above_one(cls, value: float) -> float:
        if value > 1 and value != int(value):
            raise ValueError("fractional GPUs must be below 1 (a trial cannot take 1.5 cards)")
        return value

    @field_validator("memory", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> Any:
        return parse_quantity(value) if isinstance(value, str) else value


class Failure(_Model):
    max_failures: int = Field(default=0, ge=-1, description="Retries per trial from its last checkpoint; -1 = forever.")
    fail_fast: bool = Field(default=False, description="Stop the whole experiment at the first trial error.")


class CheckpointPolicy(_Model):
    num_to_keep: int | None = Field(default=None, ge=1, description="Checkpoints kept per trial; unset keeps all.")
    score_attribute: MetricKey | None = Field(default=None, description="Ranks checkpoints. Default: spec.metric.")
    score_order: Mode | None = Field(default=None, description="min | max. Default: spec.mode.")


class Storage(_Model):
    path: str | None = Field(
        default=None,
        min_length=1,
        description="Local path or pyarrow URI (s3://, gs://, file://); must be shared storage on a multi-node "
        "cluster. Default: ~/kubetune-results.",
    )


class Cluster(_Model):
    """Where the RayJob runs on Kubernetes (ignored by a local run)."""

    worker_group: DnsLabel | None = Field(default=None, description="GPU worker group (node pool) for the trials.")
    cluster_selector: dict[str, str] | None = Field(
        default=None, description="Labels of a long-lived RayCluster to submit to instead of creating one."
    )
    queue_name: DnsSubdomain | None = Field(
        default=None,
        description="Kueue LocalQueue to submit to: the RayJob is created suspended, with the queue's label, "
        "and runs when Kueue admits it (a preempted job resumes from storage when admitted again).",
    )
    priority_class_name: DnsSubdomain | None = Field(
        default=None, description="PriorityClass of the Ray pods (the scheduler's, and Kueue's preemption)."
    )
    fixed_workers: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="A worker group of exactly this many pods, autoscaling off (Kueue before 0.14 admits only "
        "fixed-size RayJobs). Default: the pool's autoscaled group.",
    )


class WarmStart(_Model):
    """Earlier experiments whose finished trials seed this one's search (kubetune's Optuna searcher only)."""

    from_: list[Annotated[str, StringConstraints(min_length=1, max_length=1024)]] = Field(
        alias="from",
        min_length=1,
        max_length=16,
        description="Earlier experiments: a storage path or URI of an experiment directory (what kubetune run "
        "wrote), or an experiment name (a DNS label), which is <this experiment's storage path>/<name>. Their "
        "finished trials whose parameters fit this search space seed the search; they count against nothing.",
    )


class Budget(_Model):
    """Compute the whole experiment may hold, counted as trials run (resources reserved x time running); when
    either is spent Ray stops the running trials and starts no new one, as with ``timeBudgetSeconds``."""

    gpu_hours: float | None = Field(
        default=None, gt=0, description="GPU-hours: GPUs each trial reserved times the hours it ran, over all trials."
    )
    trial_hours: float | None = Field(
        default=None, gt=0, description="Trial-hours: the hours trials ran, summed (whatever their resources)."
    )


class Spec(_Model):
    trainable: ImportPath = Field(description="Import path of a Ray Tune function trainable, module:function.")
    image: str | None = Field(default=None, min_length=1, description="Container image holding the trainable.")
    metric: MetricKeys = Field(
        description="The reported result key to optimise, or a list of keys for several objectives (the search "
        "then finds their Pareto front; the first is the primary objective)."
    )
    mode: Modes = Field(description="min or max; with several objectives a list, one per entry of metric.")
    search_space: dict[str, Any] = Field(
        min_length=1, description="Parameter name to distribution, e.g. lr: {loguniform: [1.0e-4, 1.0e-1]}."
    )
    config: dict[str, Any] = Field(default_factory=dict, description="Fixed parameters merged into every trial.")
    search: Search = Field(default_factory=Search)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    num_samples: int = Field(default=1, ge=1, description="Trials to sample (times the grid size).")
    max_concurrent_trials: int | None = Field(
        default=None,
        ge=1,
        description="Most trials running at once. Default: cluster slots for model-based search.",
    )
    resources_per_trial: Resources = Field(default_factory=Resources)
    stop: dict[MetricKey, float] = Field(
        default_factory=dict, description="Stop a trial once a result key reaches the value."
    )
    time_budget_seconds: float | None = Field(default=None, gt=0, description="Wall-clock budget for the experiment.")
    budget: Budget | None = Field(
        default=None, description="GPU-hours or trial-hours the experiment may use; reaching one ends it."
    )
    goal: float | None = Field(
        default=None,
        description="End the experiment as soon as a trial reports spec.metric at this value or better (>= for "
        "mode max, <= for min): that trial finishes, running ones are stopped and no new one starts.",
    )
    trial_timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Stop a trial once it has run this many seconds (its time_total_s, checked at each report; "
        "a retried trial keeps its time).",
    )
    warm_start: WarmStart | None = Field(
        default=None, description="Seed the search with the finished trials of earlier experiments."
    )
    failure: Failure = Field(default_factory=Failure)
    checkpoint: CheckpointPolicy = Field(default_factory=CheckpointPolicy)
    storage: Storage = Field(default_factory=Storage)
    cluster: Cluster = Field(default_factory=Cluster)
    reuse_actors: bool | None = Field(
        default=None, description="Reuse trial processes between trials. Default: on for CPU-only trials."
    )

    @property
    def metrics(self) -> list[str]:
        """The objectives' result keys, in order (one for a single objective)."""
        return list(self.metric) if isinstance(self.metric, list) else [self.metric]

    @property
    def modes(self) -> list[Mode]:
        """The objectives' directions, in order (the loader has checked there is one per metric)."""
        return list(self.mode) if isinstance(self.mode, list) else [self.mode]

    @property
    def primary_metric(self) -> str:
        """The first objective: what Ray's bookkeeping, ``best`` and the checkpoint ranking default to."""
        return self.metrics[0]

    @property
    def primary_mode(self) -> Mode:
        return self.modes[0]

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1


class Metadata(BaseModel):
    """Kubernetes object metadata: only the name is checked; server-set fields pass through."""

    model_config = ConfigDict(extra="allow", strict=True)

    name: DnsLabel
    namespace: DnsLabel | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class TuneExperiment(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    api_version: Literal["kubetune.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["TuneExperiment"]
    metadata: Metadata
    spec: Spec
    #: Written by the operator; accepted so an object read back from the API parses.
    status: dict[str, Any] | None = None


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_FACTORS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
}


def parse_quantity(text: str) -> int:
    """``"4Gi"`` → 4294967296 (exact: decimal, not float). Raises ValueError naming the accepted suffixes, or when
    the quantity does not fit in 64 bits (Kubernetes' own limit)."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"{text[:40]!r} is not a quantity such as 512Mi or 4Gi")
    value = int(Decimal(match.group(1)) * _FACTORS[match.group(2)])
    if value >= 2**63:
        raise ValueError(f"{text[:40]!r} is too large (at most 2**63 - 1 bytes)")
    return value
