"""Faults a real API server cannot be made to produce on demand, on the emulator: a create stored but its
response lost, a hung create, 500s and 409s on chosen calls, a 410 at a chosen moment, failing lists and events.
The operator converges and never makes a second RayJob. (Restarts, kills and expired watches on a real server:
tests/operator/test_restarts.py.)"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry

from kubetune_operator import Operator

from .conftest import (
    TOKEN,
    Start,
    api_client,
    create,
    eventually,
    experiment,
    one_rayjob,
    rayjobs,
    settings,
    wait_status,
)
from .kube import Emulator


def names(emulator: Emulator) -> list[str]:
    return sorted(j["metadata"]["name"] for j in rayjobs(emulator))


def test_an_operator_killed_mid_create_and_restarted_makes_one_rayjob(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    # The API server stores the RayJob, then hangs: the first operator dies with the create in flight.
    emulator.fail("create", "rayjobs", 500, commit=True, delay=1.0)
    first = start_operator()
    create(kube, experiment("exp"))
    eventually(lambda: names(emulator) == ["exp"])
    first.stop(grace_seconds=0)

    start_operator()
    st = wait_status(kube, "exp", phase="Pending", rayJobName="exp")
    assert st["conditions"][0]["type"] == "Valid"
    time.sleep(1.2)  # the dead operator's call returns by now; nothing may follow it
    assert names(emulator) == ["exp"]
    assert one_rayjob(emulator)["metadata"]["ownerReferences"][0]["name"] == "exp"


def test_a_lost_create_response_is_adopted_not_duplicated(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    emulator.fail("create", "rayjobs", 500, commit=True)
    start_operator()
    create(kube, experiment("exp"))
    wait_status(kube, "exp", phase="Pending", rayJobName="exp")
    assert names(emulator) == ["exp"]


def test_conflicting_status_writes_and_server_errors_are_retried(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    emulator.fail("create", "rayjobs", 500, times=2)
    emulator.fail("patch", "tuneexperiments", 409, subresource="status", times=2)
    registry = CollectorRegistry()
    start_operator(registry=registry)
    create(kube, experiment("exp"))
    wait_status(kube, "exp", phase="Pending", rayJobName="exp")
    assert names(emulator) == ["exp"]
    assert registry.get_sample_value("kubetune_operator_reconcile_total", {"result": "requeue"}) == 4
    assert registry.get_sample_value("kubetune_operator_reconcile_errors_total") == 4


def test_a_410_on_the_watch_relists_and_catches_up(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    start_operator()
    create(kube, experiment("before"))
    eventually(lambda: names(emulator) == ["before"])
    lists = emulator.server.served["list"]
    emulator.fail("watch", "tuneexperiments", 410)
    emulator.expire_watches()  # etcd compacted: open watches end, resuming from their version is 410
    create(kube, experiment("after"))
    eventually(lambda: names(emulator) == ["after", "before"])
    assert emulator.server.served["list"] > lists


def test_a_failing_list_backs_off_and_the_operator_is_ready_only_after_it(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    emulator.fail("list", "tuneexperiments", 500, times=3)
    create(kube, experiment("exp"))
    registry = CollectorRegistry()
    operator = start_operator(registry=registry)  # waits for readiness
    assert registry.get_sample_value("kubetune_operator_watch_errors_total") == 3
    assert registry.get_sample_value("kubetune_operator_ready") == 1
    with urllib.request.urlopen(f"{operator.exporter.url}/readyz", timeout=5) as ready:
        assert ready.status == 200
    eventually(lambda: names(emulator) == ["exp"])


def test_not_ready_until_the_first_list(start_operator: Start, emulator: Emulator) -> None:
    emulator.fail("list", "rayjobs", 500, times=1_000)
    operator = Operator(settings=settings(), api_client=api_client(emulator), token=TOKEN)
    operator.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"{operator.exporter.url}/readyz", timeout=5)
        assert not_ready.value.code == 503
        not_ready.value.close()
        with urllib.request.urlopen(f"{operator.exporter.url}/healthz", timeout=5) as health:
            assert health.status == 200  # alive, just not ready
    finally:
        operator.stop(grace_seconds=2)


def test_events_are_best_effort(start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator) -> None:
    emulator.fail("create", "events", 500, times=100)
    start_operator()
    create(kube, experiment("exp", numSamples=0))
    create(kube, experiment("good"))
    wait_status(kube, "exp", phase="Invalid")
    wait_status(kube, "good", phase="Pending", rayJobName="good")
    assert emulator.objects("events") == []
