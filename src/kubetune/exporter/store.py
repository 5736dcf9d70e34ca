"""The bounded in-memory store behind the exporter: what every experiment looks like right now.

Batches of the ingest wire format (:mod:`kubetune.reporting.events`) are applied whole under one lock, so
readers never see half a batch. Each sender's highest applied ``seq`` is remembered (LRU of
``max_senders``): a retried batch is recognised and ignored.

Why bounded: the store feeds Prometheus, where every trial record becomes series. Per experiment it keeps
per-trial records only for live trials (PENDING/RUNNING/PAUSED, at most ``max_trials_per_experiment``) and
the ``keep_best_finished`` best finished ones; every other trial is only counted. With E experiments,
R = live cap + kept finished records and M metric names per record, ``/metrics`` holds at most::

    max_series(limits) = E * (R * (M + 1) + 11) + 12      # defaults: 200 * (1005 * 17 + 11) + 12 = 3,419,212

(see :func:`kubetune.exporter.settings.max_series`). Memory follows the same caps plus about 100 bytes per
remembered trial id (``max_trial_ids_per_experiment``).

Readers take :meth:`ExperimentStore.snapshot`: trial records are immutable tuples replaced on every update
(copy-on-write), so a snapshot only copies references, and an experiment that did not change since the
last snapshot is not copied at all.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from kubetune.exporter.settings import StoreLimits, max_series
from kubetune.reporting.events import (
    Batch,
    ExperimentRef,
    ExperimentState,
    ResultEvent,
    TrialEvent,
    TrialState,
)

__all__ = [
    "TRIAL_STATES",
    "ApplyOutcome",
    "ExperimentStore",
    "ExperimentSummary",
    "ExperimentView",
    "StoreSnapshot",
    "TrialView",
    "max_series",
]

#: Every trial state, in lifecycle order (the order of ``counts``).
TRIAL_STATES: tuple[TrialState, ...] = ("PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR")
_LIVE: frozenset[str] = frozenset({"PENDING", "RUNNING", "PAUSED"})
_DONE: frozenset[str] = frozenset({"FINISHED", "FAILED"})
_NO_METRICS: Mapping[str, float] = MappingProxyType({})
#: What :meth:`ExperimentStore._move` says about a trial id it had not seen.
_Fate = Literal["NEW", "UNTRACKED"]


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
    config: Mapping[str, Any] | None
    #: Sender-side time of the trial's latest event (seconds since the epoch).
    updated: float


class ApplyOutcome(NamedTuple):
    accepted: int
    #: True when the batch's ``seq`` was not above the sender's last one: nothing was applied.
    duplicate: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentSummary:
    """What the operator patches into the experiment's status: constant size whatever the trial count."""

    namespace: str
    name: str
    metric: str
    mode: Literal["min", "max"]
    state: ExperimentState
    num_samples: int | None
    #: Trials by state, every state present (zeros included).
    counts: Mapping[TrialState, int]
    results_total: int
    best_trial: str | None
    best_value: float | None
    #: The best trial's config; None when it was never received or the trial had no record (over a cap).
    best_config: Mapping[str, Any] | None
    #: Store-clock time (seconds since the epoch) this experiment last received a batch.
    last_update: float

    def to_status(self) -> dict[str, Any]:
        """A JSON-ready dict in Kubernetes status style (camelCase keys, RFC 3339 time)."""
        stamp = datetime.fromtimestamp(self.last_update, tz=timezone.utc)
        return {
            "state": self.state,
            "metric": self.metric,
            "mode": self.mode,
            "trials": {state.lower(): self.counts[state] for state in TRIAL_STATES},
            "resultsTotal": self.results_total,
            "bestTrial": self.best_trial,
            "bestValue": self.best_value,
            "bestConfig": None if self.best_config is None else dict(self.best_config),
            "lastUpdate": stamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }


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


class _Experiment:
    """Mutable per-experiment state; only touched under the store lock."""

    __slots__ = (
        "best_config",
        "best_trial",
        "best_value",
        "counts",
        "dropped",
        "finished_ids",
        "kept_finished",
        "last_result_time",
        "last_update",
        "live_ids",
        "metric",
        "mode",
        "name",
        "namespace",
        "num_samples",
        "records",
        "results_total",
        "state",
        "view",
    )

    def __init__(self, ref: ExperimentRef, now: float) -> None:
        self.namespace = ref.namespace
        self.name = ref.name
        self.metric = ref.metric
        self.mode: Literal["min", "max"] = ref.mode
        self.num_samples = ref.numSamples
        self.state: ExperimentState = "RUNNING"
        self.results_total = 0
        self.counts: dict[TrialState, int] = dict.fromkeys(TRIAL_STATES, 0)
        # Every remembered trial id and its state; finished_ids is in finishing order (oldest first).
        self.live_ids: dict[str, TrialState] = {}
        self.finished_ids: dict[str, TrialState] = {}
        self.records: dict[str, TrialView] = {}
        self.kept_finished: set[str] = set()
        self.best_trial: str | None = None
        self.best_value: float | None = None
        self.best_config: Mapping[str, Any] | None = None
        self.last_update = now
        self.last_result_time: float | None = None
        self.dropped = 0
        self.view: ExperimentView | None = None

    def better(self, a: float, b: float | None) -> bool:
        return b is None or (a > b if self.mode == "max" else a < b)

    def summary(self) -> ExperimentSummary:
        return ExperimentSummary(
            namespace=self.namespace,
            name=self.name,
            metric=self.metric,
            mode=self.mode,
            state=self.state,
            num_samples=self.num_samples,
            counts=MappingProxyType(dict(self.counts)),
            results_total=self.results_total,
            best_trial=self.best_trial,
            best_value=self.best_value,
            best_config=self.best_config,
            last_update=self.last_update,
        )


