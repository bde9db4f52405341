"""Reads of public game data: games, history, leaderboards, event logs, the polling endpoint."""

from __future__ import annotations

from typing import Any

from backend.domain import messages
from backend.domain.errors import GameNotFound
from backend.domain.game import FINISHED_STATES
from backend.services.context import Deps

MAX_EVENTS_PER_READ = 500
MAX_HISTORY = 100
# The deprecated polling endpoint told clients to come back after 3 s (the original's interval).
POLL_RETRY_MS = 3000


def current_game(deps: Deps) -> dict[str, Any]:
    """The newest active game.

    Raises:
        GameNotFound: no game is active.
    """
    found = deps.store.current_game()
    if found is None:
        raise GameNotFound("no game is running")
    return messages.game_view(found)


def get_game(deps: Deps, game_id: str) -> dict[str, Any]:
    """One game's public view."""
    return messages.game_view(deps.store.get_game(game_id))


def history(deps: Deps, limit: int) -> dict[str, Any]:
    """Finished games, newest first."""
    games = deps.store.list_games(FINISHED_STATES, limit=min(limit, MAX_HISTORY))
    return {"games": [messages.game_view(g) for g in games]}


def leaderboard(
    deps: Deps, game_id: str, limit: int, viewer_session_id: str | None = None
) -> dict[str, Any]:
    """A game's standings, the viewer's own row flagged.

    Raises:
        GameNotFound: no such game.
    """
    board = deps.store.leaderboard(game_id, limit=limit)
    update = messages.leaderboard_update(board, deps.clock(), viewer_session_id)
    del update["type"]
    return update


def events(deps: Deps, game_id: str, after: int, limit: int) -> dict[str, Any]:
    """Public views of a game's events after a sequence number.

    Raises:
        GameNotFound: no such game.
    """
    current = deps.store.get_game(game_id)
    found = deps.store.events_after(
        game_id, after, limit=min(limit, MAX_EVENTS_PER_READ), now=deps.clock()
    )
    return {
        "gameId": game_id,
        "seq": current.last_seq,
        "events": [messages.event_view(e) for e in found],
        "nextAfter": found[-1].seq if found else after,
    }


def poll(deps: Deps, game_id: str, after: int, limit: int) -> dict[str, Any]:
    """What one poll of the deprecated stream endpoint returns: the leaderboard and new events.

    Raises:
        GameNotFound: no such game.
    """
    board = leaderboard(deps, game_id, limit)
    log = events(deps, game_id, after, MAX_EVENTS_PER_READ)
    return {**board, "events": log["events"], "retry": POLL_RETRY_MS}
