"""Delivering events to the ingest endpoint in batches, from a background thread.

The Tune driver calls :meth:`BatchSender.put`, which only appends to a bounded deque, so reporting never slows
or fails the experiment. A daemon thread forms batches (``batch_size`` events or whatever arrived within
``flush_interval_s``), posts them and retries with exponential backoff while the endpoint is down. A batch keeps
its sequence number across retries, so one whose response was lost is applied once by the exporter. When the
buffer is full the oldest events are dropped and counted: memory stays bounded however long the endpoint is away.

Events are the wire models of :mod:`kubetune.reporting.wire`, the same ones the exporter parses; a batch is a
:class:`~kubetune.reporting.wire.Batch` serialised by pydantic, and names its experiment in the
``Kubetune-Experiment`` header so an experiment-scoped token is checked before the exporter reads the body.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kubetune.reporting.wire import (
    CONTENT_TYPE,
    EXPERIMENT_HEADER,
    INGEST_PATH,
    MAX_EVENTS_PER_BATCH,
    Batch,
    Event,
    ExperimentEvent,
    ExperimentRef,
    experiment_header,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderSettings:
    #: Most events per POST (at most the wire format's 5,000).
    batch_size: int = 500
    #: Seconds an event may wait for its batch to fill before it is sent anyway.
    flush_interval_s: float = 0.5
    #: Events held while the endpoint is unreachable; beyond this the oldest are dropped (and counted).
    max_buffered: int = 100_000
    #: Seconds one HTTP request may take.
    request_timeout_s: float = 5.0
    #: First retry delay in seconds, doubled per failure up to ``max_backoff_s``.
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    #: Seconds :meth:`BatchSender.close` keeps trying to deliver what is left at the end of the experiment.
    final_flush_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_EVENTS_PER_BATCH:
            raise ValueError(f"SenderSettings.batch_size must be within 1..{MAX_EVENTS_PER_BATCH}")


@dataclass
class SenderStats:
    sent_events: int = 0
    sent_batches: int = 0
    dropped_events: int = 0
    rejected_events: int = 0
    failed_attempts: int = 0


class BatchSender:
    """Sends ``experiment``-scoped batches of events to ``url`` + ``/api/v1/ingest`` with a bearer token."""

    def __init__(self, *, url: str, token: str, experiment: ExperimentRef, settings: SenderSettings,
                 snapshot: Callable[[], ExperimentEvent | None] | None = None) -> None:  # fmt: skip
        """``snapshot``: the driver's cumulative figures, taken when a batch is formed and sent at its end."""
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"ingest URL must be http(s)://host[:port], got {url!r}")
        self._parsed = parsed
        self._token = token
        self._experiment = experiment
        self._snapshot = snapshot
        self.settings = settings
        self.sender_id = uuid.uuid4().hex
        self.stats = SenderStats()
        self._buffer: deque[Event] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._abandoned = False
        self._seq = 0
        self._thread = threading.Thread(target=self._loop, name="kubetune-sender", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        """Queue one event. Never blocks on the network and never raises."""
        with self._cond:
            if len(self._buffer) >= self.settings.max_buffered:
                self._buffer.popleft()
                self.stats.dropped_events += 1
            self._buffer.append(event)
            if len(self._buffer) >= self.settings.batch_size:
                self._cond.notify()

    def close(self, timeout_s: float | None = None) -> bool:
        """Deliver what is buffered (up to ``timeout_s``) and stop. Returns whether everything was delivered."""
        deadline = self.settings.final_flush_timeout_s if timeout_s is None else timeout_s
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(deadline)
        with self._cond:
            self._abandoned = True  # past the deadline the thread gives up at its next wake-up
            self._cond.notify()
            left = len(self._buffer)
            if left:
                log.warning("kubetune: %d trial events not delivered to %s", left, self._parsed.geturl())
            return left == 0 and not self._thread.is_alive()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def _loop(self) -> None:
        backoff = self.settings.initial_backoff_s
        while True:
            with self._cond:
                if self._abandoned:
                    return
                deadline = time.monotonic() + self.settings.flush_interval_s
                while not self._closing and len(self._buffer) < self.settings.batch_size:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if not self._buffer:
                    if self._closing:
                        return
                    continue
                events = [self._buffer[i] for i in range(min(self.settings.batch_size, len(self._buffer)))]
                seq = self._seq
            snapshot = self._take_snapshot() if len(events) < MAX_EVENTS_PER_BATCH else None
            outcome = self._post(seq, [*events, snapshot] if snapshot is not None else events)
            with self._cond:
                if outcome in ("ok", "rejected"):
                    # The events sent are the oldest ones; drop exactly those (more may have been dropped meanwhile).
                    for _ in range(min(len(events), len(self._buffer))):
                        self._buffer.popleft()
                    self._seq += 1
                    if outcome == "ok":
                        self.stats.sent_events += len(events)
                        self.stats.sent_batches += 1
                    else:
                        self.stats.rejected_events += len(events)
                    backoff = self.settings.initial_backoff_s
                    continue
                self.stats.failed_attempts += 1
                self._cond.wait(backoff)
                backoff = min(backoff * 2, self.settings.max_backoff_s)

    def _take_snapshot(self) -> ExperimentEvent | None:
        if self._snapshot is None:
            return None
        try:
            return self._snapshot()
        except Exception:  # reporting must never fail: the batch goes without it
            log.exception("kubetune: could not take the experiment snapshot")
            return None

    def _post(self, seq: int, events: list[Event]) -> str:
        """``ok``, ``rejected`` (a 4xx that a retry cannot fix: the batch is dropped) or ``retry``."""
        batch = Batch(experiment=self._experiment, sender=self.sender_id, seq=seq, events=events)
        body = batch.model_dump_json(exclude_none=True).encode()
        conn_cls = http.client.HTTPSConnection if self._parsed.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(self._parsed.hostname or "", self._parsed.port, timeout=self.settings.request_timeout_s)
        path = self._parsed.path.rstrip("/") + INGEST_PATH
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Authorization": f"Bearer {self._token}",
            EXPERIMENT_HEADER: experiment_header(self._experiment),
        }
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            detail = response.read(2048)
        except (OSError, http.client.HTTPException) as e:
            log.debug("kubetune: ingest at %s unreachable: %s", self._parsed.netloc, e)
            return "retry"
        finally:
            conn.close()
        if response.status < 300:
            return "ok"
        if response.status in (408, 429) or response.status >= 500:
            return "retry"
        log.warning(
            "kubetune: ingest rejected a batch of %d events (%d): %s",
            len(events),
            response.status,
            detail.decode(errors="replace").strip(),
        )
        return "rejected"
