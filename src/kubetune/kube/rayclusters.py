"""The ephemeral RayCluster of one experiment (a RayJob's ``rayClusterSpec``): a CPU-only head and one worker
group on the pool the trials need.

The head runs no trials (``num-cpus: "0"``, so no trial and no OOM lands on it); the worker group has the pool's
``nvidia.com/gpu`` in requests and limits, its taint tolerations and node selector, and the v2 autoscaler scales
it from zero, unless ``spec.cluster.fixedWorkers`` asks for a fixed size (Kueue before 0.14 admits only those).
Ray token auth guards the dashboard and jobs API.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kubetune import versions
from kubetune.kube.raypods import HEAD_PORTS, WORKER_PORTS, PodShape, pod_template
from kubetune.kube.raysettings import RayJobSettings, WorkerPool
from kubetune.spec import Experiment, SpecError


def pick_pool(exp: Experiment, settings: RayJobSettings) -> WorkerPool:
    """The worker pool for the trials: the named one, else the first GPU pool for GPU trials or the CPU pool."""
    wanted = exp.spec.cluster.worker_group
    pools = {p.name: p for p in (*settings.pools, settings.cpu_pool)}
    if wanted:
        if wanted not in pools:
            raise SpecError.one("spec.cluster.workerGroup", f"unknown worker group {wanted!r}; known: {sorted(pools)}")
        pool = pools[wanted]
    elif exp.spec.resources_per_trial.gpu > 0:
        pool = next((p for p in settings.pools if p.gpus > 0), None)  # type: ignore[assignment]
        if pool is None:
            raise SpecError.one("spec.resourcesPerTrial.gpu", "no GPU worker group is configured for this cluster")
    else:
        pool = settings.cpu_pool
    if exp.spec.resources_per_trial.gpu > pool.gpus:
        raise SpecError.one(
            "spec.resourcesPerTrial.gpu",
            f"a trial asks for {exp.spec.resources_per_trial.gpu} GPUs but worker group {pool.name} has {pool.gpus}",
        )
    return pool


def cluster_spec(exp: Experiment, *, image: str, labels: Mapping[str, str], settings: RayJobSettings) -> dict[str, Any]:
    """The ``rayClusterSpec`` for ``exp``; ``labels`` are kubetune's own labels of its pods."""
    pool = pick_pool(exp, settings)
    head_shape = PodShape(
        container="ray-head",
        cpu=settings.head_cpu,
        memory=settings.head_memory,
        gpus=0,
        ports=HEAD_PORTS,
        api_token=True,
        node_selector=settings.head_node_selector,
        tolerations=settings.head_tolerations,
        annotations={},
        labels={},
        service_account=None,
    )
    worker_shape = PodShape(
        container="ray-worker",
        cpu=pool.cpu,
        memory=pool.memory,
        gpus=pool.gpus,
        ports=WORKER_PORTS,
        api_token=False,
        node_selector=pool.node_selector,
        tolerations=pool.tolerations,
        annotations=pool.annotations,
        labels=pool.labels,
        service_account=pool.service_account,
    )
    priority_class = exp.spec.cluster.priority_class_name
    head, worker = (
        pod_template(shape, image=image, labels=labels, priority_class=priority_class, settings=settings)
        for shape in (head_shape, worker_shape)
    )
    fixed = exp.spec.cluster.fixed_workers
    group: dict[str, Any] = {
        "groupName": pool.name,
        "replicas": fixed or pool.min_replicas,
        "minReplicas": fixed or pool.min_replicas,
        "maxReplicas": fixed or pool.max_replicas,
    }
    if fixed is None:
        group["idleTimeoutSeconds"] = pool.idle_timeout_seconds
    group.update(rayStartParams=dict(pool.ray_start_params), template=worker)
    cluster: dict[str, Any] = {"rayVersion": versions.RAY_VERSION, "enableInTreeAutoscaling": fixed is None}
    if fixed is None:
        cluster["autoscalerOptions"] = {
            "version": "v2",
            "upscalingMode": "Default",
            "idleTimeoutSeconds": pool.idle_timeout_seconds,
            "securityContext": copy.deepcopy(dict(settings.pod.container_security_context)),
            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        }
    return {
        **cluster,
        # Ray's dashboard and jobs API run arbitrary code: require Ray's token on every call.
        "authOptions": {"mode": "token"},
        "headGroupSpec": {
            # No trials on the head: it keeps the GCS and the dashboard alive while workers come and go.
            "rayStartParams": {"num-cpus": "0"},
            "template": head,
        },
        "workerGroupSpecs": [group],
    }
