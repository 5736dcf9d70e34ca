"""``kubetune import-sagemaker``: the YAML it writes (header, types, determinism), its errors and warnings on the
console, and the shipped bank_xgboost experiment, which must stay byte for byte what the importer writes."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.cli import main
from kubetune.cli.importing import render
from kubetune.importers.sagemaker import import_tuning_job
from kubetune.spec import SpecError, load_text
from tests.importers.sagemaker_cases import (
    BASE,
    CONFIG,
    JOB,
    RANGES,
    TWO_INTEGERS,
    categorical,
    continuous,
    ranges,
    run_import,
)

# --------------------------------------------------------------------------------------------------- rendering


def test_rendered_yaml_loads_back_to_the_document_with_its_types() -> None:
    """Strings that look like YAML booleans or numbers must stay strings through the dump."""
    result = run_import(
        ranges(
            Categorical=[categorical("k", "yes", "no", "1.0", "null")],
            Continuous=[continuous("lr", "1e-6", "1e-1", "Logarithmic")],
        ),
        training_job={"StaticHyperParameters": {"mode": "on", "ver": "1.10", "t": "true", "n": "~"}},
    )
    text = render(result, sources=["t.json"], command=["kubetune", "import-sagemaker", "t.json"])
    assert yaml.safe_load(text) == result.document
    assert load_text(text).to_dict() == result.document
    assert "    lr: {loguniform: [1.0e-06, 0.1]}\n" in text


def test_rendering_is_deterministic() -> None:
    def once() -> str:
        result = run_import({"Strategy": "Bayesian", "TrainingJobEarlyStoppingType": "Auto"})
        return render(result, sources=["a.json"], command=["kubetune", "import-sagemaker", "a.json"])

    assert once() == once()


# --------------------------------------------------------------------------------------------------- the CLI


def write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_cli_prints_the_experiment_and_warns_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuning = write_json(
        tmp_path / "tuning.json", {"HyperParameterTuningJobName": "Nightly", CONFIG: {**BASE, "Strategy": "Bayesian"}}
    )
    assert main(["import-sagemaker", tuning, "--trainable", "pkg.mod:train", "--namespace", "ml"]) == 0
    out, err = capsys.readouterr()
    experiment = load_text(out)
    assert (experiment.name, experiment.namespace, experiment.algorithm) == ("nightly", "ml", "optuna")
    warnings = [line for line in err.splitlines() if line.startswith("kubetune: warning: ")]
    assert len(warnings) == 2 == len(err.splitlines())
    assert "Strategy Bayesian -> search.algorithm optuna" in warnings[0]
    assert "metadata.name 'nightly' derived from HyperParameterTuningJobName 'Nightly'" in warnings[1]
    header = [line for line in out.splitlines() if line.startswith("#")]
    assert f"# Source: {tuning}" in header
    assert any(line.startswith("#   - Strategy Bayesian -> search.algorithm optuna: ") for line in header)


def test_cli_names_a_bare_config_after_its_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuning = write_json(tmp_path / "Bank_Tuning.json", BASE)  # a HyperParameterTuningJobConfig: no job name
    assert main(["import-sagemaker", tuning, "--trainable", "pkg.mod:train"]) == 0
    out, err = capsys.readouterr()
    assert load_text(out).name == "bank-tuning"
    assert "kubetune: warning: metadata.name 'bank-tuning' taken from the file name 'Bank_Tuning.json'" in err


def test_cli_writes_the_output_file_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuning = write_json(tmp_path / "tuning.json", BASE)
    target = tmp_path / "exp.yaml"
    args = ["import-sagemaker", tuning, "--trainable", "m:f", "--name", "x", "--image", "img:1", "-o", str(target)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")
    assert load_text(target.read_text()).spec.image == "img:1"


def test_cli_reads_a_separate_training_job_and_a_metric_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuning = write_json(
        tmp_path / "t.json",
        {**BASE, "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"}},
    )
    job = write_json(tmp_path / "j.json", {"StaticHyperParameters": {"num_round": "50"}})
    args = [
        "import-sagemaker",
        tuning,
        "--training-job",
        job,
        "--trainable",
        "m:f",
        "--name",
        "x",
        "--metric-map",
        "validation:rmse=val_rmse",
    ]
    assert main(args) == 0
    spec = load_text(capsys.readouterr().out).spec
    assert (spec.metric, spec.mode, spec.config) == ("val_rmse", "min", {"num_round": 50})


def test_cli_errors_are_one_line_each_exit_1_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tuning = write_json(tmp_path / "t.json", {**BASE, **ranges(Integer=TWO_INTEGERS), "RandomSeed": -1})
    job = write_json(tmp_path / "j.json", {"RetryStrategy": {"MaximumRetryAttempts": 0}})
    target = tmp_path / "out.yaml"
    args = ["import-sagemaker", tuning, "--training-job", job, "--trainable", "m:f", "--name", "x", "-o", str(target)]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"kubetune: cannot import {tuning}: {RANGES}.IntegerParameterRanges[1].MinValue: '1.5' is not an integer",
        f"kubetune: cannot import {tuning}: {CONFIG}.RandomSeed: -1 is below the minimum 0",
        f"kubetune: cannot import {job}: TrainingJobDefinition.RetryStrategy.MaximumRetryAttempts: 0 is below the "
        "minimum 1",
    ]
    assert not target.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not valid JSON at line 1, column 2"),
        ('{"Strategy": "Random", "Strategy": "Grid"}', "duplicate key 'Strategy'"),
        (None, "cannot read"),
    ],
    ids=["bad JSON", "duplicate key", "missing file"],
)
def test_cli_unreadable_input_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content)
    assert main(["import-sagemaker", str(path), "--trainable", "m:f"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kubetune: error: ")
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "extra",
    [[], ["--trainable", "m:f", "--metric-map", "no-equals-sign"]],
    ids=["no trainable", "bad metric map"],
)
def test_cli_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    tuning = write_json(tmp_path / "t.json", BASE)
    with pytest.raises(SystemExit) as info:
        main(["import-sagemaker", tuning, *extra])
    assert info.value.code == 2
    assert "usage: kubetune import-sagemaker" in capsys.readouterr().err


def test_cli_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["import-sagemaker", "--help"])
    assert info.value.code == 0
    assert "--metric-map SAGEMAKER=KEY" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------- drift


def shipped_command() -> list[str]:
    """The regenerate command from the header of the shipped experiment.yaml."""
    lines = JOB.joinpath("experiment.yaml").read_text().splitlines()
    start = lines.index("# Regenerate with:") + 1
    command = []
    for line in lines[start:]:
        command.append(line.removeprefix("#").strip().removesuffix("\\"))
        if not line.endswith("\\"):
            break
    return shlex.split(" ".join(command))


def test_the_shipped_command_is_the_documented_one() -> None:
    assert shipped_command() == [
        "kubetune",
        "import-sagemaker",
        "jobs/bank_xgboost/sagemaker/tuning-job.json",
        "--training-job",
        "jobs/bank_xgboost/sagemaker/training-job.json",
        "--trainable",
        "jobs.bank_xgboost.trainable:train",
        "--image",
        "ghcr.io/kubetune/xgboost:0.1.0",
        "--name",
        "bank-xgboost",
        "--metric-map",
        "validation:auc=validation-auc",
        "-o",
        "jobs/bank_xgboost/experiment.yaml",
    ]


def test_the_bank_xgboost_experiment_is_the_importers_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Running the header's command on a copy of the JSON reproduces the shipped file byte for byte."""
    shutil.copytree(JOB / "sagemaker", tmp_path / "jobs" / "bank_xgboost" / "sagemaker")
    monkeypatch.chdir(tmp_path)
    assert main(shipped_command()[1:]) == 0
    regenerated = (tmp_path / "jobs" / "bank_xgboost" / "experiment.yaml").read_text()
    assert regenerated == JOB.joinpath("experiment.yaml").read_text(), "drifted: run the command in its header"
    capsys.readouterr()


