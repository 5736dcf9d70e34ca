"""Ingest tokens: the operator's own, and experiment-scoped ones derived from it.

A RayJob's driver needs a token to push trial results to the operator. Two cases:

* **The operator's namespace.** The RayJob references the operator's Secret (``secretKeyRef``): the token never
  appears in the RayJob, and it is the master token, valid for any experiment.
* **Any other namespace.** A Secret cannot be referenced across namespaces, and copying the master token into
  every namespace would let anyone who can read Secrets there forge results for every experiment. The operator
  derives ``HMAC-SHA256(master, "<namespace>/<name>")`` instead and passes it inline (in the RayJob's runtime
  environment). It works for that one experiment only: the exporter's ``authorize`` hook checks the batch's
  experiment against it. The trade-off: whoever can read that RayJob can read its token and forge results for
  that experiment (never another one), and the token lives as long as the master token (rotating the master
  Secret rotates them all; running RayJobs then lose their metrics until they are re-created). Creating a
  Secret per experiment would hide it from RayJob readers but needs the operator to write Secrets in every
  namespace, a much larger privilege.
"""

from __future__ import annotations

import hashlib
import hmac

from kubetune.reporting.events import Batch


def experiment_token(master: str, *, namespace: str, name: str) -> str:
    """The token that authorizes results for ``namespace/name`` only (hex, 64 characters)."""
    return hmac.new(master.encode(), f"{namespace}/{name}".encode(), hashlib.sha256).hexdigest()


class ExperimentTokens:
    """The exporter's ``authorize`` hook: a derived token is good for its own experiment only."""

    def __init__(self, master: str) -> None:
        if not master:
            raise ValueError("an ingest token is required")
        self._master = master

    def token(self, *, namespace: str, name: str) -> str:
        return experiment_token(self._master, namespace=namespace, name=name)

    def authorize(self, token: bytes, batch: Batch) -> bool:
        expected = self.token(namespace=batch.experiment.namespace, name=batch.experiment.name).encode()
        return hmac.compare_digest(token, expected)
