"""CIFAR-10 for the reference job: the real python batch files when present, a loud stand-in when not.

Why not torchvision: it pins an exact torch build and cannot be installed beside the project's torch, and all
we need from it is the batch-file reader below plus the tutorial's normalisation constants.

Lookup order (:func:`load_cifar10`):

1. The six batch files of the python version of CIFAR-10 (``data_batch_1`` ... ``data_batch_5`` and
   ``test_batch``, https://www.cs.toronto.edu/~kriz/cifar.html) in ``data_dir`` itself or in the
   ``cifar-10-batches-py/`` folder that extracting ``cifar-10-python.tar.gz`` creates inside it. ``data_dir``
   defaults to ``$KUBETUNE_DATA_DIR`` and then ``~/data/cifar-10-batches-py``. A corrupt file, or a set with
   some files missing, raises :class:`CifarFormatError` naming the file: silently training on something else
   would make every number of the sweep meaningless.
2. When none of the files is there: a small synthetic 10-class set built from scikit-learn's bundled 8x8
   digits (upsampled to 32x32 and tinted with random colours), logged as a WARNING. The job still runs (CI,
   air-gapped clusters), but nobody mistakes its accuracies for CIFAR-10 accuracies.

Nothing is ever downloaded: the archive is 163 MB, and a trial is the wrong place to fetch it (every trial
process would race for it). Put the files into the image or on a volume.

The batch files are Python pickles. They are read with an unpickler that only resolves the handful of globals
a CIFAR batch needs (numpy's array reconstruction), so a planted file cannot run code in the trial.

Images are kept as ``uint8`` ``(N, 3, 32, 32)`` tensors (150 MB for the training set instead of 600 MB as
float32, per trial process) and normalised per batch with :func:`normalize`, as torchvision's transforms do.
"""

from __future__ import annotations

import codecs
import logging
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from jobs.locations import local_data_dir

logger = logging.getLogger(__name__)

# Environment variable naming the directory that holds the batch files (or their extracted folder).
DATA_DIR_ENV = "KUBETUNE_DATA_DIR"
# Used when neither an explicit directory nor the environment variable is given.
DEFAULT_DATA_DIR = Path("~/data/cifar-10-batches-py")
# The folder `tar xzf cifar-10-python.tar.gz` creates; looked for inside the data directory too.
EXTRACTED_FOLDER = "cifar-10-batches-py"

TRAIN_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_BATCH = "test_batch"
BATCH_FILES = (*TRAIN_BATCHES, TEST_BATCH)

IMAGE_SHAPE = (3, 32, 32)
PIXELS = 3 * 32 * 32
NUM_CLASSES = 10
# The tutorial's class names, in label order.
CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# The tutorial's `transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))`: every channel to [-1, 1].
CIFAR_MEAN = (0.5, 0.5, 0.5)
CIFAR_STD = (0.5, 0.5, 0.5)

SOURCE_CIFAR = "cifar-10"
SOURCE_DIGITS = "sklearn-digits-rgb"

