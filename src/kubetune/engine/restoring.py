"""A restored ``Tuner``'s parts that Ray has no public accessor for: its run config's callbacks (replaced by this
process's), its searcher and its scheduler (Ray restores their saved state into these very objects at fit)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def replace_callbacks(tuner: Any, callbacks: list[Any], *, stop: Any = None) -> None:
    """Give a restored tuner this process's callbacks and stop criteria.

    ``Tuner.restore`` unpickles the run config saved by the first driver, whose callbacks dropped their
    connection state and secrets when pickled, and whose budget stopper lost the ledger it reads (it is bound to
    this process's :class:`~kubetune.engine.usage.TrialUsage`); Ray has no public way to pass new ones, so set
    them on the restored run config (``TunerInternal.get_run_config`` returns it by reference).
    """
    local = getattr(tuner, "_local_tuner", None)
    if local is None:
        log.warning("cannot attach callbacks to the restored experiment; live reporting is off for this run")
        return
    config = local.get_run_config()
    config.callbacks = callbacks
    config.stop = stop


def restored_searcher(tuner: Any) -> Any:
    """The searcher a restored tuner unpickled (Ray restores its saved state into this very object at fit)."""
    return getattr(_tune_config(tuner), "search_alg", None)


def restored_scheduler(tuner: Any) -> Any:
    """The scheduler a restored tuner unpickled (``TunerInternal._tune_config``; Ray has no public accessor)."""
    return getattr(_tune_config(tuner), "scheduler", None)


def _tune_config(tuner: Any) -> Any:
    """``TunerInternal._tune_config`` of a restored tuner, or None."""
    return getattr(getattr(tuner, "_local_tuner", None), "_tune_config", None)
