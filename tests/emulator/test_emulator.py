"""The API emulator behaves like an API server where the operator can tell (the gaps of plain kmock 0.8)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes import client

from kubetune_operator.api import RAYJOBS, KubeAPI
from kubetune_operator.errors import APIConflictError, APIGoneError

from .conftest import api_client, eventually
from .kube import Emulator

G, V, P = "ray.io", "v1", "rayjobs"


def job(name: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, **metadata},
        "spec": {"entrypoint": "python x.py"},
    }


def test_create_answers_201_with_server_set_metadata(kube: client.CustomObjectsApi) -> None:
    created = kube.create_namespaced_custom_object(G, V, "ml", P, job("a"))
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["creationTimestamp"]
    assert meta["generation"] == 1
    assert meta["namespace"] == "ml"
    assert int(meta["resourceVersion"]) > 0
    with pytest.raises(client.ApiException) as taken:
        kube.create_namespaced_custom_object(G, V, "ml", P, job("a"))
    assert taken.value.status == 409
    assert "AlreadyExists" in str(taken.value.body)


def test_writes_bump_versions_and_a_stale_resource_version_is_409(kube: client.CustomObjectsApi) -> None:
    created = kube.create_namespaced_custom_object(G, V, "ml", P, job("a"))
    stale = created["metadata"]["resourceVersion"]
    changed = kube.patch_namespaced_custom_object(G, V, "ml", P, "a", {"spec": {"entrypoint": "python y.py"}})
    assert changed["metadata"]["generation"] == 2
    assert changed["metadata"]["resourceVersion"] != stale
    labelled = kube.patch_namespaced_custom_object(G, V, "ml", P, "a", {"metadata": {"labels": {"k": "v"}}})
    assert labelled["metadata"]["generation"] == 2  # metadata is not spec
    with pytest.raises(client.ApiException) as conflict:
        kube.patch_namespaced_custom_object_status(
            G, V, "ml", P, "a", {"metadata": {"resourceVersion": stale}, "status": {"jobStatus": "RUNNING"}}
        )
    assert conflict.value.status == 409


def test_the_status_subresource_separates_status_from_the_rest(kube: client.CustomObjectsApi) -> None:
    kube.create_namespaced_custom_object(G, V, "ml", P, job("a"))
    patched = kube.patch_namespaced_custom_object_status(
        G, V, "ml", P, "a", {"status": {"jobStatus": "RUNNING"}, "spec": {"entrypoint": "ignored"}}
    )
    assert patched["status"] == {"jobStatus": "RUNNING"}
    assert patched["spec"]["entrypoint"] == "python x.py"
    kept = kube.patch_namespaced_custom_object(G, V, "ml", P, "a", {"status": {"jobStatus": "ignored"}})
    assert kept["status"] == {"jobStatus": "RUNNING"}


def test_deleting_an_owner_collects_what_it_owns(kube: client.CustomObjectsApi, emulator: Emulator) -> None:
    owner = kube.create_namespaced_custom_object(G, V, "ml", P, job("owner"))
    ref = {"apiVersion": "ray.io/v1", "kind": "RayJob", "name": "owner", "uid": owner["metadata"]["uid"]}
    kube.create_namespaced_custom_object(G, V, "ml", P, job("owned", ownerReferences=[ref]))
    kube.create_namespaced_custom_object(G, V, "ml", P, job("other"))
    kube.delete_namespaced_custom_object(G, V, "ml", P, "owner")
    assert [o["metadata"]["name"] for o in emulator.objects(P)] == ["other"]


def test_watches_resume_from_a_version_and_expired_versions_are_410(emulator: Emulator) -> None:
    api = KubeAPI(api_client=api_client(emulator))
    api.create(RAYJOBS, namespace="ml", body=job("a"))
    _, version = api.list(RAYJOBS, namespace="ml")
    api.create(RAYJOBS, namespace="ml", body=job("b"))
    events = [
        (e["type"], e["object"]["metadata"]["name"])
        for e in api.watch(RAYJOBS, namespace="ml", resource_version=version, timeout_seconds=1)
    ]
    assert events == [("ADDED", "b")]
    emulator.expire_watches()
    with pytest.raises(APIGoneError):
        list(api.watch(RAYJOBS, namespace="ml", resource_version=version, timeout_seconds=1))


def test_an_open_watch_sees_changes_as_they_happen(emulator: Emulator) -> None:
    api = KubeAPI(api_client=api_client(emulator))
    _, version = api.list(RAYJOBS, namespace="ml")
    stream = api.watch(RAYJOBS, namespace="ml", resource_version=version, timeout_seconds=5)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(e["object"]["metadata"]["name"] for e in stream))
    reader.start()
    api.create(RAYJOBS, namespace="other", body=job("elsewhere"))
    api.create(RAYJOBS, namespace="ml", body=job("live"))
    eventually(lambda: seen == ["live"])
    stream.close()
    reader.join(5)
    assert not reader.is_alive()  # closing ends the stream at once, long before its timeout


def test_faults_answer_errors_and_may_commit_first(emulator: Emulator) -> None:
    api = KubeAPI(api_client=api_client(emulator))
    emulator.fail("create", P, 500, commit=True)
    with pytest.raises(Exception, match="500"):
        api.create(RAYJOBS, namespace="ml", body=job("a"))
    with pytest.raises(APIConflictError) as exists:  # the lost response's object is there
        api.create(RAYJOBS, namespace="ml", body=job("a"))
    assert exists.value.already_exists
    emulator.fail("watch", P, 410)
    with pytest.raises(APIGoneError):
        list(api.watch(RAYJOBS, namespace="ml", resource_version="1", timeout_seconds=1))
