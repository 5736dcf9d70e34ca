"""``kubetune submit``, ``status`` and ``list``: TuneExperiments on the cluster of the current kube-context.

``submit`` validates the file locally first (the same errors as ``kubetune validate``, nothing sent), then
creates the TuneExperiment or updates its spec; the operator does the rest. An API failure is one line naming
the request and the server's answer (``--debug`` shows the chained ``ApiException``).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from kubetune.cli.formatting import HelpFormatter
from kubetune.spec import load_file

_FORMAT = HelpFormatter
#: Seconds after which `kubetune status` explains an experiment no operator has reconciled.
UNWATCHED_AFTER = 30
Handler = Callable[[argparse.Namespace], int]


def register(commands: Any) -> None:
    p = commands.add_parser("submit", help="create or update a TuneExperiment on the cluster", formatter_class=_FORMAT)
    p.add_argument("file", metavar="FILE", help="TuneExperiment YAML")
    _cluster_flags(p)
    p.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                   help="wait this long for an operator to pick the experiment up, and warn when none does "
                   "(0: do not wait)")  # fmt: skip
    p.set_defaults(handler=submit)

    p = commands.add_parser("status", help="show a TuneExperiment's status", formatter_class=_FORMAT)
    p.add_argument("name", metavar="NAME", help="experiment name")
    _cluster_flags(p)
    p.add_argument("-o", "--output", choices=("text", "yaml", "json"), default="text", help="output format")
    p.set_defaults(handler=status)

    p = commands.add_parser("list", help="list TuneExperiments", formatter_class=_FORMAT)
    _cluster_flags(p)
    p.add_argument("-A", "--all-namespaces", action="store_true", help="list every namespace")
    p.set_defaults(handler=list_)


def _cluster_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", help="namespace (default: the file's, else the kube-context's)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")


def _reporting(handler: Handler) -> Handler:
    """API and configuration failures as one line and exit 1 (the traceback with --debug)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from kubetune.kube.errors import KubeError

        try:
            import kubernetes  # noqa: F401  (the optional dependency of every cluster command)
        except ImportError as e:
            raise ValueError(
                f"cluster commands need the kubernetes client: pip install 'kubetune[operator]' ({e})"
            ) from e
        try:
            return handler(args)
        except KubeError as e:
            if args.debug:
                raise
            print(f"kubetune: error: {e}", file=sys.stderr)
            return 1

    return run


@contextmanager
def _cluster(args: argparse.Namespace) -> Iterator[tuple[Any, str]]:
    from kubetune.kube.api import KubeAPI
    from kubetune.kube.connecting import connect

    connection = connect(kubeconfig=args.kubeconfig, context=args.context)
    try:
        yield KubeAPI(api_client=connection.api_client), connection.namespace
    finally:
        connection.api_client.close()  # type: ignore[no-untyped-call]


@_reporting
def submit(args: argparse.Namespace) -> int:
    from kubetune.kube.submitting import submit as submit_experiment

    exp = load_file(args.file)
    if exp.namespace and args.namespace and exp.namespace != args.namespace:
        raise ValueError(f"{args.file} names namespace {exp.namespace}, --namespace says {args.namespace}")
    storage = exp.spec.storage.path
    if storage and "://" not in storage:
        print(f"warning: spec.storage.path {storage} is a local path: on a cluster every Ray pod must mount shared "
              "storage there, or a retried job cannot resume (use s3://, gs://, or the chart's storage claim, "
              "mounted at /mnt/kubetune)", file=sys.stderr)  # fmt: skip
    with _cluster(args) as (api, default_namespace):
        namespace = args.namespace or exp.namespace or default_namespace
        result = submit_experiment(api, exp, namespace=namespace)
        print(f"tuneexperiment.kubetune.io/{exp.name} {result.action} in namespace {namespace}", flush=True)
        if result.action == "updated" and result.running:
            print(f"note: RayJob {result.body['status']['rayJobName']} already runs the previous spec and keeps it "
                  "(condition SpecChanged); submit under a new name to run this one")  # fmt: skip
        if result.action != "unchanged" and args.wait > 0 and not _picked_up(api, result.body, args.wait):
            print(f"warning: {_UNWATCHED.format(namespace=namespace, seconds=f'{args.wait:g} s')}", file=sys.stderr)
    return 0


#: What to say when no operator reconciles an experiment.
_UNWATCHED = ("no kubetune operator has picked up the experiment within {seconds}. An operator reconciles only "
              "the namespaces it watches: the chart's operator watches its release namespace (kubetune with "
              "`make deploy`) unless operator.watchNamespaces lists {namespace} (or is [\"*\"]). Submit it to a "
              "watched namespace (-n), or add {namespace} to operator.watchNamespaces.")  # fmt: skip


def _picked_up(api: Any, body: dict[str, Any], seconds: float) -> bool:
    """Whether an operator reconciles this generation of the experiment within ``seconds``."""
    from kubetune.kube.submitting import get_experiment

    meta = body["metadata"]
    generation = int(meta.get("generation") or 1)
    deadline = time.monotonic() + seconds
    while True:
        found = get_experiment(api, namespace=meta["namespace"], name=meta["name"])
        if int((found.get("status") or {}).get("observedGeneration") or 0) >= generation:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


