"""Test helpers: builders for ingest batches (so tests read as the events they send) and a fake clock."""

from __future__ import annotations

import itertools
import json
from typing import Any

from kubetune.reporting.wire import Batch


def trial(trial_id: str, state: str, *, time: float = 1.0, config: dict[str, Any] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"kind": "trial", "trial": trial_id, "state": state, "time": time}
    if config is not None:
        event["config"] = config
    return event


def result(trial_id: str, iteration: int, metrics: dict[str, float], *, time: float = 1.0) -> dict[str, Any]:
    return {"kind": "result", "trial": trial_id, "iteration": iteration, "time": time, "metrics": metrics}


def experiment(state: str, *, time: float = 1.0, trials: dict[str, int] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"kind": "experiment", "state": state, "time": time}
    if trials is not None:
        event["trials"] = trials
    return event


class Sender:
    """One driver process: a fixed experiment ref and a growing ``seq``."""

    def __init__(
        self,
        *,
        name: str = "exp",
        namespace: str = "ml",
        metric: str = "mean_accuracy",
        mode: str = "max",
        sender: str = "driver-1",
        num_samples: int | None = None,
    ) -> None:
        self.ref: dict[str, Any] = {"namespace": namespace, "name": name, "metric": metric, "mode": mode}
        if num_samples is not None:
            self.ref["numSamples"] = num_samples
        self.sender = sender
        self._seq = itertools.count(1)

    def payload(self, *events: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
        return {
            "experiment": self.ref,
            "sender": self.sender,
            "seq": next(self._seq) if seq is None else seq,
            "events": list(events),
        }

    def batch(self, *events: dict[str, Any], seq: int | None = None) -> Batch:
        return Batch.model_validate(self.payload(*events, seq=seq))

    def body(self, *events: dict[str, Any], seq: int | None = None) -> bytes:
        return json.dumps(self.payload(*events, seq=seq)).encode()


class FakeClock:
    """A settable clock for the store (seconds since the epoch)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
