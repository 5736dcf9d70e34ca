"""The operator process: watches, a work queue, reconcile workers and the HTTP server, wired together.

::

    watch tuneexperiments ──┐                    ┌─▶ worker ─▶ Reconciler ─▶ RayJob create, status patch, Event
    watch rayjobs ──────────┼─▶ caches + queue ──┼─▶ worker
    ingest (exporter) ──────┘   (keys to check)  └─▶ …
    resync timer ───────────┘

Everything is threads: the ``kubernetes`` client is blocking, and a handful of threads (one watch per resource and
namespace, ``reconcile.workers`` workers, the exporter's server) is plenty for hundreds of experiments. The
exporter is the engine's (same ingest, same token check, same collector), with the operator's ``/readyz`` and
``/healthz`` routes and health collector on the same registry. Ingest notifies the queue, so a new result leads
to a (rate-limited) status update without waiting for the resync.

Shutdown (:meth:`Operator.stop`, on SIGTERM): stop serving ingest (reporting callbacks buffer and retry against
the next operator), stop the watches, let the workers finish the reconcile in hand, then write every summary
that the rate limit held back, so a restart loses no status.
"""

from __future__ import annotations

import datetime
import hmac
import logging
import threading
import time
from collections.abc import Callable

from kubernetes import client
from prometheus_client.registry import CollectorRegistry

from kubetune.exporter import Authorize, ExperimentStore, Exporter, HttpError, Request, Response
from kubetune_operator.api import RAYJOBS, TUNE_EXPERIMENTS, KubeAPI, RateLimiter, Resource
from kubetune_operator.bodies import Body
from kubetune_operator.caches import Cache, Key, key_of
from kubetune_operator.errors import OperatorError
from kubetune_operator.metrics import OperatorMetrics
from kubetune_operator.posting import EventPoster
from kubetune_operator.queueing import WorkQueue
from kubetune_operator.reconciling import Reconciler, experiment_key_of_rayjob
from kubetune_operator.settings import OperatorSettings
from kubetune_operator.summarizing import Summarizer
from kubetune_operator.tokens import ExperimentTokens
from kubetune_operator.watching import Watcher

log = logging.getLogger("kubetune_operator")

#: RayJobs the operator creates carry this label; its RayJob watch selects on it.
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=kubetune"


