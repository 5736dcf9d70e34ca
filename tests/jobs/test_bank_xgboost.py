"""The XGBoost bank-marketing job's own parts: the tutorial's preparation, the loud fallback, the booster's
parameters, evaluate. Settings, checkpoints, a sweep and a retry are in test_contract.py."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
import pytest
import xgboost as xgb

from jobs.bank_xgboost import data as bank_data
from jobs.bank_xgboost.data import (
    CATEGORIES,
    COLUMNS,
    CSV_NAME,
    DROPPED,
    SOURCE_SYNTHETIC,
    BankFormatError,
    find_csv,
    load_bank,
    preprocess,
    read_bank_csv,
    split,
    synthetic_bank_table,
)
from jobs.bank_xgboost.model import TRAINABLE_KEYS, booster_params, coerce, resolve_device
from jobs.bank_xgboost.trainable import MODEL_FILE, TrialSettings, evaluate, load_checkpoint
from kubetune.spec import load_file
from tests.conftest import REPO
from tests.jobs.fixtures_bank import NUMERIC, bank_rows, write_bank_csv


@pytest.fixture
def bank_csv(tmp_path: Path) -> Path:
    """A 200-row bank-additional-full.csv in a directory of its own."""
    return write_bank_csv(tmp_path / "bank" / CSV_NAME, bank_rows(200, seed=1))


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


def test_the_trainables_own_keys_are_never_passed_to_xgboost() -> None:
    declared = {name for name, f in TrialSettings.declared().items() if not f.rule.extra}

    assert declared - set(TrialSettings.keys("booster")) == TRAINABLE_KEYS  # booster_params skips exactly these


def test_sagemaker_strings_for_the_trainables_own_keys_are_coerced() -> None:
    settings = TrialSettings.from_config({"num_round": "40", "early_stopping_rounds": "5", "max_depth": "3"})

    assert (settings.num_round, settings.early_stopping_rounds, settings.checkpoint_frequency) == (40, 5, 1)
    assert settings.params(device="cpu", nthread=None)["max_depth"] == 3


def test_the_imported_sagemaker_experiment_tunes_this_trainable_with_parameters_it_accepts() -> None:
    exp = load_file(REPO / "jobs" / "bank_xgboost" / "experiment.yaml")  # written by `kubetune import-sagemaker`

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
