"""Fixtures for the tests that need the API emulator: faults a real API server cannot be made to produce on demand
(a 500 after committing, a hung request, a 410 at a chosen moment), and the emulator's own checks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry

from kubetune_operator import Operator
from tests.operator.common import GROUP, PLURAL, TOKEN, VERSION, eventually, experiment, settings

from .kube import Emulator, running

__all__ = ["TOKEN", "eventually", "experiment", "settings"]


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


def create(kube: client.CustomObjectsApi, doc: dict[str, Any]) -> dict[str, Any]:
    ns = doc["metadata"]["namespace"]
    return cast("dict[str, Any]", kube.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, doc))


def get(kube: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    return cast("dict[str, Any]", kube.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))


def rayjobs(emulator: Emulator, namespace: str | None = None) -> list[dict[str, Any]]:
    return emulator.objects("rayjobs", namespace)


def one_rayjob(emulator: Emulator, namespace: str = "ml") -> dict[str, Any]:
    jobs = eventually(lambda: rayjobs(emulator, namespace))
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    found: dict[str, Any] = jobs[0]
    return found


def status(kube: client.CustomObjectsApi, name: str, namespace: str = "ml") -> dict[str, Any]:
    found: dict[str, Any] = get(kube, namespace, name).get("status") or {}
    return found


def wait_status(kube: client.CustomObjectsApi, name: str, namespace: str = "ml", **expected: Any) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        current = status(kube, name, namespace)
        assert {k: current.get(k) for k in expected} == expected, current
        return current

    found: dict[str, Any] = eventually(check)
    return found
