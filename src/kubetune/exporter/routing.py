"""Requests, responses and the route table of the exporter's HTTP server (:mod:`kubetune.exporter.serving`).

A route raises :class:`HttpError` to answer with a one-line JSON error; an unknown path is 404, a known path with
another method 405 (with ``Allow``); any other exception is a 500 with the traceback logged. A request's body is
read on demand (:meth:`Request.read_body`), so a route can refuse it unread, or after a bounded prefix
(:meth:`Request.read_prefix`); every read ends at the request's deadline (408) and a body cut short is a 400.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

__all__ = ["HttpError", "Request", "Response", "Route", "Router"]

log = logging.getLogger("kubetune.exporter")

_JSON = "application/json"


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
    """What a route sees. The body is read on demand, so a route can refuse it unread (or after a prefix)."""

    method: str
    path: str
    query: str
    headers: Message
    _rfile: io.BufferedIOBase
    _body: bytes | None = None
    _prefix: bytes = b""
    #: Set when the connection cannot carry another request (a body cut short or too slow).
    close_connection: bool = False

    @property
    def body_read(self) -> bool:
        return self._body is not None

    def read_prefix(self, max_bytes: int, *, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body (checked against ``max_bytes`` like :meth:`read_body`); the rest
        stays unread until :meth:`read_body`."""
        if self._body is not None:
            return self._body[:limit]
        length = self._declared_length(max_bytes)
        if len(self._prefix) < min(limit, length):
            self._prefix += self._read(min(limit, length) - len(self._prefix), of=length)
        return self._prefix

    def read_body(self, max_bytes: int) -> bytes:
        """The body, at most ``max_bytes`` (411 without Content-Length, 413 above the cap, both unread; 408 when
        it does not arrive in time, 400 when the client ends it early)."""
        if self._body is not None:
            return self._body
        length = self._declared_length(max_bytes)
        self._body = self._prefix + self._read(length - len(self._prefix), of=length)
        self._prefix = b""
        return self._body

    def _declared_length(self, max_bytes: int) -> int:
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
        return length

    def _read(self, n: int, *, of: int) -> bytes:
        try:
            data = self._rfile.read(n)
        except TimeoutError:
            self.close_connection = True
            raise HttpError(408, "the request body did not arrive in time") from None
        if len(data) < n:
            self.close_connection = True
            raise HttpError(400, f"the body ended before its Content-Length of {of} bytes")
        return data


#: A route: request in, response out (or :class:`HttpError`).
Route = Callable[[Request], Response]


class Router:
    """``method path`` → route; replacing routes is safe while serving (the table is swapped whole)."""

    def __init__(self) -> None:
        self._routes: dict[str, dict[str, Route]] = {}

    def add(self, method: str, path: str, route: Route) -> None:
        self._routes = {**self._routes, path: {**self._routes.get(path, {}), method.upper(): route}}

    def handle(self, request: Request) -> Response:
        """Route one request. Never raises, except ``ConnectionError`` (the client is gone: nobody to answer)."""
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
        except ConnectionError:
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return Response.json(500, {"error": "internal error"})
