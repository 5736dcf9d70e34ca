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

Several replicas (``leader.enabled``): every replica watches (its caches stay warm) and serves HTTP, but only the
one holding the Lease (:mod:`kubetune_operator.leading`) runs the workers and keeps the trial store; the others
forward ingest to it (:mod:`kubetune_operator.forwarding`). A replica that loses the Lease stops reconciling and
reports it (:attr:`Operator.lost_leadership`: the command exits, Kubernetes restarts it as a follower).

Shutdown (:meth:`Operator.stop`, on SIGTERM): stop serving ingest (reporting callbacks buffer and retry against
the next operator), stop the watches, let the workers finish the reconcile in hand, write every summary that the
rate limit held back, so a restart loses no status, and release the Lease, so another replica leads at once.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable

from kubernetes import client
from prometheus_client.registry import CollectorRegistry

from kubetune.exporter import ExperimentStore, Exporter, HttpError, Request, Response
from kubetune.kube.api import RAYJOBS, TUNE_EXPERIMENTS, KubeAPI, Resource
from kubetune.kube.bodies import Body
from kubetune.reporting.wire import INGEST_PATH
from kubetune_operator.assembling import limits, own_identity, utc_now
from kubetune_operator.caches import Cache, Key, key_of
from kubetune_operator.decisions import DecisionEvents
from kubetune_operator.errors import OperatorError
from kubetune_operator.forwarding import forward
from kubetune_operator.leading import LeaderElector
from kubetune_operator.metrics import OperatorMetrics
from kubetune_operator.owning import experiment_key_of_rayjob
from kubetune_operator.posting import EventPoster
from kubetune_operator.queueing import WorkQueue
from kubetune_operator.reconciling import Reconciler
from kubetune_operator.settings import OperatorSettings
from kubetune_operator.summarizing import Summarizer
from kubetune_operator.tokens import ExperimentTokens
from kubetune_operator.watching import Watcher

log = logging.getLogger("kubetune_operator")

#: RayJobs the operator creates carry this label; its RayJob watch selects on it.
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=kubetune"


