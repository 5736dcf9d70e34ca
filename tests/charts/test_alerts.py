"""The PrometheusRule's alerts: valid for promtool, and each one fires when it should and stays silent otherwise
(``rules_test.yaml``, run by ``promtool test rules`` against the rules rendered with the default thresholds); the
operator's alerts watch whatever scrapes the operator, and none fires because nothing does."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROMTOOL

from .conftest import CHART, one, render

RULES_TEST = Path(__file__).with_name("rules_test.yaml")
#: Alert → its group of values (`monitoring.prometheusRule.<group>`).
EXPERIMENT_ALERTS = {
    "KubetuneExperimentFailed": "experimentFailed",
    "KubetuneTrialsErroring": "trialErrors",
    "KubetuneExperimentStalled": "noResults",
}
OPERATOR_ALERTS = {
    "KubetuneOperatorDown": "operatorDown",
    "KubetuneOperatorNoLeader": "noLeader",
    "KubetuneOperatorNotReconciling": "notReconciling",
    "KubetuneOperatorFallingBehind": "queueBacklog",
    "KubetuneOperatorReconcileErrors": "reconcileErrors",
    "KubetuneIngestRejecting": "ingestRejecting",
}
ALERTS = set(EXPERIMENT_ALERTS) | set(OPERATOR_ALERTS)
#: How the promtool cases render the rules: the default thresholds, the operator scraped by the ServiceMonitor.
SCRAPED = ("monitoring.prometheusRule.enabled=true", "monitoring.serviceMonitor.enabled=true")
RUNBOOKS = "https://github.com/kubetune/kubetune/blob/main/charts/kubetune/README.md#"


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


def rules(scenario: str, sets: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in rule_file(scenario, sets)["groups"] for r in g["rules"]}


@pytest.mark.parametrize(
    ("scenario", "sets", "alerts"),
    [("monitoring", (), ALERTS), ("defaults", SCRAPED, ALERTS),
     ("defaults", ("monitoring.prometheusRule.enabled=true",), set(EXPERIMENT_ALERTS))],
    ids=["monitoring", "scraped", "unscraped"],
)  # fmt: skip
def test_promtool_checks_the_rules(scenario: str, sets: tuple[str, ...], alerts: set[str], tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_file(scenario, sets)))
    done = run("check", "rules", "rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts)} rules found" in done.stdout
    assert set(rules(scenario, sets)) == alerts


def test_every_alert_fires_when_it_should_and_only_then(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_file("defaults", SCRAPED)))
    shutil.copy(RULES_TEST, tmp_path / "rules_test.yaml")
    done = run("test", "rules", "rules_test.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_nothing_fires_for_hours_when_nothing_scrapes_the_operator(tmp_path: Path) -> None:
    """Alerts on and no ServiceMonitor (the defaults plus `prometheusRule.enabled`): Prometheus has no series of
    the operator at all, which must not page anyone (an `absent(up{...})` would, forever)."""
    rendered = rule_file("defaults", ("monitoring.prometheusRule.enabled=true",))
    alerts = sorted(r["alert"] for g in rendered["groups"] for r in g["rules"])
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rendered))
    case = {
        "interval": "1m",
        "input_series": [{"series": 'up{job="prometheus",namespace="monitoring"}', "values": "1x240"}],
        "alert_rule_test": [{"eval_time": f"{h}h", "alertname": a, "exp_alerts": []} for a in alerts for h in (1, 4)],
    }
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [case]}
    (tmp_path / "silence_test.yaml").write_text(yaml.safe_dump(tests))
    done = run("test", "rules", "silence_test.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("sets", "job"),
    [
        (("monitoring.serviceMonitor.enabled=true",), "kubetune"),
        (("monitoring.prometheusRule.operatorJob=kubernetes-pods",), "kubernetes-pods"),
        (("monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.operatorJob=custom"), "custom"),
    ],
    ids=["servicemonitor", "own-scrape", "both"],
)
def test_the_operators_alerts_watch_the_job_that_scrapes_it(sets: tuple[str, ...], job: str) -> None:
    found = rules("defaults", ("monitoring.prometheusRule.enabled=true", *sets))
    assert set(found) == ALERTS
    for alert in OPERATOR_ALERTS:
        jobs = set(re.findall(r'job="([^"]*)"', found[alert]["expr"]))
        assert jobs == {job}, (alert, found[alert]["expr"])


def test_every_alert_waits_explains_itself_and_links_its_runbook() -> None:
    readme = (CHART / "README.md").read_text()
    for alert, rule in rules("monitoring").items():
        assert re.fullmatch(r"[0-9]+[smh]", rule["for"]), alert
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, alert
        assert annotations["runbook_url"] == RUNBOOKS + alert.lower()
        assert f"\n### {alert}\n" in readme, f"README.md has no runbook section for {alert}"


def test_every_pending_period_and_severity_comes_from_values() -> None:
    groups = {**EXPERIMENT_ALERTS, **OPERATOR_ALERTS}
    sets = [f"monitoring.prometheusRule.{group}.for={n}m" for n, group in enumerate(groups.values(), 11)]
    sets += [f"monitoring.prometheusRule.{group}.severity=info" for group in groups.values()]
    found = rules("monitoring", tuple(sets))
    for n, alert in enumerate(groups, 11):
        assert found[alert]["for"] == f"{n}m", alert
        assert found[alert]["labels"]["severity"] == "info", alert


def test_the_runbook_links_can_point_elsewhere() -> None:
    found = rules("monitoring", ("monitoring.prometheusRule.runbookUrl=https://wiki.example.com/kubetune/",))
    for alert, rule in found.items():
        assert rule["annotations"]["runbook_url"] == f"https://wiki.example.com/kubetune/{alert.lower()}"


def test_each_alert_has_a_firing_and_a_silent_case() -> None:
    rendered = {r["alert"] for g in rule_file("defaults", SCRAPED)["groups"] for r in g["rules"]}
    assert rendered == ALERTS
    cases = [c for t in yaml.safe_load(RULES_TEST.read_text())["tests"] for c in t["alert_rule_test"]]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    silent = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert fires == ALERTS
    assert silent >= ALERTS - {"KubetuneExperimentFailed"}  # its case has FINISHED/RUNNING experiments not firing


def test_thresholds_come_from_values() -> None:
    found = rules("monitoring")
    erroring = found["KubetuneTrialsErroring"]
    assert "> 0.5" in erroring["expr"]
    assert ">= 3" in erroring["expr"]
    assert erroring["for"] == "10m"
    assert "> 1200" in found["KubetuneExperimentStalled"]["expr"]  # 20 minutes
    behind = rules("monitoring", ("monitoring.prometheusRule.queueBacklog.seconds=45",))
    assert ") > 45" in behind["KubetuneOperatorFallingBehind"]["expr"]
    assert all(r["labels"]["team"] == "ml-platform" for r in found.values())


def test_a_broken_expression_fails_promtool(tmp_path: Path) -> None:
    """promtool really parses the expressions (so the checks above are not vacuous)."""
    rules = rule_file("monitoring")
    rules["groups"][0]["rules"][0]["expr"] = "max by (namespace (kubetune_experiment_info)"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    done = run("check", "rules", "rules.yaml", cwd=tmp_path)
    assert done.returncode != 0
    assert "parse error" in done.stdout + done.stderr
