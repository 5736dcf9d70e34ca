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
