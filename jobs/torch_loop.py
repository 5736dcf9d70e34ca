"""The epoch loop and the checkpoints of the PyTorch jobs (``mnist_torch``, ``cifar_torch``): one implementation.

A job hands :func:`fit` its model, optimizer, data and a :class:`Task` (its loss, its normalisation, the name of
its accuracy metric); the loop trains an epoch at a time, scores the validation images, writes a checkpoint and
reports both. Checkpoint layout, one per epoch (``Checkpoint.from_directory``; the experiment's
``checkpoint.numToKeep`` decides how many survive)::

    model.pt     the model's state_dict, CPU tensors (torch.save; load with weights_only=True)
    state.json   {"epoch": <int>, "source": <the data's name>, ...the job's fixed hyperparameters}

A trial that starts from a checkpoint (a failure retry, ``Tuner.restore``, a PBT exploit) loads its weights and
carries on from the next epoch, so it never repeats an epoch it already reported. Only the weights travel: the
optimizer's state (SGD's momentum buffers) restarts, which is also what PBT wants when it hands the weights to a
trial with other hyperparameters. Batches are drawn from a generator seeded per epoch, so with a ``seed`` a
resumed trial draws exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from ray.tune import Checkpoint

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
STATE_FILE = "state.json"
CHECKPOINT_FILES = (MODEL_FILE, STATE_FILE)
DEVICES = ("auto", "cpu", "cuda")
# Evaluation batch size: large batches, no gradients, bounded memory on a 10k-image split.
EVAL_BATCH_SIZE = 1000


class Session(Protocol):
    """Where a trial reports to and resumes from: ``ray.tune`` itself in a trial (tests and benchmarks pass
    stand-ins). Checkpoints are ``ray.tune.Checkpoint`` objects (typed loosely: Ray's own types disagree)."""

    def get_checkpoint(self) -> Any: ...

    def report(self, metrics: dict[str, Any], *, checkpoint: Any = None) -> None: ...


@dataclass(frozen=True)
class Task:
    """What differs between the PyTorch jobs' loops."""

    #: ``loss(output, target, reduction=...)``: ``F.nll_loss`` for log-probabilities, ``F.cross_entropy`` for logits.
    loss: Callable[..., torch.Tensor]
    #: ``uint8`` images -> the model's float input.
    normalize: Callable[[torch.Tensor], torch.Tensor]
    #: The reported name of the accuracy (``mean_accuracy``, ``accuracy``); the loss is always ``loss``.
    accuracy_key: str


def pick_device(requested: str) -> torch.device:
    """``auto``: CUDA when the trial sees a GPU, else the CPU; ``cpu`` or ``cuda`` as asked.

    Not ``ray.train.torch.get_device()``: that needs a Ray Train worker and raises inside a plain Tune function.
    A trial given ``resourcesPerTrial.gpu`` sees its GPU through ``CUDA_VISIBLE_DEVICES``; a CPU-only trial on a
    GPU node may also see GPUs (Ray no longer blanks the variable), so CPU pools are the way to keep it off them.
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def score(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, task: Task, device: torch.device
) -> dict[str, float]:
    """The accuracy and the mean loss of ``model`` on ``uint8`` images, in large no-grad batches."""
    if len(labels) == 0:
        raise ValueError("cannot evaluate on an empty split")
    model.eval()
    correct = 0
    total_loss = 0.0
    with torch.no_grad():
        for xb, yb in zip(torch.split(images, EVAL_BATCH_SIZE), torch.split(labels, EVAL_BATCH_SIZE), strict=True):
            output = model(task.normalize(xb.to(device)))
            target = yb.to(device)
            total_loss += float(task.loss(output, target, reduction="sum"))
            correct += int((output.argmax(dim=1) == target).sum())
    return {task.accuracy_key: correct / len(labels), "loss": total_loss / len(labels)}


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    task: Task,
    batch_size: int,
    samples: int | None,
    generator: torch.Generator,
    device: torch.device,
) -> None:
    """One epoch: ``samples`` training images in a fresh random order (all of them when ``None``)."""
    model.train()
    order = torch.randperm(len(labels), generator=generator)[:samples]
    for batch in torch.split(order, batch_size):
        x = task.normalize(images[batch].to(device))
        y = labels[batch].to(device)
        optimizer.zero_grad()
        loss = task.loss(model(x), y)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        optimizer.step()


def _missing_files(directory: Path) -> list[str]:
    return [name for name in CHECKPOINT_FILES if not (directory / name).is_file()]


def restore(
    model: torch.nn.Module,
    checkpoint: Checkpoint,
    *,
    device: torch.device,
    state: Mapping[str, Any],
    fixed: Sequence[str],
) -> int:
    """Load a reported checkpoint into ``model``; return the epoch it was taken after.

    ``state`` is what this trial would write into ``state.json``; the ``fixed`` keys of it (hyperparameters that
    shape the weights) must equal the checkpoint's, or the load fails with a message saying so rather than
    half-loading. A checkpoint trained on other data (``source``) is loaded with a warning.
    """
    with checkpoint.as_directory() as directory:
        missing = _missing_files(Path(directory))
        if missing:
            raise FileNotFoundError(f"checkpoint {checkpoint.path} has no {', '.join(missing)}")
        saved = json.loads((Path(directory) / STATE_FILE).read_text())
        if any(saved.get(key) != state.get(key) for key in fixed):
            held, wanted = (", ".join(f"{key}={values.get(key)}" for key in fixed) for values in (saved, state))
            raise ValueError(
                f"checkpoint {checkpoint.path} holds a model of {held} but this trial builds one of {wanted}: "
                f"{', '.join(fixed)} shape the weights and cannot change mid-trial"
            )
        state_dict = torch.load(Path(directory) / MODEL_FILE, map_location=device, weights_only=True)
    model.load_state_dict(state_dict)
    if saved.get("source") != state.get("source"):
        logger.warning(
            "resuming from a checkpoint trained on %r data with %r data", saved.get("source"), state["source"]
        )
    return int(saved["epoch"])


def load_model(
    path: str | os.PathLike[str], *, job: str, build: Callable[[Mapping[str, Any]], torch.nn.Module]
) -> torch.nn.Module:
    """The model of a checkpoint directory (a local path or a URI such as ``s3://``), in eval mode.

    ``build(state)`` makes the empty model from the checkpoint's ``state.json``; it goes to :func:`pick_device`'s
    ``auto`` device. ``job`` names the job in the error for a directory that is not such a checkpoint.
    """
    device = pick_device("auto")
    with Checkpoint(os.fspath(path)).as_directory() as directory:
        missing = _missing_files(Path(directory))
        if missing:
            raise FileNotFoundError(f"{path} is not a {job} checkpoint: it has no {', '.join(missing)}")
        state = json.loads((Path(directory) / STATE_FILE).read_text())
        state_dict = torch.load(Path(directory) / MODEL_FILE, map_location=device, weights_only=True)
    model = build(state).to(device)
    model.load_state_dict(state_dict)
    return model.eval()


def fit(
    *,
    session: Session,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    task: Task,
    device: torch.device,
    train: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    batch_size: int,
    samples: int | None = None,
    seed: int | None = None,
    state: Mapping[str, Any],
    fixed: Sequence[str] = (),
) -> None:
    """Train up to epoch ``epochs``, reporting the scores and a checkpoint after every epoch.

    Starts after the epoch of ``session.get_checkpoint()`` when there is one (:func:`restore`). Each report holds
    :func:`score` on ``validation`` and ``epoch`` (1-based), so a resumed trial's ``epoch`` still equals
    ``training_iteration``. ``state`` (the data ``source`` and the ``fixed`` hyperparameters) goes into every
    ``state.json``; ``samples`` caps the training images of an epoch (the MNIST tutorial's short epochs).
    """
    start = 1
    checkpoint = session.get_checkpoint()
    if checkpoint is not None:
        start = restore(model, checkpoint, device=device, state=state, fixed=fixed) + 1
    generator = torch.Generator()
    for epoch in range(start, epochs + 1):
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed + epoch)
        train_epoch(
            model,
            optimizer,
            *train,
            task=task,
            batch_size=batch_size,
            samples=samples,
            generator=generator,
            device=device,
        )
        scores = score(model, *validation, task=task, device=device)
        with tempfile.TemporaryDirectory() as directory:
            # CPU tensors: the checkpoint then loads anywhere, with or without map_location.
            torch.save({k: v.cpu() for k, v in model.state_dict().items()}, Path(directory) / MODEL_FILE)
            (Path(directory) / STATE_FILE).write_text(json.dumps({"epoch": epoch, **state}))
            session.report({**scores, "epoch": epoch}, checkpoint=Checkpoint.from_directory(directory))
