"""``kubetune import-sagemaker``: a SageMaker tuning job request (JSON) → a TuneExperiment YAML file.

The translation itself is :func:`kubetune.importers.sagemaker.import_tuning_job`; this module reads the JSON
files, renders the validated document as YAML that reads like a hand-written spec (one line per search
dimension), and puts a header on it that names the sources, the exact command that regenerates the file, and
every warning. The header carries the warnings because they outlive the terminal: whoever opens the file later
must see what was approximated or dropped. Warnings also go to stderr; errors go there one per line, exit 1.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from kubetune.cli.formatting import HelpFormatter
from kubetune.importers import ImportResult
from kubetune.importers.sagemaker import import_tuning_job
from kubetune.spec import SpecError

#: Spec sections short enough to read best on one line, like the README's examples.
_FLOW_SECTIONS = frozenset({"search", "scheduler", "resourcesPerTrial", "failure", "stop", "checkpoint"})
_WIDTH = 120


def register(commands: Any) -> None:
    p = commands.add_parser(
        "import-sagemaker",
        help="convert a SageMaker CreateHyperParameterTuningJob request into a TuneExperiment",
        description="Convert a SageMaker CreateHyperParameterTuningJob request (or just its "
        "HyperParameterTuningJobConfig) into a validated TuneExperiment YAML. What SageMaker does not "
        "carry (the trainable, image, namespace) comes from the options; every approximation is a warning.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("tuning", metavar="TUNING_JSON", help="the request, or only its HyperParameterTuningJobConfig")
    p.add_argument(
        "--training-job",
        metavar="JSON",
        help="a HyperParameterTrainingJobDefinition: StaticHyperParameters, StoppingCondition, RetryStrategy",
    )
    p.add_argument("--trainable", required=True, metavar="MODULE:FUNCTION", help="spec.trainable (required)")
    p.add_argument(
        "--name", help="metadata.name; default: HyperParameterTuningJobName, else the file name, as a DNS label"
    )
    p.add_argument("--image", help="spec.image, the container image holding the trainable")
    p.add_argument("--namespace", help="metadata.namespace")
    p.add_argument(
        "--metric-map",
        action="append",
        default=[],
        type=_metric_pair,
        metavar="SAGEMAKER=KEY",
        help="report SageMaker's metric under the trainable's key, e.g. validation:auc=validation-auc "
        "(repeatable; without it ':' becomes '-')",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the YAML here instead of to stdout")
    p.set_defaults(handler=import_sagemaker)


def import_sagemaker(args: argparse.Namespace) -> int:
    request = read_json(args.tuning)
    training_job = read_json(args.training_job) if args.training_job else None
    if training_job is not None and not isinstance(training_job, dict):
        raise ValueError(f"{args.training_job}: expected a JSON object (a HyperParameterTrainingJobDefinition)")
    try:
        result = import_tuning_job(
            request,
            training_job=training_job,
            name=args.name,
            trainable=args.trainable,
            image=args.image,
            namespace=args.namespace,
            metric_map=dict(args.metric_map),
            source_name=Path(args.tuning).name,
        )
    except SpecError as e:
        for err in e.errors:
            print(f"kubetune: cannot import {_source_of(err.path, args)}: {err}", file=sys.stderr)
        return 1
    text = render(result, sources=[s for s in (args.tuning, args.training_job) if s], command=_command(args))
    for warning in result.warnings:
        print(f"kubetune: warning: {warning}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _source_of(path: str, args: argparse.Namespace) -> str:
    """The file an error is about: the training-job file for its fields, else the tuning request."""
    in_training_job = path == "TrainingJobDefinition" or path.startswith("TrainingJobDefinition.")
    return str(args.training_job) if args.training_job and in_training_job else str(args.tuning)


def read_json(path: str) -> Any:
    """The parsed file; a duplicated key is an error (JSON would silently keep the last one)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


def render(result: ImportResult, *, sources: Sequence[str], command: Sequence[str]) -> str:
    """The YAML file: a comment header (sources, how to regenerate, every warning), then the document."""
    header = [
        "Generated by `kubetune import-sagemaker` from a SageMaker tuning job: change the JSON and regenerate",
        "rather than editing this file by hand.",
        f"Source: {', '.join(sources)}",
        "Regenerate with:",
        *_wrap_command(command),
    ]
    if result.warnings:
        header.append("Import warnings (approximations and dropped settings):")
        for warning in result.warnings:
            header += textwrap.wrap(
                warning,
                width=_WIDTH - 2,
                initial_indent="  - ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
    body = yaml.dump(_styled(result.document), Dumper=_Dumper, sort_keys=False, width=_WIDTH, allow_unicode=True)
    return "".join(f"# {_printable(line)}".rstrip() + "\n" for line in header) + body


def _printable(line: str) -> str:
    """A header line with control characters escaped: YAML refuses them even in comments, and a file that
    ``kubetune run`` cannot read back would be worse than an odd-looking comment."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in line)


def _command(args: argparse.Namespace) -> list[str]:
    """The command line that reproduces this output, options in a fixed order (not the order typed)."""
    argv = ["kubetune", "import-sagemaker", args.tuning]
    options = [
        ("--training-job", args.training_job),
        ("--trainable", args.trainable),
        ("--image", args.image),
        ("--namespace", args.namespace),
        ("--name", args.name),
        *(("--metric-map", f"{sm}={key}") for sm, key in args.metric_map),
        ("-o", args.output),
    ]
    return argv + [f"{flag} {shlex.quote(value)}" for flag, value in options if value is not None]


def _wrap_command(command: Sequence[str]) -> list[str]:
    """The command as shell lines continued with backslashes: the program and source, then one option per line."""
    parts = [shlex.join(command[:3]), *command[3:]]
    return [("  " if i == 0 else "    ") + part + (" \\" if i < len(parts) - 1 else "") for i, part in enumerate(parts)]


def _metric_pair(text: str) -> tuple[str, str]:
    """``validation:auc=validation-auc`` → its two names, split at the last '=' (metric keys cannot hold one)."""
    sagemaker, sep, key = text.rpartition("=")
    if not sep or not sagemaker or not key:
        raise argparse.ArgumentTypeError(f"expected SAGEMAKER_METRIC=KEY, got {text!r}")
    return sagemaker, key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


class _Flow(dict[str, Any]):
    """A mapping the dumper writes on one line (``{uniform: [0.0, 1.0]}``)."""


class _Dumper(yaml.SafeDumper):
    """Safe YAML with lists and :class:`_Flow` mappings in flow style; everything else in block style."""


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(list, _represent_list)


def _styled(document: dict[str, Any]) -> dict[str, Any]:
    """The document with search dimensions and the short spec sections marked to be written on one line."""
    spec = dict(document["spec"])
    spec["searchSpace"] = {name: _Flow(dim) for name, dim in spec["searchSpace"].items()}
    for key in _FLOW_SECTIONS & spec.keys():
        spec[key] = _Flow(spec[key])
    return {**document, "spec": spec}
