"""Fixtures for the operator tests: an API emulator (``tests.operator.kube``), operators against it, clients."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry

from kubetune.kube.rayjobs import RayJobSettings
from kubetune_operator import Operator, OperatorSettings
from kubetune_operator.settings import (
    ApiSettings,
    ReconcileSettings,
    ServerSettings,
    StatusSettings,
    WatchSettings,
)
from tests.cluster.cluster import Cluster
from tests.cluster.fixtures import OperatorIdentity
from tests.conftest import experiment_doc

from .kube import Emulator, running

TOKEN = "operator-test-master-token"
#: The operator's own namespace in these tests; experiments elsewhere get experiment-scoped tokens.
HOME = "kubetune"
GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuneexperiments"


def settings(**changes: Any) -> OperatorSettings:
    """Fast settings for tests: short backoffs, no summary pacing unless asked, a free port."""
    base = OperatorSettings(
        namespace=HOME,
        watch=WatchSettings(resync_seconds=30, timeout_seconds=30),
        api=ApiSettings(qps=10_000, burst=10_000, request_timeout_seconds=10),
        reconcile=ReconcileSettings(workers=4, backoff_seconds=0.05, max_backoff_seconds=0.5),
        status=StatusSettings(summary_interval_seconds=0),
        server=ServerSettings(host="127.0.0.1", port=0),
        rayjob=RayJobSettings(default_storage_path="s3://bucket/kubetune"),
    )
    return replace(base, **changes)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running() as emu:
        yield emu


def api_client(emu: Emulator) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = emu.url
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


@pytest.fixture
def kube(emulator: Emulator) -> Iterator[client.CustomObjectsApi]:
    """A plain client, as kubectl or KubeRay would use it."""
    with api_client(emulator) as api:
        yield client.CustomObjectsApi(api)


Start = Callable[..., Operator]


@pytest.fixture
def start_operator(emulator: Emulator) -> Iterator[Start]:
    """``start_operator(**settings changes)``: a started, ready operator; all are stopped after the test."""
    started: list[Operator] = []

    def start(*, registry: CollectorRegistry | None = None, now: Callable[[], str] | None = None,
              **changes: Any) -> Operator:  # fmt: skip
        options: dict[str, Any] = {"now": now} if now is not None else {}
        op = Operator(settings=settings(**changes), api_client=api_client(emulator), token=TOKEN,
                      registry=registry if registry is not None else CollectorRegistry(), **options)  # fmt: skip
        started.append(op)
        op.start()
        assert op.wait_ready(10), "the operator's watches did not list within 10 s"
        return op

    yield start
    for op in started:
        with contextlib.suppress(Exception):
            op.stop(grace_seconds=2)


def experiment(name: str, namespace: str = "ml", **spec: Any) -> dict[str, Any]:
    doc = experiment_doc(name, "jobs.mnist_torch.trainable:train", **spec)
    doc["metadata"]["namespace"] = namespace  # type: ignore[index]
    return doc


def create(kube: client.CustomObjectsApi, doc: dict[str, Any]) -> dict[str, Any]:
    ns = doc["metadata"]["namespace"]
    created: dict[str, Any] = kube.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, doc)
    return created


def get(kube: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = kube.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return found


def eventually(check: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy (returned) or raises no AssertionError; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        else:
            if result or result is None:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"still {result!r} after {timeout} s")
        time.sleep(interval)


# -- the real API server (tests/cluster) ------------------------------------------------------------------------
# Tests written against these fixtures run on the test control plane (or on the cluster E2E_KUBECONFIG names):
# ``ml``/``home`` are fresh namespaces (the experiment's and the operator's), ``run_operator`` starts an operator
# that authenticates as the chart's ServiceAccount with exactly the chart's RBAC.


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
