"""jobs/mnist.py, the MNIST reader both MNIST jobs share: IDX parsing, the verified download, the loud fallback.

Numpy only: the Keras job's TensorFlow image has no torch (tests/images/test_image_contents.py runs it there).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jobs import mnist
from jobs.mnist import (
    SOURCE_DIGITS,
    SOURCE_IDX,
    DownloadError,
    IdxFormatError,
    download_mnist,
    load_digits_fallback,
    load_mnist,
    read_idx,
    upsample,
)
from tests.jobs.fixtures_mnist import MNIST_NAMES


def _idx(array: np.ndarray, type_code: int) -> bytes:
    """IDX bytes written by hand (not with the conftest helper), to pin the format independently."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# --- IDX parser ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_read_idx_parses_raw_and_gzipped_files_alike(tmp_path: Path, name: str) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    raw = _idx(images, 0x08)
    (tmp_path / name).write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)

    parsed = read_idx(tmp_path / name)

    assert parsed.dtype == np.uint8
    assert parsed.shape == (2, 28, 28)
    np.testing.assert_array_equal(parsed, images)


def test_read_idx_reads_multibyte_values_as_big_endian(tmp_path: Path) -> None:
    values = np.array([[1, 256], [65_536, -2]], dtype=np.int32)
    (tmp_path / "ints").write_bytes(_idx(values, 0x0C))

    parsed = read_idx(tmp_path / "ints")

    assert parsed.dtype == np.dtype(np.int32)
    np.testing.assert_array_equal(parsed, values)


GOOD = _idx(np.zeros((3, 28, 28), dtype=np.uint8), 0x08)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        pytest.param("bad-magic", b"\x01\x02" + GOOD[2:], "bad magic number", id="bad-magic"),
        pytest.param("bad-type", GOOD[:2] + b"\x07" + GOOD[3:], "unknown IDX type code", id="unknown-type"),
        pytest.param("no-dims", b"\x00\x00\x08\x00", "zero dimensions", id="zero-dims"),
        pytest.param("short-header", GOOD[:10], "header truncated", id="truncated-header"),
        pytest.param("short-data", GOOD[:-5], "truncated", id="truncated-data"),
        pytest.param("long-data", GOOD + b"\x00", "trailing bytes", id="trailing-bytes"),
        pytest.param("tiny", b"\x00\x00", "too short", id="two-bytes"),
        pytest.param("not-gzip.gz", GOOD, "not a readable gzip file", id="raw-named-gz"),
        pytest.param("cut-gzip.gz", gzip.compress(GOOD)[:40], "not a readable gzip file", id="truncated-gzip"),
    ],
)
def test_corrupt_idx_file_raises_an_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(IdxFormatError, match=re.escape(str(path))) as caught:
        read_idx(path)

    assert reason in str(caught.value)


def test_loader_raises_on_a_corrupt_file_instead_of_falling_back(mnist_dir: Path) -> None:
    labels = mnist_dir / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])

    with pytest.raises(IdxFormatError, match=re.escape(str(labels))):
        load_mnist(mnist_dir, download=False)


def test_loader_rejects_images_that_are_not_28_by_28_naming_the_file(mnist_dir: Path) -> None:
    images = mnist_dir / "train-images-idx3-ubyte"
    images.write_bytes(_idx(np.zeros((256, 14, 14), dtype=np.uint8), 0x08))

    with pytest.raises(IdxFormatError, match=re.escape(str(images))):
        load_mnist(mnist_dir, download=False)


def test_loader_rejects_image_and_label_counts_that_disagree(mnist_dir: Path) -> None:
    (mnist_dir / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.zeros(5, dtype=np.uint8), 0x08))

    with pytest.raises(IdxFormatError, match=r"128 images but .* 5 labels"):
        load_mnist(mnist_dir, download=False)


# --- loader: IDX first, loud fallback second -----------------------------------------------------------


