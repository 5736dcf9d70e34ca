"""kubetune's searcher: Optuna's TPE inside Ray Tune, told what the scheduler learnt, not only how trials ended.

Ray's own ``OptunaSearch`` tells Optuna only each trial's last result, as a COMPLETE trial: a trial ASHA stopped
after one iteration then looks to TPE like a fully trained one with a poor value, and TPE learns that its region
is bad. This searcher keeps Optuna's view of a trial the way Optuna's own pruners would have left it:

* every result is reported as an intermediate value (``trial.report(value, training_iteration)``), so the study
  holds each trial's learning curve;
* a trial is told **PRUNED** when the scheduler stopped it early. TPE ranks pruned trials after the complete
  ones, by how far they got and then by their last value (Optuna stores that value on the pruned trial);
* a trial that ran its course is told **COMPLETE** with its last value, an errored one **FAIL** (TPE ignores it).

How a trial ended is not something Ray tells a searcher: ``on_trial_complete(trial_id, result, error)`` comes
the same way whether the trainable returned, a stop criterion was met or the scheduler said STOP. The rule, from
how Ray 2.60's controller calls its searcher (``TuneController._process_trial_result`` and ``stop_trial``):

1. ``error`` → FAIL.
2. The trial never reported the metric → FAIL: it says nothing about its parameters.
3. Its last result reached the :class:`Horizon` (``time_attr >= max_t`` of ASHA/HyperBand, any ``spec.stop``
   criterion, or ``spec.goal``) → COMPLETE. Ray's schedulers stop a trial at ``max_t`` with the same STOP that
   prunes one.
4. ``on_trial_complete`` brings a result the searcher has already seen through ``on_trial_result`` → COMPLETE:
   Ray skips ``on_trial_result`` for the result on which it decides to stop a trial, so a last result that was
   already delivered means nothing stopped the trial: its trainable returned (Ray then repeats the last result
   with ``done``).
5. Anything else → PRUNED: a STOP on a new result before the horizon (ASHA, the median rule, HyperBand's current
   trial), or a paused trial HyperBand stops without a result.

Two endings never reach a searcher at all: trials Ray stops together when the whole experiment ends early (a time
budget, an interrupt, a ``Stopper.stop_all``) stay RUNNING in the study, and an errored trial that a resume
restarts keeps its FAIL (Ray's ConcurrencyLimiter no longer forwards that trial's completion, so its new results
are left out rather than left open).

The sampler is ``TPESampler(multivariate=True, constant_liar=True, seed=...)``: multivariate TPE models the
parameters jointly, and for a space with a choice of groups also ``group=True``, so that it models each set of
parameters that occur together (one option's) jointly instead of falling back to sampling them one by one; the
constant liar counts each running trial as a bad result so that concurrent suggestions spread out instead of
piling onto the same point. Concurrency itself is bounded by Ray's ConcurrencyLimiter
(``TuneConfig(max_concurrent_trials)``), which calls :meth:`OptunaBridge.suggest` only when a slot is free.

**Several objectives** (``metric`` and ``mode`` lists): the study has one direction per objective and the same
sampler, which is multi-objective TPE in Optuna (MOTPE, constant liar included). Optuna keeps no intermediate
values for such a study (``Trial.report`` raises), so nothing is reported while a trial runs: the searcher keeps
the last result's values and tells a finished trial COMPLETE with them (rules 3 and 4), one whose last result lacks
an objective or holds a non-finite value FAIL, and one stopped before its horizon (``trialTimeoutSeconds``; no
early-stopping scheduler runs with several objectives) PRUNED, without values, which TPE ranks after the complete
ones. Ray is given every objective as the searcher's metric, so it checks that each result holds all of them.

The whole study is pickled into the experiment directory with Tune's experiment snapshot
(:meth:`~OptunaBridge.save`) and loaded back by ``Tuner.restore`` (:meth:`~OptunaBridge.restore`), so a resumed
experiment continues the same search: finished trials keep their values, running ones keep their Optuna trial
and go on reporting into it, and the sampler's random state continues. :func:`load_study` reads it back, e.g. to
inspect a finished experiment's study.
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from ray.tune import Callback
from ray.tune.search import Searcher

from kubetune.engine.limits import Goal
from kubetune.engine.optuna_space import unflatten
from kubetune.engine.optuna_state import STATE_VERSION, load_study, read_state, write_state

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

__all__ = ["ForgetUnknownTrials", "Horizon", "OptunaBridge", "load_study", "tpe_sampler"]  # load_study: optuna_state

log = logging.getLogger(__name__)

#: The result key Ray counts reports in; the step of every intermediate value.
STEP = "training_iteration"


@dataclass(frozen=True)
class Horizon:
    """When a trial has run its full course: what tells a scheduler's STOP at the end from an early stop."""

    #: The result key schedulers count time in (``spec.scheduler.timeAttr``).
    time_attr: str = "training_iteration"
    #: ASHA/HyperBand's ``max_t``: a STOP at or past it ends a finished trial. ``None``: the scheduler has none.
    max_t: float | None = None
    #: ``spec.stop``: a trial whose result reaches any of these values is finished (Ray's ``>=`` rule).
    stop: Mapping[str, float] = field(default_factory=dict)
    #: ``spec.goal``: the trial that reaches it is finished (the experiment ends with it).
    goal: Goal | None = None

    def reached(self, result: Mapping[str, Any]) -> bool:
        if self.max_t is not None and _number(result.get(self.time_attr), default=-math.inf) >= self.max_t:
            return True
        if self.goal is not None and self.goal.reached(result):
            return True
        return any(_number(result.get(key), default=-math.inf) >= value for key, value in self.stop.items())


