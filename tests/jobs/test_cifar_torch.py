"""The PyTorch CIFAR-10 reference job: batch-file reader, fallback, model, checkpoints, a real kubetune run."""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from jobs.cifar_torch import data as cifar_data
from jobs.cifar_torch.data import (
    BATCH_FILES,
    DATA_DIR_ENV,
    EXTRACTED_FOLDER,
    SOURCE_CIFAR,
    SOURCE_DIGITS,
    CifarFormatError,
    load_cifar10,
    load_digits_fallback,
    normalize,
    read_batch,
    resolve_data_dir,
)
from jobs.cifar_torch.model import Net
from jobs.cifar_torch.trainable import (
    METRIC_KEYS,
    MODEL_FILE,
    STATE_FILE,
    TrialSettings,
    evaluate,
    load_checkpoint,
    split_indices,
)
from tests.jobs.fixtures_cifar import make_cifar_dir, py2_pickle, synthetic_cifar, write_batch

JOB_DIR = Path(__file__).resolve().parents[2] / "jobs" / "cifar_torch"


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    """A small synthetic CIFAR-10 (5 x 60 training images, 50 test images) as the six original batch files."""
    return make_cifar_dir(tmp_path / "cifar")


@pytest.fixture(scope="module")
def module_cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same synthetic CIFAR-10, shared by the module's Ray runs (trials read it by absolute path)."""
    return make_cifar_dir(tmp_path_factory.mktemp("cifar"))


# --- batch-file reader ---------------------------------------------------------------------------------


def test_read_batch_reads_a_python2_pickle_as_the_original_files_are(tmp_path: Path) -> None:
    data, labels = synthetic_cifar(4, seed=0)
    path = write_batch(tmp_path / "data_batch_1", data, labels)

    images, parsed_labels = read_batch(path)

    assert images.dtype == np.uint8
    assert images.shape == (4, 3, 32, 32)
    # A row is the red plane, then the green, then the blue, each 32x32 row-major.
    np.testing.assert_array_equal(images[2, 0].ravel(), data[2, :1024])
    np.testing.assert_array_equal(images[2, 2].ravel(), data[2, 2048:])
    assert parsed_labels.dtype == np.int64
    np.testing.assert_array_equal(parsed_labels, labels)


def test_read_batch_also_reads_a_batch_repickled_by_python3_with_str_keys(tmp_path: Path) -> None:
    data, labels = synthetic_cifar(3, seed=1)
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({"data": data, "labels": np.asarray(labels)}, protocol=pickle.HIGHEST_PROTOCOL))

    images, parsed_labels = read_batch(path)

    assert images.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(parsed_labels, labels)


def _batch(**overrides: Any) -> bytes:
    data, labels = synthetic_cifar(4, seed=2)
    batch: dict[bytes, Any] = {b"data": data, b"labels": [int(v) for v in labels]}
    batch.update({k.encode(): v for k, v in overrides.items()})
    return py2_pickle({k: v for k, v in batch.items() if v is not None})


GOOD = _batch()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(GOOD[: len(GOOD) // 2], "not a readable CIFAR-10 batch pickle", id="truncated"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(64), "not a readable CIFAR-10 batch pickle", id="not-a-pickle"),
        pytest.param(b"", "not a readable CIFAR-10 batch pickle", id="empty"),
        pytest.param(py2_pickle([1, 2, 3]), "expected a pickled dict", id="a-list"),
        pytest.param(_batch(labels=None), "no 'labels' entry", id="no-labels"),
        pytest.param(_batch(data=None), "no 'data' entry", id="no-data"),
        pytest.param(_batch(data=np.zeros((4, 3072), np.float32)), "must be a uint8 array", id="float-pixels"),
        pytest.param(_batch(data=np.zeros((4, 1024), np.uint8)), "must be a uint8 array", id="grey-images"),
        pytest.param(_batch(labels=[1, 2, 3]), "4 images but 3 labels", id="count-mismatch"),
        pytest.param(_batch(labels=[0, 1, 2, 10]), "label 10 is not a class", id="label-out-of-range"),
        pytest.param(_batch(labels=[0, 1, 2, "cat"]), "'labels' must be a flat list of integers", id="text-label"),
    ],
)
def test_corrupt_batch_file_raises_an_error_naming_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "data_batch_3"
    path.write_bytes(content)

    with pytest.raises(CifarFormatError, match=re.escape(str(path))) as caught:
        read_batch(path)

    assert reason in str(caught.value)


