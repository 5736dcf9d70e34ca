"""The saved state of kubetune's Optuna searcher (:mod:`kubetune.engine.optuna_bridge`): one pickle per driver
session in the experiment directory, holding the whole study and the live trials' bookkeeping."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

#: Bumped when the pickled state changes shape; a state of another version is refused, not misread.
STATE_VERSION = 1
#: Ray's file name for a searcher's state in the experiment directory (``Searcher.CKPT_FILE_TMPL``).
STATE_GLOB = "searcher-state-*.pkl"


def write_state(path: str | Path, state: dict[str, Any]) -> None:
    with open(path, "wb") as f:
        pickle.dump(state, f)


def read_state(path: Path) -> dict[str, Any]:
    """A state :func:`write_state` wrote; refuses one of another version."""
    with path.open("rb") as f:
        state = pickle.load(f)  # the experiment's own file, written by the searcher
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise ValueError(f"{path} is not a state of this searcher (version {STATE_VERSION})")
    return state


def load_study(experiment_path: str | Path) -> optuna.Study:
    """The study of an experiment that ran with this searcher (its newest saved state; a local directory)."""
    # Newest by the driver session the name carries (as Ray picks its experiment state), not by mtime: a resumed
    # driver uploads the earlier sessions' files again, so they can be the newest on storage.
    files = sorted(Path(experiment_path).glob(STATE_GLOB), key=lambda p: p.name)
    if not files:
        raise FileNotFoundError(f"no {STATE_GLOB} in {experiment_path}: not an experiment of kubetune's searcher")
    study: optuna.Study = read_state(files[-1])["study"]
    return study
