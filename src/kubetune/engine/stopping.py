"""Why a run ended before every trial finished: an interrupt, the goal, the time or compute budget, fail-fast or an
extra stopper.

Ray Tune handles SIGINT itself: it ends the tuning loop, saves the experiment state so the unfinished trials can be
resumed, and returns from ``Tuner.fit()`` as if the run were complete, so neither an exception nor the result says
that it was interrupted. :class:`RunWatch` notes the signal on its way to Ray's handler (and which trials really
finished); :func:`cause` then names the reason the results file and the exit code report.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, Literal

from ray.tune import Callback

StopCause = Literal["interrupt", "goal", "time-budget", "compute-budget", "fail-fast", "stopper"]
STOP_CAUSES: Final[tuple[StopCause, ...]] = (
    "interrupt", "goal", "time-budget", "compute-budget", "fail-fast", "stopper"
)  # fmt: skip


class RunWatch(Callback):
    """What Ray's result grid does not say: whether SIGINT interrupted the run, and which trials finished.

    :attr:`interrupted`: Ray installs its SIGINT handler before it sets up callbacks, so :meth:`setup` wraps
    whatever handler is then installed. Ray's handler puts back the one from before the run on the first signal,
    which drops this wrapper with it: a second Ctrl-C still aborts at once, as Ray promises.

    :attr:`finished`: the ids of the trials that ran to their end (the function returned, or ``spec.stop`` or the
    scheduler stopped them). Ray marks the trials a time budget or an interrupt cut short TERMINATED too, and the
    ``done`` flag that tells them apart does not survive a restore (Ray snapshots a trial's last result before it
    sets the flag), so the ids are kept here and saved with Ray's experiment state (``get_state``).
    """

    def __init__(self) -> None:
        self.interrupted = False
        self.finished: set[str] = set()

    def setup(
        self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None, **info: Any
    ) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread; Ray installs none elsewhere either
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):
            return

        def noted(signum: int, frame: Any) -> None:
            self.interrupted = True
            handler(signum, frame)

        signal.signal(signal.SIGINT, noted)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.finished.add(str(trial.trial_id))  # Ray calls this only for a trial it stops as finished

    def get_state(self) -> dict[str, Any] | None:
        return {"finished": sorted(self.finished)} if self.finished else None

    def set_state(self, state: dict[str, Any]) -> None:
        finished = state.get("finished") if isinstance(state, dict) else None
        if isinstance(finished, list):  # Ray matches states to callbacks by position: check it is ours
            self.finished |= {str(t) for t in finished}


@contextmanager
def sigint_restored() -> Iterator[None]:
    """Put the SIGINT handler from before the run back after it: Ray leaves its own installed, and after the run
    that one only sets a flag nobody reads, so Ctrl-C during ``kubetune run --hold`` would do nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def cause(
    *,
    unfinished: int,
    interrupted: bool,
    goal_reached: bool = False,
    budget_seconds: float | None,
    elapsed_seconds: float,
    compute_spent: bool = False,
    fail_fast: bool,
    errors: int,
    stopper: bool,
) -> StopCause | None:
    """Why ``unfinished`` trials did not finish, most specific first; ``None`` when every trial finished.

    The time budget counts from Ray's first step, after this process started its clock, so a run Ray stopped for
    its budget has always used at least ``budget_seconds`` here.
    """
    if unfinished == 0:
        return None
    if interrupted:
        return "interrupt"
    if goal_reached:  # spec.goal: Ray stopped the rest when a trial reached it
        return "goal"
    if budget_seconds is not None and elapsed_seconds >= budget_seconds:
        return "time-budget"
    if compute_spent:  # spec.budget: GPU-hours or trial-hours (kubetune.engine.usage)
        return "compute-budget"
    if fail_fast and errors:
        return "fail-fast"
    if stopper:
        return "stopper"
    return None
