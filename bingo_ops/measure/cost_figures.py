"""Plotly figures of the push-vs-polling run: invocations, $ per hour, model against metering."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from bingo_ops.measure.usage_run import CONFERENCE, UsageRun

__all__ = [
    "agreement_figure",
    "agreement_frame",
    "cost_figure",
    "invocations_figure",
    "summary_frame",
]

_FUNCTIONS = ("ws_authorizer", "ws_connect", "ws_disconnect", "ws_message", "http_api")


def invocations_figure(run: UsageRun) -> Any:
    """Measured Lambda invocations per user-hour, by function, WebSocket push vs polling."""
    fig = go.Figure()
    modes = list(run.modes)
    for name in _FUNCTIONS:
        values = [
            run.modes[m].metered.invocations.get(name, 0) / run.modes[m].user_hours
            if run.modes[m].user_hours
            else 0.0
            for m in modes
        ]
        fig.add_bar(name=name, x=modes, y=values)
    fig.update_layout(
        barmode="stack",
        title=f"Lambda invocations per user-hour (polling every {run.poll_interval_s:g} s)",
        yaxis_title="invocations per user-hour",
    )
    return fig


def cost_figure(run: UsageRun) -> Any:
    """$ per hour by line item, both ways: measured at the run's scale and modelled at scale."""
    columns: dict[str, dict[str, float]] = {}
    for mode, result in run.modes.items():
        columns[f"{mode} (measured)"] = result.usd_per_hour
    for mode, items in run.modelled_usd_per_hour(CONFERENCE).items():
        columns[f"{mode} (model, conference)"] = items
    line_items = [k for k in next(iter(columns.values())) if k != "total"]
    fig = go.Figure()
    for item in line_items:
        fig.add_bar(name=item, x=list(columns), y=[columns[c][item] for c in columns])
    fig.update_layout(
        barmode="stack",
        title=f"$ per hour by line item ({run.prices.region} list prices, {run.prices.as_of})",
        yaxis_title="US$ per hour",
        yaxis_type="log",
    )
    return fig


def agreement_figure(run: UsageRun) -> Any:
    """The model's predicted counts against the metered ones, per quantity and mode."""
    fig = go.Figure()
    for mode, result in run.modes.items():
        rows = {k: v for k, v in result.agreement.items() if v["metered"] or v["predicted"]}
        fig.add_scatter(
            name=mode,
            mode="markers+text",
            x=[r["metered"] for r in rows.values()],
            y=[r["predicted"] for r in rows.values()],
            text=list(rows),
            textposition="top center",
        )
    top = max(
        (
            max(r["metered"], r["predicted"])
            for m in run.modes.values()
            for r in m.agreement.values()
        ),
        default=1.0,
    )
    fig.add_scatter(name="agreement", mode="lines", x=[0.1, top], y=[0.1, top])
    fig.update_layout(
        title="Model vs metering, per quantity",
        xaxis_title="metered",
        yaxis_title="predicted by the model",
        xaxis_type="log",
        yaxis_type="log",
    )
    return fig


def summary_frame(run: UsageRun) -> Any:
    """One row per mode: the measured headline figures."""
    import pandas as pd

    rows = []
    for mode, result in run.modes.items():
        d = result.as_dict()
        rows.append(
            {
                "mode": mode,
                "clients": d["clients"],
                "user_hours": d["user_hours"],
                "invocations": d["invocations"]["total"],
                "invocations_per_user_hour": d["invocations_per_user_hour"],
                "polls_per_user_hour": d["polls_per_user_hour"],
                "message_units_in": d["messages"]["units_in"],
                "message_units_out": d["messages"]["units_out"],
                "connection_minutes": d["connection_minutes"],
                "http_requests": d["http_requests"],
                "usd_per_hour": d["usd_per_hour"]["total"],
            }
        )
    return pd.DataFrame(rows).set_index("mode")


def agreement_frame(run: UsageRun) -> Any:
    """One row per (mode, quantity): predicted, metered, relative error, within tolerance."""
    import pandas as pd

    rows = [
        {"mode": mode, "quantity": quantity, **row}
        for mode, result in run.modes.items()
        for quantity, row in result.agreement.items()
    ]
    return pd.DataFrame(rows).set_index(["mode", "quantity"])
