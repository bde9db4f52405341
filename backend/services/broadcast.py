"""Fan-out of a game's news to that game's subscribers, and replies to one connection."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from backend.domain import events, messages
from backend.domain.model import Event
from backend.domain.scoring import DEFAULT_LEADERBOARD_SIZE
from backend.ports.gateway import Delivery
from backend.services.context import Deps, FanoutMode

log = logging.getLogger(__name__)

# Events after which the standings (or the number of players) may differ.
_MOVES_LEADERBOARD = frozenset({events.PLAYER_JOINED, events.WORD_MARKED, events.STATE_CHANGED})


def forget_gone(deps: Deps, delivery: Delivery) -> None:
    """Delete the connections the gateway reported gone (410); log the failed posts."""
    if delivery.gone:
        deps.store.delete_connections(delivery.gone)
    if delivery.failed:
        log.warning("posts failed, connections kept: %s", delivery.failed)


def send(deps: Deps, connection_id: str, message: dict[str, Any]) -> bool:
    """Post one message to one connection; forget the connection if the gateway says it is gone.

    Returns:
        True if the gateway accepted the message.
    """
    delivery = deps.gateway.post_many([connection_id], messages.encode(message))
    forget_gone(deps, delivery)
    return bool(delivery.delivered)


def publish(deps: Deps, game_id: str, new_events: Sequence[Event]) -> Delivery:
    """Push new events of one game, then its leaderboard, to that game's subscribers only.

    Subscribers come from an index read by game; connections of other games are never touched.
    Only connections the gateway reports gone (410) are deleted.

    With `FanoutMode.STREAM` this sends nothing: the broadcaster functions pick the events up
    from the table's change stream (`services.fanout`).

    Returns:
        The combined delivery report of the last message (what reached whom).
    """
    if deps.fanout is FanoutMode.STREAM:
        return Delivery()
    subscribers = deps.store.subscribers(game_id, now=deps.clock())
    if not subscribers or not new_events:
        return Delivery()
    payloads = [messages.encode(messages.event_message(e)) for e in new_events]
    if any(e.type in _MOVES_LEADERBOARD for e in new_events):
        board = deps.store.leaderboard(game_id, limit=DEFAULT_LEADERBOARD_SIZE)
        payloads.append(messages.encode(messages.leaderboard_update(board, deps.clock())))
    live: Sequence[str] = subscribers
    delivery = Delivery()
    for payload in payloads:
        delivery = deps.gateway.post_many(live, payload)
        forget_gone(deps, delivery)
        gone = set(delivery.gone)
        live = [c for c in live if c not in gone]
        if not live:
            break
    return delivery
