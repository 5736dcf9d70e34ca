"""The optimizers a CIFAR-10 trial can train with: the tutorial's SGD, or Adam, chosen by an ``optimizer`` group.

A trial's config either holds the tutorial's flat ``lr`` (and ``momentum``), which train SGD, or an
``optimizer`` group, one option of the search space's choice of groups (``experiment.optimizers.yaml``)::

    {"name": "sgd", "lr": 0.01, "momentum": 0.9}                     # torch.optim.SGD
    {"name": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999}      # torch.optim.Adam(betas=(beta1, beta2))

Each option is a :class:`~jobs.settings.Settings` class, so a group is checked as a config is: an unknown
``name``, a missing ``lr``, a key of the other optimizer (``beta1`` in an ``sgd`` group) or a value out of range
fails the trial at once with an error naming the key (``config['optimizer']['beta1'] is not a setting of
optimizer 'sgd'; it reads lr, momentum``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from jobs.settings import Settings, setting

#: SGD's momentum when the config does not set one: the tutorial's fixed value.
DEFAULT_MOMENTUM = 0.9


class SgdSettings(Settings):
    """``{name: sgd, lr, momentum}``: ``torch.optim.SGD``."""

    lr: float = setting(help="SGD learning rate", above=0)
    momentum: float = setting(default=DEFAULT_MOMENTUM, help="SGD momentum", at_least=0)

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)


class AdamSettings(Settings):
    """``{name: adam, lr, beta1, beta2}``: ``torch.optim.Adam``; the betas default to torch's."""

    lr: float = setting(help="Adam learning rate", above=0)
    beta1: float = setting(default=0.9, help="decay of Adam's first-moment average", at_least=0, below=1)
    beta2: float = setting(default=0.999, help="decay of Adam's second-moment average", at_least=0, below=1)

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr, betas=(self.beta1, self.beta2))


#: The ``name`` of an ``optimizer`` group -> the settings that parse the rest of it.
OPTIMIZERS: dict[str, type[Settings]] = {"sgd": SgdSettings, "adam": AdamSettings}

OptimizerSettings = SgdSettings | AdamSettings


def choose(group: OptimizerSettings | None, *, lr: float | None, momentum: float | None) -> OptimizerSettings:
    """The optimizer of a trial: its ``optimizer`` group, else SGD of the flat ``lr`` and ``momentum``."""
    if group is not None:
        return group
    if lr is None:  # TrialSettings requires lr unless a group replaces it
        raise ValueError("config['lr'] is required (the search space or `config` must set it)")
    return SgdSettings(lr=lr, momentum=DEFAULT_MOMENTUM if momentum is None else momentum)