@_reporting
def status(args: argparse.Namespace) -> int:
    from kubetune.kube.submitting import get_experiment

    with _cluster(args) as (api, default_namespace):
        body = get_experiment(api, namespace=args.namespace or default_namespace, name=args.name)
    if args.output == "json":
        print(json.dumps(body, indent=2, sort_keys=True))
    elif args.output == "yaml":
        print(yaml.safe_dump(body, sort_keys=False), end="")
    else:
        print(format_status(body))
        age = _age_seconds(body["metadata"].get("creationTimestamp"), None)
        if not (body.get("status") or {}).get("observedGeneration") and age is not None and age >= UNWATCHED_AFTER:
            print(f"Note:        {_UNWATCHED.format(namespace=body['metadata']['namespace'], seconds=f'{age} s')}")
    return 0


@_reporting
def list_(args: argparse.Namespace) -> int:
    from kubetune.kube.submitting import list_experiments

    with _cluster(args) as (api, default_namespace):
        namespace = None if args.all_namespaces else args.namespace or default_namespace
        bodies = list_experiments(api, namespace=namespace)
    if not bodies:
        print("No TuneExperiments found" + (f" in namespace {namespace}" if namespace else ""), file=sys.stderr)
        return 0
    print(format_table(bodies, all_namespaces=namespace is None))
    return 0


def format_status(body: dict[str, Any]) -> str:
    meta, spec, st = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    summary = st.get("summary") or {}
    job = st.get("rayJob") or {}
    lines = [
        f"Name:        {meta.get('name')}",
        f"Namespace:   {meta.get('namespace')}",
        f"Phase:       {st.get('phase') or '(not reconciled yet)'}",
        f"Objective:   {_objectives(spec)}",
    ]
    if st.get("rayJobName"):
        detail = ", ".join(v for v in (job.get("jobDeploymentStatus"), job.get("jobStatus")) if v)
        lines.append(f"RayJob:      {st['rayJobName']}" + (f" ({detail})" if detail else ""))
    if st.get("progress"):
        counts = ", ".join(f"{k} {v}" for k, v in (summary.get("trials") or {}).items())
        lines.append(f"Trials:      {st['progress']} finished" + (f" ({counts})" if counts else ""))
    if ended := ", ".join(f"{k} {v}" for k, v in (summary.get("endReasons") or {}).items() if v):
        lines.append(f"Ended:       {ended}")
    if held := summary.get("usage"):
        lines.append(f"Held:        {held.get('gpuHours', 0):.3g} GPU-hours, {held.get('cpuHours', 0):.3g} CPU-hours "
                     f"over {held.get('trialHours', 0):.3g} trial-hours")  # fmt: skip
    if summary.get("paretoFront") is not None:
        lines.append(f"Pareto front: {summary['paretoFront']} finished trials beaten by none on every objective")
    if summary.get("bestValue") is not None:
        lines.append(
            f"Best:        {summary.get('metric')} = {summary['bestValue']} (trial {summary.get('bestTrial')})"
        )
        if summary.get("bestConfig"):
            lines.append("Best config:")
            lines += ["  " + line for line in yaml.safe_dump(summary["bestConfig"], sort_keys=True).splitlines()]
    if summary.get("lastUpdate"):
        lines.append(f"Last update: {summary['lastUpdate']}")
    conditions = st.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        for c in conditions:
            lines.append(
                f"  {c.get('type', ''):<12} {c.get('status', ''):<8} {c.get('reason', ''):<24} {c.get('message', '')}"
            )
    return "\n".join(lines)


def _objectives(spec: dict[str, Any]) -> str:
    """``accuracy (max)``, or ``accuracy (max), latency_ms (min)`` for several objectives."""
    metric, mode = spec.get("metric"), spec.get("mode")
    if isinstance(metric, list) and isinstance(mode, list):
        return ", ".join(f"{m} ({d})" for m, d in zip(metric, mode, strict=False))
    return f"{metric} ({mode})"


def format_table(bodies: list[dict[str, Any]], *, all_namespaces: bool, now: datetime.datetime | None = None) -> str:
    header = ["NAME", "PHASE", "BEST", "TRIALS", "AGE"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = [header]
    for body in bodies:
        meta, st = body.get("metadata") or {}, body.get("status") or {}
        best = (st.get("summary") or {}).get("bestValue")
        row = [meta.get("name", ""), st.get("phase") or "", "" if best is None else f"{best:.6g}",
               st.get("progress") or "", _age(meta.get("creationTimestamp"), now)]  # fmt: skip
        if all_namespaces:
            row.insert(0, meta.get("namespace", ""))
        rows.append([str(cell) for cell in row])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _age_seconds(stamp: str | None, now: datetime.datetime | None) -> int | None:
    if not stamp:
        return None
    try:
        created = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0, int(((now or datetime.datetime.now(tz=datetime.timezone.utc)) - created).total_seconds()))


def _age(stamp: str | None, now: datetime.datetime | None) -> str:
    """kubectl's short ages: 45s, 12m, 5h, 3d."""
    seconds = _age_seconds(stamp, now)
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
