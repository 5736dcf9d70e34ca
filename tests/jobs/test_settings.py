"""jobs/settings.py: a job's settings declared once, and the config parsing and flags derived from them."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jobs.settings import Settings, extra_keys, setting


def _absolute(value: Any) -> Path:
    return Path(value or "default-dir").absolute()


class Example(Settings):
    """Every kind of setting a job declares."""

    lr: float = setting(help="learning rate", example=0.01, above=0, group="optimizer")
    layers: int = setting(help="layers", example=2, at_least=1, group="model")
    dropout: float = setting(default=0.5, help="dropout", at_least=0, below=1, group="model")
    limit: int | None = setting(default=None, help="cap (default: all)", at_least=2, why="one to train, one to test")
    shuffle: bool = setting(default=True, help="shuffle every epoch")
    device: str = setting(default="auto", help="device", one_of=("auto", "cpu"))
    data_dir: Path | None = setting(default=None, help="where the data is", resolve=_absolute)


class Open(Settings):
    """A job that passes every key it does not declare on (as the XGBoost job passes them to XGBoost)."""

    rounds: int = setting(default=10, help="rounds", at_least=1)
    passed_on: Mapping[str, Any] = extra_keys(default_factory=dict, help="the rest")


@dataclass(frozen=True)
class BadValue:
    key: str
    value: Any
    message: str


@pytest.mark.parametrize(
    "case",
    [
        BadValue("lr", 0.0, "config['lr'] must be > 0, got 0.0"),
        BadValue("lr", float("nan"), "config['lr'] must be > 0, got nan"),
        BadValue("lr", "fast", "config['lr'] must be a number, got 'fast'"),
        BadValue("layers", 0, "config['layers'] must be >= 1, got 0"),
        BadValue("layers", 2.5, "config['layers'] must be an integer, got 2.5"),
        BadValue("layers", True, "config['layers'] must be a number, got True"),
        BadValue("dropout", 1.0, "config['dropout'] must be in [0, 1), got 1.0"),
        BadValue("limit", 1, "config['limit'] must be >= 2 (one to train, one to test), got 1"),
        BadValue("shuffle", "maybe", "config['shuffle'] must be true or false, got 'maybe'"),
        BadValue("device", "tpu", "config['device'] must be 'auto' or 'cpu', got 'tpu'"),
    ],
    ids=lambda case: f"{case.key}={case.value!r}",
)
def test_a_bad_value_is_an_error_that_names_the_key_and_the_requirement(case: BadValue) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(case.message)}$"):
        Example.from_config({"lr": 0.1, "layers": 2, case.key: case.value})


def test_a_missing_required_key_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"config\['layers'\] is required"):
        Example.from_config({"lr": 0.1})


def test_an_unknown_key_is_an_error_that_names_it_and_the_keys_the_job_reads() -> None:
    with pytest.raises(ValueError, match=r"config\['layer'\] is not a setting of this job.*reads lr, layers, dropout"):
        Example.from_config({"lr": 0.1, "layers": 2, "layer": 3})


def test_keys_starting_with_two_underscores_belong_to_ray_and_are_skipped() -> None:
    assert Example.from_config({"lr": 0.1, "layers": 2, "__trial_index__": 1}).layers == 2


def test_search_algorithm_values_become_plain_python_values() -> None:
    settings = Example.from_config(
        {"lr": np.float32(0.5), "layers": np.float64(3.0), "limit": np.int64(7), "shuffle": np.bool_(False)}
    )

    assert (settings.lr, settings.layers, settings.limit, settings.shuffle) == (0.5, 3, 7, False)
    assert [type(v) for v in (settings.lr, settings.layers, settings.limit, settings.shuffle)] == [
        float,
        int,
        int,
        bool,
    ]


def test_large_integers_stay_exact() -> None:
    assert Example.from_config({"lr": 0.1, "layers": 2**60 + 1}).layers == 2**60 + 1


def test_numeric_and_boolean_strings_are_read_as_sagemaker_writes_them() -> None:
    settings = Example.from_config({"lr": "0.25", "layers": "4", "shuffle": "false"})

    assert (settings.lr, settings.layers, settings.shuffle) == (0.25, 4, False)


def test_unset_keys_take_their_defaults_and_locations_resolve_even_when_unset() -> None:
    settings = Example.from_config({"lr": 0.1, "layers": 2, "limit": None})

    assert (settings.dropout, settings.limit, settings.shuffle, settings.device) == (0.5, None, True, "auto")
    assert settings.data_dir == Path("default-dir").absolute()
    assert Example.from_config({"lr": 0.1, "layers": 2, "data_dir": "x"}).data_dir == Path("x").absolute()


def test_settings_are_frozen_and_groups_collect_their_fields() -> None:
    settings = Example.from_config({"lr": 0.1, "layers": 2})

    assert settings.group("model") == {"layers": 2, "dropout": 0.5}
    assert Example.keys("optimizer") == ("lr",)
    with pytest.raises(FrozenInstanceError):
        settings.lr = 1.0  # type: ignore[misc]


def test_read_parses_one_key_of_a_partial_config() -> None:
    assert Example.read({"limit": "5"}, "limit") == 5
    assert Example.read({}, "data_dir") == Path("default-dir").absolute()


def test_a_job_with_extra_keys_collects_them_instead_of_failing() -> None:
    settings = Open.from_config({"rounds": "3", "objective": "binary:logistic", "__trial_index__": 0})

    assert settings.rounds == 3
    assert settings.passed_on == {"objective": "binary:logistic"}


def test_flags_default_to_the_example_or_the_default_and_make_a_valid_config() -> None:
    parser = argparse.ArgumentParser()
    Example.add_arguments(parser)

    args = parser.parse_args(["--layers", "3", "--no-shuffle", "--data-dir", "rel"])
    config = Example.config_from_args(args)

    assert config == {
        "lr": 0.01,
        "layers": 3,
        "dropout": 0.5,
        "shuffle": False,
        "device": "auto",
        "data_dir": str(Path("rel").absolute()),
    }
    assert Example.from_config(config).layers == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["--device", "tpu"])  # one_of becomes argparse's choices


def test_a_field_declared_without_setting_is_a_type_error_naming_it() -> None:
    class Sloppy(Settings):
        epochs: int = 3

    with pytest.raises(TypeError, match=r"Sloppy\.epochs is not declared with setting\(\)"):
        Sloppy.from_config({})
