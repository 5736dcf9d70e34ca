"""The data of each chart, from a :class:`~kubetune.report.reading.Run`: plain JSON values, which the page's script
draws. Nothing here is HTML: :mod:`kubetune.report.rendering` embeds it as data, never as markup.

Each trial's objective is the best value of the metric it reported (as :mod:`kubetune.engine.results` picks the
best trial over every reported iteration, not only the last). Compute is counted in trial-iterations: every result
any trial reported, in the order they were reported (Ray's ``timestamp`` has one-second resolution: results of the
same second are ordered by trial, then iteration); and in GPU-hours when the results file holds GPU-seconds, each
trial's spread over its results by their duration.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from kubetune.report.reading import Run, Trial

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

#: How each ending is named and coloured: the results file's reasons, then Ray's states (results files that
#: predate reasons). An unknown ending is drawn grey under its own name.
ENDINGS: dict[str, tuple[str, str]] = {
    "finished": ("finished", "#2e7d32"),
    "early_stopped": ("stopped early", "#ef6c00"),
    "exploited": ("replaced by PBT", "#6a1b9a"),
    "budget": ("cut by a budget", "#1565c0"),
    "errored": ("errored", "#c62828"),
    "cancelled": ("cancelled", "#757575"),
    "TERMINATED": ("terminated", "#2e7d32"),
    "ERROR": ("error", "#c62828"),
    "RUNNING": ("stopped while running", "#1565c0"),
    "PENDING": ("not started", "#9e9e9e"),
}
_OTHER_COLOUR = "#9e9e9e"


def objective(trial: Trial, metric: str, mode: str) -> float | None:
    """The best value of ``metric`` the trial reported; ``None`` when it reported none."""
    values = [row[metric] for row in trial.rows if metric in row]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def endings(run: Run) -> dict[str, dict[str, str]]:
    """Name and colour of every ending the run's trials have, in :data:`ENDINGS` order."""
    found = {t.ending for t in run.trials} | set(counts(run))
    ordered = [e for e in ENDINGS if e in found] + sorted(found - set(ENDINGS))
    return {e: {"label": ENDINGS.get(e, (e, ""))[0], "colour": ENDINGS.get(e, ("", _OTHER_COLOUR))[1]} for e in ordered}


def counts(run: Run) -> dict[str, int]:
    """Trials by how they ended: the results file's counts by reason, else counted from the trials' endings."""
    if run.summary.trials_by_reason:
        return dict(run.summary.trials_by_reason)
    found: dict[str, int] = {}
    for trial in run.trials:
        found[trial.ending] = found.get(trial.ending, 0) + 1
    return found


def curves(run: Run) -> list[dict[str, Any]]:
    """Every trial's learning curve: the metric at each ``training_iteration`` (``None`` where not reported)."""
    metric = run.summary.metric
    out = []
    for trial in run.trials:
        xs = [row.get("training_iteration", float(i + 1)) for i, row in enumerate(trial.rows)]
        out.append(
            {
                "trial": trial.trial_id,
                "ending": trial.ending,
                "detail": trial.detail,
                "x": [_int_or_float(x) for x in xs],
                "y": [row.get(metric) for row in trial.rows],
            }
        )
    return out


def progress(run: Run) -> dict[str, Any]:
    """Best-so-far against compute: ``[[trial-iterations, best], ...]`` and, when known, ``[[GPU-hours, best], ...]``.

    A point is emitted where the best improves and at the end, so the line is a step function of the compute.
    """
    metric, maximise = run.summary.metric, run.summary.mode == "max"
    events: list[tuple[float, int, int, float | None, float]] = []
    for order, trial in enumerate(run.trials):
        durations = [row.get("time_this_iter_s", 0.0) for row in trial.rows]
        total = sum(durations)
        for i, row in enumerate(trial.rows):
            share = durations[i] / total if total > 0 else 1 / len(trial.rows)
            gpu_hours = (trial.gpu_seconds or 0.0) * share / 3600
            stamp = trial.timestamps[i] if i < len(trial.timestamps) else math.nan
            events.append((stamp if math.isfinite(stamp) else math.inf, order, i, row.get(metric), gpu_hours))
    events.sort(key=lambda e: e[:3])
    by_iterations: list[list[float]] = []
    by_gpu: list[list[float]] = []
    best: float | None = None
    used = 0.0
    for n, (_, _, _, value, gpu_hours) in enumerate(events, start=1):
        used += gpu_hours
        improved = value is not None and (best is None or (value > best if maximise else value < best))
        if improved:
            best = value
        if best is not None and (improved or n == len(events)):
            by_iterations.append([n, best])
            by_gpu.append([round(used, 9), best])
    return {"iterations": by_iterations, "gpu_hours": by_gpu if run.has_gpu_seconds else None}


def parallel(run: Run, dists: dict[str, BaseDistribution]) -> dict[str, Any]:
    """Parallel coordinates: one axis per hyperparameter, then the objective; one line per trial."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    dimensions: list[dict[str, Any]] = []
    for name, dist in dists.items():
        if isinstance(dist, CategoricalDistribution):
            dimensions.append({"name": name, "type": "category", "categories": [label(c) for c in dist.choices]})
        elif isinstance(dist, FloatDistribution | IntDistribution):
            dimensions.append({"name": name, "type": "log" if dist.log else "value", "min": dist.low, "max": dist.high})
    metric = run.summary.metric
    dimensions.append({"name": metric, "type": "value"})
    rows = []
    for trial in run.trials:
        values: list[Any] = []
        for dim in dimensions[:-1]:
            value = trial.params.get(dim["name"])
            values.append(label(value) if dim["type"] == "category" else _number_or_none(value))
        values.append(objective(trial, metric, run.summary.mode))
        rows.append({"trial": trial.trial_id, "ending": trial.ending, "values": values})
    return {"dimensions": dimensions, "rows": rows}


def label(value: Any) -> str:
    """A categorical value as an axis label: strings as they are, anything else as JSON writes it."""
    import json

    return value if isinstance(value, str) else json.dumps(value, default=str)


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _int_or_float(value: float) -> float:
    return int(value) if float(value).is_integer() else value
