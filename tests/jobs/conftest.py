"""Fixtures for the reference-job tests: real IDX files and a real HTTP mirror (Ray: ``ray_local``, tests/).

The fakes speak the real protocols: IDX files are written byte for byte as the MNIST format defines them
(:mod:`tests.jobs.fixtures_mnist`), and the "mirror" is an HTTP server on 127.0.0.1 that urllib talks to exactly
as it would to S3, so the download code runs unmodified, including its failure paths (connection refused, a body
cut short, a wrong checksum).
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.jobs.fixtures_mnist import make_mnist_dir

# Path under which the fake mirror serves files, like the real mirrors' `/mnist/`.
MIRROR_PREFIX = "/mnist/"


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A directory holding a small synthetic MNIST (256 train, 128 test) as raw IDX files."""
    return make_mnist_dir(tmp_path / "mnist")


@dataclass
class Route:
    """What the mirror answers for one path: ``body``, optionally cut off after ``cut_after`` bytes."""

    body: bytes
    cut_after: int | None = None


@dataclass
class FakeMirror:
    """A real HTTP server on 127.0.0.1 serving ``routes``; ``requests`` records every path asked for."""

    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def serve(self, name: str, body: bytes, *, cut_after: int | None = None) -> None:
        """Serve ``body`` at ``url + name``; ``cut_after`` promises it all but closes after so many bytes."""
        self.routes[f"{MIRROR_PREFIX}{name}"] = Route(body, cut_after)

    def body(self, name: str) -> bytes:
        """What ``serve`` was given for ``name``."""
        return self.routes[f"{MIRROR_PREFIX}{name}"].body


def _handler_for(mirror: FakeMirror) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            mirror.requests.append(self.path)
            route = mirror.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body if route.cut_after is None else route.body[: route.cut_after])
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            del format, args

    return Handler


@pytest.fixture
def mirror() -> Iterator[FakeMirror]:
    """A fake MNIST mirror; its ``url`` ends in ``/`` like the real ones."""
    holder = FakeMirror(url="")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(holder))
    holder.url = f"http://127.0.0.1:{server.server_address[1]}{MIRROR_PREFIX}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def dead_mirror_url() -> str:
    """A URL on a local port nothing listens on: connections are refused at once, as on an offline node."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"
