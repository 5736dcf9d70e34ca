"""The Ray Tune callback that pushes every trial's results and state changes to the ingest endpoint.

It runs in the Tune driver, which sees every result first, so no per-node scraping is needed and the metrics
outlive the RayCluster. Each hook turns what Tune hands it into a small event and queues it with the
:class:`~kubetune.reporting.sending.BatchSender`; nothing here touches the network or raises into Tune.
Only finite numbers are sent as metrics; hyperparameters travel once per trial, as the trial's config, and are
never used as metric labels.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from typing import Any

from ray.tune import Callback

from kubetune.reporting.events import MAX_METRICS_PER_RESULT
from kubetune.reporting.sending import BatchSender, SenderSettings

log = logging.getLogger(__name__)

#: Result keys Tune adds that say nothing about the model (``training_iteration`` travels as ``iteration``).
_SKIPPED = frozenset(
    {
        "training_iteration",
        "timestamp",
        "pid",
        "done",
        "iterations_since_restore",
        "time_since_restore",
        "time_this_iter_s",
        "should_checkpoint",
        "checkpoint_dir_name",
        "experiment_tag",
    }
)
_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]{0,127}$")
#: A config larger than this (as JSON) is not sent: it is for the best-config summary, not a data channel.
MAX_CONFIG_BYTES = 16_384


class ReportingCallback(Callback):
    """Reports to ``url`` with ``token`` as experiment ``namespace/name``."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        namespace: str,
        name: str,
        metric: str,
        mode: str,
        num_samples: int | None = None,
        settings: SenderSettings | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self.experiment: dict[str, Any] = {"namespace": namespace, "name": name, "metric": metric, "mode": mode}
        if num_samples is not None:
            self.experiment["numSamples"] = num_samples
        self.settings = settings or SenderSettings()
        self._sender: BatchSender | None = None
        self._skipped_names: set[str] = set()

    # -- Tune hooks -----------------------------------------------------------------------------------------
    def setup(
        self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None, **info: Any
    ) -> None:
        self._emit({"kind": "experiment", "state": "RUNNING", "time": time.time()})

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._trial_state(trial, "RUNNING", with_config=True)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        metrics = self._numeric(result)
        self._emit(
            {
                "kind": "result",
                "trial": trial.trial_id,
                "time": time.time(),
                "iteration": int(result.get("training_iteration") or 0),
                "metrics": metrics,
            }
        )

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._trial_state(trial, "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._trial_state(trial, "ERROR")

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        failed = any(getattr(t, "status", "") == "ERROR" for t in trials) and not any(
            getattr(t, "status", "") == "TERMINATED" for t in trials
        )
        self._emit({"kind": "experiment", "state": "FAILED" if failed else "FINISHED", "time": time.time()})
        self.close()

    # -- lifecycle ------------------------------------------------------------------------------------------
    def close(self, timeout_s: float | None = None) -> bool:
        """Deliver what is left (bounded by ``final_flush_timeout_s``). Safe to call more than once."""
        sender, self._sender = self._sender, None
        return sender.close(timeout_s) if sender is not None else True

    @property
    def sender(self) -> BatchSender | None:
        return self._sender

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles the run config into the experiment directory (tuner.pkl): never write the token or a
        # live thread there. A restored experiment gets fresh callbacks from the runner.
        state = self.__dict__.copy()
        state.update(_token="", _sender=None)
        return state

    # -- helpers --------------------------------------------------------------------------------------------
    def _trial_state(self, trial: Any, state: str, *, with_config: bool = False) -> None:
        event: dict[str, Any] = {
            "kind": "trial",
            "trial": trial.trial_id,
            "state": state,
            "time": time.time(),
        }
        if with_config:
            config = _jsonable(getattr(trial, "config", None))
            if config is not None:
                event["config"] = config
        self._emit(event)

    def _emit(self, event: dict[str, Any]) -> None:
        try:
            if self._sender is None:
                if not self._token:
                    return  # unpickled copy without credentials: reporting is off, the run goes on
                self._sender = BatchSender(
                    url=self.url, token=self._token, experiment=self.experiment, settings=self.settings
                )
            self._sender.put(event)
        except Exception:  # reporting must never fail the experiment
            log.exception("kubetune: could not queue a trial event")

    def _numeric(self, result: dict[str, Any], prefix: str = "") -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in result.items():
            name = f"{prefix}{key}"
            if (not prefix and key in _SKIPPED) or key == "config":
                continue
            if isinstance(value, dict):
                out.update(self._numeric(value, prefix=f"{name}/"))
            elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                if len(out) >= MAX_METRICS_PER_RESULT:
                    break
                if _METRIC_NAME.match(name):
                    out[name] = float(value)
                elif name not in self._skipped_names:
                    self._skipped_names.add(name)
                    log.warning("kubetune: result key %r is not a valid metric name; not exported", name)
        return out


def _jsonable(config: Any) -> dict[str, Any] | None:
    if not isinstance(config, dict):
        return None
    try:
        text = json.dumps(config, default=str)
    except (TypeError, ValueError):
        return None
    return json.loads(text) if len(text) <= MAX_CONFIG_BYTES else None
