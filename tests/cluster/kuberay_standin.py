"""A stand-in for KubeRay's RayJob controller and the kubelet: the one simulated part of the whole-loop tests.

There is neither a KubeRay operator nor a kubelet here, so this small controller plays both for RayJobs on the
test API server. It writes the states KubeRay v1.7.0 writes, in the order its ``rayjob_controller.go`` does (K8s
job submission mode), and runs what a cluster would run as local processes:

=====================  ==================================================================================
RayJob status           what the stand-in does (KubeRay's code path)
=====================  ==================================================================================
"" (New)               adds the ``ray.io/rayjob-finalizer``; ``initRayJobStatusIfNeed``: ``jobId`` and
                       ``rayClusterName`` (``<name>-<5 chars>``), ``startTime`` → ``Initializing``
Initializing           creates the RayCluster object from ``rayClusterSpec`` (owned by the RayJob, validated by
                       the real API server against KubeRay's CRD) and starts its head as a local
                       ``ray start --head``; the RayCluster's ``state`` becomes ``ready``; ``dashboardURL`` →
                       ``Running``
Running                runs ``spec.entrypoint`` with the runtime environment's ``env_vars`` and the head
                       container's ``env`` (Secrets resolved through the API) and ``RAY_ADDRESS``; ``jobStatus``
                       ``RUNNING``, then ``SUCCEEDED`` → ``Complete``, or ``FAILED`` → ``Failed``/``AppFailed``;
                       ``activeDeadlineSeconds`` passed → ``Failed``/``DeadlineExceeded`` (never retried)
Failed, retries left   ``checkBackoffLimitAndUpdateStatusIfNeeded``: ``failed`` < ``backoffLimit`` + 1 →
                       ``Retrying``: the RayCluster and its head are deleted, the status is reset → New
``spec.suspend``       Initializing or Running → ``Suspending`` (``updateStatusToSuspendingIfNeeded``): the
                       cluster, head and entrypoint go, the status is reset → ``Suspended``; unsuspended → New
                       (how Kueue holds a job until it admits it, and preempts it)
Complete / Failed      ``shutdownAfterJobFinishes``: the RayCluster goes after ``ttlSecondsAfterFinished``
deleted                the entrypoint and the head are stopped, the cluster deleted, the finalizer removed
=====================  ==================================================================================

What it does not do: no submitter Job object (the Job controller does not run here), no Ray token auth between
processes, no worker pods (one local head with this machine's CPUs serves every group), no volumes (the tests
use a ``spec.storage.path`` on the local disk, like a shared filesystem mounted at the same path everywhere).
Cluster DNS is a map: a Service host name in an environment variable (``kubetune.<ns>.svc``) becomes the
address the test gives for it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import os
import random
import shutil
import signal
import string
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client

from tests.cluster.controlplane import free_port

FINALIZER = "ray.io/rayjob-finalizer"
RAY = ("ray.io", "v1")
VENV_BIN = Path(sys.executable).parent


def _now() -> str:
    return datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))


@dataclass
class Attempt:
    """One run of a RayJob's entrypoint (KubeRay retries make several)."""

    cluster: str
    log: Path
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()


@dataclass
class _Job:
    head: subprocess.Popen[bytes] | None = None
    head_address: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    deleted_cluster_at: float | None = None


