"""Benchmark of the operator: time from a TuneExperiment's creation to its RayJob, on two API servers.

    .venv/bin/python bench/operator.py [--quick] [--backend emulator|apiserver|both] [--out bench/out/operator.json]

Backends: the tests' API emulator (kmock behind real HTTP, in this process) and the real kube-apiserver 1.20.2 +
etcd of the tests (tests/cluster; ``make control-plane`` obtains it). The operator runs in this process with the
real ``kubernetes`` client. A latency is measured the same way on both: from the moment the client's create of
the TuneExperiment returned to the moment a watch in this process sees the RayJob (so both include one watch
delivery). Shapes, each on both backends:

(a) baseline: the client creates the TuneExperiment, then builds and creates the RayJob itself: one more API
    round trip plus building the RayJob, with no watch, queue or status write on the way;
(b) paced: N experiments created at a fixed rate on the default settings (what a new experiment waits for);
(c) burst: N experiments created as fast as 8 client threads can, on the default settings, and again with the
    client rate limit lifted (the operator's own capacity).

Reported per shape: median, p90, p99 and max latency, the median's ratio to the same backend's baseline, and
RayJobs per second from the first creation to the last. For the real server also: its start time and memory
(``bench/controlplane.py`` has the details). ``--quick``: 50 experiments instead of 200.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the API servers live with the tests

from kubernetes import client  # noqa: E402

from kubetune.kube.rayjobs import RayJobSettings, build_rayjob  # noqa: E402
from kubetune.spec import load_object  # noqa: E402
from kubetune_operator import Operator, OperatorSettings  # noqa: E402
from kubetune_operator.settings import ApiSettings, ServerSettings, WatchSettings  # noqa: E402

TOKEN = "bench-token"
GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuneexperiments"
NAMESPACE = "ml"
DEFAULTS = OperatorSettings(
    namespace="kubetune",
    server=ServerSettings(host="127.0.0.1", port=0),
    rayjob=RayJobSettings(default_storage_path="s3://bench/kubetune"),
)


def document(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "TuneExperiment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"trainable": "jobs.mnist_torch.trainable:train", "metric": "mean_accuracy", "mode": "max",
                 "searchSpace": {"lr": {"loguniform": [1e-4, 1e-1]}, "momentum": {"uniform": [0.1, 0.9]}},
                 "numSamples": 8, "scheduler": {"type": "asha", "maxT": 10}},
    }  # fmt: skip


# -- backends ------------------------------------------------------------------------------------------------


@dataclass
class Backend:
    """An API server for every shape of one kind (``--backend``); each shape works in a namespace of its own."""

    name: str
    new_client: Callable[[], client.ApiClient]
    info: dict[str, Any]
    create_namespace: Callable[[str], None] = lambda name: None


@contextlib.contextmanager
def emulator() -> Iterator[Backend]:
    from tests.emulator.kube import running

    with running() as emu:

        def new_client() -> client.ApiClient:
            configuration = client.Configuration()
            configuration.host = emu.url
            configuration.connection_pool_maxsize = 32
            return client.ApiClient(configuration)

        yield Backend("emulator", new_client, {})


@contextlib.contextmanager
def apiserver() -> Iterator[Backend]:
    from tests.cluster.cluster import Cluster
    from tests.cluster.controlplane import ControlPlane, find_binaries
    from tests.cluster.fixtures import install_crds

    with tempfile.TemporaryDirectory(prefix="kt-bench-") as tmp:
        plane = ControlPlane(bin_dir=find_binaries(), workdir=Path(tmp))
        plane.start()
        try:
            cluster = Cluster(kubeconfig=plane.kubeconfig, control_plane=plane, workdir=Path(tmp))
            install_crds(cluster)

            def create_namespace(name: str) -> None:
                cluster.core.create_namespace({"metadata": {"name": name}})

            create_namespace(DEFAULTS.namespace)
            info = {"ready_seconds": round(plane.ready_after, 2), "started_seconds": round(plane.started_after, 2),
                    "rss_mib_after_crds": {k: round(v) for k, v in plane.rss_mib().items()}}  # fmt: skip
            yield Backend("apiserver", lambda: cluster.new_client(pool=32), info, create_namespace)
            info["rss_mib_after_run"] = {k: round(v) for k, v in plane.rss_mib().items()}
        finally:
            plane.stop()


BACKENDS = {"emulator": emulator, "apiserver": apiserver}


# -- measuring -----------------------------------------------------------------------------------------------


class RayJobWatch:
    """When this process first saw each RayJob (a watch on the namespace, started before anything is created)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.seen: dict[str, float] = {}
        self.namespace = namespace
        self._objects = client.CustomObjectsApi(api)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def _run(self) -> None:
        version = self._objects.list_namespaced_custom_object("ray.io", "v1", self.namespace, "rayjobs")["metadata"][
            "resourceVersion"
        ]
        self._ready.set()
        while not self._stop.is_set():
            response = self._objects.list_namespaced_custom_object(
                "ray.io", "v1", self.namespace, "rayjobs", watch=True, resource_version=version, timeout_seconds=5,
                allow_watch_bookmarks=True, _preload_content=False,
            )  # fmt: skip
            for line in response:
                for part in line.splitlines():
                    if not part.strip():
                        continue
                    event = json.loads(part)
                    meta = event["object"]["metadata"]
                    version = meta.get("resourceVersion", version)
                    if event["type"] == "ADDED":
                        self.seen.setdefault(meta["name"], time.perf_counter())

    def wait(self, names: list[str], timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(n in self.seen for n in names):
            if time.monotonic() > deadline:
                missing = [n for n in names if n not in self.seen]
                raise RuntimeError(f"{len(missing)} RayJobs not seen within {timeout} s")
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()


def summarize(created: dict[str, float], seen: dict[str, float]) -> dict[str, Any]:
    names = sorted(created)
    ms = sorted((seen[n] - created[n]) * 1000 for n in names)
    first, last = min(created.values()), max(seen[n] for n in names)

    def pct(q: float) -> float:
        return round(ms[min(len(ms) - 1, int(q * len(ms)))], 2)

    return {"experiments": len(names), "median_ms": round(statistics.median(ms), 2), "p90_ms": pct(0.9),
            "p99_ms": pct(0.99), "max_ms": round(ms[-1], 2),
            "rayjobs_per_second": round(len(names) / (last - first), 1)}  # fmt: skip


def create_all(objects: client.CustomObjectsApi, names: list[str], namespace: str, *,
               paced: float | None) -> dict[str, float]:  # fmt: skip
    created: dict[str, float] = {}

    def create(name: str) -> None:
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, document(name, namespace))
        created[name] = time.perf_counter()

    if paced is not None:
        start = time.perf_counter()
        for i, name in enumerate(names):
            time.sleep(max(0.0, start + i * paced - time.perf_counter()))
            create(name)
    else:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, names))
    return created


