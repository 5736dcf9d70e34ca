"""The CLI: one clear line and a non-zero exit on bad input, never a traceback; --help on every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubetune.cli import build_parser, main
from kubetune.engine import results
from tests import kuberay
from tests.conftest import REPO, experiment_doc

COMMANDS = ["run", "validate", "best", "schema", "render", "import-sagemaker"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: kubetune" in capsys.readouterr().out


def test_the_parser_knows_every_documented_command() -> None:
    text = build_parser().format_help()
    for command in COMMANDS:
        assert command in text


def write(tmp_path: Path, doc: object, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def test_validate_accepts_the_reference_experiments(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in REPO.glob("jobs/*/experiment*.yaml"))
    assert main(["validate", *files]) == 0
    assert capsys.readouterr().out.count(": valid") == len(files)


def test_validate_names_the_field_and_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = experiment_doc("bad", "m:f", searchSpace={"lr": {"loguniform": [0, 1]}})
    assert main(["validate", str(write(tmp_path, bad))]) == 1
    out = capsys.readouterr().out
    assert "spec.searchSpace.lr.loguniform: lower bound must be > 0" in out


def test_run_on_an_invalid_file_is_one_clear_error_without_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, experiment_doc("bad", "m:f", numSamples=0))
    proc = subprocess.run(
        [sys.executable, "-m", "kubetune", "run", str(bad)], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert proc.returncode == 1
    assert "spec.numSamples" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_render_prints_a_rayjob_valid_for_kuberay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = REPO / "jobs/mnist_torch/experiment.yaml"
    args = ["render", str(path), "--storage", "s3://b/p", "--ingest-url", "http://k:8080", "--token-secret", "t:key"]
    assert main(args) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    assert kuberay.errors(job) == []


def test_render_without_shared_storage_names_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(REPO / "jobs/mnist_torch/experiment.yaml")]) == 1
    assert "spec.storage.path" in capsys.readouterr().err


def test_schema_is_json_with_the_spec_fields(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"searchSpace", "numSamples", "resourcesPerTrial"} <= set(schema["$defs"]["Spec"]["properties"])


def test_best_prints_the_best_trial_and_fails_without_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = results.RunSummary(
        experiment="e",
        namespace=None,
        metric="score",
        mode="max",
        experiment_path=str(tmp_path),
        trials_by_state={"TERMINATED": 3},
        trainable="tests.fixtures.trainables:quadratic",
        best=results.BestTrial(trial_id="t1", metric_value=0.9, config={"x": 0.3}, checkpoint=None),
    )
    results.write(summary)
    assert main(["best", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "best trial t1: score = 0.9" in out
    assert "x: 0.3" in out
    assert main(["best", str(tmp_path), "--evaluate"]) == 1  # no checkpoint to evaluate: a clear error
    assert "no best checkpoint" in capsys.readouterr().err
