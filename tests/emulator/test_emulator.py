"""The API emulator behaves like an API server where the operator can tell (the gaps of plain kmock 0.8)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes import client

from kubetune.kube.api import LEASES, RAYJOBS, KubeAPI
from kubetune_operator.errors import APIConflictError, APIGoneError

from .conftest import api_client, eventually
from .kube import Emulator

G, V, P = "ray.io", "v1", "rayjobs"


def obj(found: object) -> dict[str, Any]:
    """An object the custom-objects API answered (typed ``object`` by the client)."""
    assert isinstance(found, dict)
    return found


def job(name: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, **metadata},
        "spec": {"entrypoint": "python x.py"},
    }


def test_create_answers_201_with_server_set_metadata(kube: client.CustomObjectsApi) -> None:
    created = obj(kube.create_namespaced_custom_object(G, V, "ml", P, job("a")))
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
    created = obj(kube.create_namespaced_custom_object(G, V, "ml", P, job("a")))
    stale = created["metadata"]["resourceVersion"]
    changed = obj(kube.patch_namespaced_custom_object(G, V, "ml", P, "a", {"spec": {"entrypoint": "python y.py"}}))
    assert changed["metadata"]["generation"] == 2
    assert changed["metadata"]["resourceVersion"] != stale
    labelled = obj(kube.patch_namespaced_custom_object(G, V, "ml", P, "a", {"metadata": {"labels": {"k": "v"}}}))
    assert labelled["metadata"]["generation"] == 2  # metadata is not spec
    with pytest.raises(client.ApiException) as conflict:
        kube.patch_namespaced_custom_object_status(
            G, V, "ml", P, "a", {"metadata": {"resourceVersion": stale}, "status": {"jobStatus": "RUNNING"}}
        )
    assert conflict.value.status == 409


def test_the_status_subresource_separates_status_from_the_rest(kube: client.CustomObjectsApi) -> None:
    kube.create_namespaced_custom_object(G, V, "ml", P, job("a"))
    patched = obj(
        kube.patch_namespaced_custom_object_status(
            G, V, "ml", P, "a", {"status": {"jobStatus": "RUNNING"}, "spec": {"entrypoint": "ignored"}}
        )
    )
    assert patched["status"] == {"jobStatus": "RUNNING"}
    assert patched["spec"]["entrypoint"] == "python x.py"
    kept = obj(kube.patch_namespaced_custom_object(G, V, "ml", P, "a", {"status": {"jobStatus": "ignored"}}))
    assert kept["status"] == {"jobStatus": "RUNNING"}


def test_deleting_an_owner_collects_what_it_owns(kube: client.CustomObjectsApi, emulator: Emulator) -> None:
    owner = obj(kube.create_namespaced_custom_object(G, V, "ml", P, job("owner")))
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


def owned_by(*owners: Any) -> list[dict[str, Any]]:
    return [{"apiVersion": "ray.io/v1", "kind": "RayJob", "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]}
            for o in owners]  # fmt: skip


def test_deleting_an_owner_among_many_collects_exactly_its_dependents_and_theirs(
    kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    """The collector follows an owner → dependents index: among hundreds of owners, deleting some takes exactly
    their dependents (and the dependents' own, transitively), a dependent with a surviving second owner stays,
    and nothing else is touched."""
    owners = [kube.create_namespaced_custom_object(G, V, "ml", P, job(f"owner-{i}")) for i in range(200)]
    for i, owner in enumerate(owners):
        kube.create_namespaced_custom_object(G, V, "ml", P, job(f"child-{i}", ownerReferences=owned_by(owner)))
    grandchild_parent = obj(kube.get_namespaced_custom_object(G, V, "ml", P, "child-7"))
    kube.create_namespaced_custom_object(
        G, V, "ml", P, job("grandchild-7", ownerReferences=owned_by(grandchild_parent))
    )
    kube.create_namespaced_custom_object(
        G, V, "ml", P, job("shared-7-8", ownerReferences=owned_by(owners[7], owners[8]))
    )
    kube.create_namespaced_custom_object(G, V, "other", P, job("elsewhere"))

    kube.delete_namespaced_custom_object(G, V, "ml", P, "owner-7")
    names = {o["metadata"]["name"] for o in emulator.objects(P)}
    assert {"owner-7", "child-7", "grandchild-7"}.isdisjoint(names)
    assert "shared-7-8" in names  # owner-8 still owns it
    assert len(names) == 200 - 1 + 200 - 1 + 1 + 1  # owners, children, shared, elsewhere

    kube.delete_namespaced_custom_object(G, V, "ml", P, "owner-8")
    names = {o["metadata"]["name"] for o in emulator.objects(P)}
    assert {"owner-8", "child-8", "shared-7-8"}.isdisjoint(names)
    assert len(names) == 200 - 2 + 200 - 2 + 1


def test_an_object_created_for_an_owner_that_is_gone_is_collected(
    kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    owner = obj(kube.create_namespaced_custom_object(G, V, "ml", P, job("owner")))
    kube.delete_namespaced_custom_object(G, V, "ml", P, "owner")
    kube.create_namespaced_custom_object(G, V, "ml", P, job("late", ownerReferences=owned_by(owner)))
    kube.create_namespaced_custom_object(G, V, "ml", P, job("owner"))  # same name, another uid: not its owner
    assert [o["metadata"]["name"] for o in emulator.objects(P)] == ["owner"]


def test_an_owner_reference_changed_by_an_update_moves_the_dependent(
    kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    first = obj(kube.create_namespaced_custom_object(G, V, "ml", P, job("first")))
    second = obj(kube.create_namespaced_custom_object(G, V, "ml", P, job("second")))
    kube.create_namespaced_custom_object(G, V, "ml", P, job("moved", ownerReferences=owned_by(first)))
    kube.patch_namespaced_custom_object(G, V, "ml", P, "moved", {"metadata": {"ownerReferences": owned_by(second)}})
    kube.delete_namespaced_custom_object(G, V, "ml", P, "first")
    assert sorted(o["metadata"]["name"] for o in emulator.objects(P)) == ["moved", "second"]
    kube.delete_namespaced_custom_object(G, V, "ml", P, "second")
    assert emulator.objects(P) == []


def test_leases_are_served_with_optimistic_concurrency(emulator: Emulator) -> None:
    """What leader election needs: create once (409 for the second), and a PUT from a stale read is refused."""
    api = KubeAPI(api_client=api_client(emulator))
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lead"},
             "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}  # fmt: skip
    api.create(LEASES, namespace="ml", body=lease)
    with pytest.raises(APIConflictError):
        api.create(LEASES, namespace="ml", body=lease)
    read = api.get(LEASES, namespace="ml", name="lead")
    taken = api.replace(LEASES, namespace="ml", name="lead", body={**read, "spec": {"holderIdentity": "b"}})
    assert taken["spec"]["holderIdentity"] == "b"
    with pytest.raises(APIConflictError):
        api.replace(LEASES, namespace="ml", name="lead", body={**read, "spec": {"holderIdentity": "c"}})
