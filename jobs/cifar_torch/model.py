"""The CNN of the Ray Tune PyTorch CIFAR-10 tutorial, unchanged so results compare with the tutorial's.

Two 5x5 convolutions with 2x2 max-pooling, then three linear layers whose two hidden widths ``l1`` and ``l2``
are the tuned hyperparameters. It expects normalised ``(batch, 3, 32, 32)`` float images (see
:func:`jobs.cifar_torch.data.normalize`) and returns logits, so the loss is ``F.cross_entropy``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# 32x32 input -> 28 (conv 5x5) -> 14 (pool) -> 10 (conv 5x5) -> 5 (pool), times 16 channels.
FLAT_FEATURES = 16 * 5 * 5
NUM_CLASSES = 10


class Net(nn.Module):
    """``conv(3->6, 5) -> pool -> conv(6->16, 5) -> pool -> fc(400->l1) -> fc(l1->l2) -> fc(l2->10)``.

    ReLU after every layer but the last, as in the tutorial. ``l1`` and ``l2`` default to the widths of the
    original PyTorch CIFAR tutorial (120, 84).
    """

    def __init__(self, l1: int = 120, l2: int = 84) -> None:
        super().__init__()
        if l1 < 1 or l2 < 1:
            raise ValueError(f"layer widths must be >= 1, got l1={l1}, l2={l2}")
        self.l1 = l1
        self.l2 = l2
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(FLAT_FEATURES, l1)
        self.fc2 = nn.Linear(l1, l2)
        self.fc3 = nn.Linear(l2, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(batch, 10)`` for images of shape ``(batch, 3, 32, 32)``."""
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)  # type: ignore[no-any-return]  # nn.Module.__call__ is untyped
