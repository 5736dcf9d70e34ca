"""The local storage filesystem Ray writes through: a writer killed mid-file leaves the previous file, never a
truncated one (pyarrow's plain local filesystem, what Ray uses by default, leaves the cut-off bytes)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.fs
import pytest

from kubetune.engine.storage import TEMP_PREFIX, AtomicLocalHandler, atomic_filesystem

# Writes the first half of the new content through the filesystem, says so, and waits to be killed.
WRITER = textwrap.dedent(
    """
    import sys, time, pyarrow.fs
    from kubetune.engine.storage import atomic_filesystem
    target, ready, kind = sys.argv[1:4]
    fs = atomic_filesystem(target) if kind == "atomic" else pyarrow.fs.LocalFileSystem()
    stream = fs.open_output_stream(target)
    stream.write(b'{"trials": [1, 2, 3')
    stream.flush()
    open(ready, "w").close()
    time.sleep(600)
    """
)


def killed_while_writing(target: Path, kind: str) -> None:
    ready = target.with_name("ready")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(ready), kind])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert writer.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() < deadline, "the writer never got half way"
            time.sleep(0.02)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(timeout=30)


def test_the_plain_local_filesystem_leaves_a_truncated_file_when_its_writer_is_killed(tmp_path: Path) -> None:
    target = tmp_path / "experiment_state.json"
    target.write_text('{"trials": []}')
    killed_while_writing(target, "plain")
    assert target.read_bytes() == b'{"trials": [1, 2, 3'  # what Ray's next driver would have to read


def test_a_writer_killed_mid_file_leaves_the_previous_version_whole(tmp_path: Path) -> None:
    target = tmp_path / "experiment_state.json"
    target.write_text('{"trials": []}')
    killed_while_writing(target, "atomic")
    assert target.read_text() == '{"trials": []}'
    # The partial file is hidden from listings, as Ray lists the experiment directory to find its state.
    fs = atomic_filesystem(str(tmp_path))
    assert fs is not None
    listed = fs.get_file_info(pyarrow.fs.FileSelector(str(tmp_path)))
    assert {i.base_name for i in listed} == {"experiment_state.json", "ready"}
    assert any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir())  # left behind, but never read


def test_copies_and_reads_go_through_as_with_the_local_filesystem(tmp_path: Path) -> None:
    source = tmp_path / "staging"
    (source / "trial_1").mkdir(parents=True)
    (source / "experiment_state.json").write_text("{}")
    (source / "trial_1" / "result.json").write_text('{"score": 1}\n')
    fs = atomic_filesystem(str(tmp_path))
    assert fs is not None
    pyarrow.fs.copy_files(str(source), str(tmp_path / "storage"), destination_filesystem=fs)
    assert (tmp_path / "storage" / "trial_1" / "result.json").read_text() == '{"score": 1}\n'
    with fs.open_input_stream(str(tmp_path / "storage" / "experiment_state.json")) as f:
        assert f.read() == b"{}"
    fs.copy_file(str(tmp_path / "storage" / "experiment_state.json"), str(tmp_path / "copy.json"))
    assert (tmp_path / "copy.json").read_text() == "{}"
    assert not [p for p in tmp_path.rglob(f"{TEMP_PREFIX}*")]  # completed writes leave no temporary file


@pytest.mark.parametrize("caught", [b"", b'{"trial_data": [["{\\"trial_id'], ids=["empty", "half-written"])
def test_an_experiment_state_caught_mid_write_in_rays_staging_is_not_published(tmp_path: Path, caught: bytes) -> None:
    target = tmp_path / "experiment_state-2026-12-05_01-41-16.json"
    target.write_text('{"trial_data": []}')
    fs = atomic_filesystem(str(tmp_path))
    assert fs is not None
    with fs.open_output_stream(str(target)) as stream:
        stream.write(caught)
    assert target.read_text() == '{"trial_data": []}'  # the previous snapshot stays for a resume
    with fs.open_output_stream(str(target)) as stream:
        stream.write(b'{"trial_data": [1]}')
    assert target.read_text() == '{"trial_data": [1]}'
    other = tmp_path / "result.json"  # any other file is published as written, empty or not
    with fs.open_output_stream(str(other)) as stream:
        stream.write(b"")
    assert other.read_bytes() == b""
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))


@pytest.mark.parametrize("root", ["s3://bucket/kubetune", "gs://bucket/x"])
def test_object_stores_keep_their_own_filesystem(root: str) -> None:
    assert atomic_filesystem(root) is None  # an object appears only once it is whole


def test_the_filesystem_travels_to_trial_workers() -> None:
    fs = atomic_filesystem("/tmp")
    assert fs is not None
    again = pickle.loads(pickle.dumps(fs))
    assert again.type_name == "py::kubetune-atomic-local"
    assert AtomicLocalHandler() == AtomicLocalHandler()
