"""The documented, standalone RayJob shipped as ``jobs/<name>/rayjob.yaml``.

It is the operator's RayJob for the job's ``experiment.yaml`` with the defaults of a kubetune install (shared
storage on the ``kubetune-storage`` claim, metrics to the kubetune operator in namespace ``kubetune`` when it is
there), plus commented optional fields. It is generated (``make manifests``) and a test fails when a checked-in
file drifts from what this module renders.
"""

from __future__ import annotations

from kubetune.kube.annotating import annotate
from kubetune.kube.rayjobs import Ingest, RayJobSettings, StorageMount, build_rayjob, dump_yaml
from kubetune.spec import Experiment

#: What a kubetune install provides (charts/kubetune): the shared volume and the operator's ingest endpoint.
STANDALONE = RayJobSettings(
    default_storage_path="/mnt/kubetune/results",
    storage=StorageMount(claim_name="kubetune-storage", mount_path="/mnt/kubetune"),
    ingest=Ingest(url="http://kubetune.kubetune.svc:8080", secret_name="kubetune-ingest", secret_key="token"),
)

NOTES = {
    "metadata.name": [
        "namespace: ml  # where the job runs; the kubetune-storage claim and ingest Secret must be there"
    ],
    "spec.entrypointNumCpus": [
        "activeDeadlineSeconds: 86400  # fail the job (never retried) after this many seconds: a cost cap",
        "suspend: true  # create the job without starting it, e.g. for Kueue to admit it",
    ],
    "spec.backoffLimit": ["each retry gets a new cluster; the runner resumes the experiment from storage.path"],
    "spec.rayClusterSpec.headGroupSpec.template.spec.securityContext": [
        "serviceAccountName: kubetune-ray  # an identity for object storage (IRSA / Workload Identity)",
    ],
    "spec.rayClusterSpec.workerGroupSpecs[0].maxReplicas": [
        "priority: 10  # with several groups, the v2 autoscaler fills higher priorities first",
    ],
}


def standalone_rayjob(exp: Experiment, *, source: str) -> str:
    header = (
        f"# Generated from {source} by `kubetune render --annotated` (make manifests); do not edit by hand.\n"
        "# A plain KubeRay RayJob: `kubectl apply -f` it with KubeRay alone. With kubetune installed, its trial\n"
        "# metrics flow to the operator too. Needs an RWX PersistentVolumeClaim `kubetune-storage` (or set\n"
        "# spec.storage.path in the experiment to s3://…) so a retried job resumes instead of starting over.\n"
    )
    return header + annotate(dump_yaml(build_rayjob(exp, settings=STANDALONE)), NOTES)
