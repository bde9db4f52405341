"""Plotly figures of a latency run: the CDF and histograms of push latency vs polling staleness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bingo_ops.measure.latency import MODES, PUSH_CLAIM_MS

MODE_LABELS = {"push": "WebSocket push", "polling": "polling"}
MODE_COLOURS = {"push": "#1f77b4", "polling": "#ff7f0e"}
# Samples go in as plain lists: plotly would store numpy arrays base64-encoded in the saved
# JSON, which tools reading `name.json` (and plotly's own `read_json`) do not decode.


def cdf_figure(
    samples: pd.DataFrame, *, poll_interval_s: float | None = None, log_x: bool = False
) -> go.Figure:
    """Empirical CDF of delivery time, one line per mode, with the claim's bounds marked.

    Args:
        samples: One row per delivery with `mode` and `ms` (`LatencyResult.frame()`).
        poll_interval_s: The pollers' interval T; draws a line at T when given.
        log_x: Logarithmic x axis (push and polling differ by orders of magnitude).
    """
    fig = go.Figure()
    for mode in MODES:
        values = np.sort(samples.loc[samples["mode"] == mode, "ms"].to_numpy(dtype=float))
        if not len(values):
            continue
        share = np.arange(1, len(values) + 1) / len(values)
        fig.add_trace(
            go.Scatter(
                x=values.tolist(),
                y=share.tolist(),
                mode="lines",
                name=f"{MODE_LABELS[mode]} (n={len(values)})",
                line={"shape": "hv", "color": MODE_COLOURS[mode]},
            )
        )
    fig.add_vline(
        x=PUSH_CLAIM_MS,
        line_dash="dot",
        annotation_text=f"{PUSH_CLAIM_MS:.0f} ms",
        annotation_position="top left",
    )
    if poll_interval_s is not None:
        fig.add_vline(
            x=poll_interval_s * 1000,
            line_dash="dash",
            annotation_text=f"T = {poll_interval_s:g} s",
            annotation_position="top left",
        )
    fig.update_layout(
        title="Time from mark request to receipt: WebSocket push vs polling",
        xaxis_title="ms after the mark request started",
        yaxis_title="share of deliveries",
        yaxis_range=[0, 1.02],
        legend_title="mode",
    )
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def histogram_figure(samples: pd.DataFrame, *, bins: int = 40) -> go.Figure:
    """Histograms of delivery time, one panel per mode, each on its own x range.

    A shared axis would squeeze every push sample into the first polling bin.

    Args:
        samples: One row per delivery with `mode` and `ms` (`LatencyResult.frame()`).
        bins: Bins per panel (at most).
    """
    fig = make_subplots(rows=1, cols=len(MODES), subplot_titles=[MODE_LABELS[m] for m in MODES])
    for column, mode in enumerate(MODES, start=1):
        values = samples.loc[samples["mode"] == mode, "ms"].astype(float).tolist()
        fig.add_trace(
            go.Histogram(
                x=values,
                nbinsx=bins,
                name=MODE_LABELS[mode],
                marker_color=MODE_COLOURS[mode],
            ),
            row=1,
            col=column,
        )
        fig.update_xaxes(title_text="ms after the mark request started", row=1, col=column)
    fig.update_yaxes(title_text="deliveries", row=1, col=1)
    fig.update_layout(title="Distribution of delivery time per mode", showlegend=False)
    return fig
