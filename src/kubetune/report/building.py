"""A run's report, from its directory to the page: read (:mod:`.reading`), chart data (:mod:`.figures`,
:mod:`.importance`), page (:mod:`.rendering`)."""

from __future__ import annotations

from typing import Any

from kubetune import __version__
from kubetune.report import figures, importance, pareto, reading, rendering, space
from kubetune.spec.spaces import Space


def build(location: str, *, search_space: Space | None = None) -> str:
    """The report of the experiment directory ``location`` as one HTML page.

    ``search_space`` is the experiment's (from its spec), for the hyperparameters' exact bounds and scales; without
    it they are inferred from the trials (:mod:`kubetune.report.space`).
    """
    run = reading.read_run(location)
    data = chart_data(run, search_space=search_space, source=location)
    return rendering.page(data, trials=_table_rows(run, data))


def chart_data(run: reading.Run, *, search_space: Space | None = None, source: str = "") -> dict[str, Any]:
    """Everything the page's script draws, as JSON values."""
    summary = run.summary
    dists = space.distributions((t.params for t in run.trials), search_space)
    best = summary.best
    return {
        "experiment": summary.experiment,
        "metric": summary.metric,
        "mode": summary.mode,
        "source": source or summary.experiment_path,
        "version": __version__,
        "endings": figures.endings(run),
        "reasons": figures.counts(run),
        "progress": figures.progress(run),
        "curves": figures.curves(run),
        "parallel": figures.parallel(run, dists),
        "importance": importance.importance(run, dists),
        "pareto": pareto.scatter(run),  # None for a single objective
        "usage": {k: v / 3600 for k, v in summary.usage.items()},  # hours: gpu_seconds → GPU-hours, ...
        "best": None
        if best is None
        else {
            "trial": best.trial_id,
            "value": best.metric_value,
            "config": best.config,
            "checkpoint": best.checkpoint,
            "ending": _ending_label(run, best.trial_id, best.state),
        },
    }


def _ending_label(run: reading.Run, trial_id: str, state: str) -> str:
    found = next((t.ending for t in run.trials if t.trial_id == trial_id), state)
    return figures.ENDINGS.get(found, (found, ""))[0]


def _table_rows(run: reading.Run, data: dict[str, Any]) -> list[dict[str, Any]]:
    endings = data["endings"]
    return [
        {
            "trial": t.trial_id,
            "label": endings.get(t.ending, {}).get("label", t.ending),
            "colour": endings.get(t.ending, {}).get("colour", "#9e9e9e"),
            "objective": figures.objective(t, run.summary.metric, run.summary.mode),
            "results": len(t.rows),
            "params": t.params,
            "detail": t.detail,
        }
        for t in run.trials
    ]
