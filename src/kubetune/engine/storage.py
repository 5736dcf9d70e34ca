"""A local storage filesystem for Ray whose files appear whole or not at all.

Ray writes the experiment's state (``experiment_state-*.json``, the search generator's and the searcher's state,
the callbacks' state) into the driver's staging directory and then copies it to ``spec.storage.path`` with
``pyarrow.fs.copy_files``, which truncates each destination file and writes it in place. A driver killed during
that copy (the head pod evicted, the node lost, ``kill -9``) leaves the files on storage empty or cut short; the
next driver then finds an experiment it cannot read and silently starts it over, losing every finished trial.
Measured: a driver killed when the 7th of 10 short trials started left all three state files at 0 bytes in 2 of
2 runs (``tests/engine/test_storage.py`` reproduces it with the plain local filesystem).

:func:`atomic_filesystem` gives Ray (``RunConfig.storage_filesystem``, ``Tuner.restore``) the local filesystem
with one change: every file is written to a hidden temporary name beside it and renamed over the destination
when complete (``os.replace``: atomic on one POSIX filesystem, a shared volume included). The previous version of
a file stays readable until its successor is complete. Object stores (``s3://``, ``gs://``) already make an
object visible only once it is whole, so a URI keeps pyarrow's own filesystem.

One more race is Ray's own: it rewrites ``experiment_state-*.json`` in its staging directory in place (``open("w")``)
while its background sync may be copying the previous one, so the copy can read an empty or half-written file
(seen in a full test run: a 0-byte state on storage although every write was atomic). An experiment state that
does not parse as JSON is therefore never published: the previous one stays, and Ray's next snapshot brings the
current one.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import uuid
from typing import Any

import pyarrow
import pyarrow.fs

log = logging.getLogger(__name__)

#: Prefix of the temporary files (hidden, and never a name Ray or kubetune reads).
TEMP_PREFIX = ".kubetune-partial-"
#: Ray's experiment state (``TuneController.CKPT_FILE_TMPL``): published only when it is whole JSON.
EXPERIMENT_STATE = "experiment_state-*.json"


class _AtomicFile:
    """A binary file written under a temporary name and renamed to ``path`` by :meth:`close`."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._temp = os.path.join(os.path.dirname(path), f"{TEMP_PREFIX}{uuid.uuid4().hex}-{os.path.basename(path)}")
        self._file = open(self._temp, "wb")  # noqa: SIM115 (closed, then renamed, by close())
        self.closed = False

    def write(self, data: Any) -> int:
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def tell(self) -> int:
        return self._file.tell()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._file.close()
            if _unreadable_state(self._path, self._temp):
                log.debug("not publishing %s: Ray's staging copy was caught mid-write", self._path)
                os.unlink(self._temp)
                return
            os.replace(self._temp, self._path)
        except BaseException:
            if os.path.exists(self._temp):
                os.unlink(self._temp)
            raise


def _unreadable_state(path: str, written: str) -> bool:
    """Whether ``written`` is Ray's experiment state for ``path`` and does not parse (see the module notes)."""
    if not fnmatch.fnmatch(os.path.basename(path), EXPERIMENT_STATE):
        return False
    try:
        with open(written, "rb") as f:
            json.load(f)
    except ValueError:
        return True
    return False


class AtomicLocalHandler(pyarrow.fs.FileSystemHandler):  # type: ignore[misc]
    """pyarrow's local filesystem, but each output stream writes a temporary file renamed into place on close."""

    def __init__(self) -> None:
        self._local = pyarrow.fs.LocalFileSystem()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AtomicLocalHandler)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(AtomicLocalHandler)

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return AtomicLocalHandler, ()  # trial workers get one too (they upload checkpoints through it)

    def get_type_name(self) -> str:
        return "kubetune-atomic-local"

    def normalize_path(self, path: str) -> str:
        return str(self._local.normalize_path(path))

    def get_file_info(self, paths: list[str]) -> list[pyarrow.fs.FileInfo]:
        return list(self._local.get_file_info(paths))

    def get_file_info_selector(self, selector: pyarrow.fs.FileSelector) -> list[pyarrow.fs.FileInfo]:
        infos = self._local.get_file_info(selector)
        return [i for i in infos if not i.base_name.startswith(TEMP_PREFIX)]

    def create_dir(self, path: str, recursive: bool) -> None:
        self._local.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self._local.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self._local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise OSError("refusing to delete the contents of the root directory")

    def delete_file(self, path: str) -> None:
        self._local.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self._local.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        with self._local.open_input_stream(src) as source, self.open_output_stream(dest, {}) as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)

    def open_input_stream(self, path: str) -> pyarrow.NativeFile:
        return self._local.open_input_stream(path)

    def open_input_file(self, path: str) -> pyarrow.NativeFile:
        return self._local.open_input_file(path)

    def open_output_stream(self, path: str, metadata: dict[str, str]) -> pyarrow.NativeFile:
        return pyarrow.PythonFile(_AtomicFile(path), mode="w")

    def open_append_stream(self, path: str, metadata: dict[str, str]) -> pyarrow.NativeFile:
        return self._local.open_append_stream(path)


def atomic_filesystem(storage_root: str) -> pyarrow.fs.FileSystem | None:
    """The filesystem Ray should write ``storage_root`` with: the atomic local one for a local path (also a
    mounted shared volume), ``None`` (pyarrow's own, chosen by Ray from the URI) for an object store."""
    if "://" in storage_root:
        return None
    return pyarrow.fs.PyFileSystem(AtomicLocalHandler())
