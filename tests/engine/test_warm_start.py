"""``spec.warmStart``: an earlier experiment's finished trials seed a new one's Optuna study as COMPLETE trials, as
many new trials still run, trials that do not fit the new space are skipped and counted, a missing source is a
spec error. The sources and the seeding without Ray first, then two real Ray Tune runs."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState
from prometheus_client import CollectorRegistry

from kubetune.cli.inspecting import format_summary
from kubetune.engine import results, searching, warmstart
from kubetune.engine.optuna_bridge import load_study
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.engine.warmstart import Record
from kubetune.exporter.server import Exporter
from kubetune.exporter.store import ExperimentStore
from kubetune.reporting.callback import ReportingCallback
from kubetune.reporting.sending import SenderSettings
from kubetune.spec import SpecError, load_object
from tests.conftest import experiment_doc

SPACE = {
    "x": {"uniform": [0.0, 1.0]},
    "n": {"randint": [1, 3]},
    "model": {"act": {"choice": ["relu", "tanh"]}},
}
CONDITIONAL = {
    "optimizer": {
        "choice": [
            {"name": "sgd", "lr": {"loguniform": [1e-4, 1e-1]}, "momentum": {"uniform": [0.1, 0.9]}},
            {"name": "adam", "lr": {"loguniform": [1e-5, 1e-2]}, "beta1": {"uniform": [0.8, 0.99]}},
            "none",
        ]
    },
}


def experiment(name: str = "second", **spec: Any) -> Any:
    return load_object(experiment_doc(name, "tests.fixtures.trainables:quadratic", **spec))


def record(trial_id: str, config: dict[str, Any], value: float | None = 0.5, finished: bool = True) -> Record:
    return Record(trial_id=trial_id, config=config, value=value, finished=finished)


def test_a_name_is_an_experiment_in_the_same_storage_root_and_a_path_is_taken_as_written() -> None:
    assert warmstart.resolve("first", root="/data/kubetune") == "/data/kubetune/first"
    assert warmstart.resolve("s3://bucket/kubetune/first/", root="/data") == "s3://bucket/kubetune/first"
    assert warmstart.resolve("s3://bucket/first", root="s3://other") == "s3://bucket/first"
    assert warmstart.resolve("/runs/first/", root="/data") == "/runs/first"
    assert warmstart.resolve("./first", root="/data") == os.path.abspath("first")  # a relative path, not a name
    assert warmstart.resolve("first", root="s3://bucket/kubetune") == "s3://bucket/kubetune/first"


def test_only_finished_trials_that_reported_the_objective_and_fit_the_space_are_seeded() -> None:
    good = {"x": 0.2, "n": 3, "model": {"act": "tanh"}, "epochs": 5}  # a fixed key of the old spec is ignored
    records = [
        record("good", good, value=0.9),
        record("outside", {**good, "x": 1.5}),
        record("not-an-integer", {**good, "n": 2.5}),
        record("unknown-choice", {**good, "model": {"act": "gelu"}}),
        record("missing", {"x": 0.2, "model": {"act": "relu"}}),
        record("unfinished", good, finished=False),
        record("no-objective", good, value=None),
    ]
    seeds, skipped = warmstart.select(records, space=experiment(searchSpace=SPACE).space, source="/runs/first")

    assert [(s.trial_id, s.params, s.value) for s in seeds] == [("good", {"x": 0.2, "n": 3, "model/act": "tanh"}, 0.9)]
    assert skipped == {"outside the search space": 3, "missing a parameter": 1, "not finished": 1, "no objective": 1}


def test_a_conditional_space_seeds_the_chosen_options_parameters_under_its_index() -> None:
    space = experiment(searchSpace=CONDITIONAL).space
    records = [
        record("adam", {"optimizer": {"name": "adam", "lr": 0.001, "beta1": 0.9}}),
        record("none", {"optimizer": "none"}),
        record("rmsprop", {"optimizer": {"name": "rmsprop", "lr": 0.001}}),
        record("sgd-with-beta", {"optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.5, "beta1": 0.9}}),
    ]
    seeds, skipped = warmstart.select(records, space=space, source="/runs/first")

    assert {s.trial_id: s.params for s in seeds} == {
        "adam": {"optimizer": 1, "optimizer/1/lr": 0.001, "optimizer/1/beta1": 0.9},
        "none": {"optimizer": 2},
    }
    assert skipped == {"outside the search space": 2}


def test_the_optuna_searcher_holds_the_seeds_as_complete_trials_and_still_suggests() -> None:
    exp = experiment(searchSpace=SPACE, search={"seed": 1}, warmStart={"from": ["first"]})
    chosen, _ = warmstart.select(
        [record(f"t{i}", {"x": i / 10, "n": 1 + i % 3, "model": {"act": "relu"}}, value=i) for i in range(5)],
        space=exp.space,
        source="/runs/first",
    )
    seeds = warmstart.Seeds(sources=("/runs/first",), trials=tuple(chosen), skipped={})
    bridge = searching.build_searcher(exp, max_concurrent=2, seeds=seeds).algorithm

    trials = bridge.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    assert [t.value for t in trials] == [0, 1, 2, 3, 4]
    assert trials[3].params == {"x": 0.3, "n": 1, "model/act": "relu"}
    assert trials[3].user_attrs == {"warm_start_from": "/runs/first", "warm_start_trial_id": "t3"}
    assert bridge.suggest("new") is not None
    assert len(bridge.study.trials) == 6


def test_a_missing_source_is_a_spec_error_naming_the_entry_before_ray_starts(tmp_path: Path) -> None:
    import ray

    exp = experiment(warmStart={"from": [str(tmp_path / "nowhere")]}, storage={"path": str(tmp_path)})
    was_running = ray.is_initialized()
    with pytest.raises(SpecError) as info:
        run_experiment(exp, options=RunOptions(verbose=0))

    [error] = info.value.errors
    assert error.path == "spec.warmStart.from[0]"
    assert str(tmp_path / "nowhere") in error.reason
    assert ray.is_initialized() == was_running


def test_kubetune_run_names_a_missing_source_in_its_storage_root_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from kubetune.cli import main

    spec = experiment_doc("second", "tests.fixtures.trainables:quadratic", warmStart={"from": ["first"]})
    (tmp_path / "second.yaml").write_text(yaml.safe_dump(spec))
    storage = tmp_path / "store"

    code = main(["run", str(tmp_path / "second.yaml"), "--storage", str(storage), "--no-metrics", "-q"])

    err = capsys.readouterr().err
    assert code == 1
    assert f"spec.warmStart.from[0]: no earlier experiment at {storage / 'first'}" in err  # the name, resolved
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_warm_started_experiment_holds_the_earlier_finished_trials_and_runs_its_own(
    ray_local: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    common: dict[str, Any] = {
        "config": {"iterations": 2},
        "scheduler": {"type": "fifo"},
        "storage": {"path": str(tmp_path)},
    }
    first = run_experiment(
        experiment("first", searchSpace={"x": {"grid": [0.1, 0.4, 0.8]}}, search={"algorithm": "grid"}, **common),
        options=RunOptions(verbose=0),
    )
    assert first.trials_by_state == {"TERMINATED": 3}
    source = str(tmp_path / "first")

    caplog.set_level(logging.INFO, logger="kubetune.engine.warmstart")
    exporter = Exporter(store=ExperimentStore(), registry=CollectorRegistry(), token="t")
    exporter.start()
    fast = SenderSettings(flush_interval_s=0.05, initial_backoff_s=0.05, final_flush_timeout_s=30)
    reporter = ReportingCallback(
        url=exporter.url, token="t", namespace="ml", name="second", metric="score", mode="max", settings=fast
    )
    second = run_experiment(
        experiment(
            "second",
            searchSpace={"x": {"uniform": [0.0, 0.5]}},  # 0.8 is outside: skipped
            numSamples=3,
            maxConcurrentTrials=1,
            search={"seed": 3},
            warmStart={"from": [source]},
            **common,
        ),
        options=RunOptions(verbose=0, callbacks=[reporter]),
    )
    # Live, the seeded trials are a count of their own, in no trial count.
    labels = {"namespace": "ml", "experiment": "second"}
    assert exporter.registry.get_sample_value("kubetune_experiment_seeded_trials", labels) == 2
    assert (
        exporter.registry.get_sample_value(
            "kubetune_experiment_trials", {**labels, "state": "TERMINATED", "reason": "finished"}
        )
        == 3
    )
    exporter.stop()

    study = load_study(tmp_path / "second")
    seeded = [t for t in study.trials if "warm_start_from" in t.user_attrs]
    own = [t for t in study.trials if "ray_trial_id" in t.user_attrs]
    assert sorted(t.params["x"] for t in seeded) == [0.1, 0.4]
    assert all(t.state == TrialState.COMPLETE for t in seeded)
    for t in seeded:  # quadratic's last score, at its second step
        assert t.value == pytest.approx((1 - (t.params["x"] - 0.3) ** 2) * 2 / 3)
        assert t.user_attrs["warm_start_from"] == source
    assert len(own) == 3  # numSamples new trials: the seeded ones counted against nothing
    assert second.total_trials == 3
    assert second.trials_by_state == {"TERMINATED": 3}
    assert second.best is not None
    assert second.best.trial_id in {t.user_attrs["ray_trial_id"] for t in own}  # never a seeded trial
    assert second.warm_start == {"from": [source], "trials": 2, "skipped": 1}
    assert results.read(str(tmp_path / "second")) == second
    assert "warm start: 2 trials of 1 earlier experiment seeded the search (1 skipped)" in format_summary(second)
    assert any("1 outside the search space" in r.getMessage() for r in caplog.records)
