"""The Ray Tune callback that pushes every trial's results and state changes to the ingest endpoint.

It runs in the Tune driver, which sees every result first, so no per-node scraping is needed and the metrics
outlive the RayCluster. Each hook turns what Tune hands it into a wire event (:mod:`kubetune.reporting.wire`, the
models the exporter parses) and queues it with the :class:`~kubetune.reporting.sending.BatchSender`; nothing here
touches the network or raises into Tune. Only finite numbers are sent as metrics; hyperparameters travel once per
trial, as the trial's config, and are never used as metric labels. A config value the wire cannot carry exactly
(NaN, infinity, an integer beyond 2**53, an object) travels as its string.

Why each trial ended comes from the runner's ledger (:class:`kubetune.engine.reasons.TrialEnds`, set as
:attr:`ReportingCallback.ends`), which Tune calls before this callback: a trial's TERMINATED or ERROR event carries
its reason, and every snapshot the ended trials counted by reason. Trials the end of the run cut short (a time
budget, fail-fast) get no hook of their own from Tune; their events go out when the experiment ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from ray.tune import Callback

from kubetune.reporting.dominance import Front
from kubetune.reporting.encoding import as_wire_config, count_states, is_finite
from kubetune.reporting.sending import BatchSender, SenderSettings
from kubetune.reporting.sources import EndsSource, TrialEnd, UsageSource
from kubetune.reporting.wire import (
    MAX_EXACT_INT,
    MAX_METRICS_PER_RESULT,
    ExperimentEvent,
    ExperimentRef,
    ExperimentState,
    ResultEvent,
    TrialEvent,
    TrialState,
    is_metric_name,
)

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
        objectives: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self.experiment: ExperimentRef | None
        # A total the wire cannot carry exactly (a grid times a huge numSamples) is sent as unknown.
        total = num_samples if num_samples is not None and num_samples <= MAX_EXACT_INT else None
        try:
            wanted = [{"metric": m, "mode": d} for m, d in objectives or ()] if len(objectives or ()) > 1 else None
            self.experiment = ExperimentRef.model_validate(
                {"namespace": namespace, "name": name, "metric": metric, "mode": mode, "numSamples": total,
                 "objectives": wanted}
            )  # fmt: skip
        except ValidationError as e:  # reporting must never fail the experiment: it is off instead
            log.error("kubetune: live trial metrics are off: %s", e)
            self.experiment = None
        self.settings = settings or SenderSettings()
        self._sender: BatchSender | None = None
        self._counted = False
        #: Ray Tune's own trial list (handed to every hook; Tune changes it in place) and the driver's state.
        self._trials: list[Any] = []
        self._state: ExperimentState = "RUNNING"
        self._skipped_names: set[str] = set()
        #: Why trials ended (set by the runner); None: events go without reasons, as from older drivers.
        self.ends: EndsSource | None = None
        #: Trials whose TERMINATED/ERROR event went out with this run.
        self._ended: set[str] = set()
        #: What trials held (set by the runner); None: events go without usage, as from older drivers.
        self.usage: UsageSource | None = None
        #: Trials of earlier experiments that seeded the search (set by the runner under spec.warmStart).
        self.seeded: int | None = None
        #: Several objectives: the Pareto front of the finished trials' last results, grown as trials finish.
        several = self.experiment.objectives if self.experiment is not None else None
        self._front = Front([o.mode for o in several]) if several else None

    # -- Tune hooks -----------------------------------------------------------------------------------------
    def setup(
        self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None, **info: Any
    ) -> None:
        self._emit(ExperimentEvent, state="RUNNING", time=time.time())

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        self._trials = trials
        if not self._counted:  # the first step of a run (or of a resumed one): the trials as restored
            self._counted = True
            self._counts(trials)

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._trial_state(trial, "RUNNING", with_config=True)
        self._counts(trials, changed=trial, state="RUNNING")

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        try:
            metrics = self._numeric(result)
            iteration = int(result.get("training_iteration") or 0)
        except Exception:  # reporting must never fail the experiment
            log.exception("kubetune: could not read a trial result")
            return
        self._trials = trials
        self._emit(ResultEvent, trial=trial.trial_id, time=time.time(), iteration=iteration, metrics=metrics,
                   usage=self._held(trial.trial_id))  # fmt: skip

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._trial_state(trial, "TERMINATED")
        self._counts(trials, changed=trial, state="TERMINATED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._trial_state(trial, "ERROR")
        self._counts(trials, changed=trial, state="ERROR")

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        for trial in trials:  # cut short by the end of the run: Tune called no hook for them
            status = str(getattr(trial, "status", ""))
            if status in ("TERMINATED", "ERROR") and str(trial.trial_id) not in self._ended:
                self._trial_state(trial, status)  # type: ignore[arg-type]
        failed = any(getattr(t, "status", "") == "ERROR" for t in trials) and not any(
            getattr(t, "status", "") == "TERMINATED" for t in trials
        )
        self._trials, self._state = trials, "FAILED" if failed else "FINISHED"
        final = self.snapshot()
        if final is not None:
            self._emit(ExperimentEvent, **final.model_dump(exclude={"kind"}))
        self.close()

    def snapshot(self) -> ExperimentEvent | None:
        """The driver's cumulative figures from Ray Tune's trial list (see :class:`ExperimentEvent`): trials by
        state, results reported (each trial's latest iteration, summed) and the best value with its trial."""
        trials = list(self._trials)
        if self.experiment is None or not trials:  # nothing known yet: the events speak for themselves
            return None
        results = 0
        best: tuple[float, Any] | None = None
        metric, mode = self.experiment.metric, self.experiment.mode
        for trial in trials:
            last = getattr(trial, "last_result", None) or {}
            results += int(last.get("training_iteration") or 0)
            value = ((getattr(trial, "metric_analysis", None) or {}).get(metric) or {}).get(mode)
            if not isinstance(value, int | float) or isinstance(value, bool) or not is_finite(value):
                continue
            if best is None or (value > best[0] if mode == "max" else value < best[0]):
                best = (float(value), trial)
        top = None
        if best is not None:
            config = as_wire_config(getattr(best[1], "config", None))
            top = {"trial": best[1].trial_id, "value": best[0], "config": config}
        ends = self.ends.counts() if self.ends is not None else None
        return ExperimentEvent.model_validate(
            {"state": self._state, "time": time.time(), "trials": count_states(trials),
             "results": min(results, MAX_EXACT_INT), "best": top, "ends": ends, "usage": self._held(None),
             "seeded": self.seeded, "paretoFront": self._front_size(trials)}
        )  # fmt: skip

    def _front_size(self, trials: list[Any]) -> int | None:
        """Several objectives: the finished trials on the Pareto front of their last results."""
        several = self.experiment.objectives if self.experiment is not None else None
        if self._front is None or not several:
            return None
        for trial in trials:
            if str(getattr(trial, "status", "")) != "TERMINATED" or str(trial.trial_id) in self._front:
                continue
            last = getattr(trial, "last_result", None) or {}
            values = [last.get(o.metric) for o in several]
            numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            if len(numbers) == len(several) and all(is_finite(v) for v in numbers):
                self._front.add(str(trial.trial_id), numbers)
        return len(self._front)

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
        state.update(_token="", _sender=None, _trials=[], ends=None, usage=None)
        return state

    # -- helpers --------------------------------------------------------------------------------------------
    def _counts(self, trials: list[Any], *, changed: Any = None, state: TrialState | None = None) -> None:
        """The driver's count of its trials by state (Tune calls the hooks before it sets the trial's new status,
        so ``changed`` is counted as ``state``)."""
        try:
            counts = count_states(trials, changed=changed, state=state)
        except Exception:  # reporting must never fail the experiment
            log.exception("kubetune: could not count the trials")
            return
        self._emit(ExperimentEvent, state="RUNNING", time=time.time(), trials=counts)

    def _trial_state(self, trial: Any, state: TrialState, *, with_config: bool = False) -> None:
        config = as_wire_config(getattr(trial, "config", None)) if with_config else None
        why: dict[str, Any] = {}
        if state in ("TERMINATED", "ERROR"):
            self._ended.add(str(trial.trial_id))
            end = self._end(trial)
            if end is not None:
                why = {"reason": end.reason, "detail": end.detail}
        else:
            self._ended.discard(str(trial.trial_id))
        self._emit(TrialEvent, trial=trial.trial_id, state=state, time=time.time(), config=config,
                   usage=self._held(trial.trial_id), **why)  # fmt: skip

    def _held(self, trial_id: str | None) -> dict[str, float] | None:
        """What ``trial_id`` (None: every trial) held so far, as the wire's :class:`Usage`; None when unknown."""
        try:
            if self.usage is None:
                return None
            held = self.usage.total() if trial_id is None else self.usage.of(str(trial_id))
        except Exception:  # reporting must never fail the experiment
            log.exception("kubetune: could not read what the trials held")
            return None
        if held is None:
            return None
        return {"gpuSeconds": held.gpu_seconds, "cpuSeconds": held.cpu_seconds, "trialSeconds": held.trial_seconds}

    def _end(self, trial: Any) -> TrialEnd | None:
        try:
            return self.ends.of(str(trial.trial_id)) if self.ends is not None else None
        except Exception:  # reporting must never fail the experiment
            log.exception("kubetune: could not read why a trial ended")
            return None

    def _emit(self, kind: type[TrialEvent | ResultEvent | ExperimentEvent], **fields: Any) -> None:
        """Build one wire event (validated like the exporter will) and queue it; never raises."""
        try:
            if self.experiment is None:
                return
            if self._sender is None:
                if not self._token:
                    return  # unpickled copy without credentials: reporting is off, the run goes on
                self._sender = BatchSender(
                    url=self.url,
                    token=self._token,
                    experiment=self.experiment,
                    settings=self.settings,
                    snapshot=self.snapshot,
                )
            self._sender.put(kind(**fields))
        except ValidationError as e:  # an event the exporter would refuse: drop it alone, not its whole batch
            log.warning("kubetune: a trial event was not sent: %s", e)
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
            elif isinstance(value, int | float) and not isinstance(value, bool) and is_finite(value):
                if len(out) >= MAX_METRICS_PER_RESULT:
                    break
                if is_metric_name(name):
                    out[name] = float(value)
                elif name not in self._skipped_names:
                    self._skipped_names.add(name)
                    log.warning("kubetune: result key %r is not a valid metric name; not exported", name)
        return out
