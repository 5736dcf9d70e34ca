"""The CRDs a test cluster needs: KubeRay v1.7.0's own (RayJob, RayCluster) and kubetune's.

A 1.20 API server refuses KubeRay's CEL rules (``x-kubernetes-validations``, served from 1.25: "unknown field";
with server-side apply "field not declared in schema"). For such a server, and only for the test server, the
rules are stripped mechanically; nothing else changes. `make deploy` and the chart apply KubeRay's CRDs unchanged
to real clusters. The 7 rules guard only ``managedBy``, ``gcsFaultToleranceOptions.backend`` and
``deletionStrategy``, none of which kubetune sets.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERAY_CRDS = REPO.parent / "shared" / "kuberay-v1.7.0" / "crds"
KUBETUNE_CRDS = REPO / "charts" / "kubetune" / "crds"
#: The first Kubernetes version that serves CEL validation rules on CRDs.
CEL_SINCE = (1, 25)


def strip_cel(node: Any, counts: collections.Counter[str] | None = None) -> Any:
    """A copy of ``node`` without any ``x-kubernetes-validations``, counting what was removed."""
    if isinstance(node, dict):
        if "x-kubernetes-validations" in node and counts is not None:
            counts["x-kubernetes-validations"] += len(node["x-kubernetes-validations"])
        return {k: strip_cel(v, counts) for k, v in node.items() if k != "x-kubernetes-validations"}
    if isinstance(node, list):
        return [strip_cel(v, counts) for v in node]
    return node


def load(path: Path) -> list[dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(path.read_text(), Loader=loader) if d]


def kuberay_crds(server_version: tuple[int, int]) -> list[dict[str, Any]]:
    """RayJob and RayCluster, as the server of ``server_version`` can take them."""
    docs = [d for name in ("ray.io_rayjobs.yaml", "ray.io_rayclusters.yaml") for d in load(KUBERAY_CRDS / name)]
    return docs if server_version >= CEL_SINCE else [strip_cel(d) for d in docs]


def kubetune_crds() -> list[dict[str, Any]]:
    return [d for path in sorted(KUBETUNE_CRDS.glob("*.yaml")) for d in load(path)]
