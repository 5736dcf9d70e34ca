"""The TuneExperiment CRD, generated from the typed models: never edited by hand, checked for drift by a test.

    python -m kubetune_operator.crds -o charts/kubetune/crds/tuneexperiments.kubetune.io.yaml

The spec schema comes from :class:`kubetune.spec.models.TuneExperiment` (the models ``kubetune run`` validates
with), the status schema from :class:`kubetune.kube.bodies.ExperimentStatus` (the type the operator
writes). pydantic emits JSON Schema 2020-12; Kubernetes wants a *structural* OpenAPI v3.0 schema, so:

* ``$ref`` is inlined; ``anyOf: [X, null]`` becomes ``X`` with ``nullable: true`` (no other ``anyOf`` is
  structural, and the models have none); ``const`` becomes a one-value ``enum``; a numeric
  ``exclusiveMinimum: n`` becomes ``minimum: n`` with ``exclusiveMinimum: true``.
* ``metric`` and ``mode`` are one value or a list (several objectives), a tagged union (``oneOf``) in the models.
  A structural schema gives every node one type, and Kubernetes 1.20 accepts a junctor (``anyOf``/``oneOf``) only
  when its branches repeat the node's own type, so no schema can say "a string or a list of strings": such a node
  is kept with ``x-kubernetes-preserve-unknown-fields`` and no type, and the models check it (a wrong value gets
  ``Valid=False`` naming it, as ``kubetune validate`` prints it).
* No ``default``: the API server would write defaults into every stored object, and the models own them (a
  defaulted ``scheduler.timeAttr`` would even be an error for the FIFO scheduler, to which it does not apply).
* Objects the models close (``additionalProperties: false``) get ``x-kubernetes-preserve-unknown-fields: true``
  instead of pruning: the API server would silently drop a misspelt field, while with it kept the operator
  answers ``Valid=False`` naming it (``spec.numSample: unknown field (did you mean numSamples?)``), the same
  error ``kubetune validate`` prints. Known fields are still typed and checked by the API server.
* Free-form maps (``config``, search-space dimensions, ``bestConfig``) preserve unknown fields;
  ``patternProperties`` (``stop``) becomes ``additionalProperties``; ``resourcesPerTrial.memory`` is
  int-or-string (``4Gi``); ``metadata`` is left to the API server (a CRD may only constrain its name).
* Descriptions are kept (whitespace folded), so ``kubectl explain tuneexperiment.spec.scheduler`` works.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter

from kubetune.kube.bodies import ExperimentStatus
from kubetune.spec.models import API_VERSION, KIND
from kubetune.spec.schema import experiment_json_schema

GROUP, VERSION = API_VERSION.split("/")
PLURAL = "tuneexperiments"
NAME = f"{PLURAL}.{GROUP}"
#: Where the chart keeps it (Helm installs ``crds/`` before the templates).
CHART_PATH = Path("charts/kubetune/crds") / f"{NAME}.yaml"

#: Keywords copied as they are (all allowed in a structural schema).
_KEEP = ("description", "type", "format", "enum", "pattern", "minimum", "maximum", "minLength", "maxLength",
         "minItems", "maxItems", "minProperties", "maxProperties", "required")  # fmt: skip
#: Nodes the models cannot describe exactly, by path.
_OVERRIDES: dict[str, dict[str, Any]] = {
    "spec.resourcesPerTrial.memory": {"x-kubernetes-int-or-string": True},
}
#: Descriptions for nodes whose model has no docstring.
_DESCRIPTIONS = {
    "": "A Ray Tune hyperparameter search that the kubetune operator runs as a KubeRay RayJob.",
    "spec": "The experiment: what to tune, how to search, and the resources of one trial. The same document "
    "`kubetune run` takes locally.",
    "spec.failure": "Trial fault tolerance.",
    "spec.checkpoint": "Checkpoints kept per trial.",
    "spec.storage": "Where results and checkpoints go.",
    "status.summary.trials": "Trials by Ray Tune state.",
}
_PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Lifecycle phase."},
    {"name": "Best", "type": "number", "jsonPath": ".status.summary.bestValue",
     "description": "Best value of spec.metric so far."},
    {"name": "Trials", "type": "string", "jsonPath": ".status.progress", "description": "Finished/total trials."},
    {"name": "Metric", "type": "string", "jsonPath": ".spec.metric", "priority": 1},
    {"name": "RayJob", "type": "string", "jsonPath": ".status.rayJobName", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]  # fmt: skip


def structural(node: Mapping[str, Any], *, defs: Mapping[str, Any], path: str) -> dict[str, Any]:
    """One pydantic JSON Schema node as a structural schema node (see the module docstring for the rules)."""
    if "$ref" in node:
        target = defs[str(node["$ref"]).rsplit("/", 1)[-1]]
        return structural({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs=defs, path=path)
    if "oneOf" in node:  # one value or a list of them (module docstring)
        loose: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
        if node.get("description"):
            loose["description"] = " ".join(str(node["description"]).split())
        return loose
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"{path}: anyOf of several types has no structural form")
        only = structural({**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}, defs=defs, path=path)
        if len(options) < len(node["anyOf"]):
            only["nullable"] = True
        return only
    out: dict[str, Any] = {k: node[k] for k in _KEEP if k in node}
    if "const" in node:
        out["enum"] = [node["const"]]
    for bound in ("Minimum", "Maximum"):
        exclusive = node.get(f"exclusive{bound}")
        if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
            out[bound.lower()] = exclusive
            out[f"exclusive{bound}"] = True
    description = out.get("description") or _DESCRIPTIONS.get(path)
    if description:
        out["description"] = " ".join(str(description).split())
    if out.get("type") == "object":
        _object(node, out, defs=defs, path=path)
    elif out.get("type") == "array" and "items" in node:
        out["items"] = structural(node["items"], defs=defs, path=f"{path}[]")
    elif "type" not in out:  # Any
        out["x-kubernetes-preserve-unknown-fields"] = True
    out.update(_OVERRIDES.get(path, {}))
    if out.get("x-kubernetes-int-or-string"):  # numeric bounds would not apply to the string form
        for key in ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            out.pop(key, None)
    return out


def _object(node: Mapping[str, Any], out: dict[str, Any], *, defs: Mapping[str, Any], path: str) -> None:
    if "properties" in node:
        out["properties"] = {
            key: structural(value, defs=defs, path=f"{path}.{key}" if path else key)
            for key, value in node["properties"].items()
        }
        if node.get("additionalProperties") is False:
            out["x-kubernetes-preserve-unknown-fields"] = True
        return
    values = node.get("additionalProperties")
    patterns = list((node.get("patternProperties") or {}).values())
    if isinstance(values, Mapping) and values.get("type"):
        out["additionalProperties"] = structural(values, defs=defs, path=f"{path}.*")
    elif len(patterns) == 1:
        out["additionalProperties"] = structural(patterns[0], defs=defs, path=f"{path}.*")
    else:
        out["x-kubernetes-preserve-unknown-fields"] = True


def status_schema() -> dict[str, Any]:
    schema = TypeAdapter(ExperimentStatus).json_schema(mode="serialization")
    return structural(schema, defs=schema.get("$defs", {}), path="status")


def openapi_schema() -> dict[str, Any]:
    """The ``openAPIV3Schema`` of the CRD's one version."""
    experiment = experiment_json_schema()
    spec = structural(experiment["properties"]["spec"], defs=experiment["$defs"], path="spec")
    return {
        "description": _DESCRIPTIONS[""],
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": f"{API_VERSION}"},
            "kind": {"type": "string", "description": KIND},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status_schema(),
        },
    }


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/part-of": "kubetune"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["tx"],
                "categories": ["kubetune"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


HEADER = (
    "# Generated by `python -m kubetune_operator.crds` from kubetune.spec.models and kubetune.kube.bodies;\n"
    "# do not edit (tests/operator/test_crds.py fails on drift).\n"
)


def render() -> str:
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=120, allow_unicode=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubetune_operator.crds", description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", help=f"write here instead of stdout (the chart's copy: {CHART_PATH})")
    parser.add_argument("--check", action="store_true", help="exit 1 when --output differs from the generated CRD")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.output:
            parser.error("--check needs --output")
        current = Path(args.output).read_text(encoding="utf-8") if Path(args.output).exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python -m kubetune_operator.crds -o {args.output}",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
