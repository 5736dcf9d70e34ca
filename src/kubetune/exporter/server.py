"""The exporter: ingest, ``/metrics`` and ``/healthz`` over one store and one injected registry.

The pieces live in their own modules: the HTTP server, its route table and its bounds
(:mod:`kubetune.exporter.serving`), the ingest route and its counters (:mod:`kubetune.exporter.ingesting`), the
store (:mod:`kubetune.exporter.store`) and its Prometheus view (:mod:`kubetune.exporter.collector`). Routes live in
a table (:meth:`Exporter.add_route`), so the operator can host the same exporter and add ``/readyz``.
``/metrics`` negotiates the text format or OpenMetrics from ``Accept`` (:func:`kubetune.exporter.collector.encode`).
"""

from __future__ import annotations

import logging
from types import TracebackType

from prometheus_client.registry import CollectorRegistry

from kubetune.exporter.collector import TrialCollector, encode
from kubetune.exporter.ingesting import Authorize, IngestRoute, IngestStats
from kubetune.exporter.routing import HttpError, Request, Response, Route, Router
from kubetune.exporter.serving import HttpServer
from kubetune.exporter.settings import DEFAULT_MAX_BODY_BYTES, ConnectionLimits
from kubetune.exporter.store import ExperimentStore
from kubetune.reporting.wire import INGEST_PATH

__all__ = ["INGEST_PATH", "Authorize", "Exporter", "HttpError", "IngestStats", "Request", "Response", "Route"]

log = logging.getLogger("kubetune.exporter")


class Exporter:
    """The exporter's HTTP server around an :class:`ExperimentStore` and an injected registry.

    With ``collect_store`` (default) it registers a :class:`TrialCollector` for ``store`` on ``registry``;
    it always registers its :class:`IngestStats`. ``token`` is good for every batch; ``authorize(token,
    namespace=, name=)``, when given, may accept other tokens for some experiments. ``connections`` bounds
    concurrent connections and request time. The socket is bound by :meth:`start`; ``port=0`` picks a free port,
    read back from :attr:`port`/:attr:`url`.
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
        connections: ConnectionLimits | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.stats = IngestStats()
        ingest = IngestRoute(
            store=store, stats=self.stats, token=token, max_body_bytes=max_body_bytes, authorize=authorize
        )
        #: The ingest route itself, for a host that routes ingest elsewhere at times (the operator's followers).
        self.ingest: Route = ingest
        self._router = Router()
        self._http = HttpServer(router=self._router, host=host, port=port, limits=connections or ConnectionLimits())
        if collect_store:
            registry.register(TrialCollector(store))
        registry.register(self.stats)
        self.add_route("POST", INGEST_PATH, ingest)
        self.add_route("GET", "/metrics", self._metrics)
        self.add_route("GET", "/healthz", lambda _: Response(200, b"ok\n"))

    def add_route(self, method: str, path: str, route: Route) -> None:
        """Serve ``method path`` with ``route`` (replacing an existing one); safe while running."""
        self._router.add(method, path, route)

    def handle(self, request: Request) -> Response:
        """Route one request (what the server does for each); raises only ``ConnectionError``."""
        return self._router.handle(request)

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> None:
        """Bind and serve in a daemon thread; returns once the socket accepts connections."""
        self._http.start()
        log.info("exporter listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent. Open connections end within their deadlines."""
        self._http.stop()

    def __enter__(self) -> Exporter:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _metrics(self, request: Request) -> Response:
        body, content_type = encode(self.registry, request.headers.get("Accept") or "")
        return Response(200, body, content_type)