class KubeRayStandIn:
    def __init__(self, *, api_client: client.ApiClient, namespaces: tuple[str, ...], workdir: Path,
                 services: Mapping[str, str] | None = None, poll_seconds: float = 0.2) -> None:  # fmt: skip
        self._objects = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self.namespaces = namespaces
        self.workdir = workdir
        self.services = dict(services or {})
        self._poll = poll_seconds
        self._jobs: dict[tuple[str, str], _Job] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kuberay-standin", daemon=True)
        self._lock = threading.Lock()
        self.errors: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)
        with self._lock:
            for job in self._jobs.values():
                for attempt in job.attempts:
                    _kill(attempt.process)
                if job.head is not None:
                    _kill(job.head)

    def attempts(self, namespace: str, name: str) -> list[Attempt]:
        with self._lock:
            return list(self._jobs.get((namespace, name), _Job()).attempts)

    def kill_driver(self, namespace: str, name: str) -> None:
        """SIGKILL the running entrypoint and its Ray head, as a node failure would (KubeRay then retries)."""
        with self._lock:
            job = self._jobs[(namespace, name)]
            if job.attempts:
                _kill(job.attempts[-1].process)
            if job.head is not None:
                _kill(job.head)

    # -- the controller loop -------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            for namespace in self.namespaces:
                try:
                    listed = cast(
                        "dict[str, Any]", self._objects.list_namespaced_custom_object(*RAY, namespace, "rayjobs")
                    )
                except client.ApiException as e:
                    self.errors.append(f"list rayjobs in {namespace}: {e.status}")
                    continue
                for job in listed["items"]:
                    try:
                        self._reconcile(job)
                    except client.ApiException as e:
                        if e.status not in (404, 409):  # raced a deletion or another write: next round
                            self.errors.append(f"{job['metadata']['name']}: {e.status} {e.body}")
            self._stopping.wait(self._poll)

    def _reconcile(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        key = (meta["namespace"], meta["name"])
        with self._lock:
            state = self._jobs.setdefault(key, _Job())
        status: dict[str, Any] = dict(job.get("status") or {})
        if meta.get("deletionTimestamp"):
            self._finalize(job, state)
            return
        deployment = status.get("jobDeploymentStatus", "")
        suspend = bool(job["spec"].get("suspend"))
        if deployment in ("Initializing", "Running") and suspend:
            status["jobDeploymentStatus"] = "Suspending"
        elif deployment == "Suspending":
            self._delete_cluster(job, state, status.get("rayClusterName", ""))
            for name in ("rayClusterName", "dashboardURL", "jobId", "message", "reason", "rayJobInfo"):
                status.pop(name, None)
            status.update(jobStatus="", jobDeploymentStatus="Suspended")
        elif deployment == "Suspended":
            if suspend:
                return
            status.update(jobStatus="", jobDeploymentStatus="")  # New
        elif deployment == "":
            if FINALIZER not in (meta.get("finalizers") or []):
                meta["finalizers"] = [*(meta.get("finalizers") or []), FINALIZER]
                self._objects.replace_namespaced_custom_object(*RAY, key[0], "rayjobs", key[1], job)
                return
            status.update(jobId=status.get("jobId") or f"{key[1]}-{_suffix()}",
                          rayClusterName=status.get("rayClusterName") or f"{key[1]}-{_suffix()}",
                          jobDeploymentStatus="Initializing", startTime=_now())  # fmt: skip
        elif deployment == "Initializing":
            cluster = status["rayClusterName"]
            self._create_cluster(job, cluster)
            self._start_head(state, key, cluster)
            status.update(dashboardURL=f"{cluster}-head-svc.{key[0]}.svc.cluster.local:8265",
                          jobDeploymentStatus="Running")  # fmt: skip
        elif deployment == "Running":
            if not self._run(job, status, state):
                return
        elif deployment == "Retrying":
            self._delete_cluster(job, state, status.get("rayClusterName", ""))
            for name in ("rayClusterName", "dashboardURL", "jobId", "message", "reason", "rayJobInfo"):
                status.pop(name, None)
            status.update(jobStatus="", jobDeploymentStatus="")  # New: a new cluster for the next attempt
        elif deployment in ("Complete", "Failed"):
            self._shut_down_after_finish(job, state, status)
            return
        else:
            return
        self._write_status(job, status)

    def _run(self, job: dict[str, Any], status: dict[str, Any], state: _Job) -> bool:
        """One look at the running job; False when nothing changed."""
        attempt = (
            state.attempts[-1] if state.attempts and state.attempts[-1].cluster == status["rayClusterName"] else None
        )
        if attempt is None:
            state.attempts.append(self._launch(job, state, status["rayClusterName"]))
            status["jobStatus"] = "RUNNING"
            return True
        deadline = job["spec"].get("activeDeadlineSeconds")
        started = _parse_time(status.get("startTime"))
        if deadline and started and time.time() - started > deadline:
            _kill(attempt.process)
            status.update(jobDeploymentStatus="Failed", reason="DeadlineExceeded", endTime=_now(),
                          message=f"The RayJob has passed the activeDeadlineSeconds. StartTime: {status['startTime']}. "
                          f"ActiveDeadlineSeconds: {deadline}")  # fmt: skip
            status["failed"] = int(status.get("failed") or 0) + 1
            return True
        code = attempt.exit_code
        if code is None:
            return False
        status["endTime"] = _now()
        if code == 0:
            status.update(jobStatus="SUCCEEDED", jobDeploymentStatus="Complete", message="Job finished successfully.")
            status["succeeded"] = int(status.get("succeeded") or 0) + 1
            status.pop("reason", None)
            return True
        status.update(jobStatus="FAILED", jobDeploymentStatus="Failed", reason="AppFailed",
                      message=f"Job entrypoint command failed with exit code {code}")  # fmt: skip
        status["failed"] = int(status.get("failed") or 0) + 1
        backoff_limit = int(job["spec"].get("backoffLimit") or 0)
        if status["failed"] < backoff_limit + 1:
            status["jobDeploymentStatus"] = "Retrying"
        return True

    # -- the simulated cluster ------------------------------------------------------------------------------

    def _create_cluster(self, job: dict[str, Any], name: str) -> None:
        meta = job["metadata"]
        body = {
            "apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {
                "name": name, "namespace": meta["namespace"],
                "labels": {**(meta.get("labels") or {}), "ray.io/originated-from-crd": "RayJob",
                           "ray.io/originated-from-cr-name": meta["name"]},
                "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayJob", "name": meta["name"],
                                     "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": job["spec"]["rayClusterSpec"],
        }  # fmt: skip
        try:
            self._objects.create_namespaced_custom_object(*RAY, meta["namespace"], "rayclusters", body)
        except client.ApiException as e:
            if e.status != 409:
                raise
        self._objects.patch_namespaced_custom_object_status(*RAY, meta["namespace"], "rayclusters", name,
                                                            {"status": {"state": "ready"}})  # fmt: skip

    def _start_head(self, state: _Job, key: tuple[str, str], cluster: str) -> None:
        if state.head is not None and state.head.poll() is None:
            return
        port = free_port()
        temp = Path(f"/tmp/kt-{_suffix()}")  # Ray's socket paths must stay short
        temp.mkdir()
        log = (self.workdir / f"{cluster}-head.log").open("wb")
        state.head = subprocess.Popen(
            [str(VENV_BIN / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
             f"--temp-dir={temp}", "--include-dashboard=false", "--disable-usage-stats"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )  # fmt: skip
        log.close()
        state.head_address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        head_log = self.workdir / f"{cluster}-head.log"
        while "Ray runtime started" not in head_log.read_text(errors="replace"):
            if state.head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start --head failed: {head_log.read_text(errors='replace')}")
            time.sleep(0.2)

    def _delete_cluster(self, job: dict[str, Any], state: _Job, name: str) -> None:
        if state.attempts:
            _kill(state.attempts[-1].process)
        if state.head is not None:
            _kill(state.head)
            state.head = None
        if name:
            with contextlib.suppress(client.ApiException):
                self._objects.delete_namespaced_custom_object(*RAY, job["metadata"]["namespace"], "rayclusters", name)

    def _shut_down_after_finish(self, job: dict[str, Any], state: _Job, status: dict[str, Any]) -> None:
        if not job["spec"].get("shutdownAfterJobFinishes") or state.deleted_cluster_at is not None:
            return
        ended = _parse_time(status.get("endTime")) or time.time()
        if time.time() - ended >= int(job["spec"].get("ttlSecondsAfterFinished") or 0):
            self._delete_cluster(job, state, status.get("rayClusterName", ""))
            state.deleted_cluster_at = time.monotonic()

    def _finalize(self, job: dict[str, Any], state: _Job) -> None:
        self._delete_cluster(job, state, (job.get("status") or {}).get("rayClusterName", ""))
        meta = job["metadata"]
        if FINALIZER in (meta.get("finalizers") or []):
            meta["finalizers"] = [f for f in meta["finalizers"] if f != FINALIZER]
            self._objects.replace_namespaced_custom_object(*RAY, meta["namespace"], "rayjobs", meta["name"], job)

    # -- the entrypoint, as the head would run it -----------------------------------------------------------

    def _launch(self, job: dict[str, Any], state: _Job, cluster: str) -> Attempt:
        meta, spec = job["metadata"], job["spec"]
        env = {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
               "LANG": "C.UTF-8", "RAY_ADDRESS": state.head_address, "RAY_AUTH_MODE": "disabled"}  # fmt: skip
        if os.environ.get("PYTHONPATH"):  # the code under test, where the image would have its installed kubetune
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        for var in head.get("env") or []:
            value = self._env_value(meta["namespace"], var)
            if value is not None:
                env[var["name"]] = value
        runtime_env = yaml.safe_load(spec.get("runtimeEnvYAML") or "{}") or {}
        env.update({k: str(v) for k, v in (runtime_env.get("env_vars") or {}).items()})
        env = {k: self._resolve_services(v) for k, v in env.items()}
        number = len(state.attempts) + 1
        cwd = self.workdir / f"{meta['name']}-attempt-{number}"
        cwd.mkdir(parents=True, exist_ok=True)
        log = cwd / "driver.log"
        with log.open("wb") as out:
            process = subprocess.Popen(["/bin/sh", "-c", spec["entrypoint"]], cwd=cwd, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        return Attempt(cluster=cluster, log=log, process=process)

    def _env_value(self, namespace: str, var: Mapping[str, Any]) -> str | None:
        if "value" in var:
            return str(var["value"])
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            return None  # fieldRef and friends: nothing the entrypoint of these tests reads
        secret = self._core.read_namespaced_secret(ref["name"], namespace)
        return base64.b64decode((secret.data or {})[ref["key"]]).decode()

    def _resolve_services(self, value: str) -> str:
        for host, address in self.services.items():
            value = value.replace(host, address)
        return value

    def _write_status(self, job: dict[str, Any], status: dict[str, Any]) -> None:
        body = {**job, "status": {k: v for k, v in status.items() if v not in (None, "")}}
        self._objects.replace_namespaced_custom_object_status(*RAY, job["metadata"]["namespace"], "rayjobs",
                                                              job["metadata"]["name"], body)  # fmt: skip


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the process and everything it started (its own session)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)


def clean_temp_dirs() -> None:
    for path in Path("/tmp").glob("kt-?????"):
        shutil.rmtree(path, ignore_errors=True)
