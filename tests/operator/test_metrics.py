"""Results posted to the operator's ingest reach the experiment's status summary and /metrics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry

from kubetune_operator import Operator
from kubetune_operator.settings import StatusSettings
from kubetune_operator.tokens import experiment_token
from tests.exporter._support import Sender, experiment, result, trial

from .conftest import TOKEN, Start, create, eventually
from .conftest import experiment as tune_experiment
from .kube import Emulator
from .test_reconcile import one_rayjob, status, wait_status

if TYPE_CHECKING:
    from tests.conftest import Prometheuses

SCOPED = experiment_token(TOKEN, namespace="ml", name="exp")


def post(op: Operator, body: bytes, *, token: str = SCOPED) -> int:
    request = urllib.request.Request(
        op.exporter.url + "/api/v1/ingest",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        e.close()
        return int(e.code)


def sender(name: str = "exp", **options: Any) -> Sender:
    return Sender(name=name, namespace="ml", metric="score", mode="max", num_samples=4, **options)


def summary(kube: client.CustomObjectsApi, **expected: Any) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        found: dict[str, Any] = status(kube, "exp").get("summary") or {}
        assert {k: found.get(k) for k in expected} == expected, found
        return found

    found: dict[str, Any] = eventually(check)
    return found


def test_results_reach_the_status_summary_and_metrics(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    registry = CollectorRegistry()
    op = start_operator(registry=registry)
    create(kube, tune_experiment("exp", metric="score", numSamples=4))
    one_rayjob(emulator)
    s = sender()
    body = s.body(
        trial("t1", "RUNNING", config={"x": 0.3}),
        result("t1", 1, {"score": 0.7}),
        trial("t2", "RUNNING", config={"x": 0.8}),
        result("t2", 1, {"score": 0.9}),
        trial("t1", "TERMINATED"),
    )
    assert post(op, body) == 200

    found = summary(kube, bestValue=0.9, bestTrial="t2")
    assert found["bestConfig"] == {"x": 0.8}
    assert found["trials"] == {"pending": 0, "running": 1, "paused": 0, "terminated": 1, "error": 0}
    assert found["resultsTotal"] == 2
    assert status(kube, "exp")["progress"] == "1/4"
    trial_metric = {"namespace": "ml", "experiment": "exp", "trial": "t2", "metric": "score"}
    assert registry.get_sample_value("kubetune_trial_metric", trial_metric) == 0.9
    assert registry.get_sample_value("kubetune_ingest_requests_total", {"code": "200"}) == 1
    assert registry.get_sample_value("kubetune_operator_experiments", {"phase": "Pending"}) == 1
    assert registry.get_sample_value("kubetune_operator_reconcile_total", {"result": "success"}) >= 2  # type: ignore[operator]
    assert registry.get_sample_value("kubetune_operator_reconcile_duration_seconds_count") >= 2  # type: ignore[operator]
    with urllib.request.urlopen(op.exporter.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'kubetune_trial_metric{namespace="ml",experiment="exp",trial="t2",metric="score"} 0.9' in text
    assert 'kubetune_operator_reconcile_total{result="success"}' in text


def test_a_scoped_token_writes_only_its_own_experiment(start_operator: Start) -> None:
    op = start_operator()
    assert post(op, sender("other", sender="driver-2").body(trial("t", "RUNNING"))) == 401
    assert post(op, sender("exp").body(trial("t", "RUNNING"))) == 200
    assert post(op, sender("other", sender="driver-3").body(trial("t", "RUNNING")), token=TOKEN) == 200
    assert post(op, sender("other", sender="driver-4").body(trial("t", "RUNNING")), token="guess") == 401
    assert op.store.summary("ml", "exp") is not None
    assert op.store.summary("ml", "other") is not None


def test_summary_patches_are_rate_limited(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    op = start_operator(status=StatusSettings(summary_interval_seconds=1.0))
    create(kube, tune_experiment("exp", metric="score", numSamples=4))
    wait_status(kube, "exp", phase="Pending", rayJobName="exp")
    s = sender()
    assert post(op, s.body(trial("t1", "RUNNING"), result("t1", 1, {"score": 0.1}))) == 200
    summary(kube, bestValue=0.1)
    patches = emulator.server.served["patch"]
    for i in range(2, 6):  # four batches within the interval
        assert post(op, s.body(result("t1", i, {"score": i / 10}))) == 200
    assert status(kube, "exp")["summary"]["bestValue"] == 0.1  # held back
    summary(kube, bestValue=0.5, resultsTotal=5)  # ...and written when the interval ends
    assert emulator.server.served["patch"] == patches + 1


def test_a_graceful_stop_writes_the_summaries_held_back(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    op = start_operator(status=StatusSettings(summary_interval_seconds=3600))
    create(kube, tune_experiment("exp", metric="score", numSamples=4))
    wait_status(kube, "exp", phase="Pending", rayJobName="exp")
    s = sender()
    assert post(op, s.body(trial("t1", "RUNNING"), result("t1", 1, {"score": 0.1}))) == 200
    summary(kube, bestValue=0.1)
    assert post(op, s.body(result("t1", 2, {"score": 0.6}), trial("t1", "TERMINATED"))) == 200
    op.stop()
    assert summary(kube, bestValue=0.6)["trials"]["terminated"] == 1


def test_a_restarted_operator_continues_the_summary_instead_of_starting_over(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    first = start_operator()
    create(kube, tune_experiment("exp", metric="score", numSamples=4))
    wait_status(kube, "exp", phase="Pending", rayJobName="exp")
    s = sender()
    assert (
        post(
            first,
            s.body(
                trial("t1", "RUNNING", config={"x": 1}),
                result("t1", 1, {"score": 0.9}),
                trial("t1", "TERMINATED"),
                trial("t2", "RUNNING"),
                result("t2", 1, {"score": 0.2}),
            ),
        )
        == 200
    )
    summary(kube, bestValue=0.9, resultsTotal=2)
    first.stop()

    second = start_operator()  # an empty store: reporting sends changes, not the past
    assert (
        post(
            second,
            s.body(
                result("t2", 2, {"score": 0.5}),
                trial("t3", "RUNNING"),
                trial("t2", "TERMINATED"),
                experiment("RUNNING"),
            ),
        )
        == 200
    )
    found = summary(kube, resultsTotal=3)
    assert found["bestValue"] == 0.9
    assert (found["bestTrial"], found["bestConfig"]) == ("t1", {"x": 1})
    assert found["trials"] == {"pending": 0, "running": 1, "paused": 0, "terminated": 2, "error": 0}
    assert status(kube, "exp")["progress"] == "2/4"


@pytest.mark.slow
def test_prometheus_scrapes_the_operator(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator, prometheus: Prometheuses
) -> None:
    op = start_operator()
    create(kube, tune_experiment("exp", metric="score", numSamples=4))
    one_rayjob(emulator)
    assert post(op, sender().body(trial("t1", "RUNNING"), result("t1", 3, {"score": 0.75}))) == 200

    url = prometheus.start([f"127.0.0.1:{op.exporter.port}"])
    found = prometheus.query(url, 'kubetune_trial_metric{metric="score"}', timeout=20)
    assert len(found) == 1, "no sample within 20 s; see prometheus.log under the test's tmp_path"
    assert (found[0]["metric"]["experiment"], float(found[0]["value"][1])) == ("exp", 0.75)
    reconciles = prometheus.query(url, 'kubetune_operator_reconcile_total{result="success"} > 0', timeout=10)
    assert reconciles, "the operator's own metrics were not scraped"
    assert prometheus.query(url, 'kubetune_operator_experiments{phase="Pending"} == 1', timeout=10)


def test_the_status_stays_small_whatever_the_number_of_trials(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    op = start_operator()
    create(kube, tune_experiment("exp", metric="score", numSamples=4))
    wait_status(kube, "exp", phase="Pending", rayJobName="exp")
    s = sender()
    for start in range(0, 3000, 1000):
        events = []
        for i in range(start, start + 1000):
            events += [trial(f"t{i}", "RUNNING", config={"i": i}), result(f"t{i}", 1, {"score": i / 3000}),
                       trial(f"t{i}", "TERMINATED")]  # fmt: skip
        assert post(op, s.body(*events)) == 200
    huge = {"weights": [0.5] * 5000}  # the best trial's config is too large for a status
    assert post(op, s.body(trial("best", "RUNNING", config=huge), result("best", 1, {"score": 2.0}))) == 200

    found = summary(kube, bestTrial="best", resultsTotal=3001)
    assert found["trials"]["terminated"] == 3000
    assert "bestConfig" not in found
    assert len(json.dumps(status(kube, "exp"))) < 4096
