"""One exception hierarchy for what the Kubernetes client layer raises on purpose (the operator and the CLI).

Whether to retry is the only question a caller asks of an error, so every class answers it with
``temporary``: a temporary error is retried with exponential backoff (the API server is busy, a write raced
another one, the network dropped), a permanent one is not (bad configuration, a forbidden request, a bug):
retrying would repeat the same failure, so it is logged and counted, and the next change of the object or the
periodic resync tries again. The Kubernetes client's ``ApiException`` never escapes the API layer: it becomes an
:class:`APIError` here, chained with ``from e`` so the original response stays in the traceback.
"""

from __future__ import annotations

__all__ = [
    "APIConflictError",
    "APIError",
    "APIGoneError",
    "APINotFoundError",
    "APIUnavailableError",
    "KubeError",
    "PermanentError",
    "TemporaryError",
]


class KubeError(Exception):
    """The root of the errors of kubetune's Kubernetes layer (the operator's ``OperatorError`` is this class)."""

    #: Whether retrying the same work later may succeed.
    temporary: bool = False


class PermanentError(KubeError):
    """Retrying will not help; wait for the object or the configuration to change."""


class TemporaryError(KubeError):
    """Retry later; ``delay`` (seconds) overrides the backoff when the cause says how long to wait."""

    temporary = True

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class APIError(KubeError):
    """A Kubernetes API request failed. ``status`` is the HTTP status (0 when no response arrived)."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason

    @property
    def temporary(self) -> bool:  # type: ignore[override]
        # 409: a write raced another (stale resourceVersion); 429: throttled; 5xx: the server's problem.
        return self.status in (0, 409, 429) or self.status >= 500


class APINotFoundError(APIError):
    """404: the object (or its namespace) does not exist."""


class APIConflictError(APIError):
    """409: the name is taken (``AlreadyExists``) or the object changed since it was read (``Conflict``)."""

    @property
    def already_exists(self) -> bool:
        return self.reason == "AlreadyExists"


class APIGoneError(APIError):
    """410: a watch's resourceVersion is too old; the caller must list again."""


class APIUnavailableError(APIError):
    """No response: connection refused or reset, a timeout (``status`` is 0)."""
