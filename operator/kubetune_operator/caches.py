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

from kubetune_operator.bodies import Body

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


class Cache:
    """Thread-safe map of (namespace, name) → body. Bodies handed out are copies, so callers may change them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[Key, Body] = {}

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
            return True

    def delete(self, key: Key) -> None:
        with self._lock:
            self._bodies.pop(key, None)

    def replace(self, bodies: Iterable[Body], *, namespace: str | None) -> set[Key]:
        """After a (re)list: the cache (within ``namespace``, or all) holds exactly ``bodies``. Returns the keys
        that were dropped, i.e. objects deleted while no watch was running."""
        fresh = {key_of(b): b for b in bodies}
        with self._lock:
            gone = {k for k in self._bodies if (namespace is None or k[0] == namespace) and k not in fresh}
            for k in gone:
                del self._bodies[k]
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
