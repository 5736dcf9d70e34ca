"""MNIST for the reference job: the real IDX files when present, a loud stand-in when not.

Why not torchvision: it pins an exact torch build and cannot be installed beside the project's torch, and
all we need from it is a 30-line IDX parser plus two normalisation constants.

Lookup order (:func:`load_mnist`):

1. The four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
   ``t10k-labels-idx1-ubyte``, each raw or ``.gz``) in ``data_dir``, which defaults to
   ``$KUBETUNE_DATA_DIR`` and then ``~/data/mnist``. A corrupt file raises :class:`IdxFormatError` naming
   it: silently training on something else would make every number of the sweep meaningless.
2. If any is missing and ``download`` is true: the missing ``.gz`` files from the usual mirrors, each with a
   short timeout, written to a temporary name, checked (MD5 and a full parse) and only then renamed into
   place, so an offline or flaky node fails fast and never leaves a partial file behind.
3. Otherwise scikit-learn's bundled 8x8 digits, upsampled to 28x28 and logged as a WARNING: the job still
   runs (useful on air-gapped clusters and in CI), but nobody mistakes its accuracies for MNIST accuracies.

Images are kept as ``uint8`` ``(N, 1, 28, 28)`` tensors (47 MB for the MNIST training set instead of 188 MB as
float32, per trial process) and normalised per batch with :func:`normalize`, as torchvision's transforms do.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import logging
import math
import os
import tempfile
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from jobs.locations import local_data_dir

logger = logging.getLogger(__name__)

# Environment variable naming the directory that holds (or receives) the IDX files.
DATA_DIR_ENV = "KUBETUNE_DATA_DIR"
# Used when neither an explicit directory nor the environment variable is given.
DEFAULT_DATA_DIR = Path("~/data/mnist")

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

# MD5 of the canonical gzipped files, as torchvision and TensorFlow publish them.
MNIST_MD5: Mapping[str, str] = {
    f"{TRAIN_IMAGES}.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    f"{TRAIN_LABELS}.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    f"{TEST_IMAGES}.gz": "9fb629c4189551a2d022fa330f9573f3",
    f"{TEST_LABELS}.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Tried in order. yann.lecun.com is left out: it answers 403 to scripts.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# Seconds per connect/read: enough for a healthy mirror, short enough that an offline node moves on at once.
DOWNLOAD_TIMEOUT_S = 5.0

# torchvision's MNIST normalisation, `transforms.Normalize((0.1307,), (0.3081,))`.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
IMAGE_SIZE = 28
NUM_CLASSES = 10

SOURCE_IDX = "mnist-idx"
SOURCE_DIGITS = "sklearn-digits"

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


class DownloadError(OSError):
    """No mirror delivered the MNIST files; the message lists every URL tried and why it failed."""


@dataclass(frozen=True)
class MnistData:
    """Both splits, as ``uint8`` images ``(N, 1, 28, 28)`` and ``int64`` labels ``(N,)``.

    ``source`` is :data:`SOURCE_IDX` or :data:`SOURCE_DIGITS`; trials record it in their checkpoints so a
    result can always be traced back to the data it was measured on.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str


