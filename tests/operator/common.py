"""What the operator's tests share, on the real API server (tests/operator) and on the emulator
(tests/emulator): fast settings, experiment documents, the master token."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kubetune.kube.rayjobs import RayJobSettings
from kubetune_operator import OperatorSettings
from kubetune_operator.settings import ApiSettings, ReconcileSettings, ServerSettings, StatusSettings, WatchSettings
from tests.cluster.cluster import eventually
from tests.conftest import experiment_doc

__all__ = ["GROUP", "HOME", "PLURAL", "TOKEN", "VERSION", "eventually", "experiment", "settings"]

TOKEN = "operator-test-master-token"
#: The operator's own namespace in the emulator's tests; experiments elsewhere get experiment-scoped tokens.
HOME = "kubetune"
GROUP, VERSION, PLURAL = "kubetune.io", "v1alpha1", "tuneexperiments"


def settings(**changes: Any) -> OperatorSettings:
    """Fast settings for tests: short backoffs, no summary pacing unless asked, a free port."""
    base = OperatorSettings(
        namespace=HOME,
        watch=WatchSettings(resync_seconds=30, timeout_seconds=30),
        api=ApiSettings(
            qps=10_000,
            burst=10_000,
            create_qps=10_000,
            create_burst=10_000,
            status_qps=10_000,
            status_burst=10_000,
            event_qps=10_000,
            event_burst=10_000,
            request_timeout_seconds=10,
        ),
        reconcile=ReconcileSettings(workers=4, backoff_seconds=0.05, max_backoff_seconds=0.5),
        status=StatusSettings(summary_interval_seconds=0),
        server=ServerSettings(host="127.0.0.1", port=0),
        rayjob=RayJobSettings(default_storage_path="s3://bucket/kubetune"),
    )
    return replace(base, **changes)


def experiment(name: str, namespace: str = "ml", **spec: Any) -> dict[str, Any]:
    doc = experiment_doc(name, "jobs.mnist_torch.trainable:train", **spec)
    doc["metadata"]["namespace"] = namespace  # type: ignore[index]
    return doc
