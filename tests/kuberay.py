"""Validate RayJob/RayCluster objects against KubeRay v1.7.0's own CRD schemas, strictly.

The CRDs come from ``shared/kuberay-v1.7.0/crds`` next to the repository. Their ``openAPIV3Schema`` is
converted to JSON Schema the way the API server reads it: ``nullable`` adds null, ``int-or-string`` accepts
both, fields with a ``default`` are not required (the server fills them in before validating), and — in strict
mode — unknown fields are errors where the server would prune them, so a typo cannot pass silently. CEL rules
(``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).resolve().parents[1].parent / "shared" / "kuberay-v1.7.0" / "crds"


def to_jsonschema(node: Any, *, strict: bool) -> Any:
    if isinstance(node, list):
        return [to_jsonschema(x, strict=strict) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_jsonschema(v, strict=strict) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if "required" in out and "properties" in out:
        required = [r for r in out["required"] if "default" not in out["properties"].get(r, {})]
        if required:
            out["required"] = required
        else:
            del out["required"]
    if (
        strict
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def validator(kind: str, version: str = "v1") -> jsonschema.Draft7Validator:
    path = CRDS / f"ray.io_{kind.lower()}s.yaml"
    crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schema = next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == version)
    return jsonschema.Draft7Validator(to_jsonschema(schema, strict=True))


def errors(obj: dict[str, Any]) -> list[str]:
    """Every schema violation of a ``ray.io/v1`` object, as ``path: message`` lines (empty when valid)."""
    assert obj.get("apiVersion") == "ray.io/v1", obj.get("apiVersion")
    found = validator(obj["kind"]).iter_errors(obj)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found)
