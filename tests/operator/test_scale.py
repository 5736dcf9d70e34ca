"""200 experiments reconciled together stay correct: one RayJob each, every status right, no stray writes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kubernetes import client
from prometheus_client import CollectorRegistry

from .conftest import Start, create, eventually, experiment
from .kube import Emulator
from .test_reconcile import rayjobs

N = 200


def test_two_hundred_experiments_get_one_rayjob_each(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    registry = CollectorRegistry()
    op = start_operator(registry=registry)
    names = [f"exp-{i:03d}" for i in range(N)]
    invalid = set(names[::20])  # every 20th is invalid: refused, and no obstacle to the others
    docs = [experiment(n, numSamples=0) if n in invalid else experiment(n, namespace=f"team-{i % 4}")
            for i, n in enumerate(names)]  # fmt: skip
    with ThreadPoolExecutor(8) as pool:  # as fast as several clients can create them
        list(pool.map(lambda doc: create(kube, doc), docs))

    eventually(lambda: len(rayjobs(emulator)) == N - len(invalid), timeout=60)
    eventually(lambda: len(op.queue) == 0, timeout=30)
    jobs = rayjobs(emulator)
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(set(names) - invalid)
    by_uid = {e["metadata"]["uid"]: e for e in emulator.objects("tuneexperiments")}
    for job in jobs:
        (owner,) = job["metadata"]["ownerReferences"]
        assert by_uid[owner["uid"]]["metadata"]["name"] == job["metadata"]["name"]
        assert by_uid[owner["uid"]]["metadata"]["namespace"] == job["metadata"]["namespace"]

    def statuses_settled() -> bool:
        phases = {
            e["metadata"]["name"]: (e.get("status") or {}).get("phase") for e in emulator.objects("tuneexperiments")
        }
        return all(phases[n] == ("Invalid" if n in invalid else "Pending") for n in names)

    eventually(statuses_settled, timeout=30)
    assert registry.get_sample_value("kubetune_operator_experiments", {"phase": "Pending"}) == N - len(invalid)
    assert registry.get_sample_value("kubetune_operator_experiments", {"phase": "Invalid"}) == len(invalid)
    assert registry.get_sample_value("kubetune_operator_reconcile_total", {"result": "error"}) == 0
    assert emulator.server.served["create"] == N + (N - len(invalid)) + N  # experiments, RayJobs, one event each
