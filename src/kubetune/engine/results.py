"""The results file: what an experiment found, small enough to read at a glance.

Written as ``<storage>/<experiment>/kubetune-results.json`` next to Ray Tune's own experiment state, through
pyarrow's filesystem layer so an ``s3://`` storage path works the same as a local one.

Trial states are those the trials were in when the run ended, which Ray's result grid does not keep: when a time
budget, an interrupt or fail-fast ends a run, Ray marks every live trial TERMINATED and returns normally. A trial
finished (``TERMINATED``) only when it ran to its end: its function returned, or ``spec.stop`` or the scheduler
stopped it (its last result says ``done``, or :class:`kubetune.engine.stopping.RunWatch` saw it finish). An
unfinished one is ``RUNNING`` if it had reported, ``PENDING`` if it never had.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kubetune.engine.pareto import FrontTrial

RESULTS_FILE = "kubetune-results.json"
#: Trial states in the order a summary lists them.
STATES = ("TERMINATED", "ERROR", "RUNNING", "PENDING")
UNFINISHED = frozenset({"RUNNING", "PENDING"})


@dataclass(frozen=True)
class BestTrial:
    trial_id: str
    metric_value: float | None
    config: dict[str, Any]
    checkpoint: str | None
    #: The numeric results of the best trial's reported row that holds the best value.
    metrics: dict[str, float] = field(default_factory=dict)
    #: The trial's state at the end: the best value may come from a trial that later errored or did not finish.
    state: str = "TERMINATED"


@dataclass(frozen=True)
class RunSummary:
    experiment: str
    namespace: str | None
    metric: str
    mode: str
    experiment_path: str
    trials_by_state: dict[str, int]
    best: BestTrial | None
    #: Import path of the trainable, so ``kubetune best --evaluate`` can load its checkpoint.
    trainable: str = ""
    resumed: bool = False
    #: Why trials did not finish (:data:`kubetune.engine.stopping.STOP_CAUSES`); ``None`` when all did.
    stopped_by: str | None = None
    #: The trial whose result reached ``spec.goal`` and ended the experiment; ``None`` when none did.
    goal_reached_by: str | None = None
    #: The trials ``spec.trialTimeoutSeconds`` stopped, sorted by id.
    timed_out_trials: list[str] = field(default_factory=list)
    #: Ended trials by why they ended (:data:`kubetune.reporting.wire.END_REASONS`, in that order).
    trials_by_reason: dict[str, int] = field(default_factory=dict)
    #: Why each ended trial ended: trial id → ``{"reason": ..., "detail": ...}`` (:mod:`kubetune.engine.reasons`).
    trial_ends: dict[str, dict[str, str]] = field(default_factory=dict)
    #: ``spec.warmStart``: ``{"from": [locations], "trials": seeded, "skipped": count}``; ``None`` without one.
    #: The seeded trials are not this experiment's trials: no count above includes them (engine/warmstart.py).
    warm_start: dict[str, Any] | None = None
    #: Several objectives: each as ``{"metric", "mode"}``, in the spec's order; ``metric``/``mode`` above are then
    #: the first (primary) one and ``best`` is the best trial by it alone. Empty for a single objective.
    objectives: list[dict[str, str]] = field(default_factory=list)
    #: Several objectives: the Pareto front (:mod:`kubetune.engine.pareto`), best first by the primary objective;
    #: ``None`` for a single objective.
    pareto_front: list[FrontTrial] | None = None
    #: What the experiment's trials held, summed: ``{"gpu_seconds", "cpu_seconds", "trial_seconds"}``
    #: (:mod:`kubetune.engine.usage`); empty from runs that predate it.
    usage: dict[str, float] = field(default_factory=dict)
    #: The same per trial: trial id → usage.
    trial_usage: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def total_trials(self) -> int:
        return sum(self.trials_by_state.values())

    @property
    def metrics(self) -> list[str]:
        """Every objective's metric, in order (the one ``metric`` for a single objective)."""
        return [o["metric"] for o in self.objectives] or [self.metric]

    @property
    def modes(self) -> list[str]:
        return [o["mode"] for o in self.objectives] or [self.mode]

    @property
    def finished_trials(self) -> int:
        return self.trials_by_state.get("TERMINATED", 0)

    @property
    def unfinished_trials(self) -> int:
        return sum(n for state, n in self.trials_by_state.items() if state in UNFINISHED)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        best, front = data.get("best"), data.get("pareto_front")
        front_trials = [FrontTrial(**t) for t in front] if front is not None else None
        return cls(**{**data, "best": BestTrial(**best) if best else None, "pareto_front": front_trials})


