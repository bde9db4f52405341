"""What every use case runs with: the ports, the token service, a clock, ids and randomness."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from backend.domain.cards import RandBelow
from backend.domain.tokens import TokenService
from backend.ports.dispatch import Dispatcher
from backend.ports.gateway import ConnectionGateway
from backend.ports.store import Store

# A WebSocket connection lives at most 2 hours on API Gateway; rows outlive it by a margin so
# that a late $disconnect still finds them, then expire on their own if it never comes.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
CONNECTION_TTL_S = 2 * 3600 + 300


class FanoutMode(StrEnum):
    """Who sends a game's news to its subscribers.

    `INLINE`: the invocation that wrote the news posts it to every subscriber at once, per
    event (the original design; W = 0). `STREAM`: writers only write; the broadcaster functions
    read the table's change stream and send per audience, coalesced per batching window.
    """

    INLINE = "inline"
    STREAM = "stream"


@dataclass(frozen=True)
class Deps:
    """The services' dependencies, built once per container by `backend.wiring`.

    Attributes:
        store: Persistence.
        gateway: Posts to WebSocket connections.
        tokens: Signs and verifies tokens.
        clock: Seconds since the epoch.
        randbelow: Uniform integers in [0, n) for drawing cards.
        new_id: Fresh unguessable ids for games and sessions.
        fanout: Whether writers post their news themselves or leave it to the stream.
        dispatcher: Starts one posting invocation per game for the players' broadcaster (None:
            it posts every game's views itself).
    """

    store: Store
    gateway: ConnectionGateway
    tokens: TokenService
    clock: Callable[[], float]
    randbelow: RandBelow
    new_id: Callable[[], str]
    fanout: FanoutMode = FanoutMode.INLINE
    dispatcher: Dispatcher | None = None
