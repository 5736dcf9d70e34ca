"""Experiment → KubeRay ``ray.io/v1`` RayJob.

One builder serves the operator, ``kubetune render`` and the jobs' ``rayjob.yaml`` files, so a RayJob applied by
hand and one the operator creates are the same object. The experiment travels inside the RayJob
(``runtimeEnvYAML`` → ``KUBETUNE_EXPERIMENT``) and the entrypoint is the kubetune runner, which resumes from
``spec.storage.path`` when KubeRay retries the job on a fresh cluster (``backoffLimit``).

Two shapes, as KubeRay allows:

* an ephemeral cluster per experiment (``rayClusterSpec``): a CPU-only head (``num-cpus: "0"``, so no trial and
  no OOM lands on it), one worker group on the chosen node pool with ``nvidia.com/gpu`` in requests and limits,
  the pool's taint toleration and node selector, the v2 autoscaler scaling it from zero, Ray token auth, and
  clean-up when the job ends;
* a long-lived RayCluster picked by ``clusterSelector``: KubeRay then forbids ``backoffLimit > 0`` and cluster
  deletion, so neither is set.

Queues (Kueue, Volcano): the experiment's scheduling labels (:data:`SCHEDULING_LABELS`: ``kueue.x-k8s.io/*``,
``volcano.sh/*``, ``ray.io/scheduler-name``) reach the RayJob and its pods; ``spec.cluster.queueName`` adds
Kueue's queue label and creates the RayJob suspended, for Kueue to admit (KubeRay deletes the cluster of a
suspended job and makes a new one when it is resumed; the runner then resumes from storage);
``spec.cluster.priorityClassName`` sets the pods' priority class; ``spec.cluster.fixedWorkers`` turns autoscaling
off for a worker group of that size (Kueue before 0.14 admits only fixed-size RayJobs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubetune import versions
from kubetune.kube.naming import rayjob_name
from kubetune.reporting.wire import ENV_INGEST_TOKEN, ENV_INGEST_URL
from kubetune.spec import Experiment, SpecError
from kubetune.spec.errors import FieldError

ENV_EXPERIMENT = "KUBETUNE_EXPERIMENT"
#: Label on the RayJob and its pods naming the experiment (the PodMonitor and dashboards select on it).
LABEL_EXPERIMENT = "kubetune.io/experiment"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
#: Kueue's label naming the LocalQueue of a workload.
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
#: Labels of a TuneExperiment passed on to its RayJob and pods: the ones batch schedulers read.
SCHEDULING_LABELS = ("kueue.x-k8s.io/", "volcano.sh/", "ray.io/scheduler-name")
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}


@dataclass(frozen=True)
class WorkerPool:
    """A node pool trials run on; one Ray worker group per RayJob."""

    #: Worker group name (``spec.cluster.workerGroup`` selects a pool by it).
    name: str = "gpu"
    #: GPUs per worker pod (requests = limits); 0 for a CPU pool.
    gpus: int = 1
    #: CPU and memory per worker pod (requests = limits: Ray sizes its resources from them).
    cpu: str = "8"
    memory: str = "32Gi"
    #: Autoscaling bounds; 0 lets an idle pool cost nothing.
    min_replicas: int = 0
    max_replicas: int = 4
    #: Seconds an idle worker lives before the v2 autoscaler removes it.
    idle_timeout_seconds: int = 300
    node_selector: Mapping[str, str] = field(default_factory=lambda: {"nvidia.com/gpu.present": "true"})
    tolerations: tuple[Mapping[str, str], ...] = (GPU_TOLERATION,)


#: The pool CPU-only trials use when the spec names none (no GPU requests, no GPU taint toleration).
CPU_POOL = WorkerPool(name="cpu", gpus=0, cpu="4", memory="16Gi", node_selector={}, tolerations=())


@dataclass(frozen=True)
class Ingest:
    """Where the driver reports trial metrics. The token comes from a Secret in the RayJob's namespace, or is
    given inline (an experiment-scoped token, for namespaces the operator's Secret does not live in)."""

    url: str
    secret_name: str | None = None
    secret_key: str = "token"
    token: str | None = None


@dataclass(frozen=True)
class StorageMount:
    """A shared volume (an RWX PersistentVolumeClaim) mounted at the same path in every Ray pod."""

    claim_name: str
    mount_path: str = "/mnt/kubetune"


@dataclass(frozen=True)
class RayJobSettings:
    """Cluster-side choices the spec does not carry (set by the operator's configuration or render flags)."""

    #: Image when ``spec.image`` is unset.
    default_image: str = field(default_factory=lambda: versions.image("torch"))
    #: Node pools by name; GPU trials use ``spec.cluster.workerGroup`` or the first pool with GPUs.
    pools: tuple[WorkerPool, ...] = (WorkerPool(),)
    cpu_pool: WorkerPool = CPU_POOL
    head_cpu: str = "2"
    head_memory: str = "8Gi"
    #: KubeRay retries (each on a new cluster; the runner resumes from storage).
    backoff_limit: int = 2
    #: Seconds KubeRay keeps the finished cluster around (0 deletes it at once).
    ttl_seconds_after_finished: int = 300
    #: ``activeDeadlineSeconds`` = ``spec.timeBudgetSeconds`` + this margin (start-up, last trials, clean-up).
    deadline_margin_seconds: int = 3600
    #: Seconds a job may wait for its cluster (e.g. GPUs out of stock) before failing.
    pre_running_deadline_seconds: int | None = 3600
    #: ``storage.path`` when the spec has none; must be shared storage on a multi-node cluster.
    default_storage_path: str | None = None
    storage: StorageMount | None = None
    ingest: Ingest | None = None
    service_account: str | None = None


def build_rayjob(
    exp: Experiment, *, settings: RayJobSettings = RayJobSettings(), owner: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The RayJob for ``exp``. ``owner`` is the TuneExperiment object (apiVersion, kind, metadata.name/uid) that
    will own it, so Kubernetes garbage-collects the RayJob with its experiment."""
    spec = exp.spec
    storage_path = spec.storage.path or settings.default_storage_path
    if not storage_path:
        raise SpecError(
            [
                FieldError(
                    "spec.storage.path",
                    "required on a cluster: shared storage (s3://, gs://, "
                    "or a volume mounted in every Ray pod) lets a retried job resume",
                )
            ]
        )
    image = spec.image or settings.default_image
    name = rayjob_name(exp.name)
    labels = {**scheduling_labels(exp), LABEL_MANAGED_BY: "kubetune", LABEL_EXPERIMENT: exp.name}
    if spec.cluster.queue_name:
        labels[LABEL_QUEUE] = spec.cluster.queue_name
    metadata: dict[str, Any] = {"name": name, "labels": labels}
    if exp.namespace:
        metadata["namespace"] = exp.namespace
    if owner is not None:
        metadata["ownerReferences"] = [_owner_reference(owner)]

    document = _experiment_document(exp, storage_path=storage_path)
    runtime_env: dict[str, Any] = {"env_vars": {ENV_EXPERIMENT: document}}
    if settings.ingest and settings.ingest.token and not settings.ingest.secret_name:
        runtime_env["env_vars"][ENV_INGEST_TOKEN] = settings.ingest.token
    job_spec: dict[str, Any] = {
        "entrypoint": f"kubetune run env:{ENV_EXPERIMENT} --address auto",
        # The head has num-cpus 0, so the driver needs a CPU slot on a worker to be scheduled at all.
        "entrypointNumCpus": 1,
        "runtimeEnvYAML": dump_yaml(runtime_env),
    }
    if spec.time_budget_seconds:
        job_spec["activeDeadlineSeconds"] = int(spec.time_budget_seconds) + settings.deadline_margin_seconds
    if spec.cluster.cluster_selector:
        job_spec["clusterSelector"] = dict(spec.cluster.cluster_selector)
    else:
        job_spec.update(
            shutdownAfterJobFinishes=True,
            ttlSecondsAfterFinished=settings.ttl_seconds_after_finished,
            backoffLimit=settings.backoff_limit,
            rayClusterSpec=_cluster_spec(exp, image=image, labels=labels, settings=settings),
        )
        if settings.pre_running_deadline_seconds:
            job_spec["preRunningDeadlineSeconds"] = settings.pre_running_deadline_seconds
        if spec.cluster.queue_name:
            job_spec["suspend"] = True  # Kueue admits it by resuming it
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": metadata, "spec": job_spec}


def scheduling_labels(exp: Experiment) -> dict[str, str]:
    """The experiment's labels that batch schedulers read (:data:`SCHEDULING_LABELS`)."""
    labels = exp.resource.metadata.labels
    return {k: v for k, v in labels.items() if any(k == p or (p.endswith("/") and k.startswith(p))
                                                   for p in SCHEDULING_LABELS)}  # fmt: skip


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


def _cluster_spec(
    exp: Experiment, *, image: str, labels: Mapping[str, str], settings: RayJobSettings
) -> dict[str, Any]:
    pool = pick_pool(exp, settings)
    head = _pod_template(
        container="ray-head",
        image=image,
        labels=labels,
        settings=settings,
        cpu=settings.head_cpu,
        memory=settings.head_memory,
        gpus=0,
        ports=[("gcs", 6379), ("dashboard", 8265), ("client", 10001), ("metrics", 8080)],
        api_token=True,
    )
    worker = _pod_template(
        container="ray-worker",
        image=image,
        labels=labels,
        settings=settings,
        cpu=pool.cpu,
        memory=pool.memory,
        gpus=pool.gpus,
        ports=[("metrics", 8080)],
        api_token=False,
    )
    if pool.node_selector:
        worker["spec"]["nodeSelector"] = dict(pool.node_selector)
    if pool.tolerations:
        worker["spec"]["tolerations"] = [dict(t) for t in pool.tolerations]
    if exp.spec.cluster.priority_class_name:
        for template in (head, worker):
            template["spec"]["priorityClassName"] = exp.spec.cluster.priority_class_name
    fixed = exp.spec.cluster.fixed_workers
    group: dict[str, Any] = {
        "groupName": pool.name,
        "replicas": fixed or pool.min_replicas,
        "minReplicas": fixed or pool.min_replicas,
        "maxReplicas": fixed or pool.max_replicas,
        "rayStartParams": {},
        "template": worker,
    }
    cluster: dict[str, Any] = {"rayVersion": versions.RAY_VERSION, "enableInTreeAutoscaling": fixed is None}
    if fixed is None:
        group["idleTimeoutSeconds"] = pool.idle_timeout_seconds
        cluster["autoscalerOptions"] = {
            "version": "v2",
            "upscalingMode": "Default",
            "idleTimeoutSeconds": pool.idle_timeout_seconds,
            "securityContext": _container_security(),
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


def _pod_template(
    *,
    container: str,
    image: str,
    labels: Mapping[str, str],
    settings: RayJobSettings,
    cpu: str,
    memory: str,
    gpus: int,
    ports: list[tuple[str, int]],
    api_token: bool,
) -> dict[str, Any]:
    """One Ray pod template. ``api_token``: only the head (its autoscaler) talks to the Kubernetes API."""
    resources: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpus:
        resources[GPU_RESOURCE] = str(gpus)
    mounts = [{"name": "ray-tmp", "mountPath": "/tmp/ray"}]
    volumes: list[dict[str, Any]] = [{"name": "ray-tmp", "emptyDir": {}}]
    if settings.storage:
        mounts.append({"name": "kubetune-storage", "mountPath": settings.storage.mount_path})
        volumes.append(
            {"name": "kubetune-storage", "persistentVolumeClaim": {"claimName": settings.storage.claim_name}}
        )
    spec: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 100,
            "fsGroup": 100,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": container,
                "image": image,
                "resources": {"requests": dict(resources), "limits": dict(resources)},
                "ports": [{"name": n, "containerPort": p} for n, p in ports],
                "env": _ingest_env(settings.ingest) + _no_gpu_env(gpus),
                "securityContext": _container_security(),
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    if not api_token:
        spec["automountServiceAccountToken"] = False
    if not spec["containers"][0]["env"]:
        del spec["containers"][0]["env"]
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


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


def _experiment_document(exp: Experiment, *, storage_path: str) -> str:
    """The experiment as the driver will read it: the spec as written, storage filled in, status dropped."""
    data = exp.to_dict()
    data.pop("status", None)
    metadata = {k: v for k, v in data["metadata"].items() if k in ("name", "namespace")}
    data["metadata"] = metadata
    data["spec"].setdefault("storage", {})["path"] = storage_path
    return dump_yaml(data)


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the experiment inside a RayJob stays readable YAML."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, width=120, allow_unicode=True)


def _owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
