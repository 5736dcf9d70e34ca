"""The ``kubetune`` command line.

Every command reports failure as one clear line on stderr and a non-zero exit (1 for a bad experiment or a
failed run, 2 for bad usage), never a traceback; ``--debug`` shows the traceback for a bug report.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from kubetune import __version__
from kubetune.cli import importing, inspecting, logs, operating, rendering, reports, running, submitting
from kubetune.cli.formatting import HelpFormatter
from kubetune.engine.searching import MissingDependency
from kubetune.spec import SpecError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubetune",
        description="Hyperparameter tuning with Ray Tune, locally or as KubeRay RayJobs.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kubetune {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (running, inspecting, logs, reports, rendering, importing, submitting, operating):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.handler(args))
    except SpecError as e:
        source = getattr(args, "file", None)
        print(f"kubetune: invalid experiment{f' {source}' if source else ''}:", file=sys.stderr)
        for err in e.errors:
            print(f"  {err}", file=sys.stderr)
        return 1
    except (MissingDependency, FileNotFoundError, OSError, ValueError) as e:
        if args.debug:
            raise
        print(f"kubetune: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kubetune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
