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
``spec.cluster.priorityClassName`` sets the pods' priority class (over the settings' default);
``spec.cluster.fixedWorkers`` turns autoscaling off for a worker group of that size (Kueue before 0.14 admits only
fixed-size RayJobs).

This module assembles the RayJob; the ephemeral cluster is :mod:`kubetune.kube.rayclusters`, its pods
:mod:`kubetune.kube.raypods`, the settings :mod:`kubetune.kube.raysettings` (re-exported here for callers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from kubetune.kube.naming import rayjob_name
from kubetune.kube.rayclusters import cluster_spec, pick_pool
from kubetune.kube.raysettings import (
    CPU_POOL,
    GPU_RESOURCE,
    GPU_TOLERATION,
    Ingest,
    RayJobSettings,
    RayPodSettings,
    StorageMount,
    WorkerPool,
)
from kubetune.reporting.wire import ENV_INGEST_TOKEN, ENV_INGEST_URL
from kubetune.spec import Experiment, SpecError
from kubetune.spec.errors import FieldError

__all__ = [
    "CPU_POOL",
    "ENV_EXPERIMENT",
    "ENV_INGEST_TOKEN",
    "ENV_INGEST_URL",
    "GPU_RESOURCE",
    "GPU_TOLERATION",
    "LABEL_EXPERIMENT",
    "LABEL_MANAGED_BY",
    "LABEL_QUEUE",
    "SCHEDULING_LABELS",
    "Ingest",
    "RayJobSettings",
    "RayPodSettings",
    "StorageMount",
    "WorkerPool",
    "build_rayjob",
    "dump_yaml",
    "pick_pool",
    "scheduling_labels",
]

ENV_EXPERIMENT = "KUBETUNE_EXPERIMENT"
#: Label on the RayJob and its pods naming the experiment (the PodMonitor and dashboards select on it).
LABEL_EXPERIMENT = "kubetune.io/experiment"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
#: Kueue's label naming the LocalQueue of a workload.
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
#: Labels of a TuneExperiment passed on to its RayJob and pods: the ones batch schedulers read.
SCHEDULING_LABELS = ("kueue.x-k8s.io/", "volcano.sh/", "ray.io/scheduler-name")
#: The settings of ``kubetune render`` without flags (frozen, so one instance serves every call).
DEFAULT_SETTINGS = RayJobSettings()


def build_rayjob(
    exp: Experiment, *, settings: RayJobSettings = DEFAULT_SETTINGS, owner: Mapping[str, Any] | None = None
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
            rayClusterSpec=cluster_spec(exp, image=image, labels=labels, settings=settings),
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