def summarise(
    result_grid: Any,
    *,
    experiment: str,
    namespace: str | None,
    metric: str,
    mode: str,
    experiment_path: str,
    trainable: str,
    resumed: bool,
    finished: Collection[str] = (),
    total_trials: int = 0,
    stopped_by: str | None = None,
) -> RunSummary:
    """Build the summary from a Ray ``ResultGrid``: best over every reported iteration, not only the last.

    ``finished`` holds the ids of trials known to have run to their end (:func:`trial_state`); ``total_trials`` is
    the experiment's size, and the trials a bounded searcher had not created yet when the run ended count as
    PENDING. ``stopped_by`` is recorded only when some trial did not finish.
    """
    by_state = count_states(result_grid, finished=finished, total_trials=total_trials)
    best: BestTrial | None = None
    try:
        result = result_grid.get_best_result(metric=metric, mode=mode, scope="all", filter_nan_and_inf=True)
    except RuntimeError:  # no trial reported the metric (all errored, or none ran)
        result = None
    if result is not None:
        checkpoint = None
        try:
            checkpoint = result.get_best_checkpoint(metric, mode)
        except (RuntimeError, KeyError):
            checkpoint = None
        checkpoint = checkpoint or result.checkpoint
        best_row = _best_row(result, metric, mode)
        value = best_row.get(metric)
        best = BestTrial(
            trial_id=str(result.metrics.get("trial_id", "")),
            metric_value=value,
            config=_jsonable(result.config),
            checkpoint=checkpoint.path if checkpoint is not None else None,
            metrics=best_row,
            state=trial_state(result, finished=finished),
        )
    return RunSummary(
        experiment=experiment,
        namespace=namespace,
        metric=metric,
        mode=mode,
        experiment_path=experiment_path,
        trials_by_state=by_state,
        best=best,
        trainable=trainable,
        resumed=resumed,
        stopped_by=stopped_by if any(state in UNFINISHED for state in by_state) else None,
    )


def with_ends(summary: RunSummary, ends: Mapping[str, Mapping[str, str]]) -> RunSummary:
    """``summary`` with why each trial ended, and the ended trials counted by reason."""
    from kubetune.reporting.wire import END_REASONS

    found: dict[str, int] = {}
    for end in ends.values():
        found[end["reason"]] = found.get(end["reason"], 0) + 1
    by_reason: dict[str, int] = {reason: found[reason] for reason in END_REASONS if reason in found}
    return replace(summary, trials_by_reason=by_reason, trial_ends={t: dict(ends[t]) for t in sorted(ends)})


def with_usage(summary: RunSummary, trials: Mapping[str, Mapping[str, float]]) -> RunSummary:
    """``summary`` with what each trial held (:mod:`kubetune.engine.usage`) and the experiment's totals."""
    from kubetune.engine.usage import USAGE_KEYS

    per_trial = {t: {k: float(trials[t].get(k, 0.0)) for k in USAGE_KEYS} for t in sorted(trials)}
    totals = {k: round(sum(u[k] for u in per_trial.values()), 3) for k in USAGE_KEYS}
    return replace(summary, usage=totals, trial_usage=per_trial)


def count_states(result_grid: Any, *, finished: Collection[str] = (), total_trials: int = 0) -> dict[str, int]:
    """Trials per end state, in :data:`STATES` order.

    A searcher bounded by ``maxConcurrentTrials`` creates a trial only when a slot frees up, so a run that ends
    early holds fewer trials than the experiment has: the missing ones never started (PENDING).
    """
    counts: dict[str, int] = {}
    for result in result_grid:
        state = trial_state(result, finished=finished)
        counts[state] = counts.get(state, 0) + 1
    if (missing := total_trials - sum(counts.values())) > 0:
        counts["PENDING"] = counts.get("PENDING", 0) + missing
    return {state: counts[state] for state in STATES if state in counts}


def trial_state(result: Any, *, finished: Collection[str] = ()) -> str:
    """The state a trial ended the run in, from its Ray ``Result`` and the ids of the trials that finished."""
    if result.error is not None:
        return "ERROR"
    last = result.metrics or {}
    if last.get("done") or str(last.get("trial_id", "")) in finished:
        return "TERMINATED"
    return "RUNNING" if last.get("training_iteration") else "PENDING"


def _best_row(result: Any, metric: str, mode: str) -> dict[str, float]:
    rows: list[dict[str, Any]] = []
    df = result.metrics_dataframe
    if df is not None and metric in df:
        rows = df.to_dict("records")
    rows = rows or [result.metrics]
    candidates = [r for r in rows if _finite(r.get(metric))]
    if not candidates:
        return _numeric(result.metrics)
    chosen = (max if mode == "max" else min)(candidates, key=lambda r: r[metric])
    return _numeric(chosen)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _numeric(row: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items() if _finite(v) and not k.startswith("config/")}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def write(summary: RunSummary) -> str:
    """Write the results file into the experiment directory; returns its path or URI."""
    text = json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n"
    target = join(summary.experiment_path, RESULTS_FILE)
    fs, path = _filesystem(target)
    if fs is None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        with fs.open_output_stream(path) as f:
            f.write(text.encode())
    return target


def read(location: str) -> RunSummary:
    """Read a results file, given the file itself or the experiment directory holding it."""
    target = location if location.endswith(".json") else join(location, RESULTS_FILE)
    fs, path = _filesystem(target)
    if fs is None:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    else:
        with fs.open_input_stream(path) as f:
            data = json.loads(f.read())
    return RunSummary.from_dict(data)


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if "://" in base else os.path.join(base, *parts)


def _filesystem(target: str) -> tuple[Any, str]:
    if "://" not in target or target.startswith("file://"):
        return None, target.removeprefix("file://")
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(target)  # type: ignore[no-any-return]
