"""The compute budget of one benchmark run: a ledger of counted results, and the Ray hooks that fill it and stop.

Ray pickles its run config (stopper and callbacks included) into the experiment directory, so these live in an
importable module (pickled by reference) and find the ledger of the run in progress through :data:`_ACTIVE`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ray.tune import Callback
from ray.tune.stopper import Stopper


@dataclass
class Ledger:
    """Every counted result of one run, in arrival order, and the budget that ends it."""

    budget: int
    values: list[float] = field(default_factory=list)
    trials: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spent(self) -> bool:
        return len(self.values) >= self.budget

    def record(self, trial: str, value: float) -> bool:
        """Count one result; ``False`` (not counted) once the budget is spent."""
        with self.lock:
            if len(self.values) >= self.budget:
                return False
            self.values.append(value)
            self.trials.add(trial)
            return True


# The ledger of the Ray run in progress: the stopper and the callback look it up here, so copies Ray makes of
# either (run-config snapshots) still count into the one the benchmark reads.
_ACTIVE: dict[str, Ledger] = {}


class BudgetStopper(Stopper):
    """Ends the whole experiment once the run's budget is spent (trials in flight are stopped)."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return _ACTIVE["run"].spent()


class Recorder(Callback):
    """Counts every result of ``metric`` into the run's ledger."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        if self.metric in result:
            _ACTIVE["run"].record(trial.trial_id, float(result[self.metric]))


@contextmanager
def budget_hooks(budget: int, metric: str) -> Iterator[tuple[Ledger, Any, Any]]:
    """``(ledger, stopper, callback)`` for one Ray run of ``budget`` results of ``metric``."""
    ledger = Ledger(budget)
    _ACTIVE["run"] = ledger
    try:
        yield ledger, BudgetStopper(), Recorder(metric)
    finally:
        _ACTIVE.pop("run", None)
