"""Following a RayJob: KubeRay's status → the experiment's phase and conditions (pure functions).

KubeRay v1.7.0 reports a run with ``jobDeploymentStatus`` (the RayJob's lifecycle: ``Initializing``,
``Running``, ``Complete``, ``Failed``, ``Retrying``, ``ValidationFailed``, ``Suspending``/``Suspended``,
``Waiting``), ``jobStatus`` (the Ray job: ``PENDING`` … ``SUCCEEDED``/``FAILED``/``STOPPED``), ``reason`` and
``message`` (why it failed) and ``failed``/``succeeded`` attempt counts. The mapping:

==========================================  ==========  =====================================================
RayJob                                      phase       conditions
==========================================  ==========  =====================================================
no status yet, ``Initializing``, ``Waiting``  Pending     Running=False (reason: the deployment status)
``Suspending``, ``Suspended``                 Pending     Running=False, reason Suspended (Queued when the RayJob
                                                        waits in a Kueue queue: admission or preemption)
``Running``                                 Running     Running=True
``Retrying``                                Retrying    Running=False, reason Retrying, message names the
                                                        failed attempt (KubeRay starts a new RayCluster)
``Complete`` + ``SUCCEEDED``                Succeeded   Complete=True (reason Succeeded), Running=False
``Complete`` + another job status           Failed      Failed=True, reason KubeRay's or Job<STATUS>
``Failed``                                  Failed      Failed=True, reason = KubeRay's (AppFailed,
                                                        DeadlineExceeded, SubmissionFailed, ...)
``ValidationFailed``                        Failed      Failed=True, reason ValidationFailed: KubeRay refused
                                                        the RayJob (a platform problem, not the user's spec,
                                                        which the operator validated)
anything else                               Pending     Running=Unknown, reason = the raw value
==========================================  ==========  =====================================================

``Complete`` and ``Failed`` are KubeRay's terminal states (``IsJobDeploymentTerminal``); ``ValidationFailed`` is
not terminal to KubeRay (it waits for a spec fix), but the operator never changes a RayJob's spec, so it is
terminal here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kubetune.kube.bodies import Phase, RayJobState, RayJobStatus

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Mark:
    """A condition's status, reason and message, without its bookkeeping (times, generation)."""

    status: Status
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Outcome:
    """Where the experiment stands given its RayJob."""

    phase: Phase
    running: Mark
    #: Set once terminal: Complete=True on success, Failed=True on failure (the other one False).
    complete: Mark | None = None
    failed: Mark | None = None

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


_PENDING = frozenset({"", "Initializing", "Waiting", "New"})


def follow(status: RayJobStatus | None, *, queue: str | None = None, suspended: bool = False) -> Outcome:
    """The experiment's outcome for a RayJob with ``status`` (None: just created, KubeRay has not looked yet).

    ``queue``: the Kueue LocalQueue of the RayJob, ``suspended``: its ``spec.suspend``. A queued RayJob that is
    suspended waits for admission (or was preempted): Pending, reason Queued, not a fault.
    """
    status = status or {}
    deployment = status.get("jobDeploymentStatus") or ""
    job = status.get("jobStatus") or ""
    reason = status.get("reason") or ""
    message = status.get("message") or ""
    if deployment in _PENDING:
        return Outcome("Pending", Mark("False", deployment or "Created", "waiting for the Ray cluster"))
    if deployment in ("Suspending", "Suspended") or (queue and suspended and deployment in _PENDING):
        if queue:
            why = f"waiting in Kueue LocalQueue {queue} to be admitted (a preempted run resumes from storage then)"
            return Outcome("Pending", Mark("False", "Queued", why))
        return Outcome("Pending", Mark("False", "Suspended", message or "the RayJob is suspended"))
    if deployment == "Running":
        return Outcome("Running", Mark("True", "Running", f"Ray job {job}" if job else ""))
    if deployment == "Retrying":
        attempt = int(status.get("failed") or 0)
        why = f" ({reason}: {message})" if reason else ""
        return Outcome("Retrying", Mark("False", "Retrying", f"attempt {attempt} failed{why}; KubeRay retries it "
                                                            "on a new Ray cluster"))  # fmt: skip
    if deployment == "Complete" and job == "SUCCEEDED":
        return _done(succeeded=True, reason="Succeeded", message=message or "the Ray job succeeded")
    if deployment in ("Complete", "Failed", "ValidationFailed"):
        if deployment == "ValidationFailed":
            reason = reason or "ValidationFailed"
        reason = reason or (f"Job{job.title()}" if job else "Failed")
        return _done(succeeded=False, reason=reason, message=message or f"the Ray job ended {job or 'in failure'}")
    return Outcome("Pending", Mark("Unknown", deployment, message))


def _done(*, succeeded: bool, reason: str, message: str) -> Outcome:
    finished = Mark("False", "Finished", "the RayJob finished")
    if succeeded:
        return Outcome("Succeeded", finished, complete=Mark("True", reason, message), failed=Mark("False", reason))
    return Outcome("Failed", finished, complete=Mark("False", reason), failed=Mark("True", reason, message))


def mirror(status: RayJobStatus | None) -> RayJobState:
    """The small copy of KubeRay's status kept in the experiment's status (for ``kubectl describe``)."""
    keep = ("jobDeploymentStatus", "jobStatus", "reason", "message", "failed", "succeeded", "rayClusterName")
    return {k: v for k, v in (status or {}).items() if k in keep and v not in (None, "")}  # type: ignore[return-value]
