"""The Grafana dashboards (``charts/kubetune/dashboards/*.json``, the sources the chart ships as ConfigMaps).

No Grafana server can be installed here, so the JSON is checked for the invariants Grafana and the sidecar need,
every PromQL expression is parsed (promql-parser), and - against a real Prometheus scraping a live exporter fed
by a real Ray Tune run - every panel that should show data does.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubetune.engine.running import RunOptions, run_experiment
from kubetune.exporter.server import Exporter
from kubetune.exporter.store import ExperimentStore
from kubetune.reporting.callback import ReportingCallback
from kubetune.reporting.sending import SenderSettings
from kubetune.reporting.wire import EndReason
from kubetune.spec import load_object
from tests.conftest import PROMETHEUS, experiment_doc, prometheus_server, query_prometheus
from tests.exporter._support import Sender, trial

from .conftest import CHART

DASHBOARDS = {p.name: json.loads(p.read_text()) for p in sorted((CHART / "dashboards").glob("*.json"))}
VARIABLES = {"datasource", "namespace", "experiment", "metric"}

#: Panels whose series no local run produces, and why. Every other panel must return data below.
EXPECTED_EMPTY = {
    # The operator's own health metrics exist only when `kubetune operator` runs (a cluster); the exporter here is
    # the same one the operator hosts, without the reconciler.
    "Experiments by phase (operator)": "kubetune_operator_* come from the operator's reconciler",
    "Reconciles by result": "kubetune_operator_* come from the operator's reconciler",
    "Reconcile errors": "kubetune_operator_* come from the operator's reconciler",
    "Reconcile duration": "kubetune_operator_* come from the operator's reconciler",
    "Operator readiness and queue": "kubetune_operator_* come from the operator's reconciler",
    # Ray exports ray_node_gpus_* only on nodes with GPUs, scraped through the PodMonitor (no GPU, no pods here).
    "GPU utilisation": "ray_node_gpus_utilization needs GPU nodes and the PodMonitor",
    "GPU memory used": "ray_node_gram_used needs GPU nodes and the PodMonitor",
}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def targets() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr) of every query."""
    return [(name, p["title"], t["expr"]) for name, d in DASHBOARDS.items() for p in panels(d) for t in p["targets"]]


def annotation_queries() -> list[tuple[str, str, str]]:
    """(dashboard, annotation name, expr) of every Prometheus annotation."""
    return [(name, a["name"], a["expr"]) for name, d in DASHBOARDS.items() for a in d["annotations"]["list"]]


#: The drill-down's annotations: one per end reason that is a decision, marking when trials ended by it.
DECISIONS: dict[EndReason, str] = {"early_stopped": "Trials stopped early", "exploited": "Trials exploited (PBT)",
                                   "budget": "Trials cut by the budget", "errored": "Trials errored"}  # fmt: skip


def variable_queries() -> list[tuple[str, str, str]]:
    """(dashboard, variable, inner PromQL selector) of every ``label_values(selector, label)`` variable."""
    found = []
    for name, dashboard in DASHBOARDS.items():
        for var in dashboard["templating"]["list"]:
            if var["type"] == "query":
                match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"])
                assert match, f"{name} ${var['name']}: not a label_values() query"
                found.append((name, var["name"], match.group(1)))
    return found