class ExperimentStore:
    """Thread-safe, bounded store of experiments fed by ingest batches.

    ``clock`` (seconds since the epoch) stamps ``last_update`` and drives the finished-experiment TTL;
    tests inject a fake one.
    """

    def __init__(self, *, limits: StoreLimits | None = None, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits if limits is not None else StoreLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._experiments: dict[tuple[str, str], _Experiment] = {}
        self._senders: OrderedDict[str, int] = OrderedDict()
        self._dropped_total = 0
        self._evicted_total = 0

    # -- writing ---------------------------------------------------------------------------------------

    def apply(self, batch: Batch) -> int:
        """Apply a validated batch; returns the number of events applied (0 for a duplicate)."""
        return self.ingest(batch).accepted

    def ingest(self, batch: Batch) -> ApplyOutcome:
        """Like :meth:`apply`, but also says whether the batch was a duplicate (seq not above the last)."""
        with self._lock:
            if not self._fresh(batch.sender, batch.seq):
                return ApplyOutcome(0, True)
            now = self._clock()
            self._prune(now)
            if self.limits.max_experiments == 0:
                return ApplyOutcome(len(batch.events), False)
            exp = self._experiment_for(batch.experiment, now)
            for event in batch.events:
                if isinstance(event, ResultEvent):
                    self._on_result(exp, event)
                elif isinstance(event, TrialEvent):
                    self._on_trial(exp, event)
                else:
                    exp.state = event.state
            exp.last_update = now
            exp.view = None
            return ApplyOutcome(len(batch.events), False)

    def _fresh(self, sender: str, seq: int) -> bool:
        last = self._senders.get(sender)
        if last is not None:
            self._senders.move_to_end(sender)
            if seq <= last:
                return False
        if self.limits.max_senders > 0:
            self._senders[sender] = seq
            while len(self._senders) > self.limits.max_senders:
                self._senders.popitem(last=False)
        return True

    def _prune(self, now: float) -> None:
        ttl = self.limits.finished_ttl_seconds
        expired = [key for key, exp in self._experiments.items() if exp.state in _DONE and exp.last_update + ttl <= now]
        for key in expired:
            del self._experiments[key]

    def _experiment_for(self, ref: ExperimentRef, now: float) -> _Experiment:
        key = (ref.namespace, ref.name)
        exp = self._experiments.get(key)
        # A changed objective makes the stored best meaningless: start the experiment over.
        if exp is not None and exp.metric == ref.metric and exp.mode == ref.mode:
            if ref.numSamples is not None:
                exp.num_samples = ref.numSamples
            return exp
        if exp is None and len(self._experiments) >= self.limits.max_experiments:
            self._evict_one()
        exp = self._experiments[key] = _Experiment(ref, now)
        return exp

    def _evict_one(self) -> None:
        finished = [(e.last_update, k) for k, e in self._experiments.items() if e.state in _DONE]
        pool = finished or [(e.last_update, k) for k, e in self._experiments.items()]
        del self._experiments[min(pool)[1]]
        self._evicted_total += 1

    def _remember(self, exp: _Experiment, trial: str) -> bool:
        """Make room for one more trial id; False when every remembered id is live or kept."""
        if len(exp.live_ids) + len(exp.finished_ids) < self.limits.max_trial_ids_per_experiment:
            return True
        oldest = next((t for t in exp.finished_ids if t not in exp.kept_finished), None)
        if oldest is None:
            return False
        del exp.finished_ids[oldest]
        return True

    def _move(self, exp: _Experiment, trial: str, state: TrialState) -> TrialState | _Fate:
        """Set ``trial``'s state in the id maps and counts; returns its previous state, ``"NEW"``, or
        ``"UNTRACKED"`` when no id could be freed (then it is only counted as dropped)."""
        prev = exp.live_ids.pop(trial, None) or exp.finished_ids.pop(trial, None)
        if prev is None:
            if not self._remember(exp, trial):
                self._drop(exp)
                return "UNTRACKED"
        else:
            exp.counts[prev] -= 1
        exp.counts[state] += 1
        (exp.live_ids if state in _LIVE else exp.finished_ids)[trial] = state
        return "NEW" if prev is None else prev

    def _drop(self, exp: _Experiment) -> None:
        exp.dropped += 1
        self._dropped_total += 1

    def _has_live_room(self, exp: _Experiment) -> bool:
        return len(exp.records) - len(exp.kept_finished) < self.limits.max_trials_per_experiment

    def _on_trial(self, exp: _Experiment, event: TrialEvent) -> None:
        trial, state = event.trial, event.state
        prev = self._move(exp, trial, state)
        if prev == "UNTRACKED":
            return
        record = exp.records.get(trial)
        config: Mapping[str, Any] | None
        if event.config is not None:
            config = MappingProxyType(dict(event.config))
            if trial == exp.best_trial:
                exp.best_config = config
        else:
            config = record.config if record is not None else None
        if state in _LIVE:
            if trial in exp.kept_finished:  # a finished trial came back (resume, retry)
                exp.kept_finished.discard(trial)
                if not self._has_live_room(exp):
                    del exp.records[trial]
                    return
            if record is None:
                if not self._has_live_room(exp):
                    if prev == "NEW":
                        self._drop(exp)
                    return
                record = TrialView(trial, state, 0, _NO_METRICS, None, config, event.time)
            exp.records[trial] = record._replace(state=state, config=config, updated=event.time)
        elif record is not None:
            exp.records[trial] = record._replace(state=state, config=config, updated=event.time)
            exp.kept_finished.add(trial)
            self._trim_finished(exp)

    def _on_result(self, exp: _Experiment, event: ResultEvent) -> None:
        exp.results_total += 1
        if exp.last_result_time is None or event.time > exp.last_result_time:
            exp.last_result_time = event.time
        trial = event.trial
        value = event.metrics.get(exp.metric)
        record = exp.records.get(trial)
        if record is None:
            state = exp.live_ids.get(trial) or exp.finished_ids.get(trial)
            if state is None:  # a result before any trial event: the trial is evidently running
                state = "RUNNING"
                if self._move(exp, trial, state) == "NEW" and not self._has_live_room(exp):
                    self._drop(exp)
            if state in _LIVE and self._has_live_room(exp) and trial in exp.live_ids:
                record = TrialView(trial, state, 0, _NO_METRICS, None, None, event.time)
        if record is not None:
            best = record.best
            if value is not None and exp.better(value, best):
                best = value
            metrics = self._merge(exp.metric, record.metrics, event.metrics)
            exp.records[trial] = TrialView(
                trial, record.state, event.iteration, metrics, best, record.config, event.time
            )
            if trial in exp.kept_finished:
                self._trim_finished(exp)
        if value is not None and exp.better(value, exp.best_value):
            exp.best_value = value
            if exp.best_trial != trial:
                exp.best_trial = trial
                exp.best_config = record.config if record is not None else None

    def _merge(self, objective: str, old: Mapping[str, float], new: Mapping[str, float]) -> Mapping[str, float]:
        merged = dict(old)
        if new.keys() <= merged.keys():  # the steady state: the same names every iteration
            merged.update(new)
            return MappingProxyType(merged)
        limit = self.limits.max_metrics_per_trial
        reserve = 0 if objective in merged else 1  # the objective always has a slot
        for name, value in new.items():
            if name in merged:
                merged[name] = value
            elif name == objective:
                if limit > 0:
                    merged[name] = value
                    reserve = 0
            elif len(merged) + reserve < limit:
                merged[name] = value
        return MappingProxyType(merged)

    def _trim_finished(self, exp: _Experiment) -> None:
        """Keep the ``keep_best_finished`` best finished records (the experiment's best trial never goes)."""
        sign = 1.0 if exp.mode == "max" else -1.0

        def rank(trial: str) -> tuple[bool, bool, float]:
            best = exp.records[trial].best
            return (trial == exp.best_trial, best is not None, 0.0 if best is None else sign * best)

        while len(exp.kept_finished) > self.limits.keep_best_finished:
            worst = min(exp.kept_finished, key=rank)
            exp.kept_finished.discard(worst)
            del exp.records[worst]

    # -- reading ---------------------------------------------------------------------------------------

    def summary(self, namespace: str, name: str) -> ExperimentSummary | None:
        """The experiment's summary, or None when it is unknown (never seen, evicted or aged out)."""
        with self._lock:
            self._prune(self._clock())
            exp = self._experiments.get((namespace, name))
            return None if exp is None else exp.summary()

    def snapshot(self) -> StoreSnapshot:
        """An immutable, consistent view of every experiment (references only; cheap at 10,000 trials)."""
        with self._lock:
            self._prune(self._clock())
            views = []
            trials = 0
            for exp in self._experiments.values():
                view = exp.view
                if view is None:
                    view = exp.view = ExperimentView(
                        summary=exp.summary(),
                        last_result_time=exp.last_result_time,
                        dropped_trials=exp.dropped,
                        trials=MappingProxyType(dict(exp.records)),
                    )
                views.append(view)
                trials += len(view.trials)
            return StoreSnapshot(
                experiments=tuple(views),
                trials=trials,
                dropped_trials_total=self._dropped_total,
                evicted_experiments_total=self._evicted_total,
            )
