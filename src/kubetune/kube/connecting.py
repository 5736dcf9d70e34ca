"""One ``ApiClient`` for the process, from the pod's service account or a kubeconfig.

Built once at start-up and passed to everything that talks to the API (the operator, the CLI commands), so
tests inject a client pointing at an emulator and nothing reads configuration behind the caller's back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from kubetune.kube.errors import PermanentError

#: Where a pod finds its service account (and what tells us we run in one).
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class Connection:
    api_client: client.ApiClient
    #: The namespace of the kubeconfig context or of the pod ("default" when neither says).
    namespace: str


def connect(*, kubeconfig: str | None = None, context: str | None = None, pool_size: int = 16) -> Connection:
    """In-cluster configuration when running in a pod and no kubeconfig is named, else the kubeconfig
    (``kubeconfig``, ``$KUBECONFIG`` or ``~/.kube/config``). ``pool_size`` bounds the HTTP connections: each open
    watch holds one, each busy worker another."""
    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            namespace = _read(f"{SERVICE_ACCOUNT}/namespace") or "default"
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
            if context is not None:
                active = next((c for c in contexts if c.get("name") == context), active)
            namespace = (active or {}).get("context", {}).get("namespace") or "default"
    except (ConfigException, OSError) as e:
        raise PermanentError(f"no Kubernetes configuration: {e}") from e
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, pool_size)
    return Connection(api_client=client.ApiClient(configuration), namespace=namespace)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""
