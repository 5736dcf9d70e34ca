"""What every reference job promises, checked on each: its protocol, settings, flags, experiments, checkpoints,
a real sweep and a retried trial (real Ray Tune runs on the session's ``ray_local``, tiny generated data, CPU).

Each job's own data and model tests live in ``test_<job>.py``; :mod:`tests.jobs.cases` says what differs. The
command line's smoke test runs in the job's image (tests/images/test_image_contents.py), as a user would run it.
"""

from __future__ import annotations

import importlib
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from jobs import contract, smoke
from kubetune import versions
from kubetune.spec import load_file
from tests.jobs.cases import CASES, JOBS, JobCase, a_value, no_grid, out_of_bounds
from tests.jobs.retrying import run_retried

# Keras 3.15 on numpy 2 warns from inside its own TensorFlow backend on every conversion; nothing to fix here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning:keras"
)
per_job = pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])


@pytest.fixture(scope="module")
def job_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each job's tiny dataset, written once for the module (trials read it by absolute path)."""
    return {case.name: case.make_data(tmp_path_factory.mktemp(case.name)) for case in CASES}


# --- the module and its experiments -------------------------------------------------------------------------


def test_every_job_folder_has_a_case_and_every_case_a_folder() -> None:
    assert sorted(p.parent.name for p in JOBS.glob("*/trainable.py")) == sorted(case.name for case in CASES)


@per_job
def test_trainable_module_defines_every_function_of_the_job_protocol(case: JobCase) -> None:
    assert contract.missing(case.module()) == []
    assert contract.functions(contract.Job) == ("load_checkpoint", "evaluate", "train")


