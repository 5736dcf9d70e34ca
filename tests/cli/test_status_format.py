"""``kubetune status``'s text: why trials ended and what they held, from the TuneExperiment's status summary."""

from __future__ import annotations

from typing import Any

from kubetune.cli.submitting import format_status

BODY: dict[str, Any] = {
    "metadata": {"name": "mnist", "namespace": "ml"},
    "spec": {"metric": "acc", "mode": "max"},
    "status": {
        "phase": "Running",
        "progress": "5/8",
        "summary": {
            "trials": {"running": 2, "terminated": 5},
            "endReasons": {"finished": 2, "earlyStopped": 3, "exploited": 0, "budget": 0, "errored": 0},
            "usage": {"gpuHours": 1.5, "cpuHours": 6.0, "trialHours": 1.5},
            "bestValue": 0.9,
            "bestTrial": "t1",
            "metric": "acc",
        },
    },
}


def test_status_shows_why_trials_ended_and_what_they_held() -> None:
    text = format_status(BODY)
    assert "Ended:       finished 2, earlyStopped 3" in text
    assert "Held:        1.5 GPU-hours, 6 CPU-hours over 1.5 trial-hours" in text


def test_a_status_from_an_older_operator_shows_neither() -> None:
    summary = {k: v for k, v in BODY["status"]["summary"].items() if k not in ("endReasons", "usage")}
    text = format_status({**BODY, "status": {**BODY["status"], "summary": summary}})
    assert "Ended:" not in text
    assert "Held:" not in text
