"""The exporter's HTTP server: authenticated ingest, ``/metrics`` and ``/healthz`` on the standard library.

``http.server.ThreadingHTTPServer`` (daemon threads, HTTP/1.1 keep-alive) is enough here: requests are few
and large (a batch of up to 5,000 events, a scrape), the work per request is Python either way, and it adds
no dependency to the images. Routes live in a table (:meth:`Exporter.add_route`), so the operator can host
the same exporter and add ``/readyz``. A route raises :class:`HttpError` to answer with a one-line JSON
error; an unknown path is 404, a known path with another method 405 (with ``Allow``).

Ingest checks run cheapest-first and before the body is read: token (401, compared with
``hmac.compare_digest``), content type (415), declared length (411 when missing, 413 over the cap, without
reading the body; the connection is then closed), JSON and schema (400, naming the first bad field). Nothing
changes in the store unless the whole batch is valid. With an ``authorize`` hook, a bearer token other than the
exporter's own is not refused at once: it is passed, with the parsed batch, to the hook, which decides whether
that token may write that batch (the operator's experiment-scoped tokens); a refusal is the same 401. Such a
request is read up to the same body cap before it is refused. ``/metrics`` negotiates the text format or OpenMetrics
from ``Accept`` (:func:`kubetune.exporter.collector.encode`). Request logs go to the ``kubetune.exporter``
logger at DEBUG level, never to stdout.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from types import TracebackType
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from pydantic import ValidationError

from kubetune.exporter.collector import TrialCollector, encode
from kubetune.exporter.settings import DEFAULT_MAX_BODY_BYTES, INGEST_CODES
from kubetune.exporter.store import ExperimentStore
from kubetune.reporting.events import Batch

__all__ = ["INGEST_PATH", "Authorize", "Exporter", "HttpError", "IngestStats", "Request", "Response", "Route"]

log = logging.getLogger("kubetune.exporter")

INGEST_PATH = "/api/v1/ingest"
_JSON = "application/json"
_DISCRIMINATORS = frozenset({"trial", "result", "experiment"})


class HttpError(Exception):
    """Raised by a route to answer ``status`` with ``{"error": message}``."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: dict[str, Any], *, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
        return cls(status, body, _JSON, headers or {})


@dataclass(slots=True)
class Request:
    """What a route sees. The body is read on demand, so a route can refuse it unread."""

    method: str
    path: str
    query: str
    headers: Message
    _rfile: BufferedIOBase
    _body: bytes | None = None

    @property
    def body_read(self) -> bool:
        return self._body is not None

    def read_body(self, max_bytes: int) -> bytes:
        """The body, at most ``max_bytes`` (411 without Content-Length, 413 above the cap, both unread)."""
        if self._body is not None:
            return self._body
        declared = self.headers.get("Content-Length")
        if declared is None:
            raise HttpError(411, "Content-Length required")
        try:
            length = int(declared)
        except ValueError:
            raise HttpError(400, "Content-Length: not an integer") from None
        if length < 0:
            raise HttpError(400, "Content-Length: negative")
        if length > max_bytes:
            raise HttpError(413, f"body of {length} bytes exceeds the limit of {max_bytes}")
        self._body = self._rfile.read(length)
        return self._body


#: A route: request in, response out (or :class:`HttpError`).
Route = Callable[[Request], Response]
#: Whether a bearer token (other than the exporter's own) may write a batch; must compare in constant time.
Authorize = Callable[[bytes, Batch], bool]


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


