"""What a run prints: Ray Tune's progress and kubetune's result, and warnings only when something is wrong.

Ray logs several things on a healthy run that read as trouble to someone new, and kubetune reports each of them
better itself:

* "Experiment state snapshotting has been triggered multiple times…" (three lines, several times per run with
  ``checkpoint.numToKeep``): Ray forcing snapshots as designed; kubetune does not rely on them to resume
  (:mod:`kubetune.engine.resuming`). Slow snapshots still warn (Ray's separate "took … seconds" warning).
* "Trials did not complete: […]" and "Failed to fetch metrics for N trial(s)" for trials that never reported:
  the summary counts the unfinished and errored trials and says why.
* "Experiment has been interrupted … Resume experiment with: Tuner.restore(…)": kubetune users resume by running
  the same command again, which the CLI says instead.
* Optuna's "The reported value is ignored because this `step=…` is already reported" each time a retried trial
  reports its first results again: Ray logs the failure that caused the retry, and the repeated values are meant
  to be ignored.
* Each trial process's INFO lines ("Checkpoint successfully created at …" once per checkpoint, "Restored on …"):
  :func:`quiet_worker` raises Ray's own loggers in the workers to WARNING; the trainable's output is untouched.
* A trial process that Ray stops while the run ends (an abort, a budget) can receive the exit inside a weakref
  callback, where Python cannot raise it and prints "Exception ignored in … Traceback … SystemExit" instead:
  a traceback after kubetune's one-line error for what is an ordinary stop. :func:`quiet_worker` leaves out
  exactly those (a SystemExit or KeyboardInterrupt Python would ignore anyway); every other ignored exception is
  printed as before.

The filters are installed for the duration of one run only (:func:`ray_console`), so a program embedding the
engine keeps Ray's logging as it was.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Ray's logger name → predicates on a record's message; a record any predicate accepts is dropped.
_DROPPED: dict[str, tuple[Callable[[str], bool], ...]] = {
    "ray.tune.execution.experiment_state": (
        lambda m: m.startswith("Experiment state snapshotting has been triggered multiple times"),
    ),
    "ray.tune.tune": (
        lambda m: m.startswith("Trials did not complete"),
        lambda m: m.startswith("Experiment has been interrupted, but the most recent state was saved"),
    ),
    "ray.tune.analysis.experiment_analysis": (
        # Trials that never reported have no result files; any other failure to read them still shows.
        lambda m: (
            m.startswith("Failed to fetch metrics for") and all("were not found" in line for line in m.splitlines()[1:])
        ),
    ),
}
#: Optuna's warning when a retried trial reports a step again (a regular expression matched at the start).
_OPTUNA_REPEATED_STEP = r"The reported value is ignored because this `step=\d+` is already reported"
#: The worker-side Ray loggers whose INFO lines are bookkeeping, not news.
_WORKER_LOGGERS = ("ray.train", "ray.tune")
#: Import path of :func:`quiet_worker`, for ``runtime_env={"worker_process_setup_hook": ...}``.
WORKER_SETUP_HOOK = f"{__name__}.quiet_worker"


class _Drop(logging.Filter):
    def __init__(self, predicates: tuple[Callable[[str], bool], ...]) -> None:
        super().__init__()
        self._predicates = predicates

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(accepts(message) for accepts in self._predicates)


@contextmanager
def ray_console() -> Iterator[None]:
    """Drop the misleading driver-side log records and warnings (module notes) while the block runs."""
    installed = [(logging.getLogger(name), _Drop(predicates)) for name, predicates in _DROPPED.items()]
    for logger, drop in installed:
        logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_OPTUNA_REPEATED_STEP, category=UserWarning)
            yield
    finally:
        for logger, drop in installed:
            logger.removeFilter(drop)


def quiet_worker() -> None:
    """Ray's ``worker_process_setup_hook``: Ray's own INFO lines stay out of the console, warnings still show, and
    an exit that arrives where Python must ignore it is not printed as a traceback (module notes)."""
    for name in _WORKER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    previous = sys.unraisablehook

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        if isinstance(info.exc_value, SystemExit | KeyboardInterrupt):
            return  # the process is exiting: the ignored exit is not an error
        previous(info)

    sys.unraisablehook = unraisable