@pytest.mark.parametrize(
    ("source", "lacks"),
    [
        ("def train(config): pass\ndef evaluate(model, config): return {}\n", "load_checkpoint()"),
        ("def train(config): pass\n", "load_checkpoint() or evaluate()"),
    ],
    ids=["no-load_checkpoint", "neither"],
)
def test_kubetune_best_evaluate_names_the_functions_a_trainable_module_lacks(
    source: str, lacks: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubetune.cli.inspecting import evaluate_best
    from kubetune.engine import results

    name = f"half_a_job_{len(lacks)}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    best = results.BestTrial(trial_id="t", metric_value=1.0, config={}, checkpoint=str(tmp_path))
    summary = results.RunSummary(
        experiment="e", namespace=None, metric="m", mode="max", experiment_path=str(tmp_path),
        trials_by_state={"TERMINATED": 1}, best=best, trainable=f"{name}:train",
    )  # fmt: skip

    try:
        with pytest.raises(ValueError, match=rf"^{name} defines no {re.escape(lacks)}: `kubetune best --evaluate`"):
            evaluate_best(summary)
    finally:
        sys.modules.pop(name, None)


@per_job
def test_job_names_its_image_family_and_its_experiments_run_in_that_image(case: JobCase) -> None:
    family = importlib.import_module(f"jobs.{case.name}").IMAGE_FAMILY

    assert family in versions.RAY_FAMILIES
    for path in case.experiments():
        assert load_file(path).spec.image == versions.image(family), path.name


@per_job
def test_shipped_experiments_tune_this_trainable_for_a_metric_it_reports(case: JobCase) -> None:
    for path in case.experiments():
        exp = load_file(path)
        assert exp.spec.trainable == f"jobs.{case.name}.trainable:train"
        assert exp.spec.metric in case.module().METRIC_KEYS


@per_job
def test_shipped_experiments_config_and_search_space_are_settings_of_the_job(case: JobCase) -> None:
    settings = case.module().TrialSettings
    for path in case.experiments():
        spec = yaml.safe_load(path.read_text())["spec"]
        config = {**spec.get("config", {}), **{key: a_value(dim) for key, dim in spec["searchSpace"].items()}}
        settings.from_config(config)  # no unknown, missing or out-of-bounds key


# --- settings: declared once, parsed and checked the same way in every job --------------------------------


@per_job
def test_an_unknown_config_key_is_an_error_naming_it_unless_the_job_collects_extra_keys(case: JobCase) -> None:
    settings = case.module().TrialSettings
    extra = [name for name, f in settings.declared().items() if f.rule.extra]

    if extra:
        assert getattr(settings.from_config({**case.trial_config(), "sleep": 1}), extra[0])["sleep"] == 1
    else:
        with pytest.raises(ValueError, match=r"config\['sleep'\] is not a setting"):
            settings.from_config({**case.trial_config(), "sleep": 1})


@per_job
def test_keys_that_ray_searchers_add_are_not_the_jobs_and_pass(case: JobCase) -> None:
    case.module().TrialSettings.from_config({**case.trial_config(), "__trial_index__": 2})


@per_job
def test_a_missing_required_key_is_an_error_naming_it(case: JobCase) -> None:
    settings = case.module().TrialSettings
    for name, f in settings.declared().items():
        if f.required:
            config = {k: v for k, v in case.trial_config().items() if k != name}
            with pytest.raises(ValueError, match=rf"config\['{name}'\] is required"):
                settings.from_config(config)


@per_job
def test_a_value_out_of_bounds_is_an_error_naming_the_key(case: JobCase) -> None:
    settings = case.module().TrialSettings
    checked = [(name, f) for name, f in settings.declared().items() if f.rule.one_of or f.rule.requirement()]
    assert checked
    for name, f in checked:
        with pytest.raises(ValueError, match=rf"config\['{name}'\] must be"):
            settings.from_config({**case.trial_config(), name: out_of_bounds(f.rule)})


@per_job
def test_numpy_scalars_and_whole_floats_become_plain_numbers(case: JobCase) -> None:
    settings = case.module().TrialSettings
    numbers = {name: f for name, f in settings.declared().items() if f.kind in (int, float) and not f.rule.resolve}
    base = case.trial_config()
    for name, f in numbers.items():
        value = base.get(name, f.rule.example if f.rule.example is not None else f.default)
        value = 4 if value is None else value
        parsed = settings.from_config({**base, name: np.float64(value) if f.kind is float else float(value)})
        assert type(getattr(parsed, name)) is f.kind, name


@per_job
def test_data_dir_defaults_to_the_environment_variable_then_home_and_is_always_absolute(
    case: JobCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = case.module().TrialSettings

    def data_dir(config: dict[str, Any]) -> Path:
        return Path(str(settings.read(config, "data_dir")))

    monkeypatch.setenv("KUBETUNE_DATA_DIR", str(tmp_path))
    assert data_dir({}) == tmp_path
    monkeypatch.delenv("KUBETUNE_DATA_DIR")
    assert data_dir({}) == Path.home() / "data" / case.home_data
    assert data_dir({"data_dir": "relative"}) == Path("relative").absolute()  # trials run in their own directory
    if case.reads_uris:
        assert settings.read({"data_dir": "s3://bucket/data"}, "data_dir") == "s3://bucket/data"


# --- the command line ---------------------------------------------------------------------------------------


@per_job
def test_every_setting_is_a_flag_whose_help_repeats_its_default(case: JobCase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping within an option's help
    command = case.module().COMMAND
    options = re.split(r"\n(?=  -)", smoke.build_parser(command, prog="job").format_help())

    for f in command.settings.declared().values():
        if f.rule.extra or f.rule.variants is not None:  # a group of keys (a mapping) has no flag
            continue
        (option,) = [" ".join(option.split()) for option in options if re.match(rf"\s+{f.flag}\b", option)]
        assert f.rule.help in option
        shown = f.rule.example if f.rule.example is not None else f.default
        if shown is not None and shown is not False:
            assert f"(default: {shown})" in option, option


@per_job
def test_the_command_line_config_is_one_the_trainable_accepts(case: JobCase, tmp_path: Path) -> None:
    command = case.module().COMMAND
    parser = smoke.build_parser(command, prog="job")

    config = command.settings.config_from_args(parser.parse_args(["--data-dir", "relative/dir"]))

    settings = command.settings.from_config({**config, **command.smoke})
    assert Path(str(settings.data_dir)).is_absolute()  # trials do not run where the driver started
    assert all(getattr(settings, key) == value for key, value in command.smoke.items())


@per_job
def test_readme_documents_every_setting(case: JobCase) -> None:
    readme = (case.directory / "README.md").read_text()
    section = readme[readme.index("## Config keys") :]
    for name, f in case.module().TrialSettings.declared().items():
        if not f.rule.extra:
            assert f"`{name}`" in section, name


# --- checkpoints, evaluation, real runs ---------------------------------------------------------------------


@per_job
def test_load_checkpoint_of_a_directory_that_is_no_checkpoint_names_it(case: JobCase, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        case.module().load_checkpoint(tmp_path)


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
@per_job
def test_shipped_experiment_runs_two_trials_and_its_best_checkpoint_evaluates_as_reported(
    case: JobCase, tmp_path: Path, job_data: dict[str, Path]
) -> None:
    from ray import tune

    from kubetune.cli.inspecting import evaluate_best
    from kubetune.engine.running import RunOptions, run_experiment
    from kubetune.spec import load_object

    module = case.module()
    doc = yaml.safe_load((case.directory / "experiment.yaml").read_text())
    spec = doc["spec"]
    # The shipped experiment on tiny data and CPUs: 2 trials x 2 iterations, both run to the end.
    spec["searchSpace"] = {**{k: no_grid(v) for k, v in spec["searchSpace"].items()}, **case.space}
    config = {**spec.get("config", {}), **case.config, case.length_key: 2, "data_dir": str(job_data[case.name])}
    spec.update(config=config, numSamples=2, scheduler={"type": "fifo"}, resourcesPerTrial={"cpu": 1})
    spec.update(stop={"training_iteration": 2}, checkpoint={"numToKeep": 1})

    summary = run_experiment(load_object(doc), options=RunOptions(verbose=0, storage_path=str(tmp_path)))

    assert summary.trials_by_state == {"TERMINATED": 2}
    for history in tune.ExperimentAnalysis(summary.experiment_path).trial_dataframes.values():
        assert set(module.METRIC_KEYS) <= set(history.columns)
        assert history["training_iteration"].tolist() == [1, 2]
        if case.reports_epoch:
            assert history["epoch"].tolist() == [1, 2]
        assert np.isfinite(history[spec["metric"]]).all()
    best = summary.best
    assert best is not None
    assert best.checkpoint is not None
    assert case.checkpoint_files <= {p.name for p in Path(best.checkpoint).iterdir()}
    assert case.progress(Path(best.checkpoint)).source == case.source
    scores = module.evaluate(module.load_checkpoint(best.checkpoint), best.config)
    assert set(scores) == case.evaluate_keys
    assert all(math.isfinite(value) for value in scores.values())
    for evaluated, reported in case.same_data.items():  # the checkpoint holds the very model that was scored
        assert scores[evaluated] == pytest.approx(best.metrics[reported], rel=case.rel)
    assert evaluate_best(summary) == pytest.approx(scores)  # what `kubetune best --evaluate` prints


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
@per_job
def test_a_retried_trial_resumes_after_its_last_checkpoint(
    case: JobCase, tmp_path: Path, job_data: dict[str, Path]
) -> None:
    module = case.module()
    config = {**case.trial_config(), **case.config, case.length_key: 3, "data_dir": str(job_data[case.name])}

    result = run_retried(
        case.name,
        config,
        first_run={case.length_key: 1},
        metric=module.COMMAND.metric,
        mode=module.COMMAND.mode,
        storage_path=tmp_path,
    )

    # A retry that started over would report epochs 1 to 3 as iterations 2 to 4. (The row of
    # iteration 1 itself is not asserted: Ray may leave the row reported just before a crash out of the trial's
    # result files, as it does after a PBT pause.)
    assert result.metrics["training_iteration"] == 3
    history: pd.DataFrame = result.metrics_dataframe
    assert history["training_iteration"].tolist()[-2:] == [2, 3]
    if case.reports_epoch:
        assert (history["epoch"] == history["training_iteration"]).all()
    assert case.progress(Path(result.checkpoint.path)).iterations == 3