class Exporter:
    """The exporter's HTTP server around an :class:`ExperimentStore` and an injected registry.

    With ``collect_store`` (default) it registers a :class:`TrialCollector` for ``store`` on ``registry``;
    it always registers its :class:`IngestStats`. ``token`` is good for every batch; ``authorize(token, batch)``,
    when given, may accept other tokens for some batches. The socket is bound by :meth:`start`; ``port=0`` picks a
    free port, read back from :attr:`port`/:attr:`url`.
    """

    def __init__(
        self,
        *,
        store: ExperimentStore,
        registry: CollectorRegistry,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        collect_store: bool = True,
        authorize: Authorize | None = None,
    ) -> None:
        if not token:
            raise ValueError("an ingest token is required")
        self.store = store
        self.registry = registry
        self.stats = IngestStats()
        self._token = token.encode()
        self._authorize = authorize
        self._host = host
        self._port = port
        self._max_body_bytes = max_body_bytes
        self._routes: dict[str, dict[str, Route]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if collect_store:
            registry.register(TrialCollector(store))
        registry.register(self.stats)
        self.add_route("POST", INGEST_PATH, self._ingest)
        self.add_route("GET", "/metrics", self._metrics)
        self.add_route("GET", "/healthz", lambda _: Response(200, b"ok\n"))

    def add_route(self, method: str, path: str, route: Route) -> None:
        """Serve ``method path`` with ``route`` (replacing an existing one); safe while running."""
        self._routes = {**self._routes, path: {**self._routes.get(path, {}), method.upper(): route}}

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the exporter is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread; returns once the socket accepts connections."""
        if self._server is not None:
            raise RuntimeError("the exporter is already started")
        server_class = _Server6 if ":" in self._host else _Server
        self._server = server_class((self._host, self._port), _Handler)
        self._server.exporter = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kubetune-exporter",
            daemon=True,
        )
        self._thread.start()
        log.info("exporter listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent. Open keep-alive connections end on their timeout."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Exporter:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- routing ---------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Route one request; never raises."""
        methods = self._routes.get(request.path)
        if methods is None:
            return Response.json(404, {"error": f"no route for {request.path[:200]}"})
        route = methods.get(request.method)
        if route is None:
            allow = ", ".join(sorted(methods))
            return Response.json(405, {"error": f"{request.method} not allowed"}, headers={"Allow": allow})
        try:
            return route(request)
        except HttpError as exc:
            return Response.json(exc.status, {"error": exc.message}, headers=exc.headers)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return Response.json(500, {"error": "internal error"})

    def _ingest(self, request: Request) -> Response:
        try:
            pending = self._authenticate(request)
            content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type != _JSON:
                raise HttpError(415, f"Content-Type must be {_JSON}")
            body = request.read_body(self._max_body_bytes)
            try:
                batch = Batch.model_validate_json(body)
            except ValidationError as exc:
                raise HttpError(400, _describe(exc)) from None
            if pending is not None and not (self._authorize is not None and self._authorize(pending, batch)):
                raise _unauthorized(invalid=True)
            outcome = self.store.ingest(batch)
        except HttpError as exc:
            self.stats.count(exc.status)
            raise
        except Exception:
            self.stats.count(500)
            raise
        self.stats.count(200, outcome.accepted)
        if outcome.duplicate:
            return Response.json(200, {"accepted": 0, "duplicate": True})
        return Response.json(200, {"accepted": outcome.accepted})

    def _authenticate(self, request: Request) -> bytes | None:
        """None for the exporter's own token; a token only ``authorize`` can judge (it needs the batch); 401."""
        scheme, _, credentials = (request.headers.get("Authorization") or "").partition(" ")
        given = credentials.strip().encode("utf-8", "surrogateescape")
        if scheme.lower() == "bearer":
            if hmac.compare_digest(given, self._token):
                return None
            if self._authorize is not None and given:
                return given
        raise _unauthorized(invalid=bool(scheme))

    def _metrics(self, request: Request) -> Response:
        body, content_type = encode(self.registry, request.headers.get("Accept") or "")
        return Response(200, body, content_type)


def _unauthorized(*, invalid: bool) -> HttpError:
    challenge = 'Bearer realm="kubetune"' + (', error="invalid_token"' if invalid else "")
    return HttpError(401, "missing or wrong bearer token", headers={"WWW-Authenticate": challenge})


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    exporter: Exporter

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("connection from %s failed", client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "kubetune-exporter"
    #: Seconds an idle keep-alive connection (or a slow client) may hold a thread.
    timeout = 30
    #: Headers and body are separate writes: without TCP_NODELAY, Nagle + delayed ACK stall keep-alive 40 ms.
    disable_nagle_algorithm = True

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        request = Request(self.command, path, query, self.headers, self.rfile)
        response = self.server.exporter.handle(request)
        has_body = self.headers.get("Content-Length") not in (None, "0") or "Transfer-Encoding" in self.headers
        if has_body and not request.body_read:
            self.close_connection = True  # the unread body would be parsed as the next request
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)
