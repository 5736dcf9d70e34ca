"""MNIST IDX files written byte for byte as the format defines them: a small learnable synthetic set."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

# IDX type codes for the numpy dtypes the tests write.
IDX_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}
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
