"""The vendored Apache ECharts: the file its notes name, with its license and notice beside it."""

from __future__ import annotations

import hashlib
from importlib import resources


def test_the_vendored_echarts_is_the_version_its_notes_name_with_its_license() -> None:
    assets = resources.files("kubetune.report").joinpath("assets")
    notes = assets.joinpath("echarts.VERSION").read_text()
    digest = hashlib.sha256(assets.joinpath("echarts.min.js").read_bytes()).hexdigest()
    assert f"sha256 {digest}  echarts.min.js" in notes
    assert "Apache ECharts 6.1.0" in notes
    assert "Apache License" in assets.joinpath("echarts.LICENSE").read_text()
    assert "Apache ECharts" in assets.joinpath("echarts.NOTICE").read_text()
