"""Why trials ended, in the TuneExperiment status: ``summary.endReasons``, a fixed set of camelCase keys from the
driver's count, continued across operator restarts; the status schema (and so the CRD) declares every key."""

from __future__ import annotations

from typing import Any, cast

from kubetune.exporter import ExperimentStore
from kubetune.kube.bodies import EndReasons, Summary
from kubetune_operator.summarizing import END_REASON_KEYS, continued, summary_status
from tests.exporter._support import Sender, experiment

ENDS = {"finished": 3, "early_stopped": 5, "errored": 1}


def reported_store() -> ExperimentStore:
    store = ExperimentStore()
    counts = {"TERMINATED": 8, "ERROR": 1}
    store.apply(Sender().batch({**experiment("FINISHED", trials=counts), "ends": ENDS}))
    return store


def test_the_status_counts_ended_trials_by_reason_under_fixed_camelcase_keys() -> None:
    found = reported_store().summary("ml", "exp")
    assert found is not None

    status = cast(dict[str, Any], summary_status(found, max_config_bytes=1024))
    assert status["endReasons"] == {
        "finished": 3, "earlyStopped": 5, "exploited": 0, "budget": 0, "errored": 1, "cancelled": 0
    }  # fmt: skip
    assert set(END_REASON_KEYS.values()) == set(status["endReasons"])


def test_the_status_schema_declares_every_reason_key() -> None:
    assert set(EndReasons.__annotations__) == set(END_REASON_KEYS.values())  # the CRD is generated from it


def test_a_driver_that_reports_no_reasons_leaves_them_out_of_the_status() -> None:
    store = ExperimentStore()
    store.apply(Sender().batch(experiment("RUNNING", trials={"RUNNING": 2})))
    found = store.summary("ml", "exp")
    assert found is not None
    assert "endReasons" not in summary_status(found, max_config_bytes=1024)


def test_reasons_continue_from_a_previous_process_unless_the_driver_counted_them_all() -> None:
    base: dict[str, Any] = {"metric": "m", "mode": "max", "endReasons": {"finished": 2, "errored": 1}}
    fresh: dict[str, Any] = {"metric": "m", "mode": "max", "endReasons": {"finished": 1, "earlyStopped": 4}}
    baseline, now = cast(Summary, base), cast(Summary, fresh)

    added = cast(dict[str, Any], continued(baseline, now))["endReasons"]
    assert {k: v for k, v in added.items() if v} == {"finished": 3, "earlyStopped": 4, "errored": 1}
    replaced = cast(dict[str, Any], continued(baseline, now, ends_reported=True))["endReasons"]
    assert replaced == {"finished": 1, "earlyStopped": 4}
    older_driver = cast(dict[str, Any], continued(baseline, cast(Summary, {"metric": "m", "mode": "max"})))
    assert {k: v for k, v in older_driver["endReasons"].items() if v} == {"finished": 2, "errored": 1}
