"""Platform overhead: the same experiment with plain Ray Tune and with the kubetune runner plus live reporting.

One process, one local Ray, runs interleaved (A B A B …) so drift hits both sides. Three variants:

* ``plain``       — what a user writes by hand: ``Tuner(trainable, param_space, TuneConfig(num_samples))``,
                    Ray's defaults (new process per trial).
* ``plain-reuse`` — plain Ray Tune with the setting kubetune picks for CPU trials (``reuse_actors=True``):
                    the fair baseline for the cost of kubetune's own machinery.
* ``kubetune``    — ``run_experiment`` from a spec, with the reporting callback posting every result to a live
                    exporter over HTTP, and the results file written.

Reported: median wall time of ``fit`` per variant and the ratios kubetune/plain (the user-visible change) and
kubetune/plain-reuse (the overhead of spec translation, reporting and the exporter; target <= 1.05).

    python bench/overhead.py [--quick] [--trials 40] [--iterations 20] [--repeats 3] [--out bench/out/overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def trivial(config: dict[str, Any]) -> None:
    from ray import tune

    for i in range(int(config["iterations"])):
        tune.report({"score": config["x"] * i, "step": i})


def run_plain(*, trials: int, iterations: int, storage: str, reuse: bool) -> float:
    from ray import tune

    tuner = tune.Tuner(
        trivial,
        param_space={"x": tune.uniform(0, 1), "iterations": iterations},
        tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=trials, reuse_actors=reuse),
        run_config=tune.RunConfig(name="plain", storage_path=storage, verbose=0),
    )
    start = time.perf_counter()
    tuner.fit()
    return time.perf_counter() - start


def run_kubetune(*, trials: int, iterations: int, storage: str) -> float:
    from prometheus_client import CollectorRegistry

    from kubetune.engine.running import RunOptions, run_experiment
    from kubetune.exporter.server import Exporter
    from kubetune.exporter.store import ExperimentStore
    from kubetune.reporting.callback import ReportingCallback
    from kubetune.spec import load_object

    exp = load_object(
        {
            "apiVersion": "kubetune.io/v1alpha1",
            "kind": "TuneExperiment",
            "metadata": {"name": "kubetune"},
            "spec": {
                "trainable": "bench.overhead:trivial",
                "metric": "score",
                "mode": "max",
                "searchSpace": {"x": {"uniform": [0, 1]}},
                "config": {"iterations": iterations},
                # What plain Ray Tune does by default (the spec default is TPE + ASHA): the same experiment on
                # both sides, so the ratio is the cost of kubetune's machinery alone.
                "search": {"algorithm": "random"},
                "scheduler": {"type": "fifo"},
                "numSamples": trials,
                "storage": {"path": storage},
            },
        }
    )
    with Exporter(store=ExperimentStore(), registry=CollectorRegistry(), token="bench") as exporter:
        callback = ReportingCallback(
            url=exporter.url, token="bench", namespace="bench", name=exp.name, metric="score", mode="max"
        )
        start = time.perf_counter()
        run_experiment(exp, trainable=trivial, options=RunOptions(verbose=0, callbacks=[callback], resume=False))
        elapsed = time.perf_counter() - start
        summary = exporter.store.summary("bench", exp.name)
        if summary is None or summary.results_total != trials * iterations:
            raise RuntimeError(f"the exporter did not receive every result: {summary}")
    return elapsed


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 trials x 5 iterations, 1 repeat")
    parser.add_argument("--trials", type=int, default=40, help="trials per run (default 40)")
    parser.add_argument("--iterations", type=int, default=20, help="reports per trial (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument("--out", default=str(REPO / "bench/out/overhead.json"), help="JSON output path")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.iterations, args.repeats = 10, 5, 1

    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={
            "env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
        },
    )
    times: dict[str, list[float]] = {"plain": [], "plain-reuse": [], "kubetune": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            kw = {"trials": args.trials, "iterations": args.iterations}
            times["plain"].append(run_plain(storage=f"{tmp}/p{r}", reuse=False, **kw))
            times["plain-reuse"].append(run_plain(storage=f"{tmp}/r{r}", reuse=True, **kw))
            times["kubetune"].append(run_kubetune(storage=f"{tmp}/k{r}", **kw))
    ray.shutdown()
    med = {k: statistics.median(v) for k, v in times.items()}
    report = {
        "benchmark": "overhead",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ray": ray.__version__,
        "workload": {"trials": args.trials, "iterations": args.iterations, "repeats": args.repeats},
        "seconds": times,
        "median_seconds": med,
        "ratio_kubetune_vs_plain": med["kubetune"] / med["plain"],
        "ratio_kubetune_vs_plain_reuse": med["kubetune"] / med["plain-reuse"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'variant':<12} {'median s':>9}  runs")
    for name, values in times.items():
        print(f"{name:<12} {med[name]:>9.2f}  {', '.join(f'{v:.2f}' for v in values)}")
    print(f"kubetune / plain       = {report['ratio_kubetune_vs_plain']:.3f}  (Ray defaults: a process per trial)")
    print(
        f"kubetune / plain-reuse = {report['ratio_kubetune_vs_plain_reuse']:.3f}  (same Tune settings; target <= 1.05)"
    )
    return report


if __name__ == "__main__":
    main()
