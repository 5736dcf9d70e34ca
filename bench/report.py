"""One results table from every benchmark's JSON: ``bench/out/results.md`` and ``bench/out/results.json``.

    .venv/bin/python bench/report.py [--dir bench/out] [--out-md bench/out/results.md] [--out-json ...]

Reads ``overhead.json``, ``exporter.json``, ``operator.json`` and ``search.json`` from ``--dir`` (those present;
a missing one is listed as not run) and writes one row per figure: its value, the baseline it is measured against
(in the same run), the ratio, and the target where the issue sets one. Header: machine, date, versions, and
whether each benchmark ran in quick mode. ``make bench`` runs the benchmarks and then this.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = ("overhead", "exporter", "operator", "search")
#: Optuna used directly (no Ray): the comparison the kubetune strategies must not lose.
DIRECT = ("optuna-median", "optuna-sha")
VERSIONED = ("kubetune", "ray", "optuna", "hyperopt", "hpbandster", "torch", "xgboost", "prometheus-client")


def row(
    benchmark: str,
    figure: str,
    value: float | None,
    unit: str,
    *,
    baseline: str = "",
    baseline_value: float | None = None,
    ratio: float | None = None,
    target: str = "",
    met: bool | None = None,
) -> dict[str, Any]:
    if ratio is None and value is not None and baseline_value:
        ratio = value / baseline_value
    return {
        "benchmark": benchmark,
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def overhead_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    med = r["median_seconds"]
    w = r["workload"]
    figure = f"fit wall time, {w['trials']} trials x {w['iterations']} reports (median of {w['repeats']})"
    ratio = r["ratio_kubetune_vs_plain_reuse"]
    return [
        row(
            "overhead",
            f"{figure}: kubetune",
            med["kubetune"],
            "s",
            baseline="plain Ray Tune, reuse_actors (same settings)",
            baseline_value=med["plain-reuse"],
            target="<= 1.05",
            met=ratio <= 1.05,
        ),
        row(
            "overhead",
            f"{figure}: kubetune",
            med["kubetune"],
            "s",
            baseline="plain Ray Tune, Ray's defaults",
            baseline_value=med["plain"],
        ),
    ]


def exporter_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    rate = r["ingest"]["results_per_second"]
    rows = [
        row(
            "exporter",
            "ingest through HTTP, batches of 500, one core",
            rate["http"],
            "results/s",
            baseline="store.apply alone",
            baseline_value=rate["store_apply"],
            target=">= 20,000/s",
            met=rate["http"] >= 20_000,
        )
    ]
    for s in r["render"]:
        is_target = s["live_trials"] == 2000
        rows.append(
            row(
                "exporter",
                f"/metrics render, {s['live_trials']:,} live trials ({s['series']:,} series)",
                s["render_ms"],
                "ms",
                baseline="prometheus_client.generate_latest",
                baseline_value=s["generate_latest_ms"],
                target="<= 100 ms at ~10,000 series" if is_target else "",
                met=s["render_ms"] <= 100 if is_target else None,
            )
        )
    for s in r["render"]:
        rows.append(
            row(
                "exporter",
                f"store memory, {s['live_trials']:,} tracked trials (Python allocations)",
                s["store_python_bytes"] / 2**20,
                "MiB",
                target=f"{s['store_python_bytes_per_trial']:.0f} bytes/trial; bounded by the eviction policy",
            )
        )
    return rows


def operator_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for backend, result in r["backends"].items():
        shapes = result["shapes"]
        base_name = next(name for name in shapes if name.startswith("baseline"))
        base = shapes[base_name]["median_ms"]
        for name, s in shapes.items():
            if name == base_name:
                continue
            paced = name.startswith("paced")
            rows.append(
                row(
                    "operator",
                    f"{backend}: TuneExperiment -> RayJob, {r['experiments']} experiments, {name} (median)",
                    s["median_ms"],
                    "ms",
                    baseline="a client creates both objects (same server)",
                    baseline_value=base,
                    target="<= 100 ms" if paced else "",
                    met=s["median_ms"] <= 100 if paced else None,
                )
            )
        server = result.get("server") or {}
        if server.get("started_seconds") is not None:
            rows.append(row("operator", f"{backend}: control plane start (etcd, API server, controllers)",
                            server["started_seconds"], "s"))  # fmt: skip
            rss = server.get("rss_mib_after_run") or server.get("rss_mib_after_crds") or {}
            rows.append(row("operator", f"{backend}: control plane memory after the run (RSS)", sum(rss.values()),
                            "MiB", target=", ".join(f"{k} {v}" for k, v in rss.items())))  # fmt: skip
    return rows


def search_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    baseline = r["baseline"]
    for name, w in r["workloads"].items():
        s = w["summary"]
        direct = [x for strategy, x in s["rows"].items() if strategy in DIRECT]
        direct_best = min(
            (d["compute_to_target_median"] for d in direct if d["compute_to_target_median"] is not None),
            default=math.inf,
        )
        for strategy, x in s["rows"].items():
            c = x["compute_to_target_median"]
            ratio = x["compute_ratio"]
            is_direct = strategy in DIRECT
            met = None
            if strategy != baseline and not is_direct:
                met = ratio is not None and ratio <= 1 / 3 and c is not None and c <= direct_best
            rows.append(
                row(
                    "search",
                    f"{name} ({w['metric']} >= {s['target']:.4f}, budget {w['budget']}): {strategy}, "
                    f"compute to target ({x['reached']}/{len(x['compute_to_target'])} seeds reached)",
                    c,
                    "trial-iterations",
                    baseline=baseline,
                    baseline_value=s["rows"][baseline]["compute_to_target_median"],
                    ratio=ratio,
                    target="<= 1/3 and <= Optuna direct" if met is not None else "",
                    met=met,
                )
            )
            rows.append(
                row(
                    "search",
                    f"{name}: {strategy}, best {w['metric']} at budget, median "
                    f"[{x['best_min']:.4f}, {x['best_max']:.4f}]",
                    x["best_median"],
                    w["metric"],
                    baseline=baseline,
                    baseline_value=s["rows"][baseline]["best_median"],
                )
            )
            rows.append(
                row(
                    "search",
                    f"{name}: {strategy}, wall time (median)",
                    x["wall_s_median"],
                    "s",
                    baseline=baseline,
                    baseline_value=s["rows"][baseline]["wall_s_median"],
                )
            )
    return rows


COLLECT = {"overhead": overhead_rows, "exporter": exporter_rows, "operator": operator_rows, "search": search_rows}


def _versions() -> dict[str, str]:
    out = {}
    for dist in VERSIONED:
        for name in (dist, f"{dist}-cpu"):  # xgboost-cpu is the CPU wheel of xgboost
            try:
                out[dist] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                out[dist] = "missing"
    return out


def _quick(name: str, r: dict[str, Any]) -> bool:
    if name == "overhead":
        return bool(r["workload"]["trials"] < 40)
    if name == "search":
        return bool(r["mode"] != "full")
    return bool(r.get("quick", False))


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}" if abs(value) >= 0.01 else f"{value:.2g}"


def render_md(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# kubetune benchmark results",
        "",
        f"- date: {report['date']}",
        f"- machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in report['versions'].items())}",
        "- benchmarks: "
        + ", ".join(
            f"{name} ({'not run' if info is None else 'quick' if info['quick'] else 'full'})"
            for name, info in report["benchmarks"].items()
        ),
        "",
        "Every figure is measured against its baseline in the same run; `ratio` = value / baseline.",
        "",
        "| benchmark | figure | value | unit | baseline | baseline value | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(
            f"| {r['benchmark']} | {r['figure']} | {_fmt(r['value'])} | {r['unit']} | {r['baseline']} | "
            f"{_fmt(r['baseline_value'])} | {_fmt(r['ratio'])} | {r['target']} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=REPO / "bench/out", help="where the benchmarks wrote JSON")
    parser.add_argument("--out-md", type=Path, default=None, help="markdown table (default: DIR/results.md)")
    parser.add_argument("--out-json", type=Path, default=None, help="JSON table (default: DIR/results.json)")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    benchmarks: dict[str, Any] = {}
    for name in BENCHMARKS:
        path = args.dir / f"{name}.json"
        if not path.is_file():
            benchmarks[name] = None
            continue
        data = json.loads(path.read_text())
        benchmarks[name] = {"file": str(path), "quick": _quick(name, data), "date": data.get("date")}
        rows.extend(COLLECT[name](data))
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "platform": platform.platform(),
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
        },
        "versions": _versions(),
        "benchmarks": benchmarks,
        "rows": rows,
    }
    out_md = args.out_md or args.dir / "results.md"
    out_json = args.out_json or args.dir / "results.json"
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(render_md(report))
    out_json.write_text(json.dumps(report, indent=2) + "\n")
    print(render_md(report))
    print(f"wrote {out_md} and {out_json}", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
