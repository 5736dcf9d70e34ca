"""What the search cost (GPU-, CPU- and trial-seconds each trial held) and ``spec.budget`` ending a run: the ledger
on its own with a controlled clock, then real Ray Tune runs (a CPU one here; one with Ray told of GPUs in a child
process, because this machine has none and the session's Ray is CPU-only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from ray.tune.execution.placement_groups import PlacementGroupFactory

from kubetune.cli.inspecting import format_summary
from kubetune.engine import results
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.engine.usage import Budget, BudgetStopper, Held, TrialUsage, reserved
from kubetune.exporter.server import Exporter
from kubetune.exporter.store import ExperimentStore
from kubetune.reporting.callback import ReportingCallback
from kubetune.reporting.sending import SenderSettings
from kubetune.spec import load_object
from tests.conftest import REPO, experiment_doc


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def trial(trial_id: str, status: str, *, gpu: float = 0, cpu: float = 1) -> Any:
    bundle = {"CPU": cpu, **({"GPU": gpu} if gpu else {})}
    return SimpleNamespace(trial_id=trial_id, status=status, placement_group_factory=PlacementGroupFactory([bundle]))


def test_only_running_trials_hold_their_resources_for_the_time_they_run() -> None:
    clock = Clock()
    usage = TrialUsage(clock=clock)
    a, b, c = trial("a", "RUNNING", gpu=0.5, cpu=2), trial("b", "PENDING", gpu=1), trial("c", "RUNNING")
    usage.on_step_begin(0, [a, b, c])
    clock.now += 10
    usage.on_step_end(0, [a, b, c])
    a.status = "PAUSED"  # HyperBand/PBT pause: the actor is gone, nothing is held
    b.status = "RUNNING"
    clock.now += 4
    usage.on_step_end(1, [a, b, c])
    clock.now += 1
    usage.on_trial_complete(2, [a, b, c], c)  # its last stretch counts before Tune marks it TERMINATED
    c.status = "TERMINATED"
    clock.now += 100
    usage.on_experiment_end([a, b, c])
    assert usage.of("a") == Held(gpu_seconds=5.0, cpu_seconds=20.0, trial_seconds=10.0)
    assert usage.of("b") == Held(gpu_seconds=105.0, cpu_seconds=105.0, trial_seconds=105.0)
    assert usage.of("c") == Held(gpu_seconds=0.0, cpu_seconds=15.0, trial_seconds=15.0)
    assert usage.total() == Held(gpu_seconds=110.0, cpu_seconds=140.0, trial_seconds=130.0)


def test_the_ledger_survives_a_resume_and_ignores_states_that_are_not_its_own() -> None:
    usage = TrialUsage(clock=Clock())
    usage.trials["a"] = Held(1.5, 3.0, 3.0)
    restored = TrialUsage()
    restored.set_state({"finished": ["x"]})  # RunWatch's state at this position in an older run
    assert restored.trials == {}
    state = usage.get_state()
    assert state is not None
    restored.set_state(json.loads(json.dumps(state)))
    assert restored.of("a") == Held(1.5, 3.0, 3.0)


def test_reserved_resources_sum_the_placement_group_bundles() -> None:
    two = SimpleNamespace(placement_group_factory=PlacementGroupFactory([{"CPU": 1, "GPU": 1}, {"CPU": 2}]))
    assert reserved(two) == (1.0, 3.0)
    assert reserved(SimpleNamespace()) == (0.0, 0.0)


def test_a_budget_is_spent_when_either_limit_is_reached_and_says_which() -> None:
    usage = TrialUsage(clock=Clock())
    stopper = BudgetStopper(Budget(gpu_hours=1.0, trial_hours=2.0), usage)
    usage.trials["a"] = Held(gpu_seconds=3599, trial_seconds=3599)
    assert not stopper.stop_all()
    usage.trials["b"] = Held(gpu_seconds=1, trial_seconds=1)
    assert stopper.stop_all()
    assert stopper.spent() == "the GPU-hour budget (spec.budget.gpuHours 1) was spent"
    trials_only = BudgetStopper(Budget(trial_hours=2.0), usage)
    assert trials_only.spent() is None
    usage.trials["c"] = Held(trial_seconds=3600)
    assert trials_only.spent() == "the trial-hour budget (spec.budget.trialHours 2) was spent"


@pytest.mark.slow
def test_a_trial_hour_budget_ends_a_real_run_and_the_results_say_what_was_held(ray_local: None, tmp_path: Path) -> None:
    exp = load_object(
        experiment_doc(
            "spent",
            "tests.fixtures.trainables:epochs",
            # Two long trials at once; the third waits for a slot that the budget closes first.
            searchSpace={"id": {"grid": [1, 2, 3]}},
            config={"epochs": 500, "sleep": 0.1, "log": str(tmp_path / "trials.log")},
            search={"algorithm": "grid"},
            scheduler={"type": "fifo"},
            maxConcurrentTrials=2,
            budget={"trialHours": 6 / 3600},  # 6 trial-seconds: 3 s of two trials running side by side
            storage={"path": str(tmp_path)},
        )
    )
    fast = SenderSettings(flush_interval_s=0.05, initial_backoff_s=0.05, final_flush_timeout_s=30)
    with Exporter(store=ExperimentStore(), registry=CollectorRegistry(), token="t") as exporter:
        callback = ReportingCallback(
            url=exporter.url, token="t", namespace="ml", name="spent", metric="score", mode="max", settings=fast
        )
        summary = run_experiment(exp, options=RunOptions(verbose=0, callbacks=[callback]))
        value = exporter.registry.get_sample_value
        labels = {"namespace": "ml", "experiment": "spent"}
        # The live counters say what the results file says: the driver's own totals and each trial's.
        for key, family in (("trial_seconds", "trial"), ("cpu_seconds", "cpu"), ("gpu_seconds", "gpu")):
            exported = value(f"kubetune_experiment_{family}_seconds_total", labels)
            assert exported == pytest.approx(summary.usage[key], abs=0.01)
        for trial_id, held in summary.trial_usage.items():
            exported = value("kubetune_trial_cpu_seconds_total", {**labels, "trial": trial_id})
            assert exported == pytest.approx(held["cpu_seconds"], abs=0.01)
    assert summary.stopped_by == "compute-budget"
    assert summary.trials_by_state == {"RUNNING": 2, "PENDING": 1}
    cut = [end["detail"] for end in summary.trial_ends.values()]
    assert cut == ["the trial-hour budget (spec.budget.trialHours 0.00166667) was spent while running"] * 2
    used = summary.usage
    assert 6 <= used["trial_seconds"] < 6 + 2 * 2  # at most a step of Tune's loop late, per trial (loose: busy CI)
    assert used["cpu_seconds"] == pytest.approx(used["trial_seconds"], abs=0.01)  # one CPU per trial
    assert used["gpu_seconds"] == 0
    assert sorted(summary.trial_usage) == sorted(summary.trial_ends)
    assert sum(u["trial_seconds"] for u in summary.trial_usage.values()) == pytest.approx(used["trial_seconds"], 0.01)
    assert results.read(str(tmp_path / "spent")) == summary
    text = format_summary(summary)
    assert "3 of 3 trials did not finish: the compute budget (spec.budget) was spent" in text
    assert "compute held: 0 GPU-hours" in text


_GPU_RUN = """
import json, sys, ray
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.spec import load_object
ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)  # Ray believes in one GPU
summary = run_experiment(load_object(json.loads(sys.argv[1])), options=RunOptions(verbose=0))
print(json.dumps({"usage": summary.usage, "trial_usage": summary.trial_usage, "stopped_by": summary.stopped_by}))
"""


@pytest.mark.slow
def test_gpu_seconds_are_the_gpus_a_trial_reserved_times_the_time_it_ran(tmp_path: Path) -> None:
    doc = experiment_doc(
        "gpus",
        "tests.fixtures.trainables:epochs",
        searchSpace={"id": {"grid": [1, 2]}},
        config={"epochs": 500, "sleep": 0.1, "log": str(tmp_path / "trials.log")},
        search={"algorithm": "grid"},
        scheduler={"type": "fifo"},
        resourcesPerTrial={"cpu": 1, "gpu": 0.5},  # two trials share the one GPU
        budget={"gpuHours": 2 / 3600},  # 2 GPU-seconds: 2 s of two half-GPU trials
        storage={"path": str(tmp_path)},
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
           "RAY_AUTH_MODE": "disabled"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _GPU_RUN, json.dumps(doc)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["stopped_by"] == "compute-budget"
    used = got["usage"]
    assert 2 <= used["gpu_seconds"] < 2 + 2  # a step of Tune's loop late at most, per trial (loose: busy CI)
    assert used["gpu_seconds"] == pytest.approx(used["trial_seconds"] * 0.5, abs=0.01)
    for per_trial in got["trial_usage"].values():
        assert per_trial["gpu_seconds"] == pytest.approx(per_trial["trial_seconds"] * 0.5, abs=0.01)
