"""Benchmark of the operator at scale: TuneExperiment → RayJob latency on two API servers, the emulator's own cost,
a real operator process's memory, and failover between two replicas.

    .venv/bin/python bench/operator.py [--quick] [--backend emulator|apiserver|both] [--no-failover]
                                       [--out bench/out/operator.json]

Backends: the tests' API emulator (kmock behind real HTTP, in this process) and the real kube-apiserver 1.20.2 +
etcd of the tests (tests/cluster; ``make control-plane`` obtains it). A latency is measured the same way on both:
from the moment the client's create of the TuneExperiment returned to the moment a watch in this process sees
the RayJob (so both include one watch delivery). The operator of the latency shapes runs in this process (with
the emulator, the client and the watch: one GIL) on the default settings unless a shape says otherwise.

(a) baseline: the client creates the TuneExperiment, then builds and creates the RayJob itself: one more API
    round trip plus building the RayJob, with no watch, queue or status write on the way (200 experiments);
(b) paced: N experiments created at 50 a second. Targets (N = 1,000): median <= 50 ms, p99 <= 500 ms;
(c) burst: N experiments created as fast as 8 client threads can. Target (N = 1,000): every RayJob within 15 s
    of the burst's first create; again with every client rate limit lifted (the operator's own capacity).
(d) the emulator's create time with 2,000 objects stored against an empty one (its garbage collector indexes
    owners, so a create costs the same however many objects it holds: it must never be what is measured);
(e) memory (real API server): RSS of a real ``kubetune operator`` process (``/proc/<pid>/status``), idle and
    holding N experiments with their RayJobs. Targets: <= 100 MiB idle, <= 150 MiB with 1,000;
(f) failover (real API server, ``bench/failover.py``): two real processes electing a leader, the leader
    SIGKILLed, an experiment created right after. Target: the other holds the Lease and has created that
    experiment's RayJob within leaseDurationSeconds + 1 s, with no duplicate RayJob (the operator's default
    lease of 15 s, the worst of 3 runs; one run of a 5 s lease with ``--quick``).

Every figure is written with its target to ``--out`` (``bench/report.py`` makes the table), with the machine's
load average before and after. ``--quick``: 80 experiments (what tests/bench runs); its figures are checked
against the same targets but say little about 1,000.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the API servers live with the tests

from kubernetes import client  # noqa: E402

from kubetune.kube.rayjobs import RayJobSettings, build_rayjob  # noqa: E402
from kubetune.spec import load_object  # noqa: E402
from kubetune_operator import Operator, OperatorSettings  # noqa: E402
from kubetune_operator.settings import ApiSettings, IngestSettings, ServerSettings, WatchSettings  # noqa: E402

TOKEN = "bench-token"
#: The in-process operators' token file (they re-read it for rotations); written by main().
TOKEN_FILE = Path(tempfile.gettempdir()) / f"kubetune-bench-token-{os.getpid()}"
GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuneexperiments"
NAMESPACE = "ml"
DEFAULTS = OperatorSettings(
    namespace="kubetune",
    server=ServerSettings(host="127.0.0.1", port=0),
    ingest=IngestSettings(token_file=str(TOKEN_FILE)),
    rayjob=RayJobSettings(default_storage_path="s3://bench/kubetune"),
)
#: Every client rate limit out of the way: what the operator does on its own.
LIFTED = ApiSettings(qps=1e6, burst=10**6, create_qps=1e6, create_burst=10**6, status_qps=1e6, status_burst=10**6,
                     event_qps=1e6, event_burst=10**6)  # fmt: skip
#: The issue's targets.
RATE = 50  # experiments a second, paced
PACED_MEDIAN_MS, PACED_P99_MS, BURST_ALL_S = 50, 500, 15
IDLE_MIB, LOADED_MIB = 100, 150
#: Objects stored when the emulator's create time is measured.
EMULATOR_FILL = 2000


def as_dict(found: object) -> dict[str, Any]:
    """An object or list the custom-objects API answered (the client types it ``object``)."""
    return cast("dict[str, Any]", found)


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
    #: The real API server's :class:`tests.cluster.cluster.Cluster` (None for the emulator).
    cluster: Any = field(default=None)
    #: Processes of the server outside this one, by name (their CPU time is counted per shape).
    server_pids: dict[str, int] = field(default_factory=dict)


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
                cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

            create_namespace(DEFAULTS.namespace)
            pids = {name: proc.pid for name, proc in plane._procs.items()}  # ControlPlane has no public pids
            settled, idle = settle(pids["kube-apiserver"])
            info = {"ready_seconds": round(plane.ready_after, 2), "started_seconds": round(plane.started_after, 2),
                    "settled_seconds": settled, "apiserver_idle_cores": idle,
                    "rss_mib_after_crds": {k: round(v) for k, v in plane.rss_mib().items()}}  # fmt: skip
            yield Backend("apiserver", lambda: cluster.new_client(pool=32), info, create_namespace, cluster, pids)
            info["rss_mib_after_run"] = {k: round(v) for k, v in plane.rss_mib().items()}
        finally:
            plane.stop()


BACKENDS = {"emulator": emulator, "apiserver": apiserver}


def settle(pid: int, *, below: float = 0.1, window: float = 3.0, timeout: float = 120.0) -> tuple[float, float]:
    """Wait until the process uses less than ``below`` of a core over ``window`` seconds: after the CRDs are
    installed, the API server rebuilds its OpenAPI document for a while (KubeRay's CRDs are megabytes), which would
    be counted against the first shape. (Seconds waited, cores used in the last window.)"""
    started = time.monotonic()
    while True:
        before = cpu_seconds(pid)
        time.sleep(window)
        cores = (cpu_seconds(pid) - before) / window
        if cores < below or time.monotonic() - started > timeout:
            return round(time.monotonic() - started, 1), round(cores, 3)


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
        listed = as_dict(self._objects.list_namespaced_custom_object("ray.io", "v1", self.namespace, "rayjobs"))
        version = listed["metadata"]["resourceVersion"]
        self._ready.set()
        while not self._stop.is_set():
            response: Any = self._objects.list_namespaced_custom_object(
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


def summarize(created: dict[str, float], seen: dict[str, float], *, started: float) -> dict[str, Any]:
    """Latency percentiles, and ``all_within_s``: from ``started`` (before the first create) to the last RayJob."""
    names = sorted(created)
    ms = sorted((seen[n] - created[n]) * 1000 for n in names)
    first, last = min(created.values()), max(seen[n] for n in names)

    def pct(q: float) -> float:
        return round(ms[min(len(ms) - 1, int(q * len(ms)))], 2)

    return {"experiments": len(names), "median_ms": round(statistics.median(ms), 2), "p90_ms": pct(0.9),
            "p99_ms": pct(0.99), "max_ms": round(ms[-1], 2), "all_within_s": round(last - started, 2),
            "rayjobs_per_second": round(len(names) / (last - first), 1)}  # fmt: skip


def create_all(objects: client.CustomObjectsApi, names: list[str], namespace: str, *,
               paced: float | None) -> tuple[float, dict[str, float]]:  # fmt: skip
    """Create the experiments (every ``paced`` seconds, or 8 threads at once): (when it began, when each returned)."""
    created: dict[str, float] = {}

    def create(name: str) -> None:
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, document(name, namespace))
        created[name] = time.perf_counter()

    start = time.perf_counter()
    if paced is not None:
        for i, name in enumerate(names):
            time.sleep(max(0.0, start + i * paced - time.perf_counter()))
            create(name)
    else:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, names))
    return start, created


def bench_baseline(backend: Backend, n: int, namespace: str) -> dict[str, Any]:
    with backend.new_client() as api:
        objects, watch = client.CustomObjectsApi(api), RayJobWatch(backend.new_client(), namespace)
        settings = RayJobSettings(default_storage_path="s3://bench/kubetune")
        created: dict[str, float] = {}
        start = time.perf_counter()
        for i in range(n):
            name = f"base-{i:04d}"
            exp = as_dict(objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                                  document(name, namespace)))  # fmt: skip
            created[name] = time.perf_counter()
            job = build_rayjob(load_object(exp), settings=settings, owner=exp)
            objects.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", job)
        watch.wait(list(created))
        watch.stop()
        return summarize(created, watch.seen, started=start)


class Sampler:
    """The largest value a gauge took, read every 50 ms on a thread (the work queue's oldest wait)."""

    def __init__(self, read: Callable[[], float]) -> None:
        self.peak = 0.0
        self._read, self._stop = read, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._read())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5)
        return round(self.peak, 2)


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
            sampler = Sampler(op.queue.oldest_age)
            names = [f"exp-{i:04d}" for i in range(n)]
            start, created = create_all(client.CustomObjectsApi(api), names, namespace, paced=paced)
            watch.wait(names)
            watch.stop()
            row = summarize(created, watch.seen, started=start)
            row["queue_oldest_peak_s"] = sampler.stop()
            return row
    finally:
        op.stop(grace_seconds=5)


