"""Immutable records the rules and the store exchange."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from backend.domain.game import GameState


@dataclass(frozen=True, slots=True)
class Winner:
    """The player whose verified claim ended a game."""

    session_id: str
    nickname: str


@dataclass(frozen=True, slots=True)
class Game:
    """One game: its card size, word list, state and the sequence number of its last event."""

    game_id: str
    name: str
    grid_size: int
    words: tuple[str, ...]
    state: GameState
    created_at: float
    updated_at: float
    last_seq: int = 0
    winner: Winner | None = None


@dataclass(frozen=True, slots=True)
class Player:
    """A player's standing in one game."""

    game_id: str
    session_id: str
    nickname: str
    joined_at: float
    points: int = 0
    marks: int = 0
    last_mark_at: float | None = None


@dataclass(frozen=True, slots=True)
class Card:
    """A player's card: `size * size` cells in row-major order; `None` is the free centre."""

    game_id: str
    session_id: str
    size: int
    cells: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a game's log. `seq` is gap-free per game, starting at 1.

    `data` is the full record; what a public audience sees is derived by
    `backend.domain.events.public_data`, which never includes session ids or words.
    """

    game_id: str
    seq: int
    type: str
    data: Mapping[str, Any]
    created_at: float


class ClaimStatus(StrEnum):
    """Outcome of a bingo claim."""

    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Claim:
    """A bingo claim and the line that justified it (cell indexes)."""

    game_id: str
    session_id: str
    nickname: str
    line: tuple[int, ...]
    created_at: float
    status: ClaimStatus = ClaimStatus.PENDING


@dataclass(frozen=True, slots=True)
class Connection:
    """A WebSocket connection as the $connect handler recorded it.

    `kind` is the token kind (`user` or `public`), `subject` the session or device id.
    """

    connection_id: str
    kind: str
    subject: str
    connected_at: float
    expires_at: float
    game_id: str | None = None
    nickname: str | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """The top of a game's standings and how many players it has in all."""

    game_id: str
    entries: tuple[Player, ...]
    total_players: int
    seq: int


class Audience(StrEnum):
    """Who a subscription speaks to: a public status board or a player's phone."""

    BOARD = "board"
    PLAYER = "player"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A connection's subscription to one game's broadcasts.

    Attributes:
        game_id: The game.
        connection_id: The subscribed WebSocket connection.
        audience: `board` (a public token) or `player` (a user token).
        viewer: The player's session id, so their own row can be shown; None for a board.
        feed: Whether the activity feed is sent, not only the leaderboard.
        expires_at: When the subscription lapses unless refreshed (epoch seconds).
    """

    game_id: str
    connection_id: str
    audience: Audience
    viewer: str | None
    feed: bool
    expires_at: float
