"""CIFAR-10 batch files written the way the originals are: Python 2 ``cPickle`` at protocol 2, numpy 1.x names.

The files at https://www.cs.toronto.edu/~kriz/cifar.html were pickled by Python 2, so their dict keys and the
arrays' raw bytes are Python 2 ``str`` (``SHORT_BINSTRING``/``BINSTRING`` opcodes, which Python 3 reads back as
``bytes`` with ``encoding="bytes"``), and numpy's reconstructor is named ``numpy.core.multiarray._reconstruct``.
Python 3's pickler writes neither, so :class:`_Py2Pickler` does: the loader is tested against the byte format
it will meet, not against whatever today's ``pickle.dumps`` happens to produce.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

TRAIN_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_BATCH = "test_batch"


class _Py2Pickler(pickle._Pickler):
    """The pure-Python pickler, writing ``str`` and ``bytes`` as Python 2 byte strings."""

    dispatch: ClassVar[dict[type, Any]] = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: str | bytes) -> None:
        raw = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)  # type: ignore[attr-defined]
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)  # type: ignore[attr-defined]
        self.memoize(obj)  # type: ignore[attr-defined]

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    """``obj`` pickled as Python 2 with numpy 1.x pickled it (protocol 2, ``numpy.core.multiarray``)."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    # GLOBAL opcodes are newline-terminated text, so renaming the module keeps the stream valid.
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def synthetic_cifar(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` learnable 32x32 RGB images ``(n, 3072)`` and labels: an 8x8 block whose position and colour channel
    encode the label, on faint noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    images = rng.integers(0, 40, size=(n, 3, 32, 32)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = (int(label) // 5) * 16 + 4, (int(label) % 5) * 6 + 1
        images[i, int(label) % 3, row : row + 8, col : col + 8] = 255
    return images.reshape(n, -1), labels


def write_batch(path: Path, data: np.ndarray, labels: Any, *, label: str = "training batch") -> Path:
    """One batch file holding what the originals hold: ``batch_label``, ``labels`` (a list), ``data``, ``filenames``."""
    batch = {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": data,
        b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(data))],
    }
    path.write_bytes(py2_pickle(batch))
    return path


def make_cifar_dir(directory: Path, *, n_per_batch: int = 60, n_test: int = 50) -> Path:
    """Write the six batch files of a small synthetic CIFAR-10 into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(TRAIN_BATCHES, start=1):
        data, labels = synthetic_cifar(n_per_batch, seed=i)
        write_batch(directory / name, data, labels, label=f"training batch {i} of 5")
    data, labels = synthetic_cifar(n_test, seed=99)
    write_batch(directory / TEST_BATCH, data, labels, label="testing batch 1 of 1")
    return directory
