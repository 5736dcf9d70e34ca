"""The exporter's HTTP/1.1 server on the standard library, with bounded connections and request deadlines.

``http.server.ThreadingHTTPServer`` (a thread per connection, keep-alive) is enough here: requests are few and
large (a batch of up to 5,000 events, a scrape), the work per request is Python either way, and it adds no
dependency to the images. What the standard library leaves open, this module bounds
(:class:`~kubetune.exporter.settings.ConnectionLimits`):

* **Connections.** At most ``max_connections`` are served at once; one more is answered ``503`` with
  ``Retry-After`` from the accepting thread and closed, so no client can make the server start unbounded threads.
* **Time.** A socket timeout alone bounds one read, not a request: a client sending a byte every 29 s would hold
  a thread forever. Here every read waits at most until the request's deadline (``request_timeout_seconds`` from
  its first byte), however often bytes arrive; the response write has the same budget. An idle keep-alive
  connection waits ``idle_timeout_seconds`` for its next request.
* **Clients that go away.** A scrape aborted by Prometheus' timeout or a dropped connection is not an error of
  the server: it is logged at DEBUG level, without a traceback, and only the connection ends.

Requests are routed by a :class:`~kubetune.exporter.routing.Router`. When a route answers without reading the
body, the connection is closed after the answer, and what the client still sends of the body is read and
discarded for a moment (bounded) so that the close does not reset the connection before the client has read the
answer. Request logs go to the ``kubetune.exporter`` logger at DEBUG level, never to stdout.
"""

from __future__ import annotations

import io
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from kubetune.exporter.routing import Request, Router
from kubetune.exporter.settings import ConnectionLimits

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["HttpServer"]

log = logging.getLogger("kubetune.exporter")

#: After an early answer, what of an unread body is read and discarded before closing (bytes, seconds).
_LINGER_BYTES = 4 * 1024 * 1024
_LINGER_SECONDS = 2.0
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 33\r\n"
    b'Retry-After: 1\r\nConnection: close\r\n\r\n{"error":"too many connections"}\n'
)


class HttpServer:
    """Serves a :class:`Router` on ``host:port`` (``port=0``: any free port) within ``limits``."""

    def __init__(self, *, router: Router, host: str, port: int, limits: ConnectionLimits) -> None:
        self._router = router
        self._host = host
        self._port = port
        self._limits = limits
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

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
        self._server.router = self._router
        self._server.limits = self._limits
        self._server.slots = threading.BoundedSemaphore(self._limits.max_connections)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="kubetune-exporter", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and close the socket; idempotent. Open connections end within their deadlines."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    router: Router
    limits: ConnectionLimits
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            log.debug("refused a connection from %s: %d connections open", client_address, self.limits.max_connections)
            try:
                request.setblocking(False)
                request.send(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("connection from %s ended early: %s", client_address, exc.__class__.__name__)
            return
        log.exception("connection from %s failed", client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _DeadlineReader(io.RawIOBase):
    """A connection's input where every read waits at most until ``deadline`` (monotonic seconds), or
    ``idle_timeout`` while no request is under way (``deadline`` None)."""

    def __init__(self, sock: socket.socket, *, idle_timeout: float) -> None:
        self._sock = sock
        self._idle_timeout = idle_timeout
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        if self.deadline is None:
            timeout = self._idle_timeout
        else:
            timeout = self.deadline - time.monotonic()
            if timeout <= 0:
                raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(timeout)
        return self._sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "kubetune-exporter"
    #: Headers and body are separate writes: without TCP_NODELAY, Nagle + delayed ACK stall keep-alive 40 ms.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced: every read goes through the deadline
        self._input = _DeadlineReader(self.connection, idle_timeout=self.server.limits.idle_timeout_seconds)
        self._buffered = io.BufferedReader(self._input)
        self.rfile = self._buffered

    def handle_one_request(self) -> None:
        self._input.deadline = None
        try:
            if not self._buffered.peek(1):  # the client closed an idle connection
                self.close_connection = True
                return
        except (TimeoutError, ConnectionError):
            self.close_connection = True
            return
        self._input.deadline = time.monotonic() + self.server.limits.request_timeout_seconds
        super().handle_one_request()

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        request = Request(self.command, path, query, self.headers, self.rfile)
        response = self.server.router.handle(request)
        has_body = self.headers.get("Content-Length") not in (None, "0") or "Transfer-Encoding" in self.headers
        unread = has_body and not request.body_read and not request.close_connection
        if unread or request.close_connection:
            self.close_connection = True  # an unread body would be parsed as the next request
        self.connection.settimeout(self.server.limits.request_timeout_seconds)  # sendall: for the whole write
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
        if unread:
            self._discard_input()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _discard_input(self) -> None:
        """Read and drop what the client still sends (bounded), so closing does not reset the connection (and
        the answer with it) while the client is still writing a body nobody will read."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self._input.deadline = time.monotonic() + _LINGER_SECONDS
            left = _LINGER_BYTES
            while left > 0:
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    return
                left -= len(chunk)
        except OSError:  # timeouts and resets included: the client had its chance
            return

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)
