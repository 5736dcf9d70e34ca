"""What an experiment gets when its spec leaves a choice open: one place, so the documented defaults are these.

The search strategy (a spec naming neither ``search.algorithm`` nor ``scheduler.type``) is Optuna's TPE with ASHA:
the one strategy of ``bench/search.py`` that reached random search's median result within the budget on both
reference workloads at the median over seeds (bench/README.md, "Search efficiency", has the numbers and the
misses). A spec TPE cannot take (``grid``, ``normal`` or non-scalar ``choice`` dimensions, scheduler ``pbt``) gets
random search instead (a ``choice`` of groups is not one: TPE asks its parameters define-by-run); ``bohb`` keeps
its own ``hyperband``. With several objectives (``metric`` a list) the default is Optuna with FIFO: the early-stopping
schedulers compare trials by one value. ASHA stops every trial at ``maxT``, which defaults to
``stop.training_iteration``, else :data:`MAX_T`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from kubetune.spec.models import Algorithm, SchedulerType

ALGORITHM: Final[Algorithm] = "optuna"
SCHEDULER: Final[SchedulerType] = "asha"
#: The scheduler of a spec with several objectives that names none: every other one ranks trials by one value.
MULTI_OBJECTIVE_SCHEDULER: Final[SchedulerType] = "fifo"
#: The search when ALGORITHM cannot take the spec (grid, normal or non-scalar choice dimensions, scheduler pbt).
FALLBACK_ALGORITHM: Final[Algorithm] = "random"
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
