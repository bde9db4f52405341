"""WebSocket $disconnect: forget the connection and its subscriptions (best effort, as AWS)."""

from __future__ import annotations

import logging
from typing import Any

from backend import wiring
from backend.handlers.events import WebSocketRequest
from backend.services import connections

log = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Delete the connection's rows; TTLs clean up if this event never arrives."""
    request = WebSocketRequest.from_event(event)
    log.info(
        "disconnect %s: %s %s",
        request.connection_id,
        request.disconnect_status,
        request.disconnect_reason,
    )
    connections.disconnect(wiring.deps(), request.connection_id)
    return {"statusCode": 200}
