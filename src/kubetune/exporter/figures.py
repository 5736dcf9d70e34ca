"""The driver's own cumulative figures about one experiment, from its latest ``experiment`` event.

The driver computes them from Ray Tune's trial list, which outlives its restarts and is the same whichever exporter
receives it, so where it sent them they are the authority over what this store's events add up to
(:class:`kubetune.reporting.wire.ExperimentEvent`). Each is None until the driver sends it (older drivers never
send some).
"""

from __future__ import annotations

from kubetune.exporter.views import TRIAL_STATES
from kubetune.reporting.wire import BestResult, EndReason, ExperimentEvent, TrialState, Usage

__all__ = ["DriverFigures"]


class DriverFigures:
    """Trials by state and by end reason, results, the best result, what the trials held and the seeded trials."""

    __slots__ = ("best", "counts", "ends", "pareto_front", "results", "seeded", "usage")

    def __init__(self) -> None:
        self.counts: dict[TrialState, int] | None = None
        self.results: int | None = None
        self.best: BestResult | None = None
        self.ends: dict[EndReason, int] | None = None
        self.usage: Usage | None = None
        self.seeded: int | None = None
        #: Several objectives: finished trials on the Pareto front.
        self.pareto_front: int | None = None

    def take(self, event: ExperimentEvent) -> None:
        """Keep what ``event`` carries; a figure it leaves out stays as last sent."""
        if event.trials is not None:
            self.counts = {state: event.trials.get(state, 0) for state in TRIAL_STATES}
        if event.results is not None:
            self.results = event.results
        if event.best is not None:
            self.best = event.best
        if event.ends is not None:
            self.ends = dict(event.ends)
        if event.usage is not None:
            self.usage = event.usage
        if event.seeded is not None:
            self.seeded = event.seeded
        if event.paretoFront is not None:
            self.pareto_front = event.paretoFront
