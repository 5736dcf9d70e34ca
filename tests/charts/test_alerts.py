"""The PrometheusRule's alerts: valid for promtool, and each one fires when it should and stays silent otherwise
(``rules_test.yaml``, run by ``promtool test rules`` against the rules rendered with the default thresholds)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROMTOOL

from .conftest import one, render

RULES_TEST = Path(__file__).with_name("rules_test.yaml")
ALERTS = {
    "KubetuneExperimentFailed",
    "KubetuneTrialsErroring",
    "KubetuneExperimentStalled",
    "KubetuneOperatorDown",
    "KubetuneOperatorNotReconciling",
    "KubetuneOperatorReconcileErrors",
    "KubetuneIngestRejecting",
}


def promtool() -> str:
    found = PROMTOOL if Path(PROMTOOL).is_file() else shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (`make prometheus`, run by `make test`)")
    return found


def rule_file(scenario: str, sets: tuple[str, ...] = ()) -> dict[str, Any]:
    """The rule file inside the PrometheusRule, as promtool reads it."""
    rule = one(render(scenario, sets=sets), "PrometheusRule")
    return {"groups": rule["spec"]["groups"]}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("scenario", "sets"), [("monitoring", ()), ("defaults", ("monitoring.prometheusRule.enabled=true",))]
)
def test_promtool_checks_the_rules(scenario: str, sets: tuple[str, ...], tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_file(scenario, sets)))
    done = run("check", "rules", "rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_every_alert_fires_when_it_should_and_only_then(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump(rule_file("defaults", ("monitoring.prometheusRule.enabled=true",)))
    )
    shutil.copy(RULES_TEST, tmp_path / "rules_test.yaml")
    done = run("test", "rules", "rules_test.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_each_alert_has_a_firing_and_a_silent_case() -> None:
    rendered = {r["alert"] for g in rule_file("monitoring")["groups"] for r in g["rules"]}
    assert rendered == ALERTS
    cases = [c for t in yaml.safe_load(RULES_TEST.read_text())["tests"] for c in t["alert_rule_test"]]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    silent = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert fires == ALERTS
    assert silent >= ALERTS - {"KubetuneExperimentFailed"}  # its case has FINISHED/RUNNING experiments not firing


def test_thresholds_come_from_values() -> None:
    rules = {r["alert"]: r for g in rule_file("monitoring")["groups"] for r in g["rules"]}
    erroring = rules["KubetuneTrialsErroring"]
    assert "> 0.5" in erroring["expr"]
    assert ">= 3" in erroring["expr"]
    assert erroring["for"] == "10m"
    assert "> 1200" in rules["KubetuneExperimentStalled"]["expr"]  # 20 minutes
    assert all(r["labels"]["team"] == "ml-platform" for r in rules.values())


def test_a_broken_expression_fails_promtool(tmp_path: Path) -> None:
    """promtool really parses the expressions (so the checks above are not vacuous)."""
    rules = rule_file("monitoring")
    rules["groups"][0]["rules"][0]["expr"] = "max by (namespace (kubetune_experiment_info)"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    done = run("check", "rules", "rules.yaml", cwd=tmp_path)
    assert done.returncode != 0
    assert "parse error" in done.stdout + done.stderr
