"""Ray Tune's schedulers, each recording why it stopped a trial (for :class:`kubetune.engine.reasons.TrialEnds`).

Ray's schedulers decide in ``on_trial_result`` and keep the why to themselves. Each class here is Ray's own
scheduler with ``on_trial_result`` extended: it works out the rule's particulars (the ASHA rung and the cutoff the
result missed, the median it fell short of, the HyperBand bracket), lets Ray decide, and on STOP tells the ledger
attached with :func:`attach`. A trial stopped because it reached ``maxT`` finished; any other stop is an early stop.
PBT's clones are recorded where they happen (``_exploit``). Subclasses rather than wrappers: Ray checks scheduler
types (``isinstance``) and pickles the scheduler with the experiment.

The particulars come from the schedulers' private state (Ray 2.x); when that changes, the reason stays right and
only the detail becomes generic.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from ray.tune import schedulers
from ray.tune.schedulers import TrialScheduler

from kubetune.engine.reasons import TrialEnd, TrialEnds

log = logging.getLogger(__name__)

_STOP = TrialScheduler.STOP


def attach(scheduler: Any, ends: TrialEnds) -> None:
    """Make ``scheduler`` (one of this module's classes; others are left alone) report to ``ends``."""
    if isinstance(scheduler, _Recording):
        scheduler._kubetune_ends = ends


class _Recording:
    """What every recording scheduler shares: the ledger, and the rule's name for a generic detail."""

    _kubetune_ends: TrialEnds | None = None
    _rule = "the scheduler"

    def _record(self, trial: Any, end: TrialEnd) -> None:
        if self._kubetune_ends is not None:
            self._kubetune_ends.decide(trial.trial_id, end)

    def _verdict(self, trial: Any, result: dict[str, Any], detail: str | None) -> TrialEnd:
        time_attr, max_t = getattr(self, "_time_attr", None), _max_t(self)
        reached = result.get(time_attr) if time_attr else None
        if max_t is not None and isinstance(reached, int | float) and reached >= max_t:
            return TrialEnd("finished", f"reached maxT ({time_attr} {max_t:g})")
        return TrialEnd("early_stopped", detail or f"stopped early by {self._rule}")


def _max_t(scheduler: Any) -> float | None:
    for name in ("_max_t", "_max_t_attr"):
        value = getattr(scheduler, name, None)
        if isinstance(value, int | float):
            return float(value)
    return None


def _number(value: Any) -> str:
    return f"{float(value):.6g}"


class ASHAScheduler(_Recording, schedulers.AsyncHyperBandScheduler):
    _rule = "ASHA"

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        detail = _asha_detail(self, trial, result)
        decision: str = super().on_trial_result(tune_controller, trial, result)
        if decision == _STOP:
            self._record(trial, self._verdict(trial, result, detail))
        return decision


def _asha_detail(s: Any, trial: Any, result: dict[str, Any]) -> str | None:
    """Which rung ``result`` reaches and the cutoff there (computed before Ray records the result in the rung)."""
    try:
        metric, time_attr, now = s._metric, s._time_attr, result[s._time_attr]
        bracket = s._trial_info[trial.trial_id]
        rungs = list(bracket._rungs)  # highest milestone first
        for index, (milestone, recorded) in enumerate(rungs):
            if now < milestone or trial.trial_id in recorded:
                continue
            cutoff = bracket.cutoff(recorded)
            if cutoff is None:
                return None
            rung = len(rungs) - index
            where = f"bracket {s._brackets.index(bracket)} " if len(s._brackets) > 1 else ""
            return (
                f"ASHA {where}rung {rung} ({time_attr} {milestone:g}): {metric} {_number(result[metric])} "
                f"missed the cutoff {_number(s._metric_op * cutoff)} (the top 1/{bracket.rf:g} continue)"
            )
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        log.debug("no ASHA rung for %s", trial, exc_info=True)
    return None


class HyperBandScheduler(_Recording, schedulers.HyperBandScheduler):
    """HyperBand stops the current trial by its answer and paused ones by ``stop_trial`` inside the same call;
    both are recorded (:meth:`_stopping_others`)."""

    _rule = "HyperBand"

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        with self._stopping_others(tune_controller):
            decision: str = super().on_trial_result(tune_controller, trial, result)
        if decision == _STOP:
            self._record(trial, self._verdict(trial, result, _bracket_detail(self, trial)))
        return decision

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        """Ray processes a finished bracket only when a trial reports: when the bracket's last running trials end
        by themselves (their trainable returned at ``maxT``), a trial it paused at ``maxT`` waits for ever and the
        experiment never ends (seen once in a full test run). Stop such trials as Ray's own clean-up would."""
        bracket = self._trial_info[trial][0]
        super().on_trial_remove(tune_controller, trial)
        if bracket.finished():
            with self._stopping_others(tune_controller):
                bracket.cleanup_full(tune_controller)

    @contextmanager
    def _stopping_others(self, tune_controller: Any) -> Iterator[None]:
        """Record a verdict for each trial the scheduler stops through the controller while deciding."""
        stop_trial = getattr(tune_controller, "stop_trial", None)
        if stop_trial is None:
            yield
            return

        def recorded_stop(other: Any) -> None:
            last = getattr(other, "last_result", None) or {}
            self._record(other, self._verdict(other, last, _bracket_detail(self, other)))
            stop_trial(other)

        try:
            tune_controller.stop_trial = recorded_stop
        except AttributeError:  # a controller wrapper that refuses attributes: the generic detail stays
            yield
            return
        try:
            yield
        finally:
            try:
                del tune_controller.stop_trial
            except AttributeError:
                tune_controller.stop_trial = stop_trial


def _bracket_detail(s: Any, trial: Any) -> str | None:
    try:
        bracket, band = s._trial_info[trial]
        index = s._hyperbands[band].index(bracket)
        last = (getattr(trial, "last_result", None) or {}).get(s._time_attr)
        at = f" at {s._time_attr} {last:g}" if isinstance(last, int | float) else ""
        return f"HyperBand round {band} bracket {index}: not among the best of its bracket{at} (successive halving)"
    except (AttributeError, KeyError, ValueError, IndexError, TypeError):
        return None


class HyperBandForBOHB(HyperBandScheduler, schedulers.HyperBandForBOHB):
    _rule = "HyperBand (BOHB)"


class MedianStoppingRule(_Recording, schedulers.MedianStoppingRule):
    _rule = "the median stopping rule"

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        decision: str = super().on_trial_result(tune_controller, trial, result)
        if decision == _STOP:
            self._record(trial, self._verdict(trial, result, _median_detail(self, trial, result)))
        return decision


def _median_detail(s: Any, trial: Any, result: dict[str, Any]) -> str | None:
    try:
        now = result[s._time_attr]
        others = [t for t in s._trials_beyond_time(now) if t is not trial]
        means = [m for m in (s._running_mean(t, now) for t in others) if np.isfinite(m)]
        return (
            f"median rule at {s._time_attr} {now:g}: best {s._metric} {_number(s._best_result(trial))} worse than "
            f"the median {_number(np.median(means))} of {len(means)} other trials' running averages"
        )
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return None


class PopulationBasedTraining(_Recording, schedulers.PopulationBasedTraining):
    _rule = "PBT"

    def _exploit(self, tune_controller: Any, trial: Any, trial_to_clone: Any) -> None:
        super()._exploit(tune_controller, trial, trial_to_clone)
        if self._kubetune_ends is not None:
            last = (getattr(trial, "last_result", None) or {}).get(self._time_attr)
            at = f" at {self._time_attr} {last:g}" if isinstance(last, int | float) else ""
            self._kubetune_ends.exploited(
                trial.trial_id, f"PBT replaced its config and weights with trial {trial_to_clone.trial_id}'s{at}"
            )
