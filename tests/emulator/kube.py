"""A Kubernetes API server for the operator tests: kmock 0.8's emulator, closing the gaps an operator can see.

kmock stores objects as JSON, serves discovery and streams watch events, but (kmock 0.8, ``kubernetes`` 37) it
answers creates with 200 (the typed client then returns None), stamps no uid/resourceVersion/generation/
creationTimestamp, has no optimistic concurrency, ignores ``resourceVersion``/``timeoutSeconds`` on watches, never
answers 410 Gone, collects no garbage, and matches each request against its reactions by scanning the whole
request history (tens of milliseconds per request after a few thousand). :class:`ApiServer` serves the resources
declared with :meth:`ApiServer.serve` itself, the way an API server does:

* create → 201 with uid, resourceVersion, generation 1 and creationTimestamp; 409 AlreadyExists for a taken name;
* one global resourceVersion; every write bumps it, and bumps generation when more than metadata/status changed;
  a body carrying a ``metadata.resourceVersion`` that is not current → 409 Conflict;
* the status subresource: writes to ``/status`` change only status, writes to the object never change status;
* PATCH as JSON merge patch (RFC 7386) or JSON patch; PUT replaces;
* list with ``labelSelector``; watch from a ``resourceVersion`` (history kept in a window, an older one gets an
  ERROR event with 410 Gone as from the API server), ``timeoutSeconds``; :meth:`ApiServer.expire_watches` compacts
  the history and closes open streams;
* delete with finalizers (deletionTimestamp first) and garbage collection of dependents whose owners are all gone
  (background propagation, at once), through an index of owner uid → dependents, so a create or a delete costs
  the same at 10 objects as at 10,000 (a scan of every object per create cost 27 ms at 2,000 objects);
* faults: :meth:`ApiServer.fail` answers the next matching requests with an error status, optionally after
  committing the change (a lost response) or after a delay (a hung call).

Objects live in kmock's ``objects`` (with their history), so ``server.objects[...]`` works in assertions. Other
paths (discovery) go to kmock unchanged. :func:`running` runs it in its own thread and event loop, so the code
under test uses the real blocking ``kubernetes`` client against its URL.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import datetime
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp.web
import attrs
import jsonpatch
import kmock
from kmock import Response  # type: ignore[attr-defined]  # exported, though not in __all__

T = TypeVar("T")
Key = tuple[kmock.resource, str, str]


@dataclass
class Fault:
    """Answer the next ``times`` requests matching ``verb``/``plural``/``subresource`` with ``status``."""

    verb: str  # list | watch | get | create | update (PUT) | patch | delete
    plural: str
    status: int
    subresource: str | None = None
    times: int = 1
    #: Apply the request first (the change is stored, only the response is lost).
    commit: bool = False
    #: Seconds to hold the request before answering (a hung API server).
    delay: float = 0.0


@dataclass(frozen=True)
class Kind:
    kind: str
    api_version: str
    status: bool


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: mappings merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def matches_selector(labels: Mapping[str, str], selector: str | None) -> bool:
    """Equality-based label selectors (``a=b,c!=d,e``), what the operator and kubectl use."""
    for term in filter(None, (selector or "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.strip() not in labels:
            return False
    return True


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip


_REASONS = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 410: "Expired", 422: "Invalid",
            429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}  # fmt: skip


class ApiError(Exception):
    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason or _REASONS.get(code, "Unknown")


def _now() -> str:
    return datetime.datetime.now(tz=datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _spec_part(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    #: Watch events kept for resuming watches; older resourceVersions get 410 Gone.
    history_window: int = 20_000
    _kinds: dict[kmock.resource, Kind] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=0, init=False)
    _log_rvs: list[int] = attrs.field(factory=list, init=False)
    _log: list[tuple[kmock.resource, dict[str, Any]]] = attrs.field(factory=list, init=False)
    _compacted: int = attrs.field(default=0, init=False)
    _epoch: int = attrs.field(default=0, init=False)
    #: Set (and replaced) on every change: what open watches wait on.
    _tick: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    faults: list[Fault] = attrs.field(factory=list, init=False)
    #: perf_counter() when each object was first created, by (plural, namespace, name): for benchmarks.
    created_at: dict[tuple[str, str, str], float] = attrs.field(factory=dict, init=False)
    #: Requests served by verb (list, watch, get, create, update, patch, delete).
    served: dict[str, int] = attrs.field(factory=dict, init=False)
    #: The garbage collector's graph: uids of stored objects not yet deleted, and owner uid → its dependents' keys
    #: (an owner may be gone or never have existed: a dependent then waits for nothing).
    _live: dict[str, Key] = attrs.field(factory=dict, init=False)
    _dependents: dict[str, dict[Key, None]] = attrs.field(factory=dict, init=False)  # ordered sets

    def serve(self, path: str, *, kind: str, status: bool = True) -> kmock.resource:
        """Declare a namespaced resource (``"ray.io/v1/rayjobs"``, ``"v1/events"``) for discovery and serving."""
        resource = kmock.resource(path)
        api_version = f"{resource.group}/{resource.version}" if resource.group else str(resource.version)
        self.resources[resource] = {  # type: ignore[assignment]  # kmock's TypedDict lacks "subresources"
            "namespaced": True, "kind": kind, "subresources": {"status"} if status else set(),
            "verbs": {"get", "list", "watch", "create", "update", "patch", "delete"},
        }  # fmt: skip
        self._kinds[resource] = Kind(kind, api_version, status)
        return resource

    # -- request handling -----------------------------------------------------------------------------

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        resource = request.resource
        if resource is None or resource.plural is None:
            return await kmock.KubernetesScaffold._handle(self, request)  # discovery: kmock as is
        verb = _verb(request)
        self.served[verb] = self.served.get(verb, 0) + 1
        try:
            kind = self._kinds.get(resource)
            if kind is None or request.subresource not in (None, "status"):
                raise ApiError(404, f"the server could not find the requested resource {request.url.path}")
            fault = self._take_fault(verb, resource, request.subresource)
            if fault is not None:
                return await self._fault(fault, request, verb, kind)
            if verb == "watch":
                return await Response(payload=self._watch(request, kind))(request)
            status, payload = await self._apply(request, verb, kind)
            return aiohttp.web.json_response(payload, status=status)
        except ApiError as e:
            return aiohttp.web.json_response(status_body(e.code, e.reason, e.message), status=e.code)

    def _take_fault(self, verb: str, resource: kmock.resource, subresource: str | None) -> Fault | None:
        wanted = (verb, resource.plural, subresource)
        for fault in self.faults:
            if fault.times > 0 and (fault.verb, fault.plural, fault.subresource) == wanted:
                fault.times -= 1
                return fault
        return None

    async def _fault(self, fault: Fault, request: kmock.Request, verb: str, kind: Kind) -> aiohttp.web.StreamResponse:
        if fault.commit:
            with contextlib.suppress(ApiError):
                await self._apply(request, verb, kind)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if verb == "watch" and fault.status == 410:

            async def gone() -> AsyncIterator[Any]:
                yield {"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")}

            return await Response(payload=gone())(request)
        message = f"injected fault: {fault.status} on {verb} {fault.plural}"
        return aiohttp.web.json_response(status_body(fault.status, _REASONS.get(fault.status, "Unknown"), message),
                                         status=fault.status)  # fmt: skip

    async def _apply(self, request: kmock.Request, verb: str, kind: Kind) -> tuple[int, Any]:
        resource, ns, name = request.resource, request.namespace, request.name
        assert resource is not None
        if verb == "list":
            return 200, self._list(resource, ns, request.params.get("labelSelector"), kind)
        if ns is None:
            raise ApiError(404, "only namespaced resources are served")
        if verb == "create":
            return 201, self._create(resource, ns, request.data, kind)
        assert name is not None
        if verb == "get":
            return 200, self._current(resource, ns, name)
        if verb == "delete":
            return 200, self._delete(resource, ns, name)
        if verb == "patch":
            content_type = request.headers.get("Content-Type", "")
            return 200, self._write(resource, ns, name, request.data, kind, request.subresource, content_type)
        if verb == "update":
            return 200, self._write(resource, ns, name, request.data, kind, request.subresource, None)
        raise ApiError(405, f"{request.method} is not supported")

    # -- state ---------------------------------------------------------------------------------------

    def _current(self, resource: kmock.resource, ns: str, name: str) -> dict[str, Any]:
        key = (resource, ns, name)
        if key not in self.objects or self.objects[key].deleted:
            raise ApiError(404, f'{resource.plural} "{name}" not found', "NotFound")
        return self.objects[key].raw

    def _record(self, resource: kmock.resource, event: str, obj: dict[str, Any]) -> None:
        self._log_rvs.append(self._rv)
        self._log.append((resource, {"type": event, "object": obj}))
        if len(self._log) > self.history_window:
            drop = len(self._log) - self.history_window
            self._compacted = self._log_rvs[drop - 1]
            del self._log[:drop], self._log_rvs[:drop]
        self._wake()

    def _wake(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    def _store(self, key: Key, obj: dict[str, Any]) -> None:
        if key in self.objects:
            self.objects[key].history.append(obj)
        else:
            self.objects[key] = obj

    def _list(self, resource: kmock.resource, ns: str | None, selector: str | None, kind: Kind) -> dict[str, Any]:
        items = [
            obj.raw
            for (r, n, _), obj in self.objects.items()
            if r == resource and (ns is None or n == ns) and not obj.deleted
            and matches_selector(obj.raw.get("metadata", {}).get("labels") or {}, selector)
        ]  # fmt: skip
        return {"apiVersion": kind.api_version, "kind": f"{kind.kind}List",
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}  # fmt: skip

    def _create(self, resource: kmock.resource, ns: str, body: Any, kind: Kind) -> dict[str, Any]:
        if not isinstance(body, Mapping) or not (body.get("metadata") or {}).get("name"):
            raise ApiError(422, "metadata.name: Required value", "Invalid")
        name = body["metadata"]["name"]
        key = (resource, ns, name)
        if key in self.objects and not self.objects[key].deleted:
            raise ApiError(409, f'{resource.plural} "{name}" already exists', "AlreadyExists")
        self._rv += 1
        obj = copy.deepcopy(dict(body))
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        if kind.status:
            obj.pop("status", None)
        meta = obj["metadata"]
        meta.update(namespace=ns, uid=str(uuid.uuid4()), resourceVersion=str(self._rv), generation=1,
                    creationTimestamp=_now())  # fmt: skip
        meta.pop("deletionTimestamp", None)
        self._store(key, obj)
        self._live[meta["uid"]] = key
        self._link(key, obj)
        self.created_at.setdefault((str(resource.plural), ns, name), time.perf_counter())
        self._record(resource, "ADDED", obj)
        if self._orphaned(obj):  # created for an owner that is gone: collected (later, in a real cluster)
            self._delete(resource, ns, name)
        return obj

    def _write(
        self, resource: kmock.resource, ns: str, name: str, body: Any, kind: Kind, subresource: str | None,
        content_type: str | None,
    ) -> dict[str, Any]:  # fmt: skip
        old = self._current(resource, ns, name)
        if content_type is None:  # PUT
            given, new = body, copy.deepcopy(body)
        elif content_type.startswith("application/json-patch+json"):
            given, new = {}, jsonpatch.apply_patch(copy.deepcopy(old), body)
        else:
            given, new = body, merge_patch(old, body)
        if not isinstance(new, dict):
            raise ApiError(400, "the body must be an object")
        expected = ((given or {}).get("metadata") or {}).get("resourceVersion")
        if expected is not None and str(expected) != old["metadata"]["resourceVersion"]:
            raise ApiError(409, f'Operation cannot be fulfilled on {resource.plural} "{name}": the object has been '
                           "modified; please apply your changes to the latest version and try again")  # fmt: skip
        if subresource == "status":  # only status changes
            new = {**old, "status": new.get("status")} if "status" in new else {k: v for k, v in old.items()
                                                                                  if k != "status"}  # fmt: skip
        elif kind.status:  # the object endpoint never changes status
            new = {k: v for k, v in new.items() if k != "status"}
            if "status" in old:
                new["status"] = old["status"]
        meta = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "namespace", "name"):
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
            else:
                meta.pop(field, None)
        if _spec_part(new) != _spec_part(old):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if new == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        key = (resource, ns, name)
        self._unlink(key, old)
        self._link(key, new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._store(key, new)
            return self._remove(key, new)
        self._store(key, new)
        self._record(resource, "MODIFIED", new)
        if self._orphaned(new):  # its owners were replaced by ones that are gone
            self._delete(resource, ns, name)
        return new

    def _delete(self, resource: kmock.resource, ns: str, name: str) -> dict[str, Any]:
        key = (resource, ns, name)
        obj = copy.deepcopy(self._current(resource, ns, name))
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                self._rv += 1
                obj["metadata"].update(deletionTimestamp=_now(), resourceVersion=str(self._rv))
                self._store(key, obj)
                self._record(resource, "MODIFIED", obj)
            return obj
        return self._remove(key, obj)

    def _remove(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        self._rv += 1
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._rv)}}
        self.objects[key].delete()
        uid = obj["metadata"].get("uid")
        self._live.pop(uid, None)
        self._unlink(key, obj)
        self._record(key[0], "DELETED", obj)
        self._collect_garbage(uid)
        return obj

    # -- garbage collection -----------------------------------------------------------------------------

    @staticmethod
    def _owner_uids(obj: Mapping[str, Any]) -> set[str]:
        return {str(ref["uid"]) for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid")}

    def _link(self, key: Key, obj: Mapping[str, Any]) -> None:
        for uid in self._owner_uids(obj):
            self._dependents.setdefault(uid, {})[key] = None

    def _unlink(self, key: Key, obj: Mapping[str, Any]) -> None:
        for uid in self._owner_uids(obj):
            dependents = self._dependents.get(uid)
            if dependents is not None:
                dependents.pop(key, None)
                if not dependents:
                    del self._dependents[uid]

    def _orphaned(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` has owners and every one of them is gone."""
        owners = self._owner_uids(obj)
        return bool(owners) and not any(uid in self._live for uid in owners)

    def _collect_garbage(self, uid: str | None) -> None:
        """Delete the dependents of the deleted ``uid`` whose owners are now all gone, oldest first (what the
        garbage collector does, without its delay); their own dependents follow as each is removed."""
        for key in list(self._dependents.pop(uid, {}) if uid else ()):
            if key in self.objects and not self.objects[key].deleted and self._orphaned(self.objects[key].raw):
                self._delete(*key)

    # -- watching ------------------------------------------------------------------------------------

    async def _watch(self, request: kmock.Request, kind: Kind) -> AsyncIterator[Any]:
        yield b""  # send the headers at once, as the API server does
        resource, ns = request.resource, request.namespace
        params = request.params
        selector = params.get("labelSelector")
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        epoch = self._epoch

        def wanted(event: dict[str, Any]) -> bool:
            meta = event["object"]["metadata"]
            return (ns is None or meta.get("namespace") == ns) and matches_selector(meta.get("labels") or {}, selector)

        start = params.get("resourceVersion")
        if start in (None, "", "0"):
            since = self._rv
            for item in self._list(resource, ns, selector, kind)["items"]:  # type: ignore[arg-type]
                yield {"type": "ADDED", "object": item}
        else:
            since = int(start)
            if since < self._compacted:
                yield {"type": "ERROR", "object": status_body(410, "Expired", f"too old resource version: {since} "
                                                                               f"({self._compacted})")}  # fmt: skip
                return
        while True:
            tick = self._tick
            index = bisect.bisect_right(self._log_rvs, since)
            batch = [
                (rv, event)
                for rv, (r, event) in zip(self._log_rvs[index:], self._log[index:], strict=True)
                if r == resource
            ]
            if self._log_rvs:
                since = max(since, self._log_rvs[-1])
            for _, event in batch:
                if wanted(event):
                    yield event
            if self._epoch != epoch:
                return
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(tick.wait(), remaining)

    def _expire(self) -> None:
        self._compacted = self._rv
        self._log.clear()
        self._log_rvs.clear()
        self._epoch += 1
        self._wake()


