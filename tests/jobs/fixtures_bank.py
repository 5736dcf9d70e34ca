"""bank-additional-full.csv as UCI ships it: ``;``-separated, quoted strings, every real column and vocabulary."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jobs.bank_xgboost.data import CATEGORIES, COLUMNS, CSV_NAME

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


def make_bank_dir(directory: Path, *, rows: int = 600) -> Path:
    """A directory holding a ``rows``-row bank-additional-full.csv."""
    write_bank_csv(directory / CSV_NAME, bank_rows(rows, seed=2))
    return directory
