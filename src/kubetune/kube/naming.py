"""Deterministic object names within Kubernetes' and KubeRay's limits."""

from __future__ import annotations

import hashlib

#: KubeRay derives `<rayjob>-<5 chars>` cluster names and `<cluster>-head` services from the RayJob name, so it
#: caps RayJob names at 53 - 6 = 47 characters (`MaxRayJobNameLength`) and requires a DNS-1035 label.
MAX_RAYJOB_NAME = 47


def rayjob_name(experiment: str) -> str:
    """The RayJob name for an experiment: the experiment's own name when it fits, otherwise a truncated name plus
    a hash of the full one, so two long names never collide and the same experiment always maps to the same job
    (an operator restart must find the RayJob it created, never create a second one)."""
    name = experiment if experiment[:1].isalpha() else f"kt-{experiment}"
    if len(name) <= MAX_RAYJOB_NAME:
        return name
    digest = hashlib.sha256(experiment.encode()).hexdigest()[:8]
    return f"{name[: MAX_RAYJOB_NAME - 9].rstrip('-')}-{digest}"
