"""Benchmark of the trial-metrics exporter: ingest throughput, /metrics render time, memory.

    .venv/bin/python bench/exporter.py [--quick] [--out bench/out/exporter.json] [--no-pin]

(a) Results ingested per second in batches of 500: ``store.apply`` alone (the baseline), pydantic parsing
    plus apply in-process, and through real HTTP (keep-alive ``http.client`` against the threaded server, in
    one process pinned to one core, so client and server share it). Target: >= 20,000 results/s via HTTP.
(b) ``/metrics`` render time with 1,000 / 2,000 / 10,000 / 100,000 live trials (experiments of 1,000 trials,
    the default per-experiment cap; 4 metrics per trial, so 5 series per trial: 2,000 trials are the
    10,000-series target row, <= 100 ms). Every experiment is changed before each scrape, so the snapshot
    copy is included (the worst case under continuous ingest). Median of several scrapes: in-process with
    the served encoder in the text format (``encode_text``, "render") and in OpenMetrics (what Prometheus
    negotiates), ``prometheus_client.generate_latest`` as the baseline, and end to end over HTTP with
    Prometheus's Accept header.
(c) Memory: RSS delta (``/proc/self/statm``) and Python allocations (``tracemalloc``) of the filled store,
    and the allocation peak of one scrape.

``--quick`` uses small sizes and finishes in seconds. Prints a table; writes JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from kubetune.exporter import ExperimentStore, Exporter, StoreLimits
from kubetune.exporter.collector import encode, encode_text
from kubetune.reporting.events import Batch

TOKEN = "bench-token"
BATCH = 500
METRICS = ("mean_accuracy", "loss", "time_total_s", "lr_now")
#: What Prometheus 2.x sends when it scrapes (it gets OpenMetrics 1.0.0).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def result_bodies(batches: int, *, trials: int = 100) -> list[bytes]:
    """Serialized batches of 500 results spread over ``trials`` running trials, one sender."""
    ref = {"namespace": "bench", "name": "ingest", "metric": "mean_accuracy", "mode": "max"}
    bodies = []
    for b in range(batches):
        events = []
        for i in range(BATCH):
            n = b * BATCH + i
            metrics = {name: (n * 0.6180339887 + k) % 1.0 for k, name in enumerate(METRICS)}
            trial = f"train_bench_{n % trials:05d}"
            events.append(
                {"kind": "result", "trial": trial, "iteration": n // trials, "time": 1.7e9, "metrics": metrics}
            )
        bodies.append(json.dumps({"experiment": ref, "sender": "bench", "seq": b, "events": events}).encode())
    return bodies


def bench_ingest(batches: int) -> dict[str, Any]:
    bodies = result_bodies(batches)
    results = batches * BATCH
    for body in result_bodies(4):  # warm-up: imports, pydantic and allocator caches
        ExperimentStore().apply(Batch.model_validate_json(body))

    started = time.perf_counter()
    for body in bodies:  # parsed and dropped: keeping 100,000 events alive would time the GC instead
        Batch.model_validate_json(body)
    parse_s = time.perf_counter() - started
    parsed = [Batch.model_validate_json(body) for body in bodies]

    store = ExperimentStore()
    started = time.perf_counter()
    for batch in parsed:
        store.apply(batch)
    apply_s = time.perf_counter() - started

    store = ExperimentStore()
    started = time.perf_counter()
    for body in bodies:
        store.apply(Batch.model_validate_json(body))
    in_process_s = time.perf_counter() - started

    store = ExperimentStore()
    with Exporter(store=store, registry=CollectorRegistry(), token=TOKEN) as exporter:
        connection = http.client.HTTPConnection("127.0.0.1", exporter.port)
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        started = time.perf_counter()
        for body in bodies:
            connection.request("POST", "/api/v1/ingest", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"ingest answered {response.status}")
        http_s = time.perf_counter() - started
        connection.close()
    summary = store.summary("bench", "ingest")
    if summary is None or summary.results_total != results:
        raise RuntimeError(f"the store holds {summary} after {results} results")

    rate = {"store_apply": results / apply_s, "parse": results / parse_s}
    rate["parse_and_apply"] = results / in_process_s
    rate["http"] = results / http_s
    return {
        "batches": batches,
        "batch_size": BATCH,
        "results": results,
        "results_per_second": rate,
        "http_vs_store_apply": rate["http"] / rate["store_apply"],
        "http_vs_parse_and_apply": rate["http"] / rate["parse_and_apply"],
        "target_results_per_second": 20_000,
        "target_met": rate["http"] >= 20_000,
    }


def fill(store: ExperimentStore, live_trials: int) -> None:
    """``live_trials`` RUNNING trials with one result each, in experiments of (at most) 1,000 trials."""
    per = store.limits.max_trials_per_experiment
    for e, start in enumerate(range(0, live_trials, per)):
        ref = {"namespace": "bench", "name": f"exp-{e:03d}", "metric": "mean_accuracy", "mode": "max"}
        ids = [f"train_{e:03d}_{i:05d}" for i in range(start, min(start + per, live_trials))]
        trials = [{"kind": "trial", "trial": t, "state": "RUNNING", "time": 1.7e9, "config": {"lr": 0.1}} for t in ids]
        results = [
            {"kind": "result", "trial": t, "iteration": 1, "time": 1.7e9, "metrics": dict.fromkeys(METRICS, i / 7)}
            for i, t in enumerate(ids)
        ]
        store.apply(Batch.model_validate({"experiment": ref, "sender": f"s{e}", "seq": 0, "events": trials}))
        store.apply(Batch.model_validate({"experiment": ref, "sender": f"s{e}", "seq": 1, "events": results}))


def touch_all(store: ExperimentStore, seq: int) -> None:
    """One result per experiment, so the next snapshot copies every experiment again."""
    for e, view in enumerate(store.snapshot().experiments):
        ref = {"namespace": "bench", "name": view.summary.name, "metric": "mean_accuracy", "mode": "max"}
        trial = next(iter(view.trials))
        event = {"kind": "result", "trial": trial, "iteration": seq, "time": 1.7e9, "metrics": {"loss": 0.5}}
        store.apply(Batch.model_validate({"experiment": ref, "sender": f"s{e}", "seq": seq, "events": [event]}))


def timed(repeat: int, prepare: Callable[[int], None], run: Callable[[], object]) -> float:
    """Median seconds of ``run`` over ``repeat`` runs, each after ``prepare(i)`` (not timed)."""
    times = []
    for i in range(repeat):
        prepare(i)
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_size(live_trials: int, repeat: int) -> dict[str, Any]:
    limits = StoreLimits(max_experiments=max(200, live_trials // 1000 + 1))
    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    store = ExperimentStore(limits=limits)
    fill(store, live_trials)
    store_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    gc.collect()
    rss_store = rss_bytes() - rss_before

    registry = CollectorRegistry()
    with Exporter(store=store, registry=registry, token=TOKEN) as exporter:
        seq = iter(range(2, 10**9))

        def prepare(_: int) -> None:
            touch_all(store, next(seq))

        body = encode_text(registry)
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        render_s = timed(repeat, prepare, lambda: encode_text(registry))
        openmetrics_s = timed(repeat, prepare, lambda: encode(registry, PROMETHEUS_ACCEPT))
        baseline_s = timed(repeat, prepare, lambda: generate_latest(registry))
        snapshot_s = timed(repeat, prepare, store.snapshot)
        connection = http.client.HTTPConnection("127.0.0.1", exporter.port)

        def scrape() -> None:
            connection.request("GET", "/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
            connection.getresponse().read()

        http_s = timed(repeat, prepare, scrape)
        connection.close()

        prepare(0)
        tracemalloc.start()
        encode_text(registry)
        scrape_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "live_trials": live_trials,
        "series": series,
        "exposition_bytes": len(body),
        "render_ms": render_s * 1000,
        "render_ms_per_10k_series": render_s * 1000 * 10_000 / series,
        "render_openmetrics_ms": openmetrics_s * 1000,
        "generate_latest_ms": baseline_s * 1000,
        "speedup_vs_generate_latest": baseline_s / render_s,
        "snapshot_ms": snapshot_s * 1000,
        "http_scrape_ms": http_s * 1000,
        "store_python_bytes": store_bytes,
        "store_python_bytes_per_trial": store_bytes / live_trials,
        "store_rss_delta_bytes": rss_store,
        "scrape_peak_python_bytes": scrape_peak,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--out", type=Path, default=Path("bench/out/exporter.json"))
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    args = parser.parse_args(argv)

    cpus = sorted(os.sched_getaffinity(0))
    if not args.no_pin:
        os.sched_setaffinity(0, {cpus[-1]})
    sizes = [1000, 2000] if args.quick else [1000, 2000, 10_000, 100_000]
    ingest = bench_ingest(20 if args.quick else 200)
    rows = [bench_size(n, 3 if args.quick else (3 if n >= 100_000 else 7)) for n in sizes]
    target_row = next(r for r in rows if r["live_trials"] == 2000)
    report = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus_available": len(cpus),
        "pinned_to_one_cpu": not args.no_pin,
        "quick": args.quick,
        "ingest": ingest,
        "render": rows,
        "render_target": {
            "series": target_row["series"],
            "ms": target_row["render_ms"],
            "target_ms": 100,
            "target_met": target_row["render_ms"] <= 100,
        },
    }

    rate = ingest["results_per_second"]
    print(f"ingest, batches of {BATCH} ({ingest['results']:,} results)   results/s   vs store.apply")
    for name in ("store_apply", "parse", "parse_and_apply", "http"):
        print(f"  {name:<42} {rate[name]:>10,.0f}   {rate[name] / rate['store_apply']:>6.2f}")
    print(f"  target via http >= 20,000/s: {'met' if ingest['target_met'] else 'NOT met'}")
    print()
    print(
        "live trials   series  render ms  ms/10k series  openmetrics ms  generate_latest ms  snapshot ms  http ms"
        "  store MiB  B/trial  RSS MiB  scrape peak MiB"
    )
    mib = 1024 * 1024
    for r in rows:
        print(
            f"{r['live_trials']:>11,} {r['series']:>8,} {r['render_ms']:>10.1f} {r['render_ms_per_10k_series']:>14.1f}"
            f" {r['render_openmetrics_ms']:>15.1f} {r['generate_latest_ms']:>19.1f}"
            f" {r['snapshot_ms']:>12.2f} {r['http_scrape_ms']:>8.1f}"
            f" {r['store_python_bytes'] / mib:>10.1f}"
            f" {r['store_python_bytes_per_trial']:>8.0f} {r['store_rss_delta_bytes'] / mib:>8.1f}"
            f" {r['scrape_peak_python_bytes'] / mib:>16.1f}"
        )
    verdict = "met" if report["render_target"]["target_met"] else "NOT met"
    print(f"  target render <= 100 ms at ~10,000 series: {verdict}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
