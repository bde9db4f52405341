"""Plotly figures of the push-vs-polling run: invocations, $ per hour, model against metering."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bingo_ops.measure.cost import BOARD_P99_TARGET_S, BUDGET_SHARE_OF_POLLING, PLAYER_P99_TARGET_S
from bingo_ops.measure.run_model import FUNCTIONS
from bingo_ops.measure.usage_run import CONFERENCE, UsageRun

__all__ = [
    "agreement_figure",
    "agreement_frame",
    "cost_figure",
    "frontier_figure",
    "frontier_frame",
    "invocations_figure",
    "summary_frame",
]

_FUNCTIONS = FUNCTIONS
_DESIGN_COLOURS = {"push-inline": "#d62728", "push-stream": "#1f77b4", "polling": "#7f7f7f"}
_AUDIENCES = (("board", "circle", BOARD_P99_TARGET_S), ("player", "diamond", PLAYER_P99_TARGET_S))


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


def frontier_figure(run: UsageRun) -> Any:
    """$ per hour against p99 staleness, at the run's scale and at the conference scale.

    One marker per design and parameter and audience (circles: boards, diamonds: players),
    the chosen configuration ringed, the staleness targets as vertical lines and 85 % of 3 s
    polling as a horizontal one; the measured push run (stream mode) as a star.
    """
    panels = (("run's scale", run.workload()), ("conference", CONFERENCE))
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=[f"model at the {name}" for name, _ in panels]
    )
    for col, (_, workload) in enumerate(panels, start=1):
        rows = run.frontier(workload)
        pick = run.chosen(workload)
        budget = BUDGET_SHARE_OF_POLLING * pick["baseline_usd_per_hour"]
        for design, colour in _DESIGN_COLOURS.items():
            group = [r for r in rows if r.design == design]
            for audience, symbol, _ in _AUDIENCES:
                fig.add_scatter(
                    row=1,
                    col=col,
                    name=f"{design}, {audience}s",
                    legendgroup=f"{design}-{audience}",
                    showlegend=col == 1,
                    mode="markers",
                    marker={"color": colour, "symbol": symbol, "size": 9},
                    x=[getattr(r, f"{audience}_p99_s") for r in group],
                    y=[r.usd_per_hour for r in group],
                    text=[r.parameter for r in group],
                    hovertemplate="%{text}<br>p99 %{x:.2f} s<br>$%{y:.3f}/h",
                )
        chosen = pick["chosen"]
        if chosen is not None:
            fig.add_scatter(
                row=1,
                col=col,
                name="chosen",
                legendgroup="chosen",
                showlegend=col == 1,
                mode="markers+text",
                marker={"symbol": "circle-open", "size": 18, "color": "green", "line_width": 2},
                x=[chosen["board_p99_s"], chosen["player_p99_s"]],
                y=[chosen["usd_per_hour"]] * 2,
                text=[f"chosen: {chosen['parameter']}", ""],
                textposition="top right",
            )
        fig.add_hline(
            y=budget,
            row=1,
            col=col,
            line_dash="dash",
            annotation_text="85 % of 3 s polling",
        )
        for audience, _, target in _AUDIENCES:
            fig.add_vline(
                x=target,
                row=1,
                col=col,
                line_dash="dot",
                annotation_text=f"{audience} target",
            )
    measured = run.measured_point()
    if measured is not None and run.fanout.mode == "stream":
        fig.add_scatter(
            row=1,
            col=1,
            name="measured push run",
            mode="markers",
            marker={"symbol": "star", "size": 14, "color": "black"},
            x=[measured["board_p99_s"], measured["player_p99_s"]],
            y=[measured["usd_per_hour"]] * 2,
        )
    fig.update_xaxes(title_text="p99 staleness (s)", type="log")
    fig.update_yaxes(title_text="US$ per hour", type="log")
    fig.update_layout(title="Cost against staleness: push (inline, stream windows) vs polling")
    return fig


def frontier_frame(run: UsageRun, conference: bool = True) -> Any:
    """The frontier's rows at the conference (or the run's) scale, cheapest first."""
    import pandas as pd

    workload = CONFERENCE if conference else run.workload()
    rows = [r.as_dict() for r in run.frontier(workload)]
    return pd.DataFrame(rows).sort_values("usd_per_hour").reset_index(drop=True)
