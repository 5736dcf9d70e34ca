"""Small pieces the operator is built from: the API rate limits, its identity in the Lease, the exporter's token
hook, the clock of status timestamps."""

from __future__ import annotations

import datetime
import os
import socket

from kubetune.kube.api import Limits, RateLimiter
from kubetune_operator.settings import ApiSettings


def utc_now() -> str:
    return datetime.datetime.now(tz=datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def limits(api: ApiSettings) -> Limits:
    """One token bucket per kind of request (:class:`kubetune.kube.api.Limits`)."""
    return Limits(
        reads=RateLimiter(qps=api.qps, burst=api.burst),
        creates=RateLimiter(qps=api.create_qps, burst=api.create_burst),
        statuses=RateLimiter(qps=api.status_qps, burst=api.status_burst),
        events=RateLimiter(qps=api.event_qps, burst=api.event_burst),
    )


def own_identity() -> str:
    """This replica's name in the Lease: the pod's name when it runs in one."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"