class Operator:
    """One operator process. ``api_client`` is built once by the caller (in-cluster config or a kubeconfig)."""

    def __init__(
        self, *, settings: OperatorSettings, api_client: client.ApiClient, token: str,
        registry: CollectorRegistry | None = None, now: Callable[[], str] = utc_now,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        self.api = KubeAPI(api_client=api_client, limits=limits(settings.api),
                           timeout=settings.api.request_timeout_seconds)  # fmt: skip
        self.experiments, self.rayjobs = Cache(), Cache()
        rc = settings.reconcile
        self.queue: WorkQueue[Key] = WorkQueue(
            backoff_seconds=rc.backoff_seconds, max_backoff_seconds=rc.max_backoff_seconds
        )
        # Ingest notifies the queue: a new result leads to a (rate-limited) status update.
        self.store = ExperimentStore(limits=settings.store, on_change=self.queue.add)
        tokens = ExperimentTokens(token, path=settings.ingest.token_file,
                                  previous_seconds=settings.ingest.previous_token_seconds)  # fmt: skip
        self.summarizer = Summarizer(store=self.store, interval_seconds=settings.status.summary_interval_seconds,
                                     max_config_bytes=settings.status.max_config_bytes)  # fmt: skip
        self.events = EventPoster(api=self.api, now=now)
        self.decisions = DecisionEvents(store=self.store, events=self.events,
                                        window_seconds=settings.status.trial_end_event_seconds)  # fmt: skip
        self.reconciler = Reconciler(
            api=self.api, experiments=self.experiments, rayjobs=self.rayjobs, summarizer=self.summarizer,
            tokens=tokens, events=self.events, settings=settings, now=now,
            decisions=self.decisions,
        )  # fmt: skip
        self.metrics = OperatorMetrics(
            phases=lambda: [str((b.get("status") or {}).get("phase") or "Unknown") for b in self.experiments.values()],
            queue_depth=lambda: len(self.queue), queue_oldest=self.queue.oldest_age, ready=self.ready,
            leading=lambda: self.leading, events_dropped=self.events.dropped,
        )  # fmt: skip
        # Every token is judged by the hook (it follows rotations); the exporter's own token is one nobody has.
        self.exporter = Exporter(store=self.store, registry=self.registry, token=secrets.token_hex(32),
                                 host=settings.server.host, port=settings.server.port,
                                 authorize=tokens.authorize)  # fmt: skip
        self.registry.register(self.metrics)
        self.exporter.add_route("GET", "/readyz", self._readyz)
        self.exporter.add_route("GET", "/healthz", self._healthz)
        self._ingest = self.exporter.ingest
        self.exporter.add_route("POST", INGEST_PATH, self._ingest_or_forward)
        #: Set when this replica led and lost the Lease: it must stop (the command exits).
        self.lost_leadership = threading.Event()
        self._leading = threading.Event()
        self.elector: LeaderElector | None = None
        if settings.leader.enabled:
            lead = settings.leader
            url = lead.advertise_url or (f"http://{os.environ['POD_IP']}:{settings.server.port}"
                                         if os.environ.get("POD_IP") else "")  # fmt: skip
            self.elector = LeaderElector(
                api=self.api, namespace=lead.lease_namespace or settings.namespace, settings=lead,
                identity=lead.identity or own_identity(), url=url, on_started_leading=self._lead,
                on_stopped_leading=self._lose,
            )  # fmt: skip
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
        """Serve HTTP, start the watches, and the workers once leading; returns at once (see :meth:`wait_ready`)."""
        self.exporter.start()
        self.events.start()
        for watcher in self.watchers:
            watcher.start()
        log.info("operator started", extra={"namespaces": list(self.settings.watch.namespaces) or "all",
                                            "port": self.exporter.port})  # fmt: skip
        if self.elector is None:
            self._lead()
        else:
            if not self.elector.url:
                self.elector.url = self.exporter.url
            self.elector.start()

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def _lead(self) -> None:
        """This replica reconciles from now on: every experiment is looked at once the caches are filled."""
        if self._stopping.is_set():
            return
        self._leading.set()
        for i in range(self.settings.reconcile.workers):
            worker = threading.Thread(target=self._work, name=f"reconcile-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._resync.start()
        if self.elector is not None:
            threading.Thread(target=self._catch_up, name="catch-up", daemon=True).start()

    def _catch_up(self) -> None:
        """A new leader reconciles what the old one may have left half done (watch events queued meanwhile)."""
        self.wait_ready(timeout=300)
        for key in self.experiments.keys():  # noqa: SIM118 (a list copy, not a dict view)
            self.queue.add(key, urgent=self._needs_rayjob(key))

    def _lose(self) -> None:
        """The Lease is gone: stop reconciling now; whoever runs this process must end it."""
        self._leading.clear()
        self.queue.shutdown()
        self.lost_leadership.set()

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
            if self.elector is not None:
                self.elector.stop(release=False)
            return
        deadline = time.monotonic() + grace_seconds
        for thread in [*self._workers, *([self._resync] if self._resync.is_alive() else [])]:
            thread.join(max(0.0, deadline - time.monotonic()))
        for watcher in self.watchers:
            watcher.join(max(0.0, deadline - time.monotonic()))
        if self.leading:
            self._flush_summaries(deadline)
        self.events.stop(timeout=max(0.0, deadline - time.monotonic()))
        if self.elector is not None:
            self.elector.stop(release=True)
        log.info("operator stopped")

    def _flush_summaries(self, deadline: float) -> None:
        """Write the summaries (and post the trial decision Events) the rate limits held back (pacing off: this
        is the last chance)."""
        self.summarizer.stop_pacing()
        self.decisions.stop_pacing()
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
        key = key_of(body)
        self.queue.add(key, urgent=kind != "DELETED" and self._needs_rayjob(key))

    def _needs_rayjob(self, key: Key) -> bool:
        """Whether the experiment has no RayJob yet: its reconcile would create one (urgent work)."""
        body = self.experiments.get(key)
        return body is not None and not (body.get("status") or {}).get("rayJobName")

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

    def _ingest_or_forward(self, request: Request) -> Response:
        if self.elector is None or self.leading:
            return self._ingest(request)
        return forward(request, leader_url=self.elector.leader_url)

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
