"""A real Prometheus server scrapes the exporter and answers queries about trial metrics."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry

from kubetune.exporter import ExperimentStore, Exporter

from ._support import Sender, result, trial

if TYPE_CHECKING:
    from tests.conftest import Prometheuses

TOKEN = "prometheus-test-token"


@pytest.mark.slow
def test_prometheus_scrapes_trial_metrics_from_the_exporter(
    registry: CollectorRegistry, prometheus: Prometheuses
) -> None:
    store = ExperimentStore()
    with Exporter(store=store, registry=registry, token=TOKEN) as exporter:
        s = Sender(name="mnist-asha")
        body = s.body(
            trial("train_abc_00000", "RUNNING", config={"lr": 0.01}),
            result("train_abc_00000", 4, {"mean_accuracy": 0.875, "ray/tune/loss": 0.3}),
        )
        request = urllib.request.Request(
            exporter.url + "/api/v1/ingest",
            data=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response) == {"accepted": 2}

        url = prometheus.start([f"127.0.0.1:{exporter.port}"])
        found = prometheus.query(url, 'kubetune_trial_metric{metric="mean_accuracy"}', timeout=20)

        assert len(found) == 1, "no sample within 20 s; see prometheus.log under the test's tmp_path"
        labels, (_, value) = found[0]["metric"], found[0]["value"]
        assert labels["experiment"] == "mnist-asha"
        assert labels["trial"] == "train_abc_00000"
        assert float(value) == 0.875
        assert prometheus.query(url, 'kubetune_trial_metric{metric="ray/tune/loss"}', timeout=5)
