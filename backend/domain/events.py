"""What a game's log records, and which of it a public audience may see."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from backend.domain.game import GameState
from backend.domain.model import Event, Winner

GAME_CREATED: Final = "game_created"
PLAYER_JOINED: Final = "player_joined"
WORD_MARKED: Final = "word_marked"
BINGO_CLAIMED: Final = "bingo_claimed"
STATE_CHANGED: Final = "state_changed"

# Whitelist per event type: the fields a public board or another player may see. Session ids
# (bearer identities) and marked words (what is on somebody's card) stay in the log for the
# organisers and never leave through a public view.
_PUBLIC_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    GAME_CREATED: ("name", "gridSize"),
    PLAYER_JOINED: ("nickname",),
    WORD_MARKED: ("nickname", "points", "marks"),
    BINGO_CLAIMED: ("nickname",),
    STATE_CHANGED: ("previousState", "newState", "reason", "winner"),
}


def game_created(name: str, grid_size: int) -> dict[str, Any]:
    """Data of the first event of every game."""
    return {"name": name, "gridSize": grid_size}


def player_joined(session_id: str, nickname: str) -> dict[str, Any]:
    """Data of a join."""
    return {"sessionId": session_id, "nickname": nickname}


def word_marked(
    session_id: str, nickname: str, word: str, points: int, marks: int
) -> dict[str, Any]:
    """Data of a mark: the player's totals after it."""
    return {
        "sessionId": session_id,
        "nickname": nickname,
        "word": word,
        "points": points,
        "marks": marks,
    }


def bingo_claimed(session_id: str, nickname: str, line: tuple[int, ...]) -> dict[str, Any]:
    """Data of a claim and the line it rests on."""
    return {"sessionId": session_id, "nickname": nickname, "line": list(line)}


def state_changed(
    previous: GameState, new: GameState, reason: str, winner: Winner | None = None
) -> dict[str, Any]:
    """Data of a state change; `winner` is the nickname when a verified claim ended the game."""
    data: dict[str, Any] = {"previousState": str(previous), "newState": str(new), "reason": reason}
    if winner is not None:
        data["winner"] = winner.nickname
        data["winnerSessionId"] = winner.session_id
    return data


def public_data(event: Event) -> dict[str, Any]:
    """The part of an event's data that any reader of the game may see."""
    fields = _PUBLIC_FIELDS.get(event.type, ())
    return {k: event.data[k] for k in fields if k in event.data}
