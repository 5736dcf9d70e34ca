"""The report's Pareto front, for an experiment with several objectives: a scatter of every trial over the first two
objectives with the front highlighted (and, for exactly two, joined as a step line), and a table of the front.

A trial is placed at its last result's values, the values the front is computed from
(:mod:`kubetune.engine.pareto`); a trial whose last result lacks one of the two is left out of the chart. The
front is the results file's own, so the chart and ``kubetune best`` always agree. With more than two objectives
the chart is a projection: a front trial may sit among dominated ones there, and the caption says so.
"""

from __future__ import annotations

import html
import json
from typing import Any

from kubetune.report.reading import Run

#: The chart's container: drawn only in the report of a run with several objectives.
CHART = "chart-pareto"
#: Where a value is missing in the front's table (an en dash).
_MISSING = "\u2013"


def scatter(run: Run) -> dict[str, Any] | None:
    """The chart's data; ``None`` for a run with one objective."""
    summary = run.summary
    if summary.pareto_front is None:
        return None
    metrics, modes = summary.metrics, summary.modes
    (x, y), on_front = metrics[:2], {t.trial_id for t in summary.pareto_front}
    points = []
    for trial in run.trials:
        last = trial.rows[-1] if trial.rows else {}
        if x in last and y in last:
            points.append({"trial": trial.trial_id, "x": last[x], "y": last[y], "front": trial.trial_id in on_front})
    line = sorted([t.values[x], t.values[y]] for t in summary.pareto_front) if len(metrics) == 2 else []
    return {
        "x": {"name": x, "mode": modes[0]},
        "y": {"name": y, "mode": modes[1]},
        "objectives": [{"name": m, "mode": d} for m, d in zip(metrics, modes, strict=False)],
        "points": points,
        "line": line,
        "front": [
            {
                "trial": t.trial_id,
                "values": [t.values.get(m) for m in metrics],
                "config": t.config,
                "checkpoint": t.checkpoint,
            }
            for t in summary.pareto_front
        ],
    }


def section(data: dict[str, Any] | None) -> str:
    """The front's section of the page (escaped HTML); empty for a run with one objective."""
    if data is None:
        return ""
    e = html.escape
    objectives = data["objectives"]
    names = ", ".join(f"{o['name']} ({o['mode']})" for o in objectives)
    caption = (
        f"Every trial at its last result's {data['x']['name']} and {data['y']['name']}; the front (trials no other "
        f"finished trial beats on every objective of {names}) in red."
    )
    if len(objectives) > 2:
        caption += f" The chart shows the first two of {len(objectives)} objectives: a front trial may look dominated."
    head = "".join(f"<th>{e(h)}</th>" for h in ["trial", *(o["name"] for o in objectives), "checkpoint", "config"])
    rows = []
    for t in data["front"]:
        cells = [
            f"<td><code>{e(t['trial'])}</code></td>",
            *(f"<td>{e(_MISSING if v is None else f'{v:.6g}')}</td>" for v in t["values"]),
            f"<td><code>{e(t['checkpoint'] or _MISSING)}</code></td>",
            f"<td><code>{e(json.dumps(t['config'], sort_keys=True, default=str))}</code></td>",
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    table = (
        f'<table class="trials" id="pareto-front"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    return (
        f'<section class="pareto"><h2>Pareto front: {len(data["front"])} trials</h2>'
        f'<p class="caption">{e(caption)}</p><div class="chart" id="{CHART}"></div>{table}</section>'
    )
