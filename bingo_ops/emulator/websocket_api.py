"""The WebSocket API: authorizer and $connect on upgrade, route selection, limits, timeouts.

Behaviour follows API Gateway's documented WebSocket semantics
(https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api.html):
a missing identity source is refused with 401 before the authorizer runs; an authorizer that
raises "Unauthorized" gives 401 and a Deny 403; a non-2xx from $connect refuses the upgrade with
that status; messages route on `$request.body.action` with unmatched ones to `$default`; routes
are one-way (a handler's return value is not sent back); a handler crash sends the client an
"Internal server error" frame; frames over 32 KB or messages over 128 KB close with 1009 and
binary frames with 1003; idle (10 min) and hard (2 h) limits close the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from backend.handlers import ws_authorizer, ws_connect, ws_disconnect, ws_message
from bingo_ops.emulator import events
from bingo_ops.emulator.connections import (
    LiveConnection,
    Registry,
    close_connection,
    new_connection_id,
)
from bingo_ops.emulator.events import WsSite
from bingo_ops.emulator.lambdas import LambdaRuntime
from bingo_ops.emulator.metering import Meter

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024
IDLE_TIMEOUT_S = 600.0
HARD_TIMEOUT_S = 7200.0
ROUTE_KEYS = frozenset(ws_message.ROUTES)
GOING_AWAY = 1001
UNSUPPORTED_DATA = 1003
NO_STATUS = 1005
NO_STATUS_REASON = "Client-side close frame status not set"


def select_route(text: str) -> str:
    """The route key for a message, as `$request.body.action` selects it."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        # Not JSON, digits beyond int's limit, or nesting deeper than the parser's stack: no
        # `action` can be read, so the message goes to `$default` (and never kills the socket).
        return "$default"
    action = body.get("action") if isinstance(body, dict) else None
    return action if isinstance(action, str) and action in ROUTE_KEYS else "$default"


