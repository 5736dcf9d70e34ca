"""What the search cost: GPU-, CPU- and trial-seconds held by each trial, and ``spec.budget`` that ends the run.

A trial *holds* its resources while Ray runs it: from the moment its actor starts (state RUNNING) until it ends,
is paused (HyperBand, PBT) or the run stops. :class:`TrialUsage` is a Tune callback that adds, at the end of each
step of Tune's loop, the time since the previous step to every trial that was RUNNING through it, times the
resources the trial reserved (its placement group: CPUs and GPUs, whatever ``resourcesPerTrial`` or a fractional
GPU made of them). A trial waiting for a slot (PENDING) or paused holds nothing and costs nothing. The figures are
what was *reserved*, like a cloud bill, not what the kernels used; the accuracy is one step of Tune's loop (it
waits at most a fraction of a second for an event).

The ledger is saved with Ray's experiment state (``get_state``), so a resumed run goes on counting from what the
interrupted one had spent: the budget is the experiment's, not one driver's. Trials seeded by a warm start ran in
another experiment and cost nothing here.

:class:`BudgetStopper` is ``spec.budget``: once the experiment has held ``gpuHours`` GPU-hours or ``trialHours``
trial-hours, Ray stops every running trial and starts no new one, like ``timeBudgetSeconds``; the trials it cut
short end with reason ``budget`` (:mod:`kubetune.engine.reasons`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ray.tune import Callback
from ray.tune.stopper import Stopper

#: The keys of one trial's (or the experiment's) usage, in seconds, as the results file and the wire hold them.
USAGE_KEYS = ("gpu_seconds", "cpu_seconds", "trial_seconds")


@dataclass
class Held:
    """Seconds of GPUs, CPUs and trial time one trial (or all of them) held."""

    gpu_seconds: float = 0.0
    cpu_seconds: float = 0.0
    trial_seconds: float = 0.0

    def add(self, seconds: float, *, gpus: float, cpus: float) -> None:
        self.gpu_seconds += seconds * gpus
        self.cpu_seconds += seconds * cpus
        self.trial_seconds += seconds

    def to_dict(self) -> dict[str, float]:
        return {key: round(getattr(self, key), 3) for key in USAGE_KEYS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Held:
        values = {key: data.get(key) for key in USAGE_KEYS}
        return cls(**{k: float(v) for k, v in values.items() if isinstance(v, int | float) and v >= 0})


def reserved(trial: Any) -> tuple[float, float]:
    """``(gpus, cpus)`` a Ray trial reserves: the sum over its placement group's bundles."""
    try:
        required = trial.placement_group_factory.required_resources
    except Exception:  # no placement group yet (a trial object from elsewhere): it reserves nothing known
        return 0.0, 0.0
    return float(required.get("GPU", 0) or 0), float(required.get("CPU", 0) or 0)


class TrialUsage(Callback):
    """Resources x time each trial held (module notes). :attr:`trials` by trial id; :meth:`total` summed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: float | None = None
        self.trials: dict[str, Held] = {}

    def of(self, trial_id: str) -> Held | None:
        return self.trials.get(str(trial_id))

    def total(self) -> Held:
        total = Held()
        for held in list(self.trials.values()):  # the reporting sender's thread reads too
            total.gpu_seconds += held.gpu_seconds
            total.cpu_seconds += held.cpu_seconds
            total.trial_seconds += held.trial_seconds
        return total

    # -- Tune hooks -------------------------------------------------------------------------------------------
    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self._last is None:
            self._last = self._clock()  # the first step: nothing ran before it in this process

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        self._account(trials)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._account(trials)  # before Tune marks it TERMINATED: its last stretch counts

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._account(trials)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._account(trials)

    def get_state(self) -> dict[str, Any] | None:
        return {"trial_usage": {t: h.to_dict() for t, h in self.trials.items()}} if self.trials else None

    def set_state(self, state: dict[str, Any]) -> None:
        usage = state.get("trial_usage") if isinstance(state, dict) else None
        if not isinstance(usage, dict):  # Ray matches states to callbacks by position: check it is ours
            return
        for trial_id, data in usage.items():
            if isinstance(data, dict):
                self.trials[str(trial_id)] = Held.from_dict(data)

    # -- helpers ----------------------------------------------------------------------------------------------
    def _account(self, trials: list[Any]) -> None:
        now = self._clock()
        elapsed = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        for trial in trials:
            if str(getattr(trial, "status", "")) != "RUNNING":
                continue
            gpus, cpus = reserved(trial)
            self.trials.setdefault(str(trial.trial_id), Held()).add(elapsed, gpus=gpus, cpus=cpus)


@dataclass(frozen=True)
class Budget:
    """``spec.budget``: GPU-hours and trial-hours the experiment may hold (None: no limit)."""

    gpu_hours: float | None = None
    trial_hours: float | None = None

    def __bool__(self) -> bool:
        return self.gpu_hours is not None or self.trial_hours is not None

    def spent(self, held: Held) -> str | None:
        """What was spent, in words, once ``held`` reaches a limit; None before."""
        if self.gpu_hours is not None and held.gpu_seconds >= self.gpu_hours * 3600:
            return f"the GPU-hour budget (spec.budget.gpuHours {self.gpu_hours:g}) was spent"
        if self.trial_hours is not None and held.trial_seconds >= self.trial_hours * 3600:
            return f"the trial-hour budget (spec.budget.trialHours {self.trial_hours:g}) was spent"
        return None


class BudgetStopper(Stopper):
    """Ends the experiment once :class:`Budget` is spent by what :class:`TrialUsage` counted."""

    def __init__(self, budget: Budget, usage: TrialUsage) -> None:
        self.budget = budget
        self.usage = usage

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.spent() is not None

    def spent(self) -> str | None:
        return self.budget.spent(self.usage.total())

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the run config (the stopper in it) into tuner.pkl; a restored run builds a fresh one
        # bound to its own ledger.
        return {"budget": self.budget, "usage": TrialUsage()}
