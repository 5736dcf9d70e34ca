"""The shipped manifests: every job's rayjob.yaml is generated from its experiment and valid for KubeRay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.kube.rayjobs import build_rayjob
from kubetune.kube.standalone import STANDALONE, standalone_rayjob
from kubetune.spec import load_file
from tests import kuberay
from tests.cluster.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted(REPO.glob("jobs/*/experiment*.yaml"))


def test_there_are_reference_experiments() -> None:
    assert EXPERIMENTS


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_experiment_renders_a_rayjob_valid_against_the_kuberay_crd(path: Path) -> None:
    job = build_rayjob(load_file(path), settings=STANDALONE)
    assert kuberay.errors(job) == []


@pytest.mark.parametrize("path", sorted(REPO.glob("jobs/*/experiment.yaml")), ids=lambda p: p.parent.name)
def test_each_jobs_rayjob_yaml_is_the_generated_one(path: Path) -> None:
    shipped = path.with_name("rayjob.yaml")
    expected = standalone_rayjob(load_file(path), source=str(path.relative_to(REPO)))
    assert shipped.exists(), f"{shipped} missing: run `make manifests`"
    assert shipped.read_text() == expected, f"{shipped} drifted from {path.name}: run `make manifests`"
    assert kuberay.errors(yaml.safe_load(shipped.read_text())) == []


# -- on the real API server ------------------------------------------------------------------------------------


def leaves(node: object, path: str = "") -> dict[str, object]:
    """Every scalar of a document by its path (lists by index)."""
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in leaves(value, f"{path}.{key}").items()}
    if isinstance(node, list):
        return {k: v for i, value in enumerate(node) for k, v in leaves(value, f"{path}[{i}]").items()}
    return {path: node}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_experiment_applies_to_the_api_server_unchanged(path: Path, cluster: Cluster, namespaces: Any) -> None:
    namespace = namespaces("jobs")
    doc = yaml.safe_load(path.read_text())
    cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(path))
    stored = cluster.get(namespace, doc["metadata"]["name"])
    assert stored["spec"] == doc["spec"]  # nothing pruned, nothing defaulted behind the user's back


@pytest.mark.parametrize("path", sorted(REPO.glob("jobs/*/rayjob.yaml")), ids=lambda p: p.parent.name)
def test_every_rayjob_yaml_passes_the_api_servers_dry_run_without_losing_a_field(
    path: Path, cluster: Cluster, namespaces: Any
) -> None:
    namespace = namespaces("jobs")
    done = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-o", "json", "-n", namespace, "-f", str(path))
    answered = json.loads(done.stdout)
    sent, kept = leaves(yaml.safe_load(path.read_text())["spec"]), leaves(answered["spec"])
    assert {k: v for k, v in sent.items() if kept.get(k) != v} == {}  # a field KubeRay's schema does not know is pruned
    assert cluster.objects("rayjobs", namespace) == []  # a dry run stores nothing
