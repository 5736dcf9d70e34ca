"""What an experiment gets when its spec leaves a choice open: one place, so the documented defaults are these.

The strategy defaults are Ray Tune's own (random search, FIFO) until the search-efficiency benchmarks in
``bench/`` pick better ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from kubetune.spec.models import Algorithm, SchedulerType

ALGORITHM: Final[Algorithm] = "random"
SCHEDULER: Final[SchedulerType] = "fifo"
#: asha/hyperband horizon when neither scheduler.maxT nor stop.training_iteration says.
MAX_T: Final = 100
GRACE_PERIOD: Final = 1
REDUCTION_FACTOR: Final = 3.0
MIN_SAMPLES_REQUIRED: Final = 3
PERTURBATION_INTERVAL: Final = 2.0
QUANTILE_FRACTION: Final = 0.25
RESAMPLE_PROBABILITY: Final = 0.25
#: Model-based searchers keep one trial pending unless bounded; this is the floor of the bound.
MIN_CONCURRENT_TRIALS: Final = 2
#: Where results go when spec.storage.path is unset (a local run).
STORAGE_PATH: Final = str(Path.home() / "kubetune-results")
