"""Ingest on a replica that does not lead: forwarded to the leader, which keeps the one trial store.

With several replicas the Service spreads trial results over all of them (every replica is Ready: a readiness
that depended on leading would stall rolling updates). A follower relays each ingest request, body and headers
as they came, to the URL the leader advertises in its Lease, and relays the answer. While no leader is known or
the leader cannot be reached (a failover), it answers 503: the reporting side keeps the batch and retries with
backoff, and sequence numbers make a batch that did reach the leader count once.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable

from kubetune.exporter import HttpError, Request, Response
from kubetune.reporting.wire import CONTENT_TYPE, DEFAULT_MAX_BODY_BYTES, EXPERIMENT_HEADER, INGEST_PATH

log = logging.getLogger("kubetune_operator.forward")

#: Headers relayed to the leader (it checks the token itself).
RELAYED = ("Authorization", "Content-Type", EXPERIMENT_HEADER)


def forward(request: Request, *, leader_url: str | None, timeout: float = 10.0) -> Response:
    """``request`` sent to the leader at ``leader_url``; its answer, or 503 when there is none to give."""
    if not leader_url:
        raise HttpError(503, "no leader yet: retry", headers={"Retry-After": "1"})
    body = request.read_body(DEFAULT_MAX_BODY_BYTES)
    headers = {name: value for name in RELAYED if (value := request.headers.get(name)) is not None}
    headers.setdefault("Content-Type", CONTENT_TYPE)
    relay = urllib.request.Request(leader_url.rstrip("/") + INGEST_PATH, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(relay, timeout=timeout) as answer:
            return _relayed(answer.status, answer.read(), answer.headers.get("Content-Type"))
    except urllib.error.HTTPError as e:
        with e:
            return _relayed(e.code, e.read(), e.headers.get("Content-Type"))
    except (urllib.error.URLError, OSError) as e:
        log.info("the leader at %s cannot be reached: %s", leader_url, e)
        raise HttpError(503, "the leader cannot be reached: retry", headers={"Retry-After": "1"}) from None


def _relayed(status: int, body: bytes, content_type: str | None) -> Response:
    return Response(status, body, content_type or "application/json")


Leader = Callable[[], str | None]
