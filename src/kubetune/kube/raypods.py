"""One Ray pod template, head or worker, from the settings (:mod:`kubetune.kube.raysettings`).

The Helm chart renders the pods of its own RayCluster from the same values (``kubetune.rayPodTemplate`` in
``charts/kubetune/templates/_helpers.tpl``); tests/charts/test_ray_pod_parity.py fails when the two differ in any
field, so a change here goes there too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubetune.kube.raysettings import GPU_RESOURCE, Ingest, RayJobSettings
from kubetune.reporting.wire import ENV_INGEST_TOKEN, ENV_INGEST_URL

#: Container ports of the head (GCS, dashboard and jobs API, Ray client, metrics) and of a worker (metrics).
HEAD_PORTS = (("gcs", 6379), ("dashboard", 8265), ("client", 10001), ("metrics", 8080))
WORKER_PORTS = (("metrics", 8080),)


@dataclass(frozen=True)
class PodShape:
    """What differs between the Ray pods of one RayJob: the head's or a pool's."""

    container: str
    cpu: str
    memory: str
    gpus: int
    ports: tuple[tuple[str, int], ...]
    #: Only the head (its autoscaler) talks to the Kubernetes API: workers get no token mounted.
    api_token: bool
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, Any], ...]
    annotations: Mapping[str, str]
    labels: Mapping[str, str]
    service_account: str | None


def pod_template(
    shape: PodShape, *, image: str, labels: Mapping[str, str], priority_class: str | None, settings: RayJobSettings
) -> dict[str, Any]:
    """The pod template of one Ray group. ``labels`` are kubetune's own (they win over the users' labels);
    ``priority_class`` is the experiment's, else the settings' default."""
    pod = settings.pod
    resources: dict[str, str] = {"cpu": shape.cpu, "memory": shape.memory}
    if shape.gpus:
        resources[GPU_RESOURCE] = str(shape.gpus)
    mounts = [{"name": "ray-tmp", "mountPath": "/tmp/ray"}]
    volumes: list[dict[str, Any]] = [{"name": "ray-tmp", "emptyDir": {}}]
    if settings.storage:
        mounts.append({"name": "kubetune-storage", "mountPath": settings.storage.mount_path})
        volumes.append(
            {"name": "kubetune-storage", "persistentVolumeClaim": {"claimName": settings.storage.claim_name}}
        )
    container: dict[str, Any] = {"name": shape.container, "image": image}
    if pod.image_pull_policy:
        container["imagePullPolicy"] = pod.image_pull_policy
    container["resources"] = {"requests": dict(resources), "limits": dict(resources)}
    container["ports"] = [{"name": n, "containerPort": p} for n, p in shape.ports]
    env = _ingest_env(settings.ingest) + _no_gpu_env(shape.gpus)
    if env:
        container["env"] = env
    container["securityContext"] = copy.deepcopy(dict(pod.container_security_context))
    container["volumeMounts"] = mounts
    spec: dict[str, Any] = {"securityContext": copy.deepcopy(dict(pod.security_context)), "containers": [container]}
    spec["volumes"] = volumes
    service_account = shape.service_account or settings.service_account
    if service_account:
        spec["serviceAccountName"] = service_account
    if not shape.api_token:
        spec["automountServiceAccountToken"] = False
    placement = {
        "schedulerName": pod.scheduler_name,
        "priorityClassName": priority_class or pod.priority_class_name,
        "nodeSelector": dict(shape.node_selector),
        "tolerations": [copy.deepcopy(dict(t)) for t in shape.tolerations],
        "imagePullSecrets": [{"name": name} for name in pod.image_pull_secrets],
    }
    spec.update({key: value for key, value in placement.items() if value})
    metadata: dict[str, Any] = {"labels": {**pod.labels, **shape.labels, **labels}}
    annotations = {**pod.annotations, **shape.annotations}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": spec}


def _no_gpu_env(gpus: int) -> list[dict[str, Any]]:
    """A pod without GPU requests must not see the node's GPUs: Ray no longer hides them from CPU trials
    (ray#54868), and the NVIDIA runtime would otherwise expose every card of a shared node."""
    return [] if gpus else [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}]


def _ingest_env(ingest: Ingest | None) -> list[dict[str, Any]]:
    """Ray workers inherit the pod's environment, so wherever the driver lands it finds the ingest settings."""
    if ingest is None:
        return []
    env: list[dict[str, Any]] = [{"name": ENV_INGEST_URL, "value": ingest.url}]
    if ingest.secret_name:
        env.append(
            {
                "name": ENV_INGEST_TOKEN,
                # optional: without kubetune's Secret the job still runs, just without live metrics.
                "valueFrom": {"secretKeyRef": {"name": ingest.secret_name, "key": ingest.secret_key, "optional": True}},
            }
        )
    return env
