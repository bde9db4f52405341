"""The HTTP API: one Lambda for every route of the wire contract (payload format 2.0)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from backend import wiring
from backend.domain import messages, scoring, tokens, validation
from backend.domain.errors import (
    BingoError,
    InvalidRequest,
    MethodNotAllowed,
    RouteNotFound,
    Unauthorized,
)
from backend.domain.tokens import TokenClaims, TokenKind
from backend.handlers.errors import http_error, internal_http_error, json_response
from backend.handlers.events import HttpRequest
from backend.services import admin, players, queries
from backend.services.context import Deps

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
MAX_ADMIN_BODY_BYTES = 64 * 1024
READERS = (TokenKind.USER, TokenKind.PUBLIC, TokenKind.ADMIN)
# RFC 9745: the polling endpoint has been deprecated since the WebSocket API replaced it.
DEPRECATION = "@1735689600"  # 2025-01-01T00:00:00Z


@dataclass(frozen=True)
class Call:
    """One matched request: the dependencies, the request and the path parameters."""

    deps: Deps
    request: HttpRequest
    params: Mapping[str, str]

    def claims(self, accept: tuple[TokenKind, ...]) -> TokenClaims:
        """Verify the bearer token against the kinds this route accepts.

        Raises:
            Unauthorized: no token or a bad one.
            Forbidden: a token of another kind.
        """
        token = self.request.bearer_token()
        if token is None:
            raise Unauthorized("send a token as 'Authorization: Bearer <token>'")
        return self.deps.tokens.verify(token, now=self.deps.clock(), accept=accept)

    def reader(self, *permissions: str) -> TokenClaims:
        """Verify a token that may read this game's standings or log.

        Raises:
            Unauthorized: no token or a bad one.
            Forbidden: a public token without a permission, or a player's token for another
                game (a player reads its own game, as on the WebSocket).
        """
        claims = self.claims(READERS)
        for permission in permissions:
            tokens.require_permission(claims, permission)
        tokens.require_game(claims, self.game_id)
        return claims

    def body(self, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
        """The JSON object body."""
        return validation.parse_json_object(self.request.body(), max_bytes=max_bytes)

    def query_int(self, name: str, default: int, minimum: int, maximum: int) -> int:
        """An integer query parameter within bounds."""
        raw = self.request.query.get(name)
        if raw is None:
            return default
        # [0-9], not \d: \d also matches other scripts' digits (U+0663), which int() accepts.
        if not re.fullmatch(r"[0-9]{1,16}", raw):
            raise InvalidRequest(f"{name} must be an integer from {minimum} to {maximum}")
        return validation.integer({name: int(raw)}, name, minimum=minimum, maximum=maximum)

    @property
    def game_id(self) -> str:
        """The `{gameId}` path parameter."""
        return self.params["gameId"]


Response = dict[str, Any]
Handler = Callable[[Call], Response]


def _limit(call: Call) -> int:
    return call.query_int(
        "limit", scoring.DEFAULT_LEADERBOARD_SIZE, 1, scoring.MAX_LEADERBOARD_SIZE
    )


def join(call: Call) -> Response:
    """POST /join {nickname, gameId?} -> 201 with a user token."""
    body = call.body()
    joined = players.join(
        call.deps, body.get("nickname"), validation.optional_identifier(body, "gameId")
    )
    return json_response(201, joined.view())


def public_token(call: Call) -> Response:
    """POST /public/token {deviceId?} -> 201 with a 30-day public token."""
    body = call.body() if call.request.body() else {}
    device_id = validation.optional_identifier(body, "deviceId") or call.deps.new_id()
    token, expires_at = call.deps.tokens.issue_public(device_id, now=call.deps.clock())
    view = {
        "deviceId": device_id,
        "publicToken": token,
        "permissions": sorted(tokens.PUBLIC_PERMISSIONS),
        "expiresAt": messages.millis(expires_at),
    }
    return json_response(201, view)


def current_game(call: Call) -> Response:
    """GET /games/current."""
    call.claims(READERS)
    return json_response(200, queries.current_game(call.deps))


def history(call: Call) -> Response:
    """GET /games/history?limit=N."""
    call.claims(READERS)
    limit = call.query_int("limit", 20, 1, queries.MAX_HISTORY)
    return json_response(200, queries.history(call.deps, limit))


def get_game(call: Call) -> Response:
    """GET /games/{gameId}."""
    call.claims(READERS)
    return json_response(200, queries.get_game(call.deps, call.game_id))


def card(call: Call) -> Response:
    """GET /games/{gameId}/card (user)."""
    claims = call.claims((TokenKind.USER,))
    return json_response(200, players.get_card(call.deps, claims, call.game_id))


def mark(call: Call) -> Response:
    """POST /games/{gameId}/marks {word} (user)."""
    claims = call.claims((TokenKind.USER,))
    word = call.body().get("word")
    return json_response(200, players.mark(call.deps, claims, call.game_id, word))


def bingo(call: Call) -> Response:
    """POST /games/{gameId}/bingo (user)."""
    claims = call.claims((TokenKind.USER,))
    return json_response(201, players.claim_bingo(call.deps, claims, call.game_id))


def leaderboard(call: Call) -> Response:
    """GET /games/{gameId}/leaderboard?limit=N."""
    claims = call.reader(tokens.READ_LEADERBOARD)
    viewer = claims.subject if claims.kind is TokenKind.USER else None
    return json_response(200, queries.leaderboard(call.deps, call.game_id, _limit(call), viewer))


def events(call: Call) -> Response:
    """GET /games/{gameId}/events?after=SEQ&limit=N."""
    call.reader(tokens.READ_EVENTS)
    after = call.query_int("after", 0, 0, 2**53)
    limit = call.query_int("limit", 100, 1, queries.MAX_EVENTS_PER_READ)
    return json_response(200, queries.events(call.deps, call.game_id, after, limit))


def stream(call: Call) -> Response:
    """GET /leaderboard/{gameId}/stream: the deprecated 3 s polling endpoint (JSON or SSE)."""
    call.reader(tokens.READ_LEADERBOARD, tokens.READ_EVENTS)
    # An EventSource reconnects with Last-Event-ID; a plain poller passes ?after=.
    last_id = call.request.headers.get("last-event-id")
    after = call.query_int("after", 0, 0, 2**53) if last_id is None else _seq(last_id)
    poll = queries.poll(call.deps, call.game_id, after, _limit(call))
    headers = {
        "deprecation": DEPRECATION,
        "link": '</games/{id}/leaderboard>; rel="successor-version"'.replace("{id}", call.game_id),
        "cache-control": "no-store",
    }
    if "text/event-stream" not in call.request.headers.get("accept", ""):
        return json_response(200, poll, headers)
    return {
        "statusCode": 200,
        "headers": {"content-type": "text/event-stream; charset=utf-8", **headers},
        "body": _sse(poll),
    }


def _seq(raw: str) -> int:
    if not re.fullmatch(r"[0-9]{1,16}", raw.strip()):
        raise InvalidRequest("Last-Event-ID must be an event sequence number")
    return int(raw.strip())


def _sse(poll: Mapping[str, Any]) -> str:
    # Server-sent events framing: https://html.spec.whatwg.org/multipage/server-sent-events.html
    lines = [f"retry: {poll['retry']}", ""]
    for event in poll["events"]:
        message = {"type": "activity_event", "gameId": poll["gameId"], "seq": event["seq"]}
        message["event"] = event
        lines += [
            f"id: {event['seq']}",
            "event: activity_event",
            f"data: {json.dumps(message)}",
            "",
        ]
    board = {k: v for k, v in poll.items() if k not in ("events", "retry")}
    board["type"] = "leaderboard_update"
    lines += [f"id: {poll['seq']}", "event: leaderboard_update", f"data: {json.dumps(board)}", ""]
    return "\n".join(lines) + "\n"


def create_game(call: Call) -> Response:
    """POST /admin/games {gridSize, words?, name?} (admin)."""
    call.claims((TokenKind.ADMIN,))
    body = call.body(MAX_ADMIN_BODY_BYTES)
    name = validation.text(body, "name", max_chars=80, required=False) or "Buzzword Bingo"
    view = admin.create_game(
        call.deps, name=name, grid_size=body.get("gridSize", 5), words=body.get("words")
    )
    return json_response(201, view)


def change_state(call: Call) -> Response:
    """POST /admin/games/{gameId}/state {state, reason} (admin)."""
    call.claims((TokenKind.ADMIN,))
    body = call.body()
    # A missing or non-string state is a malformed request (400), not a refused transition.
    state = validation.text(body, "state", max_chars=32)
    reason = validation.text(body, "reason", max_chars=validation.MAX_REASON_CHARS, required=False)
    view = admin.change_state(call.deps, call.game_id, state=state, reason=reason)
    return json_response(200, view)


# API Gateway route keys ("METHOD /path/{param}") and their handlers; literal paths come before
# the `{gameId}` route they overlap with. The deployer creates one HTTP API route per key.
ROUTE_KEYS: tuple[tuple[str, Handler], ...] = (
    ("POST /join", join),
    ("POST /public/token", public_token),
    ("GET /games/current", current_game),
    ("GET /games/history", history),
    ("GET /games/{gameId}", get_game),
    ("GET /games/{gameId}/card", card),
    ("POST /games/{gameId}/marks", mark),
    ("POST /games/{gameId}/bingo", bingo),
    ("GET /games/{gameId}/leaderboard", leaderboard),
    ("GET /games/{gameId}/events", events),
    ("GET /leaderboard/{gameId}/stream", stream),
    ("POST /admin/games", create_game),
    ("POST /admin/games/{gameId}/state", change_state),
)


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template))


# (method, path pattern, handler), derived from ROUTE_KEYS.
ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = tuple(
    (key.split(" ", 1)[0], _pattern(key.split(" ", 1)[1]), fn) for key, fn in ROUTE_KEYS
)
_KEY_OF = {fn: key for key, fn in ROUTE_KEYS}


def route_key(method: str, path: str) -> str | None:
    """The route key (`POST /games/{gameId}/marks`) a request matches, or None."""
    try:
        fn, _ = route(method, path)
    except BingoError:
        return None
    return _KEY_OF[fn]


def route(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The handler and path parameters for a request.

    Raises:
        RouteNotFound: no route has this path.
        MethodNotAllowed: the path exists with other methods only.
        InvalidRequest: a `{gameId}` that is not an id.
    """
    path = path.rstrip("/") or "/"
    allowed = []
    for route_method, pattern, fn in ROUTES:
        found = pattern.fullmatch(path)
        if found is None:
            continue
        if route_method != method:
            allowed.append(route_method)
            continue
        params = found.groupdict()
        if "gameId" in params and not validation.is_identifier(params["gameId"]):
            raise InvalidRequest("gameId must be an id of 1-64 letters, digits, '_' or '-'")
        return fn, params
    if allowed:
        # Overlapping patterns (`/games/current` and `/games/{gameId}`) name a method twice.
        methods = tuple(sorted(set(allowed)))
        raise MethodNotAllowed(f"{method} is not allowed here; use {', '.join(methods)}", methods)
    raise RouteNotFound(f"no route {method} {path}")


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Route one HTTP API request; errors become `{"error": {code, message}}` with a 4xx/5xx."""
    request = HttpRequest.from_event(event)
    try:
        fn, params = route(request.method, request.path)
        return fn(Call(wiring.deps(), request, params))
    except MethodNotAllowed as error:
        return http_error(error, {"allow": ", ".join(error.allowed)})
    except BingoError as error:
        return http_error(error)
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return internal_http_error(request.request_id)
