"""The ConvNet of the Ray Tune PyTorch tutorial, unchanged so results compare with the tutorial's.

The network is deliberately tiny (one 3-channel conv, one linear layer, ~2k parameters): the point of this
job is to exercise the tuning platform, not to reach state-of-the-art accuracy. It expects normalised
``(batch, 1, 28, 28)`` float images (see :func:`jobs.mnist_torch.data.normalize`) and returns
log-probabilities, so the loss is ``F.nll_loss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# 28x28 input -> 26x26 after the 3x3 conv -> 8x8 after the 3x3 max-pool, times 3 channels.
FLAT_FEATURES = 192
NUM_CLASSES = 10


class ConvNet(nn.Module):
    """``conv(1->3, 3x3) -> max-pool 3 -> relu -> linear(192->10) -> log_softmax``, as in the Ray tutorial."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, kernel_size=3)
        self.fc = nn.Linear(FLAT_FEATURES, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of shape ``(batch, 10)`` for images of shape ``(batch, 1, 28, 28)``."""
        x = F.relu(F.max_pool2d(self.conv1(x), 3))
        x = x.view(-1, FLAT_FEATURES)
        x = self.fc(x)
        return F.log_softmax(x, dim=1)
