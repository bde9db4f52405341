"""An in-process `ConnectionGateway`: each open connection has an outbox in memory.

Used by `bingo-ops demo` and by tests that drive handlers without sockets. A connection that
was never opened, or was closed, answers like API Gateway's 410 Gone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from backend.ports.gateway import Delivery


class InMemoryGateway:
    """Keeps what was posted to each open connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outboxes: dict[str, list[bytes]] = {}
        self.posts = 0

    def open(self, connection_id: str) -> None:
        """Make a connection reachable."""
        with self._lock:
            self._outboxes.setdefault(connection_id, [])

    def close(self, connection_id: str) -> None:
        """Make a connection unreachable: later posts to it are reported gone."""
        with self._lock:
            self._outboxes.pop(connection_id, None)

    def post_many(self, connection_ids: Sequence[str], data: bytes) -> Delivery:
        """See `ConnectionGateway.post_many`."""
        delivered, gone = [], []
        with self._lock:
            for cid in dict.fromkeys(connection_ids):
                self.posts += 1
                box = self._outboxes.get(cid)
                if box is None:
                    gone.append(cid)
                else:
                    box.append(data)
                    delivered.append(cid)
        return Delivery(delivered=tuple(delivered), gone=tuple(gone))

    def post_each(self, messages: Sequence[tuple[str, bytes]]) -> Delivery:
        """See `ConnectionGateway.post_each`."""
        delivered: list[str] = []
        gone: list[str] = []
        for connection_id, data in messages:
            one = self.post_many([connection_id], data)
            delivered.extend(one.delivered)
            gone.extend(one.gone)
        return Delivery(delivered=tuple(delivered), gone=tuple(dict.fromkeys(gone)))

    def drain(self, connection_id: str) -> list[dict[str, Any]]:
        """Take and decode the messages waiting for a connection."""
        with self._lock:
            box = self._outboxes.get(connection_id, [])
            taken, box[:] = list(box), []
        return [json.loads(m) for m in taken]
