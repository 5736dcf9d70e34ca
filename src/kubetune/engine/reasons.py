"""Why each trial ended: one reason from a fixed set (:data:`kubetune.reporting.wire.END_REASONS`) and one line
of detail, for the results file, the console summary and the live metrics.

Ray Tune keeps none of this: a trial the scheduler stopped, one that ran to ``maxT`` and one a time budget cut
short all end TERMINATED. :class:`TrialEnds` is a Tune callback that works it out as trials end:

* The scheduler's decisions come from the recording schedulers (:mod:`kubetune.engine.verdicts`), which call
  :meth:`TrialEnds.decide` from inside ``on_trial_result`` (the ASHA rung and the cutoff it missed, the median,
  the HyperBand bracket, or that the trial reached ``maxT``) and :meth:`TrialEnds.exploited` when PBT clones
  another trial into one. Ray calls the callbacks' ``on_trial_complete`` only after that, so the decision is
  waiting there.
* A trial that completes with no decision recorded reached ``spec.goal`` or ``spec.stop``, ran out of
  ``spec.trialTimeoutSeconds`` (a budget), or returned on its own.
* ``on_trial_error`` gives the exception's type and first line (from the error Ray stored for the trial).
* Trials still live when the experiment ends were cut short; :func:`kubetune.engine.stopping.cause` says why (the
  time budget, the compute budget (``spec.budget``), an interrupt, another trial reaching the goal, fail-fast,
  an extra stopper).

It must come before any callback that reads the reasons (the reporting callback): Tune calls callbacks in list
order. Its ends are saved with Ray's experiment state (``get_state``), so a resumed run keeps the reasons of the
trials that ended before.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray.tune import Callback

from kubetune.engine import stopping
from kubetune.engine.limits import TrialLimits
from kubetune.engine.usage import BudgetStopper
from kubetune.reporting.wire import END_REASONS, MAX_REASON_DETAIL_LENGTH, EndReason

#: What a trial cut short by the end of the run ended with, by :data:`kubetune.engine.stopping.STOP_CAUSES`.
_CUTS: dict[str, tuple[EndReason, str]] = {
    "time-budget": ("budget", "the time budget (spec.timeBudgetSeconds) ran out"),
    "stopper": ("budget", "the run's stopper ended the experiment"),
    "interrupt": ("cancelled", "the run was interrupted"),
    "goal": ("cancelled", "another trial reached the goal (spec.goal)"),
    "fail-fast": ("cancelled", "another trial errored and spec.failure.failFast stopped the rest"),
}


@dataclass(frozen=True)
class TrialEnd:
    """Why one trial ended: a reason from the fixed set and its particulars in one line."""

    reason: EndReason
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialEnd | None:
        reason = data.get("reason")
        if reason not in END_REASONS:
            return None
        return cls(reason, str(data.get("detail", "")))


class TrialEnds(Callback):
    """The reason each trial ended, as trials end (module notes). Read with :meth:`of` and :attr:`ends`."""

    def __init__(
        self,
        *,
        stop: Mapping[str, Any] | None = None,
        limits: TrialLimits | None = None,
        budget_seconds: float | None = None,
        fail_fast: bool = False,
        stopper: bool = False,
        watch: stopping.RunWatch | None = None,
        budget: BudgetStopper | None = None,
    ) -> None:
        self._stop = dict(stop or {})
        self._limits = limits or TrialLimits()
        self._budget = budget_seconds
        self._fail_fast = fail_fast
        self._stopper = stopper
        self._watch = watch
        self._budget_stopper = budget
        self._started = time.monotonic()
        #: Trial id → why it ended, for every trial that has.
        self.ends: dict[str, TrialEnd] = {}
        #: The scheduler's decisions not yet acted on (trial id → its end), and PBT's last clone into a trial.
        self._decided: dict[str, TrialEnd] = {}
        self._exploits: dict[str, str] = {}

    # -- what the recording schedulers tell ------------------------------------------------------------------
    def decide(self, trial_id: str, end: TrialEnd) -> None:
        """The scheduler decided to stop ``trial_id``; Ray completes the trial next."""
        self._decided[str(trial_id)] = end

    def exploited(self, trial_id: str, detail: str) -> None:
        """PBT replaced ``trial_id``'s config and weights (``detail`` names the source trial and when)."""
        self._exploits[str(trial_id)] = detail

    def of(self, trial_id: str) -> TrialEnd | None:
        return self.ends.get(str(trial_id))

    def counts(self) -> dict[EndReason, int]:
        """Ended trials by reason, in :data:`END_REASONS` order (reasons no trial ended with left out)."""
        found: dict[EndReason, int] = {}
        for end in list(self.ends.values()):  # the reporting sender's thread asks too
            found[end.reason] = found.get(end.reason, 0) + 1
        return {reason: found[reason] for reason in END_REASONS if reason in found}

    # -- Tune hooks -------------------------------------------------------------------------------------------
    def setup(
        self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None, **info: Any
    ) -> None:
        self._started = time.monotonic()  # Ray's time budget counts from its first step, after this

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.ends.pop(str(trial.trial_id), None)  # running again (a resume restarted it): its old end is void
        self._decided.pop(str(trial.trial_id), None)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        trial_id = str(trial.trial_id)
        end = self._decided.pop(trial_id, None) or self._completed(getattr(trial, "last_result", None) or {})
        if (source := self._exploits.get(trial_id)) is not None:
            end = TrialEnd("exploited", _line(f"{source}; then {end.reason}: {end.detail}"))
        self.ends[trial_id] = end

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._decided.pop(str(trial.trial_id), None)
        self.ends[str(trial.trial_id)] = TrialEnd("errored", error_line(trial))

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        live = [t for t in trials if str(t.trial_id) not in self.ends]
        if not live:
            return
        spent = self._budget_stopper.spent() if self._budget_stopper is not None else None
        cause = stopping.cause(
            unfinished=len(live),
            interrupted=self._watch is not None and self._watch.interrupted,
            goal_reached=self._goal_reached(trials),
            budget_seconds=self._budget,
            elapsed_seconds=time.monotonic() - self._started,
            compute_spent=spent is not None,
            fail_fast=self._fail_fast,
            errors=sum(1 for t in trials if getattr(t, "status", "") == "ERROR"),
            stopper=self._stopper,
        )
        reason, detail = _CUTS.get(cause or "", ("cancelled", "the run ended before it finished"))
        if cause == "compute-budget" and spent is not None:
            reason, detail = "budget", spent
        for trial in live:
            state = "before it started" if not (getattr(trial, "last_result", None) or {}) else "while running"
            self.ends[str(trial.trial_id)] = TrialEnd(reason, f"{detail} {state}")

    def get_state(self) -> dict[str, Any] | None:
        return {"trial_ends": {t: e.to_dict() for t, e in self.ends.items()}} if self.ends else None

    def set_state(self, state: dict[str, Any]) -> None:
        ends = state.get("trial_ends") if isinstance(state, dict) else None
        if not isinstance(ends, dict):  # Ray matches states to callbacks by position: check it is ours
            return
        for trial_id, data in ends.items():
            if isinstance(data, dict) and (end := TrialEnd.from_dict(data)) is not None:
                self.ends[str(trial_id)] = end

    # -- helpers ----------------------------------------------------------------------------------------------
    def _goal_reached(self, trials: list[Any]) -> bool:
        goal = self._limits.goal
        return goal is not None and any(goal.reached(getattr(t, "last_result", None) or {}) for t in trials)

    def _completed(self, last: Mapping[str, Any]) -> TrialEnd:
        """A trial Ray completed with no scheduler decision: a limit or ``spec.stop`` stopped it, or it returned."""
        goal = self._limits.goal
        if goal is not None and goal.reached(last):
            return TrialEnd("finished", f"reached the goal {goal.describe()} (spec.goal)")
        if self._limits.timed_out(last):
            return TrialEnd("budget", f"ran {self._limits.timeout_seconds:g} s (spec.trialTimeoutSeconds)")
        for key, value in self._stop.items():
            reached = last.get(key)
            if isinstance(reached, int | float) and reached >= value:
                return TrialEnd("finished", f"reached spec.stop {key} >= {value:g}")
        iteration = last.get("training_iteration")
        suffix = f" after {iteration} results" if iteration else ""
        return TrialEnd("finished", f"the trainable returned{suffix}")


