"""jobs/torch_loop.py: the PyTorch jobs' epoch loop and checkpoints, driven through its session seam.

The session stands in for ``ray.tune`` at the loop's own seam (``get_checkpoint``, ``report``); the checkpoints
are real directories, read back with the real ``ray.tune.Checkpoint``. Real Tune runs of both PyTorch jobs are in
test_contract.py.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from ray.tune import Checkpoint

from jobs import torch_loop
from jobs.cifar_torch.data import normalize
from jobs.cifar_torch.model import Net

TASK = torch_loop.Task(loss=F.cross_entropy, normalize=normalize, accuracy_key="accuracy")


class RecordingSession:
    """Keeps every report and a copy of its checkpoint; resumes from the checkpoint it was given."""

    def __init__(self, tmp_path: Path, resume_from: Checkpoint | None = None) -> None:
        self.tmp_path = tmp_path
        self.resume_from = resume_from
        self.reports: list[dict[str, Any]] = []
        self.checkpoints: list[Any] = []  # ray.train checkpoints, which ray.tune re-exports under another type

    def get_checkpoint(self) -> Checkpoint | None:
        return self.resume_from

    def report(self, metrics: dict[str, Any], *, checkpoint: Checkpoint | None = None) -> None:
        assert checkpoint is not None
        kept = shutil.copytree(checkpoint.path, self.tmp_path / f"kept-{len(self.reports)}")
        self.reports.append(metrics)
        self.checkpoints.append(Checkpoint.from_directory(kept))


def images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator), torch.arange(n) % 10


def fit(session: RecordingSession, *, epochs: int, l1: int = 8, seed: int = 1) -> Net:
    torch.manual_seed(0)
    model = Net(l1, 8)
    torch_loop.fit(
        session=session,
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        task=TASK,
        device=torch.device("cpu"),
        train=images(40, seed=1),
        validation=images(10, seed=2),
        epochs=epochs,
        batch_size=8,
        seed=seed,
        state={"l1": l1, "source": "synthetic"},
        fixed=("l1",),
    )
    return model


def test_every_epoch_reports_its_scores_and_a_checkpoint_of_that_epoch(tmp_path: Path) -> None:
    session = RecordingSession(tmp_path)

    model = fit(session, epochs=2)

    assert [r["epoch"] for r in session.reports] == [1, 2]
    assert all(set(r) == {"accuracy", "loss", "epoch"} for r in session.reports)
    last = Path(session.checkpoints[-1].path)
    assert sorted(p.name for p in last.iterdir()) == ["model.pt", "state.json"]
    assert json.loads((last / "state.json").read_text()) == {"epoch": 2, "l1": 8, "source": "synthetic"}
    loaded = torch_loop.load_model(last, job="test", build=lambda state: Net(state["l1"], 8))
    assert all(torch.equal(loaded.state_dict()[k].cpu(), v) for k, v in model.state_dict().items())
    assert not loaded.training


def test_a_resumed_trial_trains_on_from_the_next_epoch_as_an_uninterrupted_one_would(tmp_path: Path) -> None:
    straight = RecordingSession(tmp_path / "straight")
    fit(straight, epochs=3)
    first = RecordingSession(tmp_path / "first")
    fit(first, epochs=1)

    resumed = RecordingSession(tmp_path / "resumed", resume_from=first.checkpoints[0])
    fit(resumed, epochs=3)

    assert [r["epoch"] for r in resumed.reports] == [2, 3]
    assert resumed.reports[-1]["loss"] == pytest.approx(straight.reports[-1]["loss"], rel=1e-5)  # same batches


def test_a_checkpoint_of_other_fixed_hyperparameters_fails_instead_of_half_loading(tmp_path: Path) -> None:
    first = RecordingSession(tmp_path / "first")
    fit(first, epochs=1, l1=8)

    with pytest.raises(ValueError, match=r"holds a model of l1=8 but this trial builds one of l1=16: l1 shape"):
        fit(RecordingSession(tmp_path / "other", resume_from=first.checkpoints[0]), epochs=2, l1=16)


def test_resuming_on_other_data_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = RecordingSession(tmp_path / "first")
    fit(first, epochs=1)
    state = Path(first.checkpoints[0].path) / "state.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "source": "cifar-10"}))

    with caplog.at_level(logging.WARNING, logger=torch_loop.__name__):
        fit(RecordingSession(tmp_path / "resumed", resume_from=first.checkpoints[0]), epochs=2)

    assert "trained on 'cifar-10' data with 'synthetic' data" in caplog.text


def test_scores_of_an_empty_split_are_an_error() -> None:
    with pytest.raises(ValueError, match="empty split"):
        torch_loop.score(Net(), *images(0, seed=0), task=TASK, device=torch.device("cpu"))


def test_auto_device_is_the_cpu_on_a_machine_without_cuda() -> None:
    assert torch_loop.pick_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert torch_loop.pick_device("cpu") == torch.device("cpu")