def default_data_dir() -> Path:
    """``$KUBETUNE_DATA_DIR`` if set and non-empty, else ``~/data/mnist``; absolute, ``~`` expanded."""
    return resolve_data_dir(None)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """``data_dir`` made absolute, or :func:`default_data_dir` when it is ``None``."""
    return local_data_dir(data_dir, env=DATA_DIR_ENV, default=DEFAULT_DATA_DIR)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` images ``(N, 1, 28, 28)`` or ``(N, 28, 28)`` -> normalised ``float32`` ``(N, 1, 28, 28)``.

    The same arithmetic as torchvision's ``ToTensor()`` followed by ``Normalize((0.1307,), (0.3081,))``.
    """
    x = images.to(torch.float32) / 255.0
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return (x - MNIST_MEAN) / MNIST_STD


def read_idx(path: str | os.PathLike[str], *, gzipped: bool | None = None) -> np.ndarray:
    """Parse one IDX file into a native-endian numpy array.

    ``gzipped=None`` decides by the name (``.gz``); downloads pass ``True`` for their temporary ``.part``
    name. The format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of
    dimensions, then one big-endian ``uint32`` per dimension, then the data, big-endian, row-major. Every
    way a file can disagree with its own header (bad magic, unknown type, truncated header or data, trailing
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
    # astype copies into a writable, native-endian array: torch.from_numpy warns on read-only buffers.
    return np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx_files(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Which of the four files exist (raw preferred: no decompression) and which are missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in IDX_FILES:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            missing.append(name)
    return found, missing


def _read_split(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as tensors, checked against what MNIST must look like (the model needs 28x28 inputs)."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise IdxFormatError(
            f"{images_path}: expected uint8 images of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IdxFormatError(f"{labels_path}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}")
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        raise IdxFormatError(f"{labels_path}: label {int(labels.max())} is not a digit 0-9")
    if len(images) != len(labels):
        raise IdxFormatError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _fetch(url: str, target: Path, *, md5: str | None, timeout_s: float) -> None:
    """Download ``url`` to ``target`` atomically: a hidden temporary file, verified, then renamed.

    Whatever goes wrong (timeout, reset, short body, wrong checksum, not IDX), the temporary file is removed.
    """
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if md5 is not None and digest.hexdigest() != md5:
            raise ValueError(f"MD5 {digest.hexdigest()} does not match the published {md5}")
        read_idx(tmp, gzipped=True)  # without a published MD5, only a full parse proves the body is whole
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def download_mnist(
    data_dir: str | os.PathLike[str] | None,
    *,
    mirrors: Sequence[str] = MIRRORS,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
    checksums: Mapping[str, str] = MNIST_MD5,
) -> Path:
    """Fetch whichever of the four ``.gz`` files ``data_dir`` lacks; return the directory.

    Each file is tried on every mirror in order. As soon as one file fails on all of them the whole download
    gives up with :class:`DownloadError`, so an offline node costs one quick failure per mirror, not per file.
    Files that did arrive are complete and verified, and are kept for next time. ``checksums`` maps ``.gz``
    names to MD5s; a name without an entry is only checked by parsing it.
    """
    directory = resolve_data_dir(data_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create {directory} for the MNIST files: {e}") from e
    _, missing = _find_idx_files(directory)
    for name in missing:
        gz_name = f"{name}.gz"
        failures: list[str] = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + gz_name
            try:
                _fetch(url, directory / gz_name, md5=checksums.get(gz_name), timeout_s=timeout_s)
            except (OSError, ValueError, http.client.HTTPException) as e:
                failures.append(f"{url}: {e}")
                continue
            logger.info("downloaded %s into %s", url, directory)
            break
        else:
            raise DownloadError(f"could not download {gz_name}: " + "; ".join(failures or ["no mirrors given"]))
    return directory


def load_digits_fallback(*, test_fraction: float = 0.2, seed: int = 0) -> MnistData:
    """scikit-learn's 1797 bundled 8x8 digits dressed as MNIST: 28x28 ``uint8``, split with a fixed seed.

    The 0-16 intensities are scaled to 0-255 and bilinearly upsampled, so :func:`normalize` and the ConvNet
    work unchanged. The fixed seed keeps the split identical in every trial, so trials stay comparable.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.from_numpy(digits.images.astype(np.float32)).unsqueeze(1) / 16.0
    large = F.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    images = (large.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(labels) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return MnistData(
        train_images=images[train],
        train_labels=labels[train],
        test_images=images[test],
        test_labels=labels[test],
        source=SOURCE_DIGITS,
    )


def load_mnist(
    data_dir: str | os.PathLike[str] | None,
    *,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
) -> MnistData:
    """MNIST from ``data_dir`` (downloading missing files if ``download``), else the digits fallback.

    ``data_dir=None`` means :func:`default_data_dir`. Corrupt IDX files raise :class:`IdxFormatError` rather
    than falling back: a broken dataset is an error to fix, not a reason to quietly train on something else.
    """
    directory = resolve_data_dir(data_dir)
    found, missing = _find_idx_files(directory)
    reason = "download disabled"
    if missing and download:
        try:
            download_mnist(directory, mirrors=mirrors)
        except DownloadError as e:
            reason = f"download failed: {e}"
        found, missing = _find_idx_files(directory)
    if not missing:
        train_images, train_labels = _read_split(found[TRAIN_IMAGES], found[TRAIN_LABELS])
        test_images, test_labels = _read_split(found[TEST_IMAGES], found[TEST_LABELS])
        return MnistData(train_images, train_labels, test_images, test_labels, source=SOURCE_IDX)
    logger.warning(
        "MNIST IDX files %s not found in %s (%s). FALLING BACK to scikit-learn's 8x8 digits upsampled to "
        "28x28: accuracies from this run are NOT MNIST accuracies. Put the IDX files there or set %s.",
        ", ".join(missing),
        directory,
        reason,
        DATA_DIR_ENV,
    )
    return load_digits_fallback()
