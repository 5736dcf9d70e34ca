"""Leader election on a ``coordination.k8s.io/v1`` Lease, client-go's algorithm in small.

Every replica runs a :class:`LeaderElector`. The Lease in the operator's namespace names its holder and when it
last renewed; a replica may take the Lease when it has no holder, or when the holder's record has not changed for
``leaseDurationSeconds`` *as measured by the replica's own clock* (clocks of different nodes are never compared:
a replica notes when it first saw the record it reads, as client-go does). Writes carry the resourceVersion they
read, so of two replicas racing for an expired Lease exactly one wins (the other gets 409).

The leader renews every ``retryPeriodSeconds``; if it cannot renew for ``renewDeadlineSeconds``, or it reads the
Lease held by someone else, it stops leading (:attr:`on_stopped_leading`; the operator then exits, and Kubernetes
restarts it as a follower) before the Lease expires for the others, so two replicas never reconcile at once. A
leader that stops gracefully releases the Lease (no holder, duration 1 s), and another replica takes over at its
next try instead of waiting out the lease.

The leader also writes where it takes ingest (annotation :data:`URL_ANNOTATION`), so followers can forward trial
results to it (:attr:`leader_url`).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubetune.kube.api import LEASES, KubeAPI
from kubetune_operator.errors import APIConflictError, APIError, APINotFoundError
from kubetune_operator.settings import LeaderSettings

log = logging.getLogger("kubetune_operator.leader")

#: Annotation on the Lease: the URL the leader takes ingest on.
URL_ANNOTATION = "kubetune.io/leader-url"


def micro_time(when: datetime.datetime | None = None) -> str:
    """A Kubernetes ``MicroTime`` (RFC 3339 with microseconds)."""
    when = when or datetime.datetime.now(tz=datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self, *, api: KubeAPI, namespace: str, settings: LeaderSettings, identity: str, url: str,
        on_started_leading: Callable[[], None], on_stopped_leading: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._api = api
        self.namespace, self.name = namespace, settings.lease_name
        self.identity, self.url = identity, url
        self._duration = settings.lease_duration_seconds
        self._deadline = settings.renew_deadline_seconds
        self._retry = settings.retry_period_seconds
        self._on_started, self._on_stopped = on_started_leading, on_stopped_leading
        self._clock = clock
        self._stopping = threading.Event()
        self._leading = threading.Event()
        self._lock = threading.Lock()
        #: The holder's record as last read (holder, renewTime) and when this replica first saw it.
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self._leader_url: str | None = None
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)

    # -- public ------------------------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    @property
    def leader_url(self) -> str | None:
        """Where the current leader takes ingest (None while no leader is known)."""
        with self._lock:
            return self.url if self.leading else self._leader_url

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, release: bool = True) -> None:
        """Stop electing; a leader releases its Lease (``release=False``: as a crash would, it just lapses)."""
        self._stopping.set()
        self._thread.join(timeout=self._retry + 5)
        if release and self._leading.is_set():
            self._release()
        self._leading.clear()

    # -- the loop ----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():  # acquire
            if self._try_acquire_or_renew():
                break
            self._stopping.wait(self._retry)
        else:
            return
        self._leading.set()
        log.info("leading", extra={"lease": f"{self.namespace}/{self.name}", "identity": self.identity})
        self._on_started()
        renewed = self._clock()
        while not self._stopping.wait(self._retry):  # renew
            if self._try_acquire_or_renew():
                renewed = self._clock()
                continue
            holder = self._observed[0] if self._observed else ""  # as the last read found it
            taken = holder not in ("", self.identity)
            if taken or self._clock() - renewed >= self._deadline:
                why = f"taken by {holder}" if taken else f"not renewed for {self._deadline:.0f}s"
                log.error("lost the lease: %s", why, extra={"lease": f"{self.namespace}/{self.name}"})
                self._leading.clear()
                self._on_stopped()
                return

    def _try_acquire_or_renew(self) -> bool:
        try:
            lease = self._api.get(LEASES, namespace=self.namespace, name=self.name, limited=False)
        except APINotFoundError:
            return self._create()
        except APIError as e:
            log.warning("reading the lease failed: %s", e)
            return False
        spec: dict[str, Any] = lease.get("spec") or {}
        holder, renew_time = str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or "")
        now = self._clock()
        with self._lock:
            if self._observed != (holder, renew_time):
                self._observed, self._observed_at = (holder, renew_time), now
            annotations = (lease.get("metadata") or {}).get("annotations") or {}
            self._leader_url = annotations.get(URL_ANNOTATION) if holder else None
            held_by_other = holder not in ("", self.identity)
            duration = float(spec.get("leaseDurationSeconds") or self._duration)
            if held_by_other and now < self._observed_at + duration:
                return False
        stamp = micro_time()
        taking_over = holder != self.identity
        lease["spec"] = {
            **spec, "holderIdentity": self.identity, "leaseDurationSeconds": int(self._duration),
            "renewTime": stamp, "acquireTime": stamp if taking_over else spec.get("acquireTime", stamp),
            "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if taking_over and holder else 0),
        }  # fmt: skip
        lease.setdefault("metadata", {}).setdefault("annotations", {})[URL_ANNOTATION] = self.url
        try:
            self._api.replace(LEASES, namespace=self.namespace, name=self.name, body=lease, limited=False)
        except APIError as e:
            if not isinstance(e, APIConflictError):
                log.warning("writing the lease failed: %s", e)
            return False
        with self._lock:
            self._observed, self._observed_at = (self.identity, stamp), self._clock()
        return True

    def _create(self) -> bool:
        stamp = micro_time()
        body = {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace,
                         "annotations": {URL_ANNOTATION: self.url}},
            "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": int(self._duration),
                     "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0},
        }  # fmt: skip
        try:
            self._api.create(LEASES, namespace=self.namespace, body=body, limited=False)
        except APIError as e:
            if not isinstance(e, APIConflictError):
                log.warning("creating the lease failed: %s", e)
            return False
        return True

    def _release(self) -> None:
        """Give the Lease up (no holder, 1 s), so another replica takes over at its next try."""
        try:
            lease = self._api.get(LEASES, namespace=self.namespace, name=self.name, limited=False)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            lease["spec"] = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": micro_time()}
            self._api.replace(LEASES, namespace=self.namespace, name=self.name, body=lease, limited=False)
            log.info("released the lease", extra={"lease": f"{self.namespace}/{self.name}"})
        except APIError as e:
            log.warning("releasing the lease failed (it lapses in %.0fs): %s", self._duration, e)
