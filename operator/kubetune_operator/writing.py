"""Writing an experiment's status: one JSON merge patch of what differs, the resourceVersion as a precondition.

A trial summary the API server cannot take never blocks the rest of the status: a value JSON cannot carry (NaN,
infinity) is never sent, since the 1.20 API server answers such a patch with a 500 that would be retried for ever,
and a permanent refusal of what was sent is handled the same way: the status is written without the new summary,
with ``SummaryRejected=True`` saying why, so phase and conditions keep moving.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from kubetune.kube.api import TUNE_EXPERIMENTS, KubeAPI
from kubetune.kube.bodies import Body, ExperimentStatus
from kubetune_operator.caches import Cache
from kubetune_operator.errors import APIError
from kubetune_operator.following import Mark
from kubetune_operator.statuses import merge_diff, set_condition

log = logging.getLogger("kubetune_operator.reconcile")


class StatusWriter:
    def __init__(self, *, api: KubeAPI, experiments: Cache, now: Callable[[], str]) -> None:
        self._api, self._experiments, self._now = api, experiments, now

    def write(self, obj: Body, desired: ExperimentStatus) -> None:
        """Patch the status to ``desired`` (nothing when it is there already)."""
        current = _status(obj)
        diff = merge_diff(current, desired)
        if not diff:
            return
        try:
            if "summary" in diff:
                strict_json(diff["summary"])
            self._patch(obj, diff)
        except (APIError, ValueError) as e:
            if (isinstance(e, APIError) and e.temporary) or "summary" not in diff:
                raise
            ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            log.warning("the trial summary of %s/%s cannot be written: %s", ns, name, e,
                        extra={"namespace": ns, "experiment": name})  # fmt: skip
            kept: ExperimentStatus = {**desired}
            kept.pop("summary", None)
            if current.get("summary"):
                kept["summary"] = current["summary"]
            why = f"the API server refused it: {e}" if isinstance(e, APIError) else str(e)
            refused = Mark("True", "Refused", f"the trial summary was not written: {why}")
            kept["conditions"] = set_condition(list(desired.get("conditions") or []), "SummaryRejected", refused,
                                               generation=_generation(obj), now=self._now())  # fmt: skip
            self._patch(obj, merge_diff(current, kept))

    def _patch(self, obj: Body, diff: dict[str, object]) -> None:
        meta = obj["metadata"]
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": diff}
        updated = self._api.patch_status(TUNE_EXPERIMENTS, namespace=meta["namespace"], name=meta["name"], patch=patch)
        self._experiments.put(updated)


def _status(obj: Body) -> ExperimentStatus:
    status: ExperimentStatus = obj.get("status") or {}
    return status


def _generation(obj: Body) -> int:
    return int((obj.get("metadata") or {}).get("generation") or 1)


def strict_json(value: object) -> None:
    """ValueError naming the problem when ``value`` is not JSON the API server can take (NaN, infinity)."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError as e:
        raise ValueError(f"it holds a number JSON cannot carry ({e})") from e
