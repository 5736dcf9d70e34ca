"""How the reporting callback turns what Ray Tune hands it into values the wire carries exactly: trial counts by
state, finite numbers, and a trial's config as strict JSON (:mod:`kubetune.reporting.wire`)."""

from __future__ import annotations

import json
import math
from typing import Any

from kubetune.reporting.wire import MAX_CONFIG_BYTES, MAX_EXACT_INT, TRIAL_STATES, TrialState, check_config, config_size


def count_states(trials: list[Any], *, changed: Any = None, state: TrialState | None = None) -> dict[TrialState, int]:
    counts: dict[TrialState, int] = {}
    for trial in trials:
        status = state if trial is changed and state is not None else str(getattr(trial, "status", ""))
        if status in TRIAL_STATES:
            counts[status] = counts.get(status, 0) + 1
    return counts


def is_finite(value: int | float) -> bool:
    """Whether ``value`` is a finite double (an int too large for one is not: ``float()`` would overflow)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _exact(text: str) -> int | str:
    """A JSON integer as the wire carries it: as is within ±2**53, else as its string."""
    value = int(text)
    return value if abs(value) <= MAX_EXACT_INT else text


def as_wire_config(config: Any) -> dict[str, Any] | None:
    """``config`` as strict JSON the wire accepts, or None when it is not a mapping, cannot be encoded (a cycle,
    non-string keys) or is larger than :data:`~kubetune.reporting.wire.MAX_CONFIG_BYTES`.

    Objects become their ``str``; NaN and infinities their name; integers beyond 2**53 their digits.
    """
    if not isinstance(config, dict):
        return None
    try:
        text = json.dumps(config, default=str)
        if len(text) > 4 * MAX_CONFIG_BYTES:  # far too large whatever the escaping: do not parse it back
            return None
        value = json.loads(text, parse_constant=str, parse_int=_exact)
        if not isinstance(value, dict) or config_size(check_config(value)) > MAX_CONFIG_BYTES:
            return None
        return value
    except (TypeError, ValueError, RecursionError):  # a cycle, odd keys, too large or too deep
        return None
