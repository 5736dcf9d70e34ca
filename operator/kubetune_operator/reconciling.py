"""Reconciling one TuneExperiment: level-based, idempotent, safe to repeat after a crash at any point.

Each reconcile reads the experiment and its RayJob from the watch caches and makes the world match:

1. **No RayJob yet** (urgent work, see :mod:`kubetune_operator.queueing`): validate the spec (``load_object``, then
   the RayJob builder). Invalid → ``Valid=False``
   with reason ``InvalidSpec`` and every ``path: reason`` in the message, phase ``Invalid``, a Warning event,
   nothing created. Valid → create the RayJob (deterministic name, ownerReference, labels, the experiment in
   its entrypoint, the ingest URL and token). ``409 AlreadyExists`` means an earlier attempt (this process
   before a crash, or a lost response) created it: the existing RayJob is read back and *adopted* if its
   ownerReference names this experiment's uid; otherwise the name belongs to something else and the
   experiment waits (``Running=False``, reason ``RayJobConflict``) without touching it. Either way an operator
   restart never makes a second RayJob.
2. **Following**: KubeRay's RayJob status → phase and conditions (:mod:`kubetune_operator.following`), KubeRay's
   reason kept as the condition's reason, start and completion times.
3. **Trial summary** from the ingest store, at a bounded rate (:mod:`kubetune_operator.summarizing`).
4. **Status write** only when something differs: a merge patch with the object's resourceVersion as a
   precondition (a 409 means someone wrote in between: retried with the fresh object).

Spec changes: the spec is immutable once the RayJob exists. The RayJob carries a hash of the spec it was built
from; an edited spec sets ``SpecChanged=True`` (reason ``Immutable``) explaining that the running job keeps the
original spec and that a new spec needs a new experiment name (or deleting and re-creating this one). The
running job is never mutated or restarted: KubeRay would restart the Ray cluster and the trials with it, and a
half-old, half-new experiment would have no meaning. Reverting the edit clears the condition. Before the RayJob
exists (an invalid spec being fixed) every edit is validated afresh.

Deletion: the RayJob's ownerReference (``controller: true``, ``blockOwnerDeletion: true``) lets Kubernetes'
garbage collector delete it, and KubeRay its cluster. No finalizer: the operator keeps nothing outside the
cluster that would need cleaning up, and a finalizer would block deletion whenever the operator is down.

A RayJob that vanishes while the experiment is not finished (deleted by hand) is created again; the runner
resumes from ``spec.storage.path``. Once finished, a missing RayJob (KubeRay's TTL clean-up) changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from kubetune.kube.api import RAYJOBS, TUNE_EXPERIMENTS, KubeAPI
from kubetune.kube.bodies import TERMINAL_PHASES, Body, ExperimentStatus, RayJob, Summary
from kubetune.kube.naming import rayjob_name
from kubetune.kube.rayjobs import LABEL_QUEUE, Ingest, build_rayjob
from kubetune.spec import Experiment, SpecError, load_object
from kubetune.spec.errors import FieldError
from kubetune_operator.caches import Cache, Key
from kubetune_operator.decisions import DecisionEvents
from kubetune_operator.errors import APIConflictError, APINotFoundError
from kubetune_operator.following import Mark, Outcome, follow
from kubetune_operator.owning import SPEC_HASH, kuberay_violations, owned_by, spec_changed, spec_hash, total_trials
from kubetune_operator.posting import EventPoster
from kubetune_operator.settings import OperatorSettings
from kubetune_operator.statuses import Inputs, condition, desired_status
from kubetune_operator.summarizing import Summarizer, progress
from kubetune_operator.tokens import ExperimentTokens
from kubetune_operator.writing import StatusWriter

log = logging.getLogger("kubetune_operator.reconcile")


@dataclass(frozen=True)
class Result:
    """What to do with the key next: nothing, or reconcile again after ``requeue_after`` seconds."""

    requeue_after: float | None = None
    #: The phase the experiment is in after this reconcile (for logs and metrics).
    phase: str = ""


class Reconciler:
    def __init__(
        self, *, api: KubeAPI, experiments: Cache, rayjobs: Cache, summarizer: Summarizer,
        tokens: ExperimentTokens, events: EventPoster, settings: OperatorSettings, now: Callable[[], str],
        decisions: DecisionEvents | None = None,
    ) -> None:  # fmt: skip
        self._api = api
        self._experiments, self._rayjobs = experiments, rayjobs
        self._summarizer = summarizer
        self._tokens = tokens
        self._events = events
        self._decisions = decisions
        self._settings = settings
        self._now = now
        self._writer = StatusWriter(api=api, experiments=experiments, now=now)

    def reconcile(self, key: Key) -> Result:
        obj = self._experiments.get(key)
        if obj is None:  # deleted: the garbage collector takes the RayJob
            self._summarizer.forget(key)
            if self._decisions is not None:
                self._decisions.forget(key)
            return Result()
        meta = obj.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return Result(phase=str((obj.get("status") or {}).get("phase", "")))
        status = _status(obj)
        ns, name = key
        job_name = status.get("rayJobName") or rayjob_name(name)
        cached = self._rayjobs.get((ns, job_name))
        job = cast(RayJob, cached) if cached is not None and owned_by(cached, meta.get("uid")) else None
        if job is None:
            if status.get("rayJobName") and status.get("phase") in TERMINAL_PHASES:
                return Result(phase=status["phase"])  # finished, and its RayJob was cleaned up since
            if status.get("rayJobName"):
                if not self._still_there(obj):
                    return Result()  # the RayJob went because the experiment did (its deletion event is on its way)
                vanished = self._vanished(obj, (ns, job_name))
                if vanished is not None:
                    return vanished
            try:
                experiment = load_object(obj)
                body = self._build(experiment, obj)
            except SpecError as e:
                return self._invalid(obj, e)
            job = self._create_or_adopt(obj, body)
            if job is None:
                return self._conflict(obj, job_name)
            # The status is written by the next reconcile, queued behind the creations of other new experiments:
            # a burst of new experiments gets its RayJobs first, their status patches after.
            return Result(requeue_after=0.0, phase="Pending")
        return self._follow(obj, job)

    # -- a RayJob that is gone ----------------------------------------------------------------------

    def _vanished(self, obj: Body, job_key: Key) -> Result | None:
        """What to do about the experiment's RayJob that is gone while the experiment is not finished; None: create
        it again (it was deleted by hand while running, and the spec is the one it ran).

        * Deleted while this process watched, after it finished (KubeRay had written Complete or Failed, the
          status had not caught up): the experiment takes that outcome; nothing runs again.
        * Deleted while this process watched, and the spec was edited since the RayJob was built from it: not
          re-created from the edited spec, which would resume the original run's storage under a different
          spec. SpecChanged says how to go on (revert the edit, or a new experiment).
        * Gone before this process started (deleted, or finished and deleted, while no operator watched): its
          outcome cannot be known, so nothing is re-run that nobody asked for: Failed, reason RayJobLost, with
          what to do to run it again.
        """
        last = self._rayjobs.tombstone(job_key)
        if last is None:
            return self._lost(obj, job_key[1])
        if follow(last.get("status")).terminal:
            return self._follow(obj, cast(RayJob, last))
        if spec_changed(obj, cast(RayJob, last)) is not None:
            return self._edited_then_deleted(obj, job_key[1])
        return None

    def _lost(self, obj: Body, job_name: str) -> Result:
        ns = obj["metadata"]["namespace"]
        message = (f"RayJob {ns}/{job_name} was deleted while no kubetune operator was watching, so whether it "
                   "finished is unknown; it is not run again unasked. Its results and checkpoints are in "
                   "spec.storage.path: delete and re-create this experiment to resume it from there")  # fmt: skip
        lost = Mark("True", "RayJobLost", message)
        outcome = Outcome("Failed", Mark("False", "RayJobLost", message), complete=Mark("False", "RayJobLost"),
                          failed=lost)  # fmt: skip
        if (condition(_status(obj), "Failed") or {}).get("reason") != "RayJobLost":
            self._events.post(obj, type="Warning", reason="RayJobLost", message=message)
        inputs = Inputs(generation=_generation(obj), now=self._now(), valid=Mark("True", "Valid", "the spec is valid"),
                        outcome=outcome)  # fmt: skip
        self._write(obj, desired_status(_status(obj), inputs))
        return Result(phase="Failed")

    def _edited_then_deleted(self, obj: Body, job_name: str) -> Result:
        ns = obj["metadata"]["namespace"]
        message = (f"RayJob {ns}/{job_name} was deleted, and the spec changed after it was created: it is not "
                   "re-created from the edited spec (its storage holds the original experiment). Revert the edit "
                   "to resume the original, or create an experiment with a new name for the new spec")  # fmt: skip
        outcome = Outcome("Pending", Mark("False", "RayJobDeleted", message))
        status = _status(obj)
        if (condition(status, "Running") or {}).get("reason") != "RayJobDeleted":
            self._events.post(obj, type="Warning", reason="RayJobDeleted", message=message)
        inputs = Inputs(generation=_generation(obj), now=self._now(), valid=self._validity(obj), outcome=outcome,
                        spec_changed=Mark("True", "Immutable", message))  # fmt: skip
        self._write(obj, desired_status(status, inputs))
        return Result(phase="Pending")

    # -- creating ------------------------------------------------------------------------------------

    def _still_there(self, obj: Body) -> bool:
        """Whether the experiment exists on the server, as this same object, and is not being deleted.

        Asked before re-creating a RayJob that disappeared: the garbage collector deletes the RayJob right after
        the experiment, and the two watches may report those deletions in either order.
        """
        meta = obj["metadata"]
        try:
            live = self._api.get(TUNE_EXPERIMENTS, namespace=meta["namespace"], name=meta["name"])
        except APINotFoundError:
            return False
        live_meta = live.get("metadata") or {}
        return live_meta.get("uid") == meta.get("uid") and not live_meta.get("deletionTimestamp")

    def _build(self, experiment: Experiment, obj: Body) -> dict[str, Any]:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        if ns == self._settings.namespace:
            ingest = Ingest(url=self._settings.ingest_url, secret_name=self._settings.ingest.secret_name,
                            secret_key=self._settings.ingest.secret_key)  # fmt: skip
        else:
            ingest = Ingest(url=self._settings.ingest_url, token=self._tokens.token(namespace=ns, name=name))
        settings = dataclasses.replace(self._settings.rayjob, ingest=ingest)
        body = build_rayjob(experiment, settings=settings, owner=obj)
        body["metadata"].setdefault("annotations", {})[SPEC_HASH] = spec_hash(obj.get("spec"))
        problems = kuberay_violations(body["spec"])
        if problems:
            raise SpecError([FieldError("spec.cluster", p) for p in problems])
        return body

    def _create_or_adopt(self, obj: Body, body: dict[str, Any]) -> RayJob | None:
        """The RayJob, created now or found from an earlier attempt; None when its name is taken by another."""
        ns, uid = obj["metadata"]["namespace"], obj["metadata"].get("uid")
        name = body["metadata"]["name"]
        recreated = bool((obj.get("status") or {}).get("rayJobName"))
        try:
            job: Body = self._api.create(RAYJOBS, namespace=ns, body=body)
        except APIConflictError as e:
            if not e.already_exists:
                raise
            job = self._api.get(RAYJOBS, namespace=ns, name=name)  # the server's copy, not the cache's
            if not owned_by(job, uid):
                return None
            log.info("adopted RayJob %s/%s", ns, name, extra={"namespace": ns, "experiment": obj["metadata"]["name"]})
        else:
            verb = "re-created missing" if recreated else "created"
            log.info("%s RayJob %s/%s", verb, ns, name, extra={"namespace": ns, "experiment": obj["metadata"]["name"]})
            self._events.post(obj, type="Warning" if recreated else "Normal",
                              reason="RayJobRecreated" if recreated else "Created",
                              message=f"{verb} RayJob {name}")  # fmt: skip
        self._rayjobs.put(job)
        return cast(RayJob, job)

    # -- status --------------------------------------------------------------------------------------

    # Events go out before the status write: a reader who sees the status can also see why (and a write
    # that fails and is retried posts the same, deterministically named event, which the server refuses).

    def _invalid(self, obj: Body, error: SpecError) -> Result:
        status = _status(obj)
        message = "; ".join(str(e) for e in error.errors) or str(error)
        inputs = Inputs(generation=_generation(obj), now=self._now(), valid=Mark("False", "InvalidSpec", message))
        before = condition(status, "Valid")
        if before is None or before.get("status") != "False" or before.get("message") != message:
            self._events.post(obj, type="Warning", reason="InvalidSpec", message=message)
        self._write(obj, desired_status(status, inputs))
        return Result(phase="Invalid")

    def _conflict(self, obj: Body, job_name: str) -> Result:
        ns = obj["metadata"]["namespace"]
        message = f"RayJob {ns}/{job_name} exists and is not owned by this experiment; delete it or rename this one"
        outcome = dataclasses.replace(follow(None), running=Mark("False", "RayJobConflict", message))
        inputs = Inputs(generation=_generation(obj), now=self._now(), valid=Mark("True", "Valid"), outcome=outcome)
        status = _status(obj)
        if (condition(status, "Running") or {}).get("reason") != "RayJobConflict":
            self._events.post(obj, type="Warning", reason="RayJobConflict", message=message)
        self._write(obj, desired_status(status, inputs))
        return Result(requeue_after=self._settings.reconcile.max_backoff_seconds, phase="Pending")

    def _follow(self, obj: Body, job: RayJob, *, total: int | None = None) -> Result:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        status = _status(obj)
        labels = (job.get("metadata") or {}).get("labels") or {}
        outcome = follow(job.get("status"), queue=labels.get(LABEL_QUEUE), suspended=bool(job["spec"].get("suspend")))
        changed = spec_changed(obj, job)
        current: Summary | None = status.get("summary")
        summary, announced = self._summarizer.summary(key, current=current)
        if total is None:
            total = total_trials(job)
        finishing = outcome.terminal and status.get("phase") != outcome.phase
        requeue = None
        if summary == current:
            summary = None  # nothing new
        elif summary is not None and not finishing and (wait := self._summarizer.due_in(key)) > 0:
            summary, requeue = None, wait  # keep the current one until the interval ends (never past the end)
        inputs = Inputs(
            generation=_generation(obj), now=self._now(), valid=self._validity(obj),
            outcome=outcome, rayjob=job, spec_changed=changed, summary=summary,
            progress=progress(summary or current, total=announced if announced is not None else total),
        )  # fmt: skip
        if outcome.phase != status.get("phase") and outcome.terminal:
            failed = outcome.failed is not None and outcome.failed.status == "True"
            mark = outcome.failed if failed else outcome.complete
            assert mark is not None
            self._events.post(obj, type="Warning" if failed else "Normal", reason=mark.reason, message=mark.message)
        if changed is not None and (condition(status, "SpecChanged") or {}).get("status") != "True":
            self._events.post(obj, type="Warning", reason="SpecChanged", message=changed.message)
        self._write(obj, desired_status(status, inputs))
        if summary is not None:
            self._summarizer.patched(key)
        # Trials the scheduler stopped, exploited, cut or saw fail: Events, paced (never failing the reconcile).
        due = self._decisions.post(obj, key) if self._decisions is not None else None
        if due is not None:
            requeue = due if requeue is None else min(requeue, due)
        return Result(requeue_after=requeue, phase=outcome.phase)

    def _validity(self, obj: Body) -> Mark:
        """Valid=True, or Valid=False naming every problem of a spec edited into something invalid after its
        RayJob was created (the RayJob runs on with the spec it was created with)."""
        try:
            load_object(obj)
        except SpecError as e:
            message = "; ".join(str(err) for err in e.errors) or str(e)
            return Mark("False", "InvalidSpec", f"{message} (the RayJob keeps running the spec it was created with)")
        return Mark("True", "Valid", "the spec is valid")

    def _write(self, obj: Body, desired: ExperimentStatus) -> None:
        self._writer.write(obj, desired)


def _status(obj: Body) -> ExperimentStatus:
    status: ExperimentStatus = obj.get("status") or {}
    return status


def _generation(obj: Body) -> int:
    return int((obj.get("metadata") or {}).get("generation") or 1)
