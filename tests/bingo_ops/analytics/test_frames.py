"""Tests of the engagement analytics frames, on hand-built event logs with hand-derived numbers."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bingo_ops.analytics import (
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
from bingo_ops.replay.scenario import ScenarioSpec, generate, write_jsonl

# 2026-01-01T10:00:00Z in epoch milliseconds: both games start then.
T0 = 1_767_261_600_000


def _at(clock: str) -> int:
    """Epoch ms of "MM:SS" after 10:00:00 UTC on 2026-01-01 (negative minutes allowed)."""
    minutes, seconds = clock.split(":")
    sign = -1 if minutes.startswith("-") else 1
    return T0 + sign * (abs(int(minutes)) * 60 + int(seconds)) * 1000


def _ts(clock: str) -> pd.Timestamp:
    return pd.Timestamp(_at(clock), unit="ms", tz="UTC")


def _ev(game: str, seq: int, kind: str, clock: str, **data: Any) -> dict[str, Any]:
    return {
        "id": f"{game}:{seq}",
        "seq": seq,
        "type": kind,
        "data": data,
        "timestamp": _at(clock),
    }


def _mark(
    game: str, seq: int, clock: str, nickname: str, points: int, marks: int
) -> dict[str, Any]:
    return _ev(game, seq, "word_marked", clock, nickname=nickname, points=points, marks=marks)


def _state(game: str, seq: int, clock: str, old: str, new: str, **extra: Any) -> dict[str, Any]:
    return _ev(
        game, seq, "state_changed", clock, previousState=old, newState=new, reason="t", **extra
    )


# Game g1: three join, alice and bob mark, alice claims and wins. Minute 10:02 is quiet.
G1 = [
    _ev("g1", 1, "game_created", "-1:00", name="Standup", gridSize=4),
    _state("g1", 2, "0:00", "open", "playing"),
    _ev("g1", 3, "player_joined", "0:05", nickname="alice"),
    _ev("g1", 4, "player_joined", "0:10", nickname="bob"),
    _ev("g1", 5, "player_joined", "0:20", nickname="carol"),
    _mark("g1", 6, "0:30", "alice", 10, 1),
    _mark("g1", 7, "0:45", "bob", 10, 1),
    _mark("g1", 8, "1:10", "alice", 20, 2),
    _mark("g1", 9, "3:05", "alice", 30, 3),
    _mark("g1", 10, "3:30", "bob", 20, 2),
    _ev("g1", 11, "bingo_claimed", "3:35", nickname="alice"),
    _state("g1", 12, "3:35", "playing", "bingo"),
    _state("g1", 13, "4:00", "bingo", "ended", winner="alice"),
]
# Game g2, at the same time: another "alice" joins but never marks; dave marks twice; the
# organiser ends it without a bingo.
G2 = [
    _ev("g2", 1, "game_created", "-0:30", name="Retro", gridSize=3),
    _state("g2", 2, "0:00", "open", "playing"),
    _ev("g2", 3, "player_joined", "0:02", nickname="alice"),
    _ev("g2", 4, "player_joined", "0:03", nickname="dave"),
    _mark("g2", 5, "0:50", "dave", 10, 1),
    _mark("g2", 6, "1:15", "dave", 20, 2),
    _state("g2", 7, "2:00", "playing", "ended"),
]
# Game g3: created, never started.
G3 = [_ev("g3", 1, "game_created", "5:00", name="Empty", gridSize=5)]

ALL = G1 + G2 + G3


def _shuffled() -> list[dict[str, Any]]:
    events = list(ALL)
    random.Random(0).shuffle(events)
    return events


@pytest.fixture
def frame() -> pd.DataFrame:
    return events_frame(_shuffled())


def _rows(df: pd.DataFrame, columns: list[str]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in df[columns].itertuples(index=False)]


# -- events_frame ------------------------------------------------------------------------------
def test_frame_is_sorted_by_game_then_seq(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(EVENT_COLUMNS)
    assert _rows(frame, ["gameId", "seq"]) == [
        *(("g1", s) for s in range(1, 14)),
        *(("g2", s) for s in range(1, 8)),
        ("g3", 1),
    ]
    assert list(frame.index) == list(range(21))


def test_frame_dtypes(frame: pd.DataFrame) -> None:
    for name in ("gameId", "type", "nickname", "name", "previousState", "newState", "winner"):
        assert pd.api.types.is_string_dtype(frame[name]), name
    assert frame["seq"].dtype == "int64"
    for name in ("points", "marks", "gridSize"):
        assert frame[name].dtype == "Int64", name
    ts = frame["timestamp"].dtype
    assert isinstance(ts, pd.DatetimeTZDtype)
    assert str(ts.tz) == "UTC"


def test_frame_values_of_one_event(frame: pd.DataFrame) -> None:
    row = frame[(frame["gameId"] == "g1") & (frame["seq"] == 8)].iloc[0]
    assert row["type"] == "word_marked"
    assert row["nickname"] == "alice"
    assert row["points"] == 20
    assert row["marks"] == 2
    assert row["timestamp"] == pd.Timestamp("2026-01-01T10:01:10Z")
    assert pd.isna(row["newState"])
    assert pd.isna(row["gridSize"])
    ended = frame[(frame["gameId"] == "g1") & (frame["seq"] == 13)].iloc[0]
    assert (ended["newState"], ended["winner"]) == ("ended", "alice")


def test_game_id_can_be_passed_in() -> None:
    bare = [{k: v for k, v in e.items() if k != "id"} for e in G2]
    df = events_frame(bare, game_id="retro")
    assert set(df["gameId"]) == {"retro"}
    assert list(df["seq"]) == list(range(1, 8))
    with pytest.raises(ValueError, match="game_id"):
        events_frame(bare)


def test_game_id_keeps_colons_before_the_seq() -> None:
    df = events_frame([_ev("room:7", 1, "game_created", "0:00", name="x", gridSize=3)])
    assert df["gameId"].tolist() == ["room:7"]


def test_empty_log_gives_typed_empty_frames() -> None:
    df = events_frame([])
    assert list(df.columns) == list(EVENT_COLUMNS)
    assert len(df) == 0
    assert isinstance(df["timestamp"].dtype, pd.DatetimeTZDtype)
    assert active_players(df).empty
    assert marks_per_minute(df).empty
    assert time_to_first_bingo(df).empty
    assert leaderboard_race(df).empty
    assert funnel(df).empty


# -- metrics -----------------------------------------------------------------------------------
def test_active_players_per_minute_keeps_games_apart(frame: pd.DataFrame) -> None:
    out = active_players(frame)
    assert list(out.columns) == ["gameId", "interval", "players"]
    assert out["players"].dtype == "int64"
    assert _rows(out, ["gameId", "interval", "players"]) == [
        ("g1", _ts("0:00"), 2),  # alice 0:30, bob 0:45
        ("g1", _ts("1:00"), 1),  # alice 1:10
        ("g1", _ts("2:00"), 0),  # quiet
        ("g1", _ts("3:00"), 2),  # alice 3:05, bob 3:30
        ("g2", _ts("0:00"), 1),  # dave 0:50
        ("g2", _ts("1:00"), 1),  # dave 1:15
    ]


def test_active_players_per_30_seconds(frame: pd.DataFrame) -> None:
    out = active_players(frame[frame["gameId"] == "g1"], freq="30s")
    assert _rows(out, ["interval", "players"]) == [
        (_ts("0:30"), 2),  # alice 0:30, bob 0:45
        (_ts("1:00"), 1),  # alice 1:10
        (_ts("1:30"), 0),
        (_ts("2:00"), 0),
        (_ts("2:30"), 0),
        (_ts("3:00"), 1),  # alice 3:05
        (_ts("3:30"), 1),  # bob 3:30
    ]


def test_marks_per_minute(frame: pd.DataFrame) -> None:
    out = marks_per_minute(frame)
    assert list(out.columns) == ["gameId", "minute", "marks"]
    assert out["marks"].dtype == "int64"
    assert _rows(out, ["gameId", "minute", "marks"]) == [
        ("g1", _ts("0:00"), 2),
        ("g1", _ts("1:00"), 1),
        ("g1", _ts("2:00"), 0),
        ("g1", _ts("3:00"), 2),
        ("g2", _ts("0:00"), 1),
        ("g2", _ts("1:00"), 1),
    ]


def test_time_to_first_bingo(frame: pd.DataFrame) -> None:
    out = time_to_first_bingo(frame)
    assert list(out.columns) == ["gameId", "startedAt", "firstBingoAt", "seconds"]
    assert out["seconds"].dtype == "float64"
    assert out["gameId"].tolist() == ["g1", "g2", "g3"]
    g1, g2, g3 = (out.iloc[i] for i in range(3))
    # Started 10:00:00, alice claimed 10:03:35: 3 * 60 + 35.
    assert g1["seconds"] == 215.0
    assert g1["startedAt"] == _ts("0:00")
    assert g1["firstBingoAt"] == _ts("3:35")
    assert g2["startedAt"] == _ts("0:00")
    assert pd.isna(g2["firstBingoAt"])
    assert math.isnan(g2["seconds"])
    assert pd.isna(g3["startedAt"])
    assert math.isnan(g3["seconds"])


def test_time_to_first_bingo_counts_from_the_first_start() -> None:
    events = [
        _state("g", 1, "0:00", "open", "playing"),
        _state("g", 2, "0:20", "playing", "paused"),
        _state("g", 3, "0:40", "paused", "playing"),
        _ev("g", 4, "bingo_claimed", "1:30", nickname="x"),
        _ev("g", 5, "bingo_claimed", "1:50", nickname="y"),
    ]
    assert time_to_first_bingo(events_frame(events))["seconds"].tolist() == [90.0]


def test_leaderboard_race(frame: pd.DataFrame) -> None:
    out = leaderboard_race(frame)
    assert list(out.columns) == ["gameId", "seq", "timestamp", "nickname", "points", "gained"]
    assert out["points"].dtype == "Int64"
    assert _rows(out, ["gameId", "seq", "nickname", "points", "gained"]) == [
        ("g1", 6, "alice", 10, 10),
        ("g1", 7, "bob", 10, 10),
        ("g1", 8, "alice", 20, 10),
        ("g1", 9, "alice", 30, 10),
        ("g1", 10, "bob", 20, 10),
        ("g2", 5, "dave", 10, 10),
        ("g2", 6, "dave", 20, 10),
    ]
    final = out.groupby(["gameId", "nickname"])["points"].last()
    assert final.to_dict() == {("g1", "alice"): 30, ("g1", "bob"): 20, ("g2", "dave"): 20}


def test_funnel(frame: pd.DataFrame) -> None:
    out = funnel(frame)
    assert list(out.columns) == ["gameId", "joined", "marked", "claimed", "won"]
    assert all(out[c].dtype == "int64" for c in ("joined", "marked", "claimed", "won"))
    assert _rows(out, ["gameId", "joined", "marked", "claimed", "won"]) == [
        ("g1", 3, 2, 1, 1),  # alice, bob, carol; alice and bob; alice; alice
        ("g2", 2, 1, 0, 0),  # alice, dave; dave; nobody; ended without a winner
        ("g3", 0, 0, 0, 0),
    ]


# -- files -------------------------------------------------------------------------------------
def test_events_jsonl_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_events_jsonl(ALL, path)
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(ALL)
    back = read_events_jsonl(path)
    assert back == ALL
    pd.testing.assert_frame_equal(events_frame(back), events_frame(ALL))


def test_read_events_jsonl_refuses_non_objects(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"seq": 1}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="not a JSON object"):
        read_events_jsonl(path)


def test_word_popularity_from_a_scenario(tmp_path: Path) -> None:
    spec = ScenarioSpec(games=2, players=6, boards=0, marks_per_player_per_minute=6.0, seed=3)
    actions = generate(spec)
    path = tmp_path / "scenario.jsonl"
    write_jsonl(actions, path, spec)
    expected = Counter(a.data["word"] for a in actions if a.kind == "mark")
    assert sum(expected.values()) > 10

    out = word_popularity(path)
    assert list(out.columns) == ["word", "marks", "players"]
    assert dict(zip(out["word"], out["marks"], strict=True)) == dict(expected)
    assert out["marks"].is_monotonic_decreasing
    markers = {
        w: {(a.game, a.actor) for a in actions if a.kind == "mark" and a.data["word"] == w}
        for w in expected
    }
    assert dict(zip(out["word"], out["players"], strict=True)) == {
        w: len(p) for w, p in markers.items()
    }
    pd.testing.assert_frame_equal(word_popularity(actions), out)
    pd.testing.assert_frame_equal(word_popularity([a.to_dict() for a in actions]), out)


def test_word_popularity_refuses_public_events() -> None:
    with pytest.raises(ValueError, match="carry no words"):
        word_popularity(G1)


# -- figures -----------------------------------------------------------------------------------
def test_figures_draw_the_metrics(frame: pd.DataFrame) -> None:
    from bingo_ops.analytics import figures

    active = figures.active_players_figure(frame)
    assert [t.name for t in active.data] == ["g1", "g2"]
    assert list(active.data[0].y) == [2, 1, 0, 2]
    assert [t.name for t in figures.marks_per_minute_figure(frame).data] == ["g1", "g2"]
    race = figures.leaderboard_race_figure(frame, "g1")
    assert {t.name: list(t.y) for t in race.data} == {"alice": [10, 20, 30], "bob": [10, 20]}
    bingo = figures.time_to_first_bingo_figure(frame)
    assert list(bingo.data[0].x) == ["g1"]
    assert list(bingo.data[0].y) == [215.0]
    assert list(figures.funnel_figure(frame).data[0].x) == [5, 3, 1, 1]
    assert list(figures.funnel_figure(frame, "g2").data[0].x) == [2, 1, 0, 0]
    words = pd.DataFrame({"word": ["a", "b", "c"], "marks": [3, 2, 1], "players": [1, 1, 1]})
    assert list(figures.word_popularity_figure(words, top=2).data[0].y) == ["b", "a"]
