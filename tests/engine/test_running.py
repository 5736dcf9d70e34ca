"""The runner drives real Ray Tune experiments from a spec, writes the results file, and resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kubetune.engine import results
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.spec import load_object
from tests.conftest import REPO, experiment_doc

pytestmark = pytest.mark.slow


def test_asha_run_terminates_every_trial_and_finds_a_best_config_in_the_space(ray_local: None, tmp_path: Path) -> None:
    exp = load_object(
        experiment_doc(
            "quad-asha",
            "tests.fixtures.trainables:quadratic",
            searchSpace={"x": {"uniform": [0.0, 1.0]}, "width": {"randint": [1, 3]}},
            config={"iterations": 4},
            numSamples=6,
            scheduler={"type": "asha", "maxT": 4, "gracePeriod": 1, "reductionFactor": 2},
            search={"algorithm": "random", "seed": 3},
            checkpoint={"numToKeep": 2},
            storage={"path": str(tmp_path)},
        )
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0))
    assert summary.trials_by_state == {"TERMINATED": 6}
    assert summary.best is not None
    assert exp.space["x"].contains(summary.best.config["x"])  # type: ignore[union-attr]
    assert exp.space["width"].contains(summary.best.config["width"])  # type: ignore[union-attr]
    assert summary.best.config["iterations"] == 4  # spec.config is merged in
    # The results file holds the same summary, and the best checkpoint exists and loads.
    assert results.read(str(tmp_path / "quad-asha")) == summary
    assert summary.best.checkpoint is not None
    state = json.loads((Path(summary.best.checkpoint) / "state.json").read_text())
    assert state["x"] == summary.best.config["x"]
    # Per-trial CSV/JSON records are kept; TensorBoard event files are off by default (driver overhead).
    trial_dirs = [p for p in (tmp_path / "quad-asha").iterdir() if p.is_dir()]
    assert all((d / "result.json").exists() and (d / "progress.csv").exists() for d in trial_dirs)
    assert not list((tmp_path / "quad-asha").rglob("events.out.tfevents*"))


@pytest.mark.parametrize(
    ("search", "scheduler"),
    [
        ({"algorithm": "optuna", "seed": 1}, {"type": "asha", "maxT": 3}),
        ({"algorithm": "hyperopt", "seed": 1}, {"type": "median", "gracePeriod": 1, "minSamplesRequired": 2}),
        ({"algorithm": "bayesopt", "seed": 1}, {"type": "fifo"}),
        ({"algorithm": "bohb", "seed": 1}, {"type": "hyperband", "maxT": 3, "reductionFactor": 2}),
        ({"algorithm": "random", "seed": 1}, {"type": "pbt", "perturbationInterval": 1}),
        ({"algorithm": "grid"}, {"type": "hyperband", "maxT": 3}),
    ],
    ids=["optuna-asha", "hyperopt-median", "bayesopt-fifo", "bohb", "pbt", "grid-hyperband"],
)
def test_every_search_algorithm_and_scheduler_runs_for_real(
    ray_local: None, tmp_path: Path, search: dict[str, object], scheduler: dict[str, object]
) -> None:
    space = {"x": {"choice": [0.1, 0.3, 0.7]}} if search["algorithm"] == "grid" else {"x": {"uniform": [0.0, 1.0]}}
    exp = load_object(
        experiment_doc(
            "algo",
            "tests.fixtures.trainables:quadratic",
            searchSpace=space,
            config={"iterations": 3},
            numSamples=3 if search["algorithm"] != "grid" else 1,
            search=search,
            scheduler=scheduler,
            storage={"path": str(tmp_path)},
        )
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0))
    assert summary.total_trials == 3
    assert summary.trials_by_state.get("ERROR", 0) == 0
    assert summary.best is not None
    # Every trial says why it ended, and only a scheduler's own kind of end appears.
    assert sum(summary.trials_by_reason.values()) == 3
    assert set(summary.trials_by_reason) <= {"finished", "early_stopped", "exploited"}


def test_errored_trials_are_counted_and_do_not_fail_the_run(ray_local: None, tmp_path: Path) -> None:
    exp = load_object(
        experiment_doc("fails", "tests.fixtures.trainables:failing", numSamples=2, storage={"path": str(tmp_path)})
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0))
    assert summary.trials_by_state == {"ERROR": 2}


def test_an_interrupted_experiment_resumes_without_rerunning_finished_trials(tmp_path: Path) -> None:
    log, kill_file = tmp_path / "trials.log", tmp_path / "kill"
    doc = experiment_doc(
        "resumable",
        "tests.fixtures.trainables:logged",
        searchSpace={"id": {"grid": [1, 2, 3, 4, 5]}},
        config={
            "log": str(log),
            "kill_file": str(kill_file),
            "kill_after": 2,
            "sleep": 0.2,
            "state_dir": str(tmp_path / "results" / "resumable"),
        },
        scheduler={"type": "fifo"},  # every trial runs to its end (the default ASHA would stop the weaker ones)
        maxConcurrentTrials=1,
        storage={"path": str(tmp_path / "results")},
    )
    spec_file = tmp_path / "experiment.yaml"
    spec_file.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0", "RAY_AUTH_MODE": "disabled"}
    cmd = [sys.executable, "-m", "kubetune", "run", str(spec_file), "--no-metrics", "--num-cpus", "1", "-q"]

    first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    kill_file.write_text(str(first.pid))  # armed: the third trial kills this driver
    out = first.communicate(timeout=300)[0].decode()
    assert first.returncode == -9, out
    finished_before = [line for line in log.read_text().splitlines() if line.startswith("done")]
    assert len(finished_before) == 2

    time.sleep(1)
    second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    lines = log.read_text().splitlines()
    for done in finished_before:
        ident = done.split()[1]
        assert lines.count(f"start {ident}") == 1, f"finished trial {ident} ran again: {lines}"
    assert sorted(line for line in lines if line.startswith("done")) == [f"done {i}" for i in range(1, 6)]
    summary = results.read(str(tmp_path / "results" / "resumable"))
    assert summary.resumed
    assert summary.trials_by_state == {"TERMINATED": 5}


def test_a_gpu_spec_runs_on_cpu_locally_from_an_environment_variable(
    ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kubetune.cli import main

    doc = experiment_doc(
        "gpu-spec",
        "tests.fixtures.trainables:quadratic",
        numSamples=2,
        config={"iterations": 2},
        resourcesPerTrial={"cpu": 1, "gpu": 0.5},
        storage={"path": str(tmp_path)},
    )
    monkeypatch.setenv("KUBETUNE_EXPERIMENT", yaml.safe_dump(doc))
    assert main(["run", "env:KUBETUNE_EXPERIMENT", "--no-metrics", "-q"]) == 0
    assert "has no GPU: trials run on CPU" in caplog.text
    assert results.read(str(tmp_path / "gpu-spec")).trials_by_state == {"TERMINATED": 2}


def test_tensorboard_event_files_are_written_when_asked_for(ray_local: None, tmp_path: Path) -> None:
    exp = load_object(
        experiment_doc(
            "tb",
            "tests.fixtures.trainables:quadratic",
            config={"iterations": 2},
            numSamples=1,
            scheduler={"type": "fifo"},
            storage={"path": str(tmp_path)},
        )
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0, tensorboard=True))
    assert summary.trials_by_state == {"TERMINATED": 1}
    assert list((tmp_path / "tb").rglob("events.out.tfevents*"))
