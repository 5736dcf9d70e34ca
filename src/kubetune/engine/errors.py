"""What a run that Ray Tune aborted reports: one sentence, with the cause chained for ``--debug``.

``Tuner.fit()`` aborts the whole experiment (rather than failing one trial) when the driver side breaks: most often
a trainable whose results lack the spec's metric, which Ray reports as a ``TuneError`` whose message is a
67-line traceback around ``ValueError: Trial returned a result which did not include the specified metric(s)``.
:func:`explain` turns any such exception into a :class:`RunFailed` whose message fits on one line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence

#: The start of Ray's message for a result without the metric (ray/tune/execution/tune_controller.py).
_MISSING_METRIC = "did not include the specified metric"
#: Keys Ray adds to every result; they say nothing about what the trainable reported.
_RAY_KEYS = frozenset(
    {
        "training_iteration", "time_total_s", "time_this_iter_s", "time_since_restore", "timestamp", "date",
        "timesteps_total", "timesteps_since_restore", "iterations_since_restore", "episodes_total", "done",
        "trial_id", "experiment_id", "experiment_tag", "pid", "hostname", "node_ip", "checkpoint_dir_name",
        "should_checkpoint",
    }
)  # fmt: skip


class RunFailed(RuntimeError):
    """Ray Tune aborted the experiment; the message is one line for the user, the cause is chained."""


class MetricNotReported(RunFailed):
    """A trial reported a result without ``spec.metric``: a typo in the spec or in the trainable's keys."""

    def __init__(self, *, metric: str, reported: list[str]) -> None:
        self.metric, self.reported = metric, reported
        keys = ", ".join(reported) if reported else "no metrics of its own"
        super().__init__(
            f"the trainable reported {keys} but not spec.metric {metric!r}: every tune.report() must include "
            f"{metric!r} (or set spec.metric to a key it reports)"
        )


def explain(error: BaseException, *, metric: str | Sequence[str]) -> RunFailed:
    """The :class:`RunFailed` for an exception ``Tuner.fit()`` raised (the caller chains it with ``from``);
    ``metric`` is the objective, or every objective (the error names the first one the result lacked)."""
    chain = list(_chain(error))
    metrics = [metric] if isinstance(metric, str) else list(metric)
    for exc in chain:
        if isinstance(exc, ValueError) and _MISSING_METRIC in str(exc):
            reported = _reported_keys(str(exc))
            missing = next((m for m in metrics if m not in reported), metrics[0])
            return MetricNotReported(metric=missing, reported=reported)
    root = next((e for e in reversed(chain) if type(e).__name__ != "TuneError"), chain[-1])
    return RunFailed(f"Ray Tune stopped the experiment: {type(root).__name__}: {_one_line(str(root))}")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _reported_keys(message: str) -> list[str]:
    """The trainable's own keys in the result Ray quotes after ``Result:`` (a flattened dict's repr)."""
    _, _, text = message.partition("Result: ")
    try:
        keys = list(ast.literal_eval(text.strip()))
    except (ValueError, SyntaxError):  # a value without a literal repr (a NumPy scalar): take the keys only
        keys = re.findall(r"'([^']+)': ", text)
    return sorted({str(k) for k in keys if str(k) not in _RAY_KEYS and not str(k).startswith("config/")})


def _one_line(text: str) -> str:
    """A message's last non-empty line when it is a traceback (its exception), else its first line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]
