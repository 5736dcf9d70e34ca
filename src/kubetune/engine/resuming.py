"""Resuming every unfinished trial from its newest checkpoint on storage, not from Ray's older snapshot of it.

Ray restores an experiment from its experiment-state snapshot, which the driver writes at most every ~10 s (and
after every ``numToKeep`` checkpoints of a trial), while the trials write their checkpoints straight to storage.
A driver that dies between the two leaves a snapshot that is behind storage in two ways:

* it names an older checkpoint than the newest one, or none at all in the first seconds, so the resumed trial
  repeats epochs it had already trained (all of them when it had none);
* with ``checkpoint.numToKeep``, the driver deletes a checkpoint as soon as a better or newer one arrives, so the
  one the snapshot names may be gone: the trial then fails with "Could not recover from checkpoint" on every
  retry and ends ERROR.

Syncing the snapshot more often narrows that window but cannot close it (the deletion and the snapshot are two
writes), and each snapshot serialises every trial of the experiment. Instead :class:`CheckpointRecord` writes one
small file per trial, :data:`RECORD_FILE`, each time the driver takes in a reported checkpoint, *before* Ray
registers it (and so before Ray deletes anything); the worker has finished writing the checkpoint by then. Ray
never deletes a trial's latest checkpoint, so the checkpoint a record names exists until a newer record replaces
it. On a restore the same callback, at the first step and before any trial starts, points each unfinished trial
at its recorded checkpoint when that is newer than the snapshot's, and lets a trial whose snapshot checkpoint is
gone without a record start over rather than fail.

Pointing a restored trial at a checkpoint needs Ray's trial internals (its checkpoint manager and the index of
its next checkpoint directory); they are those of the Ray version kubetune pins. Should they change, the callback
logs one warning and leaves Ray's own choice in place.
"""

from __future__ import annotations

import json
import logging
import numbers
import re
from typing import Any

from ray.tune import Callback

log = logging.getLogger(__name__)

#: Written into each trial's directory on storage: the newest checkpoint the driver took in, with its result.
RECORD_FILE = "kubetune-checkpoint.json"
_CHECKPOINT_DIR = re.compile(r"checkpoint_(\d+)")


class CheckpointRecord(Callback):
    """Records each trial's newest checkpoint on storage, and resumes restored trials from it (module notes)."""

    def __init__(self) -> None:
        self._restored = False
        self._warned = False

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        name = result.get("checkpoint_dir_name")
        if not name:
            return
        record = {"checkpoint_dir_name": name, "metrics": _plain(result)}
        try:
            _write(trial.storage.storage_filesystem, trial.path, json.dumps(record, sort_keys=True))
        except (OSError, AttributeError) as e:  # never fail the run over its resume bookkeeping
            self._warn_once(f"cannot record trial {trial.trial_id}'s newest checkpoint ({e}): a resume may repeat work")

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self._restored:
            return
        self._restored = True  # the first step of a run: restored trials are all there, none has started
        for trial in trials:
            if trial.status != "PENDING":
                continue
            try:
                _resume_from_newest(trial)
            except (AttributeError, ImportError, TypeError) as e:
                self._warn_once(f"cannot point restored trials at their newest checkpoint ({e!r}): Ray's choice stays")
                return

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)


def _resume_from_newest(trial: Any) -> None:
    """Make ``trial`` restore from its recorded checkpoint when the snapshot's is older or gone."""
    from ray.train._internal.checkpoint_manager import _CheckpointManager
    from ray.train._internal.session import _TrainingResult
    from ray.tune import Checkpoint

    fs, trial_path = trial.storage.storage_filesystem, trial.path
    manager = trial.run_metadata.checkpoint_manager
    current = manager.latest_checkpoint_result
    current_exists = current is not None and _exists(fs, current.checkpoint.path)
    record = _read(fs, trial_path) or {}
    name = record.get("checkpoint_dir_name")
    recorded = f"{trial_path}/{name}" if isinstance(name, str) and _CHECKPOINT_DIR.fullmatch(name) else None
    if recorded is None or not _exists(fs, recorded):
        if current is not None and not current_exists:
            log.warning(
                "trial %s: its last recorded checkpoint %s is gone from storage; it starts over",
                trial.trial_id,
                current.checkpoint.path,
            )
            trial.run_metadata.checkpoint_manager = _CheckpointManager(manager.checkpoint_config)
        return
    newest = _index(recorded)
    if current_exists and _index(current.checkpoint.path) >= newest:
        return
    kept = [r for r in {*manager.best_checkpoint_results, *([current] if current else [])} if r is not None]
    fresh = _CheckpointManager(manager.checkpoint_config)
    for older in sorted(kept, key=lambda r: _index(r.checkpoint.path)):
        if _index(older.checkpoint.path) < newest and _exists(fs, older.checkpoint.path):
            fresh.register_checkpoint(older)
    metrics: dict[str, Any] = record["metrics"] if isinstance(record.get("metrics"), dict) else {}
    fresh.register_checkpoint(_TrainingResult(checkpoint=Checkpoint(recorded, filesystem=fs), metrics=metrics))
    trial.run_metadata.checkpoint_manager = fresh
    # The next checkpoint directory must come after the recorded one, not overwrite it.
    trial.storage.current_checkpoint_index = max(trial.storage.current_checkpoint_index, newest)
    trial.invalidate_json_state()
    log.info(
        "trial %s resumes from %s (the experiment snapshot had %s)",
        trial.trial_id,
        name,
        current.checkpoint.path.rsplit("/", 1)[-1] if current else "no checkpoint",
    )


def _index(path: str) -> int:
    match = _CHECKPOINT_DIR.fullmatch(path.rstrip("/").rsplit("/", 1)[-1])
    return int(match.group(1)) if match else -1


def _exists(fs: Any, path: str) -> bool:
    import pyarrow.fs

    return bool(fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound)


def _write(fs: Any, trial_path: str, text: str) -> None:
    """Write the record whole: to a temporary name, then moved over the old one (a rename on a local disk)."""
    target, partial = f"{trial_path}/{RECORD_FILE}", f"{trial_path}/.{RECORD_FILE}.partial"
    with fs.open_output_stream(partial) as f:
        f.write(text.encode())
    fs.move(partial, target)


def _read(fs: Any, trial_path: str) -> dict[str, Any] | None:
    try:
        with fs.open_input_stream(f"{trial_path}/{RECORD_FILE}") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):  # none written (an older kubetune, no checkpoint yet) or unreadable
        return None
    return data if isinstance(data, dict) else None


def _plain(result: dict[str, Any]) -> dict[str, Any]:
    """The result's JSON-able part, NumPy scalars as numbers: Ray orders checkpoints by a numeric metric."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, bool | str) or value is None:
            out[key] = value
        elif isinstance(value, numbers.Integral):
            out[key] = int(value)
        elif isinstance(value, numbers.Real):
            out[key] = float(value)  # NaN and infinities too: JSON's extension, read back by json.loads
        elif isinstance(value, dict):
            out[key] = _plain(value)
    return out