class WebSocketApi:
    """The handshake and message loop of the WebSocket API.

    Args:
        runtime: Runs the handlers.
        registry: Open connections.
        meter: Counts messages and connection time.
        site: Domain and stage the events report.
        idle_timeout_s: Close a connection that sent no data message for this long.
        hard_timeout_s: Close any connection this long after it opened.
    """

    def __init__(
        self,
        runtime: LambdaRuntime,
        registry: Registry,
        meter: Meter,
        site: WsSite,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        hard_timeout_s: float = HARD_TIMEOUT_S,
    ) -> None:
        self.runtime = runtime
        self.registry = registry
        self.meter = meter
        self.site = site
        self.idle_timeout_s = idle_timeout_s
        self.hard_timeout_s = hard_timeout_s
        self._accepted: dict[ServerConnection, LiveConnection] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def _refuse(self, connection: ServerConnection, status: int) -> Response:
        self.meter.connection_rejected(status)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        response = connection.respond(status, json.dumps({"message": phrase}) + "\n")
        response.headers["Content-Type"] = "application/json"
        return response

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Authorize and $connect before the upgrade; a Response refuses it."""
        url = urlsplit(request.path)
        if url.path.rstrip("/") != f"/{self.site.stage}":
            return self._refuse(connection, 404)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if not query.get("token"):
            return self._refuse(connection, 401)  # identity source missing: no invocation
        headers = _headers(request.headers)
        source_ip = str(connection.remote_address[0]) if connection.remote_address else ""
        connection_id = new_connection_id()
        connected_at = events.millis_now()
        auth_event = events.authorizer_event(
            self.site, connection_id, query, headers, connected_at, source_ip
        )
        try:
            verdict = await self.runtime.invoke("ws_authorizer", ws_authorizer.handler, auth_event)
        except Exception as exc:
            return self._refuse(connection, 401 if str(exc) == "Unauthorized" else 500)
        statement = verdict.get("policyDocument", {}).get("Statement", [{}])[0]
        if statement.get("Effect") != "Allow":
            return self._refuse(connection, 403)
        authorizer = {
            "principalId": verdict.get("principalId", ""),
            "integrationLatency": 0,
            **{k: str(v) for k, v in (verdict.get("context") or {}).items()},
        }
        connect_event = events.connect_event(
            self.site, connection_id, query, headers, authorizer, connected_at, source_ip
        )
        try:
            result = await self.runtime.invoke("ws_connect", ws_connect.handler, connect_event)
            status = int((result or {}).get("statusCode", 200))
        except Exception:
            log.exception("$connect failed")
            status = 500
        if not 200 <= status < 300:
            return self._refuse(connection, status)
        self._accepted[connection] = LiveConnection(
            connection_id=connection_id,
            socket=connection,
            authorizer=authorizer,
            connected_at_ms=connected_at,
            source_ip=source_ip,
            user_agent=headers.get("User-Agent", ""),
        )
        return None

    async def handler(self, connection: ServerConnection) -> None:
        """The life of one accepted connection."""
        conn = self._accepted.pop(connection)
        conn.touch()
        self.registry.add(conn)
        self.meter.connection_opened(conn.connection_id)
        opened = time.monotonic()
        # API Gateway invokes the integration for each message on its own, so messages of one
        # connection run concurrently (and their replies may interleave), as on AWS.
        inflight: set[asyncio.Task[None]] = set()
        try:
            async for message in connection:
                if isinstance(message, bytes):
                    await close_connection(
                        conn, UNSUPPORTED_DATA, "Binary frames are not supported"
                    )
                    break
                conn.touch()
                self.meter.message_in(len(message.encode()))
                task = asyncio.create_task(self._dispatch(conn, message))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
        except ConnectionClosed:
            pass
        finally:
            self.registry.remove(conn.connection_id)
            self.meter.connection_closed(conn.connection_id)
            # Invocations already running finish (their posts now get 410) before $disconnect.
            await asyncio.gather(*inflight, return_exceptions=True)
            await self._disconnect(conn, connection, time.monotonic() - opened)

    async def _dispatch(self, conn: LiveConnection, message: str) -> None:
        route = select_route(message)
        event = events.message_event(
            self.site,
            conn.connection_id,
            route,
            message,
            conn.authorizer,
            conn.connected_at_ms,
            conn.source_ip,
        )
        try:
            await self.runtime.invoke("ws_message", ws_message.handler, event, route=route)
        except Exception:
            log.exception("handler failed on route %s", route)
            frame = {
                "message": "Internal server error",
                "connectionId": conn.connection_id,
                "requestId": event["requestContext"]["requestId"],
            }
            self.registry.send([conn], json.dumps(frame))

    def sweep_interval(self) -> float:
        """How often `sweep_forever` looks: a tenth of the shorter limit, at most 1 s."""
        return min(1.0, self.idle_timeout_s / 10, self.hard_timeout_s / 10)

    async def sweep_forever(self) -> None:
        """Close connections past the idle or the hard limit, for every connection at once.

        One task for the whole stack instead of a timer task per connection: a connection
        then costs the server little more than the websockets library's own state.
        """
        while True:
            await asyncio.sleep(self.sweep_interval())
            now = time.monotonic()
            expired = [
                conn
                for conn in self.registry.all()
                if not conn.closing
                and (
                    now >= conn.last_active + self.idle_timeout_s
                    or now >= conn.opened_at + self.hard_timeout_s
                )
            ]
            for conn in expired:
                # Closing waits for the client's close frame; never let one slow client hold
                # up the sweep of the others.
                task = asyncio.create_task(close_connection(conn, GOING_AWAY, "Going away"))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def _disconnect(
        self, conn: LiveConnection, connection: ServerConnection, lived_s: float
    ) -> None:
        code = int(connection.close_code) if connection.close_code is not None else 1006
        reason = connection.close_reason or ""
        if code == NO_STATUS and not reason:
            # What API Gateway reports for a close frame without a status code (captured
            # $disconnect events; see tests/events/README.md).
            reason = NO_STATUS_REASON
        event = events.disconnect_event(
            self.site,
            conn.connection_id,
            conn.authorizer,
            conn.connected_at_ms,
            code,
            reason,
            conn.source_ip,
        )
        try:
            await self.runtime.invoke("ws_disconnect", ws_disconnect.handler, event)
        except Exception:
            log.exception("$disconnect failed for %s after %.1f s", conn.connection_id, lived_s)


def _headers(headers: Headers) -> dict[str, Any]:
    return dict(headers.raw_items())