def bench_baseline(backend: Backend, n: int, namespace: str) -> dict[str, Any]:
    with backend.new_client() as api:
        objects, watch = client.CustomObjectsApi(api), RayJobWatch(backend.new_client(), namespace)
        settings = RayJobSettings(default_storage_path="s3://bench/kubetune")
        created: dict[str, float] = {}
        for i in range(n):
            name = f"base-{i:04d}"
            exp = objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, document(name, namespace))
            created[name] = time.perf_counter()
            job = build_rayjob(load_object(exp), settings=settings, owner=exp)
            objects.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", job)
        watch.wait(list(created))
        watch.stop()
        return summarize(created, watch.seen)


def bench_operator(backend: Backend, n: int, namespace: str, *, settings: OperatorSettings,
                   paced: float | None) -> dict[str, Any]:  # fmt: skip
    settings = replace(settings, watch=WatchSettings(namespaces=(settings.namespace, namespace)))
    op = Operator(settings=settings, api_client=backend.new_client(), token=TOKEN)
    op.start()
    try:
        if not op.wait_ready(30):
            raise RuntimeError("the operator did not become ready")
        with backend.new_client() as api:
            watch = RayJobWatch(backend.new_client(), namespace)
            names = [f"exp-{i:04d}" for i in range(n)]
            created = create_all(client.CustomObjectsApi(api), names, namespace, paced=paced)
            watch.wait(names)
            watch.stop()
            return summarize(created, watch.seen)
    finally:
        op.stop(grace_seconds=5)


