"""How a summary tells why trials ended: counts by reason, the errored trials' first lines, the compute the trials
held, the best trial's end, and the command that shows the logs."""

from __future__ import annotations

from kubetune.engine import results
from kubetune.reporting.wire import END_REASONS

#: How the summary names each reason (the results file keeps the wire's names).
REASON_WORDS = {
    "finished": "finished",
    "early_stopped": "stopped early by the scheduler",
    "exploited": "replaced by PBT",
    "budget": "cut by a budget",
    "errored": "errored",
    "cancelled": "cancelled",
}
#: Errored trials a summary names before it only counts the rest.
_LISTED_ERRORS = 3


def describe_reasons(summary: results.RunSummary) -> str:
    """``3 finished, 2 stopped early by the scheduler``: ended trials by reason, in the wire's order."""
    counts = summary.trials_by_reason
    ordered = [*END_REASONS, *sorted(set(counts) - set(END_REASONS))]
    return ", ".join(f"{counts[r]} {REASON_WORDS.get(r, r)}" for r in ordered if counts.get(r))


def lines(summary: results.RunSummary) -> list[str]:
    """The summary's lines on why trials ended (none for a results file that predates reasons)."""
    if not summary.trials_by_reason:
        return []
    out = [f"why trials ended: {describe_reasons(summary)}"]
    errored = [(t, e) for t, e in summary.trial_ends.items() if e.get("reason") == "errored"]
    out += [f"  trial {trial}: {end.get('detail', '')}" for trial, end in errored[:_LISTED_ERRORS]]
    if len(errored) > _LISTED_ERRORS:
        out.append(f"  and {len(errored) - _LISTED_ERRORS} more errored trials")
    return out


def usage_lines(summary: results.RunSummary) -> list[str]:
    """``compute held: 0.52 GPU-hours, 2.1 CPU-hours over 1.04 trial-hours`` (none for a results file that predates
    usage, :mod:`kubetune.engine.usage`)."""
    if not summary.usage:
        return []
    hours = {k: summary.usage.get(k, 0.0) / 3600 for k in ("gpu_seconds", "cpu_seconds", "trial_seconds")}
    return [
        f"compute held: {hours['gpu_seconds']:.3g} GPU-hours, {hours['cpu_seconds']:.3g} CPU-hours over "
        f"{hours['trial_seconds']:.3g} trial-hours"
    ]


def best_end(summary: results.RunSummary) -> list[str]:
    """``best trial ended: …``, when the results file knows."""
    end = summary.trial_ends.get(summary.best.trial_id) if summary.best is not None else None
    if not end:
        return []
    return [f"best trial ended: {REASON_WORDS.get(end.get('reason', ''), end.get('reason'))} ({end.get('detail')})"]


def logs_hint(summary: results.RunSummary) -> list[str]:
    """The command that shows the trials' logs (and the tracebacks, when a trial errored)."""
    if not summary.trial_ends:
        return []
    hint = f"logs: kubetune logs {summary.experiment_path} [TRIAL]"
    if summary.trials_by_reason.get("errored"):
        hint += f"  (tracebacks: kubetune logs {summary.experiment_path} --errors)"
    return [hint]
