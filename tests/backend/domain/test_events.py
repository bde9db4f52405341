"""Tests for backend.domain.events: what the log records and what a public view may show."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backend.domain import events
from backend.domain.game import GameState
from backend.domain.model import Event, Winner

SESSION = "session-secret-42"
WORD = "paradigm shift"
SECRET_KEYS = {"sessionId", "winnerSessionId", "word"}


def event(type_: str, data: dict[str, Any], seq: int = 1) -> Event:
    return Event(game_id="g1", seq=seq, type=type_, data=data, created_at=1_700_000_000.5)


# Every event type, each built with its own builder, and what a public view shows of it.
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "game_created": (
        events.GAME_CREATED,
        events.game_created("Room A", 5),
        {"name": "Room A", "gridSize": 5},
    ),
    "player_joined": (
        events.PLAYER_JOINED,
        events.player_joined(SESSION, "Ann"),
        {"nickname": "Ann"},
    ),
    "word_marked": (
        events.WORD_MARKED,
        events.word_marked(SESSION, "Ann", WORD, 30, 3),
        {"nickname": "Ann", "points": 30, "marks": 3},
    ),
    "bingo_claimed": (
        events.BINGO_CLAIMED,
        events.bingo_claimed(SESSION, "Ann", (3, 4, 5)),
        {"nickname": "Ann"},
    ),
    "state_changed": (
        events.STATE_CHANGED,
        events.state_changed(GameState.OPEN, GameState.PLAYING, "start"),
        {"previousState": "open", "newState": "playing", "reason": "start"},
    ),
    "state_changed-with-winner": (
        events.STATE_CHANGED,
        events.state_changed(GameState.BINGO, GameState.ENDED, "verified", Winner(SESSION, "Ann")),
        {"previousState": "bingo", "newState": "ended", "reason": "verified", "winner": "Ann"},
    ),
}
BUILT = [pytest.param(t, data, id=case) for case, (t, data, _) in CASES.items()]
WITH_PUBLIC = [pytest.param(t, data, pub, id=case) for case, (t, data, pub) in CASES.items()]


def test_the_event_types_are_named_as_on_the_wire() -> None:
    assert (
        events.GAME_CREATED,
        events.PLAYER_JOINED,
        events.WORD_MARKED,
        events.BINGO_CLAIMED,
        events.STATE_CHANGED,
    ) == ("game_created", "player_joined", "word_marked", "bingo_claimed", "state_changed")


@pytest.mark.parametrize(("type_", "data"), BUILT)
def test_public_data_never_carries_session_ids_or_words(type_: str, data: dict[str, Any]) -> None:
    public = events.public_data(event(type_, data))

    assert not SECRET_KEYS & public.keys()
    dumped = json.dumps(public)
    assert SESSION not in dumped
    assert WORD not in dumped


@pytest.mark.parametrize(("type_", "data", "public"), WITH_PUBLIC)
def test_public_data_shows_the_whitelisted_fields(
    type_: str, data: dict[str, Any], public: dict[str, Any]
) -> None:
    assert events.public_data(event(type_, data)) == public


@pytest.mark.parametrize(("type_", "data"), BUILT)
def test_public_data_drops_extra_secret_fields_whatever_the_type(
    type_: str, data: dict[str, Any]
) -> None:
    extra = {"sessionId": SESSION, "winnerSessionId": SESSION, "word": WORD, "token": "jwt"}
    public = events.public_data(event(type_, {**data, **extra}))
    assert not (SECRET_KEYS | {"token"}) & public.keys()


def test_public_data_of_an_unknown_type_is_empty() -> None:
    data = {"nickname": "Ann", "sessionId": SESSION, "word": WORD}
    assert events.public_data(event("something_new", data)) == {}


def test_public_data_copies_and_leaves_the_event_alone() -> None:
    data = events.word_marked(SESSION, "Ann", WORD, 10, 1)
    public = events.public_data(event(events.WORD_MARKED, data))
    public["nickname"] = "changed"
    assert data["nickname"] == "Ann"
    assert data["sessionId"] == SESSION


def test_the_log_keeps_session_ids_and_words_for_the_organisers() -> None:
    assert events.player_joined(SESSION, "Ann") == {"sessionId": SESSION, "nickname": "Ann"}
    assert events.word_marked(SESSION, "Ann", WORD, 20, 2) == {
        "sessionId": SESSION,
        "nickname": "Ann",
        "word": WORD,
        "points": 20,
        "marks": 2,
    }
    assert events.bingo_claimed(SESSION, "Ann", (0, 4, 8)) == {
        "sessionId": SESSION,
        "nickname": "Ann",
        "line": [0, 4, 8],
    }
    won = events.state_changed(GameState.BINGO, GameState.ENDED, "ok", Winner(SESSION, "Ann"))
    assert won["winnerSessionId"] == SESSION


def test_state_changed_records_plain_state_names() -> None:
    data = events.state_changed(GameState.PLAYING, GameState.PAUSED, "coffee")
    assert data == {"previousState": "playing", "newState": "paused", "reason": "coffee"}
    assert type(data["previousState"]) is str
    assert type(data["newState"]) is str
    assert "winner" not in data


@pytest.mark.parametrize(("type_", "data"), BUILT)
def test_every_events_data_and_public_data_are_json(type_: str, data: dict[str, Any]) -> None:
    assert json.loads(json.dumps(data)) == data
    public = events.public_data(event(type_, data))
    assert json.loads(json.dumps(public)) == public
