"""Tests for backend.domain.messages: the WebSocket messages and the shared JSON views."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backend.domain import events, messages
from backend.domain.game import GameState
from backend.domain.model import Event, Game, Leaderboard, Player, Winner

SESSION = "session-secret-42"
WORD = "paradigm shift"
T = 1_700_000_000.25
T_MS = 1_700_000_000_250


def event(type_: str, data: dict[str, Any], seq: int = 7) -> Event:
    return Event(game_id="g1", seq=seq, type=type_, data=data, created_at=T)


def player(nickname: str, points: int = 0, last_mark_at: float | None = None) -> Player:
    return Player(
        game_id="g1",
        session_id=f"session-{nickname}",
        nickname=nickname,
        joined_at=T,
        points=points,
        marks=points // 10,
        last_mark_at=last_mark_at,
    )


# -- millis -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, 0),
        (0.0, 0),
        (1.5, 1500),
        (T, T_MS),
        (1_700_000_000.123, 1_700_000_000_123),
        (2.0004, 2000),
    ],
)
def test_millis_turns_epoch_seconds_into_integer_milliseconds(
    seconds: float, expected: int
) -> None:
    result = messages.millis(seconds)
    assert result == expected
    assert type(result) is int


# -- event_message ------------------------------------------------------------------------------
def test_a_state_change_becomes_game_state_changed() -> None:
    data = events.state_changed(GameState.OPEN, GameState.PLAYING, "kick-off")
    assert messages.event_message(event(events.STATE_CHANGED, data)) == {
        "type": "game_state_changed",
        "gameId": "g1",
        "seq": 7,
        "previousState": "open",
        "newState": "playing",
        "reason": "kick-off",
        "timestamp": T_MS,
    }


def test_a_verified_claim_names_the_winner_but_not_their_session() -> None:
    data = events.state_changed(
        GameState.BINGO, GameState.ENDED, "verified", Winner(SESSION, "Ann")
    )
    msg = messages.event_message(event(events.STATE_CHANGED, data))

    assert msg["type"] == "game_state_changed"
    assert msg["winner"] == "Ann"
    assert (msg["previousState"], msg["newState"]) == ("bingo", "ended")
    assert "winnerSessionId" not in msg
    assert SESSION not in json.dumps(msg)


def test_a_state_change_without_a_reason_has_an_empty_one() -> None:
    data = {"previousState": "open", "newState": "cancelled"}
    assert messages.event_message(event(events.STATE_CHANGED, data))["reason"] == ""


OTHER_EVENTS = [
    pytest.param(events.GAME_CREATED, events.game_created("Room A", 4), id="game_created"),
    pytest.param(events.PLAYER_JOINED, events.player_joined(SESSION, "Ann"), id="player_joined"),
    pytest.param(
        events.WORD_MARKED, events.word_marked(SESSION, "Ann", WORD, 10, 1), id="word_marked"
    ),
    pytest.param(
        events.BINGO_CLAIMED, events.bingo_claimed(SESSION, "Ann", (0, 4, 8)), id="bingo_claimed"
    ),
]


@pytest.mark.parametrize(("type_", "data"), OTHER_EVENTS)
def test_other_events_become_activity_events_with_public_data(
    type_: str, data: dict[str, Any]
) -> None:
    ev = event(type_, data)
    msg = messages.event_message(ev)

    assert msg["type"] == "activity_event"
    assert msg["gameId"] == "g1"
    assert msg["seq"] == 7
    inner = msg["event"]
    assert {"id", "type", "data", "timestamp"} <= inner.keys()
    assert inner["id"] == "g1:7"
    assert inner["type"] == type_
    assert inner["data"] == events.public_data(ev)
    assert inner["timestamp"] == T_MS


@pytest.mark.parametrize(("type_", "data"), OTHER_EVENTS)
def test_activity_events_never_carry_session_ids_or_words(type_: str, data: dict[str, Any]) -> None:
    dumped = json.dumps(messages.event_message(event(type_, data)))
    assert SESSION not in dumped
    assert WORD not in dumped
    assert "sessionId" not in dumped


def test_event_ids_differ_between_games_and_sequence_numbers() -> None:
    data = events.player_joined(SESSION, "Ann")
    ids = {
        messages.event_view(Event(g, seq, events.PLAYER_JOINED, data, T))["id"]
        for g in ("g1", "g2")
        for seq in (1, 2)
    }
    assert len(ids) == 4


# -- leaderboard --------------------------------------------------------------------------------
ENTRIES = (player("Ann", 30, T), player("Bob", 10, T + 1), player("Cy"))


def test_leaderboard_rows_rank_from_one_and_show_no_session_ids() -> None:
    rows = messages.leaderboard_rows(ENTRIES)

    assert rows == [
        {"rank": 1, "nickname": "Ann", "points": 30, "marks": 3, "lastMarkAt": T_MS},
        {"rank": 2, "nickname": "Bob", "points": 10, "marks": 1, "lastMarkAt": T_MS + 1000},
        {"rank": 3, "nickname": "Cy", "points": 0, "marks": 0, "lastMarkAt": None},
    ]
    assert "session-" not in json.dumps(rows)


@pytest.mark.parametrize("viewer", ["Ann", "Bob", "Cy"])
def test_leaderboard_rows_flag_only_the_viewers_own_row(viewer: str) -> None:
    rows = messages.leaderboard_rows(ENTRIES, f"session-{viewer}")

    flagged = [row["nickname"] for row in rows if "isYou" in row]
    assert flagged == [viewer]
    assert next(row for row in rows if row["nickname"] == viewer)["isYou"] is True
    assert "session-" not in json.dumps(rows)


@pytest.mark.parametrize("viewer", [None, "session-nobody", "", "Ann"])
def test_leaderboard_rows_flag_nobody_for_a_stranger_or_a_public_board(
    viewer: str | None,
) -> None:
    assert all("isYou" not in row for row in messages.leaderboard_rows(ENTRIES, viewer))


def test_leaderboard_update_carries_seq_time_rows_and_the_player_count() -> None:
    board = Leaderboard(game_id="g1", entries=ENTRIES[:2], total_players=3, seq=12)
    msg = messages.leaderboard_update(board, T, "session-Bob")

    assert msg == {
        "type": "leaderboard_update",
        "gameId": "g1",
        "seq": 12,
        "timestamp": T_MS,
        "leaderboard": messages.leaderboard_rows(ENTRIES[:2], "session-Bob"),
        "totalPlayers": 3,
    }
    assert msg["leaderboard"][1]["isYou"] is True
    assert "session-" not in json.dumps(msg)


def test_an_empty_leaderboard() -> None:
    board = Leaderboard(game_id="g1", entries=(), total_players=0, seq=1)
    msg = messages.leaderboard_update(board, T)
    assert msg["leaderboard"] == []
    assert msg["totalPlayers"] == 0


# -- game view ----------------------------------------------------------------------------------
def game(**changes: Any) -> Game:
    fields: dict[str, Any] = {
        "game_id": "g1",
        "name": "Room A",
        "grid_size": 5,
        "words": (WORD, "synergy", "leverage"),
        "state": GameState.PLAYING,
        "created_at": T,
        "updated_at": T + 60,
        "last_seq": 9,
    }
    fields |= changes
    return Game(**fields)


def test_game_view_shows_the_game_without_its_word_list() -> None:
    view = messages.game_view(game())

    assert view == {
        "gameId": "g1",
        "name": "Room A",
        "gridSize": 5,
        "state": "playing",
        "seq": 9,
        "createdAt": T_MS,
        "updatedAt": T_MS + 60_000,
        "winner": None,
    }
    dumped = json.dumps(view)
    assert WORD not in dumped
    assert "synergy" not in dumped


def test_game_view_names_the_winner_but_not_their_session() -> None:
    view = messages.game_view(game(state=GameState.ENDED, winner=Winner(SESSION, "Ann")))
    assert view["winner"] == "Ann"
    assert view["state"] == "ended"
    assert SESSION not in json.dumps(view)


# -- small frames -------------------------------------------------------------------------------
def test_subscription_frames() -> None:
    assert messages.subscribed("g1", 4) == {"type": "subscribed", "gameId": "g1", "seq": 4}
    assert messages.unsubscribed("g1") == {"type": "unsubscribed", "gameId": "g1"}


def test_pong_carries_the_time() -> None:
    assert messages.pong(T) == {"type": "pong", "timestamp": T_MS}


def test_error_frames_name_the_action_only_when_there_is_one() -> None:
    assert messages.error("not_found", "no such game") == {
        "type": "error",
        "code": "not_found",
        "message": "no such game",
    }
    assert messages.error("unknown_action", "no", action="dance")["action"] == "dance"
