"""Ingest tokens: the operator's own, and experiment-scoped ones derived from it.

A RayJob's driver needs a token to push trial results to the operator. Two cases:

* **The operator's namespace.** The RayJob references the operator's Secret (``secretKeyRef``): the token never
  appears in the RayJob, and it is the master token, valid for any experiment.
* **Any other namespace.** A Secret cannot be referenced across namespaces, and copying the master token into
  every namespace would let anyone who can read Secrets there forge results for every experiment. The operator
  derives ``HMAC-SHA256(master, "<namespace>/<name>")`` instead and passes it inline (in the RayJob's runtime
  environment). It works for that one experiment only: the exporter's ``authorize`` hook checks the batch's
  experiment against it. The trade-off: whoever can read that RayJob can read its token and forge results for
  that experiment (never another one), and the token lives as long as the master token. Creating a Secret per
  experiment would hide it from RayJob readers but needs the operator to write Secrets in every namespace, a
  much larger privilege.

**Rotation.** The master token is the operator's mounted Secret file, which the kubelet updates in the running
pod when the Secret changes. :class:`ExperimentTokens` re-reads it (at most once a second, on use) and from then
on gives new RayJobs tokens from the new master; the previous master, and the tokens derived from it, are still
accepted for ``ingest.previousTokenSeconds`` (default a day), so running experiments, whose drivers got their
token when they started, keep reporting until they end, and a leaked old token stops working after that.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("kubetune_operator.tokens")


def experiment_token(master: str, *, namespace: str, name: str) -> str:
    """The token that authorizes results for ``namespace/name`` only (hex, 64 characters)."""
    return hmac.new(master.encode(), f"{namespace}/{name}".encode(), hashlib.sha256).hexdigest()


class ExperimentTokens:
    """The master token (re-read from ``path`` when it changes) and the experiment-scoped ones derived from it;
    :meth:`authorize` is the exporter's hook."""

    def __init__(self, master: str, *, path: str | None = None, previous_seconds: float = 86_400.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if not master:
            raise ValueError("an ingest token is required")
        self._path = Path(path) if path else None
        self._previous_seconds = previous_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._master = master
        #: Masters replaced by a rotation, with the time each stops being accepted.
        self._retired: list[tuple[str, float]] = []
        self._checked = clock()

    def master(self) -> str:
        """The current master token (the file is looked at again at most once a second)."""
        with self._lock:
            now = self._clock()
            if self._path is not None and now - self._checked >= 1.0:
                self._checked = now
                self._reload(now)
            self._retired = [(t, until) for t, until in self._retired if until > now]
            return self._master

    def token(self, *, namespace: str, name: str) -> str:
        return experiment_token(self.master(), namespace=namespace, name=name)

    def authorize(self, token: bytes, *, namespace: str, name: str) -> bool:
        """Whether ``token`` may write ``namespace/name``: a master, or derived from one, current or retired
        within ``previous_seconds``."""
        current = self.master()
        with self._lock:
            masters = [current, *(t for t, _ in self._retired)]
        ok = False
        for master in masters:  # every comparison made, in constant time each
            ok |= hmac.compare_digest(token, master.encode())
            ok |= hmac.compare_digest(token, experiment_token(master, namespace=namespace, name=name).encode())
        return ok

    def _reload(self, now: float) -> None:
        try:
            fresh = self._path.read_text(encoding="utf-8").strip() if self._path is not None else ""
        except OSError as e:
            log.warning("cannot read the ingest token file %s (keeping the current token): %s", self._path, e)
            return
        if fresh and fresh != self._master:
            self._retired.append((self._master, now + self._previous_seconds))
            self._master = fresh
            log.info("the ingest token was rotated; the previous one is accepted for %.0fs more",
                     self._previous_seconds)  # fmt: skip
