"""The TuneExperiment CRD: generated from the models (drift fails), structural, and it accepts the jobs' experiments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kubetune_operator import crds
from tests import kuberay
from tests.conftest import REPO, experiment_doc

CHART_CRD = REPO / crds.CHART_PATH
EXPERIMENTS = sorted(REPO.glob("jobs/*/experiment*.yaml"))
#: Keywords a structural schema may use (apiextensions v1, JSONSchemaProps), minus the ones we never need.
ALLOWED = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "enum",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "nullable",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
}


def schema() -> dict[str, Any]:
    version = yaml.safe_load(CHART_CRD.read_text())["spec"]["versions"][0]
    found: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return found


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for key, child in (node.get("properties") or {}).items():
        yield from nodes(child, f"{path}.{key}" if path else key)
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}.*")
    if isinstance(node.get("items"), dict):
        yield from nodes(node["items"], f"{path}[]")


def validator() -> jsonschema.Draft4Validator:
    """How the API server checks an object: OpenAPI v3.0 semantics (boolean exclusiveMinimum, as in Draft 4)."""
    return jsonschema.Draft4Validator(kuberay.to_jsonschema(schema(), strict=True))


def test_the_chart_crd_is_what_the_generator_writes() -> None:
    assert CHART_CRD.read_text() == crds.render(), f"regenerate: python -m kubetune_operator.crds -o {crds.CHART_PATH}"


def test_the_crd_names_the_resource_as_documented() -> None:
    crd = yaml.safe_load(CHART_CRD.read_text())
    assert crd["metadata"]["name"] == "tuneexperiments.kubetune.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["shortNames"] == ["tx"]
    assert crd["spec"]["names"]["categories"] == ["kubetune"]
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Phase",
        "Best",
        "Trials",
        "Metric",
        "RayJob",
        "Age",
    ]


def test_every_printer_column_points_at_a_field_of_the_schema() -> None:
    known = {path for path, _ in nodes(schema())}
    version = yaml.safe_load(CHART_CRD.read_text())["spec"]["versions"][0]
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"].lstrip(".")
        assert path in known or path == "metadata.creationTimestamp", column


def test_the_schema_is_structural() -> None:
    for path, node in nodes(schema()):
        assert set(node) <= ALLOWED, (path, set(node) - ALLOWED)
        assert (
            "type" in node or node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
        ), path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert "default" not in node, path  # defaults belong to the models, not the API server
    assert schema()["properties"]["metadata"] == {"type": "object"}


def test_every_spec_and_status_field_has_a_description_for_kubectl_explain() -> None:
    missing = [
        path
        for path, node in nodes(schema())
        if path.startswith(("spec", "status")) and not path.endswith(("*", "[]")) and not node.get("description")
    ]
    assert missing == []


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_the_jobs_experiments_are_valid_custom_resources(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(doc)) == []


def test_a_status_the_operator_writes_is_valid() -> None:
    doc = experiment_doc("x", "m:f")
    doc["status"] = {
        "phase": "Running",
        "observedGeneration": 2,
        "rayJobName": "x",
        "startTime": "2026-01-01T00:00:00Z",
        "progress": "1/8",
        "conditions": [
            {
                "type": "Valid",
                "status": "True",
                "reason": "Valid",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 2,
            }
        ],
        "summary": {
            "state": "RUNNING",
            "metric": "score",
            "mode": "max",
            "resultsTotal": 3,
            "bestTrial": "t1",
            "bestValue": 0.5,
            "bestConfig": {"lr": 0.1, "layers": [1, 2]},
            "lastUpdate": "2026-01-01T00:00:01Z",
            "trials": {"pending": 0, "running": 1, "paused": 0, "terminated": 1, "error": 0},
        },
        "rayJob": {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "failed": 0},
    }
    assert list(validator().iter_errors(doc)) == []


@dataclass(frozen=True)
class Case:
    spec: dict[str, Any]
    rejected_at: str  # the field the API server's schema check names ("" when only the operator can tell)


CASES = {
    # one value or a list (several objectives): no structural schema says so, the models check it
    "a misspelt mode reaches the operator": Case({"mode": "maximize"}, ""),
    "several objectives are lists": Case({"metric": ["accuracy", "latency_ms"], "mode": ["max", "min"]}, ""),
    "numSamples is at least 1": Case({"numSamples": 0}, "spec/numSamples"),
    "a gpu count is a number": Case({"resourcesPerTrial": {"gpu": "one"}}, "spec/resourcesPerTrial/gpu"),
    "memory may be a quantity": Case({"resourcesPerTrial": {"memory": "4Gi"}}, ""),
    "a misspelt field reaches the operator": Case({"numSample": 3}, ""),
    "a bad distribution reaches the operator": Case({"searchSpace": {"lr": {"loguniform": [0, 1]}}}, ""),
    "stop values are numbers": Case({"stop": {"training_iteration": "ten"}}, "spec/stop/training_iteration"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_api_server_checks_types_and_leaves_the_rest_to_the_operator(case: Case) -> None:
    doc = experiment_doc("x", "m:f", **case.spec)
    paths = sorted("/".join(map(str, e.absolute_path)) for e in validator().iter_errors(doc))
    assert paths == ([case.rejected_at] if case.rejected_at else [])


def test_the_generator_writes_the_file_and_checks_it(tmp_path: Path) -> None:
    target = tmp_path / "crd.yaml"
    assert crds.main(["-o", str(target)]) == 0
    assert crds.main(["-o", str(target), "--check"]) == 0
    target.write_text(target.read_text() + "# edited\n")
    assert crds.main(["-o", str(target), "--check"]) == 1


def test_kubetune_crd_prints_the_generated_crd(capsys: pytest.CaptureFixture[str]) -> None:
    from kubetune.cli import main

    assert main(["crd"]) == 0
    assert capsys.readouterr().out == crds.render()


def test_a_status_with_several_objectives_is_valid() -> None:
    doc = experiment_doc("x", "m:f", metric=["score", "cost"], mode=["max", "min"])
    summary: dict[str, Any] = {
        "metric": "score",
        "mode": "max",
        "objectives": [{"metric": "score", "mode": "max"}, {"metric": "cost", "mode": "min"}],
        "paretoFront": 3,
    }
    doc["status"] = {"phase": "Running", "summary": summary}
    assert list(validator().iter_errors(doc)) == []
    summary["paretoFront"] = "three"
    assert [e.message for e in validator().iter_errors(doc)] == ["'three' is not of type 'integer'"]
