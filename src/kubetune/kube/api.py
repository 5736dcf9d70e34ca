"""kubetune's door to the Kubernetes API (the operator and the CLI): typed calls on one injected ``ApiClient``.

Every call goes through a token bucket of its kind (:class:`Limits`: reads, creates, status writes and events each
have their own, so a flood of status patches never delays the creation of a RayJob, and an event is dropped rather
than waited for) and a per-request timeout, and every failure
leaves as an :class:`~kubetune.kube.errors.APIError` chained to the client's ``ApiException`` (or to the
transport error when no response came), so callers decide on ``temporary`` and never see ``None`` for an error.

Watches are streamed here (``_preload_content=False``, one JSON event per line) rather than through
``kubernetes.watch.Watch``: that class silently retries a 410 once, and (client 37) fails with a KeyError on an
ERROR event when asked not to deserialize. The operator wants every 410 (it must relist) and an ERROR event as
an exception, so :class:`WatchStream` raises :class:`~kubetune.kube.errors.APIGoneError` for it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from kubetune.kube.bodies import Body
from kubetune.kube.errors import (
    APIConflictError,
    APIError,
    APIGoneError,
    APINotFoundError,
    APIUnavailableError,
)

__all__ = ["EVENTS", "LEASES", "RAYJOBS", "TUNE_EXPERIMENTS", "KubeAPI", "Limits", "RateLimiter", "Resource",
           "Throttled", "WatchStream"]  # fmt: skip


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


TUNE_EXPERIMENTS = Resource("kubetune.io", "v1alpha1", "tuneexperiments", "TuneExperiment")
RAYJOBS = Resource("ray.io", "v1", "rayjobs", "RayJob")
EVENTS = Resource("", "v1", "events", "Event")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")


class RateLimiter:
    """A token bucket: ``qps`` tokens a second, at most ``burst`` saved up. :meth:`acquire` blocks until the
    caller's token is due; tokens are handed out in call order, so no thread starves."""

    def __init__(
        self, *, qps: float, burst: int, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self._qps, self._burst = qps, float(burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take a token if one is there now; never waits."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
            self._last = now
            self._tokens -= 1
            wait = -self._tokens / self._qps if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


@dataclass(frozen=True)
class Limits:
    """One token bucket per kind of request (None: that kind is not limited)."""

    #: get, list and watch requests.
    reads: RateLimiter | None = None
    #: Object creates (a RayJob, a TuneExperiment from the CLI) and replaces of an object.
    creates: RateLimiter | None = None
    #: Status subresource patches.
    statuses: RateLimiter | None = None
    #: Events: never waited for; without a token at hand an event is not sent (:class:`Throttled`).
    events: RateLimiter | None = None


class Throttled(APIError):
    """An event was not sent: its bucket was empty (events are best effort; nothing was requested)."""


class WatchStream:
    """One watch request. Iterating yields events (``{"type": ..., "object": ...}``) until the server ends
    the stream; an ERROR event raises. :meth:`close` may be called from another thread to end it at once."""

    def __init__(self, response: Any, *, what: str) -> None:
        self._response = response
        self._what = what
        self._closed = False

    def __iter__(self) -> Iterator[Body]:
        try:
            with _calling(self._what):
                for line in iter_resp_lines(self._response):  # type: ignore[no-untyped-call]
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        raise _status_error(self._what, event.get("object") or {})
                    yield event
        except APIUnavailableError:
            if not self._closed:
                raise
        finally:
            if self._closed:  # the socket was shut down: never hand it back to the pool
                self._response.close()
            else:
                self._response.release_conn()

    def close(self) -> None:
        """End the stream now: shut the socket down (a blocked read returns) and drop the connection."""
        self._closed = True
        connection = getattr(self._response, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class KubeAPI:
    """Custom objects and Events through one ``ApiClient`` (built once by the caller, in-cluster or from a
    kubeconfig, and shared by every thread: urllib3's pool is thread-safe)."""

    def __init__(self, *, api_client: client.ApiClient, limits: Limits | None = None, timeout: float = 30.0) -> None:
        self._objects = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._limits = limits or Limits()
        self._timeout = timeout

    def _wait(self, limiter: RateLimiter | None = None, *, kind: str = "reads") -> None:
        bucket = limiter if limiter is not None else getattr(self._limits, kind)
        if bucket is not None:
            bucket.acquire()

    def list(
        self, resource: Resource, *, namespace: str | None = None, label_selector: str | None = None
    ) -> tuple[list[Body], str]:
        """Every object (in ``namespace``, or all), and the list's resourceVersion to watch from."""
        self._wait()
        with _calling(f"list {resource}{_in(namespace)}"):
            options: dict[str, Any] = {"label_selector": label_selector, "_request_timeout": self._timeout}
            if namespace is None:
                found = self._objects.list_cluster_custom_object(resource.group, resource.version, resource.plural,
                                                                 **options)  # fmt: skip
            else:
                found = self._objects.list_namespaced_custom_object(
                    resource.group, resource.version, namespace, resource.plural, **options
                )
        found = _body(found, what=f"list {resource}")
        return list(found.get("items") or []), str((found.get("metadata") or {}).get("resourceVersion", ""))

    def watch(
        self, resource: Resource, *, namespace: str | None, resource_version: str, timeout_seconds: int,
        label_selector: str | None = None,
    ) -> WatchStream:  # fmt: skip
        """Changes after ``resource_version``; the server ends the stream after ``timeout_seconds``."""
        what = f"watch {resource}{_in(namespace)}"
        self._wait()
        options: dict[str, Any] = {
            "watch": True, "resource_version": resource_version, "timeout_seconds": timeout_seconds,
            "allow_watch_bookmarks": True, "label_selector": label_selector, "_preload_content": False,
            # A read timeout a little past the server's own, so a silently dead connection is noticed.
            "_request_timeout": (self._timeout, timeout_seconds + 15),
        }  # fmt: skip
        with _calling(what):
            if namespace is None:
                response = self._objects.list_cluster_custom_object(resource.group, resource.version,
                                                                    resource.plural, **options)  # fmt: skip
            else:
                response = self._objects.list_namespaced_custom_object(
                    resource.group, resource.version, namespace, resource.plural, **options
                )
        return WatchStream(response, what=what)

    def get(self, resource: Resource, *, namespace: str, name: str, limited: bool = True) -> Body:
        if limited:
            self._wait()
        with _calling(f"get {resource} {namespace}/{name}"):
            found = self._objects.get_namespaced_custom_object(
                resource.group, resource.version, namespace, resource.plural, name, _request_timeout=self._timeout
            )
        return _body(found, what=f"get {resource} {namespace}/{name}")

    def create(self, resource: Resource, *, namespace: str, body: Mapping[str, Any], limited: bool = True) -> Body:
        """Create an object (``limited=False``: outside every bucket, for the leader election's own Lease)."""
        name = (body.get("metadata") or {}).get("name", "?")
        if limited:
            self._wait(kind="creates")
        with _calling(f"create {resource} {namespace}/{name}"):
            created = self._objects.create_namespaced_custom_object(
                resource.group, resource.version, namespace, resource.plural, dict(body),
                _request_timeout=self._timeout,
            )  # fmt: skip
        return _body(created, what=f"create {resource} {namespace}/{name}")

    def replace(self, resource: Resource, *, namespace: str, name: str, body: Mapping[str, Any],
                limited: bool = True) -> Body:  # fmt: skip
        """PUT: ``body`` must carry the ``metadata.resourceVersion`` it was read at (409 if it moved on)."""
        if limited:
            self._wait(kind="creates")
        with _calling(f"replace {resource} {namespace}/{name}"):
            replaced = self._objects.replace_namespaced_custom_object(
                resource.group, resource.version, namespace, resource.plural, name, dict(body),
                _request_timeout=self._timeout,
            )  # fmt: skip
        return _body(replaced, what=f"replace {resource} {namespace}/{name}")

    def patch_status(self, resource: Resource, *, namespace: str, name: str, patch: Mapping[str, Any]) -> Body:
        """A JSON merge patch of the status subresource (a ``metadata.resourceVersion`` in it is a precondition)."""
        self._wait(kind="statuses")
        with _calling(f"patch {resource} {namespace}/{name} status"):
            patched = self._objects.patch_namespaced_custom_object_status(
                resource.group, resource.version, namespace, resource.plural, name, dict(patch),
                _request_timeout=self._timeout,
            )  # fmt: skip
        return _body(patched, what=f"patch {resource} {namespace}/{name} status")

    def create_event(self, *, namespace: str, body: Mapping[str, Any]) -> None:
        """Post an Event if the events bucket has a token now; :class:`Throttled` (nothing sent) otherwise."""
        if self._limits.events is not None and not self._limits.events.try_acquire():
            raise Throttled(f"event {namespace}/{body['metadata']['name']} not sent: events over their rate",
                            status=429, reason="Throttled")  # fmt: skip
        with _calling(f"create event {namespace}/{body['metadata']['name']}"):
            event = client.CoreV1Event.from_dict(dict(body))
            assert event is not None
            self._core.create_namespaced_event(namespace, event, _request_timeout=self._timeout)


def _body(found: object, *, what: str) -> Body:
    """The JSON object a custom-object call returns (typed ``object`` by the client)."""
    if not isinstance(found, dict):  # e.g. a 200 instead of 201 on create: the client then returns None
        raise APIError(f"{what}: the response holds no object", status=0)
    return found


def _in(namespace: str | None) -> str:
    return f" in {namespace}" if namespace else " in all namespaces"


@contextlib.contextmanager
def _calling(what: str) -> Iterator[None]:
    """Translate the client's exceptions into :class:`APIError`, keeping the cause."""
    try:
        yield
    except ApiException as e:
        raise _api_error(what, e) from e
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise APIUnavailableError(f"{what}: no response ({e})", status=0) from e


def _api_error(what: str, e: ApiException) -> APIError:
    body: Any = e.body
    try:
        status_body = json.loads(body) if isinstance(body, str | bytes) and body else {}
    except ValueError:
        status_body = {}
    if not isinstance(status_body, dict):
        status_body = {}
    return _status_error(what, {"code": e.status or 0, "reason": status_body.get("reason", ""),
                                "message": status_body.get("message") or e.reason or ""})  # fmt: skip


def _status_error(what: str, status: Mapping[str, Any]) -> APIError:
    """An error from a ``Status`` object (an error response's body or a watch's ERROR event)."""
    code = int(status.get("code") or 0)
    cls = {404: APINotFoundError, 409: APIConflictError, 410: APIGoneError}.get(code, APIError)
    reason = str(status.get("reason") or "")
    return cls(f"{what}: {code} {reason}: {status.get('message', '')}".rstrip(": "), status=code, reason=reason)
