"""The gateway port: posting messages to WebSocket connections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Delivery:
    """What happened to one fan-out.

    Attributes:
        delivered: Connections that accepted the message.
        gone: Connections the gateway reported gone (HTTP 410); only these may be deleted.
        failed: Connections that failed for another reason (throttled, 5xx after retries),
            with the reason. They are kept: a failure is not proof that a client left.
    """

    delivered: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)


class ConnectionGateway(Protocol):
    """Posts data to connections, as API Gateway's `@connections` management API does."""

    def post_many(self, connection_ids: Sequence[str], data: bytes) -> Delivery:
        """Post `data` to each connection; never raises for a single connection's failure.

        Order of delivery between connections is unspecified; each connection receives the
        message at most once per call.
        """
        ...

    def post_each(self, messages: Sequence[tuple[str, bytes]]) -> Delivery:
        """Post a message of its own to each connection, as concurrently as `post_many` does.

        For personalised fan-out (a player's own leaderboard view): one call instead of one
        round of `post_many` per connection. Never raises for a single connection's failure;
        a connection named twice gets both messages, in order.
        """
        ...
