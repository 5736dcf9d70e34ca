"""``kubetune best`` (and the end of ``kubetune run``) on an experiment with several objectives: the Pareto front as
a table, best first by the primary objective, then the best trial by the primary objective alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubetune.cli import main
from kubetune.cli.fronts import LISTED, front_lines
from kubetune.engine import results
from kubetune.engine.pareto import FrontTrial

OBJECTIVES = [{"metric": "accuracy", "mode": "max"}, {"metric": "latency_ms", "mode": "min"}]


def summary(tmp_path: Path, front: list[FrontTrial]) -> results.RunSummary:
    return results.RunSummary(
        experiment="pareto",
        namespace=None,
        metric="accuracy",
        mode="max",
        experiment_path=str(tmp_path),
        trials_by_state={"TERMINATED": 5},
        best=results.BestTrial(trial_id="t1", metric_value=0.97, config={"x": 0.8}, checkpoint=None),
        objectives=OBJECTIVES,
        pareto_front=front,
    )


FRONT = [
    FrontTrial("t1", {"accuracy": 0.97, "latency_ms": 8.1}, {"x": 0.8, "y": 0.5}, "/ckpt/t1/checkpoint_000001"),
    FrontTrial("t4", {"accuracy": 0.61, "latency_ms": 1.25}, {"x": 0.1, "y": 0.45}, None),
]


def test_best_prints_the_front_as_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results.write(summary(tmp_path, FRONT))
    assert main(["best", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    head = out.index(next(line for line in out if line.startswith("Pareto front of")))
    assert out[head] == (
        "Pareto front of accuracy (max), latency_ms (min): 2 trials no other finished trial beats on every "
        "objective (their last results)"
    )
    assert out[head + 1].split() == ["trial", "accuracy", "latency_ms", "config"]
    assert out[head + 2].split()[:3] == ["t1", "0.97", "8.1"]
    assert '{"x": 0.8, "y": 0.5}' in out[head + 2]
    assert out[head + 3] == "    checkpoint: /ckpt/t1/checkpoint_000001"
    assert out[head + 4].split()[:3] == ["t4", "0.61", "1.25"]
    assert any(line.startswith("best trial by the primary objective alone t1: accuracy = 0.97") for line in out)


def test_best_json_holds_the_front(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results.write(summary(tmp_path, FRONT))
    assert main(["best", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["trial_id"] for t in data["pareto_front"]] == ["t1", "t4"]
    assert data["objectives"] == OBJECTIVES


def test_a_long_front_is_cut_and_an_empty_one_says_why(tmp_path: Path) -> None:
    many = [FrontTrial(f"t{i}", {"accuracy": 1 - i / 100, "latency_ms": 30 - i}, {}, None) for i in range(LISTED + 3)]
    lines = front_lines(summary(tmp_path, many))
    assert lines[-1] == "  and 3 more (kubetune best --json lists them all)"
    assert len(lines) == 1 + 1 + LISTED + 1
    assert front_lines(summary(tmp_path, []))[0].endswith("empty, no finished trial reported every objective")


def test_a_single_objective_summary_has_no_front(tmp_path: Path) -> None:
    single = results.RunSummary(
        experiment="e", namespace=None, metric="score", mode="max", experiment_path=str(tmp_path),
        trials_by_state={}, best=None,
    )  # fmt: skip
    assert front_lines(single) == []
    results.write(single)
    assert results.read(str(tmp_path)).pareto_front is None


def test_status_names_every_objective() -> None:
    from kubetune.cli.submitting import format_status

    body = {
        "metadata": {"name": "pareto", "namespace": "ml"},
        "spec": {"metric": ["accuracy", "latency_ms"], "mode": ["max", "min"]},
        "status": {"phase": "Running", "summary": {"paretoFront": 3}},
    }
    lines = format_status(body).splitlines()
    assert "Objective:   accuracy (max), latency_ms (min)" in lines
    assert "Pareto front: 3 finished trials beaten by none on every objective" in lines
    single = {**body, "spec": {"metric": "accuracy", "mode": "max"}}
    assert "Objective:   accuracy (max)" in format_status(single).splitlines()
