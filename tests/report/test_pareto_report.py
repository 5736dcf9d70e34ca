"""The report of a real run with several objectives: the Pareto front as a scatter (every trial at its last
values, the front highlighted) and as a table, drawn by headless Chromium without a script error."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import yaml

from kubetune.cli import main
from kubetune.engine import results
from kubetune.report import CHARTS, MULTI_OBJECTIVE_CHARTS, pareto
from tests.fixtures.objective_docs import two_objective_doc
from tests.report.conftest import dump_dom
from tests.report.test_report import Page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pareto_run(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pareto-report")
    doc = two_objective_doc(
        "pareto-report",
        numSamples=8,
        search={"algorithm": "random", "seed": 11},
        storage={"path": str(root / "results")},
    )
    spec = root / "experiment.yaml"
    spec.write_text(yaml.safe_dump(doc))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", str(spec), "--no-metrics", "-q"]) == 0, out.getvalue()
    assert "Pareto front of accuracy (max), latency_ms (min)" in out.getvalue()  # the run's own summary
    return root / "results" / "pareto-report"


@pytest.fixture(scope="module")
def report(pareto_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pareto-page") / "report.html"
    assert main(["report", str(pareto_run), "-o", str(out)]) == 0
    return out


def test_the_report_holds_the_front_and_every_trial_at_its_last_values(pareto_run: Path, report: Path) -> None:
    summary = results.read(str(pareto_run))
    assert summary.pareto_front
    page = Page(report.read_text())
    data = page.data()["pareto"]
    assert isinstance(data, dict)
    assert (data["x"], data["y"]) == ({"name": "accuracy", "mode": "max"}, {"name": "latency_ms", "mode": "min"})
    front = {t.trial_id: t for t in summary.pareto_front}
    assert len(data["points"]) == summary.total_trials == 8
    for point in data["points"]:
        assert point["front"] == (point["trial"] in front)
        if point["front"]:
            member = front[point["trial"]].values
            assert [point["x"], point["y"]] == pytest.approx([member["accuracy"], member["latency_ms"]])
    assert data["line"] == sorted(data["line"])
    assert len(data["line"]) == len(front)
    assert "pareto-front" in page.ids
    table = re.search(r'<table class="trials" id="pareto-front">(.*?)</table>', report.read_text(), re.DOTALL)
    assert table is not None
    assert [row for row in re.findall(r"<tr><td><code>([^<]+)</code>", table.group(1))] == list(front)
    assert "<h2>Best trial by accuracy, the primary objective</h2>" in report.read_text()


def test_chromium_draws_the_front_with_every_other_chart(chromium: str, report: Path) -> None:
    dom = dump_dom(chromium, report)
    page = Page(dom)
    assert page.ids["report-errors"].get("data-errors") is None, dom[-3000:]
    charts = (*MULTI_OBJECTIVE_CHARTS, *CHARTS)
    assert f'data-rendered="{len(charts)}"' in dom
    for chart in charts:
        assert page.ids[chart].get("data-drawn") == "1", chart
    start = dom.index(f'id="{pareto.CHART}"')
    svg = dom[start : start + 20000]
    assert "<svg" in svg
    assert "Pareto front" in svg  # the legend
    assert "accuracy (max" in svg  # the axis name


def test_a_single_objective_report_has_no_front_section() -> None:
    assert pareto.section(None) == ""


def test_with_three_objectives_the_chart_is_a_projection_and_says_so(tmp_path: Path) -> None:
    from kubetune.engine.pareto import FrontTrial
    from kubetune.report.reading import Run, Trial

    objectives = [{"metric": "a", "mode": "max"}, {"metric": "b", "mode": "min"}, {"metric": "c", "mode": "min"}]
    front = [
        FrontTrial("t1", {"a": 1.0, "b": 2.0, "c": 3.0}, {"x": 1}),
        FrontTrial("t2", {"a": 0.5, "b": 2.5, "c": 0.1}, {}),
    ]
    summary = results.RunSummary(
        experiment="three", namespace=None, metric="a", mode="max", experiment_path=str(tmp_path),
        trials_by_state={"TERMINATED": 3}, best=None, objectives=objectives, pareto_front=front,
    )  # fmt: skip
    rows = {"t1": {"a": 1.0, "b": 2.0, "c": 3.0}, "t2": {"a": 0.5, "b": 2.5, "c": 0.1}, "t3": {"a": 0.4, "b": 3.0}}
    run = Run(summary=summary, trials=[Trial(t, "finished", "", {}, rows=[row]) for t, row in rows.items()])
    data = pareto.scatter(run)
    assert data is not None
    assert data["line"] == []  # a step line joins a front of two objectives only
    assert [(p["trial"], p["front"]) for p in data["points"]] == [("t1", True), ("t2", True), ("t3", False)]
    html = pareto.section(data)
    assert "The chart shows the first two of 3 objectives" in html
    assert "<th>c</th>" in html
