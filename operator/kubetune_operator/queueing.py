"""The work queue between the watches and the reconcile workers (client-go's rate-limited queue, in small).

Watches add the key of whatever changed; workers take keys and reconcile them. The queue is what keeps that
correct under concurrency:

* a key added several times before a worker takes it is reconciled once (level-based: the reconcile reads the
  latest state anyway);
* a key is never reconciled by two workers at once: added while it is being reconciled, it is queued again
  when that reconcile is :meth:`done`;
* delayed adds (:meth:`add_after`) carry retries with exponential backoff (:meth:`retry`, reset by
  :meth:`forget`) and rate-limited status patches; an earlier due time replaces a later one;
* an *urgent* key (an experiment that has no RayJob yet) is handed out before every other, so a burst of status
  updates never delays the creation of a RayJob.

:meth:`oldest_age` says how long the longest-waiting ready key has waited: how far behind the workers are.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self, *, backoff_seconds: float, max_backoff_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._backoff, self._max_backoff = backoff_seconds, max_backoff_seconds
        self._clock = clock
        self._cond = threading.Condition()
        self._ready: deque[K] = deque()
        self._urgent: deque[K] = deque()
        self._queued: set[K] = set()
        #: When each queued key became ready (clock time), for oldest_age().
        self._since: dict[K, float] = {}
        self._urgent_later: set[K] = set()
        self._processing: set[K] = set()
        self._delayed: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._failures: dict[K, int] = {}
        self._seq = itertools.count()
        self._shut = False

    def add(self, key: K, *, urgent: bool = False) -> None:
        """Queue ``key``; ``urgent`` keys are handed out first (a key already queued moves to the urgent lane)."""
        with self._cond:
            if urgent and key in self._queued and key not in self._processing and key in self._ready:
                self._ready.remove(key)  # O(n), but only on the rare urgent re-add of a queued key
                self._urgent.append(key)
                self._cond.notify()
                return
            self._add(key, urgent=urgent)

    def _add(self, key: K, *, urgent: bool = False) -> None:
        if self._shut or key in self._queued:
            return
        self._queued.add(key)
        self._due.pop(key, None)
        if key in self._processing:
            if urgent:
                self._urgent_later.add(key)  # into the urgent lane when its reconcile is done
            return
        (self._urgent if urgent else self._ready).append(key)
        self._since[key] = self._clock()
        self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` in ``delay`` seconds (at once when <= 0); the earliest of several due times wins."""
        with self._cond:
            if delay <= 0:
                self._add(key)
                return
            due = self._clock() + delay
            if self._shut or key in self._queued or self._due.get(key, float("inf")) <= due:
                return
            self._due[key] = due
            heapq.heappush(self._delayed, (due, next(self._seq), key))
            self._cond.notify()

    def retry(self, key: K, *, delay: float | None = None) -> float:
        """Add ``key`` again after its backoff (doubling per consecutive retry); returns the delay used."""
        with self._cond:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
        if delay is None:
            delay = min(self._max_backoff, self._backoff * 2 ** (failures - 1))
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """The key succeeded: its next retry starts from the first backoff again."""
        with self._cond:
            self._failures.pop(key, None)

    def get(self, timeout: float | None = None) -> K | None:
        """The next key to reconcile, or None on shutdown or after ``timeout`` seconds."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                if self._shut:
                    return None
                now = self._clock()
                while self._delayed and self._delayed[0][0] <= now:
                    due, _, key = heapq.heappop(self._delayed)
                    if self._due.get(key) == due:
                        self._add(key)
                if self._urgent or self._ready:
                    key = (self._urgent or self._ready).popleft()
                    self._queued.discard(key)
                    self._since.pop(key, None)
                    self._processing.add(key)
                    return key
                waits = [t - now for t in (deadline, self._delayed[0][0] if self._delayed else None) if t is not None]
                if deadline is not None and deadline <= now:
                    return None
                self._cond.wait(min(waits) if waits else None)

    def done(self, key: K) -> None:
        with self._cond:
            self._processing.discard(key)
            urgent = key in self._urgent_later
            self._urgent_later.discard(key)
            if key in self._queued:
                (self._urgent if urgent else self._ready).append(key)
                self._since[key] = self._clock()
                self._cond.notify()

    def oldest_age(self) -> float:
        """Seconds the longest-waiting ready key has been waiting (0 when none waits)."""
        with self._cond:
            if not self._since:
                return 0.0
            return max(0.0, self._clock() - min(self._since.values()))

    def shutdown(self) -> None:
        with self._cond:
            self._shut = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queued) + len(self._due)
