"""Points and the order of the leaderboard."""

from __future__ import annotations

import math
from collections.abc import Iterable

from backend.domain.model import Player
from backend.domain.validation import nickname_key

POINTS_PER_WORD = 10
DEFAULT_LEADERBOARD_SIZE = 10
MAX_LEADERBOARD_SIZE = 100


def rank_key(player: Player) -> tuple[int, float, str]:
    """Sort key: points descending, then the earlier last mark, then the nickname.

    Everybody with points has a last-mark time; those without points all tie on it, so the
    nickname (unique per game ignoring case) makes the order total.
    """
    last = player.last_mark_at if player.last_mark_at is not None else math.inf
    return (-player.points, last, nickname_key(player.nickname))


def ranked(players: Iterable[Player]) -> list[Player]:
    """Players in leaderboard order."""
    return sorted(players, key=rank_key)