def test_the_bank_xgboost_import_matches_the_tutorial() -> None:
    result = import_tuning_job(
        json.loads((JOB / "sagemaker" / "tuning-job.json").read_text()),
        training_job=json.loads((JOB / "sagemaker" / "training-job.json").read_text()),
        name="bank-xgboost",
        trainable="jobs.bank_xgboost.trainable:train",
        image="ghcr.io/kubetune/xgboost:0.1.0",
        namespace=None,
        metric_map={"validation:auc": "validation-auc"},
    )
    assert result.document == yaml.safe_load(JOB.joinpath("experiment.yaml").read_text())
    spec = result.document["spec"]
    assert spec["searchSpace"] == {
        "eta": {"uniform": [0.0, 1.0]},
        "min_child_weight": {"uniform": [1.0, 10.0]},
        "alpha": {"uniform": [0.0, 2.0]},
        "max_depth": {"randint": [1, 10]},
    }
    assert spec["config"] == {
        "eval_metric": "auc",
        "num_round": 100,
        "objective": "binary:logistic",
        "rate_drop": 0.3,
        "tweedie_variance_power": 1.4,
    }
    assert (spec["metric"], spec["mode"], spec["search"], spec["numSamples"], spec["maxConcurrentTrials"]) == (
        "validation-auc",
        "max",
        {"algorithm": "optuna"},
        20,
        3,
    )


def test_a_translation_the_spec_refuses_is_reported_as_an_importer_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """The importer validates its own output: a mapping bug surfaces as an error, never as a bad file."""
    monkeypatch.setattr("kubetune.importers.sagemaker._SPEC_ORDER", ("trainable", "mode", "searchSpace"))
    with pytest.raises(SpecError) as info:
        run_import({})
    assert [e.path for e in info.value.errors] == ["spec.metric"]
    assert "a kubetune bug" in info.value.errors[0].reason
