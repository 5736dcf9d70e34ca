"""Kubernetes Events about experiments (``kubectl describe tuneexperiment`` shows them).

Events are best-effort, as in client-go's recorder: a failure to post one is logged and never fails a
reconcile. Names are deterministic per (experiment uid, generation, reason, message), so a reconcile repeated
after a crash does not post the same event twice: the API server answers 409 and that is the end of it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Literal

from kubetune_operator.api import TUNE_EXPERIMENTS, KubeAPI
from kubetune_operator.bodies import Body
from kubetune_operator.errors import APIConflictError, APIError

log = logging.getLogger("kubetune_operator.events")

COMPONENT = "kubetune-operator"


class EventPoster:
    def __init__(self, *, api: KubeAPI, now: Callable[[], str]) -> None:
        self._api = api
        self._now = now

    def post(self, experiment: Body, *, type: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        meta = experiment.get("metadata") or {}
        namespace, name, uid = meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", "")
        digest = hashlib.sha256(f"{uid}/{meta.get('generation')}/{reason}/{message}".encode()).hexdigest()[:16]
        now = self._now()
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{digest}", "namespace": namespace},
            "involvedObject": {"apiVersion": TUNE_EXPERIMENTS.api_version, "kind": TUNE_EXPERIMENTS.kind,
                               "name": name, "namespace": namespace, "uid": uid,
                               "resourceVersion": meta.get("resourceVersion", "")},
            "type": type, "reason": reason, "message": message[:1024],
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }  # fmt: skip
        try:
            self._api.create_event(namespace=namespace, body=body)
        except APIConflictError:
            pass  # posted before (a repeated reconcile)
        except APIError as e:
            log.warning("could not post event %s for %s/%s: %s", reason, namespace, name, e)
