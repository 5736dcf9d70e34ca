"""jobs/settings.py: a setting that takes a group of keys (``variants``) and the flat keys it ``replaces``."""

from __future__ import annotations

import argparse
import re
from typing import Any

import numpy as np
import pytest

from jobs.settings import Settings, setting


class Linear(Settings):
    slope: float = setting(help="slope", above=0)
    offset: float = setting(default=0.0, help="offset")


class Step(Settings):
    at: int = setting(help="where it steps", at_least=1)


class Job(Settings):
    """A job whose ``schedule`` group (linear or step) may stand in for the flat ``slope``."""

    slope: float | None = setting(help="flat slope", example=1.0, above=0)
    epochs: int = setting(default=3, help="epochs", at_least=1)
    schedule: Linear | Step | None = setting(
        default=None, help="a schedule group", variants={"linear": Linear, "step": Step}, replaces=("slope",)
    )


def test_without_a_group_the_flat_keys_parse_as_declared() -> None:
    job = Job.from_config({"slope": 2})

    assert (job.slope, job.schedule) == (2.0, None)
    with pytest.raises(ValueError, match=r"^config\['slope'\] is required"):
        Job.from_config({})


def test_a_group_is_parsed_by_the_variant_its_name_picks_and_replaces_the_flat_keys() -> None:
    job = Job.from_config({"schedule": {"name": "linear", "slope": np.float64(0.5), "__trial_index__": 1}})

    assert job.schedule == Linear(slope=0.5, offset=0.0)
    assert isinstance(job.schedule, Linear)
    assert type(job.schedule.slope) is float
    assert job.slope is None
    assert Job.from_config({"schedule": {"name": np.str_("step"), "at": 2.0}}).schedule == Step(at=2)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"schedule": {"name": "cosine"}}, "config['schedule']['name'] must be 'linear' or 'step', got 'cosine'"),
        ({"schedule": {"slope": 1}}, "config['schedule']['name'] is required: 'linear' or 'step'"),
        ({"schedule": ["linear"]}, "config['schedule'] must be a group of keys (a mapping whose 'name' is"),
        ({"schedule": {"name": "step"}}, "config['schedule']['at'] is required"),
        ({"schedule": {"name": "step", "at": 0}}, "config['schedule']['at'] must be >= 1, got 0"),
        ({"schedule": {"name": "step", "at": 1.5}}, "config['schedule']['at'] must be an integer, got 1.5"),
        (
            {"schedule": {"name": "step", "at": 2, "slope": 1}},
            "config['schedule']['slope'] is not a setting of schedule 'step'; it reads at",
        ),
        (
            {"slope": 1, "schedule": {"name": "step", "at": 2}},
            "config['slope'] cannot be set together with config['schedule'], the group that replaces it",
        ),
    ],
    ids=["unknown-name", "no-name", "not-a-mapping", "missing", "out-of-bounds", "wrong-type", "foreign-key", "both"],
)
def test_errors_inside_a_group_name_the_key_by_its_path(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(message)}"):
        Job.from_config(config)


def test_a_group_has_no_flag() -> None:
    parser = argparse.ArgumentParser()
    Job.add_arguments(parser)

    assert "--schedule" not in parser.format_help()
    assert Job.config_from_args(parser.parse_args([])) == {"slope": 1.0, "epochs": 3}


def test_replacing_a_key_that_is_not_declared_optional_is_a_type_error() -> None:
    class Sloppy(Settings):
        slope: float = setting(default=1.0, help="slope")
        schedule: Linear | None = setting(default=None, help="g", variants={"linear": Linear}, replaces=("slope",))

    with pytest.raises(TypeError, match=r"Sloppy\.schedule replaces slope: declare each, typed `\.\.\. \| None`"):
        Sloppy.from_config({})
