"""The shipped manifests: every job's rayjob.yaml is generated from its experiment and valid for KubeRay."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubetune.kube.rayjobs import build_rayjob
from kubetune.kube.standalone import STANDALONE, standalone_rayjob
from kubetune.spec import load_file
from tests import kuberay

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
