"""What the trials held, in the TuneExperiment status: ``summary.usage`` in hours from the driver's cumulative
figures (so it replaces, never adds to, what a previous operator process wrote), left out for older drivers."""

from __future__ import annotations

from typing import Any, cast

from kubetune.exporter import ExperimentStore
from kubetune.kube.bodies import Summary, UsageHours
from kubetune_operator.summarizing import continued, summary_status
from tests.exporter._support import Sender, experiment

USAGE = {"gpuSeconds": 7200.0, "cpuSeconds": 28800.0, "trialSeconds": 7200.0}


def test_the_status_shows_the_drivers_usage_in_hours() -> None:
    store = ExperimentStore()
    store.apply(Sender().batch({**experiment("RUNNING", trials={"RUNNING": 2}), "usage": USAGE}))
    found = store.summary("ml", "exp")
    assert found is not None
    status = cast(dict[str, Any], summary_status(found, max_config_bytes=1024))
    assert status["usage"] == {"gpuHours": 2.0, "cpuHours": 8.0, "trialHours": 2.0}
    assert set(status["usage"]) == set(UsageHours.__annotations__)  # the CRD is generated from it


def test_the_latest_figures_replace_older_ones_and_an_older_driver_leaves_usage_out() -> None:
    store = ExperimentStore()
    sender = Sender()
    store.apply(sender.batch({**experiment("RUNNING"), "usage": USAGE}))
    store.apply(sender.batch({**experiment("RUNNING", time=2.0), "usage": {**USAGE, "gpuSeconds": 9000.0}}))
    found = store.summary("ml", "exp")
    assert found is not None
    assert cast(dict[str, Any], summary_status(found, max_config_bytes=1024))["usage"]["gpuHours"] == 2.5

    older = ExperimentStore()
    older.apply(Sender().batch(experiment("RUNNING", trials={"RUNNING": 1})))
    found = older.summary("ml", "exp")
    assert found is not None
    assert "usage" not in summary_status(found, max_config_bytes=1024)


def test_usage_continues_from_a_previous_process_only_until_the_driver_reports() -> None:
    base = cast(Summary, {"metric": "m", "mode": "max", "usage": {"gpuHours": 3.0, "cpuHours": 6.0, "trialHours": 3.0}})
    silent = cast(dict[str, Any], continued(base, cast(Summary, {"metric": "m", "mode": "max"})))
    assert silent["usage"] == {"gpuHours": 3.0, "cpuHours": 6.0, "trialHours": 3.0}
    fresh = cast(
        Summary, {"metric": "m", "mode": "max", "usage": {"gpuHours": 3.5, "cpuHours": 7.0, "trialHours": 3.5}}
    )
    assert cast(dict[str, Any], continued(base, fresh))["usage"]["gpuHours"] == 3.5  # cumulative: not 6.5


def test_the_status_counts_the_trials_that_seeded_the_search_apart() -> None:
    store = ExperimentStore()
    store.apply(Sender().batch({**experiment("RUNNING", trials={"RUNNING": 2}), "seeded": 7}))
    found = store.summary("ml", "exp")
    assert found is not None
    status = cast(dict[str, Any], summary_status(found, max_config_bytes=1024))
    assert status["seededTrials"] == 7
    assert sum(status["trials"].values()) == 2  # the seeded trials are not this experiment's
