"""Where a job's local data lives: one rule for every job that reads a directory on the trial's filesystem."""

from __future__ import annotations

import os
from pathlib import Path


def local_data_dir(data_dir: str | os.PathLike[str] | None, *, env: str, default: str) -> Path:
    """``data_dir``; when it is ``None``, ``$env`` if set and non-empty, else ``default``; ``~`` expanded.

    Always absolute: a Ray Tune trial runs in its own working directory, not where the driver started.
    """
    chosen = data_dir if data_dir is not None else (os.environ.get(env) or default)
    return Path(chosen).expanduser().absolute()
