"""MNIST for the Keras job: :mod:`jobs.mnist_torch.data`'s loader, handed over as numpy arrays shaped for Keras.

The files, their lookup (``data_dir``, ``$KUBETUNE_DATA_DIR``, ``~/data/mnist``), the verified download, the
errors on corrupt files and the loud scikit-learn digits fallback are all those of the PyTorch MNIST job, by
import rather than by copy, so both jobs read the same data the same way. That loader keeps its images as torch
tensors, so this job needs torch (CPU is enough) beside TensorFlow.

Keras gets what ``keras.datasets.mnist`` plus the tutorial's ``x / 255`` would give: ``float32`` images in
[0, 1] of shape ``(N, 28, 28, 1)`` (channels last) and ``int64`` labels, no mean/std normalisation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from jobs.mnist_torch.data import (
    DATA_DIR_ENV,
    MIRRORS,
    SOURCE_DIGITS,
    SOURCE_IDX,
    IdxFormatError,
    load_mnist,
    resolve_data_dir,
)

__all__ = [
    "DATA_DIR_ENV",
    "SOURCE_DIGITS",
    "SOURCE_IDX",
    "IdxFormatError",
    "MnistArrays",
    "load_mnist_arrays",
    "resolve_data_dir",
    "to_keras_images",
]

IMAGE_SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class MnistArrays:
    """Both splits: ``float32`` images ``(N, 28, 28, 1)`` in [0, 1] and ``int64`` labels ``(N,)``.

    ``source`` is ``"mnist-idx"`` or ``"sklearn-digits"`` (:mod:`jobs.mnist_torch.data`); trials record it in
    their checkpoints so a result can always be traced back to the data it was measured on.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def to_keras_images(images: torch.Tensor) -> np.ndarray:
    """``uint8`` images ``(N, 1, 28, 28)`` (channels first) -> ``float32`` ``(N, 28, 28, 1)`` in [0, 1]."""
    array = images.numpy().astype(np.float32) / 255.0
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1))


def load_mnist_arrays(
    data_dir: str | os.PathLike[str] | None,
    *,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
) -> MnistArrays:
    """MNIST (or the logged digits fallback) as Keras arrays; see :func:`jobs.mnist_torch.data.load_mnist`.

    Corrupt IDX files raise :class:`IdxFormatError` naming the file.
    """
    data = load_mnist(data_dir, download=download, mirrors=mirrors)
    return MnistArrays(
        train_images=to_keras_images(data.train_images),
        train_labels=data.train_labels.numpy(),
        test_images=to_keras_images(data.test_images),
        test_labels=data.test_labels.numpy(),
        source=data.source,
    )
