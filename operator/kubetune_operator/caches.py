"""What the watches have seen: the latest body of every watched object, by namespace and name.

Reconciles read from here instead of the API (a reconcile costs no GET), and write their own results back
(:meth:`Cache.put` with the API's response), so the next reconcile does not act on the state from before its own
write while the watch event for it is still on its way.

resourceVersions are opaque strings to Kubernetes clients; when both are integers (etcd's are), an older one
never replaces a newer one here, and the watch event of a write already stored is no change (no reconcile). That
is only an optimisation (fewer 409s, fewer reconciles): correctness comes from sending the resourceVersion as a
precondition with every status write.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable

from kubetune.kube.bodies import Body

Key = tuple[str, str]


def key_of(body: Body) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _newer(new: Body, old: Body) -> bool:
    a = str((new.get("metadata") or {}).get("resourceVersion", ""))
    b = str((old.get("metadata") or {}).get("resourceVersion", ""))
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return a != b or not a


#: Tombstones kept at most (the oldest go first): enough for every deletion between two reconciles.
MAX_TOMBSTONES = 10_000


class Cache:
    """Thread-safe map of (namespace, name) → body. Bodies handed out are copies, so callers may change them.

    It also remembers the last body of every object deleted while this process watched (a *tombstone*): a
    RayJob that vanished while the operator looked on (deleted by hand, after finishing or not) is told apart
    from one that was already gone when the operator started, whose fate it cannot know.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[Key, Body] = {}
        self._tombstones: dict[Key, Body] = {}

    def get(self, key: Key) -> Body | None:
        with self._lock:
            body = self._bodies.get(key)
            return None if body is None else copy.deepcopy(body)

    def put(self, body: Body) -> bool:
        """Store ``body`` unless the cached one is as new (the watch event of a write this process already
        stored); returns whether it was stored, i.e. whether anything changed."""
        key = key_of(body)
        with self._lock:
            old = self._bodies.get(key)
            if old is not None and not _newer(body, old):
                return False
            self._bodies[key] = body
            self._tombstones.pop(key, None)
            return True

    def delete(self, key: Key, *, last: Body | None = None) -> None:
        """Forget ``key``, keeping ``last`` (the DELETED event's body: the object's final state) or the cached
        body as its tombstone."""
        with self._lock:
            body = self._bodies.pop(key, None)
            self._bury(key, last if last is not None else body)

    def tombstone(self, key: Key) -> Body | None:
        """The last body of ``key`` if it was deleted while this process watched (None: never seen deleted)."""
        with self._lock:
            body = self._tombstones.get(key)
            return None if body is None else copy.deepcopy(body)

    def _bury(self, key: Key, body: Body | None) -> None:
        if body is None:
            return
        self._tombstones.pop(key, None)
        self._tombstones[key] = body
        while len(self._tombstones) > MAX_TOMBSTONES:
            del self._tombstones[next(iter(self._tombstones))]

    def replace(self, bodies: Iterable[Body], *, namespace: str | None) -> set[Key]:
        """After a (re)list: the cache (within ``namespace``, or all) holds exactly ``bodies``. Returns the keys
        that were dropped, i.e. objects deleted while no watch was running."""
        fresh = {key_of(b): b for b in bodies}
        with self._lock:
            gone = {k for k in self._bodies if (namespace is None or k[0] == namespace) and k not in fresh}
            for k in gone:
                self._bury(k, self._bodies.pop(k))
            for k in fresh:
                self._tombstones.pop(k, None)
            self._bodies.update(fresh)
        return gone

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._bodies)

    def values(self) -> list[Body]:
        """The cached bodies themselves (not copies): read-only, for counting."""
        with self._lock:
            return list(self._bodies.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._bodies)
