"""The experiment's status as a pure function of what the operator knows, and the patch that gets it there.

Reconciling is level-based: the desired status is computed from the current status, the RayJob and the trial
summary, and written only when it differs. Two things make that idempotent: ``lastTransitionTime`` changes only
when a condition's status changes (not its reason or message), and ``startTime``/``completionTime`` are set
once. The write is a JSON merge patch of the difference (:func:`merge_diff`), with explicit nulls for what
disappeared, so nested keys dropped from the desired status really go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubetune.kube.bodies import Condition, ConditionType, ExperimentStatus, RayJob, Summary
from kubetune_operator.following import Mark, Outcome, mirror

#: Conditions in the order they are listed.
ORDER: tuple[ConditionType, ...] = ("Valid", "Running", "Complete", "Failed", "SpecChanged", "SummaryRejected")
#: Longest condition message (the API server allows 32 KiB; a status is read by people).
MAX_MESSAGE = 4096


def set_condition(
    conditions: list[Condition], kind: ConditionType, mark: Mark | None, *, generation: int, now: str
) -> list[Condition]:
    """``conditions`` with ``kind`` set to ``mark`` (removed when None), in :data:`ORDER`."""
    old = next((c for c in conditions if c.get("type") == kind), None)
    rest = [c for c in conditions if c.get("type") != kind]
    if mark is not None:
        since = old.get("lastTransitionTime") if old and old.get("status") == mark.status else None
        message = mark.message if len(mark.message) <= MAX_MESSAGE else mark.message[: MAX_MESSAGE - 1] + "…"
        rest.append({"type": kind, "status": mark.status, "reason": mark.reason, "message": message,
                     "lastTransitionTime": since or now, "observedGeneration": generation})  # fmt: skip
    return sorted(rest, key=lambda c: ORDER.index(c["type"]) if c.get("type") in ORDER else len(ORDER))


def condition(status: Mapping[str, Any], kind: ConditionType) -> Condition | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What the desired status is computed from."""

    generation: int
    #: Now, as an RFC 3339 timestamp (used only for transitions and first-time times).
    now: str
    valid: Mark
    #: None while nothing runs (invalid spec, or waiting for a RayJob name conflict to clear).
    outcome: Outcome | None = None
    rayjob: RayJob | None = None
    spec_changed: Mark | None = None
    summary: Summary | None = None
    progress: str | None = None


def desired_status(current: ExperimentStatus, inputs: Inputs) -> ExperimentStatus:
    gen, now = inputs.generation, inputs.now
    conditions = list(current.get("conditions") or [])
    conditions = set_condition(conditions, "Valid", inputs.valid, generation=gen, now=now)
    status: ExperimentStatus = {"observedGeneration": gen}
    outcome = inputs.outcome
    if inputs.valid.status == "False" and outcome is None:  # refused before anything was created
        status["phase"] = "Invalid"
        kinds: tuple[ConditionType, ...] = ("Running", "Complete", "Failed", "SpecChanged")
        for kind in kinds:
            conditions = set_condition(conditions, kind, None, generation=gen, now=now)
        status["conditions"] = conditions
        return status
    status["phase"] = outcome.phase if outcome else current.get("phase") or "Pending"
    if outcome is not None:
        conditions = set_condition(conditions, "Running", outcome.running, generation=gen, now=now)
        conditions = set_condition(conditions, "Complete", outcome.complete, generation=gen, now=now)
        conditions = set_condition(conditions, "Failed", outcome.failed, generation=gen, now=now)
    conditions = set_condition(conditions, "SpecChanged", inputs.spec_changed, generation=gen, now=now)
    status["conditions"] = conditions
    job = inputs.rayjob
    if job is not None:
        job_status = job.get("status") or {}
        status["rayJobName"] = job["metadata"]["name"]
        status["startTime"] = current.get("startTime") or job_status.get("startTime") or now
        state = mirror(job_status)
        if state:
            status["rayJob"] = state
    elif current.get("rayJobName"):
        status["rayJobName"] = current["rayJobName"]
        if current.get("startTime"):
            status["startTime"] = current["startTime"]
    if outcome is not None and outcome.terminal:
        end = (job.get("status") or {}).get("endTime") if job else None
        status["completionTime"] = current.get("completionTime") or end or now
    if inputs.summary is not None:  # a fresh summary is being written: whatever was refused before is gone
        conditions = set_condition(conditions, "SummaryRejected", None, generation=gen, now=now)
        status["conditions"] = conditions
    summary = inputs.summary if inputs.summary is not None else current.get("summary")
    if summary:
        status["summary"] = summary
    if inputs.progress is not None:
        status["progress"] = inputs.progress
    return status


def merge_diff(current: Mapping[str, object], desired: Mapping[str, object]) -> dict[str, object]:
    """The JSON merge patch (RFC 7386) that turns ``current`` into ``desired``; empty when they are equal."""
    patch: dict[str, object] = {}
    for key in current.keys() - desired.keys():
        patch[key] = None
    for key, value in desired.items():
        old = current.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = merge_diff(old, value)
            if nested:
                patch[key] = nested
        elif key not in current or old != value:
            patch[key] = value
    return patch
