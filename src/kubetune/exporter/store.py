"""The bounded in-memory store behind the exporter: what every experiment looks like right now.

Batches of the ingest wire format (:mod:`kubetune.reporting.wire`) are applied whole under one lock, so readers
never see half a batch. Each experiment remembers its senders' highest applied ``seq`` (LRU of ``max_senders``
per experiment): a retried batch is recognised and ignored. Deduplication is keyed by experiment and sender, so a
batch for one experiment can never mark another experiment's batches as duplicates.

Why bounded: the store feeds Prometheus, where every trial record becomes series. Per experiment it keeps
per-trial records only for live trials and the best few finished ones (:mod:`kubetune.exporter.tracking`); every
other trial is only counted. With E experiments, R = live cap + kept finished records and M metric names per
record, ``/metrics`` holds at most::

    max_series(limits) = E * (R * (M + 3) + 20) + 13      # defaults: 200 * (1005 * 19 + 20) + 13 = 3,823,013

(see :func:`kubetune.exporter.settings.max_series`). Memory follows the same caps plus about 100 bytes per
remembered trial id (``max_trial_ids_per_experiment``) and per remembered sender.

Readers take :meth:`ExperimentStore.snapshot`: trial records are immutable tuples replaced on every update
(copy-on-write), so a snapshot only copies references, and an experiment that did not change since the last
snapshot is not copied at all. Whoever needs to act on changes (the operator queues a status update) passes
``on_change``; it is called after the lock is released.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kubetune.exporter.settings import StoreLimits, max_series
from kubetune.exporter.tracking import DONE, TrackedExperiment
from kubetune.exporter.views import (
    TRIAL_STATES,
    ApplyOutcome,
    ExperimentSummary,
    ExperimentView,
    StoreSnapshot,
    TrialView,
)
from kubetune.reporting.wire import Batch, ExperimentRef

__all__ = [
    "TRIAL_STATES",
    "ApplyOutcome",
    "ExperimentKey",
    "ExperimentStore",
    "ExperimentSummary",
    "ExperimentView",
    "OnChange",
    "StoreSnapshot",
    "TrialView",
    "max_series",
]

log = logging.getLogger("kubetune.exporter")

#: ``(namespace, name)`` of an experiment.
ExperimentKey = tuple[str, str]
#: Called with the key of an experiment a batch changed (not for duplicates or empty batches).
OnChange = Callable[[ExperimentKey], None]


class ExperimentStore:
    """Thread-safe, bounded store of experiments fed by ingest batches.

    ``clock`` (seconds since the epoch) stamps ``last_update`` and drives the finished-experiment TTL; tests
    inject a fake one. ``on_change`` hears of every batch that changed an experiment; an exception it raises is
    logged, never passed to the sender (the batch is applied by then).
    """

    def __init__(
        self,
        *,
        limits: StoreLimits | None = None,
        clock: Callable[[], float] = time.time,
        on_change: OnChange | None = None,
    ) -> None:
        self.limits = limits if limits is not None else StoreLimits()
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._experiments: dict[ExperimentKey, TrackedExperiment] = {}
        self._dropped_total = 0
        self._evicted_total = 0

    # -- writing ---------------------------------------------------------------------------------------

    def apply(self, batch: Batch) -> int:
        """Apply a validated batch; returns the number of events applied (0 for a duplicate)."""
        return self.ingest(batch).accepted

    def ingest(self, batch: Batch) -> ApplyOutcome:
        """Like :meth:`apply`, but also says whether the batch was a duplicate (seq not above the last)."""
        key = (batch.experiment.namespace, batch.experiment.name)
        with self._lock:
            outcome = self._ingest(key, batch)
        if outcome.accepted and not outcome.duplicate and self._on_change is not None:
            try:
                self._on_change(key)
            except Exception:
                log.exception("on_change failed for %s/%s", *key)
        return outcome

    def _ingest(self, key: ExperimentKey, batch: Batch) -> ApplyOutcome:
        now = self._clock()
        self._prune(now)
        if self.limits.max_experiments == 0:
            return ApplyOutcome(len(batch.events), False)
        exp = self._experiments.get(key)
        if exp is not None and exp.same_objective(batch.experiment) and exp.is_duplicate(batch.sender, batch.seq):
            return ApplyOutcome(0, True)
        exp = self._experiment_for(key, batch.experiment, now)
        exp.remember_sender(batch.sender, batch.seq)
        dropped = exp.dropped
        exp.apply(batch.experiment, batch.events, now=now)
        self._dropped_total += exp.dropped - dropped
        return ApplyOutcome(len(batch.events), False)

    def _prune(self, now: float) -> None:
        ttl = self.limits.finished_ttl_seconds
        expired = [key for key, exp in self._experiments.items() if exp.state in DONE and exp.last_update + ttl <= now]
        for key in expired:
            del self._experiments[key]

    def _experiment_for(self, key: ExperimentKey, ref: ExperimentRef, now: float) -> TrackedExperiment:
        exp = self._experiments.get(key)
        # A changed objective makes the stored best meaningless: start the experiment over.
        if exp is not None and exp.same_objective(ref):
            return exp
        if exp is None and len(self._experiments) >= self.limits.max_experiments:
            self._evict_one()
        exp = self._experiments[key] = TrackedExperiment(ref, now=now, limits=self.limits)
        return exp

    def _evict_one(self) -> None:
        finished = [(e.last_update, k) for k, e in self._experiments.items() if e.state in DONE]
        pool = finished or [(e.last_update, k) for k, e in self._experiments.items()]
        del self._experiments[min(pool)[1]]
        self._evicted_total += 1

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
            views = tuple(exp.snapshot_view() for exp in self._experiments.values())
            return StoreSnapshot(
                experiments=views,
                trials=sum(len(view.trials) for view in views),
                dropped_trials_total=self._dropped_total,
                evicted_experiments_total=self._evicted_total,
            )
