"""The operator's settings: grouped, frozen dataclasses, parsed once at start-up and passed down.

They come from a YAML file (``kubetune operator --config``, a ConfigMap in the chart) whose keys are the field
names in camelCase or snake_case, overridden by command-line flags; nothing below reads the environment or a
file later. A typo is an error naming the setting (``rayjob.pools[0].gpu: unknown setting (did you mean
gpus?)``), not a silently ignored key. Example::

    namespace: kubetune                 # the operator's own namespace (default: $POD_NAMESPACE)
    watch: {namespaces: [ml, research], resyncSeconds: 300}
    status: {summaryIntervalSeconds: 10}
    ingest: {url: "http://kubetune.kubetune.svc:8080", tokenFile: /var/run/secrets/kubetune/ingest/token}
    rayjob:
      defaultStoragePath: /mnt/kubetune/results
      storage: {claimName: kubetune-storage, mountPath: /mnt/kubetune}
      pools:
        - {name: gpu-a100, gpus: 1, cpu: "8", memory: 32Gi, maxReplicas: 8,
           nodeSelector: {cloud.google.com/gke-accelerator: nvidia-tesla-a100}}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kubetune.exporter.settings import StoreLimits
from kubetune.kube.rayjobs import RayJobSettings
from kubetune_operator.configs import build
from kubetune_operator.errors import SettingsError

__all__ = [
    "ApiSettings",
    "IngestSettings",
    "LeaderSettings",
    "OperatorSettings",
    "ReconcileSettings",
    "ServerSettings",
    "StatusSettings",
    "WatchSettings",
    "load_settings",
    "read_token",
]

T = TypeVar("T")
#: Where a pod finds its own namespace when $POD_NAMESPACE is not set.
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True, kw_only=True)
class WatchSettings:
    #: Namespaces whose TuneExperiments (and their RayJobs) are watched. Default: empty, all namespaces (the
    #: operator then needs a ClusterRole).
    namespaces: tuple[str, ...] = ()
    #: Seconds between full resyncs that re-queue every experiment, catching anything a watch missed. Default 300.
    resync_seconds: float = 300.0
    #: ``timeoutSeconds`` of one watch request (the API server ends it then; the watch resumes from its last
    #: resourceVersion). Default 300.
    timeout_seconds: int = 300


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """Client-side rate limits, one token bucket per kind of request, so that a flood of one kind never delays
    another (a RayJob creation is never queued behind status patches or events). Measured on 2 cores
    (bench/operator.py, bench/README.md): the defaults sustain 50 new experiments a second.
    """

    #: Reads (get, list, watch) per second at most. Default 100.
    qps: float = 100.0
    #: Reads that may go out at once above ``qps`` after a quiet period. Default 200.
    burst: int = 200
    #: Creates (RayJobs) per second at most. Default 100.
    create_qps: float = 100.0
    #: Creates above ``createQps`` after a quiet period. Default 200.
    create_burst: int = 200
    #: Status patches per second at most. Default 100.
    status_qps: float = 100.0
    #: Status patches above ``statusQps`` after a quiet period. Default 200.
    status_burst: int = 200
    #: Events per second at most; events beyond are dropped (counted in kubetune_operator_events_dropped_total),
    #: never waited for. Default 20.
    event_qps: float = 20.0
    #: Events above ``eventQps`` after a quiet period. Default 100.
    event_burst: int = 100
    #: Seconds before one request (not a watch) is abandoned. Default 30.
    request_timeout_seconds: float = 30.0


@dataclass(frozen=True, kw_only=True)
class LeaderSettings:
    """Leader election on a ``coordination.k8s.io/v1`` Lease in the operator's namespace: with several replicas
    only the leader reconciles and keeps the trial store; the others keep their caches warm, forward ingest to
    the leader, and take over when its lease runs out. client-go's durations, with a shorter retry."""

    #: Elect a leader (needed with more than one replica). Default false (a single operator leads alone).
    enabled: bool = False
    #: Name of the Lease. Default kubetune-operator.
    lease_name: str = "kubetune-operator"
    #: Namespace of the Lease. Default: the operator's own namespace.
    lease_namespace: str = ""
    #: Seconds a lease is good for after its last renewal (how long a dead leader blocks a takeover). Default 15.
    lease_duration_seconds: float = 15.0
    #: Seconds the leader keeps trying to renew before it gives up leading (and exits). Default 10.
    renew_deadline_seconds: float = 10.0
    #: Seconds between tries to acquire or renew. Default 0.25: a follower notices a renewal within this and an
    #: expired lease within this again, and the leader died within this of its last renewal, so a follower holds
    #: the Lease within ``leaseDurationSeconds`` + 0.75 s of a crash (+1 s with its first reconcile; 0.5 s measured
    #: 16.2 s, bench/README.md). Each replica reads the Lease this often (4 small GETs a second).
    retry_period_seconds: float = 0.25
    #: This replica's name in the Lease. Default: $POD_NAME, else the host name and process id.
    identity: str = ""
    #: The URL other replicas forward ingest to while this one leads. Default: http://$POD_IP:<server.port>,
    #: else the ingest URL.
    advertise_url: str = ""


@dataclass(frozen=True, kw_only=True)
class ReconcileSettings:
    #: Experiments reconciled in parallel (threads; one experiment is never reconciled twice at once). Default 4.
    workers: int = 4
    #: Delay before the first retry after a temporary error, doubled per consecutive failure. Default 0.5 s.
    backoff_seconds: float = 0.5
    #: Longest delay between retries (also the longest backoff of a failing watch). Default 60 s.
    max_backoff_seconds: float = 60.0


