"""The cluster side of ``kubetune submit``, ``status`` and ``list``: the same API layer the operator uses.

``submit`` creates the TuneExperiment, or replaces its spec when one of that name exists (with the
resourceVersion it read as a precondition, retried a few times when someone writes in between). Replacing the
spec of an experiment whose RayJob exists does not change the run (the operator reports ``SpecChanged``); the
result says so, so the CLI can tell the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kubetune.kube.api import TUNE_EXPERIMENTS, KubeAPI
from kubetune.kube.bodies import Body
from kubetune.kube.errors import APIConflictError
from kubetune.spec import API_VERSION, KIND, Experiment

#: Tries of a replace that keeps losing the race against other writers.
REPLACE_TRIES = 3


@dataclass(frozen=True)
class Submitted:
    action: Literal["created", "updated", "unchanged"]
    body: Body

    @property
    def running(self) -> bool:
        """Whether a RayJob already runs the experiment (a spec update then does not reach it)."""
        return bool((self.body.get("status") or {}).get("rayJobName"))


def submit(api: KubeAPI, experiment: Experiment, *, namespace: str) -> Submitted:
    data = experiment.to_dict()
    meta: dict[str, Any] = {"name": experiment.name, "namespace": namespace}
    for field in ("labels", "annotations"):
        if data["metadata"].get(field):
            meta[field] = data["metadata"][field]
    body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": data["spec"]}
    try:
        return Submitted("created", api.create(TUNE_EXPERIMENTS, namespace=namespace, body=body))
    except APIConflictError as e:
        if not e.already_exists:
            raise
    for attempt in range(REPLACE_TRIES):
        current = api.get(TUNE_EXPERIMENTS, namespace=namespace, name=experiment.name)
        current_meta = current.get("metadata") or {}
        labels = {**(current_meta.get("labels") or {}), **meta.get("labels", {})}
        annotations = {**(current_meta.get("annotations") or {}), **meta.get("annotations", {})}
        if (
            current.get("spec") == body["spec"]
            and labels == (current_meta.get("labels") or {})
            and annotations == (current_meta.get("annotations") or {})
        ):
            return Submitted("unchanged", current)
        replacement = {**current, "spec": body["spec"],
                       "metadata": {**current_meta, "labels": labels, "annotations": annotations}}  # fmt: skip
        try:
            return Submitted("updated", api.replace(TUNE_EXPERIMENTS, namespace=namespace, name=experiment.name,
                                                    body=replacement))  # fmt: skip
        except APIConflictError:
            if attempt == REPLACE_TRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def get_experiment(api: KubeAPI, *, namespace: str, name: str) -> Body:
    return api.get(TUNE_EXPERIMENTS, namespace=namespace, name=name)


def list_experiments(api: KubeAPI, *, namespace: str | None) -> list[Body]:
    """The experiments of ``namespace`` (all namespaces when None), sorted by namespace and name."""
    items, _ = api.list(TUNE_EXPERIMENTS, namespace=namespace)
    return sorted(items, key=lambda b: (b["metadata"].get("namespace", ""), b["metadata"].get("name", "")))
