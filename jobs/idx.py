"""The IDX file format, MNIST's: a parser that checks a file against its own header and names it in every error.

The format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of dimensions, then one
big-endian ``uint32`` per dimension, then the data, big-endian, row-major.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

# IDX type codes (third magic byte) -> big-endian numpy dtypes.
_IDX_DTYPES: Mapping[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


class IdxFormatError(ValueError):
    """An IDX file is unreadable or not what MNIST should be; the message starts with the file's path."""


def read_idx(path: str | os.PathLike[str], *, gzipped: bool | None = None) -> np.ndarray:
    """Parse one IDX file into a native-endian numpy array.

    ``gzipped=None`` decides by the name (``.gz``); downloads pass ``True`` for their temporary ``.part``
    name. Every way a file can disagree with its own header (bad magic, unknown type, truncated header or data, trailing
    bytes, broken gzip) raises :class:`IdxFormatError` naming the file; a missing file raises
    ``FileNotFoundError`` as usual.
    """
    path = Path(path)
    if gzipped is None:
        gzipped = path.suffix == ".gz"
    try:
        if gzipped:
            with gzip.open(path, "rb") as stream:
                raw = stream.read()
        else:
            raw = path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise IdxFormatError(f"{path}: not a readable gzip file ({e})") from e
    return _parse_idx(raw, path)


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    """The IDX parser proper; ``path`` only names the file in errors."""
    if len(raw) < 4:
        raise IdxFormatError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    zero0, zero1, type_code, ndim = raw[:4]
    magic = int.from_bytes(raw[:4], "big")
    if zero0 != 0 or zero1 != 0:
        raise IdxFormatError(
            f"{path}: bad magic number 0x{magic:08x}; an IDX file starts with two zero bytes "
            "(0x00000803 for MNIST images, 0x00000801 for labels)"
        )
    if type_code not in _IDX_DTYPES:
        raise IdxFormatError(f"{path}: unknown IDX type code 0x{type_code:02x} in magic number 0x{magic:08x}")
    if ndim == 0:
        raise IdxFormatError(f"{path}: magic number 0x{magic:08x} declares zero dimensions")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IdxFormatError(f"{path}: header truncated ({len(raw)} bytes, {ndim} dimensions need {header_len})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = math.prod(dims) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        raise IdxFormatError(
            f"{path}: dimensions {dims} of {dtype.itemsize}-byte items need {expected} data bytes, "
            f"the file holds {actual} ({'truncated' if actual < expected else 'trailing bytes'})"
        )
    # astype copies into a writable, native-endian array (torch.from_numpy warns on read-only buffers).
    return np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims).astype(dtype.newbyteorder("="))
