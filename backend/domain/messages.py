"""Wire messages the server sends over the WebSocket, and JSON views shared with HTTP."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from backend.domain import events
from backend.domain.model import Event, Game, Leaderboard, Player


def millis(epoch_s: float) -> int:
    """Epoch seconds to the integer milliseconds every wire timestamp uses."""
    return round(epoch_s * 1000)


def encode(message: dict[str, Any]) -> bytes:
    """A message as the bytes posted to a connection: compact JSON in UTF-8."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def leaderboard_rows(
    entries: Sequence[Player],
    viewer_session_id: str | None = None,
    ranks: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Leaderboard rows; a player's own row is flagged, nobody's session id is shown.

    Args:
        entries: Players in leaderboard order.
        viewer_session_id: Whose row to flag with `isYou`.
        ranks: Each entry's rank when `entries` is not the top of the board (a window around
            a player); 1, 2, 3... by default.
    """
    rows = []
    numbers = ranks if ranks is not None else range(1, len(entries) + 1)
    for rank, p in zip(numbers, entries, strict=True):
        row: dict[str, Any] = {
            "rank": rank,
            "nickname": p.nickname,
            "points": p.points,
            "marks": p.marks,
            "lastMarkAt": millis(p.last_mark_at) if p.last_mark_at is not None else None,
        }
        if viewer_session_id is not None and p.session_id == viewer_session_id:
            row["isYou"] = True
        rows.append(row)
    return rows


def game_view(game: Game) -> dict[str, Any]:
    """Public JSON view of a game (no word list: cards stay unguessable)."""
    view: dict[str, Any] = {
        "gameId": game.game_id,
        "name": game.name,
        "gridSize": game.grid_size,
        "state": str(game.state),
        "seq": game.last_seq,
        "createdAt": millis(game.created_at),
        "updatedAt": millis(game.updated_at),
        "winner": game.winner.nickname if game.winner else None,
    }
    return view


def event_view(event: Event) -> dict[str, Any]:
    """Public JSON view of one log entry."""
    return {
        "id": f"{event.game_id}:{event.seq}",
        "seq": event.seq,
        "type": event.type,
        "data": events.public_data(event),
        "timestamp": millis(event.created_at),
    }


def subscribed(game_id: str, seq: int) -> dict[str, Any]:
    """Acknowledges a subscription and tells the client the game's current sequence number."""
    return {"type": "subscribed", "gameId": game_id, "seq": seq}


def unsubscribed(game_id: str) -> dict[str, Any]:
    """Acknowledges an unsubscribe."""
    return {"type": "unsubscribed", "gameId": game_id}


def pong(now: float) -> dict[str, Any]:
    """Answer to the application heartbeat."""
    return {"type": "pong", "timestamp": millis(now)}


def error(code: str, message: str, action: str | None = None) -> dict[str, Any]:
    """Error frame sent to the one connection whose message failed."""
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if action is not None:
        frame["action"] = action
    return frame


def leaderboard_update(
    board: Leaderboard, now: float, viewer_session_id: str | None = None
) -> dict[str, Any]:
    """The standings as of `board.seq`."""
    return {
        "type": "leaderboard_update",
        "gameId": board.game_id,
        "seq": board.seq,
        "timestamp": millis(now),
        "leaderboard": leaderboard_rows(board.entries, viewer_session_id),
        "totalPlayers": board.total_players,
    }


def event_message(event: Event) -> dict[str, Any]:
    """The push message for one log entry: state changes get their own type."""
    if event.type == events.STATE_CHANGED:
        data = event.data
        msg: dict[str, Any] = {
            "type": "game_state_changed",
            "gameId": event.game_id,
            "seq": event.seq,
            "previousState": data["previousState"],
            "newState": data["newState"],
            "reason": data.get("reason", ""),
            "timestamp": millis(event.created_at),
        }
        if "winner" in data:
            msg["winner"] = data["winner"]
        return msg
    return {
        "type": "activity_event",
        "gameId": event.game_id,
        "seq": event.seq,
        "event": event_view(event),
    }
