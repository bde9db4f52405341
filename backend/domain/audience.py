"""Bounded leaderboard views per audience: boards see the top N, a player also sees their own row.

Whatever the number of players, one view must fit one 32 KB WebSocket billing unit
(https://aws.amazon.com/api-gateway/pricing/): a message a byte over costs two units, and
API Gateway refuses posts over 128 KB. So a view carries at most `top_n` rows, plus, for a
player outside the top, their own row and `neighbours` rows either side, and rows are bounded
because nicknames are (`validation.MAX_NICKNAME_CHARS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from backend.domain.messages import encode, event_message, leaderboard_rows, millis
from backend.domain.model import Event, Player

MESSAGE_UNIT_BYTES: Final = 32 * 1024
DEFAULT_TOP_N: Final = 10
DEFAULT_NEIGHBOURS: Final = 2


def player_window(
    ranked: Sequence[Player], session_id: str, *, top_n: int, neighbours: int
) -> list[int]:
    """Zero-based positions a player's view shows: the top `top_n`, then their neighbourhood.

    Args:
        ranked: The whole game's players in leaderboard order.
        session_id: The viewer.
        top_n: Rows from the top.
        neighbours: Rows shown above and below the viewer when they are outside the top.

    Returns:
        Sorted positions into `ranked`, without duplicates (a viewer in or next to the top
        just extends it). A viewer not in `ranked` sees the top only.
    """
    shown = set(range(min(top_n, len(ranked))))
    for position, player in enumerate(ranked):
        if player.session_id == session_id:
            low = max(0, position - neighbours)
            high = min(len(ranked), position + neighbours + 1)
            shown.update(range(low, high))
            break
    return sorted(shown)


def bounded_leaderboard_update(
    game_id: str,
    seq: int,
    ranked: Sequence[Player],
    now: float,
    *,
    viewer_session_id: str | None = None,
    top_n: int = DEFAULT_TOP_N,
    neighbours: int = DEFAULT_NEIGHBOURS,
    total_players: int | None = None,
) -> dict[str, Any]:
    """A `leaderboard_update` for one audience: a board's (no viewer) or one player's.

    Args:
        game_id: The game.
        seq: The game's event sequence number the standings are as of.
        ranked: The whole game's players in leaderboard order.
        now: When the view is made (epoch seconds).
        viewer_session_id: The player the view is for; None for a public board (top N only).
        top_n: Rows from the top.
        neighbours: Rows either side of the viewer's own row.
        total_players: Players in the game when `ranked` is only the top (a board's read);
            `len(ranked)` by default.

    Returns:
        The message; its rows carry their real ranks, so a window is not read as the top.
    """
    if viewer_session_id is None:
        positions = list(range(min(top_n, len(ranked))))
    else:
        positions = player_window(ranked, viewer_session_id, top_n=top_n, neighbours=neighbours)
    return {
        "type": "leaderboard_update",
        "gameId": game_id,
        "seq": seq,
        "timestamp": millis(now),
        "leaderboard": leaderboard_rows(
            [ranked[i] for i in positions], viewer_session_id, [i + 1 for i in positions]
        ),
        "totalPlayers": len(ranked) if total_players is None else total_players,
    }


def activity_batches(
    game_id: str, new_events: Sequence[Event], *, max_bytes: int = MESSAGE_UNIT_BYTES
) -> list[dict[str, Any]]:
    """A window's events as `activity_batch` messages, each within `max_bytes` once encoded.

    Each batch lists the events' own messages (`activity_event` or `game_state_changed`, as
    `messages.event_message` makes them) in seq order, and carries the last one's `seq`, so a
    client applies them one by one with its usual gap detection.

    Args:
        game_id: The game.
        new_events: Its events in seq order.
        max_bytes: Size limit per message (one 32 KB billing unit by default).

    Returns:
        The batches, in order; none without events.
    """
    batches: list[dict[str, Any]] = []
    chunk: list[dict[str, Any]] = []
    chunk_bytes = 0  # the chunk's items encoded, with the commas between them

    def batch(items: list[dict[str, Any]], seq: int) -> dict[str, Any]:
        return {"type": "activity_batch", "gameId": game_id, "seq": seq, "events": items}

    for event in new_events:
        item = event_message(event)
        size = encoded_size(item)
        # The batch encodes as its skeleton (empty `events`) plus the items and their commas:
        # exact, without re-encoding the whole batch for every event.
        grown = encoded_size(batch([], event.seq)) + chunk_bytes + size + (1 if chunk else 0)
        if chunk and grown > max_bytes:
            batches.append(batch(chunk, chunk[-1]["seq"]))
            chunk, chunk_bytes = [], 0
        chunk_bytes += size + (1 if chunk else 0)
        chunk.append(item)
    if chunk:
        batches.append(batch(chunk, chunk[-1]["seq"]))
    return batches


def encoded_size(message: dict[str, Any]) -> int:
    """Bytes of `message` as posted to a connection."""
    return len(encode(message))
