"""``POST /api/v1/ingest``: who may write, what a batch must be, and how requests are counted.

Checks run cheapest-first, and the token is checked before the body is read:

1. **Token** (401). The exporter's own token (compared with ``hmac.compare_digest``) may write any experiment.
   Another bearer token is passed to the ``authorize`` hook with the experiment the request names in its
   ``Kubetune-Experiment`` header (:data:`kubetune.reporting.wire.EXPERIMENT_HEADER`); the hook says whether that
   token may write that experiment (the operator's experiment-scoped tokens). A request without the header is
   judged on the experiment it names first in its body, reading at most
   :data:`~kubetune.reporting.wire.EXPERIMENT_PREFIX_BYTES` of it (what senders before the header wrote).
2. **Content type** (415), **declared length** (411 when missing, 413 over the cap, without reading the body;
   the connection is then closed), **body** (408 when it does not arrive in time).
3. **JSON and schema** (400, naming the first bad field). Every number must be exact in a double and finite
   (:mod:`kubetune.reporting.wire`), so no accepted batch can make ``/metrics`` or a status patch invalid.
4. **Scope** (400): the batch must be for the experiment the request named (header or body prefix). Together
   with 1, a token can change nothing outside the experiment it is good for; deduplication is per experiment
   and sender (:mod:`kubetune.exporter.store`).

Nothing changes in the store unless the whole batch is valid.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections.abc import Iterator
from typing import Protocol

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import ValidationError

from kubetune.exporter.routing import HttpError, Request, Response
from kubetune.exporter.settings import INGEST_CODES
from kubetune.exporter.store import ExperimentKey, ExperimentStore
from kubetune.reporting.wire import (
    CONTENT_TYPE,
    EXPERIMENT_HEADER,
    EXPERIMENT_PREFIX_BYTES,
    Batch,
    ExperimentRef,
    parse_experiment_header,
)

__all__ = ["Authorize", "IngestRoute", "IngestStats"]

_DISCRIMINATORS = frozenset({"trial", "result", "experiment"})
_EXPERIMENT_FIRST = re.compile(r'\s*\{\s*"experiment"\s*:\s*')


class Authorize(Protocol):
    """Whether a bearer token (other than the exporter's own) may write experiment ``namespace/name``.

    Called before the body is read; must compare in constant time.
    """

    def __call__(self, token: bytes, *, namespace: str, name: str) -> bool: ...


class IngestStats(Collector):
    """``kubetune_ingest_requests_total{code}`` and ``kubetune_ingest_events_total``; thread-safe.

    ``code`` only takes the values of :data:`INGEST_CODES` (all exported from the start, zeros included), so
    the series count is fixed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = dict.fromkeys(INGEST_CODES, 0)
        self._events = 0

    def count(self, status: int, events: int = 0) -> None:
        code = str(status) if str(status) in self._requests else "500"
        with self._lock:
            self._requests[code] += 1
            self._events += events

    def describe(self) -> Iterator[Metric]:
        return self._families({}, 0)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            requests, events = dict(self._requests), self._events
        return self._families(requests, events)

    @staticmethod
    def _families(requests: dict[str, int], events: int) -> Iterator[Metric]:
        by_code = CounterMetricFamily(
            "kubetune_ingest_requests_total", "Ingest requests by HTTP status code.", labels=["code"]
        )
        for code, n in requests.items():
            by_code.add_metric([code], n)
        yield by_code
        yield CounterMetricFamily(
            "kubetune_ingest_events_total",
            "Events accepted into the store (duplicates excluded).",
            value=events,
        )


class IngestRoute:
    """The ingest route over ``store``: ``token`` writes anything, ``authorize`` may allow other tokens."""

    def __init__(
        self,
        *,
        store: ExperimentStore,
        stats: IngestStats,
        token: str,
        max_body_bytes: int,
        authorize: Authorize | None = None,
    ) -> None:
        if not token:
            raise ValueError("an ingest token is required")
        self._store = store
        self._stats = stats
        self._token = token.encode()
        self._max_body_bytes = max_body_bytes
        self._authorize = authorize

    def __call__(self, request: Request) -> Response:
        try:
            response, events = self._ingest(request)
        except HttpError as exc:
            self._stats.count(exc.status)
            raise
        except ConnectionError:  # the client is gone: nobody to answer, nothing to count
            raise
        except Exception:
            self._stats.count(500)
            raise
        self._stats.count(200, events)
        return response

    def _ingest(self, request: Request) -> tuple[Response, int]:
        token = self._bearer(request)
        named = _named(request)
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != CONTENT_TYPE:
            raise HttpError(415, f"Content-Type must be {CONTENT_TYPE}")
        if token is not None:  # a scoped token: judged on the experiment named before the body
            if named is None:
                named = self._named_in_prefix(request)
            assert self._authorize is not None  # _bearer lets other tokens through only with a hook
            if not self._authorize(token, namespace=named[0], name=named[1]):
                raise _unauthorized(invalid=True)
        body = request.read_body(self._max_body_bytes)
        try:
            batch = Batch.model_validate_json(body)
        except ValidationError as exc:
            raise HttpError(400, _describe(exc)) from None
        key = (batch.experiment.namespace, batch.experiment.name)
        if named is not None and key != named:
            raise HttpError(400, f"the batch is for {key[0]}/{key[1]}, the request named {named[0]}/{named[1]}")
        outcome = self._store.ingest(batch)
        if outcome.duplicate:
            return Response.json(200, {"accepted": 0, "duplicate": True}), 0
        return Response.json(200, {"accepted": outcome.accepted}), outcome.accepted

    def _bearer(self, request: Request) -> bytes | None:
        """None for the exporter's own token; another bearer token when ``authorize`` may judge it; else 401."""
        scheme, _, credentials = (request.headers.get("Authorization") or "").partition(" ")
        given = credentials.strip().encode("utf-8", "surrogateescape")
        if scheme.lower() == "bearer":
            if hmac.compare_digest(given, self._token):
                return None
            if self._authorize is not None and given:
                return given
        raise _unauthorized(invalid=bool(scheme))

    def _named_in_prefix(self, request: Request) -> ExperimentKey:
        """Without the header: the experiment the body names first, read from its first few KiB only."""
        prefix = request.read_prefix(self._max_body_bytes, limit=EXPERIMENT_PREFIX_BYTES)
        named = _experiment_in_prefix(prefix)
        if named is None:
            raise HttpError(
                401,
                f"a scoped token needs the {EXPERIMENT_HEADER} header (or the experiment first in the body)",
                headers=_challenge(invalid=True),
            )
        return named


def _named(request: Request) -> ExperimentKey | None:
    value = request.headers.get(EXPERIMENT_HEADER)
    if value is None:
        return None
    named = parse_experiment_header(value)
    if named is None:
        raise HttpError(400, f"{EXPERIMENT_HEADER}: expected <namespace>/<name>")
    return named


def _experiment_in_prefix(prefix: bytes) -> ExperimentKey | None:
    text = prefix.decode("utf-8", "ignore")
    match = _EXPERIMENT_FIRST.match(text)
    if match is None:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text, match.end())
        ref = ExperimentRef.model_validate(value)
    except (ValueError, RecursionError):  # incomplete, malformed or not an experiment (ValidationError too)
        return None
    return (ref.namespace, ref.name)


def _challenge(*, invalid: bool) -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="kubetune"' + (', error="invalid_token"' if invalid else "")}


def _unauthorized(*, invalid: bool) -> HttpError:
    return HttpError(401, "missing or wrong bearer token", headers=_challenge(invalid=invalid))


def _describe(exc: ValidationError) -> str:
    """``events.3.metrics.loss: Input should be a finite number`` (+ how many more errors)."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = list(first["loc"])
    # A discriminated union puts the tag into the location (events.3.result.metrics): drop it.
    if len(loc) >= 3 and loc[0] == "events" and isinstance(loc[1], int) and loc[2] in _DISCRIMINATORS:
        del loc[2]
    where = ".".join(str(part) for part in loc) or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"[:500]
