"""How a summary shows the Pareto front of an experiment with several objectives: a small table, best first by
the primary objective, each trial with its objectives' values, its config and its checkpoint."""

from __future__ import annotations

import json

from kubetune.engine import results

#: Trials of the front the table lists before it only counts the rest (``kubetune best --json`` has them all).
LISTED = 20


def front_lines(summary: results.RunSummary) -> list[str]:
    """The front's lines (none for a single objective)."""
    front = summary.pareto_front
    if front is None:
        return []
    metrics, modes = summary.metrics, summary.modes
    objectives = ", ".join(f"{m} ({d})" for m, d in zip(metrics, modes, strict=False))
    if not front:
        return [f"Pareto front of {objectives}: empty, no finished trial reported every objective"]
    noun = "trial" if len(front) == 1 else "trials"
    out = [
        f"Pareto front of {objectives}: {len(front)} {noun} no other finished trial beats on every objective "
        "(their last results)"
    ]
    rows = [["trial", *metrics, "config"]]
    for t in front[:LISTED]:
        config = json.dumps(t.config, sort_keys=True, separators=(", ", ": "), default=str)
        rows.append([t.trial_id, *(f"{t.values[m]:.6g}" for m in metrics), config])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:-1], widths[1:], strict=True))]
        out.append("  " + "  ".join([*cells, row[-1]]).rstrip())
        if index and front[index - 1].checkpoint:
            out.append(f"    checkpoint: {front[index - 1].checkpoint}")
    if len(front) > LISTED:
        out.append(f"  and {len(front) - LISTED} more (kubetune best --json lists them all)")
    return out
