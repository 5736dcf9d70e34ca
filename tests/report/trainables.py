"""A trainable for the report tests: plain Ray Tune code whose score ranks trials by ``config['rank']``."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import Checkpoint


def ranked_curves(config: dict[str, Any]) -> None:
    """Reports ``score`` for ``config['iterations']`` iterations, each with a checkpoint: a rising curve whose
    level falls with ``config['rank']`` (rank 1 is best) and rises a little with ``log10(config['lr'])``. The trial
    whose rank and opt are ``config['fail_rank']`` and ``config['fail_opt']`` reports twice, then raises."""
    rank = int(config["rank"])
    for step in range(int(config.get("iterations", 3))):
        score = -float(rank) + 0.1 * math.log10(float(config["lr"])) + 0.05 * step
        with tempfile.TemporaryDirectory() as d:
            Path(d, "state.json").write_text(json.dumps({"step": step}))
            tune.report({"score": score, "loss": -score}, checkpoint=Checkpoint.from_directory(d))
        if step == 1 and rank == config.get("fail_rank") and config["opt"] == config.get("fail_opt"):
            raise ValueError(f"rank {rank} with {config['opt']} is broken")
