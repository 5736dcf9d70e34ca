"""Kubernetes Events for the scheduler's decisions about trials, rate-limited per experiment and aggregated.

A trial the scheduler stopped early, one PBT exploited, one the budget cut and one that errored each deserve a line
in ``kubectl describe tuneexperiment``: an Event on the experiment with reason ``TrialStoppedEarly``,
``TrialExploited``, ``TrialCutByBudget`` or ``TrialErrored`` (a Warning) and the message ``trial <id>: <detail>``.

An ASHA rung can stop dozens of trials at once, so per experiment and reason at most one Event goes out per
``status.trialEndEventSeconds`` (default 10): the first end after a quiet window is posted at once, the ends that
arrive inside the window are posted as one Event when it ends (``14 trials stopped early in the last 10 s; latest
trial X: <detail>``; the reconcile is requeued for then). The counts come from the store's running totals
(:class:`kubetune.exporter.decisions.EndsLog`), so they are exact however many ends arrived between two looks;
the particulars are the latest end's.

Nothing here can slow or fail a reconcile: it reads the in-memory store, the poster only queues (and drops under
load, :mod:`kubetune_operator.posting`), and any error is logged. Memory is a few numbers per experiment, forgotten
with the experiment.

Restarts: the store lives in this process, so it holds only ends that reached this process; what a previous
process posted is not posted again unless the driver sends it again (a batch whose answer it never got). Such a
batch, arriving whole, yields the same message, hence the same deterministic Event name, which the API server
refuses as a duplicate; and whatever arrives, aggregation bounds it to one Event per reason per window.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from kubetune.exporter import ExperimentStore
from kubetune.exporter.decisions import DECISIONS, EndsLog, RecentEnd
from kubetune.kube.bodies import Body
from kubetune.reporting.wire import EndReason
from kubetune_operator.caches import Key
from kubetune_operator.posting import EventPoster

__all__ = ["KINDS", "DecisionEvents", "Kind", "message"]

log = logging.getLogger("kubetune_operator.decisions")


@dataclass(frozen=True)
class Kind:
    #: The Event's reason.
    reason: str
    type: Literal["Normal", "Warning"]
    #: What happened to the trials, after "N trials".
    verb: str


KINDS: Mapping[EndReason, Kind] = {
    "early_stopped": Kind("TrialStoppedEarly", "Normal", "stopped early"),
    "exploited": Kind("TrialExploited", "Normal", "exploited"),
    "budget": Kind("TrialCutByBudget", "Normal", "cut by the budget"),
    "errored": Kind("TrialErrored", "Warning", "errored"),
}
assert set(KINDS) == set(DECISIONS)


def message(reason: EndReason, count: int, latest: RecentEnd | None, *, window_seconds: float) -> str:
    """``trial <id>: <detail>`` for one end; for several, how many and the latest one's particulars."""
    verb = KINDS[reason].verb
    about = ""
    if latest is not None:
        about = f"trial {latest.trial}: {latest.detail}" if latest.detail else f"trial {latest.trial} {verb}"
    if count == 1 and about:
        return about
    text = f"{count} trials {verb} in the last {window_seconds:g} s"
    return f"{text}; latest {about}" if about else text


@dataclass
class _Pending:
    count: int
    latest: RecentEnd | None


@dataclass
class _Seen:
    """One experiment: the store totals already taken, when each reason last posted, what waits for its window."""

    epoch: int
    taken: dict[EndReason, int] = field(default_factory=lambda: dict.fromkeys(DECISIONS, 0))
    posted_at: dict[EndReason, float] = field(default_factory=dict)
    pending: dict[EndReason, _Pending] = field(default_factory=dict)


class DecisionEvents:
    """Posts the decisions the store saw since the last look; :meth:`post` is called from each reconcile."""

    def __init__(
        self, *, store: ExperimentStore, events: EventPoster, window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._store = store
        self._events = events
        #: The window the messages name, and the one that paces them (0 once a shutdown stops pacing).
        self._window = self._pace = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[Key, _Seen] = {}

    def post(self, experiment: Body, key: Key) -> float | None:
        """Post what is due about ``experiment``; the seconds until more is due (None: nothing waits)."""
        try:
            found = self._store.summary(*key)
            due, posts = self._take(key, found.decisions if found is not None else None)
            for reason, pending in posts:
                text = message(reason, pending.count, pending.latest, window_seconds=self._window)
                kind = KINDS[reason]
                self._events.post(experiment, type=kind.type, reason=kind.reason, message=text)
        except Exception:  # an Event is never worth a failed reconcile
            log.exception("trial decision events of %s/%s failed", *key)
            return None
        return due

    def stop_pacing(self) -> None:
        """Every held-back end is due from now on (the last reconciles of a graceful shutdown)."""
        with self._lock:
            self._pace = 0.0

    def forget(self, key: Key) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def _take(self, key: Key, decisions: EndsLog | None) -> tuple[float | None, list[tuple[EndReason, _Pending]]]:
        """The seconds until more is due, and what to post now."""
        with self._lock:
            seen = self._seen.get(key)
            if decisions is not None:
                if seen is None or seen.epoch != decisions.epoch:  # new here, or the store started it over
                    seen = self._seen[key] = _Seen(decisions.epoch, posted_at=seen.posted_at if seen else {},
                                                   pending=seen.pending if seen else {})  # fmt: skip
                self._collect(seen, decisions)
            if seen is None or not seen.pending:
                return None, []
            now, due, posts = self._clock(), math.inf, []
            for reason in DECISIONS:
                pending = seen.pending.get(reason)
                if pending is None:
                    continue
                wait = seen.posted_at.get(reason, -math.inf) + self._pace - now
                if wait <= 0:
                    posts.append((reason, seen.pending.pop(reason)))
                    seen.posted_at[reason] = now
                else:
                    due = min(due, wait)
            return (None if due == math.inf else due), posts

    @staticmethod
    def _collect(seen: _Seen, decisions: EndsLog) -> None:
        for reason in DECISIONS:
            new = decisions.totals.get(reason, 0) - seen.taken[reason]
            if new <= 0:
                continue
            seen.taken[reason] += new
            latest = next((end for end in reversed(decisions.latest) if end.reason == reason), None)
            pending = seen.pending.setdefault(reason, _Pending(0, None))
            pending.count += new
            pending.latest = latest or pending.latest
