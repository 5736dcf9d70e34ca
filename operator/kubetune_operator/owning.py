"""What the operator reads off a RayJob it owns (pure functions): whose it is, which spec it was built from,
how many trials it runs, and the combinations KubeRay would refuse."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from kubetune.kube.api import TUNE_EXPERIMENTS
from kubetune.kube.bodies import Body, RayJob
from kubetune.kube.rayjobs import ENV_EXPERIMENT, LABEL_EXPERIMENT
from kubetune.spec import SpecError, load_text
from kubetune_operator.caches import Key
from kubetune_operator.following import Mark

#: Annotation on the RayJob: the hash of the experiment spec it was built from.
SPEC_HASH = "kubetune.io/spec-hash"


def spec_hash(spec: Any) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def owned_by(job: Body, uid: str | None) -> bool:
    refs = (job.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(r.get("uid") == uid and r.get("kind") == TUNE_EXPERIMENTS.kind for r in refs)


def kuberay_violations(job_spec: dict[str, Any]) -> list[str]:
    """Combinations KubeRay v1.7.0 rejects (``ValidateRayJobSpec``) that the builder must never produce."""
    problems = []
    if job_spec.get("clusterSelector"):
        if job_spec.get("backoffLimit", 0) > 0:
            problems.append("clusterSelector mode: KubeRay forbids backoffLimit > 0")
        if job_spec.get("shutdownAfterJobFinishes"):
            problems.append("clusterSelector mode: KubeRay never deletes a selected cluster (no shutdown)")
        if job_spec.get("suspend"):
            problems.append("clusterSelector mode: KubeRay forbids suspend")
        if job_spec.get("rayClusterSpec"):
            problems.append("set rayClusterSpec or clusterSelector, not both")
    elif not job_spec.get("rayClusterSpec"):
        problems.append("one of rayClusterSpec or clusterSelector must be set")
    if job_spec.get("ttlSecondsAfterFinished", 0) > 0 and not job_spec.get("shutdownAfterJobFinishes"):
        problems.append("ttlSecondsAfterFinished needs shutdownAfterJobFinishes")
    return problems


def spec_changed(obj: Body, job: RayJob) -> Mark | None:
    """SpecChanged=True when the spec differs from the one the RayJob was built from (see the module docstring)."""
    built_from = ((job.get("metadata") or {}).get("annotations") or {}).get(SPEC_HASH)
    if built_from is None or built_from == spec_hash(obj.get("spec")):
        return None
    return Mark("True", "Immutable", f"the spec changed after RayJob {job['metadata']['name']} was created; the "
                "RayJob keeps the spec it was created with. To run the new spec, create an experiment with a new "
                "name (or delete and re-create this one)")  # fmt: skip


def total_trials(job: RayJob) -> int | None:
    """The trial total of the experiment the RayJob runs: the spec in its entrypoint's environment, not the
    experiment's current spec, which may have been edited since."""
    try:
        env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]
        return load_text(env[ENV_EXPERIMENT]).total_trials
    except (SpecError, yaml.YAMLError, KeyError, TypeError):
        return None


def experiment_key_of_rayjob(job: Body) -> Key | None:
    """The experiment a RayJob belongs to: its controller ownerReference, else kubetune's label."""
    meta = job.get("metadata") or {}
    ns = meta.get("namespace", "")
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == TUNE_EXPERIMENTS.kind and ref.get("apiVersion", "").startswith("kubetune.io/"):
            return ns, ref.get("name", "")
    label = (meta.get("labels") or {}).get(LABEL_EXPERIMENT)
    return (ns, label) if label else None
