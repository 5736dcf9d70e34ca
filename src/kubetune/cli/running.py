"""``kubetune run``: one experiment, locally or as a RayJob's entrypoint, with live trial metrics.

Locally (no ingest URL given) it starts the exporter on 127.0.0.1 in this process and points the reporting
callback at it, so ``curl <url>/metrics`` or a Prometheus shows the trials while they run. Inside a RayJob the
operator passes ``--ingest-url`` (or ``KUBETUNE_INGEST_URL``) and a token file, and the run reports there.

The exit status tells a script (or KubeRay, which retries a failed entrypoint) how the run ended: 0 when it has a
result, including a run the time budget cut short; 1 when no trial reported the metric or none finished, or Ray
aborted the experiment (one line says why); 130 on SIGINT, after Ray saved the state that the same command
resumes from.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from kubetune.cli.formatting import HelpFormatter
from kubetune.cli.inspecting import describe_states, format_summary
from kubetune.engine.errors import RunFailed
from kubetune.engine.results import RunSummary
from kubetune.reporting.wire import ENV_INGEST_TOKEN, ENV_INGEST_TOKEN_FILE, ENV_INGEST_URL
from kubetune.spec import Experiment, load_file, load_text

log = logging.getLogger(__name__)


def register(commands: Any) -> None:
    p = commands.add_parser(
        "run",
        help="run an experiment (local Ray, or the cluster of a RayJob)",
        formatter_class=HelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="TuneExperiment YAML, or env:NAME to read it from a variable (RayJobs)")
    p.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS"),
        help="Ray cluster to join ('auto' inside a RayJob); unset starts a local Ray (env RAY_ADDRESS)",
    )
    p.add_argument("--storage", help="override spec.storage.path (local path or URI such as s3://bucket/dir)")
    p.add_argument("--num-cpus", type=int, help="CPUs for the local Ray (default: all)")
    p.add_argument("--num-samples", type=int, help="override spec.numSamples")
    p.add_argument(
        "--ingest-url",
        default=os.environ.get(ENV_INGEST_URL),
        help=f"report trial metrics to this exporter instead of a local one (env {ENV_INGEST_URL})",
    )
    p.add_argument(
        "--token-file",
        default=os.environ.get(ENV_INGEST_TOKEN_FILE),
        help=f"bearer token for --ingest-url (env {ENV_INGEST_TOKEN_FILE}, or {ENV_INGEST_TOKEN})",
    )
    p.add_argument("--metrics-host", default="127.0.0.1", help="address of the local metrics server")
    p.add_argument(
        "--metrics-port", type=int, default=0, help="port of the local metrics server (default: 0, any free port)"
    )
    p.add_argument("--no-metrics", action="store_true", help="neither serve nor report live trial metrics")
    p.add_argument(
        "--hold",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep serving /metrics this long after the run ends",
    )
    p.add_argument("--fresh", action="store_true", help="start over even if the storage path holds this experiment")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files per trial")
    p.add_argument("-q", "--quiet", action="store_true", help="no Ray Tune progress output")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Ray and the ML stacks are imported here, not at the top: other commands (the operator above all) never
    # load them.
    from kubetune.engine.running import RunOptions, run_experiment
    from kubetune.reporting.callback import ReportingCallback

    exp = load_experiment(args.file)
    if args.num_samples is not None:
        exp = _with_num_samples(exp, args.num_samples)
    exporter = None
    callbacks: list[Any] = []
    if not args.no_metrics:
        if args.ingest_url:
            token = _read_token(args.token_file)
            url = args.ingest_url
            if not token:
                log.warning(
                    "no ingest token (--token-file, %s or %s): live trial metrics are off for this run",
                    ENV_INGEST_TOKEN_FILE,
                    ENV_INGEST_TOKEN,
                )
        else:
            exporter, token = _start_local_exporter(host=args.metrics_host, port=args.metrics_port)
            url = exporter.url
            print(f"kubetune: serving trial metrics at {url}/metrics", flush=True)
        if token:
            callbacks.append(
                ReportingCallback(
                    url=url,
                    token=token,
                    namespace=exp.namespace or "local",
                    name=exp.name,
                    metric=exp.spec.primary_metric,
                    mode=exp.spec.primary_mode,
                    num_samples=exp.total_trials,
                    objectives=list(zip(exp.spec.metrics, exp.spec.modes, strict=True)),
                )
            )
    options = RunOptions(
        address=args.address,
        storage_path=args.storage,
        num_cpus=args.num_cpus,
        callbacks=callbacks,
        verbose=0 if args.quiet else 1,
        tensorboard=args.tensorboard,
        resume=not args.fresh,
    )
    try:
        try:
            summary = run_experiment(exp, options=options)
        except RunFailed as e:
            if args.debug:
                raise
            print(f"kubetune: error: {e}", file=sys.stderr)
            return 1
        finally:
            for cb in callbacks:
                cb.close()
        print(format_summary(summary), flush=True)
        print(f"report: kubetune report {summary.experiment_path} -o report.html", flush=True)
        code, problem = outcome(summary)
        if exporter is not None:
            print(f"kubetune: trial metrics at {exporter.url}/metrics", flush=True)
            if args.hold > 0 and summary.stopped_by != "interrupt":
                time.sleep(args.hold)
    finally:
        if exporter is not None:
            exporter.stop()
    if problem:
        print(f"kubetune: {problem}", file=sys.stderr)
    return code


def outcome(summary: RunSummary) -> tuple[int, str | None]:
    """The exit code of a run that ended, and the one line that explains a non-zero one.

    130 when interrupted (as a shell reports Ctrl-C), whatever had finished; 1 when nothing can be used: no trial
    reported the metric, or none finished for another reason than a budget (time or compute: a budget that cut
    the run short is the user's choice, not a failure).
    """
    if summary.stopped_by == "interrupt":
        return 130, "interrupted"
    if summary.best is None:
        return 1, f"error: no trial reported {summary.metric}"
    if summary.finished_trials == 0 and summary.stopped_by not in ("time-budget", "compute-budget"):
        return 1, f"error: no trial finished ({describe_states(summary)})"
    return 0, None


def _with_num_samples(exp: Experiment, n: int) -> Experiment:
    from kubetune.spec import load_object

    data = exp.to_dict()
    data["spec"]["numSamples"] = n
    return load_object(data)


def load_experiment(source: str) -> Experiment:
    """A file path, or ``env:NAME`` for the document a RayJob carries in its runtime environment."""
    if source.startswith("env:"):
        name = source.removeprefix("env:")
        text = os.environ.get(name)
        if text is None:
            raise ValueError(f"environment variable {name} is not set")
        return load_text(text, source=f"${name}")
    return load_file(source)


def _read_token(token_file: str | None) -> str:
    """The ingest token from the file or the environment; empty when neither has one (reporting is then off)."""
    if token_file:
        return Path(token_file).read_text(encoding="utf-8").strip()
    return os.environ.get(ENV_INGEST_TOKEN, "").strip()


def _start_local_exporter(*, host: str, port: int) -> tuple[Any, str]:
    from prometheus_client import CollectorRegistry

    from kubetune.exporter.server import Exporter
    from kubetune.exporter.store import ExperimentStore

    token = secrets.token_urlsafe(32)
    exporter = Exporter(store=ExperimentStore(), registry=CollectorRegistry(), token=token, host=host, port=port)
    exporter.start()
    return exporter, token
