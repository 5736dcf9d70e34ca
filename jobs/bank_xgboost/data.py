"""The UCI bank-marketing table, prepared exactly as the SageMaker XGBoost direct-marketing tutorial does.

Lookup (:func:`find_csv`): ``data_dir`` is a local path or any URI ``pyarrow.fs.FileSystem.from_uri``
understands (``s3://``, ``gs://``, ``file://``), defaulting to ``$KUBETUNE_DATA_DIR`` and then
``~/data/bank-marketing``. It may name the CSV itself, or a directory holding ``bank-additional-full.csv``
directly or in ``bank-additional/`` (the layout of the UCI zip).

Preparation (:func:`preprocess`, :func:`split`), as in the tutorial:

- ``no_previous_contact`` = 1 where ``pdays == 999`` (the file's "never contacted" code), else 0;
- ``not_working`` = 1 where ``job`` is student, retired or unemployed, else 0;
- every categorical column one-hot encoded with ``pandas.get_dummies`` (0/1 ``uint8`` columns ``job_student``, …);
- dropped: ``duration`` (only known after the call, so it leaks the outcome) and the five economic indicators
  ``emp.var.rate``, ``cons.price.idx``, ``cons.conf.idx``, ``euribor3m``, ``nr.employed``;
- target ``y``: yes -> 1, no -> 0;
- rows shuffled with ``random_state=1729`` and cut 70/20/10 into train/validation/test, the tutorial's
  ``np.split(df.sample(frac=1, random_state=1729), [int(0.7 * n), int(0.9 * n)])``.

A missing file is not fatal: :func:`load_bank` then logs a WARNING and uses :func:`synthetic_bank_table`, a
generated table with the real columns and value vocabularies and a learnable signal, so the job runs anywhere (CI,
air-gapped clusters) and nobody mistakes its AUCs for bank-marketing AUCs. A file that exists but lacks columns
or holds an unknown ``y`` raises :class:`BankFormatError` naming it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.locations import data_location

logger = logging.getLogger(__name__)

# Environment variable naming the directory (or file) of the CSV.
DATA_DIR_ENV = "KUBETUNE_DATA_DIR"
# Used when neither an explicit location nor the environment variable is given.
DEFAULT_DATA_DIR = Path("~/data/bank-marketing")
CSV_NAME = "bank-additional-full.csv"
# Where the UCI zip puts the file, relative to the directory it was unpacked in.
CSV_CANDIDATES = (CSV_NAME, f"bank-additional/{CSV_NAME}")

# The 21 columns of bank-additional-full.csv, in file order.
COLUMNS = (
    "age", "job", "marital", "education", "default", "housing", "loan", "contact", "month", "day_of_week",
    "duration", "campaign", "pdays", "previous", "poutcome", "emp.var.rate", "cons.price.idx", "cons.conf.idx",
    "euribor3m", "nr.employed", "y",
)  # fmt: skip
# Every value each categorical column takes in the UCI file ("unknown" is how it writes a missing value).
CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "job": (
        "admin.", "blue-collar", "entrepreneur", "housemaid", "management", "retired", "self-employed", "services",
        "student", "technician", "unemployed", "unknown",
    ),
    "marital": ("divorced", "married", "single", "unknown"),
    "education": (
        "basic.4y", "basic.6y", "basic.9y", "high.school", "illiterate", "professional.course", "university.degree",
        "unknown",
    ),
    "default": ("no", "yes", "unknown"),
    "housing": ("no", "yes", "unknown"),
    "loan": ("no", "yes", "unknown"),
    "contact": ("cellular", "telephone"),
    "month": ("mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    "day_of_week": ("mon", "tue", "wed", "thu", "fri"),
    "poutcome": ("failure", "nonexistent", "success"),
}  # fmt: skip
TARGET = "y"
TARGET_VALUES: Mapping[str, int] = {"no": 0, "yes": 1}
NEVER_CONTACTED = 999  # the file's `pdays` for "not previously contacted"
NOT_WORKING_JOBS = ("student", "retired", "unemployed")
DROPPED = ("duration", "emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed")
SPLIT_SEED = 1729  # the tutorial's random_state
TRAIN_FRACTION = 0.7
VALIDATION_END = 0.9  # validation is 0.7-0.9 of the shuffled rows, test the last 0.1

# Rough frequencies (percent) of each value in the UCI file, for the synthetic table; unlisted values are rare.
_FREQUENCIES: Mapping[str, Mapping[str, float]] = {
    "job": {"admin.": 25, "blue-collar": 22, "technician": 16, "services": 10, "management": 7, "retired": 4,
            "entrepreneur": 3.5, "self-employed": 3.5, "housemaid": 2.6, "unemployed": 2.5, "student": 2.1,
            "unknown": 0.8},
    "marital": {"married": 60, "single": 28, "divorced": 11, "unknown": 0.2},
    "education": {"university.degree": 30, "high.school": 23, "basic.9y": 15, "professional.course": 13,
                  "basic.4y": 10, "basic.6y": 5.6, "unknown": 4.2, "illiterate": 0.05},
    "default": {"no": 79, "unknown": 21, "yes": 0.01},
    "housing": {"yes": 52, "no": 45, "unknown": 2.4},
    "loan": {"no": 82, "yes": 15, "unknown": 2.4},
    "contact": {"cellular": 63, "telephone": 37},
    "month": {"may": 33, "jul": 17, "aug": 15, "jun": 13, "nov": 10, "apr": 6.4, "oct": 1.7, "sep": 1.4, "mar": 1.3,
              "dec": 0.5},
    "day_of_week": {"mon": 20, "tue": 20, "wed": 20, "thu": 21, "fri": 19},
}  # fmt: skip

SOURCE_CSV = "bank-additional-full"
SOURCE_SYNTHETIC = "synthetic"


class BankFormatError(ValueError):
    """The CSV is not the bank-marketing table; the message starts with its location."""


@dataclass(frozen=True)
class BankData:
    """The three prepared splits (features and ``y``) and where the rows came from.

    ``source`` is :data:`SOURCE_CSV` or :data:`SOURCE_SYNTHETIC`; trials report it, so an AUC can always be traced
    back to the data it was measured on.
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    source: str

    @property
    def feature_names(self) -> list[str]:
        """Every column but ``y``, in order: the model's input."""
        return [c for c in self.train.columns if c != TARGET]

    def xy(self, name: str) -> tuple[pd.DataFrame, np.ndarray]:
        """Features and labels of the split called ``name`` (``train``, ``validation`` or ``test``)."""
        frame: pd.DataFrame = getattr(self, name)
        return frame[self.feature_names], frame[TARGET].to_numpy()


