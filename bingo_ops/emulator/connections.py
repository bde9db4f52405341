"""Live WebSocket connections and the in-process `@connections` gateway over them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from backend.ports.gateway import Delivery
from bingo_ops.emulator.metering import Meter

# API Gateway refuses management posts above 128 KB with 413 PayloadTooLargeException.
MAX_POST_BYTES = 128 * 1024


def new_connection_id() -> str:
    """An id shaped like API Gateway's (12 random bytes, base64, e.g. `L0SM9cOFvHcCIhw=`).

    The URL-safe alphabet keeps ids usable in `/@connections/{id}` paths without escaping.
    """
    return base64.urlsafe_b64encode(os.urandom(12)).decode()


@dataclass(slots=True)
class LiveConnection:
    """One open WebSocket and what API Gateway knows about it."""

    connection_id: str
    socket: ServerConnection
    authorizer: dict[str, Any]
    connected_at_ms: int
    source_ip: str
    user_agent: str
    opened_at: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)
    last_active_ms: int = 0
    closing: bool = False

    def touch(self) -> None:
        """A data message arrived: the idle timer restarts."""
        self.last_active = time.monotonic()
        self.last_active_ms = int(time.time() * 1000)

    def view(self) -> dict[str, Any]:
        """GetConnection's body (rest-json, ISO 8601 timestamps, lower-case member names)."""

        def iso(ms: int) -> str:
            return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")

        return {
            "connectedAt": iso(self.connected_at_ms),
            "lastActiveAt": iso(self.last_active_ms or self.connected_at_ms),
            "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent},
        }


class Registry:
    """The open connections of one emulator, reachable from handler threads.

    Posts are written with websockets' synchronous `broadcast`, straight into each socket's
    transport on the event loop thread: no task or queue per connection, and the frames a
    connection receives keep the order in which they were posted.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, meter: Meter) -> None:
        self.loop = loop
        self.meter = meter
        self._live: dict[str, LiveConnection] = {}

    def __len__(self) -> int:
        return len(self._live)

    def get(self, connection_id: str) -> LiveConnection | None:
        """The live connection with that id, if open."""
        conn = self._live.get(connection_id)
        if conn is None or conn.closing or conn.socket.state is not State.OPEN:
            return None
        return conn

    def add(self, conn: LiveConnection) -> None:
        """Register an open connection (call on the loop)."""
        self._live[conn.connection_id] = conn

    def remove(self, connection_id: str) -> None:
        """Forget a connection (call on the loop)."""
        self._live.pop(connection_id, None)

    def all(self) -> list[LiveConnection]:
        """Every open connection."""
        return list(self._live.values())

    def send(self, conns: Sequence[LiveConnection], text: str) -> None:
        """Write one text frame to each connection (call on the loop)."""
        broadcast([c.socket for c in conns], text)
        size = len(text.encode())
        for _ in conns:
            self.meter.message_out(size)

    def post_many(self, connection_ids: Sequence[str], data: bytes) -> list[int]:
        """Post to several connections (call on the loop); management API status per id."""
        statuses, targets = [], []
        for cid in connection_ids:
            conn = self.get(cid)
            if conn is None:
                status = 410
            elif len(data) > MAX_POST_BYTES:
                status = 413
            else:
                targets.append(conn)
                status = 200
            self.meter.management_call("PostToConnection", status)
            statuses.append(status)
        if targets:
            self.send(targets, data.decode("utf-8", errors="replace"))
        return statuses

    def post(self, connection_id: str, data: bytes) -> int:
        """Post to one connection (call on the loop); returns the management API status."""
        return self.post_many([connection_id], data)[0]


class InProcessGateway:
    """`ConnectionGateway` for handlers running in worker threads of this process.

    Equivalent to calling `@connections` over HTTP, minus the HTTP: each fan-out hops onto
    the event loop once and is written there.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def _post_all(self, ids: Sequence[str], data: bytes) -> list[int]:
        return self.registry.post_many(ids, data)

    async def _post_each(self, messages: Sequence[tuple[str, bytes]]) -> list[int]:
        return [self.registry.post(cid, data) for cid, data in messages]

    def post_many(self, connection_ids: Sequence[str], data: bytes) -> Delivery:
        """See `ConnectionGateway.post_many`."""
        unique = list(dict.fromkeys(connection_ids))
        future = asyncio.run_coroutine_threadsafe(self._post_all(unique, data), self.registry.loop)
        return _delivery(unique, future.result(timeout=30))

    def post_each(self, messages: Sequence[tuple[str, bytes]]) -> Delivery:
        """See `ConnectionGateway.post_each`: one hop onto the loop for all of them."""
        future = asyncio.run_coroutine_threadsafe(self._post_each(messages), self.registry.loop)
        return _delivery([cid for cid, _ in messages], future.result(timeout=30))


def _delivery(connection_ids: Sequence[str], statuses: Sequence[int]) -> Delivery:
    """A management API status per post, as the port's report."""
    results = list(zip(connection_ids, statuses, strict=True))
    delivered = tuple(c for c, s in results if s == 200)
    gone = tuple(dict.fromkeys(c for c, s in results if s == 410))
    failed = {c: f"HTTP {s}" for c, s in results if s not in (200, 410)}
    return Delivery(delivered=delivered, gone=gone, failed=failed)


async def close_connection(conn: LiveConnection, code: int, reason: str) -> None:
    """Close a connection from the server side (idle/hard timeout, DELETE @connections)."""
    conn.closing = True
    with contextlib.suppress(ConnectionClosed):
        await conn.socket.close(code, reason)
