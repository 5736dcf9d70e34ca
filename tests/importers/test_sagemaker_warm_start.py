"""SageMaker's ``WarmStartConfig`` imports as ``spec.warmStart``: each parent tuning job is the kubetune experiment
of the same name (as a DNS label) in the new experiment's storage root; a strategy whose search cannot be seeded,
or a malformed config, fails naming the SageMaker field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.importers.sagemaker_cases import Accepted, Rejected, check_accepted, check_rejected

BAYESIAN = {"Strategy": "Bayesian"}
OPTUNA_WARNING = "Strategy Bayesian -> search.algorithm optuna"
PARENTS = "WarmStartConfig.ParentHyperParameterTuningJobs"


def warm(kind: str, *names: Any) -> dict[str, Any]:
    parents = [{"HyperParameterTuningJobName": n} for n in names]
    return {"WarmStartConfig": {"ParentHyperParameterTuningJobs": parents, "WarmStartType": kind}}


ACCEPTED = [
    Accepted(
        "identical data and algorithm seeds from the parents by name",
        BAYESIAN,
        {"warmStart": {"from": ["bank-1", "bank-2"]}, "search": {"algorithm": "optuna"}},
        [OPTUNA_WARNING, "WarmStartConfig (IdenticalDataAndAlgorithm) -> spec.warmStart.from bank-1, bank-2"],
        request=warm("IdenticalDataAndAlgorithm", "bank-1", "bank-2"),
    ),
    Accepted(
        "transfer learning seeds alike, and says that trials outside the new ranges are skipped",
        BAYESIAN,
        {"warmStart": {"from": ["bank-1"]}},
        [OPTUNA_WARNING, "WarmStartConfig (TransferLearning) -> spec.warmStart.from bank-1: each parent"],
        request=warm("TransferLearning", "bank-1"),
    ),
    Accepted(
        "a parent's name becomes a DNS label, said in the warning",
        BAYESIAN,
        {"warmStart": {"from": ["bank-xgb-1"]}},
        [OPTUNA_WARNING, "parent 'Bank-XGB-1' is the experiment bank-xgb-1"],
        request=warm("TransferLearning", "Bank-XGB-1"),
    ),
]

REJECTED = [
    Rejected(
        "random search cannot be seeded",
        {},
        "WarmStartConfig",
        "Strategy Random imports as search.algorithm random, which earlier trials cannot seed",
        request=warm("TransferLearning", "p"),
    ),
    Rejected(
        "an unknown warm start type",
        BAYESIAN,
        "WarmStartConfig.WarmStartType",
        "expected one of IdenticalDataAndAlgorithm, TransferLearning",
        request=warm("Identical", "p"),
    ),
    Rejected(
        "no parent",
        BAYESIAN,
        PARENTS,
        "needs at least 1 item",
        request=warm("TransferLearning"),
    ),
    Rejected(
        "more parents than SageMaker allows",
        BAYESIAN,
        PARENTS,
        "6 items; SageMaker allows at most 5",
        request=warm("TransferLearning", *[f"p{i}" for i in range(6)]),
    ),
    Rejected(
        "a parent without a name",
        BAYESIAN,
        f"{PARENTS}[0].HyperParameterTuningJobName",
        "required field is missing",
        request={"WarmStartConfig": {"ParentHyperParameterTuningJobs": [{}], "WarmStartType": "TransferLearning"}},
    ),
    Rejected(
        "a parent name SageMaker would refuse",
        BAYESIAN,
        f"{PARENTS}[0].HyperParameterTuningJobName",
        "is not a tuning job name",
        request=warm("TransferLearning", "bank_1"),
    ),
    Rejected(
        "the same parent twice",
        BAYESIAN,
        f"{PARENTS}[1].HyperParameterTuningJobName",
        "same experiment as ParentHyperParameterTuningJobs[0]",
        request=warm("TransferLearning", "bank-1", "Bank-1"),
    ),
    Rejected(
        "the tuning job as its own parent",
        BAYESIAN,
        f"{PARENTS}[0].HyperParameterTuningJobName",
        "is the imported experiment itself",
        request=warm("TransferLearning", "imported"),
    ),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_a_warm_start_imports_as_spec_warm_start(case: Accepted) -> None:
    check_accepted(case)


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.id)
def test_a_warm_start_that_cannot_be_imported_names_the_sagemaker_field(case: Rejected) -> None:
    check_rejected(case)
