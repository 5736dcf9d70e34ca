"""Each trial's logs where the run left them: ``stdout``, ``stderr`` and Ray's ``error.txt`` in the trial's
directory under the experiment's storage path, readable after the cluster is gone.

The runner has Ray Tune write every trial's stdout and stderr to files in the trial's working directory
(``RunConfig(log_to_file=True)``) and copy that directory to the trial's directory on storage
(``SyncConfig(sync_artifacts=True)``): on a report at most every ``sync_period`` (Ray's default, 5 minutes)
and whenever the trial ends, errored trials included. Ray itself writes ``error.txt`` (the traceback of each
failure) there. A storage URI (``s3://…``) is read through pyarrow's filesystem layer, like the results file.

Trial directories are named by Ray (``<trainable>_<trial id>_<index>_<params>_<date>``); the trial id comes from
the trial's ``result.json`` when it reported, else from the name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kubetune.engine import results

#: The files a trial's logs are made of, in the order they are shown.
STDOUT, STDERR, ERROR = "stdout", "stderr", "error.txt"
LOG_FILES = (STDOUT, STDERR, ERROR)
#: ``<trainable>_<trial id>_<index>_…``: Ray's trial ids are 5 hex digits, ``_`` and a 5-digit counter.
_TRIAL_ID = re.compile(r"(?:^|_)([0-9a-f]{5}_\d{5})(?:_|$)")
#: What Ray's log_to_file writes first in each worker process; not the trainable's output.
_ACTOR_PREFIX = ":actor_name:"


@dataclass(frozen=True)
class TrialDir:
    """One trial's directory on storage."""

    trial_id: str
    #: Path on the filesystem of :func:`trial_dirs` (no URI scheme).
    path: str


def trial_dirs(experiment_path: str) -> tuple[Any, list[TrialDir]]:
    """The filesystem (``None``: local) and every trial directory of the experiment, sorted by trial id."""
    fs, root = _filesystem(experiment_path)
    found: list[TrialDir] = []
    for name, path in _subdirs(fs, root):
        trial_id = _trial_id_of(fs, path, name)
        if trial_id is not None:
            found.append(TrialDir(trial_id, path))
    return fs, sorted(found, key=lambda d: d.trial_id)


def find(experiment_path: str, trial: str) -> tuple[Any, TrialDir]:
    """The directory of ``trial``: its id, or a unique part of it (``00003``). ValueError naming the choices."""
    fs, dirs = trial_dirs(experiment_path)
    exact = [d for d in dirs if d.trial_id == trial]
    matches = exact or [d for d in dirs if trial in d.trial_id]
    if len(matches) == 1:
        return fs, matches[0]
    known = ", ".join(d.trial_id for d in dirs) or "none"
    problem = "matches several trials" if matches else "is no trial of this experiment"
    raise ValueError(f"{trial!r} {problem} (trials: {known})")


def read(fs: Any, trial_dir: TrialDir, name: str, *, offset: int = 0, limit: int = -1) -> str:
    """The text of one log file from ``offset`` bytes on, at most ``limit`` bytes ("" when there is none yet)."""
    path = results.join(trial_dir.path, name) if fs is None else f"{trial_dir.path}/{name}"
    try:
        if fs is None:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(limit)
        else:
            with fs.open_input_file(path) as f:
                f.seek(offset)
                data = f.read(None if limit < 0 else limit)
    except (FileNotFoundError, IsADirectoryError):
        return ""
    except OSError as e:  # pyarrow's "not found" is an OSError too
        if "not found" in str(e).lower() or "no such file" in str(e).lower():
            return ""
        raise
    return data.decode("utf-8", errors="replace")


def trainable_output(text: str) -> str:
    """``text`` without the line Ray's ``log_to_file`` writes at the start of each worker process."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(_ACTOR_PREFIX))


def _filesystem(location: str) -> tuple[Any, str]:
    if "://" not in location or location.startswith("file://"):
        return None, location.removeprefix("file://")
    import pyarrow.fs

    fs, path = pyarrow.fs.FileSystem.from_uri(location)
    return fs, str(path)


def _subdirs(fs: Any, root: str) -> list[tuple[str, str]]:
    if fs is None:
        import os

        if not os.path.isdir(root):
            raise FileNotFoundError(f"no experiment directory at {root}")
        return [(e.name, e.path) for e in os.scandir(root) if e.is_dir()]
    import pyarrow.fs

    infos = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=False))
    return [(i.base_name, i.path) for i in infos if i.type == pyarrow.fs.FileType.Directory]


def _trial_id_of(fs: Any, path: str, name: str) -> str | None:
    first = read(fs, TrialDir("", path), "result.json", limit=1 << 16).partition("\n")[0]
    try:
        trial_id = json.loads(first).get("trial_id") if first.strip() else None
    except (ValueError, AttributeError):
        trial_id = None
    if isinstance(trial_id, str) and trial_id:
        return trial_id
    match = _TRIAL_ID.search(name)
    return match.group(1) if match else None
