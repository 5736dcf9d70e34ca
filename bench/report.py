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
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = ("overhead", "exporter", "operator", "search")
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
    """The issue's targets as ``bench/operator.py`` judged them, then the other shapes and the servers' figures."""
    rows = [
        row("operator", t["figure"], t["value"], t["unit"], baseline=t["baseline"],
            baseline_value=t["baseline_value"], target=t["target"], met=t["met"])
        for t in r.get("targets", [])
    ]  # fmt: skip
    judged = bool(r.get("targets"))  # the paced shape's median is a target row already
    for backend, result in r["backends"].items():
        shapes = result["shapes"]
        base_name = next(name for name in shapes if name.startswith("baseline"))
        base = shapes[base_name]["median_ms"]
        for name, s in shapes.items():
            if name == base_name:
                continue
            if not (judged and name.startswith("paced")):
                figure = f"{backend}: TuneExperiment -> RayJob, {s['experiments']} experiments, {name} (median)"
                rows.append(row("operator", figure, s["median_ms"], "ms", baseline="a client creates both objects",
                                baseline_value=base))  # fmt: skip
            if s.get("cpu_seconds"):
                cpu = s["cpu_seconds"]
                per = {k: v * 1000 / s["experiments"] for k, v in cpu.items()}
                split = ", ".join(f"{k} {v:.1f}" for k, v in per.items())
                rows.append(row("operator", f"{backend}: {name}, CPU per experiment (all processes)",
                                sum(per.values()), "ms", target=split))  # fmt: skip
            if "queue_oldest_peak_s" in s:
                rows.append(row("operator", f"{backend}: {name}, longest wait in the work queue (peak)",
                                s["queue_oldest_peak_s"], "s"))  # fmt: skip
        server = result.get("server") or {}
        if server.get("started_seconds") is not None:
            rows.append(row("operator", f"{backend}: control plane start (etcd, API server, controllers)",
                            server["started_seconds"], "s"))  # fmt: skip
            rss = server.get("rss_mib_after_run") or server.get("rss_mib_after_crds") or {}
            rows.append(row("operator", f"{backend}: control plane memory after the run (RSS)", sum(rss.values()),
                            "MiB", target=", ".join(f"{k} {v}" for k, v in rss.items())))  # fmt: skip
    memory = r.get("memory")
    if memory:
        held = f"{memory['per_experiment_kib']} KiB per experiment held"
        rows.append(row("operator", f"operator process RSS peak, {memory['experiments']} experiments",
                        memory["peak_mib"], "MiB", target=held))  # fmt: skip
        if "cpu_ms_per_experiment" in memory:
            rows.append(row("operator", "operator process CPU per new experiment (RayJob, Event, status)",
                            memory["cpu_ms_per_experiment"], "ms"))  # fmt: skip
    failover = r.get("failover")
    if failover:
        rows.append(row("operator", "failover: create (right after the kill) -> RayJob", failover["create_to_rayjob_s"],
                        "s", target=f"{failover['rayjobs']} RayJobs for {failover['experiments']} experiments, "
                        f"{failover['rayjob_creates_ok']} successful creates"))  # fmt: skip
    load = r.get("load_average")
    if load:
        rows.append(row("operator", "machine load average (1 min) before / after the operator benchmark",
                        load["before"][0], "", target=f"after: {load['after'][0]}"))  # fmt: skip
    return rows


