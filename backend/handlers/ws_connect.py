"""WebSocket $connect: record the connection the authorizer allowed."""

from __future__ import annotations

from typing import Any

from backend import wiring
from backend.domain.errors import BingoError
from backend.handlers.errors import status_of
from backend.handlers.events import WebSocketRequest
from backend.services import connections


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Store the connection; a non-2xx status makes API Gateway refuse the upgrade."""
    request = WebSocketRequest.from_event(event)
    try:
        connections.connect(wiring.deps(), request.connection_id, request.claims())
    except BingoError as error:
        return {"statusCode": status_of(error)}
    return {"statusCode": 200}
