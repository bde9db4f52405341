"""Engagement analytics of game event logs (pandas is imported here and nowhere else)."""

from __future__ import annotations

from bingo_ops.analytics.frames import (
    EVENT_COLUMNS,
    active_players,
    events_frame,
    funnel,
    leaderboard_race,
    marks_per_minute,
    read_events_jsonl,
    time_to_first_bingo,
    word_popularity,
    write_events_jsonl,
)

__all__ = [
    "EVENT_COLUMNS",
    "active_players",
    "events_frame",
    "funnel",
    "leaderboard_race",
    "marks_per_minute",
    "read_events_jsonl",
    "time_to_first_bingo",
    "word_popularity",
    "write_events_jsonl",
]
