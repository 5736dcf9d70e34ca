"""MNIST for the PyTorch job: :mod:`jobs.mnist`'s arrays as torch tensors, normalised per batch like torchvision.

The files, their lookup (``data_dir``, ``$KUBETUNE_DATA_DIR``, ``~/data/mnist``), the verified download, the
errors on corrupt files and the loud scikit-learn digits fallback are :mod:`jobs.mnist`'s, shared with the Keras
MNIST job. Images stay ``uint8`` ``(N, 1, 28, 28)`` tensors (a quarter of float32's memory per trial process) and
are normalised per batch with :func:`normalize`, as torchvision's transforms do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from jobs import mnist
from jobs.mnist import DATA_DIR_ENV, MIRRORS, SOURCE_DIGITS, SOURCE_IDX, MnistSplits, resolve_data_dir

__all__ = ["DATA_DIR_ENV", "SOURCE_DIGITS", "SOURCE_IDX", "MnistData", "load_mnist", "normalize", "resolve_data_dir"]

# torchvision's MNIST normalisation, `transforms.Normalize((0.1307,), (0.3081,))`.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


@dataclass(frozen=True)
class MnistData:
    """Both splits, as ``uint8`` images ``(N, 1, 28, 28)`` and ``int64`` labels ``(N,)``; ``source`` as in
    :class:`jobs.mnist.MnistSplits`."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str

    @classmethod
    def from_splits(cls, splits: MnistSplits) -> MnistData:
        def images(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array).unsqueeze(1)

        return cls(
            train_images=images(splits.train_images),
            train_labels=torch.from_numpy(splits.train_labels),
            test_images=images(splits.test_images),
            test_labels=torch.from_numpy(splits.test_labels),
            source=splits.source,
        )


def normalize(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` images ``(N, 1, 28, 28)`` or ``(N, 28, 28)`` -> normalised ``float32`` ``(N, 1, 28, 28)``.

    The same arithmetic as torchvision's ``ToTensor()`` followed by ``Normalize((0.1307,), (0.3081,))``.
    """
    x = images.to(torch.float32) / 255.0
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return (x - MNIST_MEAN) / MNIST_STD


def load_mnist(
    data_dir: str | os.PathLike[str] | None, *, download: bool = True, mirrors: Sequence[str] = MIRRORS
) -> MnistData:
    """:func:`jobs.mnist.load_mnist` as tensors; corrupt files raise :class:`jobs.mnist.IdxFormatError`."""
    return MnistData.from_splits(mnist.load_mnist(data_dir, download=download, mirrors=mirrors))
