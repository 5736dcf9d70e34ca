"""What the runner hands the reporting callback: why trials ended and what they held (the engine's ledgers,
:class:`kubetune.engine.reasons.TrialEnds` and :class:`kubetune.engine.usage.TrialUsage`), as protocols, so the
reporting layer does not import the engine."""

from __future__ import annotations

from typing import Protocol

from kubetune.reporting.wire import EndReason


class TrialEnd(Protocol):
    @property
    def reason(self) -> EndReason: ...
    @property
    def detail(self) -> str: ...


class Held(Protocol):
    gpu_seconds: float
    cpu_seconds: float
    trial_seconds: float


class UsageSource(Protocol):
    """What trials held (the runner's :class:`kubetune.engine.usage.TrialUsage`)."""

    def of(self, trial_id: str) -> Held | None: ...
    def total(self) -> Held: ...


class EndsSource(Protocol):
    """Where the reasons come from (the runner's :class:`kubetune.engine.reasons.TrialEnds`)."""

    def of(self, trial_id: str) -> TrialEnd | None: ...
    def counts(self) -> dict[EndReason, int]: ...
