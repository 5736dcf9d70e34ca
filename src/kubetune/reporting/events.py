"""The ingest wire format: what the reporting callback sends and the exporter accepts.

One batch is one HTTP POST to ``/api/v1/ingest`` with ``Authorization: Bearer <token>``::

    {"experiment": {"namespace": "ml", "name": "mnist-asha", "metric": "mean_accuracy", "mode": "max"},
     "sender": "5f0c…", "seq": 12,
     "events": [
       {"kind": "trial", "trial": "a1b2c_00000", "state": "RUNNING", "time": 1.7e9, "config": {"lr": 0.01}},
       {"kind": "result", "trial": "a1b2c_00000", "iteration": 1, "time": 1.7e9,
        "metrics": {"mean_accuracy": 0.51, "loss": 1.2}},
       {"kind": "experiment", "state": "FINISHED", "time": 1.7e9}]}

``sender`` is unique per driver process and ``seq`` grows by one per batch, so a batch retried after a lost
response is recognised and applied once. Batches are validated whole: one bad event rejects the batch and
changes nothing. Metric values are finite numbers; everything a trial reports that is not a number (strings,
nested dicts, the config echo) is dropped by the sender, never sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: Ray Tune's trial states (``ray.tune.experiment.trial.Trial.*``).
TrialState = Literal["PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR"]
#: Lifecycle of a whole experiment as the driver sees it.
ExperimentState = Literal["RUNNING", "FINISHED", "FAILED"]

#: Label values end up in Prometheus series: keep them short and printable.
Name = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:/@+-]+$")]
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_./-]*$")]
#: JSON has no NaN or infinity; the sender drops non-finite values and the exporter refuses them.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
#: Seconds since the epoch, as the driver's clock saw it.
Timestamp = Annotated[float, Field(allow_inf_nan=False, ge=0)]

#: Upper bounds enforced on every batch (the request body itself is capped by the server).
MAX_EVENTS_PER_BATCH = 5000
MAX_METRICS_PER_RESULT = 64


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExperimentRef(_Wire):
    namespace: Name = "local"
    name: Name
    metric: MetricName
    mode: Literal["min", "max"]
    numSamples: int | None = Field(default=None, ge=-1)


class TrialEvent(_Wire):
    kind: Literal["trial"]
    trial: Name
    state: TrialState
    time: Timestamp
    #: The trial's hyperparameters; kept for the best-config summary, never used as a label.
    config: dict[str, Any] | None = None


class ResultEvent(_Wire):
    kind: Literal["result"]
    trial: Name
    iteration: int = Field(ge=0)
    time: Timestamp
    metrics: dict[MetricName, FiniteFloat] = Field(max_length=MAX_METRICS_PER_RESULT)


class ExperimentEvent(_Wire):
    kind: Literal["experiment"]
    state: ExperimentState
    time: Timestamp


Event = Annotated[TrialEvent | ResultEvent | ExperimentEvent, Field(discriminator="kind")]


class Batch(_Wire):
    experiment: ExperimentRef
    sender: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    seq: int = Field(ge=0)
    events: list[Event] = Field(max_length=MAX_EVENTS_PER_BATCH)