class _Planted:
    """Unpickles as ``os.mkdir(target)``: what a malicious "batch" would do with a plain ``pickle.load``."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.target),))


def test_read_batch_refuses_a_pickle_that_would_run_code(tmp_path: Path) -> None:
    target = tmp_path / "planted"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Planted(target), b"labels": []}, protocol=2))

    with pytest.raises(CifarFormatError, match="refusing global"):
        read_batch(path)

    assert not target.exists()


# --- loader: batch files first, loud fallback second ---------------------------------------------------


@pytest.mark.parametrize("nested", [False, True], ids=["files-in-data-dir", "extracted-folder-inside"])
def test_loader_reads_all_six_batches_from_the_dir_or_its_extracted_folder(
    tmp_path: Path, nested: bool, caplog: pytest.LogCaptureFixture
) -> None:
    make_cifar_dir(tmp_path / EXTRACTED_FOLDER if nested else tmp_path, n_per_batch=20, n_test=30)

    with caplog.at_level(logging.WARNING):
        data = load_cifar10(tmp_path)

    assert data.source == SOURCE_CIFAR
    assert data.train_images.shape == (100, 3, 32, 32)
    assert data.test_images.shape == (30, 3, 32, 32)
    assert data.train_images.dtype == torch.uint8
    assert data.train_labels.dtype == torch.int64
    _, first_labels = synthetic_cifar(20, seed=1)
    np.testing.assert_array_equal(data.train_labels[:20].numpy(), first_labels)  # data_batch_1 comes first
    assert not caplog.records


def test_loader_raises_on_an_incomplete_set_naming_the_missing_file(cifar_dir: Path) -> None:
    (cifar_dir / "data_batch_4").unlink()

    with pytest.raises(CifarFormatError, match=re.escape(str(cifar_dir / "data_batch_4"))):
        load_cifar10(cifar_dir)


def test_loader_raises_on_a_corrupt_file_instead_of_falling_back(cifar_dir: Path) -> None:
    test_batch = cifar_dir / "test_batch"
    test_batch.write_bytes(test_batch.read_bytes()[:-100])

    with pytest.raises(CifarFormatError, match=re.escape(str(test_batch))):
        load_cifar10(cifar_dir)


def test_missing_dataset_falls_back_to_tinted_digits_with_a_loud_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "nothing-here"

    with caplog.at_level(logging.WARNING, logger=cifar_data.__name__):
        data = load_cifar10(empty)

    assert data.source == SOURCE_DIGITS
    assert data.train_images.shape[1:] == (3, 32, 32)
    assert data.test_images.shape[1:] == (3, 32, 32)
    assert data.train_images.dtype == torch.uint8
    assert len(data.train_labels) + len(data.test_labels) == 1797  # scikit-learn's bundled digits
    assert set(data.test_labels.tolist()) == set(range(10))
    red, green = data.train_images[:, 0].float(), data.train_images[:, 1].float()
    assert not torch.equal(red, green)  # tinted: the channels differ
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "FALLING BACK" in message
    assert str(empty) in message
    assert "Nothing is downloaded" in message
    assert not empty.exists()  # looked, created nothing


def test_fallback_is_the_same_in_every_process() -> None:
    first, second = load_digits_fallback(), load_digits_fallback()

    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.test_labels, second.test_labels)


def test_normalize_maps_pixels_to_minus_one_to_one_like_the_tutorial() -> None:
    pixels = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 2, 2)

    out = normalize(pixels)

    assert out.dtype == torch.float32
    assert out[0, :, 0, 0].tolist() == pytest.approx([-1.0, 1.0, -0.6])


def test_data_dir_defaults_to_the_environment_variable_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    monkeypatch.delenv(DATA_DIR_ENV)
    assert resolve_data_dir(None) == Path.home() / "data" / "cifar-10-batches-py"
    assert resolve_data_dir("relative").is_absolute()


def test_batch_file_names_are_the_original_ones() -> None:
    assert BATCH_FILES == ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


# --- model, split and checkpoints ----------------------------------------------------------------------


@pytest.mark.parametrize(("l1", "l2"), [(4, 4), (256, 8), (120, 84)])
def test_net_maps_a_batch_of_rgb_images_to_ten_logits(l1: int, l2: int) -> None:
    out = Net(l1, l2)(torch.randn(5, 3, 32, 32))

    assert out.shape == (5, 10)


def test_net_rejects_an_empty_hidden_layer() -> None:
    with pytest.raises(ValueError, match="l1=0"):
        Net(0, 8)


def test_train_and_validation_split_is_fixed_disjoint_and_eighty_twenty() -> None:
    train, val = split_indices(1000, None)
    again_train, _ = split_indices(1000, None)

    assert (len(train), len(val)) == (800, 200)
    assert torch.equal(train, again_train)
    assert not set(train.tolist()) & set(val.tolist())
    limited_train, limited_val = split_indices(1000, 50)
    assert (len(limited_train), len(limited_val)) == (40, 10)
    with pytest.raises(ValueError, match="cannot be split"):
        split_indices(1000, 1)


def test_load_checkpoint_round_trips_the_weights_and_widths(tmp_path: Path) -> None:
    model = Net(32, 8)
    torch.save(model.state_dict(), tmp_path / MODEL_FILE)
    (tmp_path / STATE_FILE).write_text(json.dumps({"epoch": 3, "l1": 32, "l2": 8, "source": SOURCE_CIFAR}))

    loaded = load_checkpoint(str(tmp_path))

    assert isinstance(loaded, Net)
    assert (loaded.l1, loaded.l2) == (32, 8)
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key].cpu(), value)


def test_load_checkpoint_of_a_directory_without_a_model_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        load_checkpoint(str(tmp_path))


def test_evaluate_scores_the_test_split_or_its_limit(cifar_dir: Path) -> None:
    scores = evaluate(Net(8, 8), {"data_dir": str(cifar_dir)})
    one = evaluate(Net(8, 8), {"data_dir": str(cifar_dir), "test_limit": 1})

    assert set(scores) == {"accuracy", "loss"}
    assert 0.0 <= scores["accuracy"] <= 1.0
    assert math.isfinite(scores["loss"])
    assert one["accuracy"] in (0.0, 1.0)


def test_trial_settings_fill_defaults_and_name_a_bad_key() -> None:
    settings = TrialSettings.from_config({"l1": np.int64(16), "l2": 8.0, "lr": np.float64(0.01), "batch_size": 4})
    assert (settings.l1, settings.l2, settings.batch_size) == (16, 8, 4)
    assert type(settings.l1) is int
    assert type(settings.lr) is float
    assert (settings.epochs, settings.momentum, settings.device) == (10, 0.9, "auto")
    assert settings.train_limit is None

    with pytest.raises(ValueError, match="'batch_size'"):
        TrialSettings.from_config({"l1": 16, "l2": 8, "lr": 0.01})
    with pytest.raises(ValueError, match="'l1'"):
        TrialSettings.from_config({"l1": 16.5, "l2": 8, "lr": 0.01, "batch_size": 4})
    with pytest.raises(ValueError, match="'train_limit'"):
        TrialSettings.from_config({"l1": 16, "l2": 8, "lr": 0.01, "batch_size": 4, "train_limit": 1})


def test_shipped_experiment_is_valid_and_optimises_a_reported_key() -> None:
    from kubetune.spec import load_file

    exp = load_file(JOB_DIR / "experiment.yaml")

    assert exp.name == "cifar-asha"
    assert exp.spec.trainable == "jobs.cifar_torch.trainable:train"
    assert (exp.spec.metric, exp.spec.mode) == ("loss", "min")
    assert exp.spec.metric in METRIC_KEYS
    assert set(exp.spec.search_space) == {"l1", "l2", "lr", "batch_size"}
    assert exp.scheduler_type == "asha"


# --- a real kubetune run -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_shipped_experiment_runs_two_trials_and_leaves_an_evaluable_best_checkpoint(
    tmp_path: Path, module_cifar_dir: Path
) -> None:
    from ray import tune

    from kubetune.cli.inspecting import evaluate_best
    from kubetune.engine import results
    from kubetune.engine.running import RunOptions, run_experiment
    from kubetune.spec import load_object

    doc = yaml.safe_load((JOB_DIR / "experiment.yaml").read_text())
    # The shipped search space, on tiny data and CPUs: 2 trials x 2 epochs, neither cut early by ASHA.
    doc["spec"].update(
        config={"epochs": 2, "train_limit": 160, "test_limit": 40, "data_dir": str(module_cifar_dir), "device": "cpu"},
        scheduler={"type": "asha", "maxT": 2, "gracePeriod": 2, "reductionFactor": 2},
        numSamples=2,
        resourcesPerTrial={"cpu": 1},
        stop={"training_iteration": 2},
    )

    summary = run_experiment(load_object(doc), options=RunOptions(verbose=0, storage_path=str(tmp_path)))

    assert summary.trials_by_state == {"TERMINATED": 2}
    assert (Path(summary.experiment_path) / results.RESULTS_FILE).is_file()
    analysis = tune.ExperimentAnalysis(summary.experiment_path)
    assert [t.status for t in analysis.trials] == ["TERMINATED", "TERMINATED"]
    for history in analysis.trial_dataframes.values():
        assert set(METRIC_KEYS) <= set(history.columns)
        assert history["epoch"].tolist() == [1, 2]
        assert history["training_iteration"].tolist() == [1, 2]
        assert history["accuracy"].between(0.0, 1.0).all()
        assert np.isfinite(history["loss"]).all()
    assert summary.best is not None
    assert summary.best.checkpoint is not None
    checkpoint_dir = Path(summary.best.checkpoint)
    assert sorted(p.name for p in checkpoint_dir.iterdir()) == [MODEL_FILE, STATE_FILE]
    state = json.loads((checkpoint_dir / STATE_FILE).read_text())
    assert state["source"] == SOURCE_CIFAR
    assert (state["l1"], state["l2"]) == (summary.best.config["l1"], summary.best.config["l2"])
    scores = evaluate(load_checkpoint(summary.best.checkpoint), summary.best.config)
    assert 0.0 <= scores["accuracy"] <= 1.0
    assert evaluate_best(summary) == scores  # what `kubetune best --evaluate` prints
