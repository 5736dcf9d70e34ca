"""``kubetune operator`` (run the operator) and ``kubetune crd`` (print the TuneExperiment CRD).

The operator runs in a pod (in-cluster configuration) or, for development, against the current kube-context.
Its settings come from ``--config`` (the chart's ConfigMap) with the flags below on top; they are parsed once,
here, and the process stops gracefully on SIGTERM or SIGINT (ingest off, reconciles finished, held-back status
summaries written).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from kubetune.cli.formatting import HelpFormatter

#: Each help text below says its default in words; the formatter adds none of its own ("(default: None)").
_FORMAT = HelpFormatter
#: Seconds a SIGTERM leaves the operator to finish (Kubernetes' default grace period is 30).
GRACE_SECONDS = 20.0


def register(commands: Any) -> None:
    p = commands.add_parser("operator", help="run the kubetune operator (TuneExperiments → RayJobs)",
                            formatter_class=_FORMAT)  # fmt: skip
    p.add_argument("--config", metavar="FILE", help="settings file (YAML; operator/README.md lists the settings)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster config in a pod, else ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("--namespace", help="the operator's own namespace (default: settings, $POD_NAMESPACE)")
    p.add_argument("--watch-namespace", action="append", dest="watch_namespaces", metavar="NAMESPACE",
                   help="watch this namespace (repeatable; default: settings, else all namespaces)")  # fmt: skip
    p.add_argument("--host", help="address of the HTTP server (default: settings, 0.0.0.0)")
    p.add_argument("--port", type=int, help="port of ingest, /metrics, /healthz, /readyz (default: settings, 8080)")
    p.add_argument("--token-file", help="file holding the ingest token (default: settings)")
    p.add_argument("--ingest-url", help="URL RayJobs report to (default: settings, http://kubetune.<ns>.svc:<port>)")
    p.add_argument("--resync-seconds", type=float, help="seconds between full resyncs (default: settings, 300)")
    p.add_argument("--summary-interval", type=float, metavar="SECONDS",
                   help="least seconds between two trial-summary patches of one experiment (default: 10)")  # fmt: skip
    p.add_argument("--workers", type=int, help="experiments reconciled in parallel (default: settings, 4)")
    p.set_defaults(handler=operate)

    p = commands.add_parser("crd", help="print the TuneExperiment CRD (generated from the spec models)",
                            formatter_class=_FORMAT)  # fmt: skip
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(handler=crd)


def operate(args: argparse.Namespace) -> int:
    try:
        import kubetune_operator as ko
    except ImportError as e:
        raise ValueError(f"the operator needs the kubernetes client: pip install 'kubetune[operator]' ({e})") from e
    ko.configure_logging(level=logging.DEBUG if args.debug else logging.INFO)
    flags = {
        "namespace": args.namespace, "watch.namespaces": args.watch_namespaces, "server.host": args.host,
        "server.port": args.port, "ingest.tokenFile": args.token_file, "ingest.url": args.ingest_url,
        "watch.resyncSeconds": args.resync_seconds, "status.summaryIntervalSeconds": args.summary_interval,
        "reconcile.workers": args.workers,
    }  # fmt: skip
    try:
        settings = ko.load_settings(args.config, overrides={k: v for k, v in flags.items() if v is not None})
        token = ko.read_token(settings.ingest.token_file)
        watches = 2 * max(1, len(settings.watch.namespaces))
        connection = ko.connect(kubeconfig=args.kubeconfig, context=args.context,
                                pool_size=watches + settings.reconcile.workers + 4)  # fmt: skip
    except ko.OperatorError as e:
        if args.debug:
            raise
        print(f"kubetune: error: {e}", file=sys.stderr)
        return 1
    operator = ko.Operator(settings=settings, api_client=connection.api_client, token=token)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    operator.start()
    # A replica that led and lost its Lease ends with exit 1: Kubernetes restarts it, and it comes back a follower.
    while not stop.wait(0.5) and not operator.lost_leadership.is_set():
        pass
    lost = operator.lost_leadership.is_set()
    operator.stop(grace_seconds=GRACE_SECONDS)
    if lost:
        print("kubetune: error: this replica lost the leader Lease; exiting so that it restarts as a follower",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def crd(args: argparse.Namespace) -> int:
    from kubetune_operator import crd_main

    return crd_main(["-o", args.output] if args.output else [])
