"""What a report shows, read from a finished (or stopped) experiment directory.

kubetune's results file (:func:`kubetune.engine.results.read`) gives the experiment, its metric and mode, the best
trial with its checkpoint, and why each trial ended; Ray Tune's own experiment state
(:class:`ray.tune.ExperimentAnalysis`: every trial's status, sampled parameters and ``progress.csv``) gives each
trial's learning curve. Both are read through pyarrow's filesystem layer, so an ``s3://`` storage path works too.

How a trial ended is one word, :attr:`Trial.ending`: the reason the results file records for it (finished,
early_stopped, exploited, budget, errored, cancelled: :mod:`kubetune.engine.reasons`), else, for a results file
written before reasons existed, the trial's Ray status (TERMINATED or ERROR). :func:`ending` is that one choice.

GPU-seconds come from the results file's per-trial usage (``trial_usage``, :mod:`kubetune.engine.usage`): a run
whose trials held GPUs gets a GPU-hours axis in the report; a CPU-only run, or a results file that predates usage,
does not.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubetune.engine import results


@dataclass(frozen=True)
class Trial:
    trial_id: str
    #: How it ended: the results file's reason, else Ray's status (module notes).
    ending: str
    #: The reason's particulars in one line (empty when only Ray's status is known).
    detail: str
    #: The sampled parameters, nested groups ``/``-joined (``model/dropout``) as Ray and Optuna name them.
    params: dict[str, Any]
    #: Every reported result, in order: numeric values by (flattened) metric name.
    rows: list[dict[str, float]] = field(default_factory=list)
    #: Wall-clock second of each result (Ray's ``timestamp``), for ordering results across trials.
    timestamps: list[float] = field(default_factory=list)
    gpu_seconds: float | None = None


@dataclass(frozen=True)
class Run:
    summary: results.RunSummary
    #: In trial-id order (the order Ray created them).
    trials: list[Trial]

    @property
    def has_gpu_seconds(self) -> bool:
        return any(t.gpu_seconds for t in self.trials)


def ending(summary: results.RunSummary, trial_id: str, status: str) -> tuple[str, str]:
    """How ``trial_id`` ended, and the particulars: its recorded reason, else its Ray status."""
    end = summary.trial_ends.get(trial_id)
    if end and end.get("reason"):
        return str(end["reason"]), str(end.get("detail", ""))
    return status, ""


def read_run(location: str) -> Run:
    """The run in the experiment directory ``location`` (a local path or a URI such as ``s3://bucket/dir/exp``)."""
    try:
        summary = results.read(location)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"{location}: no {results.RESULTS_FILE} here (give the experiment directory that `kubetune run` wrote)"
        ) from e
    experiment = location.removesuffix(results.RESULTS_FILE).rstrip("/") or location
    gpu = _gpu_seconds(summary)
    trials = [_trial(summary, found, frame, gpu) for found, frame in _ray_trials(experiment)]
    return Run(summary=summary, trials=sorted(trials, key=lambda t: t.trial_id))


def _ray_trials(experiment: str) -> list[tuple[Any, Any]]:
    """Ray's trials, each with its progress table (``None`` if it reported nothing), read by Ray's own reader."""
    from ray.tune import ExperimentAnalysis

    try:
        analysis = ExperimentAnalysis(experiment)
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"{experiment}: Ray's experiment state cannot be read: {' '.join(str(e).split())}") from e
    frames = analysis.trial_dataframes
    return [(trial, frames.get(str(trial.trial_id))) for trial in analysis.trials]


def _trial(summary: results.RunSummary, found: Any, frame: Any, gpu: Mapping[str, float]) -> Trial:
    trial_id = str(found.trial_id)
    how, detail = ending(summary, trial_id, str(found.status))
    rows: list[dict[str, float]] = []
    stamps: list[float] = []
    if frame is not None and len(frame):
        for record in frame.to_dict("records"):
            rows.append(
                {str(k): float(v) for k, v in record.items() if _number(v) and not str(k).startswith("config/")}
            )
            stamps.append(float(record["timestamp"]) if _number(record.get("timestamp")) else math.nan)
    return Trial(
        trial_id=trial_id,
        ending=how,
        detail=detail,
        params=dict(found.evaluated_params or {}),
        rows=rows,
        timestamps=stamps,
        gpu_seconds=gpu.get(trial_id),
    )


def _gpu_seconds(summary: results.RunSummary) -> dict[str, float]:
    found = {str(t): u.get("gpu_seconds") for t, u in summary.trial_usage.items() if isinstance(u, Mapping)}
    return {t: float(s) for t, s in found.items() if s is not None and _number(s)}


def _number(value: Any) -> bool:
    """A finite real number (numpy's too), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
