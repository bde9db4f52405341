"""Plotly figures of the engagement metrics computed by `bingo_ops.analytics.frames`."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bingo_ops.analytics import frames

FUNNEL_STAGES: tuple[str, ...] = ("joined", "marked", "claimed", "won")


def _lines(
    data: pd.DataFrame, x: str, y: str, group: str, title: str, *, step: bool = False
) -> go.Figure:
    fig = go.Figure()
    for key, sub in data.groupby(group, sort=True):
        fig.add_trace(
            go.Scatter(
                x=sub[x],
                y=sub[y],
                mode="lines+markers",
                name=str(key),
                line={"shape": "hv"} if step else {},
            )
        )
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, legend_title=group)
    return fig


def active_players_figure(events: pd.DataFrame, freq: str = "1min") -> go.Figure:
    """Active players per interval, one line per game.

    Args:
        events: An `events_frame`.
        freq: Interval length, as for `frames.active_players`.
    """
    data = frames.active_players(events, freq)
    return _lines(data, "interval", "players", "gameId", f"Active players per {freq}")


def marks_per_minute_figure(events: pd.DataFrame) -> go.Figure:
    """Marks per minute, one line per game.

    Args:
        events: An `events_frame`.
    """
    data = frames.marks_per_minute(events)
    return _lines(data, "minute", "marks", "gameId", "Marks per minute")


def leaderboard_race_figure(events: pd.DataFrame, game_id: str) -> go.Figure:
    """One game's points race: each player's total as a step line over time.

    Args:
        events: An `events_frame`.
        game_id: The game to draw.
    """
    race = frames.leaderboard_race(events)
    race = race[race["gameId"] == game_id]
    return _lines(
        race, "timestamp", "points", "nickname", f"Points race, game {game_id}", step=True
    )


def time_to_first_bingo_figure(events: pd.DataFrame) -> go.Figure:
    """Seconds from start to first bingo claim per game (games without a claim have no bar).

    Args:
        events: An `events_frame`.
    """
    data = frames.time_to_first_bingo(events).dropna(subset=["seconds"])
    fig = go.Figure(go.Bar(x=data["gameId"], y=data["seconds"]))
    fig.update_layout(title="Time to first bingo", xaxis_title="game", yaxis_title="seconds")
    return fig


def funnel_figure(events: pd.DataFrame, game_id: str | None = None) -> go.Figure:
    """The engagement funnel of one game, or summed over all games.

    Args:
        events: An `events_frame`.
        game_id: The game to draw; None sums every game in `events`.
    """
    data = frames.funnel(events)
    if game_id is not None:
        data = data[data["gameId"] == game_id]
    totals = [int(data[stage].sum()) for stage in FUNNEL_STAGES]
    fig = go.Figure(go.Funnel(y=list(FUNNEL_STAGES), x=totals))
    scope = "all games" if game_id is None else f"game {game_id}"
    fig.update_layout(title=f"Engagement funnel, {scope}")
    return fig


def word_popularity_figure(popularity: pd.DataFrame, top: int = 20) -> go.Figure:
    """The most marked words, as horizontal bars.

    Args:
        popularity: A `frames.word_popularity` frame (from a scenario: events carry no words).
        top: How many words to show.
    """
    data = popularity.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=data["marks"], y=data["word"], orientation="h"))
    fig.update_layout(title=f"Top {top} words", xaxis_title="marks", yaxis_title="word")
    return fig
