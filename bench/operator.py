"""Benchmark of the operator: time from a TuneExperiment's creation to the creation of its RayJob.

    .venv/bin/python bench/operator.py [--quick] [--out bench/out/operator.json]

The operator runs in this process against the API emulator of the tests (``tests/operator/kube.py``: kmock
behind real HTTP, the real ``kubernetes`` client). The emulator stamps every object's creation time
(``perf_counter``), so a latency is *RayJob created - TuneExperiment created*, both as the API server saw them.
Client, operator and emulator share one process (and the GIL): absolute times are pessimistic. Shapes:

(a) baseline: a client creates the TuneExperiment, then builds and creates the RayJob itself: the floor of one
    more API round trip plus building the RayJob, with no watch, queue or status write;
(b) paced: experiments created one at a time, one every 20 ms, on the default settings: what "a new experiment"
    waits for on a running operator (target: median <= 100 ms);
(c) burst: N experiments created as fast as 8 client threads can, on the default settings (the client-side rate
    limit, 100 requests/s after a burst of 200, then dominates), and again with the rate limit lifted (the
    operator's own capacity).

Reported per shape: median, p90 and max latency, the median's ratio to the baseline's, and RayJobs created per
second from the first creation to the last. ``--quick``: 50 experiments instead of 200.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the emulator lives with the tests

from kubernetes import client  # noqa: E402

from kubetune.kube.rayjobs import RayJobSettings, build_rayjob  # noqa: E402
from kubetune.spec import load_object  # noqa: E402
from kubetune_operator import Operator, OperatorSettings  # noqa: E402
from kubetune_operator.settings import ApiSettings, ServerSettings  # noqa: E402
from tests.operator.kube import Emulator, running  # noqa: E402

TOKEN = "bench-token"
GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuneexperiments"
DEFAULTS = OperatorSettings(
    namespace="kubetune",
    server=ServerSettings(host="127.0.0.1", port=0),
    rayjob=RayJobSettings(default_storage_path="s3://bench/kubetune"),
)


def document(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "TuneExperiment", "metadata": {"name": name, "namespace": "ml"},
        "spec": {"trainable": "jobs.mnist_torch.trainable:train", "metric": "mean_accuracy", "mode": "max",
                 "searchSpace": {"lr": {"loguniform": [1e-4, 1e-1]}, "momentum": {"uniform": [0.1, 0.9]}},
                 "numSamples": 8, "scheduler": {"type": "asha", "maxT": 10}},
    }  # fmt: skip


def api_client(emu: Emulator) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = emu.url
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


def latencies(emu: Emulator, names: list[str]) -> list[float]:
    created = emu.server.created_at
    return [created[("rayjobs", "ml", n)] - created[("tuneexperiments", "ml", n)] for n in names]


def wait_for(emu: Emulator, names: list[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    keys = [("rayjobs", "ml", n) for n in names]
    while not all(k in emu.server.created_at for k in keys):
        if time.monotonic() > deadline:
            raise RuntimeError("not every RayJob was created in time")
        time.sleep(0.01)


def summarize(values: list[float], emu: Emulator, names: list[str]) -> dict[str, Any]:
    ms = sorted(v * 1000 for v in values)
    created = emu.server.created_at
    first = min(created[("tuneexperiments", "ml", n)] for n in names)
    last = max(created[("rayjobs", "ml", n)] for n in names)
    return {
        "experiments": len(names),
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2),
        "max_ms": round(ms[-1], 2),
        "rayjobs_per_second": round(len(names) / (last - first), 1),
    }


def bench_baseline(n: int) -> dict[str, Any]:
    with running() as emu, api_client(emu) as api:
        objects = client.CustomObjectsApi(api)
        names = [f"base-{i:03d}" for i in range(n)]
        settings = RayJobSettings(default_storage_path="s3://bench/kubetune")
        for name in names:
            exp = objects.create_namespaced_custom_object(GROUP, VERSION, "ml", PLURAL, document(name))
            job = build_rayjob(load_object(exp), settings=settings, owner=exp)
            objects.create_namespaced_custom_object("ray.io", "v1", "ml", "rayjobs", job)
        return summarize(latencies(emu, names), emu, names)


def bench_operator(n: int, *, settings: OperatorSettings, paced: float | None) -> dict[str, Any]:
    with running() as emu, api_client(emu) as api:
        op = Operator(settings=settings, api_client=api_client(emu), token=TOKEN)
        op.start()
        try:
            if not op.wait_ready(10):
                raise RuntimeError("the operator did not become ready")
            objects = client.CustomObjectsApi(api)
            names = [f"exp-{i:03d}" for i in range(n)]
            if paced is not None:
                for name in names:
                    objects.create_namespaced_custom_object(GROUP, VERSION, "ml", PLURAL, document(name))
                    time.sleep(paced)
            else:
                with ThreadPoolExecutor(8) as pool:
                    create = objects.create_namespaced_custom_object
                    list(pool.map(lambda name: create(GROUP, VERSION, "ml", PLURAL, document(name)), names))
            wait_for(emu, names)
            jobs = {j["metadata"]["name"] for j in emu.objects("rayjobs")}
            if jobs != set(names):
                raise RuntimeError(f"{len(jobs)} RayJobs for {n} experiments")
            return summarize(latencies(emu, names), emu, names)
        finally:
            op.stop(grace_seconds=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 experiments instead of 200")
    parser.add_argument("--out", type=Path, default=REPO / "bench/out/operator.json")
    args = parser.parse_args(argv)
    n = 50 if args.quick else 200

    baseline = bench_baseline(n)
    unlimited = replace(DEFAULTS, api=ApiSettings(qps=1e6, burst=1_000_000))
    shapes = {
        "baseline (client creates both)": baseline,
        "paced, 1 per 20 ms, defaults": bench_operator(n, settings=DEFAULTS, paced=0.02),
        "burst, defaults": bench_operator(n, settings=DEFAULTS, paced=None),
        "burst, rate limit lifted": bench_operator(n, settings=unlimited, paced=None),
    }
    for row in shapes.values():
        row["median_vs_baseline"] = round(row["median_ms"] / baseline["median_ms"], 2)
    paced = shapes["paced, 1 per 20 ms, defaults"]
    report = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "quick": args.quick,
        "experiments": n,
        "operator_settings": {
            "workers": DEFAULTS.reconcile.workers,
            "qps": DEFAULTS.api.qps,
            "burst": DEFAULTS.api.burst,
        },
        "shapes": shapes,
        "target": {"median_ms": 100, "measured_ms": paced["median_ms"], "met": paced["median_ms"] <= 100},
    }
    print(f"TuneExperiment created -> RayJob created, {n} experiments")
    print(f"  {'shape':<34} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'x baseline':>11} {'RayJobs/s':>10}")
    for name, row in shapes.items():
        print(f"  {name:<34} {row['median_ms']:>10.1f} {row['p90_ms']:>8.1f} {row['max_ms']:>8.1f}"
              f" {row['median_vs_baseline']:>11.2f} {row['rayjobs_per_second']:>10.1f}")  # fmt: skip
    print(f"  target: median <= 100 ms for a new experiment (paced): {'met' if report['target']['met'] else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
