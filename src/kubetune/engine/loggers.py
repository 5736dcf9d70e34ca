"""Which of Ray Tune's per-trial loggers a kubetune run keeps.

Tune adds CSV, JSON and TensorBoard loggers to every run; the TensorBoard one flushes an event file on every
result and took about a third of the driver's time in our overhead benchmark. kubetune's live view is Prometheus
and Grafana, so the TensorBoard logger is off unless asked for (``RunOptions.tensorboard``). CSV and JSON stay:
``progress.csv`` and ``result.json`` are the durable per-trial record the results summary reads.
"""

from __future__ import annotations

from typing import Any

from ray.tune.logger import TBXLoggerCallback


class NoTensorBoard(TBXLoggerCallback):
    """Takes the TensorBoard logger's place, so Tune does not add the real one, and logs nothing."""

    def __init__(self) -> None:  # the parent imports tensorboardX and opens writers: skip all of it
        self._trial_writer: dict[Any, Any] = {}
        self._trial_result: dict[Any, Any] = {}

    def log_trial_start(self, trial: Any) -> None:
        pass

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        pass

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        pass
