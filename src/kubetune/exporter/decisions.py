"""The scheduler's decisions about one experiment's trials, as the operator needs them for Kubernetes Events.

A trial that ends early (``early_stopped``), is exploited by PBT (``exploited``), is cut by the budget (``budget``)
or errors (``errored``) is a decision worth telling ``kubectl describe`` about. Per experiment the store keeps, in
constant memory, a running count of those ends by reason and the last :data:`KEEP` of them (trial, reason, detail)
in arrival order, each with a sequence number (:class:`EndsLog`). A reader that remembers the counts it last saw
knows exactly how many ends of each reason came since, however many fell out of the bounded log; the log gives
the latest one's particulars.

Each end is noted once: a trial event that repeats an end already known (a resent terminal state) is not counted
again. Every tracked experiment gets a fresh ``epoch`` (process-wide), so a reader can tell an experiment the
store started over (evicted, aged out, its objective changed) from the one it knew.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from kubetune.reporting.wire import EndReason, TrialEvent

__all__ = ["DECISIONS", "KEEP", "EndsLog", "RecentEnd", "RecentEnds"]

#: The end reasons that are decisions worth an Event (``finished`` and ``cancelled`` are not).
DECISIONS: tuple[EndReason, ...] = ("early_stopped", "exploited", "budget", "errored")
#: How many of the latest decisions each experiment keeps with their particulars.
KEEP = 32
_ENDED = frozenset({"TERMINATED", "ERROR"})
_epochs = itertools.count(1)


class RecentEnd(NamedTuple):
    #: 1 for the experiment's first decision, then one more per decision.
    seq: int
    trial: str
    reason: EndReason
    #: The driver's one-line particulars ("" when it sent none).
    detail: str
    #: Sender-side time of the trial's end (seconds since the epoch).
    time: float


class EndsLog(NamedTuple):
    """An immutable copy of one experiment's decisions (what summaries and views carry)."""

    #: Which incarnation of the experiment in this store (changes when the store starts it over).
    epoch: int = 0
    #: Decisions since the experiment was first tracked, by reason (every reason of :data:`DECISIONS`).
    totals: Mapping[EndReason, int] = MappingProxyType(dict.fromkeys(DECISIONS, 0))
    #: The latest decisions, oldest first (at most :data:`KEEP`).
    latest: tuple[RecentEnd, ...] = ()

    @property
    def seq(self) -> int:
        """Decisions noted so far (the ``seq`` of the latest)."""
        return sum(self.totals.values())


class RecentEnds:
    """Mutable, bounded: counts by reason and the latest :data:`KEEP` decisions; the store's lock guards it."""

    __slots__ = ("_latest", "_log", "_totals", "epoch")

    def __init__(self) -> None:
        self.epoch = next(_epochs)
        self._totals: dict[EndReason, int] = dict.fromkeys(DECISIONS, 0)
        self._latest: deque[RecentEnd] = deque(maxlen=KEEP)
        self._log: EndsLog | None = None

    def note(self, event: TrialEvent, before: str) -> None:
        """Note ``event`` if it ends a trial by a decision; ``before`` is the trial's state before it (a trial
        state, or anything else when unknown), so that a repeated end is not noted twice."""
        reason = event.reason
        if reason is None or reason not in self._totals or event.state not in _ENDED or before in _ENDED:
            return
        self._totals[reason] += 1
        seq = sum(self._totals.values())
        self._latest.append(RecentEnd(seq, event.trial, reason, event.detail or "", event.time))
        self._log = None

    def log(self) -> EndsLog:
        """The decisions as an immutable :class:`EndsLog`, reused until the next decision."""
        if self._log is None:
            self._log = EndsLog(self.epoch, MappingProxyType(dict(self._totals)), tuple(self._latest))
        return self._log
