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

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from kubetune.exporter.settings import StoreLimits
from kubetune.kube.rayjobs import RayJobSettings
from kubetune_operator.errors import SettingsError

__all__ = [
    "ApiSettings",
    "IngestSettings",
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
    #: Requests per second to the API server at most (a token bucket shared by all threads). Default 100, as
    #: the KubeRay operator's chart sets for its client.
    qps: float = 100.0
    #: Requests that may go out at once above ``qps`` after a quiet period. Default 200.
    burst: int = 200
    #: Seconds before one request (not a watch) is abandoned. Default 30.
    request_timeout_seconds: float = 30.0


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
            "api.requestTimeoutSeconds": self.api.request_timeout_seconds > 0,
            "reconcile.workers": self.reconcile.workers >= 1,
            "reconcile.backoffSeconds": 0 < self.reconcile.backoff_seconds <= self.reconcile.max_backoff_seconds,
            "status.summaryIntervalSeconds": self.status.summary_interval_seconds >= 0,
            "server.port": 0 <= self.server.port <= 65535,
        }
        for path, ok in checks.items():
            if not ok:
                raise SettingsError(path, "out of range")
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


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def build(cls: type[T], data: Any, *, path: str) -> T:
    """An instance of the dataclass ``cls`` from plain YAML data, checking keys and types."""
    if not isinstance(data, Mapping):
        raise SettingsError(path, f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    names = {_camel(n): n for n in fields} | {n: n for n in fields}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        here = f"{path}.{key}" if path else str(key)
        name = names.get(str(key))
        if name is None:
            close = difflib.get_close_matches(str(key), [_camel(n) for n in fields], n=1)
            raise SettingsError(here, "unknown setting" + (f" (did you mean {close[0]}?)" if close else ""))
        kwargs[name] = _convert(hints[name], value, here)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, SettingsError):
            raise
        raise SettingsError(path, str(e)) from e


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path=path)  # type: ignore[arg-type]
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _convert(options[0], value, path) if len(options) == 1 else value
    if origin is tuple:
        if not isinstance(value, list):
            raise SettingsError(path, f"expected a list, got {type(value).__name__}")
        return tuple(_convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise SettingsError(path, f"expected a mapping, got {type(value).__name__}")
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): _convert(value_type, v, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise SettingsError(path, f"expected a number, got {value!r}")
    if tp in (int, str, bool) and not (isinstance(value, tp) and (tp is bool or not isinstance(value, bool))):
        raise SettingsError(path, f"expected {tp.__name__}, got {value!r}")
    return value