# What a CIFAR-10 batch pickle may reference: numpy's array reconstructors and nothing else. The originals
# were written by Python 2 and numpy 1.x, which named the reconstructor `numpy.core.multiarray`; numpy 2 calls
# that module `numpy._core.multiarray` (and warns on the old name), so both names map to the function itself.
# Re-pickled files may use protocol 5's `_frombuffer`, or `_codecs.encode`, how Python 3 pickles bytes at
# protocol 2.
_RECONSTRUCT: Any = np.empty(0).__reduce__()[0]
_FROMBUFFER: Any = np.empty(0).__reduce_ex__(5)[0]
_ALLOWED_GLOBALS: Mapping[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class CifarFormatError(ValueError):
    """A CIFAR-10 batch file is missing from a partial set, unreadable, or not a CIFAR batch.

    The message starts with the file's path.
    """


@dataclass(frozen=True)
class CifarData:
    """Both splits, as ``uint8`` images ``(N, 3, 32, 32)`` and ``int64`` labels ``(N,)``.

    ``source`` is :data:`SOURCE_CIFAR` or :data:`SOURCE_DIGITS`; trials record it in their checkpoints so a
    result can always be traced back to the data it was measured on.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """``data_dir``, else ``$KUBETUNE_DATA_DIR``, else ``~/data/cifar-10-batches-py``; absolute."""
    return local_data_dir(data_dir, env=DATA_DIR_ENV, default=DEFAULT_DATA_DIR)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` images ``(N, 3, 32, 32)`` -> ``float32`` in [-1, 1], as ``ToTensor()`` + ``Normalize(0.5, 0.5)``."""
    mean = torch.tensor(CIFAR_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD, device=images.device).view(1, 3, 1, 1)
    return (images.to(torch.float32) / 255.0 - mean) / std


class _BatchUnpickler(pickle.Unpickler):
    """Resolves only :data:`_ALLOWED_GLOBALS`; anything else is an error, never an import."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}: a CIFAR-10 batch never needs it") from None


def read_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch file: ``uint8`` images ``(N, 3, 32, 32)`` and ``int64`` labels ``(N,)``.

    A batch is a pickled dict (keys are ``bytes`` in the original Python 2 files; ``str`` keys are accepted
    too) holding ``data``, an ``N x 3072`` ``uint8`` array whose rows are the red, green and blue 32x32 planes,
    and ``labels``, N integers in 0-9. Anything else raises :class:`CifarFormatError` naming the file; a
    missing or unreadable file raises ``OSError`` as usual.
    """
    path = Path(path)
    with path.open("rb") as stream:
        try:
            batch = _BatchUnpickler(stream, encoding="bytes").load()
        except Exception as e:  # a damaged pickle can fail in many ways (EOFError, UnpicklingError, ValueError...)
            raise CifarFormatError(f"{path}: not a readable CIFAR-10 batch pickle ({type(e).__name__}: {e})") from e
    if not isinstance(batch, dict):
        raise CifarFormatError(f"{path}: expected a pickled dict with 'data' and 'labels', got {type(batch).__name__}")
    data = _entry(batch, "data", path)
    labels = _entry(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CifarFormatError(f"{path}: 'data' must be a uint8 array of shape (N, {PIXELS}), got {got}")
    try:
        label_array = np.asarray(labels)
    except (TypeError, ValueError) as e:
        raise CifarFormatError(f"{path}: 'labels' is not a list of integers ({e})") from e
    if label_array.ndim != 1 or (label_array.size and not np.issubdtype(label_array.dtype, np.integer)):
        raise CifarFormatError(
            f"{path}: 'labels' must be a flat list of integers, got {label_array.dtype} {label_array.shape}"
        )
    if len(label_array) != len(data):
        raise CifarFormatError(f"{path}: {len(data)} images but {len(label_array)} labels")
    if label_array.size and (int(label_array.min()) < 0 or int(label_array.max()) >= NUM_CLASSES):
        bad = int(label_array.min()) if int(label_array.min()) < 0 else int(label_array.max())
        raise CifarFormatError(f"{path}: label {bad} is not a class 0-{NUM_CLASSES - 1}")
    return data.reshape(-1, *IMAGE_SHAPE), label_array.astype(np.int64)


def _entry(batch: dict[Any, Any], key: str, path: Path) -> Any:
    """``batch[b"key"]`` (the original files) or ``batch["key"]`` (re-pickled with str keys)."""
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    keys = ", ".join(sorted(repr(k) for k in batch))
    raise CifarFormatError(f"{path}: no {key!r} entry in the batch (keys: {keys or 'none'})")


def find_batch_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """The folder holding the batch files: ``data_dir`` itself, else its ``cifar-10-batches-py/``.

    ``None`` when neither holds any of the six files. A folder holding only some of them is still returned,
    so that :func:`load_cifar10` can say which file is missing instead of quietly falling back.
    """
    directory = resolve_data_dir(data_dir)
    for candidate in (directory, directory / EXTRACTED_FOLDER):
        if any((candidate / name).is_file() for name in BATCH_FILES):
            return candidate
    return None


def load_digits_fallback(*, test_fraction: float = 0.2, seed: int = 0) -> CifarData:
    """scikit-learn's 1797 bundled 8x8 digits dressed as CIFAR-10: 32x32 RGB ``uint8``, split with a fixed seed.

    Each digit is bilinearly upsampled and painted in a random ink colour on a random darker background, both
    drawn per image from ``seed``, so the three channels differ but colour says nothing about the class (the
    shape does, as in CIFAR). The fixed seed makes every process build the same images and the same split,
    so trials stay comparable.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    generator = torch.Generator().manual_seed(seed)
    small = torch.from_numpy(digits.images.astype(np.float32)).unsqueeze(1) / 16.0
    shape = F.interpolate(small, size=IMAGE_SHAPE[1:], mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    n = len(digits.target)
    ink = 0.4 + 0.6 * torch.rand(n, 3, 1, 1, generator=generator)
    paper = 0.35 * torch.rand(n, 3, 1, 1, generator=generator)
    images = ((paper + (ink - paper) * shape) * 255.0).round().to(torch.uint8)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.randperm(n, generator=generator)
    n_test = round(n * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return CifarData(
        train_images=images[train],
        train_labels=labels[train],
        test_images=images[test],
        test_labels=labels[test],
        source=SOURCE_DIGITS,
    )


def load_cifar10(data_dir: str | os.PathLike[str] | None) -> CifarData:
    """CIFAR-10 from ``data_dir`` (or its ``cifar-10-batches-py/``), else the digits fallback with a WARNING.

    ``data_dir=None``: see :func:`resolve_data_dir`. Corrupt files and incomplete sets raise
    :class:`CifarFormatError` rather than falling back: a broken dataset is an error to fix, not a reason to
    quietly train on something else.
    """
    directory = resolve_data_dir(data_dir)
    batch_dir = find_batch_dir(directory)
    if batch_dir is None:
        logger.warning(
            "CIFAR-10 batch files (%s) not found in %s or %s. FALLING BACK to scikit-learn's 8x8 digits, upsampled "
            "to 32x32 and tinted: accuracies from this run are NOT CIFAR-10 accuracies. Nothing is downloaded: "
            "extract cifar-10-python.tar.gz there or set %s.",
            ", ".join(BATCH_FILES),
            directory,
            directory / EXTRACTED_FOLDER,
            DATA_DIR_ENV,
        )
        return load_digits_fallback()
    missing = [name for name in BATCH_FILES if not (batch_dir / name).is_file()]
    if missing:
        raise CifarFormatError(
            f"{batch_dir / missing[0]}: missing; {batch_dir} holds an incomplete CIFAR-10 "
            f"(missing {', '.join(missing)})"
        )
    train = [read_batch(batch_dir / name) for name in TRAIN_BATCHES]
    test_images, test_labels = read_batch(batch_dir / TEST_BATCH)
    return CifarData(
        train_images=torch.from_numpy(np.concatenate([images for images, _ in train])),
        train_labels=torch.from_numpy(np.concatenate([labels for _, labels in train])),
        test_images=torch.from_numpy(test_images),
        test_labels=torch.from_numpy(test_labels),
        source=SOURCE_CIFAR,
    )
