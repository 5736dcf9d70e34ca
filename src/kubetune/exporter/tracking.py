"""One experiment's trials inside the store: states, counts, bounded per-trial records, best trial, senders.

Only the store calls this, under its lock. Per experiment it keeps per-trial records only for live trials
(PENDING/RUNNING/PAUSED, at most ``max_trials_per_experiment``) and the ``keep_best_finished`` best finished
ones; every other trial is only counted. A trial config is kept only up to
:data:`~kubetune.reporting.wire.MAX_CONFIG_BYTES` (a larger one as if none had been sent). Trial ids (for exact
counts across transitions) and the senders whose last ``seq`` is remembered (for deduplication) are capped too,
per experiment, so nothing one experiment's driver sends can push another experiment's state out.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal

from kubetune.exporter.decisions import RecentEnds
from kubetune.exporter.figures import DriverFigures
from kubetune.exporter.settings import StoreLimits
from kubetune.exporter.views import TRIAL_STATES, ExperimentSummary, ExperimentView, FrozenConfig, TrialView
from kubetune.reporting.wire import (
    MAX_CONFIG_BYTES,
    EndReason,
    Event,
    ExperimentRef,
    ExperimentState,
    ResultEvent,
    TrialEvent,
    TrialState,
    config_size,
)

__all__ = ["DONE", "TrackedExperiment"]

_LIVE: frozenset[str] = frozenset({"PENDING", "RUNNING", "PAUSED"})
#: Experiment states after which the experiment ages out (``finished_ttl_seconds``).
DONE: frozenset[str] = frozenset({"FINISHED", "FAILED"})
_NO_METRICS: Mapping[str, float] = MappingProxyType({})
#: What :meth:`TrackedExperiment._move` says about a trial id it had not seen.
_Fate = Literal["NEW", "UNTRACKED"]


class TrackedExperiment:
    """Mutable per-experiment state; only touched under the store lock."""

    __slots__ = (
        "best_config",
        "best_trial",
        "best_value",
        "counts",
        "decisions",
        "dropped",
        "finished_ids",
        "kept_finished",
        "last_result_time",
        "last_update",
        "limits",
        "live_ids",
        "metric",
        "mode",
        "name",
        "namespace",
        "num_samples",
        "objectives",
        "records",
        "reported",
        "results_total",
        "senders",
        "state",
        "trial_reasons",
        "view",
    )

    def __init__(self, ref: ExperimentRef, *, now: float, limits: StoreLimits) -> None:
        self.limits = limits
        self.namespace = ref.namespace
        self.name = ref.name
        self.metric = ref.metric
        self.mode: Literal["min", "max"] = ref.mode
        self.num_samples = ref.numSamples
        self.state: ExperimentState = "RUNNING"
        #: Several objectives as (metric, mode) pairs; None for one.
        self.objectives = _objectives(ref)
        self.results_total = 0
        self.counts: dict[TrialState, int] = dict.fromkeys(TRIAL_STATES, 0)
        #: The driver's own cumulative figures (its latest ExperimentEvent), where it sent them.
        self.reported = DriverFigures()
        #: Why each remembered finished trial ended, from its trial event (forgotten with its id).
        self.trial_reasons: dict[str, EndReason] = {}
        # Every remembered trial id and its state; finished_ids is in finishing order (oldest first).
        self.live_ids: dict[str, TrialState] = {}
        self.finished_ids: dict[str, TrialState] = {}
        self.records: dict[str, TrialView] = {}
        self.kept_finished: set[str] = set()
        self.best_trial: str | None = None
        self.best_value: float | None = None
        self.best_config: FrozenConfig | None = None
        self.last_update = now
        self.last_result_time: float | None = None
        self.dropped = 0
        #: Each sender's highest applied ``seq`` (least recently used first).
        self.senders: OrderedDict[str, int] = OrderedDict()
        self.view: ExperimentView | None = None
        #: Early stops, exploits, budget cuts and errors: counts and the latest few (for the operator's Events).
        self.decisions = RecentEnds()

    def same_objective(self, ref: ExperimentRef) -> bool:
        return self.metric == ref.metric and self.mode == ref.mode and self.objectives == _objectives(ref)

    # -- deduplication ---------------------------------------------------------------------------------

    def is_duplicate(self, sender: str, seq: int) -> bool:
        last = self.senders.get(sender)
        if last is None:
            return False
        self.senders.move_to_end(sender)
        return seq <= last

    def remember_sender(self, sender: str, seq: int) -> None:
        if self.limits.max_senders == 0:
            return
        self.senders[sender] = seq
        self.senders.move_to_end(sender)
        while len(self.senders) > self.limits.max_senders:
            self.senders.popitem(last=False)

    # -- events ----------------------------------------------------------------------------------------

    def apply(self, ref: ExperimentRef, events: Iterable[Event], *, now: float) -> None:
        if ref.numSamples is not None:
            self.num_samples = ref.numSamples
        for event in events:
            if isinstance(event, ResultEvent):
                self._on_result(event)
            elif isinstance(event, TrialEvent):
                self._on_trial(event)
            else:
                self.state = event.state
                self.reported.take(event)
        self.last_update = now
        self.view = None

    def _better(self, a: float, b: float | None) -> bool:
        return b is None or (a > b if self.mode == "max" else a < b)

    def _remember(self) -> bool:
        """Make room for one more trial id; False when every remembered id is live or kept."""
        if len(self.live_ids) + len(self.finished_ids) < self.limits.max_trial_ids_per_experiment:
            return True
        oldest = next((t for t in self.finished_ids if t not in self.kept_finished), None)
        if oldest is None:
            return False
        del self.finished_ids[oldest]
        self.trial_reasons.pop(oldest, None)
        return True

    def _move(self, trial: str, state: TrialState) -> TrialState | _Fate:
        """Set ``trial``'s state in the id maps and counts; returns its previous state, ``"NEW"``, or
        ``"UNTRACKED"`` when no id could be freed (then it is only counted as dropped)."""
        prev = self.live_ids.pop(trial, None) or self.finished_ids.pop(trial, None)
        if prev is None:
            if not self._remember():
                self.dropped += 1
                return "UNTRACKED"
        else:
            self.counts[prev] -= 1
        self.counts[state] += 1
        (self.live_ids if state in _LIVE else self.finished_ids)[trial] = state
        return "NEW" if prev is None else prev

    def _has_live_room(self) -> bool:
        return len(self.records) - len(self.kept_finished) < self.limits.max_trials_per_experiment

    def _on_trial(self, event: TrialEvent) -> None:
        trial, state = event.trial, event.state
        prev = self._move(trial, state)
        self.decisions.note(event, prev)
        if prev == "UNTRACKED":
            return
        if state not in _LIVE and event.reason is not None:
            self.trial_reasons[trial] = event.reason
        else:
            self.trial_reasons.pop(trial, None)
        record = self.records.get(trial)
        config: FrozenConfig | None
        if event.config is not None and config_size(event.config) <= MAX_CONFIG_BYTES:  # a larger one is not kept
            config = FrozenConfig.of(event.config)
            if trial == self.best_trial:
                self.best_config = config
        else:
            config = record.config if record is not None else None
        if state in _LIVE:
            if trial in self.kept_finished:  # a finished trial came back (resume, retry)
                self.kept_finished.discard(trial)
                if not self._has_live_room():
                    del self.records[trial]
                    return
            if record is None:
                if not self._has_live_room():
                    if prev == "NEW":
                        self.dropped += 1
                    return
                record = TrialView(trial, state, 0, _NO_METRICS, None, config, event.time)
            usage = event.usage or record.usage
            self.records[trial] = record._replace(
                state=state, config=config, updated=event.time, reason=None, usage=usage
            )
        elif record is not None:
            usage = event.usage or record.usage
            self.records[trial] = record._replace(
                state=state, config=config, updated=event.time, reason=event.reason, usage=usage
            )
            self.kept_finished.add(trial)
            self._trim_finished()

    def _on_result(self, event: ResultEvent) -> None:
        self.results_total += 1
        if self.last_result_time is None or event.time > self.last_result_time:
            self.last_result_time = event.time
        trial = event.trial
        value = event.metrics.get(self.metric)
        record = self.records.get(trial)
        if record is None:
            state = self.live_ids.get(trial) or self.finished_ids.get(trial)
            if state is None:  # a result before any trial event: the trial is evidently running
                state = "RUNNING"
                if self._move(trial, state) == "NEW" and not self._has_live_room():
                    self.dropped += 1
            if state in _LIVE and self._has_live_room() and trial in self.live_ids:
                record = TrialView(trial, state, 0, _NO_METRICS, None, None, event.time)
        if record is not None:
            best = record.best
            if value is not None and self._better(value, best):
                best = value
            metrics = self._merge(record.metrics, event.metrics)
            self.records[trial] = TrialView(trial, record.state, event.iteration, metrics, best, record.config,
                                            event.time, record.reason, event.usage or record.usage)  # fmt: skip
            if trial in self.kept_finished:
                self._trim_finished()
        if value is not None and self._better(value, self.best_value):
            self.best_value = value
            if self.best_trial != trial:
                self.best_trial = trial
                self.best_config = record.config if record is not None else None

    def _merge(self, old: Mapping[str, float], new: Mapping[str, float]) -> Mapping[str, float]:
        merged = dict(old)
        if new.keys() <= merged.keys():  # the steady state: the same names every iteration
            merged.update(new)
            return MappingProxyType(merged)
        limit = self.limits.max_metrics_per_trial
        reserve = 0 if self.metric in merged else 1  # the objective always has a slot
        for name, value in new.items():
            if name in merged:
                merged[name] = value
            elif name == self.metric:
                if limit > 0:
                    merged[name] = value
                    reserve = 0
            elif len(merged) + reserve < limit:
                merged[name] = value
        return MappingProxyType(merged)

    def _trim_finished(self) -> None:
        """Keep the ``keep_best_finished`` best finished records (the experiment's best trial never goes)."""
        sign = 1.0 if self.mode == "max" else -1.0

        def rank(trial: str) -> tuple[bool, bool, float]:
            best = self.records[trial].best
            return (trial == self.best_trial, best is not None, 0.0 if best is None else sign * best)

        while len(self.kept_finished) > self.limits.keep_best_finished:
            worst = min(self.kept_finished, key=rank)
            self.kept_finished.discard(worst)
            del self.records[worst]

    # -- reading ---------------------------------------------------------------------------------------

    def summary(self) -> ExperimentSummary:
        """Constant-size figures: the driver's own cumulative ones where it sent them (they survive a restart of
        the driver and a change of operator replica), else what this store added up."""
        best_trial, best_value, best_config = self.best_trial, self.best_value, self.best_config
        reported = self.reported.best
        if reported is not None and self._better(reported.value, best_value):
            best_trial, best_value = reported.trial, reported.value
            best_config = FrozenConfig.of(reported.config) if reported.config is not None else None
        elif reported is not None and reported.trial == best_trial and best_config is None and reported.config:
            # The same best, but this store never saw the trial's config (it took over after the trial started).
            best_config = FrozenConfig.of(reported.config)
        return ExperimentSummary(
            namespace=self.namespace,
            name=self.name,
            metric=self.metric,
            mode=self.mode,
            state=self.state,
            num_samples=self.num_samples,
            counts=MappingProxyType(dict(self.reported.counts if self.reported.counts is not None else self.counts)),
            counts_reported=self.reported.counts is not None,
            results_total=self.reported.results if self.reported.results is not None else self.results_total,
            results_reported=self.reported.results is not None,
            best_trial=best_trial,
            best_value=best_value,
            best_config=best_config,
            last_update=self.last_update,
            ends=MappingProxyType(self._ends()),
            ends_reported=self.reported.ends is not None,
            decisions=self.decisions.log(),
            usage=self.reported.usage,
            seeded=self.reported.seeded,
            objectives=self.objectives,
            pareto_front=self.reported.pareto_front,
        )

    def _ends(self) -> dict[EndReason, int]:
        if self.reported.ends is not None:
            return dict(self.reported.ends)
        counts: dict[EndReason, int] = {}
        for reason in self.trial_reasons.values():
            counts[reason] = counts.get(reason, 0) + 1
        return counts

    def snapshot_view(self) -> ExperimentView:
        """This experiment as an immutable view, reused until the next batch changes it."""
        if self.view is None:
            self.view = ExperimentView(
                summary=self.summary(),
                last_result_time=self.last_result_time,
                dropped_trials=self.dropped,
                trials=MappingProxyType(dict(self.records)),
            )
        return self.view


def _objectives(ref: ExperimentRef) -> tuple[tuple[str, str], ...] | None:
    """Several objectives as ``(metric, mode)`` pairs; None for one."""
    return tuple((o.metric, o.mode) for o in ref.objectives) if ref.objectives else None
