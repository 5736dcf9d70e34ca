"""The PyTorch CIFAR-10 job's own parts: the batch-file reader, the fallback, the model, the split, evaluate.

Settings, checkpoints and real Tune runs are in test_contract.py, the epoch loop in test_torch_loop.py.
"""

from __future__ import annotations

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

from jobs.cifar_torch import data as cifar_data
from jobs.cifar_torch.data import (
    BATCH_FILES,
    EXTRACTED_FOLDER,
    SOURCE_CIFAR,
    SOURCE_DIGITS,
    CifarFormatError,
    load_cifar10,
    load_digits_fallback,
    normalize,
    read_batch,
)
from jobs.cifar_torch.model import Net
from jobs.cifar_torch.trainable import evaluate, split_indices
from kubetune.spec import load_file
from tests.jobs.fixtures_cifar import make_cifar_dir, py2_pickle, synthetic_cifar, write_batch

JOB_DIR = Path(__file__).resolve().parents[2] / "jobs" / "cifar_torch"


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    """A small synthetic CIFAR-10 (5 x 60 training images, 50 test images) as the six original batch files."""
    return make_cifar_dir(tmp_path / "cifar")


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


def test_evaluate_scores_the_test_split_or_its_limit(cifar_dir: Path) -> None:
    scores = evaluate(Net(8, 8), {"data_dir": str(cifar_dir)})
    one = evaluate(Net(8, 8), {"data_dir": str(cifar_dir), "test_limit": 1})

    assert set(scores) == {"accuracy", "loss"}
    assert 0.0 <= scores["accuracy"] <= 1.0
    assert math.isfinite(scores["loss"])
    assert one["accuracy"] in (0.0, 1.0)


def test_shipped_experiment_searches_the_tutorials_space_with_asha() -> None:
    exp = load_file(JOB_DIR / "experiment.yaml")

    assert exp.name == "cifar-asha"
    assert (exp.spec.metric, exp.spec.mode) == ("loss", "min")
    assert set(exp.spec.search_space) == {"l1", "l2", "lr", "batch_size"}
    assert exp.scheduler_type == "asha"