@dataclass
class _Progress:
    """What the searcher has seen of one live trial."""

    #: Last ``training_iteration`` delivered through ``on_trial_result`` (rule 4).
    seen: int | None = None
    #: Whether that result reached the horizon (a paused trial stopped at ``max_t`` ends without a result).
    reached: bool = False
    #: Last step reported to Optuna, and its value: steps only grow, a repeated one is not reported again.
    reported: int | None = None
    value: float = math.nan
    #: With several objectives: the last reported result's value of each, in order (``None`` before one).
    values: tuple[float, ...] | None = None


def tpe_sampler(seed: int | None, *, group: bool = False) -> optuna.samplers.TPESampler:
    """The sampler of kubetune's search: multivariate TPE with the constant liar, seeded (see the module doc);
    ``group`` for a conditional space."""
    import optuna

    with warnings.catch_warnings():  # these options are marked experimental in Optuna 4 (not all in 5)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(multivariate=True, constant_liar=True, group=group, seed=seed)


class OptunaBridge(Searcher):
    """A Ray Tune ``Searcher`` that runs an Optuna study: TPE suggests, every result and outcome goes back to it.

    ``distributions`` are Optuna distributions keyed by ``/``-joined parameter paths
    (:func:`kubetune.engine.optuna_space.distributions`); suggestions come back as nested configs. A conditional
    space has none: ``define`` then asks a trial's parameters itself and returns its config (define-by-run,
    :func:`kubetune.engine.optuna_space.suggest`; it must pickle, as Ray saves the searcher). ``horizon``
    says when a stopped trial was finished rather than pruned (the module doc has the rule). ``sampler`` replaces
    :func:`tpe_sampler` (then ``seed`` is unused).
    """

    def __init__(
        self,
        distributions: Mapping[str, BaseDistribution],
        *,
        metric: str | Sequence[str],
        mode: str | Sequence[str],
        seed: int | None = None,
        horizon: Horizon | None = None,
        sampler: optuna.samplers.BaseSampler | None = None,
        define: Callable[[optuna.Trial], dict[str, Any]] | None = None,
    ) -> None:
        import optuna

        metrics = [metric] if isinstance(metric, str) else list(metric)
        modes = [mode] if isinstance(mode, str) else list(mode)
        if not metrics or len(modes) != len(metrics):
            raise ValueError(f"one mode per metric: {len(metrics)} metrics, {len(modes)} modes")
        if any(m not in ("min", "max") for m in modes):
            raise ValueError(f"mode must be min or max, not {mode!r}")
        if not distributions and define is None:
            raise ValueError("an empty search space leaves Optuna nothing to suggest")
        multi = len(metrics) > 1
        # Ray's Searcher takes lists for several objectives (its annotations say str only).
        keys: Any = metrics if multi else metrics[0]
        directions: Any = modes if multi else modes[0]
        super().__init__(metric=keys, mode=directions)
        self._objective, self._primary_mode = metrics[0], modes[0]
        #: Every objective's result key, in order (several only for a multi-objective study).
        self._objectives = metrics
        self._distributions = dict(distributions)
        self._horizon = horizon or Horizon()
        self._define = define
        # Optuna logs every told trial at INFO on its own handler; Tune's console already shows each trial.
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._study = optuna.create_study(
            directions=["minimize" if m == "min" else "maximize" for m in modes],
            sampler=sampler or tpe_sampler(seed, group=define is not None),
            pruner=optuna.pruners.NopPruner(),  # the Ray scheduler prunes; Optuna only hears about it
        )
        self._live: dict[str, optuna.Trial] = {}
        self._max_concurrent: int | None = None
        self._progress: dict[str, _Progress] = {}

    @property
    def study(self) -> optuna.Study:
        """The Optuna study: one trial per Ray trial (its Ray id in the user attribute ``ray_trial_id``)."""
        return self._study

    @property
    def horizon(self) -> Horizon:
        return self._horizon

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        """Accept Tune's properties: the space, metric and mode were given at construction from the same spec.

        Returning ``True`` tells Tune that the searcher owns the space, so it does not reject a ``param_space``
        whose domains it will never sample itself (each suggestion replaces them).
        """
        # Tune passes TuneConfig's one metric: with several objectives, the first (engine/configuring.py).
        if (metric and metric != self._objective) or (mode and mode != self._primary_mode):
            raise ValueError(f"this searcher optimises {self._metric} ({self._mode}), not {metric} ({mode})")
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Bound the live trials here rather than in Ray's ConcurrencyLimiter.

        The limiter keeps its own set of live trials and does not save it with the experiment: after a resume it
        drops the completion of every trial that was running at the snapshot, and those trials would stay RUNNING
        in the study for good. This searcher's live trials are saved and restored with the study.
        """
        self._max_concurrent = max_concurrent
        return True

    def forget_unknown(self, known: set[str]) -> None:
        """After a restore: live trials Ray does not know (asked an instant before a driver died, whose experiment
        state was saved without them) will never run; tell them FAIL so that they hold no concurrency slot."""
        from optuna.trial import TrialState

        for trial_id in [t for t in self._live if t not in known]:
            self._study.tell(self._live.pop(trial_id), state=TrialState.FAIL)
            self._progress.pop(trial_id, None)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._max_concurrent and len(self._live) >= self._max_concurrent:
            return None
        trial = self._study.ask(self._distributions)
        trial.set_user_attr("ray_trial_id", trial_id)
        config = unflatten(trial.params) if self._define is None else self._define(trial)
        self._live[trial_id] = trial
        self._progress[trial_id] = _Progress()
        return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        trial, progress = self._live.get(trial_id), self._progress.get(trial_id)
        if trial is None or progress is None:
            return  # not suggested here (restarted after its FAIL, or from a lost snapshot): see the module doc
        step = _step(result)
        self._report(trial, progress, result, step)
        if step is not None:
            progress.seen = step
        progress.reached = self._horizon.reached(result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        from optuna.trial import TrialState

        trial, progress = self._live.pop(trial_id, None), self._progress.pop(trial_id, None)
        if trial is None or progress is None:
            return
        if error:
            self._study.tell(trial, state=TrialState.FAIL)
            return
        finished = progress.reached
        if result is not None:
            step = _step(result)
            already_seen = step is not None and progress.seen is not None and step <= progress.seen
            self._report(trial, progress, result, step)
            finished = already_seen or self._horizon.reached(result)
        if len(self._objectives) > 1:
            self._tell_values(trial, progress, finished=finished)
        elif progress.reported is None:
            self._study.tell(trial, state=TrialState.FAIL)
        elif finished and math.isfinite(progress.value):
            self._study.tell(trial, progress.value, state=TrialState.COMPLETE)
        elif finished:  # a diverged trial: Optuna refuses a non-finite COMPLETE value
            self._study.tell(trial, state=TrialState.FAIL)
        else:  # Optuna stores the last intermediate value on the pruned trial
            self._study.tell(trial, state=TrialState.PRUNED)

    def _tell_values(self, trial: optuna.Trial, progress: _Progress, *, finished: bool) -> None:
        """A multi-objective trial's end: its last result's values (see the module doc)."""
        from optuna.trial import TrialState

        values = progress.values
        if values is None or (finished and not all(math.isfinite(v) for v in values)):
            self._study.tell(trial, state=TrialState.FAIL)
        elif finished:
            self._study.tell(trial, list(values), state=TrialState.COMPLETE)
        else:
            self._study.tell(trial, state=TrialState.PRUNED)

    def _report(self, trial: optuna.Trial, progress: _Progress, result: Mapping[str, Any], step: int | None) -> None:
        """One result as an intermediate value, once per step (a resumed trial may repeat steps it reported).

        With several objectives the result's values are kept instead (Optuna has no intermediate values for them);
        a result that lacks one leaves the trial without values, so that it ends FAIL unless a later one has all.
        """
        if len(self._objectives) > 1:
            found = [_number(result.get(key), default=None) for key in self._objectives]
            if step is not None and (progress.reported is None or step > progress.reported):
                progress.reported = step
                progress.values = None if None in found else tuple(v for v in found if v is not None)
            return
        value = _number(result.get(self._objective), default=None)
        if step is None or value is None or (progress.reported is not None and step <= progress.reported):
            return
        trial.report(value, step)
        progress.reported, progress.value = step, value

    def save(self, checkpoint_path: str) -> None:
        """The whole study and the live trials' bookkeeping, pickled (Ray moves the file into the experiment)."""
        write_state(
            checkpoint_path,
            {"version": STATE_VERSION, "study": self._study, "live": self._live, "progress": self._progress},
        )

    def restore(self, checkpoint_path: str) -> None:
        """Continue the study saved by :meth:`save`: same trials, same live Optuna trials, same sampler state."""
        state = read_state(Path(checkpoint_path))
        self._study, self._live, self._progress = state["study"], state["live"], state["progress"]


class ForgetUnknownTrials(Callback):
    """At the first step of a restored run, when Ray holds every restored trial and none has started, tells the
    bridge which trials exist (:meth:`OptunaBridge.forget_unknown`)."""

    def __init__(self, bridge: OptunaBridge) -> None:
        self._bridge = bridge
        self._done = False

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if not self._done:
            self._done = True
            self._bridge.forget_unknown({t.trial_id for t in trials})


def _step(result: Mapping[str, Any]) -> int | None:
    step = _number(result.get(STEP), default=None)
    return None if step is None or not math.isfinite(step) else int(step)


@overload
def _number(value: Any, *, default: float) -> float: ...
@overload
def _number(value: Any, *, default: None) -> float | None: ...
def _number(value: Any, *, default: float | None) -> float | None:
    """A reported number as a float (numpy scalars included), else ``default``; ``True`` is not a number here."""
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else default
