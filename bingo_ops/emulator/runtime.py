"""Invokes the real Lambda handlers in-process, as API Gateway would, and decodes replies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from backend.handlers import http_api, ws_authorizer, ws_connect, ws_disconnect, ws_message
from bingo_ops.emulator import events
from bingo_ops.emulator.events import LambdaContext, WsSite


@dataclass(frozen=True)
class HttpReply:
    """An HTTP API response as a client sees it."""

    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class InProcessApi:
    """The HTTP and WebSocket APIs without sockets: each call is one handler invocation."""

    site: WsSite = field(default_factory=WsSite)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    invocations: dict[str, int] = field(default_factory=dict)

    def _count(self, name: str) -> LambdaContext:
        self.invocations[name] = self.invocations.get(name, 0) + 1
        return LambdaContext(function_name=name)

    def http(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        query: str = "",
    ) -> HttpReply:
        """One HTTP API request."""
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        event = events.http_event(
            method,
            path,
            query=query,
            headers=headers,
            body=None if body is None else json.dumps(body),
        )
        raw = http_api.handler(event, self._count("http_api"))
        return HttpReply(raw["statusCode"], raw.get("headers", {}), raw.get("body", ""))

    def connect(self, connection_id: str, token: str | None) -> int:
        """Open a WebSocket connection; returns the HTTP status of the upgrade (101 = open)."""
        query = {"token": token} if token else {}
        headers = {"Host": self.site.domain_name}
        connected_at = events.millis_now()
        if not token:
            return 401  # API Gateway checks the identity source before invoking the authorizer
        auth_event = events.authorizer_event(self.site, connection_id, query, headers, connected_at)
        try:
            verdict = ws_authorizer.handler(auth_event, self._count("ws_authorizer"))
        except Exception as exc:
            if str(exc) == "Unauthorized":
                return 401
            return 500
        if verdict["policyDocument"]["Statement"][0]["Effect"] != "Allow":
            return 403
        authorizer = {"principalId": verdict["principalId"], **verdict.get("context", {})}
        event = events.connect_event(
            self.site, connection_id, query, headers, authorizer, connected_at
        )
        status = int(ws_connect.handler(event, self._count("ws_connect"))["statusCode"])
        if not 200 <= status < 300:
            return status
        self.connections[connection_id] = {"authorizer": authorizer, "connectedAt": connected_at}
        return 101

    def send(self, connection_id: str, body: str) -> None:
        """One client message on an open connection, routed on `action` as API Gateway does."""
        conn = self.connections[connection_id]
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError):
            action = None
        route = action if action in ws_message.ROUTES else "$default"
        event = events.message_event(
            self.site, connection_id, route, body, conn["authorizer"], conn["connectedAt"]
        )
        ws_message.handler(event, self._count("ws_message"))

    def disconnect(self, connection_id: str, status: int = 1000, reason: str = "") -> None:
        """Close a connection and run $disconnect."""
        conn = self.connections.pop(connection_id)
        event = events.disconnect_event(
            self.site, connection_id, conn["authorizer"], conn["connectedAt"], status, reason
        )
        ws_disconnect.handler(event, self._count("ws_disconnect"))
