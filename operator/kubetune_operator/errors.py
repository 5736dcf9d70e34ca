"""The operator's errors: the Kubernetes layer's hierarchy (:mod:`kubetune.kube.errors`, where retrying is
decided by ``temporary``) under the operator's names, plus bad settings."""

from __future__ import annotations

from kubetune.kube.errors import (
    APIConflictError,
    APIError,
    APIGoneError,
    APINotFoundError,
    APIUnavailableError,
    KubeError,
    PermanentError,
    TemporaryError,
)

__all__ = [
    "APIConflictError",
    "APIError",
    "APIGoneError",
    "APINotFoundError",
    "APIUnavailableError",
    "OperatorError",
    "PermanentError",
    "SettingsError",
    "TemporaryError",
]

#: The root of every error the operator raises on purpose.
OperatorError = KubeError


class SettingsError(PermanentError):
    """The operator's configuration is invalid; ``path`` names the setting (``rayjob.pools[0].gpus``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason
