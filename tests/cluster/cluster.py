"""A Kubernetes cluster as the tests use it: the test control plane, or the cluster ``E2E_KUBECONFIG`` names.

The same test code runs against both. What differs is said by two attributes: :attr:`Cluster.control_plane`
(None on an external cluster: no etcd to compact, no request counters to read) and :attr:`Cluster.external`
(a real KubeRay runs the RayJobs; otherwise the tests' stand-in does).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client, config

from tests.cluster.controlplane import ControlPlane

GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuneexperiments"
RAY = ("ray.io", "v1")
#: Label on every namespace the tests create, so that a run's leftovers can be found.
TEST_LABEL = "kubetune.io/test"
_counter = itertools.count(1)


def kubectl_binary() -> str:
    found = shutil.which("kubectl") or str(Path(__file__).resolve().parents[2] / "bin" / "kubectl")
    return found


@dataclass(frozen=True)
class Write:
    """One audited write: ``create``/``update``/``patch``/``delete`` of ``resource[/subresource]``."""

    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    user: str
    code: int


@dataclass
class Cluster:
    kubeconfig: Path
    control_plane: ControlPlane | None = None
    #: Where the tests keep their files for this cluster (kubeconfigs of service accounts...).
    workdir: Path = field(default_factory=lambda: Path("/tmp"))
    _client: client.ApiClient | None = field(default=None, init=False)

    @property
    def external(self) -> bool:
        return self.control_plane is None

    @property
    def version(self) -> tuple[int, int]:
        info = client.VersionApi(self.api_client()).get_code()
        return int(info.major), int(re.sub(r"\D.*", "", info.minor))

    # -- clients -----------------------------------------------------------------------------------------------

    def api_client(self) -> client.ApiClient:
        """The administrator's client (shared; build your own with :meth:`new_client` to close it)."""
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self, kubeconfig: Path | None = None, *, pool: int = 32) -> client.ApiClient:
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig or self.kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = pool
        return client.ApiClient(configuration)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client())

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client())

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        argv = [kubectl_binary(), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args]
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
        return done

    # -- namespaces --------------------------------------------------------------------------------------------

    def create_namespace(self, prefix: str) -> str:
        """A new namespace ``<prefix>-<n>-<random>``: every test works in namespaces of its own."""
        name = f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:5]}"[:63]
        self.core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={TEST_LABEL: "true"}))
        )
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete without waiting (the namespace controller empties it in the background)."""
        try:
            self.core.delete_namespace(name)
        except client.ApiException as e:
            if e.status != 404:
                raise

    # -- objects -----------------------------------------------------------------------------------------------

    def objects(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        """Every object of a kind in a namespace: TuneExperiments, RayJobs, RayClusters, Events."""
        if plural == "events":
            found = self.core.list_namespaced_event(namespace)
            serialize = self.api_client().sanitize_for_serialization
            return [cast("dict[str, Any]", serialize(e)) for e in found.items]  # type: ignore[no-untyped-call]
        group, version = (GROUP, VERSION) if plural == PLURAL else RAY
        listed = cast("dict[str, Any]", self.custom.list_namespaced_custom_object(group, version, namespace, plural))
        return list(listed["items"])

    def events(self, namespace: str, *, name: str | None = None) -> list[tuple[str, str]]:
        """(type, reason) of the Events about ``name`` (or all), oldest first."""
        found = sorted(self.objects("events", namespace), key=lambda e: e["metadata"]["creationTimestamp"])
        return [(e["type"], e["reason"]) for e in found if name is None or e["involvedObject"]["name"] == name]

    def get(self, namespace: str, name: str, plural: str = PLURAL) -> dict[str, Any]:
        group, version = (GROUP, VERSION) if plural == PLURAL else RAY
        return cast("dict[str, Any]", self.custom.get_namespaced_custom_object(group, version, namespace, plural, name))

    def create(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        ns = doc["metadata"]["namespace"]
        plural = PLURAL if doc["kind"] == "TuneExperiment" else doc["kind"].lower() + "s"
        group, version = (GROUP, VERSION) if plural == PLURAL else RAY
        return cast(
            "dict[str, Any]", self.custom.create_namespaced_custom_object(group, version, ns, plural, dict(doc))
        )

    def apply(
        self, docs: Iterable[Mapping[str, Any]], *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``kubectl apply --server-side`` of documents (extra ``args``: ``--dry-run=server``, ``-n ns``...)."""
        text = yaml.safe_dump_all(list(docs), sort_keys=False)
        return self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", *args, input=text, check=check)

    # -- service accounts --------------------------------------------------------------------------------------

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """A kubeconfig that authenticates as the service account (a TokenRequest token, as a pod gets)."""
        core = self.core
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600 * 6)
        )
        deadline = time.monotonic() + 30
        while True:  # the service account may have been created a moment ago
            try:
                status = core.create_namespaced_service_account_token(name, namespace, request).status
                assert status is not None
                token = status.token
                break
            except client.ApiException as e:
                if e.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        raw = yaml.safe_load(self.kubeconfig.read_text())
        context = next(c for c in raw["contexts"] if c["name"] == raw["current-context"])["context"]
        cluster = next(c for c in raw["clusters"] if c["name"] == context["cluster"])
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": f"{namespace}:{name}", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "sa",
                    "context": {"cluster": cluster["name"], "user": f"{namespace}:{name}", "namespace": namespace},
                }
            ],
            "current-context": "sa",
        }
        path = self.workdir / f"kubeconfig-{namespace}-{name}"
        path.write_text(json.dumps(doc))
        path.chmod(0o600)
        return path

    def secret_value(self, namespace: str, name: str, key: str) -> str:
        secret = self.core.read_namespaced_secret(name, namespace)
        return base64.b64decode((secret.data or {})[key]).decode()

    # -- what the API server saw -----------------------------------------------------------------------------

    def writes(self, *, user: str | None = None, namespace: str | None = None) -> list[Write]:
        """Every write request the API server audited (by ``user``, in ``namespace``), oldest first."""
        if self.control_plane is None:
            raise NotImplementedError("the audit log of an external cluster is not readable from the tests")
        found = []
        for line in self.control_plane.audit_log.read_text().splitlines():
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            write = Write(
                verb=event["verb"],
                resource=ref.get("resource", ""),
                subresource=ref.get("subresource", ""),
                namespace=ref.get("namespace", ""),
                name=ref.get("name", ""),
                user=event["user"]["username"],
                code=int((event.get("responseStatus") or {}).get("code", 0)),
            )
            if (user is None or write.user == user) and (namespace is None or write.namespace == namespace):
                found.append(write)
        return found


def eventually(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy (returned) or None without raising AssertionError."""
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


def env_kubeconfig() -> Path | None:
    value = os.environ.get("E2E_KUBECONFIG")
    return Path(value) if value else None