def resolve_location(data_dir: str | os.PathLike[str] | None) -> str:
    """A URI unchanged, a local path absolute with ``~`` expanded, ``None`` -> ``$KUBETUNE_DATA_DIR`` or the default.

    Absolute because a Ray Tune trial runs in its own working directory, not where the driver started.
    """
    return data_location(data_dir, env=DATA_DIR_ENV, default=DEFAULT_DATA_DIR)


def _filesystem(location: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path on it)`` for a URI or a local path."""
    import pyarrow.fs

    if "://" in location:
        filesystem, path = pyarrow.fs.FileSystem.from_uri(location)
        return filesystem, path
    return pyarrow.fs.LocalFileSystem(), location


def find_csv(data_dir: str | os.PathLike[str] | None) -> str | None:
    """The CSV at ``data_dir`` (the file itself, or :data:`CSV_CANDIDATES` in the directory), or ``None``.

    Returned in the form given: a URI stays a URI, so the reader opens it on the same filesystem.
    """
    import pyarrow.fs

    location = resolve_location(data_dir)
    filesystem, root = _filesystem(location)
    if filesystem.get_file_info(root).type == pyarrow.fs.FileType.File:
        return location
    for candidate in CSV_CANDIDATES:
        if filesystem.get_file_info(f"{root.rstrip('/')}/{candidate}").type == pyarrow.fs.FileType.File:
            return f"{location.rstrip('/')}/{candidate}"
    return None


def read_bank_csv(location: str) -> pd.DataFrame:
    """The raw table: ``;``-separated, a header, quoted strings, as UCI ships it. Checks the columns and ``y``."""
    filesystem, path = _filesystem(location)
    with filesystem.open_input_file(path) as stream:
        try:
            raw = pd.read_csv(stream, sep=";")
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
            raise BankFormatError(f"{location}: not a ';'-separated CSV ({e})") from e
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise BankFormatError(f"{location}: missing column(s) {', '.join(missing)} (is it bank-additional-full.csv?)")
    unknown = sorted(set(raw[TARGET].astype(str)) - set(TARGET_VALUES))
    if unknown:
        raise BankFormatError(f"{location}: column y holds {unknown}, expected only 'yes' and 'no'")
    return raw[list(COLUMNS)]


def preprocess(raw: pd.DataFrame) -> pd.DataFrame:
    """The tutorial's features from the raw table: derived flags, one-hot categoricals, leaky columns dropped.

    ``y`` becomes 0/1 and stays a column; everything else is a numeric feature.
    """
    data = raw.copy()
    data["no_previous_contact"] = (data["pdays"] == NEVER_CONTACTED).astype(np.int64)
    data["not_working"] = data["job"].isin(NOT_WORKING_JOBS).astype(np.int64)
    data[TARGET] = data[TARGET].map(TARGET_VALUES).astype(np.int64)
    model_data = pd.get_dummies(data, dtype=np.uint8)
    return model_data.drop(columns=list(DROPPED))


def split(model_data: pd.DataFrame, *, seed: int = SPLIT_SEED) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(train, validation, test)``: the rows shuffled with ``seed`` and cut at 70% and 90%, as the tutorial."""
    shuffled = model_data.sample(frac=1, random_state=seed)
    n = len(shuffled)
    first, second = int(TRAIN_FRACTION * n), int(VALIDATION_END * n)
    return shuffled.iloc[:first], shuffled.iloc[first:second], shuffled.iloc[second:]


