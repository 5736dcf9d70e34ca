"""The ingest wire contract: the one module both ends of live trial reporting import.

The reporting callback (:mod:`kubetune.reporting.callback`, :mod:`kubetune.reporting.sending`) builds the models
below and serialises them; the exporter (:mod:`kubetune.exporter.ingesting`) parses the same models. Paths, header
and environment names, limits and patterns live here and nowhere else.

One batch is one HTTP POST to :data:`INGEST_PATH` with ``Authorization: Bearer <token>`` and
``Kubetune-Experiment: <namespace>/<name>`` (:data:`EXPERIMENT_HEADER`)::

    {"experiment": {"namespace": "ml", "name": "mnist-asha", "metric": "mean_accuracy", "mode": "max"},
     "sender": "5f0c…", "seq": 12,
     "events": [
       {"kind": "trial", "trial": "a1b2c_00000", "state": "RUNNING", "time": 1.7e9, "config": {"lr": 0.01}},
       {"kind": "result", "trial": "a1b2c_00000", "iteration": 1, "time": 1.7e9,
        "metrics": {"mean_accuracy": 0.51, "loss": 1.2},
        "usage": {"gpuSeconds": 30.2, "cpuSeconds": 120.8, "trialSeconds": 30.2}},
       {"kind": "trial", "trial": "a1b2c_00000", "state": "TERMINATED", "time": 1.7e9, "reason": "early_stopped",
        "detail": "ASHA rung 1 (training_iteration 1): mean_accuracy 0.51 missed the cutoff 0.6 (…)"},
       {"kind": "experiment", "state": "FINISHED", "time": 1.7e9, "ends": {"early_stopped": 1}}]}

``reason``/``detail`` and ``ends`` (why trials ended, :data:`END_REASONS`) and ``usage`` (what a trial, or the
experiment on an ``experiment`` event, has held: :class:`Usage`) are optional: batches from drivers that predate
them are accepted as before.

``sender`` is unique per driver process and ``seq`` grows by one per batch, so a batch retried after a lost
response is recognised and applied once (per experiment and sender). Batches are validated whole: one bad event
rejects the batch and changes nothing.

Why the header: an experiment-scoped token (the operator's, :mod:`kubetune_operator.tokens`) can only be checked
once the experiment is known, and the exporter checks it before it reads the body. A request without the header
is still served when the experiment is the body's first member within :data:`EXPERIMENT_PREFIX_BYTES` bytes (what
senders before the header wrote); only that prefix is read before the token is checked.

Numbers: every number must be one its destination carries exactly. Prometheus sample values and the Kubernetes
API's JSON are IEEE doubles, and JSON has no NaN or infinity, so integers are at most :data:`MAX_EXACT_INT`
(2**53) in magnitude and floats are finite, everywhere in a batch, the trial config included (a config holding
NaN would make the operator's status patch invalid JSON). The sender turns what does not fit into strings.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_MAX_BODY_BYTES",
    "END_REASONS",
    "ENV_INGEST_TOKEN",
    "ENV_INGEST_TOKEN_FILE",
    "ENV_INGEST_URL",
    "EXPERIMENT_HEADER",
    "EXPERIMENT_PREFIX_BYTES",
    "INGEST_PATH",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
    "MAX_EVENTS_PER_BATCH",
    "MAX_EXACT_INT",
    "MAX_METRICS_PER_RESULT",
    "MAX_METRIC_NAME_LENGTH",
    "MAX_REASON_DETAIL_LENGTH",
    "TRIAL_STATES",
    "Batch",
    "BestResult",
    "Config",
    "EndReason",
    "Event",
    "ExperimentEvent",
    "ExperimentRef",
    "ExperimentState",
    "Objective",
    "ResultEvent",
    "TrialEvent",
    "TrialState",
    "Usage",
    "check_config",
    "config_size",
    "experiment_header",
    "is_metric_name",
    "parse_experiment_header",
]

# -- HTTP and environment -----------------------------------------------------------------------------------

#: Where batches are POSTed (relative to the exporter's base URL).
INGEST_PATH = "/api/v1/ingest"
#: The only body type accepted.
CONTENT_TYPE = "application/json"
#: ``<namespace>/<name>`` of the experiment a batch is for; needed for experiment-scoped tokens.
EXPERIMENT_HEADER = "Kubetune-Experiment"
#: Without :data:`EXPERIMENT_HEADER`, how much of the body may be read to find the experiment (bytes).
EXPERIMENT_PREFIX_BYTES = 4096
#: Environment of a RayJob's entrypoint (``kubetune run``): where to report, and the bearer token (or its file).
ENV_INGEST_URL = "KUBETUNE_INGEST_URL"
ENV_INGEST_TOKEN = "KUBETUNE_INGEST_TOKEN"
ENV_INGEST_TOKEN_FILE = "KUBETUNE_INGEST_TOKEN_FILE"

# -- limits -------------------------------------------------------------------------------------------------

#: The request-body cap of ``POST /api/v1/ingest`` (bytes). 5,000 result events of 64 metrics fit.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_EVENTS_PER_BATCH = 5000
MAX_METRICS_PER_RESULT = 64
MAX_METRIC_NAME_LENGTH = 128
#: A trial config larger than this (compact JSON, bytes) is neither sent nor kept (its event still is): it is for
#: the best-config summary, not a data channel.
MAX_CONFIG_BYTES = 16_384
#: A trial config nested deeper than this is refused (and not sent).
MAX_CONFIG_DEPTH = 32
#: The largest integer magnitude anywhere in a batch: every integer up to it is exact as a double.
MAX_EXACT_INT = 2**53

#: Ray Tune's trial states (``ray.tune.experiment.trial.Trial.*``).
TrialState = Literal["PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR"]
#: Every trial state, in lifecycle order.
TRIAL_STATES: tuple[TrialState, ...] = ("PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR")
#: Lifecycle of a whole experiment as the driver sees it.
ExperimentState = Literal["RUNNING", "FINISHED", "FAILED"]
#: Why a trial ended (a fixed set: it is a Prometheus label value). ``finished``: it ran to its end (the trainable
#: returned, ``spec.stop`` or the scheduler's ``maxT``); ``early_stopped``: the scheduler's rule stopped it (ASHA,
#: HyperBand, median); ``exploited``: PBT replaced its config and weights with another trial's; ``budget``: the
#: experiment's budget ran out first; ``errored``: it raised; ``cancelled``: the run was interrupted or fail-fast
#: ended it. Which rule, rung, cutoff, source trial or exception travels as the free-text ``detail``.
EndReason = Literal["finished", "early_stopped", "exploited", "budget", "errored", "cancelled"]
END_REASONS: tuple[EndReason, ...] = ("finished", "early_stopped", "exploited", "budget", "errored", "cancelled")
#: The longest ``detail`` of a trial's end (characters); the sender shortens longer ones.
MAX_REASON_DETAIL_LENGTH = 500

# -- field types --------------------------------------------------------------------------------------------

_METRIC_NAME = r"[A-Za-z_][A-Za-z0-9_./-]*"
_METRIC_NAME_RE = re.compile(_METRIC_NAME)

#: Label values end up in Prometheus series: short and printable (no quote, backslash or newline to escape).
Name = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:/@+-]+$")]
#: As :data:`Name` without ``/``, so ``<namespace>/<name>`` (the header, the scoped token's message) is unambiguous.
Namespace = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:@+-]+$")]
MetricName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_METRIC_NAME_LENGTH, pattern=f"^{_METRIC_NAME}$")
]
SenderId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
#: Seconds since the epoch, as the driver's clock saw it.
Timestamp = Annotated[float, Field(allow_inf_nan=False, ge=0)]
#: A count or sequence number that stays exact as a Prometheus sample value.
Count = Annotated[int, Field(ge=0, le=MAX_EXACT_INT)]


def is_metric_name(name: str) -> bool:
    """Whether ``name`` is a valid metric name (the sender filters with it; :data:`MetricName` is the same rule)."""
    return len(name) <= MAX_METRIC_NAME_LENGTH and _METRIC_NAME_RE.fullmatch(name) is not None


def config_size(config: Any) -> int:
    """Bytes of ``config`` as compact, ASCII-escaped strict JSON (ValueError for NaN/infinity, TypeError for
    what is not JSON)."""
    return len(json.dumps(config, separators=(",", ":"), allow_nan=False))


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` unchanged if it is strict JSON the wire carries, else ValueError naming the first bad path:
    every value is JSON (dict with string keys, list, str, bool, None), numbers finite and exact; bounded depth.

    Iterative, and the depth is checked before anything recurses (``json.dumps``, readers that copy the config),
    also for models built in Python by the sender, where no JSON parser caps the depth.
    """
    stack: list[tuple[str, int, Any]] = [("", 0, config)]
    while stack:
        path, depth, value = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"{path}: nested deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(f"{path or 'config'}: keys must be strings")
                stack.append((f"{path}.{key}" if path else key, depth + 1, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", depth + 1, item) for i, item in enumerate(value))
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_EXACT_INT:
                raise ValueError(f"{path}: integers must be within ±2**53")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{path}: numbers must be finite (JSON has no NaN or infinity)")
        else:
            raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")
    return config


#: The trial's hyperparameters as strict JSON (see the module docstring).
Config = Annotated[dict[str, Any], AfterValidator(check_config)]

# -- the models ---------------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Most objectives an experiment has (``kubetune.spec.models.MAX_OBJECTIVES``).
MAX_OBJECTIVES = 8


class Objective(_Wire):
    """One of several objectives (``spec.metric`` and ``spec.mode`` as lists)."""

    metric: MetricName
    mode: Literal["min", "max"]


class ExperimentRef(_Wire):
    namespace: Namespace = "local"
    name: Name
    #: The objective; with several, the first (primary) one, which ``best`` is about.
    metric: MetricName
    mode: Literal["min", "max"]
    #: Trials the driver will run (-1: unbounded); None when unknown.
    numSamples: int | None = Field(default=None, ge=-1, le=MAX_EXACT_INT)
    #: Several objectives, in order (``metric``/``mode`` are the first); absent for one and from older drivers.
    objectives: list[Objective] | None = Field(default=None, min_length=2, max_length=MAX_OBJECTIVES)


#: Seconds of a resource held, cumulative: finite, not negative, exact as a double.
Seconds = Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_EXACT_INT)]


