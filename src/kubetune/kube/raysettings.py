"""The cluster-side choices a RayJob is built with (the spec does not carry them): node pools, Ray pod settings,
storage, ingest and deadlines.

The operator reads them from its settings file (``rayjob:``, camelCase keys; the Helm chart writes that file from
the same values it renders its own RayCluster with, and tests/charts/test_ray_pod_parity.py checks that both give
the same Ray pods); ``kubetune render`` and the jobs' ``rayjob.yaml`` use the defaults and a few flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubetune import versions

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}


@dataclass(frozen=True)
class WorkerPool:
    """A node pool trials run on; one Ray worker group per RayJob.

    Raises :class:`ValueError` naming the pool when ``min_replicas`` is above ``max_replicas``: KubeRay refuses
    such a worker group at admission, long after the settings were read.
    """

    #: Worker group name (``spec.cluster.workerGroup`` selects a pool by it).
    name: str = "gpu"
    #: GPUs per worker pod (requests = limits); 0 for a CPU pool.
    gpus: int = 1
    #: CPU and memory per worker pod (requests = limits: Ray sizes its resources from them).
    cpu: str = "8"
    memory: str = "32Gi"
    #: Autoscaling bounds; 0 lets an idle pool cost nothing. Equal bounds: a fixed-size group.
    min_replicas: int = 0
    max_replicas: int = 4
    #: Seconds an idle worker lives before the v2 autoscaler removes it.
    idle_timeout_seconds: int = 300
    node_selector: Mapping[str, str] = field(default_factory=lambda: {"nvidia.com/gpu.present": "true"})
    tolerations: tuple[Mapping[str, Any], ...] = (GPU_TOLERATION,)
    #: Annotations and labels of this pool's pods, over :attr:`RayPodSettings.annotations`/``labels`` (kubetune's
    #: own labels win over both).
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Extra ``ray start`` parameters of this pool's workers (strings, as KubeRay takes them).
    ray_start_params: Mapping[str, str] = field(default_factory=dict)
    #: ServiceAccount of this pool's pods (e.g. a storage identity). Default: :attr:`RayJobSettings.service_account`.
    service_account: str | None = None

    def __post_init__(self) -> None:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"worker pool {self.name}: minReplicas ({self.min_replicas}) is above maxReplicas "
                f"({self.max_replicas}); KubeRay refuses such a worker group"
            )


#: The pool CPU-only trials use when the spec names none (no GPU requests, no GPU taint toleration).
CPU_POOL = WorkerPool(name="cpu", gpus=0, cpu="4", memory="16Gi", node_selector={}, tolerations=())


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 100,
        "fsGroup": 100,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


@dataclass(frozen=True)
class RayPodSettings:
    """What every Ray pod (head and workers) carries, whatever its pool."""

    #: Annotations and labels of every Ray pod (a pool's own are added; kubetune's own labels always win).
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Names of Secrets to pull the Ray image with (a private registry).
    image_pull_secrets: tuple[str, ...] = ()
    #: ``imagePullPolicy`` of the Ray containers. Default: unset (Kubernetes' default for the tag).
    image_pull_policy: str | None = None
    #: Scheduler of the Ray pods (e.g. ``volcano``). Default: the cluster's.
    scheduler_name: str | None = None
    #: Priority class of the Ray pods when the experiment names none (``spec.cluster.priorityClassName`` wins).
    priority_class_name: str | None = None
    #: Pod security context. Default: Ray's image user (uid 1000, group 100), non-root, RuntimeDefault seccomp;
    #: leave out ``runAsUser``/``runAsGroup``/``fsGroup`` where the platform assigns them (OpenShift).
    security_context: Mapping[str, Any] = field(default_factory=_pod_security)
    #: Security context of every Ray container and of the autoscaler sidecar. Default: no privilege escalation,
    #: every capability dropped, non-root.
    container_security_context: Mapping[str, Any] = field(default_factory=_container_security)


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
    #: Placement of the head (keep it on a CPU pool). Default: anywhere without a taint.
    head_node_selector: Mapping[str, str] = field(default_factory=dict)
    head_tolerations: tuple[Mapping[str, Any], ...] = ()
    #: Settings every Ray pod shares (pull secrets, scheduler, priority, security contexts, labels).
    pod: RayPodSettings = field(default_factory=RayPodSettings)
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
    #: ServiceAccount of the Ray pods whose pool names none. Default: the namespace's default.
    service_account: str | None = None
