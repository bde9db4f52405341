"""WebSocket messages, routed on `action`; every reply and error goes to the sender only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from backend import wiring
from backend.domain import validation
from backend.domain.errors import BingoError, UnknownAction
from backend.domain.tokens import TokenClaims
from backend.handlers.errors import ws_error
from backend.handlers.events import WebSocketRequest
from backend.services import broadcast, connections
from backend.services.context import Deps

# Client messages are a few dozen bytes; anything near API Gateway's 32 KB frame is hostile.
MAX_MESSAGE_BYTES = 4096

Route = Callable[[Deps, str, TokenClaims, Mapping[str, Any]], None]


def _subscribe(deps: Deps, cid: str, claims: TokenClaims, body: Mapping[str, Any]) -> None:
    game_id = validation.identifier(body, "gameId")
    feed = validation.optional_boolean(body, "feed")
    connections.subscribe(deps, cid, claims, game_id, feed)


def _unsubscribe(deps: Deps, cid: str, claims: TokenClaims, body: Mapping[str, Any]) -> None:
    connections.unsubscribe(deps, cid, validation.identifier(body, "gameId"))


def _leaderboard(deps: Deps, cid: str, claims: TokenClaims, body: Mapping[str, Any]) -> None:
    connections.get_leaderboard(deps, cid, claims, validation.identifier(body, "gameId"))


def _resume(deps: Deps, cid: str, claims: TokenClaims, body: Mapping[str, Any]) -> None:
    game_id = validation.identifier(body, "gameId")
    after = validation.integer(body, "afterSeq", minimum=0, maximum=2**53)
    connections.resume(deps, cid, claims, game_id, after)


def _ping(deps: Deps, cid: str, claims: TokenClaims, body: Mapping[str, Any]) -> None:
    connections.ping(deps, cid)


ROUTES: Mapping[str, Route] = {
    "subscribe": _subscribe,
    "unsubscribe": _unsubscribe,
    "get_leaderboard": _leaderboard,
    "resume": _resume,
    "ping": _ping,
}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Run one client message; bad input gets an `error` frame and changes nothing."""
    request = WebSocketRequest.from_event(event)
    deps = wiring.deps()
    action: str | None = None
    try:
        body = validation.parse_json_object(request.body(), max_bytes=MAX_MESSAGE_BYTES)
        raw_action = body.get("action")
        action = raw_action if isinstance(raw_action, str) and len(raw_action) <= 64 else None
        route = ROUTES.get(action or "")
        if route is None:
            known = ", ".join(ROUTES)
            raise UnknownAction(f"unknown action {raw_action!r}; actions are: {known}")
        route(deps, request.connection_id, request.claims(), body)
    except BingoError as error:
        broadcast.send(deps, request.connection_id, ws_error(error, action))
    return {"statusCode": 200}