def test_there_is_an_overview_and_a_drill_down() -> None:
    assert {d["uid"] for d in DASHBOARDS.values()} == {"kubetune-overview", "kubetune-experiment"}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_well_formed_for_grafana(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["title"].startswith("kubetune / ")
    assert "id" not in dashboard, "a provisioned dashboard must not carry a database id"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) >= VARIABLES
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]] + [p["id"] for p in panels(dashboard) if p not in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels(dashboard):
        where = f"{name}: {panel['title']}"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["targets"], where
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, where
        assert min(grid["w"], grid["h"]) > 0, where
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", where
            assert target["expr"].strip(), where


def test_uids_are_unique() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize(("dashboard", "panel", "expr"), targets(), ids=lambda v: str(v)[:60])
def test_every_panel_query_parses(dashboard: str, panel: str, expr: str) -> None:
    promql_parser = pytest.importorskip("promql_parser", reason="`make chart-tools` installs it")
    promql_parser.parse(expr)


@pytest.mark.parametrize(("dashboard", "variable", "selector"), variable_queries(), ids=lambda v: str(v)[:60])
def test_every_variable_query_parses(dashboard: str, variable: str, selector: str) -> None:
    promql_parser = pytest.importorskip("promql_parser", reason="`make chart-tools` installs it")
    promql_parser.parse(selector)


@pytest.mark.parametrize(("dashboard", "annotation", "expr"), annotation_queries(), ids=lambda v: str(v)[:60])
def test_every_annotation_query_parses(dashboard: str, annotation: str, expr: str) -> None:
    promql_parser = pytest.importorskip("promql_parser", reason="`make chart-tools` installs it")
    promql_parser.parse(expr)


def test_the_drill_down_marks_the_schedulers_decisions_from_the_trials_metric() -> None:
    """Annotations on the Prometheus data source (no other), one per decision reason, filtered by the variables,
    naming how many trials ended (``count_values`` puts the number in the ``trials`` label for the text)."""
    found = DASHBOARDS["kubetune-experiment.json"]["annotations"]["list"]
    assert [a["name"] for a in found] == list(DECISIONS.values())
    for (reason, name), annotation in zip(DECISIONS.items(), found, strict=True):
        assert (annotation["datasource"], annotation["enable"]) == (
            {"type": "prometheus", "uid": "${datasource}"},
            True,
        )
        expr = annotation["expr"]
        assert expr.startswith('count_values by (namespace, experiment) ("trials", '), name
        assert expr.count(f'reason="{reason}"') == 3, name
        assert expr.count('kubetune_experiment_trials{namespace=~"$namespace", experiment=~"$experiment", ') == 3
        assert f"offset {annotation['step']}" in expr, name  # each step counts the ends since the previous one
        assert "{{trials}}" in annotation["titleFormat"], name
        assert all(part in annotation["textFormat"] for part in ("{{trials}}", "{{experiment}}", reason)), name


def test_the_parser_rejects_a_broken_query() -> None:
    promql_parser = pytest.importorskip("promql_parser", reason="`make chart-tools` installs it")
    with pytest.raises(ValueError, match="unclosed"):
        promql_parser.parse("sum(rate(kubetune_ingest_events_total[5m])")


def test_the_drill_down_filters_every_per_experiment_query_by_the_variables() -> None:
    for _, title, expr in (t for t in targets() if t[0] == "kubetune-experiment.json"):
        assert 'namespace=~"$namespace"' in expr, title
        assert 'experiment=~"$experiment"' in expr, title
    curves = next(e for d, t, e in targets() if d == "kubetune-experiment.json" and t == "$metric per trial")
    assert curves == 'kubetune_trial_metric{namespace=~"$namespace", experiment=~"$experiment", metric=~"$metric"}'


#: Grafana units of Ray's own series, as Ray reports them (``ray_node_gram_used`` is in MiB: Grafana's ``mbytes``;
#: ``decmbytes`` would be SI megabytes and show 5% less than is used).
RAY_UNITS = {"ray_node_gram_used": "mbytes", "ray_node_gpus_utilization": "percent"}


def test_rays_gpu_series_are_shown_in_the_units_ray_reports() -> None:
    checked = 0
    for name, dashboard in DASHBOARDS.items():
        for panel in panels(dashboard):
            exprs = " ".join(t["expr"] for t in panel["targets"])
            for series, unit in RAY_UNITS.items():
                if series in exprs:
                    assert panel["fieldConfig"]["defaults"]["unit"] == unit, f"{name}: {panel['title']}"
                    checked += 1
    assert checked >= len(RAY_UNITS)


def test_every_expected_empty_panel_exists() -> None:
    titles = {title for _, title, _ in targets()}
    assert set(EXPECTED_EMPTY) <= titles


# --- against a real Prometheus scraping a live exporter -------------------------------------------------------------

TOKEN = "dashboards-token"
NAMESPACE, EXPERIMENT, METRIC = "local", "dash", "score"


def substitute(expr: str) -> str:
    return expr.replace("$namespace", NAMESPACE).replace("$experiment", EXPERIMENT).replace("$metric", METRIC)


@pytest.fixture(scope="module")
def live_prometheus(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus scraping an exporter that a real Tune run (4 trials x 6 results) reported to."""
    if not Path(PROMETHEUS).is_file():
        pytest.skip("prometheus is not installed (`make prometheus`, run by `make test`)")
    tmp = tmp_path_factory.mktemp("dashboards")
    store = ExperimentStore()
    with Exporter(store=store, registry=CollectorRegistry(), token=TOKEN) as exporter:
        host_port = exporter.url.removeprefix("http://")
        with prometheus_server([host_port], tmp / "prometheus") as url:
            # A first scrape before the run, so counters have a starting point and rate() sees the increase.
            assert query_prometheus(url, "kubetune_ingest_events_total", timeout=30)
            exp = load_object(
                experiment_doc(
                    EXPERIMENT,
                    "tests.fixtures.trainables:quadratic",
                    config={"iterations": 6, "sleep": 0.3},
                    numSamples=4,
                    storage={"path": str(tmp / "results")},
                )
            )
            callback = ReportingCallback(
                url=exporter.url, token=TOKEN, namespace=NAMESPACE, name=exp.name, metric=METRIC, mode="max",
                num_samples=exp.total_trials, settings=SenderSettings(flush_interval_s=0.05),
            )  # fmt: skip
            run_experiment(exp, options=RunOptions(verbose=0, callbacks=[callback]))
            decide(store)
            # Rates need two scrapes after the increase: wait until the ingest rate is visible.
            assert query_prometheus(url, "sum(rate(kubetune_ingest_events_total[5m])) > 0", timeout=30)
            yield url


#: A second experiment beside the live run, whose trials ended by every decision.
DECIDED = "decided"
DECIDED_ENDS = {"early_stopped": 3, "exploited": 1, "budget": 1, "errored": 2, "finished": 1}
#: How the live run's trials ended, by reason, as its driver told the store (its scheduler is ASHA).
RUN_ENDS: dict[str, int] = {}


def decide(store: ExperimentStore) -> None:
    run = store.summary(NAMESPACE, EXPERIMENT)
    assert run is not None
    RUN_ENDS.update({str(reason): n for reason, n in run.ends.items()})
    sender, ids = Sender(name=DECIDED, namespace=NAMESPACE, metric=METRIC), iter(range(100))
    ends = [(f"t{next(ids)}", reason) for reason, n in DECIDED_ENDS.items() for _ in range(n)]
    store.apply(sender.batch(*(trial(t, "RUNNING") for t, _ in ends)))
    events = [{**trial(t, "ERROR" if r == "errored" else "TERMINATED"), "reason": r, "detail": r} for t, r in ends]
    store.apply(sender.batch(*events))


def annotation_counts(url: str, expr: str, experiment: str, *, namespace: str = NAMESPACE) -> int:
    """The trials an annotation marks, as Grafana asks (a range query, one point per ``step``): the sum of the
    ``trials`` label over every point from 10 minutes ago to 2 minutes ahead (points ahead see the latest data)."""
    query = expr.replace("$namespace", namespace).replace("$experiment", experiment)
    now = time.time()
    params = urllib.parse.urlencode({"query": query, "start": now - 600, "end": now + 120, "step": 60})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return sum(int(series["metric"]["trials"]) for series in answer["data"]["result"] for _ in series["values"])


@pytest.mark.slow
def test_annotations_mark_each_decision_once(live_prometheus: str) -> None:
    assert query_prometheus(live_prometheus, f'kubetune_experiment_trials{{experiment="{DECIDED}"}}', timeout=30)
    for reason, name in DECISIONS.items():
        (expr,) = [e for d, n, e in annotation_queries() if n == name]
        assert annotation_counts(live_prometheus, expr, DECIDED) == DECIDED_ENDS[reason], name
        assert annotation_counts(live_prometheus, expr, EXPERIMENT) == RUN_ENDS.get(reason, 0), (name, RUN_ENDS)


@pytest.mark.slow
def test_panels_show_the_live_run(live_prometheus: str) -> None:
    empty, unexpected = [], []
    for dashboard, title, expr in targets():
        found = query_prometheus(live_prometheus, substitute(expr), timeout=0 if title in EXPECTED_EMPTY else 5)
        if title in EXPECTED_EMPTY:
            if found:
                unexpected.append(f"{dashboard}: {title}: data where none was expected: {expr}")
        elif not found:
            empty.append(f"{dashboard}: {title}: {expr}")
    assert empty == [], "panels without data"
    assert unexpected == []


@pytest.mark.slow
def test_variables_offer_the_live_experiment(live_prometheus: str) -> None:
    for dashboard, variable, selector in variable_queries():
        label = "namespace" if variable == "namespace" else variable
        found = query_prometheus(live_prometheus, substitute(selector), timeout=5)
        values = {series["metric"].get(label) for series in found}
        expected = {"namespace": NAMESPACE, "experiment": EXPERIMENT, "metric": METRIC}[variable]
        assert expected in values, f"{dashboard} ${variable}: {sorted(v for v in values if v)}"


@pytest.mark.slow
def test_best_trial_panel_names_the_runs_best_trial(live_prometheus: str) -> None:
    best_selector = 'kubetune_trial_best{namespace=~"$namespace", experiment=~"$experiment"} == 1'
    (series,) = query_prometheus(live_prometheus, substitute(best_selector))
    curves = 'kubetune_trial_metric{namespace=~"$namespace", experiment=~"$experiment", metric=~"$metric"}'
    curve = query_prometheus(
        live_prometheus, substitute(f"{curves} and on (namespace, experiment, trial) ({best_selector})")
    )
    assert [s["metric"]["trial"] for s in curve] == [series["metric"]["trial"]]
