"""A hundred experiments reconciled together on a real API server stay correct: one RayJob each, every status
right, no stray writes (every write counted in the API server's audit log)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry

from kubetune_operator.settings import WatchSettings
from tests.cluster.cluster import Cluster
from tests.cluster.fixtures import OperatorIdentity

from .conftest import Run, eventually, experiment

N = 100


def test_a_hundred_experiments_get_one_rayjob_each(
    run_operator: Run, cluster: Cluster, home: str, namespaces: Callable[[str], str],
    operator_identity: OperatorIdentity,
) -> None:  # fmt: skip
    teams = [namespaces(f"team-{i}") for i in range(4)]
    registry = CollectorRegistry()
    op = run_operator(registry=registry, watch=WatchSettings(namespaces=(home, *teams)))
    names = [f"exp-{i:03d}" for i in range(N)]
    invalid = set(names[::20])  # every 20th is invalid: refused, and no obstacle to the others
    docs = [experiment(n, teams[i % 4], **({"numSample": 3} if n in invalid else {})) for i, n in enumerate(names)]
    with ThreadPoolExecutor(8) as pool:  # as fast as several clients can create them
        list(pool.map(cluster.create, docs))

    def rayjobs() -> list[dict[str, object]]:
        return [j for team in teams for j in cluster.objects("rayjobs", team)]

    eventually(lambda: len(rayjobs()) == N - len(invalid), timeout=120)
    eventually(lambda: len(op.queue) == 0, timeout=60)
    jobs = rayjobs()
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(set(names) - invalid)  # type: ignore[index]
    experiments = [e for team in teams for e in cluster.objects("tuneexperiments", team)]
    by_uid = {e["metadata"]["uid"]: e for e in experiments}
    for job in jobs:
        (owner,) = job["metadata"]["ownerReferences"]  # type: ignore[index]
        assert by_uid[owner["uid"]]["metadata"]["name"] == job["metadata"]["name"]  # type: ignore[index]
        assert by_uid[owner["uid"]]["metadata"]["namespace"] == job["metadata"]["namespace"]  # type: ignore[index]

    def statuses_settled() -> bool:
        found = [e for team in teams for e in cluster.objects("tuneexperiments", team)]
        phases = {e["metadata"]["name"]: (e.get("status") or {}).get("phase") for e in found}
        return all(phases[n] == ("Invalid" if n in invalid else "Pending") for n in names)

    eventually(statuses_settled, timeout=60)
    assert registry.get_sample_value("kubetune_operator_experiments", {"phase": "Pending"}) == N - len(invalid)
    assert registry.get_sample_value("kubetune_operator_experiments", {"phase": "Invalid"}) == len(invalid)
    assert not registry.get_sample_value("kubetune_operator_reconcile_total", {"result": "error"})
    user = f"system:serviceaccount:{operator_identity.namespace}:{operator_identity.service_account}"

    def writes() -> Counter[tuple[str, str, int]]:
        return Counter(
            (w.verb, w.resource, w.code) for team in teams for w in cluster.writes(user=user, namespace=team)
        )

    # one event each (Created, or InvalidSpec), sent in the background after the reconcile that decided it
    eventually(lambda: writes()[("create", "events", 201)] == N, timeout=30)
    found = writes()
    assert found[("create", "rayjobs", 201)] == N - len(invalid)
    assert sum(n for (verb, resource, _), n in found.items() if (verb, resource) == ("create", "rayjobs")) == N - len(
        invalid
    )  # and no create was refused (a second RayJob of a name)
