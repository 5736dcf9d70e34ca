"""checkov and trivy on everything the chart renders: no finding outside ``waivers.yaml`` (checkov: none at all,
it has no severities offline; trivy: no HIGH/CRITICAL), and no waiver that matches nothing.

Both scanners skip custom resources, so each RayCluster's pod templates are also scanned wrapped as Pods.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CUSTOM_KINDS, SCENARIOS, as_pod, ray_pods, render, require, tool

WAIVERS = yaml.safe_load(Path(__file__).with_name("waivers.yaml").read_text())
ENFORCED_TRIVY = {"HIGH", "CRITICAL"}
CHECKOV_VENV = Path(__file__).resolve().parents[2] / ".venv" / "tools" / "checkov" / "bin" / "checkov"


@dataclass(frozen=True)
class Finding:
    scanner: str
    id: str
    resource: str  # checkov: Kind.namespace.name; trivy: its message
    severity: str
    file: str


def checkov_binary() -> str:
    return require(str(CHECKOV_VENV) if CHECKOV_VENV.exists() else tool("checkov"), "checkov")


def write_manifests(directory: Path) -> int:
    """One file per scenario: its core objects and its Ray pods as Pods. Returns the number of objects."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for scenario in SCENARIOS:
        objects = render(scenario)
        docs = [o for o in objects if (o["apiVersion"], o["kind"]) not in CUSTOM_KINDS]
        docs += [as_pod(pod) for pod in ray_pods(objects)]
        (directory / f"{scenario}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        count += len(docs)
    return count


def run_checkov(directory: Path) -> dict[str, Any]:
    done = subprocess.run(
        [checkov_binary(), "-d", str(directory), "--framework", "kubernetes", "--skip-download", "--quiet",
         "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-2000:]
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    (report,) = [r for r in reports if r.get("check_type") == "kubernetes"]
    return dict(report)


def run_trivy(directory: Path) -> dict[str, Any]:
    binary = require(tool("trivy"), "trivy")
    out = directory.parent / "trivy.json"
    done = subprocess.run(
        [binary, "config", "--skip-check-update", "--quiet", "--format", "json", "--output", str(out), str(directory)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(out.read_text()))


def checkov_findings(report: dict[str, Any]) -> list[Finding]:
    return [
        Finding("checkov", f["check_id"], f["resource"], str(f.get("severity") or ""), f["file_path"])
        for f in report["results"]["failed_checks"]
    ]


def trivy_findings(report: dict[str, Any]) -> list[Finding]:
    return [
        Finding("trivy", m["ID"], m["Message"], m["Severity"], r["Target"])
        for r in report.get("Results") or []
        for m in r.get("Misconfigurations") or []
        if m.get("Status", "FAIL") == "FAIL"
    ]


def waived(finding: Finding, waiver: dict[str, Any]) -> bool:
    """By id and resource, and by scenario file (``<scenario>.yaml``) when the waiver names one."""
    if waiver["id"] != finding.id:
        return False
    if "file" in waiver and Path(finding.file).name != waiver["file"]:
        return False
    if finding.scanner == "checkov":
        return fnmatch.fnmatchcase(finding.resource, waiver["resource"])
    return re.search(waiver["resource"], finding.resource) is not None


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("scan") / "manifests"
    count = write_manifests(directory)
    return {"count": count, "checkov": run_checkov(directory), "trivy": run_trivy(directory)}


def test_waivers_have_reasons() -> None:
    for scanner in ("checkov", "trivy"):
        for waiver in WAIVERS[scanner]:
            assert set(waiver) >= {"id", "resource", "reason"}, waiver
            assert len(waiver["reason"].split()) >= 5, waiver
    assert all(w["severity"] in {"CRITICAL", "HIGH", "MEDIUM", "LOW"} for w in WAIVERS["trivy"])


def test_checkov_finds_nothing_unwaived(scans: dict[str, Any]) -> None:
    report = scans["checkov"]
    assert report["summary"]["resource_count"] >= scans["count"]  # every object was parsed
    assert report["summary"]["parsing_errors"] == 0
    findings = checkov_findings(report)
    unwaived = [f for f in findings if not any(waived(f, w) for w in WAIVERS["checkov"])]
    assert unwaived == [], "\n".join(f"{f.id} {f.resource} ({f.file})" for f in unwaived)
    unused = [w for w in WAIVERS["checkov"] if not any(waived(f, w) for f in findings)]
    assert unused == [], f"stale waivers: {unused}"


def test_checkov_scanned_the_ray_pods(scans: dict[str, Any]) -> None:
    results = scans["checkov"]["results"]  # --quiet leaves out passed checks
    resources = {c["resource"] for key in ("passed_checks", "failed_checks") for c in results.get(key, [])}
    assert any(fnmatch.fnmatchcase(r, "Pod.*.raypod-*-head") for r in resources)
    assert any(fnmatch.fnmatchcase(r, "Pod.*.raypod-*-a100") for r in resources)


def test_trivy_finds_no_unwaived_high_or_critical(scans: dict[str, Any]) -> None:
    findings = trivy_findings(scans["trivy"])
    serious = [f for f in findings if f.severity in ENFORCED_TRIVY]
    unwaived = [f for f in serious if not any(waived(f, w) for w in WAIVERS["trivy"])]
    assert unwaived == [], "\n".join(f"{f.id} {f.severity} {f.resource} ({f.file})" for f in unwaived)
    unused = [w for w in WAIVERS["trivy"] if not any(waived(f, w) for f in findings)]
    assert unused == [], f"stale waivers: {unused}"
    for waiver in WAIVERS["trivy"]:  # the recorded severity is the one trivy reports
        assert {f.severity for f in findings if waived(f, waiver)} == {waiver["severity"]}, waiver["id"]


def test_scanners_flag_a_privileged_pod(tmp_path: Path) -> None:
    """Neither scanner passes silently: a privileged root container is caught by both."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad", "namespace": "kubetune"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "securityContext": {"privileged": True}}]},
    }
    directory = tmp_path / "bad"
    directory.mkdir()
    (directory / "bad.yaml").write_text(yaml.safe_dump(pod))
    assert "CKV_K8S_16" in {f.id for f in checkov_findings(run_checkov(directory))}
    assert any(f.severity in ENFORCED_TRIVY for f in trivy_findings(run_trivy(directory)))
