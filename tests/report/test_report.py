"""``kubetune report`` on a real run: one self-contained HTML file with every chart and every trial, drawn by
headless Chromium without a script error, and no config value able to run script in it."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kubetune.cli import main
from kubetune.engine import results
from kubetune.report import CHARTS
from tests.report.conftest import PAYLOAD, ReferenceRun, dump_dom

pytestmark = pytest.mark.slow


class Page(HTMLParser):
    """What the tests read from a page: element ids, the src/href of script and link tags, the JSON data island
    and the text of the other scripts."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: dict[str, dict[str, str | None]] = {}
        self.references: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self._text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids[str(found["id"])] = found
        if tag in {"script", "link", "img", "iframe"}:
            self.references += [v for k, v in attrs if k in {"src", "href"} and v]
        if tag == "script":
            self._script, self._text = found, []

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None

    def data(self) -> dict[str, object]:
        island = [text for attrs, text in self.scripts if attrs.get("type") == "application/json"]
        assert len(island) == 1
        loaded: dict[str, object] = json.loads(island[0])
        return loaded


@pytest.fixture(scope="module")
def report(reference_run: ReferenceRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(reference_run.path), "-o", str(out), "--spec", str(reference_run.spec)]) == 0
    return out


def test_the_run_ended_as_the_fixture_says(reference_run: ReferenceRun) -> None:
    summary = results.read(str(reference_run.path))
    assert summary.trials_by_state == {"TERMINATED": 5, "ERROR": 1}
    assert summary.trials_by_reason.get("early_stopped", 0) >= 1
    assert summary.best is not None
    assert summary.best.config["opt"] == PAYLOAD


def test_the_run_summary_names_the_report_command(reference_run: ReferenceRun) -> None:
    assert f"report: kubetune report {reference_run.path} -o report.html" in reference_run.output


def test_the_report_holds_every_chart_and_every_trial(reference_run: ReferenceRun, report: Path) -> None:
    page = Page(report.read_text(encoding="utf-8"))
    for chart in CHARTS:
        assert chart in page.ids, chart
    data = page.data()
    summary = results.read(str(reference_run.path))
    trial_ids = set(summary.trial_ends)
    assert len(trial_ids) == 6
    curves = data["curves"]
    assert isinstance(curves, list)
    assert {c["trial"] for c in curves} == trial_ids
    assert {c["trial"]: c["ending"] for c in curves} == {t: e["reason"] for t, e in summary.trial_ends.items()}
    assert all(c["y"] for c in curves)  # every trial reported before it ended
    parallel = data["parallel"]
    assert isinstance(parallel, dict)
    # The spec's order and scales (its file was written with sorted keys): a loguniform is a log axis.
    assert [(d["name"], d["type"]) for d in parallel["dimensions"]] == [
        ("lr", "log"), ("opt", "category"), ("rank", "category"), ("score", "value")
    ]  # fmt: skip
    assert {row["trial"] for row in parallel["rows"]} == trial_ids
    assert data["reasons"] == summary.trials_by_reason
    best = data["best"]
    assert isinstance(best, dict)
    assert summary.best is not None
    assert best["trial"] == summary.best.trial_id
    assert best["checkpoint"] == summary.best.checkpoint
    assert best["config"]["opt"] == PAYLOAD
    progress = data["progress"]
    assert isinstance(progress, dict)
    xs = [x for x, _ in progress["iterations"]]
    assert xs == sorted(xs)
    assert xs[-1] == sum(len(c["y"]) for c in curves)
    assert progress["gpu_hours"] is None  # a CPU-only run: its trials held no GPU
    usage = data["usage"]
    assert isinstance(usage, dict)
    assert usage["gpu_seconds"] == 0
    assert usage["cpu_seconds"] == pytest.approx(summary.usage["cpu_seconds"] / 3600)
    assert usage["trial_seconds"] > 0
    importance = data["importance"]
    assert isinstance(importance, dict)
    assert importance["params"] or importance["note"]
    # The table and the best config are in the page as text too (readable without script).
    text = report.read_text(encoding="utf-8")
    for trial in trial_ids:
        assert trial in text
    assert summary.best.checkpoint is not None
    assert summary.best.checkpoint in text
    assert f"0 GPU-hours, {usage['cpu_seconds']:.3g} CPU-hours" in text


def test_the_report_loads_nothing_from_outside(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    page = Page(text)
    assert page.references == []
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.IGNORECASE)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", text, re.IGNORECASE)


def test_a_config_value_cannot_run_script_in_the_report(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert "</script><script>document" not in text
    assert "<img src=x" not in text
    scripts = Page(text).scripts
    assert not any("pwned" in body and attrs.get("type") != "application/json" for attrs, body in scripts)
    data = Page(text).data()  # the value itself is kept, as data
    assert data["best"]["config"]["opt"] == PAYLOAD  # type: ignore[index]
    assert PAYLOAD in data["parallel"]["dimensions"][1]["categories"]  # type: ignore[index]


def test_chromium_draws_every_chart_without_a_script_error(chromium: str, report: Path) -> None:
    dom = dump_dom(chromium, report)
    page = Page(dom)
    assert page.ids["report-errors"].get("data-errors") is None, dom[-3000:]
    errors = re.search(r'<pre id="report-errors"[^>]*>(.*?)</pre>', dom, re.DOTALL)
    assert errors is not None
    assert errors.group(1).strip() == ""
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None
    assert f'data-rendered="{len(CHARTS)}"' in body.group(1)
    for chart in CHARTS:
        assert page.ids[chart].get("data-drawn") == "1", chart
        start = dom.index(f'id="{chart}"')
        assert "<svg" in dom[start : start + 5000], chart
    assert "pwned" not in re.search(r"<html([^>]*)>", dom).group(1)  # type: ignore[union-attr]


def test_without_end_reasons_curves_are_coloured_by_ray_status(reference_run: ReferenceRun, tmp_path: Path) -> None:
    old = tmp_path / "old-run"
    shutil.copytree(reference_run.path, old, ignore=shutil.ignore_patterns("checkpoint_*"))
    data = json.loads((old / results.RESULTS_FILE).read_text())
    data.pop("trial_ends")
    data.pop("trials_by_reason")
    (old / results.RESULTS_FILE).write_text(json.dumps(data))
    out = tmp_path / "old.html"
    assert main(["report", str(old), "-o", str(out)]) == 0
    page = Page(out.read_text(encoding="utf-8"))
    endings = sorted(c["ending"] for c in page.data()["curves"])  # type: ignore[attr-defined]
    assert endings == ["ERROR", *["TERMINATED"] * 5]
    assert page.data()["reasons"] == {"TERMINATED": 5, "ERROR": 1}
    # Without --spec the scales come from the values drawn: lr on a linear axis, the grids as categories.
    dimensions = page.data()["parallel"]["dimensions"]  # type: ignore[index]
    assert {(d["name"], d["type"]) for d in dimensions} == {
        ("lr", "value"), ("opt", "category"), ("rank", "value"), ("score", "value")
    }  # fmt: skip


def test_a_directory_without_results_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nothing"), "-o", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kubetune: error:")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_a_results_file_without_ray_state_is_one_line_and_exit_1(
    reference_run: ReferenceRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(reference_run.path / results.RESULTS_FILE, tmp_path)
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kubetune: error: {tmp_path}: Ray's experiment state cannot be read")
    assert len(err.strip().splitlines()) == 1
