"""The report as one HTML page: its charts' data as a JSON island, Apache ECharts and the page's script inlined,
tables and the best config as escaped HTML, so the page reads without script and draws without network.

What the run says (trial ids, config values, metric names, error details) is user-controlled. It enters the page
in two ways only: as HTML text through :func:`html.escape` (quotes too), or inside the JSON island, where ``<``,
``>``, ``&`` and the JavaScript line separators are written as ``\\uXXXX`` escapes, so no value can close the
``<script>`` element (``</script>``) or open a comment; the page's script parses the island with ``JSON.parse``
and hands strings to ECharts (SVG text) or through its own escaping into tooltips.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

import yaml

from kubetune.report import pareto

#: The page's asset files (kubetune/report/assets/).
_ECHARTS = "echarts.min.js"
_SCRIPT = "report.js"
_STYLE = "report.css"
#: Written into the JSON island as escapes: they could end the script element or the line in JavaScript.
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
#: What a table cell shows for a value a trial does not have (an en dash).
_MISSING = "\u2013"
#: Set before any other script runs: an error anywhere shows in the page (and the tests read it from the DOM).
_ERROR_HOOK = """
window.kubetuneReportError = function (message) {
  var node = document.getElementById("report-errors");
  node.textContent += message + "\\n";
  node.setAttribute("data-errors", "1");
  node.hidden = false;
};
window.addEventListener("error", function (e) { window.kubetuneReportError(String(e.message || e)); });
window.addEventListener("unhandledrejection", function (e) { window.kubetuneReportError(String(e.reason)); });
"""


def asset(name: str) -> str:
    """A file of kubetune/report/assets/, as text."""
    return resources.files("kubetune.report").joinpath("assets", name).read_text(encoding="utf-8")


def json_island(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">`` (module notes)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, sort_keys=True)
    return "".join(_JSON_ESCAPES.get(c, c) for c in text)


def inline_script(source: str, name: str) -> str:
    """A ``<script>`` element holding ``source``; refuses a source that would end the element early."""
    lowered = source.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise ValueError(f"{name} cannot be inlined: it contains '</script' or '<!--'")
    return f"<script>{source}</script>"


def page(data: dict[str, Any], *, trials: list[dict[str, Any]]) -> str:
    """The whole report. ``data`` is the charts' data (:mod:`kubetune.report.figures`); ``trials`` the table rows."""
    e = html.escape
    best = data["best"]
    header = (
        f"<h1>{e(data['experiment'])}</h1>"
        f'<p class="meta">{e(data["metric"])} ({e(data["mode"])}) · {len(trials)} trials · '
        f"{e(_counts(data) + _usage(data))} · from <code>{e(data['source'])}</code> · "
        f"kubetune {e(data['version'])}</p>"
    )
    sections = [
        _section("Best so far against compute", "chart-progress", "The best value any trial found, after each result."),
        _section("Learning curves", "chart-curves", "Each trial's metric at each iteration, coloured by how it ended."),
        _section("Hyperparameters against the objective", "chart-parallel",
                 "One line per trial; the last axis is the best value the trial reported."),
        _section("Hyperparameter importance", "chart-importance", "Optuna's default evaluator, finished trials only."),
        _section("How trials ended", "chart-reasons", ""),
    ]  # fmt: skip
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>kubetune report: {e(data['experiment'])}</title>",
            f"<style>{asset(_STYLE)}</style>",
            "</head><body>",
            header,
            '<pre id="report-errors" class="errors" hidden></pre>',
            pareto.section(data.get("pareto")),
            _best(best, data["metric"], primary=data.get("pareto") is not None),
            '<div class="charts">',
            *sections,
            "</div>",
            _table(trials, data["metric"]),
            f'<script type="application/json" id="report-data">{json_island(data)}</script>',
            inline_script(_ERROR_HOOK, "the error hook"),
            inline_script(asset(_ECHARTS), _ECHARTS),
            inline_script(asset(_SCRIPT), _SCRIPT),
            "</body></html>",
            "",
        ]
    )


def _counts(data: dict[str, Any]) -> str:
    endings = data["endings"]
    return ", ".join(f"{n} {endings.get(k, {}).get('label', k)}" for k, n in data["reasons"].items() if n)


def _usage(data: dict[str, Any]) -> str:
    """`` · 1.25 GPU-hours, 5.0 CPU-hours`` held by the trials; empty for a results file that predates usage."""
    hours = data.get("usage") or {}
    if not hours:
        return ""
    return f" · {hours.get('gpu_seconds', 0):.3g} GPU-hours, {hours.get('cpu_seconds', 0):.3g} CPU-hours"


def _section(title: str, chart: str, caption: str) -> str:
    e = html.escape
    note = f'<p class="caption">{e(caption)}</p>' if caption else ""
    return f'<section><h2>{e(title)}</h2>{note}<div class="chart" id="{chart}"></div></section>'


def _best(best: dict[str, Any] | None, metric: str, *, primary: bool = False) -> str:
    """The best trial's section; ``primary``: by the first of several objectives (the front is above it)."""
    e = html.escape
    title = f"Best trial by {e(metric)}, the primary objective" if primary else "Best trial"
    if best is None:
        return f'<section class="best"><h2>{title}</h2><p>No trial reported {e(metric)}.</p></section>'
    config = yaml.safe_dump(best["config"], sort_keys=True, allow_unicode=True).rstrip()
    return (
        f'<section class="best"><h2>{title}</h2><dl>'
        f"<dt>trial</dt><dd><code>{e(best['trial'])}</code> ({e(best['ending'])})</dd>"
        f"<dt>{e(metric)}</dt><dd>{e(_number(best['value']))}</dd>"
        f"<dt>checkpoint</dt><dd><code>{e(best['checkpoint'] or '(none reported)')}</code></dd>"
        f"</dl><h3>config</h3><pre>{e(config)}</pre></section>"
    )


def _table(trials: list[dict[str, Any]], metric: str) -> str:
    e = html.escape
    params = list(dict.fromkeys(name for trial in trials for name in trial["params"]))
    head = "".join(f"<th>{e(h)}</th>" for h in ["trial", "ended", f"best {metric}", "results", *params, "detail"])
    body = []
    for t in trials:
        cells = [
            f"<td><code>{e(t['trial'])}</code></td>",
            f'<td><span class="dot" style="background:{e(t["colour"])}"></span>{e(t["label"])}</td>',
            f"<td>{e(_number(t['objective']))}</td>",
            f"<td>{t['results']}</td>",
            *(f"<td>{e(_value(t['params'].get(p)))}</td>" for p in params),
            f'<td class="detail">{e(t["detail"])}</td>',
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    table = f'<table class="trials"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f"<section><h2>Trials</h2>{table}</section>"


def _number(value: float | None) -> str:
    return _MISSING if value is None else f"{value:.6g}"


def _value(value: Any) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)
