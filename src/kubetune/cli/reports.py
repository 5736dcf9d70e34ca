"""``kubetune report``: one self-contained HTML file of an experiment's results, to open offline or send."""

from __future__ import annotations

import argparse
import os
from typing import Any

from kubetune.cli.formatting import HelpFormatter


def register(commands: Any) -> None:
    p = commands.add_parser(
        "report",
        help="write an experiment's results as one HTML file that opens offline",
        formatter_class=HelpFormatter,
    )
    p.add_argument("results", metavar="RESULTS_DIR", help="the experiment directory that `kubetune run` wrote")
    p.add_argument("-o", "--output", default="report.html", help="the HTML file to write")
    p.add_argument(
        "--spec",
        metavar="FILE",
        help="the experiment's TuneExperiment YAML: the hyperparameters' bounds and scales (else inferred from the "
        "trials)",
    )
    p.set_defaults(handler=report)


def report(args: argparse.Namespace) -> int:
    from kubetune.report import build
    from kubetune.spec import load_file

    args.file = args.spec  # names the file in a spec error
    space = load_file(args.spec).space if args.spec else None
    text = build(args.results, search_space=space)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    size = os.path.getsize(args.output)
    print(f"kubetune: wrote {args.output} ({size / 1e6:.1f} MB): open it in any browser, no network needed")
    return 0
