"""The one place where `BingoError`s become HTTP responses, WebSocket error frames or Denies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from backend.domain import messages
from backend.domain.errors import (
    BingoError,
    Conflict,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    NoBingo,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)

# First match wins, so subclasses come before their bases.
_STATUS: tuple[tuple[type[BingoError], int], ...] = (
    (PayloadTooLarge, 413),
    (InvalidRequest, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (MethodNotAllowed, 405),
    (Conflict, 409),
    (NoBingo, 422),
    (Unavailable, 503),
)


def status_of(error: BingoError) -> int:
    """The HTTP status of an error (500 for anything unmapped)."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def json_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    }


def http_error(error: BingoError, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`{"error": {"code", "message"}}` with the error's status (never a 200)."""
    status = status_of(error)
    extra = dict(headers or {})
    if status == 401:
        # RFC 6750 section 3: tell the client which scheme to use.
        extra.setdefault("www-authenticate", 'Bearer realm="bingo"')
    body = {"error": {"code": error.code, "message": error.message}}
    return json_response(status, body, extra)


def internal_http_error(request_id: str) -> dict[str, Any]:
    """The answer to an unexpected exception: no internals, a request id to find the log by."""
    body = {
        "error": {
            "code": "internal_error",
            "message": f"internal error; quote request id {request_id}",
        }
    }
    return json_response(500, body)


def ws_error(error: BingoError, action: str | None) -> dict[str, Any]:
    """The `error` frame for the connection whose message failed."""
    return messages.error(error.code, error.message, action)


def authorizer_denies(error: BingoError) -> bool:
    """True when a verified token may not connect (Deny, 403); False for a bad token (401)."""
    return isinstance(error, Forbidden)
