"""MNIST for the Keras job: :mod:`jobs.mnist`'s arrays, shaped and scaled for Keras.

The files, their lookup (``data_dir``, ``$KUBETUNE_DATA_DIR``, ``~/data/mnist``), the verified download, the
errors on corrupt files and the loud scikit-learn digits fallback are those of :mod:`jobs.mnist`, which the
PyTorch MNIST job reads too: both jobs read the same data the same way. That reader is numpy only, so this job
runs in the TensorFlow image, which has no torch.

Keras gets what ``keras.datasets.mnist`` plus the tutorial's ``x / 255`` would give: ``float32`` images in
[0, 1] of shape ``(N, 28, 28, 1)`` (channels last) and ``int64`` labels, no mean/std normalisation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jobs import mnist
from jobs.mnist import DATA_DIR_ENV, MIRRORS, SOURCE_DIGITS, SOURCE_IDX, IdxFormatError, resolve_data_dir

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

    ``source`` is ``"mnist-idx"`` or ``"sklearn-digits"`` (:mod:`jobs.mnist`); trials record it in their
    checkpoints so a result can always be traced back to the data it was measured on.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def to_keras_images(images: np.ndarray) -> np.ndarray:
    """``uint8`` images ``(N, 28, 28)`` -> ``float32`` ``(N, 28, 28, 1)`` in [0, 1] (channels last)."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def load_mnist_arrays(
    data_dir: str | os.PathLike[str] | None,
    *,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
) -> MnistArrays:
    """MNIST (or the logged digits fallback) as Keras arrays; see :func:`jobs.mnist.load_mnist`.

    Corrupt IDX files raise :class:`IdxFormatError` naming the file.
    """
    splits = mnist.load_mnist(data_dir, download=download, mirrors=mirrors)
    return MnistArrays(
        train_images=to_keras_images(splits.train_images),
        train_labels=splits.train_labels,
        test_images=to_keras_images(splits.test_images),
        test_labels=splits.test_labels,
        source=splits.source,
    )