def utc_now() -> str:
    return datetime.datetime.now(tz=datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def scoped_tokens(tokens: ExperimentTokens) -> Authorize:
    """The exporter's ``authorize`` hook: a derived token is good for its own experiment only.

    The exporter names the experiment before it reads a body (``Kubetune-Experiment``), so the hook gets the
    experiment, not a batch.
    """

    def authorize(token: bytes, *, namespace: str, name: str) -> bool:
        return hmac.compare_digest(token, tokens.token(namespace=namespace, name=name).encode())

    return authorize


class Operator:
    """One operator process. ``api_client`` is built once by the caller (in-cluster config or a kubeconfig)."""

    def __init__(
        self, *, settings: OperatorSettings, api_client: client.ApiClient, token: str,
        registry: CollectorRegistry | None = None, now: Callable[[], str] = utc_now,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        limiter = RateLimiter(qps=settings.api.qps, burst=settings.api.burst)
        self.api = KubeAPI(api_client=api_client, limiter=limiter, timeout=settings.api.request_timeout_seconds)
        self.experiments, self.rayjobs = Cache(), Cache()
        rc = settings.reconcile
        self.queue: WorkQueue[Key] = WorkQueue(
            backoff_seconds=rc.backoff_seconds, max_backoff_seconds=rc.max_backoff_seconds
        )
        # Ingest notifies the queue: a new result leads to a (rate-limited) status update.
        self.store = ExperimentStore(limits=settings.store, on_change=self.queue.add)
        tokens = ExperimentTokens(token)
        self.summarizer = Summarizer(store=self.store, interval_seconds=settings.status.summary_interval_seconds,
                                     max_config_bytes=settings.status.max_config_bytes)  # fmt: skip
        self.reconciler = Reconciler(
            api=self.api, experiments=self.experiments, rayjobs=self.rayjobs, summarizer=self.summarizer,
            tokens=tokens, events=EventPoster(api=self.api, now=now), settings=settings, now=now,
        )  # fmt: skip
        self.metrics = OperatorMetrics(
            phases=lambda: [str((b.get("status") or {}).get("phase") or "Unknown") for b in self.experiments.values()],
            queue_depth=lambda: len(self.queue), ready=self.ready,
        )  # fmt: skip
        self.exporter = Exporter(store=self.store, registry=self.registry, token=token, host=settings.server.host,
                                 port=settings.server.port, authorize=scoped_tokens(tokens))  # fmt: skip
        self.registry.register(self.metrics)
        self.exporter.add_route("GET", "/readyz", self._readyz)
        self.exporter.add_route("GET", "/healthz", self._healthz)
        self.watchers = [
            self._watcher(resource, namespace, selector)
            for namespace in (settings.watch.namespaces or (None,))
            for resource, selector in ((TUNE_EXPERIMENTS, None), (RAYJOBS, MANAGED_SELECTOR))
        ]
        self._workers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._resync = threading.Thread(target=self._resync_loop, name="resync", daemon=True)

    def _watcher(self, resource: Resource, namespace: str | None, selector: str | None) -> Watcher:
        w = self.settings.watch
        notify = self._on_experiment if resource is TUNE_EXPERIMENTS else self._on_rayjob
        return Watcher(
            api=self.api, resource=resource, namespace=namespace,
            cache=self.experiments if resource is TUNE_EXPERIMENTS else self.rayjobs, notify=notify,
            timeout_seconds=w.timeout_seconds, backoff_seconds=self.settings.reconcile.backoff_seconds,
            max_backoff_seconds=self.settings.reconcile.max_backoff_seconds, label_selector=selector,
            on_error=self.metrics.watch_failed,
        )  # fmt: skip

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Serve HTTP, start the watches and workers; returns at once (see :meth:`wait_ready`)."""
        self.exporter.start()
        for watcher in self.watchers:
            watcher.start()
        for i in range(self.settings.reconcile.workers):
            worker = threading.Thread(target=self._work, name=f"reconcile-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._resync.start()
        log.info("operator started", extra={"namespaces": list(self.settings.watch.namespaces) or "all",
                                            "port": self.exporter.port})  # fmt: skip

    def ready(self) -> bool:
        return all(w.synced.is_set() for w in self.watchers)

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(w.synced.wait(max(0.0, deadline - time.monotonic())) for w in self.watchers)

    def stop(self, *, grace_seconds: float = 10.0) -> None:
        """Stop gracefully: ingest off, watches off, reconciles in hand finished, held-back summaries written.

        ``grace_seconds=0`` is a kill: nothing is waited for or flushed (what a crash leaves behind).
        """
        self._stopping.set()
        self.exporter.stop()
        for watcher in self.watchers:
            watcher.stop()
        self.queue.shutdown()
        if grace_seconds <= 0:
            return
        deadline = time.monotonic() + grace_seconds
        for thread in [*self._workers, self._resync]:
            thread.join(max(0.0, deadline - time.monotonic()))
        for watcher in self.watchers:
            watcher.join(max(0.0, deadline - time.monotonic()))
        self._flush_summaries(deadline)
        log.info("operator stopped")

    def _flush_summaries(self, deadline: float) -> None:
        """Write the summaries the rate limit held back (pacing off: this is the last chance)."""
        self.summarizer.stop_pacing()
        for key in self.experiments.keys():  # noqa: SIM118 (a list copy, not a dict view)
            if time.monotonic() >= deadline:
                log.warning("shutdown grace period over; some trial summaries were not written")
                return
            if self.store.summary(*key) is None:
                continue
            try:
                self.reconciler.reconcile(key)
            except OperatorError as e:
                log.warning("final status write of %s/%s failed: %s", *key, e)

    # -- events ----------------------------------------------------------------------------------------

    def _on_experiment(self, kind: str, body: Body) -> None:
        self.queue.add(key_of(body))

    def _on_rayjob(self, kind: str, body: Body) -> None:
        key = experiment_key_of_rayjob(body)
        if key is not None:
            self.queue.add(key)

    def _resync_loop(self) -> None:
        while not self._stopping.wait(self.settings.watch.resync_seconds):
            for key in self.experiments.keys():  # noqa: SIM118 (a list copy, not a dict view)
                self.queue.add(key)

    def _work(self) -> None:
        while True:
            key = self.queue.get()
            if key is None:
                return
            started = time.perf_counter()
            try:
                result = self.reconciler.reconcile(key)
            except OperatorError as e:
                outcome = "requeue" if e.temporary else "error"
                log.log(logging.INFO if e.temporary else logging.ERROR, "reconcile failed: %s", e,
                        extra={"namespace": key[0], "experiment": key[1], "retry": e.temporary})  # fmt: skip
                if e.temporary:
                    self.queue.retry(key, delay=getattr(e, "delay", None))
            except Exception:  # a bug: keep serving the other experiments
                outcome = "error"
                log.exception("reconcile crashed", extra={"namespace": key[0], "experiment": key[1]})
            else:
                outcome = "success"
                self.queue.forget(key)
                if result.requeue_after is not None:
                    self.queue.add_after(key, result.requeue_after)
            finally:
                self.queue.done(key)
            self.metrics.reconciled(result=outcome, seconds=time.perf_counter() - started)

    # -- HTTP ------------------------------------------------------------------------------------------

    def _readyz(self, request: Request) -> Response:
        if not self.ready():
            raise HttpError(503, "not ready: the first list of every watch has not finished")
        return Response(200, b"ok\n")

    def _healthz(self, request: Request) -> Response:
        dead = [w for w in self.watchers if not w.alive]
        stuck = [t.name for t in self._workers if not t.is_alive()]
        if (dead or stuck) and not self._stopping.is_set():
            raise HttpError(503, f"threads died: {[w.resource.plural for w in dead] + stuck}")
        return Response(200, b"ok\n")
