"""MNIST for both MNIST jobs (PyTorch and Keras): the real IDX files when present, a loud stand-in when not.

Framework-neutral on purpose: numpy only, so each job's image needs no other framework than its own (the Keras
job's TensorFlow image holds no torch). :mod:`jobs.mnist_torch.data` turns these arrays into torch tensors,
:mod:`jobs.mnist_keras.data` into Keras inputs. Why not torchvision or ``keras.datasets``: torchvision pins an
exact torch build, ``keras.datasets`` downloads from one host without checks, and all either job needs is an
IDX parser (:mod:`jobs.idx`).

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

Images are ``uint8`` ``(N, 28, 28)`` arrays (47 MB for the MNIST training set instead of 188 MB as float32, per
trial process); each job scales and normalises them per batch, as its framework's tutorial does.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jobs.idx import IdxFormatError, read_idx
from jobs.locations import local_data_dir

__all__ = [
    "DATA_DIR_ENV",
    "MIRRORS",
    "SOURCE_DIGITS",
    "SOURCE_IDX",
    "DownloadError",
    "IdxFormatError",
    "MnistSplits",
    "download_mnist",
    "load_digits_fallback",
    "load_mnist",
    "read_idx",
    "resolve_data_dir",
    "upsample",
]

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

IMAGE_SIZE = 28
NUM_CLASSES = 10

SOURCE_IDX = "mnist-idx"
SOURCE_DIGITS = "sklearn-digits"


class DownloadError(OSError):
    """No mirror delivered the MNIST files; the message lists every URL tried and why it failed."""


@dataclass(frozen=True)
class MnistSplits:
    """Both splits, as ``uint8`` images ``(N, 28, 28)`` and ``int64`` labels ``(N,)``.

    ``source`` is :data:`SOURCE_IDX` or :data:`SOURCE_DIGITS`; trials record it in their checkpoints so a
    result can always be traced back to the data it was measured on.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """``data_dir``, else ``$KUBETUNE_DATA_DIR``, else ``~/data/mnist``; absolute (:mod:`jobs.locations`)."""
    return local_data_dir(data_dir, env=DATA_DIR_ENV, default=DEFAULT_DATA_DIR)


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


def _read_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split as arrays, checked against what MNIST must look like (the model needs 28x28 inputs)."""
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
    return images, labels.astype(np.int64)


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


def upsample(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``(N, h, w)`` float images to ``(N, size, size)``.

    The arithmetic of ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``: each output pixel
    samples the input at ``(i + 0.5) * in / out - 0.5``, clamped at the edges.
    """

    def taps(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        source = np.maximum((np.arange(size, dtype=np.float32) + 0.5) * np.float32(n_in / size) - 0.5, 0.0)
        low = np.minimum(source.astype(np.int64), n_in - 1)
        return low, np.minimum(low + 1, n_in - 1), (source - low).astype(np.float32)

    r0, r1, rw = taps(images.shape[1])
    c0, c1, cw = taps(images.shape[2])
    rows = images[:, r0, :] * (1 - rw)[None, :, None] + images[:, r1, :] * rw[None, :, None]
    return rows[:, :, c0] * (1 - cw) + rows[:, :, c1] * cw  # type: ignore[no-any-return]


def load_digits_fallback(*, test_fraction: float = 0.2, seed: int = 0) -> MnistSplits:
    """scikit-learn's 1797 bundled 8x8 digits dressed as MNIST: 28x28 ``uint8``, split with a fixed seed.

    The 0-16 intensities are scaled to 0-255 and bilinearly upsampled (:func:`upsample`), so both jobs' scaling
    and models work unchanged. The fixed seed keeps the split identical in every trial, so trials stay comparable.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    large = upsample(digits.images.astype(np.float32) / 16.0, IMAGE_SIZE)
    images = np.round(np.clip(large, 0.0, 1.0) * 255.0).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = round(len(labels) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return MnistSplits(
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
) -> MnistSplits:
    """MNIST from ``data_dir`` (downloading missing files if ``download``), else the digits fallback.

    ``data_dir=None``: see :func:`resolve_data_dir`. Corrupt IDX files raise :class:`IdxFormatError` rather
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
        return MnistSplits(train_images, train_labels, test_images, test_labels, source=SOURCE_IDX)
    logger.warning(
        "MNIST IDX files %s not found in %s (%s). FALLING BACK to scikit-learn's 8x8 digits upsampled to "
        "28x28: accuracies from this run are NOT MNIST accuracies. Put the IDX files there or set %s.",
        ", ".join(missing),
        directory,
        reason,
        DATA_DIR_ENV,
    )
    return load_digits_fallback()