def _pick(rng: np.random.Generator, column: str, n: int) -> np.ndarray:
    """``n`` values of ``column``'s vocabulary, drawn with the file's rough frequencies."""
    values = CATEGORIES[column]
    p = np.array([_FREQUENCIES[column].get(v, 0.005) for v in values])
    return rng.choice(np.array(values, dtype=object), size=n, p=p / p.sum())


def synthetic_bank_table(n_rows: int = 10_000, *, seed: int = 0) -> pd.DataFrame:
    """A raw table shaped like ``bank-additional-full.csv``: same columns, dtypes and value vocabularies.

    Marginals roughly follow the real file (about one ``yes`` in ten), and ``y`` depends on features the tutorial
    keeps (previous success, cellular contact, the spring/autumn months, not working, fewer calls), so a model
    has something to learn. Identical in every process for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    n = n_rows
    job = _pick(rng, "job", n)
    age = np.clip(rng.normal(40, 10, n), 18, 95)
    age = np.where(job == "retired", rng.integers(55, 90, n), age)
    age = np.where(job == "student", rng.integers(17, 30, n), age).astype(np.int64)
    contacted = rng.random(n) < 0.037
    pdays = np.where(contacted, rng.integers(0, 27, n), NEVER_CONTACTED)
    previous = np.where(contacted, rng.integers(1, 7, n), (rng.random(n) < 0.1).astype(np.int64))
    succeeded = contacted & (rng.random(n) < 0.65)
    poutcome = np.where(previous == 0, "nonexistent", np.where(succeeded, "success", "failure"))
    contact = _pick(rng, "contact", n)
    month = _pick(rng, "month", n)
    campaign = rng.geometric(0.4, n)
    logit = (
        -2.9
        + 2.3 * (poutcome == "success")
        + 0.7 * (contact == "cellular")
        + 1.6 * np.isin(month, ("mar", "sep", "oct", "dec"))
        + 1.0 * np.isin(job, NOT_WORKING_JOBS)
        - 0.15 * (campaign - 1)
    )
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    economy = rng.integers(0, 6, n)  # the economic indicators move together, as in the real file's quarters
    return pd.DataFrame(
        {
            "age": age,
            "job": job,
            "marital": _pick(rng, "marital", n),
            "education": _pick(rng, "education", n),
            "default": _pick(rng, "default", n),
            "housing": _pick(rng, "housing", n),
            "loan": _pick(rng, "loan", n),
            "contact": contact,
            "month": month,
            "day_of_week": _pick(rng, "day_of_week", n),
            # Call length: the leak the tutorial drops, longer for a yes as in the real data.
            "duration": (rng.exponential(220, n) + 330 * y).astype(np.int64),
            "campaign": campaign.astype(np.int64),
            "pdays": pdays.astype(np.int64),
            "previous": previous.astype(np.int64),
            "poutcome": poutcome,
            "emp.var.rate": np.array([1.4, 1.1, -0.1, -1.8, -2.9, -3.4])[economy],
            "cons.price.idx": np.array([93.994, 93.918, 93.2, 92.893, 92.963, 92.431])[economy],
            "cons.conf.idx": np.array([-36.4, -42.7, -42.0, -46.2, -40.8, -26.9])[economy],
            "euribor3m": np.array([4.857, 4.961, 4.191, 1.313, 1.262, 0.754])[economy],
            "nr.employed": np.array([5191.0, 5228.1, 5195.8, 5099.1, 5076.2, 5017.5])[economy],
            "y": np.where(y, "yes", "no"),
        },
        columns=list(COLUMNS),
    )


def load_bank(data_dir: str | os.PathLike[str] | None) -> BankData:
    """The prepared splits of the CSV at ``data_dir``, else of the synthetic table (logged as a WARNING).

    ``data_dir=None`` means ``$KUBETUNE_DATA_DIR``, then ``~/data/bank-marketing``. A CSV that is there but not the
    bank-marketing table raises :class:`BankFormatError` rather than falling back.
    """
    location = resolve_location(data_dir)
    csv = find_csv(location)
    if csv is None:
        raw = synthetic_bank_table()
        logger.warning(
            "%s not found at %s. FALLING BACK to a synthetic table of %d rows with the real columns: AUCs from this "
            "run are NOT bank-marketing AUCs. Put the file there or set %s (a directory, the file, or a URI).",
            CSV_NAME,
            location,
            len(raw),
            DATA_DIR_ENV,
        )
        source = SOURCE_SYNTHETIC
    else:
        raw = read_bank_csv(csv)
        logger.info("read %d rows from %s", len(raw), csv)
        source = SOURCE_CSV
    train, validation, test = split(preprocess(raw))
    return BankData(train=train, validation=validation, test=test, source=source)
