"""Which of Ray Tune's per-trial loggers a kubetune run keeps.

Tune adds CSV, JSON and TensorBoard loggers to every run; the TensorBoard one flushes an event file on every
result and took about a third of the driver's time in our overhead benchmark. kubetune's live view is Prometheus
and Grafana, so the TensorBoard logger is off unless asked for (``RunOptions.tensorboard``). CSV and JSON stay:
``progress.csv`` and ``result.json`` are the durable per-trial record the results summary reads.

kubetune passes the loggers it keeps itself and turns Tune's automatic ones off while the run starts
(``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``, which Tune reads then). A silent stand-in for the TensorBoard logger would
also stop Tune adding the real one, but Tune takes any TensorBoard logger as the sign that event files exist and
prints "To visualize your results with TensorBoard, run: ..." for a directory that holds none.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_AUTOMATIC_LOGGERS = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"


def trial_loggers(*, tensorboard: bool) -> list[Any]:
    """The per-trial loggers of a run: CSV and JSON, and TensorBoard's when asked for."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback

    kept: list[Any] = [CSVLoggerCallback(), JsonLoggerCallback()]
    if tensorboard:
        kept.append(TBXLoggerCallback())  # raises ImportError naming tensorboardX when it is missing
    return kept


@contextmanager
def without_automatic_loggers() -> Iterator[None]:
    """Tune adds no loggers of its own to a run started inside the block (the environment is restored after)."""
    before = os.environ.get(_AUTOMATIC_LOGGERS)
    os.environ[_AUTOMATIC_LOGGERS] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_AUTOMATIC_LOGGERS, None)
        else:
            os.environ[_AUTOMATIC_LOGGERS] = before
