"""Pareto dominance, the rule of a front over several objectives: here, below the engine, so that the results
file (:mod:`kubetune.engine.pareto`) and the live figures the driver reports (:mod:`kubetune.reporting.callback`)
apply the same one."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Front", "dominates", "non_dominated"]


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """Whether values ``a`` dominate ``b`` under ``modes`` (``"min"``/``"max"`` per objective)."""
    better = False
    for x, y, mode in zip(a, b, modes, strict=True):
        if (x < y) if mode == "max" else (x > y):
            return False
        better = better or x != y
    return better


def non_dominated(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[int]:
    """The indices of ``points`` that no other point dominates, in their order (O(n²): fronts are small)."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p, modes) for q in points)]


class Front:
    """The Pareto front of points added one at a time, each key once: what the driver reports while trials finish.

    Incremental and exact: a new point dominated by a point of the front is dominated (dominance is transitive),
    else it joins the front and drops the points it dominates; a step costs the front's size, not every point's.
    """

    def __init__(self, modes: Sequence[str]) -> None:
        self._modes = list(modes)
        self._front: dict[str, list[float]] = {}
        self._seen: set[str] = set()

    def add(self, key: str, values: Sequence[float]) -> None:
        if key in self._seen:
            return
        self._seen.add(key)
        point = list(values)
        if any(dominates(q, point, self._modes) for q in self._front.values()):
            return
        self._front = {k: q for k, q in self._front.items() if not dominates(point, q, self._modes)}
        self._front[key] = point

    def __contains__(self, key: object) -> bool:
        return key in self._seen

    def __len__(self) -> int:
        return len(self._front)

    @property
    def keys(self) -> list[str]:
        """The keys on the front, in the order they joined it."""
        return list(self._front)
