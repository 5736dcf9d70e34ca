"""Where a job's data lives: one rule for every job, local directory or storage URI.

``data_dir`` when given, else ``$env`` if set and non-empty, else the job's default; ``~`` expanded and made
absolute, because a Ray Tune trial runs in its own working directory, not where the driver started.
"""

from __future__ import annotations

import os
from pathlib import Path


def local_data_dir(data_dir: str | os.PathLike[str] | None, *, env: str, default: str | os.PathLike[str]) -> Path:
    """The local directory ``data_dir`` names (see the module), as an absolute ``Path``."""
    chosen = data_dir if data_dir is not None else (os.environ.get(env) or default)
    return Path(chosen).expanduser().absolute()


def data_location(data_dir: str | os.PathLike[str] | None, *, env: str, default: str | os.PathLike[str]) -> str:
    """Like :func:`local_data_dir`, but a URI (``s3://bucket/x``, ``file:///x``) is returned unchanged."""
    chosen = os.fspath(data_dir if data_dir is not None else (os.environ.get(env) or default))
    return chosen if "://" in chosen else str(local_data_dir(chosen, env=env, default=default))
