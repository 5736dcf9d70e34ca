"""Kubernetes Events about experiments (``kubectl describe tuneexperiment`` shows them), best effort.

As in client-go's recorder, an event never fails or slows a reconcile: :meth:`EventPoster.post` only queues it,
and one thread sends the queue. Under load events give way: when the queue is full, or the events' own token
bucket is empty (``api.eventQps``), an event is dropped and counted (``kubetune_operator_events_dropped_total``,
by reason); a failure to send one is logged and counted the same way. Names are deterministic per (experiment
uid, generation, reason, message), so a reconcile repeated after a crash does not post the same event twice: the
API server answers 409 and that is the end of it.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Literal

from kubetune.kube.api import TUNE_EXPERIMENTS, KubeAPI, Throttled
from kubetune.kube.bodies import Body
from kubetune_operator.errors import APIConflictError, APIError

log = logging.getLogger("kubetune_operator.events")

COMPONENT = "kubetune-operator"
#: Why events were dropped: the queue was full, the events' rate was used up, or the API refused or failed.
DROP_REASONS = ("queue_full", "throttled", "failed")


class EventPoster:
    def __init__(self, *, api: KubeAPI, now: Callable[[], str], capacity: int = 1000) -> None:
        self._api = api
        self._now = now
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=capacity)
        self._lock = threading.Lock()
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._send_all, name="events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (within ``timeout``), then stop."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def dropped(self) -> dict[str, int]:
        with self._lock:
            return dict(self._dropped)

    def post(self, experiment: Body, *, type: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        """Queue an event about ``experiment``; without a sender thread (not started) it is sent at once."""
        body = self._event(experiment, type=type, reason=reason, message=message)
        if self._thread is None:
            self._send(body)
            return
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self._drop("queue_full")

    def _event(self, experiment: Body, *, type: str, reason: str, message: str) -> dict[str, Any]:
        meta = experiment.get("metadata") or {}
        namespace, name, uid = meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", "")
        digest = hashlib.sha256(f"{uid}/{meta.get('generation')}/{reason}/{message}".encode()).hexdigest()[:16]
        now = self._now()
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{digest}", "namespace": namespace},
            "involvedObject": {"apiVersion": TUNE_EXPERIMENTS.api_version, "kind": TUNE_EXPERIMENTS.kind,
                               "name": name, "namespace": namespace, "uid": uid,
                               "resourceVersion": meta.get("resourceVersion", "")},
            "type": type, "reason": reason, "message": message[:1024],
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }  # fmt: skip

    def _send_all(self) -> None:
        while (body := self._queue.get()) is not None:
            self._send(body)

    def _send(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        try:
            self._api.create_event(namespace=meta["namespace"], body=body)
        except APIConflictError:
            pass  # posted before (a repeated reconcile)
        except Throttled:
            self._drop("throttled")
        except APIError as e:
            self._drop("failed")
            log.warning("could not post event %s for %s: %s", body["reason"], meta["name"], e)

    def _drop(self, reason: str) -> None:
        with self._lock:
            self._dropped[reason] += 1
