"""Fixtures for the exporter tests (the Prometheus/promtool fixtures live in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from ._support import FakeClock


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