@dataclass(frozen=True, kw_only=True)
class StatusSettings:
    #: Seconds between two patches of one experiment's trial summary at least; phase and conditions are
    #: never delayed. Default 10.
    summary_interval_seconds: float = 10.0
    #: A best config larger than this (bytes of JSON) is left out of the status, which must stay small. Default 8192.
    max_config_bytes: int = 8192
    #: Seconds between two Events of one experiment about trials ended by one kind of scheduler decision (stopped
    #: early, exploited, cut by the budget, errored) at least; the ends inside are posted as one Event. Default 10.
    trial_end_event_seconds: float = 10.0


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    #: Address of the HTTP server (ingest, /metrics, /healthz, /readyz). Default 0.0.0.0.
    host: str = "0.0.0.0"
    #: Its port. Default 8080.
    port: int = 8080


@dataclass(frozen=True, kw_only=True)
class IngestSettings:
    #: URL RayJobs report trial results to (the operator's Service). Default: http://kubetune.<namespace>.svc:<port>.
    url: str = ""
    #: File holding the ingest token (the operator's Secret, mounted). Default /var/run/secrets/kubetune/ingest/token.
    token_file: str = "/var/run/secrets/kubetune/ingest/token"
    #: That Secret's name and key; RayJobs in the operator's namespace reference it. Default kubetune-ingest/token.
    secret_name: str = "kubetune-ingest"
    secret_key: str = "token"
    #: Seconds a rotated-out token (and the experiment tokens derived from it) is still accepted, so running
    #: experiments keep reporting. Default 86400 (a day).
    previous_token_seconds: float = 86_400.0


@dataclass(frozen=True, kw_only=True)
class OperatorSettings:
    #: The operator's own namespace (its Secret lives there). Default: $POD_NAMESPACE, the service account's
    #: namespace, or ``kubetune``.
    namespace: str = "kubetune"
    watch: WatchSettings = field(default_factory=WatchSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    status: StatusSettings = field(default_factory=StatusSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    #: Caps of the trial-metrics store (see :class:`kubetune.exporter.settings.StoreLimits`).
    store: StoreLimits = field(default_factory=StoreLimits)
    #: Cluster-side RayJob choices: default image and storage, node pools, deadlines (``ingest`` is set by the
    #: operator per experiment).
    rayjob: RayJobSettings = field(default_factory=RayJobSettings)

    def __post_init__(self) -> None:
        checks = {
            "watch.resyncSeconds": self.watch.resync_seconds > 0,
            "watch.timeoutSeconds": self.watch.timeout_seconds > 0,
            "api.qps": self.api.qps > 0,
            "api.burst": self.api.burst >= 1,
            "api.createQps": self.api.create_qps > 0,
            "api.createBurst": self.api.create_burst >= 1,
            "api.statusQps": self.api.status_qps > 0,
            "api.statusBurst": self.api.status_burst >= 1,
            "api.eventQps": self.api.event_qps > 0,
            "api.eventBurst": self.api.event_burst >= 1,
            "api.requestTimeoutSeconds": self.api.request_timeout_seconds > 0,
            "reconcile.workers": self.reconcile.workers >= 1,
            "reconcile.backoffSeconds": 0 < self.reconcile.backoff_seconds <= self.reconcile.max_backoff_seconds,
            "status.summaryIntervalSeconds": self.status.summary_interval_seconds >= 0,
            "status.trialEndEventSeconds": self.status.trial_end_event_seconds >= 0,
            "server.port": 0 <= self.server.port <= 65535,
        }
        for path, ok in checks.items():
            if not ok:
                raise SettingsError(path, "out of range")
        lead = self.leader
        if not lead.lease_duration_seconds > lead.renew_deadline_seconds:
            raise SettingsError("leader.leaseDurationSeconds", "must be longer than leader.renewDeadlineSeconds")
        if not lead.renew_deadline_seconds > lead.retry_period_seconds > 0:
            raise SettingsError("leader.renewDeadlineSeconds", "must be longer than leader.retryPeriodSeconds (> 0)")
        if self.rayjob.ingest is not None:
            raise SettingsError("rayjob.ingest", "set by the operator from the ingest settings")

    @property
    def ingest_url(self) -> str:
        return self.ingest.url or f"http://kubetune.{self.namespace}.svc:{self.server.port}"


def load_settings(
    path: str | Path | None = None, *, overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> OperatorSettings:  # fmt: skip
    """Settings from a YAML file (optional) with dotted-path ``overrides`` on top (``{"watch.namespaces": [...]}``).

    Raises :class:`SettingsError` naming the first bad setting.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise SettingsError("", f"cannot read the settings file {path}: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError("", f"{path} must hold a mapping of settings")
        data = loaded or {}
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    if "namespace" not in data:
        data["namespace"] = _own_namespace(os.environ if environ is None else environ)
    return build(OperatorSettings, data, path="")


def read_token(path: str) -> str:
    """The ingest token in ``path`` (surrounding whitespace removed); a missing or empty file is an error."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise SettingsError("ingest.tokenFile", f"cannot read {path}: {e.strerror or e}") from e
    if not token:
        raise SettingsError("ingest.tokenFile", f"{path} is empty")
    return token


def _own_namespace(environ: Mapping[str, str]) -> str:
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip() or "kubetune"
    except OSError:
        return "kubetune"
