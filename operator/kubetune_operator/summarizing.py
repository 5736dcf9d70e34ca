"""The trial summary in the experiment's status: small, rate-limited, and continued across operator restarts.

The exporter's store holds what trials reported (:meth:`ExperimentStore.summary`); the status gets a copy of
constant size (counts by state, best trial, value and config, last update) whatever the number of trials: a
best config larger than ``max_config_bytes`` is left out (Katib's status outgrew etcd's 1.5 MiB limit with
per-trial entries, kubeflow/katib#1847).

Rate: at most one summary patch per experiment per ``summary_interval_seconds``; a change inside the interval is
written when the interval ends (the reconcile is requeued for then), so the last state always lands.

Restarts: the store lives in the operator's memory, and reporting sends changes, not snapshots, so a restarted
operator (or a store that evicted the experiment) starts counting from nothing while the status still holds what
came before. The first time this process sees an experiment in its store, the status summary becomes its
*baseline*, and what the store learns afterwards is added to it: finished trials (terminated, error) and the
results count add up (each is reported once, when it happens); live counts (pending, running, paused) are the
store's (a running trial is counted again by its next result); the best value is the better of the two, with
its trial and config. What the old process accepted after its last summary patch and before it died is not
counted (at most one interval); a graceful shutdown writes pending summaries first.

Why trials ended: ``endReasons`` counts the ended trials by reason (``finished``, ``earlyStopped``, ``exploited``,
``budget``, ``errored``, ``cancelled``), a fixed set of keys, from the driver's own cumulative count (drivers that
predate reasons send none, and the key is left out). The status schema declares it
(:class:`kubetune.kube.bodies.EndReasons`, from which the CRD is generated): the API server drops a field its
schema lacks, and a summary that never reads back as written would be patched again every interval.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, cast

from kubetune.exporter import ExperimentStore, ExperimentSummary
from kubetune.exporter.views import TRIAL_STATES
from kubetune.kube.bodies import Summary, TrialCounts
from kubetune.reporting.wire import END_REASONS, EndReason
from kubetune_operator.caches import Key

_FINISHED = ("terminated", "error")
_LIVE = ("pending", "running", "paused")
#: The status key of each end reason (camelCase, like the rest of the status).
END_REASON_KEYS = {reason: "".join(w if i == 0 else w.title() for i, w in enumerate(reason.split("_")))
                   for reason in END_REASONS}  # fmt: skip


def end_reasons(ends: Mapping[EndReason, int]) -> dict[str, int]:
    """Ended trials by reason as the status holds them: every key of :data:`END_REASON_KEYS`, zeros included."""
    return {key: int(ends.get(reason, 0)) for reason, key in END_REASON_KEYS.items()}


def status_of(summary: ExperimentSummary) -> Summary:
    """The store's summary in Kubernetes status style (camelCase keys, RFC 3339 time), nulls included."""
    stamp = datetime.fromtimestamp(summary.last_update, tz=timezone.utc)
    trials = cast(TrialCounts, {state.lower(): summary.counts[state] for state in TRIAL_STATES})
    status: dict[str, Any] = {
        "state": summary.state,
        "metric": summary.metric,
        "mode": summary.mode,
        "trials": trials,
        "resultsTotal": summary.results_total,
        "bestTrial": summary.best_trial,
        "bestValue": summary.best_value,
        # Plain dicts and lists (the store's config is read-only, its arrays tuples): a status read back from the
        # API must compare equal, or every reconcile would patch it again.
        "bestConfig": None if summary.best_config is None else json.loads(json.dumps(summary.best_config)),
        "lastUpdate": stamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    if summary.ends:
        status["endReasons"] = end_reasons(summary.ends)
    if summary.seeded is not None:
        status["seededTrials"] = summary.seeded
    if summary.objectives:
        status["objectives"] = [{"metric": metric, "mode": mode} for metric, mode in summary.objectives]
    if summary.pareto_front is not None:
        status["paretoFront"] = summary.pareto_front
    if summary.usage is not None:
        held = summary.usage
        status["usage"] = {"gpuHours": _hours(held.gpuSeconds), "cpuHours": _hours(held.cpuSeconds),
                           "trialHours": _hours(held.trialSeconds)}  # fmt: skip
    return cast(Summary, status)


def _hours(seconds: float) -> float:
    """Seconds as hours, to the second (a status that reads back as written is not patched again)."""
    return round(seconds / 3600, 6)


def summary_status(summary: ExperimentSummary, *, max_config_bytes: int) -> Summary:
    """The store's summary as status JSON: no nulls (a merge patch would read them as deletions), bounded, and
    strict JSON (the API server refuses NaN): a best config that is not, or is larger than
    ``max_config_bytes``, is left out."""
    raw: dict[str, Any] = {k: v for k, v in status_of(summary).items() if v is not None}
    if isinstance(raw.get("bestValue"), float) and not math.isfinite(raw["bestValue"]):
        del raw["bestValue"]
    config = raw.get("bestConfig")
    if config is not None:
        try:
            size = len(json.dumps(config, allow_nan=False))
        except (TypeError, ValueError):
            size = None
        if size is None or size > max_config_bytes:
            del raw["bestConfig"]
    return cast(Summary, raw)


def continued(baseline: Summary, fresh: Summary, *, counts_reported: bool = False,
              results_reported: bool = False, ends_reported: bool = False) -> Summary:  # fmt: skip
    """``fresh`` (what this process's store knows) on top of ``baseline`` (the status from before it).

    ``counts_reported``/``results_reported``: the fresh trial counts / results total are the driver's own
    cumulative figures (they include everything before this process), so they replace the baseline's instead of
    adding to them; ``ends_reported`` likewise for the counts by end reason (the driver's, when it sends any).
    """
    if baseline.get("metric") != fresh.get("metric") or baseline.get("mode") != fresh.get("mode"):
        return fresh  # a different objective: the old best means nothing
    base_counts = cast(Mapping[str, int], baseline.get("trials") or {})
    counts = cast(Mapping[str, int], fresh.get("trials") or {})
    merged_counts = {k: int(counts.get(k, 0)) for k in _LIVE}
    for k in _FINISHED:
        merged_counts[k] = int(counts.get(k, 0)) + (0 if counts_reported else int(base_counts.get(k, 0)))
    merged: dict[str, Any] = {**fresh, "trials": merged_counts}
    merged["resultsTotal"] = int(fresh.get("resultsTotal", 0)) + (
        0 if results_reported else int(baseline.get("resultsTotal", 0))
    )
    base_ends = cast(Mapping[str, int], dict(baseline).get("endReasons") or {})
    fresh_ends = cast(Mapping[str, int], dict(fresh).get("endReasons") or {})
    if base_ends and not ends_reported:
        merged["endReasons"] = {
            k: int(fresh_ends.get(k, 0)) + int(base_ends.get(k, 0)) for k in END_REASON_KEYS.values()
        }
    elif base_ends and "endReasons" not in fresh:  # a driver that predates reasons took over: keep what was known
        merged["endReasons"] = dict(base_ends)
    if "usage" not in fresh and "usage" in baseline:  # usage is the driver's cumulative figure: it replaces
        merged["usage"] = dict(baseline)["usage"]
    if "paretoFront" not in fresh and "paretoFront" in baseline:  # so is the front's size
        merged["paretoFront"] = dict(baseline)["paretoFront"]
    old, new = baseline.get("bestValue"), fresh.get("bestValue")
    old_wins = old is not None and (new is None or (old > new if fresh.get("mode") == "max" else old < new))
    if old_wins:
        for field in ("bestValue", "bestTrial", "bestConfig"):
            merged.pop(field, None)
            if field in baseline:
                merged[field] = dict(baseline)[field]
    return merged  # type: ignore[return-value]


def progress(summary: Summary | None, *, total: int | None) -> str:
    """``finished/total`` trials, e.g. ``12/30`` (``?`` while the total is unknown)."""
    counts = cast(Mapping[str, int], (summary or {}).get("trials") or {})
    done = int(counts.get("terminated", 0)) + int(counts.get("error", 0))
    return f"{done}/{total if total is not None else '?'}"


class Summarizer:
    """Status summaries from the store for each experiment, with the pacing and baselines described above."""

    def __init__(
        self, *, store: ExperimentStore, interval_seconds: float, max_config_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._store = store
        self._interval = interval_seconds
        self._max_config_bytes = max_config_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._patched_at: dict[Key, float] = {}
        self._baselines: dict[Key, Summary | None] = {}
        self._seen_results: dict[Key, int] = {}

    def summary(self, key: Key, *, current: Summary | None) -> tuple[Summary | None, int | None]:
        """The summary the status should hold (None: the store knows nothing, keep the status as it is) and
        the total trial count the driver announced (None if unknown)."""
        found = self._store.summary(*key)
        if found is None:
            return None, None
        fresh = summary_status(found, max_config_bytes=self._max_config_bytes)
        with self._lock:
            if key not in self._baselines or found.results_total < self._seen_results.get(key, 0):
                self._baselines[key] = current if current and current.get("resultsTotal") else None
            self._seen_results[key] = found.results_total
            baseline = self._baselines[key]
        merged = (
            continued(
                baseline,
                fresh,
                counts_reported=found.counts_reported,
                results_reported=found.results_reported,
                ends_reported=found.ends_reported,
            )
            if baseline
            else fresh
        )
        total = found.num_samples if found.num_samples is not None and found.num_samples >= 0 else None
        return merged, total

    def due_in(self, key: Key) -> float:
        """Seconds until this experiment's summary may be patched again (0: now)."""
        with self._lock:
            last, interval = self._patched_at.get(key), self._interval
        return 0.0 if last is None else max(0.0, last + interval - self._clock())

    def patched(self, key: Key) -> None:
        with self._lock:
            self._patched_at[key] = self._clock()

    def stop_pacing(self) -> None:
        """Every summary is due from now on (the last writes of a shutdown)."""
        with self._lock:
            self._interval = 0.0

    def forget(self, key: Key) -> None:
        with self._lock:
            self._patched_at.pop(key, None)
            self._baselines.pop(key, None)
            self._seen_results.pop(key, None)