def test_loader_picks_idx_files_over_the_fallback(
    mnist_dir: Path, dead_mirror_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Mixed raw and gzipped files, as people unpack some and not others.
    test_images = mnist_dir / "t10k-images-idx3-ubyte"
    Path(f"{test_images}.gz").write_bytes(gzip.compress(test_images.read_bytes()))
    test_images.unlink()

    with caplog.at_level(logging.WARNING):
        data = load_mnist(mnist_dir, mirrors=[dead_mirror_url])

    assert data.source == SOURCE_IDX
    assert data.train_images.shape == (256, 28, 28)
    assert data.test_images.shape == (128, 28, 28)
    assert data.train_images.dtype == np.uint8
    assert data.train_labels.dtype == np.int64
    expected = read_idx(mnist_dir / "train-labels-idx1-ubyte")
    np.testing.assert_array_equal(data.train_labels, expected)
    assert not caplog.records


def test_offline_fallback_returns_upsampled_digits_and_logs_a_warning(
    tmp_path: Path, dead_mirror_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "nothing-here"

    with caplog.at_level(logging.WARNING, logger=mnist.__name__):
        data = load_mnist(empty, mirrors=[dead_mirror_url])

    assert data.source == SOURCE_DIGITS
    assert data.train_images.shape[1:] == (28, 28)
    assert data.test_images.shape[1:] == (28, 28)
    assert len(data.train_images) == len(data.train_labels)
    assert len(data.test_images) == len(data.test_labels)
    assert len(data.train_labels) + len(data.test_labels) == 1797  # scikit-learn's bundled digits
    assert data.train_images.dtype == np.uint8
    assert int(data.train_images.max()) == 255
    assert set(data.test_labels.tolist()) == set(range(10))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "FALLING BACK" in message
    assert str(empty) in message
    assert dead_mirror_url in message  # says why: the download failed, and where it tried
    assert list(empty.iterdir()) == []


def test_fallback_without_download_says_download_was_disabled(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=mnist.__name__):
        data = load_mnist(tmp_path, download=False)

    assert data.source == SOURCE_DIGITS
    assert "download disabled" in caplog.text


def test_fallback_split_is_the_same_in_every_process() -> None:
    first, second = load_digits_fallback(), load_digits_fallback()

    np.testing.assert_array_equal(first.test_labels, second.test_labels)
    np.testing.assert_array_equal(first.train_images, second.train_images)


# --- download ------------------------------------------------------------------------------------------


def _serve_mnist(mirror: Any, source_dir: Path) -> dict[str, str]:
    """Serve gzipped copies of ``source_dir``'s files; return their MD5s by ``.gz`` name."""
    checksums = {}
    for name in MNIST_NAMES:
        body = gzip.compress((source_dir / name).read_bytes())
        mirror.serve(f"{name}.gz", body)
        checksums[f"{name}.gz"] = hashlib.md5(body, usedforsecurity=False).hexdigest()
    return checksums


def test_download_installs_verified_files_that_the_loader_then_uses(
    tmp_path: Path, mnist_dir: Path, mirror: Any, dead_mirror_url: str
) -> None:
    checksums = _serve_mnist(mirror, mnist_dir)
    target = tmp_path / "downloaded"

    download_mnist(target, mirrors=[dead_mirror_url, mirror.url], checksums=checksums)

    assert sorted(p.name for p in target.iterdir()) == sorted(f"{n}.gz" for n in MNIST_NAMES)
    assert load_mnist(target, download=False).source == SOURCE_IDX


def test_download_cut_short_leaves_no_partial_file(tmp_path: Path, mnist_dir: Path, mirror: Any) -> None:
    checksums = _serve_mnist(mirror, mnist_dir)
    body = mirror.body("train-images-idx3-ubyte.gz")
    mirror.serve("train-images-idx3-ubyte.gz", body, cut_after=len(body) // 2)
    target = tmp_path / "downloaded"

    with pytest.raises(DownloadError, match=r"train-images-idx3-ubyte\.gz"):
        download_mnist(target, mirrors=[mirror.url], checksums=checksums, timeout_s=2.0)

    assert list(target.iterdir()) == []


def test_download_with_a_wrong_checksum_leaves_no_file(tmp_path: Path, mnist_dir: Path, mirror: Any) -> None:
    _serve_mnist(mirror, mnist_dir)  # valid IDX, but not the published MNIST bytes
    target = tmp_path / "downloaded"

    with pytest.raises(DownloadError, match="does not match the published"):
        download_mnist(target, mirrors=[mirror.url])

    assert list(target.iterdir()) == []


def test_download_gives_up_after_the_first_file_fails_on_every_mirror(
    tmp_path: Path, mirror: Any, dead_mirror_url: str
) -> None:
    with pytest.raises(DownloadError) as caught:
        download_mnist(tmp_path, mirrors=[mirror.url, dead_mirror_url])

    assert mirror.requests == ["/mnist/train-images-idx3-ubyte.gz"]  # one try per mirror, not per file
    assert "404" in str(caught.value)
    assert dead_mirror_url in str(caught.value)


def test_upsampling_keeps_a_flat_image_flat_and_interpolates_between_pixels() -> None:
    flat = np.full((1, 8, 8), 0.5, dtype=np.float32)
    ramp = np.array([[[0.0, 1.0]]], dtype=np.float32).repeat(2, axis=1)  # (1, 2, 2): dark left, bright right

    assert upsample(flat, 28).shape == (1, 28, 28)
    np.testing.assert_allclose(upsample(flat, 28), 0.5)
    np.testing.assert_allclose(upsample(ramp, 4)[0, 0], [0.0, 0.25, 0.75, 1.0])  # edges clamp, centres blend


def test_importing_the_reader_imports_no_framework() -> None:
    import subprocess
    import sys

    probe = "import sys, jobs.mnist; print(sorted({'torch', 'tensorflow', 'keras'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)

    assert done.stdout.strip() == "[]"
