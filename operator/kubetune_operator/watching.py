"""List-then-watch, one thread per (resource, namespace): the operator's view of the cluster.

Each :class:`Watcher` lists its objects (filling the cache and notifying every key, so nothing that changed while
no watch ran is missed), then watches from the list's resourceVersion. A watch the server ends (its
``timeoutSeconds``) resumes from the last resourceVersion seen, including BOOKMARK events'; ``410 Gone`` (that
version is compacted away) means list again. Other API errors back off exponentially (doubling up to the
configured maximum, reset by a successful list) so a struggling API server is not hammered. ``synced`` is set
after the first successful list: the operator is ready only when every watcher has listed once, so no
reconcile acts on a half-empty cache (it could otherwise create a RayJob that the cache did not show yet; the
409-adopt path would catch it, but it would be noise).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kubetune.kube.api import KubeAPI, Resource, WatchStream
from kubetune.kube.bodies import Body
from kubetune_operator.caches import Cache, Key, key_of
from kubetune_operator.errors import APIError, APIGoneError

log = logging.getLogger("kubetune_operator.watch")

#: Called for every object that may have changed: ``(event type, body)``; DELETED bodies are the last state.
Notify = Callable[[str, Body], None]


class Watcher:
    def __init__(
        self, *, api: KubeAPI, resource: Resource, namespace: str | None, cache: Cache, notify: Notify,
        timeout_seconds: int, backoff_seconds: float, max_backoff_seconds: float, label_selector: str | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.resource, self.namespace = resource, namespace
        self._api, self._cache, self._notify = api, cache, notify
        self._timeout = timeout_seconds
        self._backoff, self._max_backoff = backoff_seconds, max_backoff_seconds
        self._selector = label_selector
        self._on_error = on_error
        self.synced = threading.Event()
        self._stopping = threading.Event()
        self._stream: WatchStream | None = None
        self._lock = threading.Lock()
        where = namespace or "all"
        self._thread = threading.Thread(target=self._run, name=f"watch-{resource.plural}-{where}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping.is_set()

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                version = self._list()
                failures = 0
                while not self._stopping.is_set():
                    version = self._watch(version)
            except APIGoneError:
                log.info("%s: resourceVersion expired (410), listing again", self._thread.name)
            except Exception as e:  # an API error, or a bug: either way the watch must go on
                if self._stopping.is_set():
                    break
                failures += 1
                delay = min(self._max_backoff, self._backoff * 2 ** (failures - 1))
                log.warning("%s failed (%s); retrying in %.1fs", self._thread.name, e, delay,
                            exc_info=not isinstance(e, APIError))  # fmt: skip
                if self._on_error is not None:
                    self._on_error()
                self._stopping.wait(delay)

    def _list(self) -> str:
        bodies, version = self._api.list(self.resource, namespace=self.namespace, label_selector=self._selector)
        gone = self._cache.replace(bodies, namespace=self.namespace)
        for key in gone:
            self._notify("DELETED", _stub(key))
        for body in bodies:
            self._notify("ADDED", body)
        self.synced.set()
        return version

    def _watch(self, version: str) -> str:
        stream = self._api.watch(self.resource, namespace=self.namespace, resource_version=version,
                                 timeout_seconds=self._timeout, label_selector=self._selector)  # fmt: skip
        with self._lock:
            self._stream = stream
        if self._stopping.is_set():
            stream.close()
        try:
            for event in stream:
                kind, body = event.get("type", ""), event.get("object") or {}
                version = str((body.get("metadata") or {}).get("resourceVersion") or version)
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    self._cache.delete(key_of(body), last=body)
                elif not self._cache.put(body):
                    continue  # older than what a reconcile already wrote back
                self._notify(kind, body)
        finally:
            with self._lock:
                self._stream = None
        return version


def _stub(key: Key) -> Body:
    return {"metadata": {"namespace": key[0], "name": key[1]}}
