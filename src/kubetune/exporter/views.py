"""What readers of the experiment store get: immutable views, safe to hand to other threads.

Trial records are immutable tuples replaced whole on every update (copy-on-write), so a
:class:`StoreSnapshot` only copies references. Status shaping for Kubernetes is the operator's business
(:mod:`kubetune_operator.summarizing`); these views stay plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, NoReturn

from kubetune.exporter.decisions import EndsLog
from kubetune.reporting.wire import TRIAL_STATES, EndReason, ExperimentState, TrialState, Usage

__all__ = [
    "TRIAL_STATES",
    "ApplyOutcome",
    "ExperimentSummary",
    "ExperimentView",
    "FrozenConfig",
    "StoreSnapshot",
    "TrialView",
]


class FrozenConfig(dict[str, Any]):
    """A trial config as the store hands it out: read-only all the way down, and still a ``dict``.

    A ``dict`` because ``json.dumps(config, allow_nan=False)`` must work on it (it does not on
    ``MappingProxyType``); read-only because snapshots share it between threads. Nested objects are
    :class:`FrozenConfig` too and arrays are tuples. The wire format guarantees strict JSON (finite numbers,
    integers within 2**53, bounded size and depth).
    """

    __slots__ = ()

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> FrozenConfig:
        return cls({key: _frozen(value) for key, value in config.items()})

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a trial config is read-only")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type[FrozenConfig], tuple[dict[str, Any]]]:
        return (FrozenConfig, (dict(self),))  # pickling would call __setitem__


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return FrozenConfig.of(value)
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


class TrialView(NamedTuple):
    """One trial record; immutable, replaced whole on every update."""

    trial: str
    state: TrialState
    #: ``iteration`` of the latest result (0 before the first).
    iteration: int
    #: Latest value of each metric name (at most ``max_metrics_per_trial`` names).
    metrics: Mapping[str, float]
    #: Best value of the experiment's objective this trial reported (respecting mode); None before any.
    best: float | None
    #: Strict JSON (finite numbers, exact integers): :mod:`kubetune.reporting.wire` refuses anything else.
    config: FrozenConfig | None
    #: Sender-side time of the trial's latest event (seconds since the epoch).
    updated: float
    #: Why the trial ended (TERMINATED/ERROR), when its driver said.
    reason: EndReason | None = None
    #: What the trial held so far (GPU-, CPU-, trial-seconds), when its driver said.
    usage: Usage | None = None


class ApplyOutcome(NamedTuple):
    accepted: int
    #: True when the batch's ``seq`` was not above the sender's last one: nothing was applied.
    duplicate: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentSummary:
    """One experiment in constant size whatever the trial count (what the operator's status is made of)."""

    namespace: str
    name: str
    metric: str
    mode: Literal["min", "max"]
    state: ExperimentState
    num_samples: int | None
    #: Trials by state, every state present (zeros included): the driver's own count when it sent one
    #: (``counts_reported``), else what the trial events add up to.
    counts: Mapping[TrialState, int]
    #: Whether ``counts`` is the driver's count, which includes trials restored from storage and counts a trial
    #: restarted by a resume once (trial events alone see each incarnation as another trial).
    counts_reported: bool
    #: Results reported: the driver's own count when it sent one (``results_reported``), else what arrived here.
    results_total: int
    results_reported: bool
    best_trial: str | None
    best_value: float | None
    #: The best trial's config; None when it was never received or the trial had no record (over a cap).
    #: Always serialisable with ``json.dumps(..., allow_nan=False)``.
    best_config: FrozenConfig | None
    #: Store-clock time (seconds since the epoch) this experiment last received a batch.
    last_update: float
    #: Ended trials by why they ended: the driver's own count when it sent one (``ends_reported``), else what the
    #: trial events say. Empty from drivers that predate reasons.
    ends: Mapping[EndReason, int] = field(default_factory=dict)
    ends_reported: bool = False
    #: The scheduler's decisions this store saw (early stops, exploits, budget cuts, errors): counts and the
    #: latest few, for the operator's Events (:mod:`kubetune.exporter.decisions`).
    decisions: EndsLog = field(default_factory=EndsLog)
    #: What all the experiment's trials held, from the driver's cumulative figures; None from older drivers.
    usage: Usage | None = None
    #: Trials of earlier experiments that seeded the search (spec.warmStart); None when the driver did not say.
    seeded: int | None = None
    #: Several objectives, ``(metric, mode)`` in order (``metric``/``mode`` above are the first); None for one.
    objectives: tuple[tuple[str, str], ...] | None = None
    #: Several objectives: finished trials on the Pareto front, the driver's count; None when it did not say.
    pareto_front: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentView:
    """One experiment inside a :class:`StoreSnapshot`."""

    summary: ExperimentSummary
    #: Newest result ``time`` seen (sender clock); None before the first result.
    last_result_time: float | None
    #: Trials that arrived while a cap was full (counted, but no record when they arrived).
    dropped_trials: int
    trials: Mapping[str, TrialView]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSnapshot:
    experiments: tuple[ExperimentView, ...]
    #: Trial records over all experiments (what ``kubetune_trial_*`` series are made of).
    trials: int
    #: Monotonic store-wide counters (they survive experiment eviction).
    dropped_trials_total: int
    evicted_experiments_total: int
