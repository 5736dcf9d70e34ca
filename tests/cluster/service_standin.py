"""A stand-in for a Kubernetes Service (kube-proxy plus the endpoints controller), for tests that run several
operator replicas as local processes.

One local port; each HTTP request goes to a backend picked at random among those whose ``/readyz`` answered 200
at the last look (looked at every ``poll_seconds``, as endpoints follow readiness a little late), and its answer
comes back as it was. No ready backend: 503 (a Service without endpoints refuses the connection; the callers
under test retry either way). It is the only simulated part of those tests, and it knows nothing of kubetune.
"""

from __future__ import annotations

import contextlib
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Headers not passed on (hop-by-hop, or set by the client library again).
_SKIPPED = {"host", "connection", "content-length", "transfer-encoding", "keep-alive"}


class ServiceStandIn:
    def __init__(self, backends: Sequence[str], *, poll_seconds: float = 0.2) -> None:
        self.backends = list(backends)
        self._poll = poll_seconds
        self._ready: list[str] = []
        self._stop = threading.Event()
        self.forwarded: dict[str, int] = dict.fromkeys(self.backends, 0)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._relay(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer._relay(self, self.rfile.read(length))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._threads = [threading.Thread(target=self._server.serve_forever, daemon=True),
                         threading.Thread(target=self._watch_endpoints, daemon=True)]  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ServiceStandIn:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _watch_endpoints(self) -> None:
        while not self._stop.is_set():
            ready = []
            for backend in self.backends:
                with contextlib.suppress(OSError), urllib.request.urlopen(f"{backend}/readyz", timeout=0.5) as answer:
                    if answer.status == 200:
                        ready.append(backend)
            self._ready = ready
            self._stop.wait(self._poll)

    def _relay(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> None:
        ready = list(self._ready)
        if not ready:
            self._answer(handler, 503, b'{"error":"no endpoints"}', "application/json")
            return
        backend = random.choice(ready)
        self.forwarded[backend] += 1
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _SKIPPED}
        request = urllib.request.Request(backend + handler.path, data=body, headers=headers, method=handler.command)
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                self._answer(handler, answer.status, answer.read(), answer.headers.get("Content-Type"))
        except urllib.error.HTTPError as e:
            with e:
                self._answer(handler, e.code, e.read(), e.headers.get("Content-Type"))
        except OSError:
            handler.close_connection = True  # the backend died under the request: the connection breaks
            with contextlib.suppress(OSError):
                handler.connection.close()

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str | None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type or "application/octet-stream")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