PACED = f"paced, {RATE}/s, defaults"
BURST = "burst, defaults"


def run_backend(kind: str, n: int, *, extra: Callable[[Backend], dict[str, Any]] | None = None) -> dict[str, Any]:
    plan: dict[str, Callable[[Backend, str], dict[str, Any]]] = {
        "baseline (client creates both)": lambda b, ns: bench_baseline(b, min(n, 200), ns),
        PACED: lambda b, ns: bench_operator(b, n, ns, settings=DEFAULTS, paced=1 / RATE),
        BURST: lambda b, ns: bench_operator(b, n, ns, settings=DEFAULTS, paced=None),
        "burst, rate limits lifted": lambda b, ns: bench_operator(b, n, ns, settings=replace(DEFAULTS, api=LIFTED),
                                                                  paced=None),
    }  # fmt: skip
    shapes = {}
    with BACKENDS[kind]() as backend:
        for i, (shape, measure) in enumerate(plan.items()):
            namespace = f"{NAMESPACE}-{i}"
            backend.create_namespace(namespace)
            print(f"  {kind}: {shape} ...", flush=True)
            pids = {**backend.server_pids, "this process": os.getpid()}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            shapes[shape] = measure(backend, namespace)
            shapes[shape]["cpu_seconds"] = {
                name: round(cpu_seconds(pid) - before[name], 2) for name, pid in pids.items()
            }
        more = extra(backend) if extra is not None else {}
    base = shapes["baseline (client creates both)"]["median_ms"]
    for row in shapes.values():
        row["median_vs_baseline"] = round(row["median_ms"] / base, 2)
    return {"shapes": shapes, "server": backend.info, "extra": more}


