"""The request's shape: which of the two accepted inputs it is, its top-level keys, and the experiment's name.

A whole ``CreateHyperParameterTuningJob`` request or only its ``HyperParameterTuningJobConfig`` is accepted, with
the training definition inside it or in a separate file. :class:`Request` carries the parts every other section of
the translation reads, and the :class:`~kubetune.importers._reading.Reader` that collects their problems.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from kubetune.importers._reading import Reader
from kubetune.spec import SpecError
from kubetune.spec.errors import from_validation_error
from kubetune.spec.models import DnsLabel

CONFIG: Final = "HyperParameterTuningJobConfig"
STRATEGIES: Final = ("Bayesian", "Random", "Hyperband", "Grid")
REQUEST_KEYS: Final = (
    "HyperParameterTuningJobName", CONFIG, "TrainingJobDefinition", "TrainingJobDefinitions",
    "WarmStartConfig", "Tags", "Autotune",
)  # fmt: skip
CONFIG_KEYS: Final = (
    "Strategy", "StrategyConfig", "HyperParameterTuningJobObjective", "ResourceLimits", "ParameterRanges",
    "TrainingJobEarlyStoppingType", "TuningJobCompletionCriteria", "RandomSeed",
)  # fmt: skip
#: HyperParameterTrainingJobDefinition fields about SageMaker's own infrastructure: reported, not imported.
INFRA_KEYS: Final = (
    "AlgorithmSpecification", "RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig", "ResourceConfig",
    "HyperParameterTuningResourceConfig", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining", "CheckpointConfig", "Environment",
)  # fmt: skip
DEFINITION_KEYS: Final = (
    "DefinitionName", "TuningObjective", "HyperParameterRanges", "StaticHyperParameters", "StoppingCondition",
    "RetryStrategy", *INFRA_KEYS,
)  # fmt: skip
#: Keys of a CreateTrainingJob request, a common mix-up for the tuning job's training definition.
DEFINITION_HINTS: Final = {
    "HyperParameters": "CreateTrainingJob's name; a tuning job's training definition calls them StaticHyperParameters",
    "TrainingJobName": "a CreateTrainingJob field; pass the tuning job's HyperParameterTrainingJobDefinition",
}
DNS_LABEL: TypeAdapter[str] = TypeAdapter(DnsLabel)


@dataclass
class Request:
    """The request being translated: its tuning config, its training definition (``{}`` when there is none) with
    the path errors should name for it, and where the problems and warnings found so far go."""

    cfg: dict[str, Any]
    definition: dict[str, Any]
    dpath: str
    r: Reader
    warnings: list[str] = field(default_factory=list)
    strategy: str | None = None
    #: The whole request's ``WarmStartConfig``, unchecked (:mod:`._warmstart` reads it); ``None`` without one.
    warm_start: Any = None


def parse(
    request: Mapping[str, Any], training_job: Any, *, r: Reader, warnings: list[str]
) -> tuple[Request, str | None]:
    """The request to translate, with its config and training definition checked as objects, and the job name."""
    config, job_name, definition, dpath = split_request(request, training_job, r, warnings)
    cfg = r.obj(config, CONFIG, known=CONFIG_KEYS, required=("Strategy", "ResourceLimits")) or {}
    if definition is not None:
        definition = r.obj(definition, dpath, known=DEFINITION_KEYS, hints=DEFINITION_HINTS)
    req = Request(cfg=cfg, definition=definition or {}, dpath=dpath, r=r, warnings=warnings)
    req.strategy = r.string(cfg, "Strategy", CONFIG, enum=STRATEGIES)
    if CONFIG in request:
        req.warm_start = request.get("WarmStartConfig")
    return req, job_name


def split_request(
    request: Mapping[str, Any], training_job: Any, r: Reader, warnings: list[str]
) -> tuple[Any, str | None, Any, str]:
    """The tuning config, job name, training definition and its path, from either accepted input shape.

    A whole request is recognised by its ``HyperParameterTuningJobConfig``; anything else must look like that
    object itself (one of its keys present), otherwise the file is probably not a tuning request at all.
    """
    definition: Any = None
    dpath = "TrainingJobDefinition"
    if CONFIG in request:
        top = r.obj(request, "", known=REQUEST_KEYS) or {}
        config = top[CONFIG]
        job_name = r.string(top, "HyperParameterTuningJobName", "", min_length=1, max_length=32)
        reject_unsupported(top, r)
        if "Tags" in top:
            warnings.append("Tags dropped: set metadata.labels by hand if you need them")
        definitions = r.array(top, "TrainingJobDefinitions", "", min_length=1, max_length=10)
        if "TrainingJobDefinition" in top:
            definition = top["TrainingJobDefinition"]
            if "TrainingJobDefinitions" in top:
                r.fail("TrainingJobDefinitions", "set TrainingJobDefinition or TrainingJobDefinitions, not both")
        elif len(definitions) > 1:
            r.fail(
                "TrainingJobDefinitions",
                f"{len(definitions)} definitions; a TuneExperiment runs one trainable, so import each definition "
                "on its own (as the training-job file)",
            )
        elif definitions:
            definition, dpath = definitions[0], "TrainingJobDefinitions[0]"
    elif set(request) & set(CONFIG_KEYS):
        config, job_name = request, None
    else:
        raise SpecError.one(
            "",
            f"neither a CreateHyperParameterTuningJob request (it has no {CONFIG}) nor its {CONFIG} object (it has "
            "no Strategy, ResourceLimits, ParameterRanges, ...)",
        )
    if training_job is not None:
        if definition is not None:
            r.fail(dpath, "given twice: in the request and as a separate training-job file; keep one")
        definition, dpath = training_job, "TrainingJobDefinition"
    return config, job_name, definition, dpath


def reject_unsupported(top: Mapping[str, Any], r: Reader) -> None:
    """Autotune decides *what* is searched from state that exists only inside SageMaker."""
    if "Autotune" in top:
        r.fail(
            "Autotune",
            "cannot be imported: Autotune lets SageMaker choose the strategy, ranges and limits itself; "
            f"write those choices in {CONFIG} and drop Autotune",
        )


def experiment_name(
    name: str | None, *, job_name: str | None, source_name: str | None, r: Reader, warnings: list[str]
) -> str:
    """``--name``; else HyperParameterTuningJobName, else the file name without its extension, made a DNS label.

    A bare tuning config carries no job name, so its file name is the one name the user gave it: refusing it
    without ``--name`` only made the user type the same thing again.
    """
    if name is not None:
        check_option(DNS_LABEL, name, "--name", r)
        return name
    if job_name is not None:
        label = dns_label(job_name)
        if not label:
            r.fail("--name", f"required: HyperParameterTuningJobName {job_name!r} gives no DNS label")
        elif label != job_name:
            warnings.append(f"metadata.name {label!r} derived from HyperParameterTuningJobName {job_name!r}")
        return label
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", (source_name or "").replace("\\", "/").rsplit("/", 1)[-1])
    label = dns_label(stem)
    if not label:
        r.fail("--name", "required: the request has no HyperParameterTuningJobName and no file name to name it after")
        return ""
    warnings.append(
        f"metadata.name {label!r} taken from the file name {source_name!r} (the request has no "
        "HyperParameterTuningJobName); choose another with --name"
    )
    return label


def dns_label(text: str) -> str:
    """``text`` lower-cased, every run of other characters made one '-', trimmed to 63 characters (DNS-1123)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].rstrip("-")


def check_option(adapter: TypeAdapter[str], value: str, option: str, r: Reader) -> None:
    """Check a value the user typed against the spec's own field type, reported under the option's name."""
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError as e:
        r.errors.extend(from_validation_error(e, prefix=(option,)).errors)
