"""The XGBoost bank-marketing job: the tutorial's preparation, the loud fallback, parameters, a real Tune run."""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from jobs.bank_xgboost import data as bank_data
from jobs.bank_xgboost.data import (
    CATEGORIES,
    COLUMNS,
    CSV_NAME,
    DATA_DIR_ENV,
    DROPPED,
    SOURCE_CSV,
    SOURCE_SYNTHETIC,
    BankFormatError,
    find_csv,
    load_bank,
    preprocess,
    read_bank_csv,
    resolve_location,
    split,
    synthetic_bank_table,
)
from jobs.bank_xgboost.model import booster_params, coerce, resolve_device
from jobs.bank_xgboost.trainable import MODEL_FILE, SOURCE_ATTR, TrialSettings, evaluate, load_checkpoint, train
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.spec import load_file, load_object
from tests.conftest import REPO, experiment_doc
from tests.jobs.retrying import fail_once, run_retried

NUMERIC = ("age", "duration", "campaign", "pdays", "previous", "emp.var.rate", "cons.price.idx", "cons.conf.idx",
           "euribor3m", "nr.employed")  # fmt: skip


def bank_rows(n: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` rows with every real column and vocabulary; ``y`` leans on ``poutcome`` and ``contact`` (learnable).

    Written independently of :func:`synthetic_bank_table` so the reader is tested against a second source.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {c: str(rng.choice(CATEGORIES[c])) for c in CATEGORIES}
        contacted = i % 7 == 0
        row.update(
            {
                "age": int(rng.integers(18, 90)),
                "duration": int(rng.integers(0, 2000)),
                "campaign": int(rng.integers(1, 10)),
                "pdays": int(rng.integers(0, 27)) if contacted else 999,
                "previous": int(rng.integers(1, 5)) if contacted else 0,
                "emp.var.rate": 1.1,
                "cons.price.idx": 93.994,
                "cons.conf.idx": -36.4,
                "euribor3m": 4.857,
                "nr.employed": 5191.0,
            }
        )
        if not contacted:
            row["poutcome"] = "nonexistent"
        likely = row["poutcome"] == "success" or row["contact"] == "cellular"
        row["y"] = "yes" if rng.random() < (0.6 if likely else 0.1) else "no"
        rows.append(row)
    return rows


def write_bank_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """``rows`` as UCI ships bank-additional-full.csv: ``;``-separated, a quoted header, strings quoted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter=";", quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row[c] for c in COLUMNS])
    return path


@pytest.fixture
def bank_csv(tmp_path: Path) -> Path:
    """A 200-row bank-additional-full.csv in a directory of its own."""
    return write_bank_csv(tmp_path / "bank" / CSV_NAME, bank_rows(200, seed=1))


@pytest.fixture(scope="module")
def module_bank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 600-row CSV shared by a module's Ray runs (trials read it by absolute path)."""
    directory = tmp_path_factory.mktemp("bank")
    write_bank_csv(directory / CSV_NAME, bank_rows(600, seed=2))
    return directory


# --- reading -------------------------------------------------------------------------------------------


def test_reader_parses_the_uci_format(bank_csv: Path) -> None:
    first_line = bank_csv.read_text().splitlines()[0]
    assert first_line.startswith('"age";"job";"marital"')  # the fixture really writes the UCI dialect

    raw = read_bank_csv(str(bank_csv))

    assert tuple(raw.columns) == COLUMNS
    assert len(raw) == 200
    assert all(pd.api.types.is_numeric_dtype(raw[c]) for c in NUMERIC)
    assert set(raw["job"]) <= set(CATEGORIES["job"])


@pytest.mark.parametrize(
    "layout", [CSV_NAME, f"bank-additional/{CSV_NAME}", "renamed.csv"], ids=["directory", "uci-zip", "file-path"]
)
def test_the_csv_is_found_in_its_directory_in_the_uci_zip_layout_or_by_its_path(tmp_path: Path, layout: str) -> None:
    csv_path = write_bank_csv(tmp_path / layout, bank_rows(3, seed=0))
    given = csv_path if layout == "renamed.csv" else tmp_path

    assert find_csv(given) == str(csv_path)


def test_a_csv_given_as_a_uri_reads_like_the_local_file(bank_csv: Path) -> None:
    uri = bank_csv.parent.as_uri()

    assert find_csv(uri) == f"{uri}/{CSV_NAME}"
    pd.testing.assert_frame_equal(load_bank(uri).test, load_bank(bank_csv.parent).test)


def test_a_csv_without_the_bank_columns_raises_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / CSV_NAME
    path.write_text('"age";"job"\n30;"student"\n')

    with pytest.raises(BankFormatError, match=re.escape(str(path))) as caught:
        load_bank(tmp_path)

    assert "duration" in str(caught.value)


def test_a_target_other_than_yes_or_no_raises(tmp_path: Path) -> None:
    rows = bank_rows(5, seed=0)
    rows[2]["y"] = "maybe"
    path = write_bank_csv(tmp_path / CSV_NAME, rows)

    with pytest.raises(BankFormatError, match="maybe"):
        read_bank_csv(str(path))


# --- the tutorial's preparation ------------------------------------------------------------------------


def test_no_previous_contact_flags_exactly_the_rows_with_pdays_999(bank_csv: Path) -> None:
    raw = read_bank_csv(str(bank_csv))

    prepared = preprocess(raw)

    assert prepared["no_previous_contact"].tolist() == (raw["pdays"] == 999).astype(int).tolist()
    assert 0 < prepared["no_previous_contact"].sum() < len(raw)


def test_not_working_flags_students_retired_and_unemployed(bank_csv: Path) -> None:
    raw = read_bank_csv(str(bank_csv))

    prepared = preprocess(raw)

    expected = [int(job in ("student", "retired", "unemployed")) for job in raw["job"]]
    assert prepared["not_working"].tolist() == expected


def test_categorical_columns_become_one_hot_columns(bank_csv: Path) -> None:
    raw = read_bank_csv(str(bank_csv))

    prepared = preprocess(raw)

    for column in CATEGORIES:
        assert column not in prepared.columns
        dummies = prepared[[c for c in prepared.columns if c.startswith(f"{column}_")]]
        assert set(dummies.columns) == {f"{column}_{value}" for value in raw[column].unique()}
        assert (dummies.sum(axis=1) == 1).all()
    assert prepared["job_student"].tolist() == (raw["job"] == "student").astype(int).tolist()


def test_duration_and_the_economic_indicators_are_dropped(bank_csv: Path) -> None:
    prepared = preprocess(read_bank_csv(str(bank_csv)))

    assert not set(DROPPED) & set(prepared.columns)
    assert set(DROPPED) == {"duration", "emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed"}
    assert {"age", "campaign", "pdays", "previous"} <= set(prepared.columns)


def test_the_target_is_one_for_yes_and_every_feature_is_numeric(bank_csv: Path) -> None:
    raw = read_bank_csv(str(bank_csv))

    prepared = preprocess(raw)

    assert prepared["y"].tolist() == (raw["y"] == "yes").astype(int).tolist()
    assert all(pd.api.types.is_numeric_dtype(dtype) for dtype in prepared.dtypes)


def test_split_is_the_tutorials_70_20_10_cut_of_one_seeded_shuffle(bank_csv: Path) -> None:
    prepared = preprocess(read_bank_csv(str(bank_csv)))

    train, validation, test = split(prepared)

    assert (len(train), len(validation), len(test)) == (140, 40, 20)
    order = prepared.sample(frac=1, random_state=1729).index.tolist()  # the tutorial's shuffle
    assert [*train.index, *validation.index, *test.index] == order
    again = split(preprocess(read_bank_csv(str(bank_csv))))
    assert [part.index.tolist() for part in again] == [
        train.index.tolist(),
        validation.index.tolist(),
        test.index.tolist(),
    ]


def test_split_sizes_follow_the_tutorials_int_truncation() -> None:
    frame = pd.DataFrame({"x": range(41_188)})  # the real file's row count

    sizes = [len(part) for part in split(frame)]

    assert sizes == [28_831, 8_238, 4_119]


# --- the loud fallback ---------------------------------------------------------------------------------


def test_a_missing_file_falls_back_loudly_to_a_synthetic_table_with_the_real_columns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "nothing-here"

    with caplog.at_level(logging.WARNING, logger=bank_data.__name__):
        data = load_bank(missing)

    assert data.source == SOURCE_SYNTHETIC
    assert (len(data.train), len(data.validation), len(data.test)) == (7_000, 2_000, 1_000)
    assert "no_previous_contact" in data.feature_names
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "FALLING BACK" in warnings[0].getMessage()
    assert str(missing) in warnings[0].getMessage()


def test_the_synthetic_table_uses_the_real_vocabularies_and_is_the_same_every_time() -> None:
    table = synthetic_bank_table(2_000)

    assert tuple(table.columns) == COLUMNS
    for column, values in CATEGORIES.items():
        assert set(table[column]) <= set(values)
    assert set(table["y"]) == {"yes", "no"}
    assert (table.loc[table["poutcome"] == "nonexistent", "pdays"] == 999).all()  # never contacted before
    assert (table.loc[table["poutcome"] == "success", "pdays"] < 999).all()
    pd.testing.assert_frame_equal(table, synthetic_bank_table(2_000))


def test_the_synthetic_table_has_a_signal_in_the_features_the_tutorial_keeps() -> None:
    table = synthetic_bank_table()
    yes = table["y"] == "yes"

    assert 0.05 < yes.mean() < 0.2
    assert yes[table["poutcome"] == "success"].mean() > 2 * yes.mean()


def test_location_defaults_to_the_environment_variable_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert resolve_location(None) == str(tmp_path)
    monkeypatch.delenv(DATA_DIR_ENV)
    assert resolve_location(None) == str(Path.home() / "data" / "bank-marketing")
    assert resolve_location("s3://bucket/bank") == "s3://bucket/bank"


# --- parameters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("100", 100), ("0.3", 0.3), ("1e-3", 0.001), (" -2 ", -2), ("binary:logistic", "binary:logistic"), (7, 7)],
)
def test_numeric_strings_become_numbers(value: object, expected: object) -> None:
    result = coerce(value)

    assert result == expected
    assert type(result) is type(expected)


def test_sagemaker_hyperparameters_become_xgboost_parameters() -> None:
    config = {
        "eta": 0.2, "max_depth": 5, "min_child_weight": "6", "alpha": "0.5", "subsample": "0.8",
        "objective": "binary:logistic", "eval_metric": "auc", "num_round": "100", "silent": "0",
        "_tuning_objective_metric": "validation:auc", "sagemaker_program": "train.py", "data_dir": "/data",
    }  # fmt: skip

    params = booster_params(config, device="cpu", nthread=2)

    assert params == {
        "eta": 0.2, "max_depth": 5, "min_child_weight": 6, "alpha": 0.5, "subsample": 0.8,
        "objective": "binary:logistic", "eval_metric": ["auc"], "tree_method": "hist", "device": "cpu", "nthread": 2,
    }  # fmt: skip


def test_auc_is_always_evaluated_and_last_so_early_stopping_watches_it() -> None:
    assert booster_params({"eval_metric": "auc,logloss"}, device="cpu")["eval_metric"] == ["logloss", "auc"]
    assert booster_params({"eval_metric": ["error"]}, device="cpu")["eval_metric"] == ["error", "auc"]


def test_gpu_hist_becomes_hist_on_cuda_and_an_explicit_nthread_wins() -> None:
    params = booster_params({"tree_method": "gpu_hist", "nthread": "8"}, device="cpu", nthread=2)

    assert (params["tree_method"], params["device"], params["nthread"]) == ("hist", "cuda", 8)


def test_a_parameter_that_is_not_a_scalar_names_its_key() -> None:
    with pytest.raises(ValueError, match="'monotone'"):
        TrialSettings.from_config({"monotone": {"age": 1}})


def test_trial_settings_coerce_the_trainables_own_keys_and_name_a_bad_one() -> None:
    settings = TrialSettings.from_config({"num_round": "40", "early_stopping_rounds": "5", "eta": 0.1})
    assert (settings.num_round, settings.early_stopping_rounds, settings.checkpoint_frequency) == (40, 5, 1)
    assert TrialSettings.from_config({}).num_round == 100

    with pytest.raises(ValueError, match="'num_round'"):
        TrialSettings.from_config({"num_round": "0"})
    with pytest.raises(ValueError, match="'num_round'"):
        TrialSettings.from_config({"num_round": "ten"})
    with pytest.raises(ValueError, match="'device'"):
        TrialSettings.from_config({"device": "tpu"})


def test_the_imported_sagemaker_experiment_tunes_this_trainable_with_parameters_it_accepts() -> None:
    exp = load_file(REPO / "jobs" / "bank_xgboost" / "experiment.yaml")  # written by `kubetune import-sagemaker`

    assert exp.spec.trainable == "jobs.bank_xgboost.trainable:train"
    assert (exp.spec.metric, exp.spec.mode) == ("validation-auc", "max")
    assert {"eta", "min_child_weight", "alpha", "max_depth"} <= set(exp.spec.search_space)
    settings = TrialSettings.from_config(
        {**exp.spec.config, "eta": 0.2, "min_child_weight": 6, "alpha": 0, "max_depth": 5}
    )
    assert settings.num_round == 100
    params = settings.params(device="cpu", nthread=1)
    assert (params["objective"], params["eval_metric"], params["max_depth"]) == ("binary:logistic", ["auc"], 5)


def test_device_auto_is_the_cpu_outside_a_ray_trial_with_a_gpu() -> None:
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cuda") == "cuda"


# --- checkpoints and evaluation ------------------------------------------------------------------------


def test_evaluate_scores_a_booster_on_the_test_split(bank_csv: Path, tmp_path: Path) -> None:
    data = load_bank(bank_csv.parent)
    features, labels = data.xy("train")
    booster = xgb.train(
        booster_params({"max_depth": 2}, device="cpu"), xgb.DMatrix(features, label=labels), num_boost_round=5
    )
    booster.save_model(tmp_path / MODEL_FILE)

    scores = evaluate(load_checkpoint(tmp_path), {"data_dir": str(bank_csv.parent)})

    assert set(scores) == {"test-auc"}
    assert 0.5 < scores["test-auc"] <= 1.0


def test_load_checkpoint_of_a_directory_without_a_model_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        load_checkpoint(tmp_path)


# --- a real Ray Tune run --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_sweep_reports_validation_auc_every_round_and_keeps_the_best_booster(
    tmp_path: Path, module_bank_dir: Path
) -> None:
    from ray import tune

    exp = load_object(
        experiment_doc(
            "bank-smoke",
            "jobs.bank_xgboost.trainable:train",
            metric="validation-auc",
            mode="max",
            searchSpace={
                "eta": {"uniform": [0.1, 0.5]},
                "min_child_weight": {"uniform": [1, 10]},
                "alpha": {"uniform": [0, 2]},
                "max_depth": {"randint": [1, 4]},
            },
            # Static hyperparameters as the SageMaker importer writes them: strings, bookkeeping included.
            config={
                "num_round": "3",
                "objective": "binary:logistic",
                "eval_metric": "auc",
                "_tuning_objective_metric": "validation:auc",
                "data_dir": str(module_bank_dir),
            },
            numSamples=2,
            search={"algorithm": "random", "seed": 1},
            scheduler={"type": "fifo"},  # both trials run every round (the default ASHA may stop one early)
            resourcesPerTrial={"cpu": 1},
            checkpoint={"numToKeep": 1},
            storage={"path": str(tmp_path)},
        )
    )

    summary = run_experiment(exp, options=RunOptions(verbose=0))

    assert summary.trials_by_state == {"TERMINATED": 2}
    for trial in tune.ExperimentAnalysis(summary.experiment_path).trials:
        assert trial.status == "TERMINATED"
        assert {"validation-auc", "train-auc"} <= set(trial.last_result)
        assert trial.last_result["training_iteration"] == 3  # one report per round, no extra one at the end
        assert 0.0 <= trial.last_result["validation-auc"] <= 1.0
    best = summary.best
    assert best is not None
    assert best.checkpoint is not None
    assert (Path(best.checkpoint) / MODEL_FILE).is_file()

    booster = load_checkpoint(best.checkpoint)

    assert booster.attr(SOURCE_ATTR) == SOURCE_CSV
    assert booster.num_boosted_rounds() == best.metrics["training_iteration"]  # the best round's booster
    assert 0.0 <= evaluate(booster, best.config)["test-auc"] <= 1.0


def _fail_once_after_two_rounds(config: dict[str, Any]) -> None:
    """Boost two rounds and crash the first time; the retry must continue from that checkpointed booster."""
    fail_once(train, config, {"num_round": 2}, "injected failure after round 2")


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_a_retried_trial_continues_boosting_from_its_last_checkpoint(tmp_path: Path, module_bank_dir: Path) -> None:
    result = run_retried(
        _fail_once_after_two_rounds,
        {
            "eta": 0.3,
            "max_depth": 3,
            "num_round": 4,
            "data_dir": str(module_bank_dir),
        },
        metric="validation-auc",
        mode="max",
        name="bank-retry",
        storage_path=tmp_path,
    )

    assert result.metrics_dataframe is not None
    assert result.metrics_dataframe["training_iteration"].tolist() == [1, 2, 3, 4]  # rounds 1-2 not redone
    assert result.checkpoint is not None
    assert load_checkpoint(result.checkpoint.path).num_boosted_rounds() == 4
