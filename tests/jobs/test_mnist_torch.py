"""The PyTorch MNIST job's own parts: tensors from the shared reader, torchvision's normalisation, the ConvNet.

The reader itself is tested in test_mnist_data.py; settings, checkpoints and real Tune runs in test_contract.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from jobs.mnist import read_idx, upsample
from jobs.mnist_torch.data import SOURCE_IDX, load_mnist, normalize
from jobs.mnist_torch.model import ConvNet


def test_loader_hands_the_files_over_as_uint8_tensors_with_a_channel(mnist_dir: Path) -> None:
    data = load_mnist(mnist_dir, download=False)

    assert data.source == SOURCE_IDX
    assert data.train_images.shape == (256, 1, 28, 28)
    assert data.train_images.dtype == torch.uint8
    assert data.test_labels.dtype == torch.int64
    np.testing.assert_array_equal(data.train_images[5, 0].numpy(), read_idx(mnist_dir / "train-images-idx3-ubyte")[5])


def test_normalize_uses_the_mnist_mean_and_std() -> None:
    pixels = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)

    out = normalize(pixels)

    assert out.dtype == torch.float32
    assert out.flatten().tolist() == pytest.approx([-0.1307 / 0.3081, (1 - 0.1307) / 0.3081])


def test_fallback_digits_are_upsampled_as_torch_would() -> None:
    digits = torch.from_numpy(load_digits().images.astype(np.float32) / 16.0)

    expected = F.interpolate(digits.unsqueeze(1), size=(28, 28), mode="bilinear", align_corners=False).squeeze(1)

    np.testing.assert_allclose(upsample(digits.numpy(), 28), expected.numpy(), atol=1e-6)


def test_convnet_maps_a_batch_of_images_to_log_probabilities() -> None:
    out = ConvNet()(torch.randn(5, 1, 28, 28))

    assert out.shape == (5, 10)
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(5))