class Usage(_Wire):
    """What a trial (or all of an experiment's trials) held so far: its reserved GPUs and CPUs times the seconds
    it ran, and those seconds (:mod:`kubetune.engine.usage`). Cumulative, so a Prometheus counter."""

    gpuSeconds: Seconds = 0.0
    cpuSeconds: Seconds = 0.0
    trialSeconds: Seconds = 0.0


class TrialEvent(_Wire):
    kind: Literal["trial"] = "trial"
    trial: Name
    state: TrialState
    time: Timestamp
    #: The trial's hyperparameters; kept for the best-config summary, never used as a label.
    config: Config | None = None
    #: Why the trial ended (with TERMINATED or ERROR); absent from drivers that predate it.
    reason: EndReason | None = None
    #: The particulars of ``reason`` in one line (the rule and cutoff, the exception); never a label.
    detail: Annotated[str, StringConstraints(max_length=MAX_REASON_DETAIL_LENGTH)] | None = None
    #: What the trial held until this event (with TERMINATED or ERROR: its total); absent from older drivers.
    usage: Usage | None = None


class ResultEvent(_Wire):
    kind: Literal["result"] = "result"
    trial: Name
    iteration: Count
    time: Timestamp
    metrics: dict[MetricName, FiniteFloat] = Field(max_length=MAX_METRICS_PER_RESULT)
    #: What the trial held until this result; absent from older drivers.
    usage: Usage | None = None