def error_line(trial: Any) -> str:
    """``ValueError: bad lr``: the type and first line of the exception a trial raised, from what Ray stored.

    Ray writes the error into the trial's directory on the driver (``pickled_error_file``, ``error_file``) and
    copies it to storage later, so the local files are read first.
    """
    error = _stored(trial, "pickled_error_file", "get_pickled_error", binary=True)
    if error is not None:
        cause = getattr(error, "cause", None) or error  # RayTaskError wraps what the trainable raised
        return _line(f"{type(cause).__name__}: {_first_line(str(cause))}")
    text = _stored(trial, "error_file", "get_error", binary=False)
    return _line(_last_exception(str(text))) if text else "the trial failed (Ray stored no error)"


def _stored(trial: Any, local: str, getter: str, *, binary: bool) -> Any:
    """What Ray stored for the trial's error: the local file first, else through Ray's getter (storage)."""
    try:
        path = getattr(trial, local, None)
        if isinstance(path, str) and os.path.isfile(path):
            if binary:
                import cloudpickle  # type: ignore[import-untyped]

                with open(path, "rb") as f:
                    return cloudpickle.load(f)
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        return getattr(trial, getter)()
    except Exception:  # an unpicklable or unreadable error: the caller falls back to the next source
        return None


def _first_line(message: str) -> str:
    return next((line.strip() for line in message.splitlines() if line.strip()), "(no message)")


def _last_exception(traceback_text: str) -> str:
    """The ``Type: message`` line a traceback ends with (its last line that does not start with a space)."""
    lines = [line for line in traceback_text.splitlines() if line.strip()]
    found = [line for line in lines if not line.startswith((" ", "\t", "Failure #")) and ":" in line]
    return found[-1].strip() if found else _first_line(traceback_text)


def _line(text: str) -> str:
    """One line, at most :data:`MAX_REASON_DETAIL_LENGTH` characters (what the wire carries)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_REASON_DETAIL_LENGTH else flat[: MAX_REASON_DETAIL_LENGTH - 1] + "…"