def search_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Per workload: the issue's targets for the default strategy (as ``bench/search.py`` judged them), then each
    strategy's compute to the target, best at the budget and wall time, with 95 % intervals and paired p-values."""
    rows = []
    baseline, default = r["baseline"], r["default"]
    for name, w in r["workloads"].items():
        s = w["summary"]
        table = s["rows"]
        op = ">=" if w["mode"] == "max" else "<="
        where = f"{name} ({w['metric']} {op} {s['target']:.4f}, budget {w['budget']}, {r['seeds']} seeds)"
        rows.extend(_search_targets(where, w, default))
        for strategy, x in table.items():
            vs = x["vs"].get(baseline)
            p = "" if vs is None else f", p {vs['compute']['p']:.3g} vs {baseline}"
            rows.append(
                row(
                    "search",
                    f"{where}: {strategy}, compute to target, median {_ci(x['compute_ci'], 0)} "
                    f"({x['reached']}/{len(x['compute_to_target'])} seeds reached{p})",
                    x["compute_median"],
                    "trial-iterations",
                    baseline=baseline,
                    baseline_value=table[baseline]["compute_median"],
                    ratio=x["compute_ratio"],
                )
            )
            p = "" if vs is None else f", p {vs['best']['p']:.3g} vs {baseline}"
            rows.append(
                row(
                    "search",
                    f"{name}: {strategy}, best {w['metric']} at budget, median {_ci(x['best_ci'], 4)}{p}"
                    f"{_regret_note(w)}",
                    x["best_median"],
                    w["metric"],
                    baseline=baseline,
                    baseline_value=table[baseline]["best_median"],
                    ratio=_best_ratio(w, x["best_median"], table[baseline]["best_median"]),
                )
            )
            rows.append(
                row(
                    "search",
                    f"{name}: {strategy}, wall time (median)",
                    x["wall_s_median"],
                    "s",
                    baseline=baseline,
                    baseline_value=table[baseline]["wall_s_median"],
                )
            )
    return rows


def _search_targets(where: str, w: dict[str, Any], default: str) -> list[dict[str, Any]]:
    t = w.get("targets")
    if not t:
        return []
    table = w["summary"]["rows"]
    mine = table[default]
    random = t["compute_vs_random"]
    rows = [
        row(
            "search",
            f"{where}: {default} (default), compute to target, ratio CI {_ci(random['ci'], 2)}",
            mine["compute_median"],
            "trial-iterations",
            baseline="random-fifo",
            baseline_value=table["random-fifo"]["compute_median"],
            ratio=random["ratio"],
            target="<= 1/3 of random search",
            met=random["met"],
        )
    ]
    direct = t.get("compute_vs_direct")
    if direct:
        rows.append(
            row(
                "search",
                f"{where}: {default} (default), compute to target against Optuna direct, ratio CI "
                f"{_ci(direct['ci'], 2)}, p {direct['p']:.3g}",
                mine["compute_median"],
                "trial-iterations",
                baseline=direct["against"],
                baseline_value=table[direct["against"]]["compute_median"],
                ratio=direct["ratio"],
                target="<= 0.9 x Optuna direct",
                met=direct["met"],
            )
        )
    best = t.get("best_vs_direct")
    if best:
        rows.append(
            row(
                "search",
                f"{where}: {default} (default), best at budget against Optuna direct: {best['verdict']} "
                f"(p {best['p']:.3g})",
                mine["best_median"],
                w["metric"],
                baseline=best["against"],
                baseline_value=table[best["against"]]["best_median"],
                ratio=_best_ratio(w, mine["best_median"], table[best["against"]]["best_median"]),
                target="not worse than Optuna direct (p < 0.05); better on one workload",
                met=best["not_worse"],
            )
        )
    return rows


def _best_ratio(w: dict[str, Any], value: float, baseline: float) -> float | None:
    """Best over best; for a function with a known optimum (minimised), regret over regret."""
    optimum = w.get("optimum")
    if optimum is None:
        return value / baseline if baseline else None
    return (value - optimum) / (baseline - optimum) if baseline != optimum else None


def _regret_note(w: dict[str, Any]) -> str:
    return "" if w.get("optimum") is None else f" (ratio: regret to the optimum {w['optimum']})"


def _ci(ci: list[float | None] | None, digits: int) -> str:
    """A 95 % interval as text; ``None`` as an end means never reached (infinite)."""
    if ci is None:
        return "[95% CI unbounded]"
    lo, hi = ("inf" if v is None else f"{v:.{digits}f}" for v in ci)
    return f"[95% CI {lo}, {hi}]"


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
