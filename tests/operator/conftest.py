"""Fixtures for the operator's tests on the real API server (tests/cluster): ``ml``/``home`` are fresh namespaces
(the experiment's and the operator's), ``run_operator`` starts an operator that authenticates as the chart's
ServiceAccount with exactly the chart's RBAC. The tests of faults only an emulator can produce live in
tests/emulator."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubetune_operator import Operator
from kubetune_operator.settings import WatchSettings
from tests.cluster.cluster import Cluster
from tests.cluster.fixtures import OperatorIdentity
from tests.operator.common import TOKEN, eventually, experiment, settings

__all__ = ["TOKEN", "eventually", "experiment", "settings"]


@pytest.fixture
def ml(namespaces: Callable[[str], str]) -> str:
    return namespaces("ml")


@pytest.fixture
def home(namespaces: Callable[[str], str]) -> str:
    return namespaces("kubetune")


Run = Callable[..., Operator]


@pytest.fixture
def run_operator(cluster: Cluster, operator_identity: OperatorIdentity, ml: str, home: str) -> Iterator[Run]:
    """``run_operator(**settings changes)``: a started, ready operator watching ``home`` and ``ml``."""
    started: list[Operator] = []

    def start(*, registry: CollectorRegistry | None = None, now: Callable[[], str] | None = None,
              **changes: Any) -> Operator:  # fmt: skip
        options: dict[str, Any] = {"now": now} if now is not None else {}
        changes.setdefault("watch", WatchSettings(namespaces=(home, ml), resync_seconds=30, timeout_seconds=30))
        changes.setdefault("namespace", home)
        op = Operator(settings=settings(**changes), api_client=cluster.new_client(operator_identity.kubeconfig),
                      token=TOKEN, registry=registry if registry is not None else CollectorRegistry(),
                      **options)  # fmt: skip
        started.append(op)
        op.start()
        assert op.wait_ready(20), "the operator's watches did not list within 20 s"
        return op

    yield start
    for op in started:
        with contextlib.suppress(Exception):
            op.stop(grace_seconds=2)


def tx_status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get(namespace, name).get("status") or {}
    return found


def wait_tx(cluster: Cluster, namespace: str, name: str, *, timeout: float = 30, **expected: Any) -> dict[str, Any]:
    """The experiment's status once the fields in ``expected`` hold those values."""

    def check() -> dict[str, Any]:
        current = tx_status(cluster, namespace, name)
        assert {k: current.get(k) for k in expected} == expected, current
        return current

    found: dict[str, Any] = eventually(check, timeout=timeout)
    return found


def rayjob_names(cluster: Cluster, namespace: str) -> list[str]:
    return sorted(j["metadata"]["name"] for j in cluster.objects("rayjobs", namespace))


def the_rayjob(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """The one RayJob in the namespace, once there is one."""
    jobs = eventually(lambda: cluster.objects("rayjobs", namespace), timeout=30)
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    found: dict[str, Any] = jobs[0]
    return found


def set_rayjob_status(cluster: Cluster, namespace: str, name: str, status: dict[str, Any]) -> None:
    """What KubeRay does: write the RayJob's status subresource."""
    cluster.custom.patch_namespaced_custom_object_status("ray.io", "v1", namespace, "rayjobs", name,
                                                         {"status": status})  # fmt: skip


def conditions_of(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions", [])}