def _verb(request: kmock.Request) -> str:
    method = str(request.method.value).upper()
    if method == "GET":
        if request.params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())


class Emulator:
    """An :class:`ApiServer` running in a background thread: ``url`` for clients, sync helpers for tests."""

    def __init__(self, server: ApiServer, loop: asyncio.AbstractEventLoop, url: str) -> None:
        self.server, self.loop, self.url = server, loop, url

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (its state is only touched there)."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def fail(self, verb: str, plural: str, status: int, **options: Any) -> Fault:
        fault = Fault(verb, plural, status, **options)
        self.call(lambda: self.server.faults.append(fault))
        return fault

    def expire_watches(self) -> None:
        """Compact the watch history and end every open watch: clients must relist (410 on their next watch)."""
        self.call(self.server._expire)

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            return [copy.deepcopy(o.raw) for (r, n, _), o in self.server.objects.items()
                    if r.plural == plural and (namespace is None or n == namespace) and not o.deleted]  # fmt: skip

        return self.call(read)

    def kubeconfig(self, *, namespace: str = "default") -> dict[str, Any]:
        """A kubeconfig pointing at this server (a bearer token, as a cluster would need one)."""
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "kmock-token"}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "tester", "namespace": namespace}}],
        }  # fmt: skip


#: What every operator test serves: the two custom resources, core Events, and the Leases of leader election.
RESOURCES = (
    ("kubetune.io/v1alpha1/tuneexperiments", "TuneExperiment", True),
    ("ray.io/v1/rayjobs", "RayJob", True),
    ("v1/events", "Event", False),
    ("coordination.k8s.io/v1/leases", "Lease", False),
)


@contextlib.contextmanager
def running(**options: Any) -> Iterator[Emulator]:
    """Start an :class:`ApiServer` with :data:`RESOURCES` on a random port in a daemon thread."""
    started: dict[str, Any] = {}
    ready = threading.Event()
    stop: asyncio.Future[None] | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.get_running_loop().create_future()
        async with ApiServer(**options) as server, kmock.Server(server) as http:
            for path, kind, status in RESOURCES:
                server.serve(path, kind=kind, status=status)
            started.update(server=server, loop=asyncio.get_running_loop(), url=str(http.url).rstrip("/"))
            ready.set()
            await stop

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as e:  # surfaced by the waiting thread
            started["error"] = e
            ready.set()

    thread = threading.Thread(target=run, name="kmock", daemon=True)
    thread.start()
    ready.wait(30)
    if "error" in started or "server" not in started:
        raise RuntimeError(f"the API emulator did not start: {started.get('error')!r}")
    emulator = Emulator(started["server"], started["loop"], started["url"])
    try:
        yield emulator
    finally:
        emulator.call(emulator.server._expire)  # end open watch streams so the server can shut down
        emulator.loop.call_soon_threadsafe(lambda: stop.set_result(None) if stop and not stop.done() else None)
        thread.join(10)
