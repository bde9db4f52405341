"""What notebooks leave behind: JSON-safe results.json and figures that keep their data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from bingo_ops.notebooks.outputs import (
    NOTEBOOK_RENDERERS,
    RESULTS_FILE,
    save_figure,
    save_results,
    setup_plotly,
)


def test_results_are_json_safe(tmp_path: Path) -> None:
    path = save_results(
        tmp_path / "out",
        {
            "count": np.int64(3),
            "p50": np.float64(1.5),
            "nan": math.nan,
            "inf": np.float64(np.inf),
            "when": pd.Timestamp("2026-11-29T12:00:00Z"),
            "where": tmp_path,
            "rows": (1, 2),
            "nested": {1: {"ok": np.bool_(True)}},
        },
    )

    assert path == tmp_path / "out" / RESULTS_FILE
    data = json.loads(path.read_text())
    assert data == {
        "count": 3,
        "p50": 1.5,
        "nan": None,
        "inf": None,
        "when": "2026-11-29 12:00:00+00:00",
        "where": str(tmp_path),
        "rows": [1, 2],
        "nested": {"1": {"ok": True}},
    }
    assert not list((tmp_path / "out").glob("*.partial"))


def test_a_saved_figure_keeps_its_data_and_opens_offline(tmp_path: Path) -> None:
    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[10, 20, 15], name="points"))

    html = save_figure(figure, tmp_path, "points")

    assert html.read_text().count("plotly.min.js") >= 1
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    saved = json.loads((tmp_path / "points.json").read_text())
    assert list(saved["data"][0]["y"]) == [10, 20, 15]


def test_setup_plotly_renders_for_lab_and_for_html_export() -> None:
    previous = pio.renderers.default
    try:
        setup_plotly()
        assert pio.renderers.default == NOTEBOOK_RENDERERS
        bundle = pio.renderers._build_mime_bundle(go.Figure(go.Bar(y=[1])).to_dict())
        assert {"application/vnd.plotly.v1+json", "text/html"} <= set(bundle)
    finally:
        pio.renderers.default = previous
