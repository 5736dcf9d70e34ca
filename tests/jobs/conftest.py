"""Fixtures for the reference-job tests: real IDX files and a real HTTP mirror (Ray: ``ray_local``, tests/).

The fakes speak the real protocols: IDX files are written byte for byte as the MNIST format defines them,
and the "mirror" is an HTTP server on 127.0.0.1 that urllib talks to exactly as it would to S3, so the
download code runs unmodified, including its failure paths (connection refused, a body cut short, a wrong
checksum).
"""

from __future__ import annotations

import gzip
import http.server
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

# IDX type codes for the numpy dtypes the tests write.
IDX_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}
# Path under which the fake mirror serves files, like the real mirrors' `/mnist/`.
MIRROR_PREFIX = "/mnist/"
MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` in the IDX format: magic (0, 0, type, ndim), big-endian uint32 dims, big-endian data."""
    header = bytes([0, 0, IDX_TYPE_CODES[array.dtype], array.ndim])
    dims = b"".join(struct.pack(">I", d) for d in array.shape)
    return header + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzipped when the name ends in ``.gz``."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def synthetic_mnist(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` learnable 28x28 "digits": a bright 6x6 block whose position encodes the label, on faint noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 30, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = (int(label) // 5) * 12 + 4, (int(label) % 5) * 5 + 1
        images[i, row : row + 6, col : col + 6] = 255
    return images, labels


def make_mnist_dir(directory: Path, *, n_train: int = 256, n_test: int = 128, gzipped: bool = False) -> Path:
    """Write the four MNIST IDX files of a small synthetic dataset into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = synthetic_mnist(n_train, seed=1)
    test_images, test_labels = synthetic_mnist(n_test, seed=2)
    suffix = ".gz" if gzipped else ""
    for name, array in zip(MNIST_NAMES, (train_images, train_labels, test_images, test_labels), strict=True):
        write_idx(directory / f"{name}{suffix}", array)
    return directory


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A directory holding a small synthetic MNIST (256 train, 128 test) as raw IDX files."""
    return make_mnist_dir(tmp_path / "mnist")


@pytest.fixture(scope="module")
def module_mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same synthetic MNIST, shared by a module's Ray runs (trials read it by absolute path)."""
    return make_mnist_dir(tmp_path_factory.mktemp("mnist"))


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


# Re-exported for tests that build their own files.
IdxWriter = Callable[[Path, np.ndarray], Path]


@pytest.fixture
def idx_writer() -> IdxWriter:
    """:func:`write_idx`, for tests that write IDX files of their own."""
    return write_idx