# -- the emulator's own cost -----------------------------------------------------------------------------------


def emulator_creates(fill: int = EMULATOR_FILL, sample: int = 100) -> dict[str, Any]:
    """Median ms of one create (a TuneExperiment, then a RayJob it owns) on an empty emulator and on one holding
    ``fill`` objects, through the real client."""
    from tests.emulator.kube import running

    def pair(objects: client.CustomObjectsApi, name: str) -> float:
        started = time.perf_counter()
        owner = as_dict(objects.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                                document(name, NAMESPACE)))  # fmt: skip
        ref = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TuneExperiment", "name": name,
               "uid": owner["metadata"]["uid"], "controller": True}  # fmt: skip
        job = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name, "ownerReferences": [ref]},
               "spec": {"entrypoint": "python -m kubetune run"}}  # fmt: skip
        objects.create_namespaced_custom_object("ray.io", "v1", NAMESPACE, "rayjobs", job)
        return (time.perf_counter() - started) * 1000 / 2

    with running() as emu:
        configuration = client.Configuration()
        configuration.host = emu.url
        with client.ApiClient(configuration) as api:
            objects = client.CustomObjectsApi(api)
            empty = statistics.median(pair(objects, f"empty-{i}") for i in range(sample // 2))
            for i in range((fill - sample) // 2):
                pair(objects, f"fill-{i}")
            full = statistics.median(pair(objects, f"full-{i}") for i in range(sample // 2))
            stored = len(emu.objects("tuneexperiments")) + len(emu.objects("rayjobs"))
    return {"objects": stored, "empty_ms": round(empty, 3), "full_ms": round(full, 3),
            "ratio": round(full / empty, 2)}  # fmt: skip


# -- a real operator process: memory -----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak (``VmRSS``, ``VmHWM`` of /proc/<pid>/status), MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "peak": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}  # fmt: skip


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    raise RuntimeError(f"{name} is not on {url}/metrics")


def measure_memory(backend: Backend, n: int, workdir: Path) -> dict[str, Any]:
    """RSS of ``kubetune operator`` (one process, the default settings) idle, then holding ``n`` experiments, each
    with its RayJob and a written status (the queue drained); and the CPU time it spent on them."""
    from tests.cluster.operator_process import OperatorProcess

    namespace = "memory"
    backend.create_namespace(namespace)
    home = DEFAULTS.namespace
    op = OperatorProcess(kubeconfig=backend.cluster.kubeconfig, workdir=workdir / "memory", namespace=home,
                         watch=(home, namespace), token=TOKEN,
                         settings={"rayjob": {"defaultStoragePath": "s3://bench/kubetune"}})  # fmt: skip
    op.start()
    assert op.proc is not None
    try:
        time.sleep(3.0)
        idle = rss_mib(op.proc.pid)
        cpu_before = cpu_seconds(op.proc.pid)
        with backend.new_client() as api:
            objects = client.CustomObjectsApi(api)
            names = [f"mem-{i:04d}" for i in range(n)]
            create_all(objects, names, namespace, paced=None)
            deadline = time.monotonic() + 600

            def pending() -> int:
                items = as_dict(objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))["items"]
                return sum(1 for o in items if not (o.get("status") or {}).get("rayJobName"))

            while pending() or metric(op.url, "kubetune_operator_queue_depth") > 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("the operator did not settle within 600 s")
                time.sleep(1.0)
            jobs = as_dict(objects.list_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs"))["items"]
        cpu = cpu_seconds(op.proc.pid) - cpu_before
        time.sleep(3.0)
        loaded = rss_mib(op.proc.pid)
    finally:
        op.stop(timeout=30)
    job_bytes = statistics.mean(len(json.dumps(j)) for j in jobs) if jobs else 0
    return {"experiments": n, "idle_mib": idle["rss"], "loaded_mib": loaded["rss"], "peak_mib": loaded["peak"],
            "per_experiment_kib": round((loaded["rss"] - idle["rss"]) * 1024 / max(n, 1), 1),
            "rayjob_json_bytes": round(job_bytes),
            "cpu_ms_per_experiment": round(cpu * 1000 / max(n, 1), 2)}  # fmt: skip


def real_processes(backend: Backend, *, n: int, workdir: Path, failovers: int, lease: float) -> dict[str, Any]:
    """On the real API server: a real operator process's memory, and ``failovers`` failovers of two replicas
    (``bench/failover.py``; the worst run is the figure)."""
    print("  apiserver: memory of a real operator process ...", flush=True)
    found: dict[str, Any] = {"memory": measure_memory(backend, n, workdir)}
    if failovers:
        from bench.failover import HOME, measure_failover, summarize

        assert DEFAULTS.namespace == HOME
        leader = DEFAULTS.leader  # the operator's proportions: renew deadline 2/3 of the lease, its retry period
        runs = []
        for i in range(failovers):
            print(f"  apiserver: failover {i + 1} of {failovers} ...", flush=True)
            backend.create_namespace(f"failover-{i}")
            runs.append(measure_failover(
                backend.cluster, namespace=f"failover-{i}", workdir=workdir / f"failover-{i}", lease_seconds=lease,
                renew_seconds=lease * leader.renew_deadline_seconds / leader.lease_duration_seconds,
                retry_seconds=leader.retry_period_seconds, before=20,
            ))  # fmt: skip
        found["failover"] = summarize(runs)
    return found


# -- targets ------------------------------------------------------------------------------------------------------


def target_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each figure the issue sets a target for: value, baseline (same run), target, met."""
    rows: list[dict[str, Any]] = []
    n = report["experiments"]

    def add(figure: str, value: float, unit: str, target: str, met: bool, *, baseline: str = "",
            baseline_value: float | None = None) -> None:  # fmt: skip
        rows.append({"figure": figure, "value": value, "unit": unit, "baseline": baseline,
                     "baseline_value": baseline_value, "target": target, "met": met})  # fmt: skip

    for kind, result in report["backends"].items():
        shapes = result["shapes"]
        base = shapes["baseline (client creates both)"]["median_ms"]
        paced, burst = shapes[PACED], shapes[BURST]
        figure = f"{kind}: TuneExperiment -> RayJob, {n} created at {RATE}/s"
        baseline = "a client creates both objects (median)"
        add(f"{figure}, median", paced["median_ms"], "ms", f"<= {PACED_MEDIAN_MS} ms",
            paced["median_ms"] <= PACED_MEDIAN_MS, baseline=baseline, baseline_value=base)  # fmt: skip
        add(f"{figure}, p99", paced["p99_ms"], "ms", f"<= {PACED_P99_MS} ms", paced["p99_ms"] <= PACED_P99_MS,
            baseline=baseline, baseline_value=base)  # fmt: skip
        add(f"{kind}: burst of {n}, every RayJob (from the first create)", burst["all_within_s"], "s",
            f"<= {BURST_ALL_S} s", burst["all_within_s"] <= BURST_ALL_S)  # fmt: skip
    emulator = report.get("emulator_creates")
    if emulator:
        add(f"emulator: one create with {emulator['objects']:,} objects stored", emulator["full_ms"], "ms",
            "<= 2x an empty emulator's (O(1) per object)", emulator["ratio"] <= 2,
            baseline="the same, empty emulator", baseline_value=emulator["empty_ms"])  # fmt: skip
    memory = report.get("memory")
    if memory:
        add("operator process RSS, idle", memory["idle_mib"], "MiB", f"<= {IDLE_MIB} MiB",
            memory["idle_mib"] <= IDLE_MIB)  # fmt: skip
        add(f"operator process RSS, holding {memory['experiments']} experiments", memory["loaded_mib"], "MiB",
            f"<= {LOADED_MIB} MiB (at 1,000)", memory["loaded_mib"] <= LOADED_MIB, baseline="idle",
            baseline_value=memory["idle_mib"])  # fmt: skip
    failover = report.get("failover")
    if failover:
        target = f"<= {failover['target_s']:g} s (leaseDurationSeconds + 1)"
        runs = failover.get("runs", 1)
        lease = f"lease {failover['lease_duration_seconds']:g} s" + (f", worst of {runs}" if runs > 1 else "")
        add(f"failover ({lease}): SIGKILL of the leader -> the other holds the Lease", failover["kill_to_lease_s"],
            "s", target, failover["kill_to_lease_s"] <= failover["target_s"])  # fmt: skip
        add(f"failover ({lease}): SIGKILL -> RayJob of an experiment created after it, no duplicate",
            failover["kill_to_rayjob_s"], "s", target + ", one RayJob each", failover["met"])  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="80 experiments instead of 1,000")
    parser.add_argument("--backend", choices=("emulator", "apiserver", "both"), default="both")
    parser.add_argument("--no-failover", action="store_true", help="skip the failover measurement (real server)")
    parser.add_argument("--lease-seconds", type=float, default=None,
                        help="failover leaseDurationSeconds (default: the operator's, 15; 5 with --quick)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=REPO / "bench/out/operator.json")
    args = parser.parse_args(argv)
    n = 80 if args.quick else 1000
    TOKEN_FILE.write_text(TOKEN + "\n")
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "python": sys.version.split()[0], "machine": platform.machine(), "cpus_available": len(os.sched_getaffinity(0)),
        "quick": args.quick, "experiments": n, "rate_per_second": RATE,
        "operator_settings": {"workers": DEFAULTS.reconcile.workers, "qps": DEFAULTS.api.qps,
                              "burst": DEFAULTS.api.burst, "create_qps": DEFAULTS.api.create_qps,
                              "create_burst": DEFAULTS.api.create_burst, "status_qps": DEFAULTS.api.status_qps,
                              "status_burst": DEFAULTS.api.status_burst, "event_qps": DEFAULTS.api.event_qps,
                              "event_burst": DEFAULTS.api.event_burst},
        "backends": {},
    }  # fmt: skip
    kinds = ("emulator", "apiserver") if args.backend == "both" else (args.backend,)
    lease = args.lease_seconds or (5.0 if args.quick else DEFAULTS.leader.lease_duration_seconds)
    try:
        with tempfile.TemporaryDirectory(prefix="kt-bench-op-") as tmp:
            for kind in kinds:
                extra = None
                if kind == "apiserver":
                    failovers = 0 if args.no_failover else 1 if args.quick else 3
                    extra = functools.partial(real_processes, n=n, workdir=Path(tmp), failovers=failovers,
                                              lease=lease)  # fmt: skip
                result = run_backend(kind, n, extra=extra)
                report.update(result.pop("extra"))
                report["backends"][kind] = result
        if "emulator" in kinds:
            print("  emulator: create time, empty and full ...", flush=True)
            report["emulator_creates"] = emulator_creates()
    finally:
        TOKEN_FILE.unlink(missing_ok=True)
    report["load_average"] = {"before": [round(x, 2) for x in load_before],
                              "after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    report["targets"] = target_rows(report)
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


def print_report(report: dict[str, Any]) -> None:
    print(f"TuneExperiment created -> RayJob seen, {report['experiments']} experiments")
    columns = ("median", "p90", "p99", "max", "all s", "x base", "jobs/s", "queue s")
    print(f"  {'backend':<10} {'shape':<32} " + " ".join(f"{c:>8}" for c in columns))
    for kind, result in report["backends"].items():
        for name, row in result["shapes"].items():
            values = (row["median_ms"], row["p90_ms"], row["p99_ms"], row["max_ms"], row["all_within_s"],
                      row["median_vs_baseline"], row["rayjobs_per_second"],
                      row.get("queue_oldest_peak_s", 0.0))  # fmt: skip
            print(f"  {kind:<10} {name:<32} " + " ".join(f"{v:>8.1f}" for v in values))
            print(f"  {'':<10} {'':<32} CPU seconds: {row.get('cpu_seconds')}")
        if result["server"]:
            print(f"  {kind}: {result['server']}")
    for key in ("emulator_creates", "memory", "failover"):
        if report.get(key):
            print(f"  {key}: {report[key]}")
    print(f"  load average (1, 5, 15 min): {report['load_average']}")
    for row in report["targets"]:
        print(f"  {'met ' if row['met'] else 'MISS'} {row['figure']}: {row['value']} {row['unit']} ({row['target']})")


if __name__ == "__main__":
    raise SystemExit(main())