class BestResult(_Wire):
    """The best value of the objective any of the driver's trials reported, and its trial."""

    trial: Name
    value: FiniteFloat
    config: Config | None = None


class ExperimentEvent(_Wire):
    """The experiment's state; with ``trials``/``results``/``best``, the driver's own cumulative figures.

    The driver computes them from Ray Tune's trial list, which outlives its own restarts (it is restored from
    storage) and is the same whichever exporter receives it, so they are the authority over what the events add
    up to: trial events alone count a trial a resume restarted (under a new trial id) once per incarnation and
    know nothing of trials restored as finished; an operator replica that took over from another has seen none
    of the results before it. The sender attaches a fresh one to every batch.
    """

    kind: Literal["experiment"] = "experiment"
    state: ExperimentState
    time: Timestamp
    #: Trials by state.
    trials: dict[TrialState, Count] | None = None
    #: Ended trials by why they ended (absent from drivers that predate it).
    ends: dict[EndReason, Count] | None = None
    #: Results reported, over all trials (each trial's latest iteration, summed).
    results: Count | None = None
    best: BestResult | None = None
    #: What all the experiment's trials held so far, resumed runs included (absent from older drivers).
    usage: Usage | None = None
    #: Finished trials of earlier experiments that seeded the search (``spec.warmStart``): evaluated elsewhere,
    #: so in none of the counts above (absent from older drivers and without a warm start).
    seeded: Count | None = None
    #: Several objectives: finished trials no other finished trial beats on every objective, by their last
    #: results (the Pareto front, :mod:`kubetune.reporting.dominance`); absent for one and from older drivers.
    paretoFront: Count | None = None


Event = Annotated[TrialEvent | ResultEvent | ExperimentEvent, Field(discriminator="kind")]


class Batch(_Wire):
    experiment: ExperimentRef
    sender: SenderId
    seq: Count
    events: list[Event] = Field(max_length=MAX_EVENTS_PER_BATCH)


# -- the experiment header ----------------------------------------------------------------------------------


def experiment_header(ref: ExperimentRef) -> str:
    """The :data:`EXPERIMENT_HEADER` value for ``ref``."""
    return f"{ref.namespace}/{ref.name}"


_HEADER = re.compile(r"([A-Za-z0-9_.:@+-]{1,253})/([A-Za-z0-9_.:/@+-]{1,253})")


def parse_experiment_header(value: str) -> tuple[str, str] | None:
    """``(namespace, name)`` from an :data:`EXPERIMENT_HEADER` value; None when it is not one."""
    match = _HEADER.fullmatch(value.strip())
    return None if match is None else (match.group(1), match.group(2))
