"""The multi-fidelity Hartmann 6-D function as a Ray Tune trainable: a standard benchmark that costs nothing to run.

The Hartmann 6-D function (Dixon & Szegő 1978) has four Gaussian wells on ``[0, 1]^6`` and one global minimum,
-3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573). Its multi-fidelity form is the one of
mf-prior-bench (``mfpbench``'s ``MFHartmann6`` generator, used to evaluate Hyperband/BOHB-style methods such as
PriorBand, Mallik et al. 2023): at fidelity ``z`` of ``n`` the well heights are lowered by ``bias·(1 - s)`` and
a non-negative noise ``|N(0, 1)|·noise·(1 - s)`` is added, where ``s = log z / log n`` runs from 0 at ``z = 1`` to 1
at ``z = n``, which is the exact function. Both terms only ever raise the value, so a low-fidelity result is never
better than the configuration really is: the best of all reported values is an honest best-so-far. The noise is a
deterministic function of the configuration, the fidelity and the seed, as in mfpbench (the same configuration
evaluated twice at the same fidelity gives the same value).

Here the fidelity is the training iteration: a trial reports ``value`` at ``z = 1, 2, …, max_t`` with
``n = max_t``, one ``tune.report`` per iteration and nothing else, so hundreds of trials per run cost only Ray's
own bookkeeping. Two of mfpbench's presets (:data:`PRESETS`): its default (``mfh6``: bias 0.5, noise 0.1), where a
low fidelity ranks configurations much as the exact function does (Spearman 0.87 at ``z = 1`` of 27 over random
points), and ``good`` (bias 2.5, noise 2.0, the one PriorBand's experiments use), where it barely does (-0.01 at
``z = 1``, 0.37 at ``z = 9``): the two shallow wells invert below ``s ≈ 0.5`` and the noise hides the rest.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from ray import tune  # module-level: bench/search_lib/inprocess.py swaps it for Optuna used directly

DIMS = 6
#: The global minimum of the exact (highest-fidelity) function and where it is.
OPTIMUM = -3.32237
ARGMIN = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)
#: mfpbench's presets for MFHartmann6: name → (bias, noise).
PRESETS: dict[str, tuple[float, float]] = {"mfh6": (0.5, 0.1), "mfh6_good": (2.5, 2.0)}

_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_A = np.array(
    [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ]
)
_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)

#: The kubetune search space: six uniform dimensions on [0, 1].
SPACE: dict[str, Any] = {f"x{i}": {"uniform": [0.0, 1.0]} for i in range(DIMS)}


def value(x: Sequence[float], z: int, *, fidelities: int, bias: float, noise: float, seed: int = 0) -> float:
    """The function at ``x`` and fidelity ``z`` of ``fidelities`` (``z = fidelities``: exact, no bias or noise)."""
    s = 1.0 if fidelities <= 1 else math.log(z) / math.log(fidelities)
    point = np.asarray(x, dtype=float)
    heights = _ALPHA - bias * (1.0 - s)
    exact_part = -float(np.sum(heights * np.exp(-np.sum(_A * (point - _P) ** 2, axis=1))))
    if s >= 1.0:
        return exact_part
    return exact_part + abs(float(_noise_rng(point, z, seed).normal())) * noise * (1.0 - s)


def _noise_rng(point: np.ndarray, z: int, seed: int) -> np.random.Generator:
    """A generator that depends only on the configuration, the fidelity and the seed (stable across processes)."""
    key = zlib.crc32(struct.pack(f"<{DIMS}dqq", *point.tolist(), z, seed))
    return np.random.default_rng(key)


def train(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: ``value`` at every fidelity ``1 … config['max_t']`` (metric ``value``, min), with
    ``config['preset']``'s bias and noise."""
    x = [float(config[f"x{i}"]) for i in range(DIMS)]
    max_t = int(config["max_t"])
    bias, noise = PRESETS[config["preset"]]
    for z in range(1, max_t + 1):
        tune.report({"value": value(x, z, fidelities=max_t, bias=bias, noise=noise)})
