"""``maxConcurrentTrials`` bounds every search algorithm, Ray's variant generator (random, grid) included."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest

from kubetune.engine.running import RunOptions, run_experiment
from kubetune.spec import load_object
from tests.conftest import experiment_doc

pytestmark = pytest.mark.slow


def intervals(log_dir: Path) -> list[tuple[float, float]]:
    """The ``(start, end)`` of every trial, in start order."""
    spans = [tuple(map(float, p.read_text().split())) for p in log_dir.iterdir()]
    return sorted((start, end) for start, end in spans)


@pytest.mark.parametrize(
    ("search", "space"),
    [
        ({"algorithm": "random", "seed": 1}, {"x": {"uniform": [0.0, 1.0]}}),
        ({"algorithm": "grid"}, {"x": {"grid": [1, 2, 3, 4]}}),
    ],
    ids=["random", "grid"],
)
def test_a_concurrency_limit_of_one_runs_the_trials_one_after_another(
    ray_local: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    search: dict[str, object],
    space: dict[str, object],
) -> None:
    log_dir = tmp_path / "spans"
    log_dir.mkdir()
    exp = load_object(
        experiment_doc(
            "one-at-a-time",
            "tests.fixtures.trainables:timed",
            searchSpace=space,
            config={"log_dir": str(log_dir), "sleep": 0.5},
            search=search,
            scheduler={"type": "fifo"},
            numSamples=4 if search["algorithm"] == "random" else 1,
            maxConcurrentTrials=1,
            resourcesPerTrial={"cpu": 1},  # the local Ray has 2 CPUs: two trials would fit at once
            storage={"path": str(tmp_path / "results")},
        )
    )
    with caplog.at_level(logging.WARNING, logger="ray"):
        summary = run_experiment(exp, options=RunOptions(verbose=0))
    assert summary.trials_by_state == {"TERMINATED": 4}
    spans = intervals(log_dir)
    assert len(spans) == 4
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert end <= next_start, f"two trials ran at once: {spans}"
    assert "max_concurrent_trials" not in caplog.text