def run_backend(kind: str, n: int, pace: float) -> dict[str, Any]:
    unlimited = replace(DEFAULTS, api=ApiSettings(qps=1e6, burst=1_000_000))
    plan: dict[str, Callable[[Backend, str], dict[str, Any]]] = {
        "baseline (client creates both)": lambda b, ns: bench_baseline(b, n, ns),
        f"paced, 1 per {pace * 1000:.0f} ms, defaults":
            lambda b, ns: bench_operator(b, n, ns, settings=DEFAULTS, paced=pace),
        "burst, defaults": lambda b, ns: bench_operator(b, n, ns, settings=DEFAULTS, paced=None),
        "burst, rate limit lifted": lambda b, ns: bench_operator(b, n, ns, settings=unlimited, paced=None),
    }  # fmt: skip
    shapes = {}
    with BACKENDS[kind]() as backend:
        for i, (shape, measure) in enumerate(plan.items()):
            namespace = f"{NAMESPACE}-{i}"
            backend.create_namespace(namespace)
            shapes[shape] = measure(backend, namespace)
    base = shapes["baseline (client creates both)"]["median_ms"]
    for row in shapes.values():
        row["median_vs_baseline"] = round(row["median_ms"] / base, 2)
    return {"shapes": shapes, "server": backend.info}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 experiments instead of 200")
    parser.add_argument("--backend", choices=("emulator", "apiserver", "both"), default="both")
    parser.add_argument("--pace", type=float, default=0.02, help="seconds between paced creations (default 0.02)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/out/operator.json")
    args = parser.parse_args(argv)
    n = 50 if args.quick else 200
    kinds = ("emulator", "apiserver") if args.backend == "both" else (args.backend,)
    backends = {kind: run_backend(kind, n, args.pace) for kind in kinds}
    paced_name = f"paced, 1 per {args.pace * 1000:.0f} ms, defaults"
    report = {
        "python": sys.version.split()[0], "machine": platform.machine(), "cpus_available": len(os.sched_getaffinity(0)),
        "quick": args.quick, "experiments": n,
        "operator_settings": {"workers": DEFAULTS.reconcile.workers, "qps": DEFAULTS.api.qps,
                              "burst": DEFAULTS.api.burst},
        "backends": backends,
        "target": {"median_ms": 100, "paced_shape": paced_name,
                   "measured_ms": {k: v["shapes"][paced_name]["median_ms"] for k, v in backends.items()}},
    }  # fmt: skip
    report["target"]["met"] = all(ms <= 100 for ms in report["target"]["measured_ms"].values())
    print(f"TuneExperiment created -> RayJob seen, {n} experiments")
    columns = ("median", "p90", "p99", "max", "x base", "jobs/s")
    print(f"  {'backend':<10} {'shape':<32} " + " ".join(f"{c:>8}" for c in columns))
    for kind, result in backends.items():
        for name, row in result["shapes"].items():
            values = (row["median_ms"], row["p90_ms"], row["p99_ms"], row["max_ms"], row["median_vs_baseline"],
                      row["rayjobs_per_second"])  # fmt: skip
            print(f"  {kind:<10} {name:<32} " + " ".join(f"{v:>8.1f}" for v in values))
        if result["server"]:
            print(f"  {kind}: {result['server']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
