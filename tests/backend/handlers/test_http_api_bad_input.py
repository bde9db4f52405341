"""Malformed and hostile input on every HTTP route: a clear 4xx error, and nothing stored changes.

Each case changes one thing about a request that would otherwise succeed (the control test
below proves they do), starting from the shared position of the `world` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from backend.domain.tokens import (
    ADMIN_TOKEN_TTL_S,
    PUBLIC_TOKEN_TTL_S,
    READ_EVENTS,
    READ_LEADERBOARD,
    USER_TOKEN_TTL_S,
    Keyring,
    TokenKind,
    TokenService,
)
from backend.handlers import http_api

if TYPE_CHECKING:
    from conftest import Harness, World

READERS = ("user", "public", "admin")
KEEP: Any = object()  # "leave the route's valid default in place"


@dataclass(frozen=True)
class Route:
    """One route of the wire contract and a request that succeeds on it in the world."""

    name: str
    method: str
    path: str  # `{game}` stands for the game id
    kinds: tuple[str, ...] = ()  # token kinds accepted; empty: no token needed
    body: Any = None
    token: str | None = None  # who sends the valid request
    max_body: int = 16 * 1024


ROUTES = {
    r.name: r
    for r in (
        Route("join", "POST", "/join", body={"nickname": "dora", "gameId": "{waiting}"}),
        Route("public_token", "POST", "/public/token", body={"deviceId": "screen-9"}),
        Route("current_game", "GET", "/games/current", READERS, token="public"),
        Route("history", "GET", "/games/history", READERS, token="public"),
        Route("get_game", "GET", "/games/{game}", READERS, token="public"),
        Route("card", "GET", "/games/{game}/card", ("user",), token="bob"),
        Route("mark", "POST", "/games/{game}/marks", ("user",), {"word": "w-bravo"}, "alice"),
        Route("bingo", "POST", "/games/{game}/bingo", ("user",), token="alice"),
        Route("leaderboard", "GET", "/games/{game}/leaderboard", READERS, token="public"),
        Route("events", "GET", "/games/{game}/events", READERS, token="public"),
        Route("stream", "GET", "/leaderboard/{game}/stream", READERS, token="public"),
        Route(
            "create_game",
            "POST",
            "/admin/games",
            ("admin",),
            {"gridSize": 3, "name": "Room B"},
            "admin",
            max_body=64 * 1024,
        ),
        Route(
            "change_state",
            "POST",
            "/admin/games/{game}/state",
            ("admin",),
            {"state": "paused", "reason": "coffee"},
            "admin",
        ),
    )
}
GAME_ROUTES = [r for r in ROUTES.values() if "{game}" in r.path]
BODY_ROUTES = [r for r in ROUTES.values() if r.body is not None]
TOKEN_ROUTES = [r for r in ROUTES.values() if r.kinds]
USER_ROUTES = [r for r in ROUTES.values() if r.kinds == ("user",)]
ADMIN_ROUTES = [r for r in ROUTES.values() if r.kinds == ("admin",)]


@dataclass(frozen=True)
class Case:
    """A request that differs from the route's valid one, and the error it must get."""

    route: Route
    name: str
    status: int
    code: str
    token: str | None = KEEP  # a name `_token` resolves, or None for no token
    body: Any = KEEP
    game: str = "{game}"
    query: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tweak: Callable[[dict[str, Any]], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.route.name}-{self.name}"


def _forged(kind: TokenKind, h: Harness) -> str:
    """A well-formed token of the right kind and key id, signed with another secret."""
    service = TokenService({kind: Keyring.parse(kind, "t1:" + "f" * 40)})
    now = h.clock()
    if kind is TokenKind.USER:
        return service.issue_user("id-00002", "id-00001", "alice", now=now)
    if kind is TokenKind.PUBLIC:
        return service.issue_public("screen-a", now=now)[0]
    return service.issue_admin("organiser", now=now)


def _token(name: str | None, h: Harness, scene: World) -> str | None:
    if name is None:
        return None
    players = {**scene.playing.players, **scene.waiting.players}
    if name in players:
        return players[name].token
    now = h.clock()
    makers: dict[str, Callable[[], str]] = {
        "public": lambda: h.public_token(),
        "admin": lambda: h.admin_token(),
        "user": lambda: players["alice"].token,
        "garbage": lambda: "garbage",
        "empty-jwt": lambda: "..",
        "public-no-perms": lambda: h.public_token(permissions=frozenset()),
        "public-leaderboard-only": lambda: h.public_token(
            permissions=frozenset({READ_LEADERBOARD})
        ),
        "public-events-only": lambda: h.public_token(permissions=frozenset({READ_EVENTS})),
        # A genuine token for a session that never joined the game it names.
        "ghost": lambda: h.user_token("ghost-session", scene.playing.game_id, "ghost"),
        "expired-user": lambda: h.user_token(
            "id-00002", scene.playing.game_id, "alice", now=now - USER_TOKEN_TTL_S - 60
        ),
        "expired-public": lambda: h.public_token(now=now - PUBLIC_TOKEN_TTL_S - 60),
        "expired-admin": lambda: h.admin_token(now=now - ADMIN_TOKEN_TTL_S - 60),
        "forged-user": lambda: _forged(TokenKind.USER, h),
        "forged-public": lambda: _forged(TokenKind.PUBLIC, h),
        "forged-admin": lambda: _forged(TokenKind.ADMIN, h),
    }
    return makers[name]()


def _merge(route: Route, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = dict(route.body)
    body.update(changes)
    return body


def _without(route: Route, name: str) -> dict[str, Any]:
    return {k: v for k, v in route.body.items() if k != name}


def _invalid_base64(event: dict[str, Any]) -> None:
    event["body"], event["isBase64Encoded"] = "!!not base64!!", True


# -- the cases ----------------------------------------------------------------------------------
def _auth_cases() -> Iterator[Case]:
    for route in TOKEN_ROUTES:
        default = route.kinds[0] if route.kinds != READERS else "public"
        yield Case(route, "no-token", 401, "unauthorized", token=None)
        yield Case(route, "garbage-token", 401, "invalid_token", token="garbage")
        yield Case(route, "empty-jwt", 401, "invalid_token", token="empty-jwt")
        yield Case(route, "expired-token", 401, "token_expired", token=f"expired-{default}")
        yield Case(route, "forged-token", 401, "invalid_token", token=f"forged-{default}")
        yield Case(
            route,
            "basic-scheme",
            401,
            "unauthorized",
            token=None,
            headers={"authorization": "Basic YWxpY2U6c2VjcmV0"},
        )
        yield Case(
            route,
            "bearer-without-token",
            401,
            "unauthorized",
            token=None,
            headers={"authorization": "Bearer "},
        )
        yield Case(
            route,
            "token-in-query",
            401,
            "unauthorized",
            token=None,
            query={"token": "see-header"},
        )
        for kind in ("user", "public", "admin"):
            if kind not in route.kinds:
                yield Case(route, f"{kind}-token", 403, "wrong_token_kind", token=kind)
    for route in USER_ROUTES:
        yield Case(route, "token-of-another-game", 403, "wrong_game", token="carol")
        yield Case(route, "session-not-in-game", 404, "player_not_found", token="ghost")
    for name in ("leaderboard", "events", "stream"):
        # A player's token reads its own game's standings and log only, as on the WebSocket.
        yield Case(ROUTES[name], "user-token-of-another-game", 403, "wrong_game", token="carol")
    for name in ("leaderboard", "stream"):
        yield Case(ROUTES[name], "no-permissions", 403, "missing_permission", "public-no-perms")
    for name in ("events", "stream"):
        token = "public-leaderboard-only"
        yield Case(ROUTES[name], "no-read-events", 403, "missing_permission", token)
    yield Case(
        ROUTES["leaderboard"],
        "no-read-leaderboard",
        403,
        "missing_permission",
        "public-events-only",
    )


def _body_cases() -> Iterator[Case]:
    for route in BODY_ROUTES:
        yield Case(route, "malformed-json", 400, "malformed_json", body='{"nickname": ')
        yield Case(route, "json-array", 400, "malformed_json", body=[route.body])
        yield Case(route, "json-string", 400, "malformed_json", body='"hello"')
        yield Case(route, "json-number", 400, "malformed_json", body="5")
        yield Case(route, "json-null", 400, "malformed_json", body="null")
        yield Case(route, "json-nan", 400, "malformed_json", body='{"n": NaN}')
        yield Case(route, "nested-too-deep", 400, "malformed_json", body="[" * 3000 + "]" * 3000)
        yield Case(route, "base64-not-utf8", 400, "malformed_json", body=b"\xff\xfe{}")
        yield Case(route, "base64-invalid", 400, "malformed_json", tweak=_invalid_base64)
        padded = _merge(route, pad="x" * route.max_body)
        yield Case(route, "oversized", 413, "payload_too_large", body=padded)
        if route.name != "public_token":  # its body is optional
            yield Case(route, "no-body", 400, "malformed_json", body=None)
            yield Case(route, "empty-body", 400, "malformed_json", body="")
    # 20 KiB: fine for an admin creating a game, too much anywhere else.
    yield Case(
        ROUTES["change_state"],
        "over-16-kib",
        413,
        "payload_too_large",
        body=_merge(ROUTES["change_state"], pad="x" * 20_000),
    )


def _field_cases() -> Iterator[Case]:
    join, device, mark = ROUTES["join"], ROUTES["public_token"], ROUTES["mark"]
    create, state = ROUTES["create_game"], ROUTES["change_state"]
    for name, value in {
        "number": 123,
        "null": None,
        "list": ["dora"],
        "empty": "",
        "blank": "   ",
        "too-long": "d" * 21,
        "control-char": "do\x00ra",
        "newline": "do\nra",
        "bidi-override": "dora\u202e",
        "zero-width": "do\u200bra",
    }.items():
        yield Case(
            join, f"nickname-{name}", 400, "invalid_nickname", body=_merge(join, nickname=value)
        )
    yield Case(join, "nickname-missing", 400, "invalid_nickname", body=_without(join, "nickname"))
    for name, value in {"number": 5, "empty": "", "path": "../x", "long": "g" * 65}.items():
        yield Case(join, f"game-id-{name}", 400, "invalid_request", body=_merge(join, gameId=value))
    yield Case(join, "game-unknown", 404, "game_not_found", body=_merge(join, gameId="no-game"))
    yield Case(join, "nickname-taken", 409, "nickname_taken", body=_merge(join, nickname="CAROL"))
    for name, value in {"number": 5, "empty": "", "space": "a b", "long": "d" * 65}.items():
        body = _merge(device, deviceId=value)
        yield Case(device, f"device-id-{name}", 400, "invalid_request", body=body)
    for name, value in {
        "list": [],
        "number": 5,
        "null": None,
        "object": {"word": "w-bravo"},
        "empty": "",
        "blank": "  ",
        "too-long": "w" * 81,
        "control-char": "w-bravo\x07",
    }.items():
        yield Case(mark, f"word-{name}", 400, "invalid_request", body=_merge(mark, word=value))
    yield Case(mark, "word-missing", 400, "invalid_request", body={})
    yield Case(mark, "word-not-on-card", 400, "word_not_on_card", body=_merge(mark, word="nope"))
    for name, value in {
        "string": "4",
        "true": True,
        "seven": 7,
        "zero": 0,
        "negative": -3,
        "float": 4.0,
        "null": None,
        "list": [4],
    }.items():
        body = _merge(create, gridSize=value)
        yield Case(create, f"grid-size-{name}", 400, "invalid_request", body=body)
    for name, value in {
        "string": "synergy, leverage",
        "object": {"a": 1},
        "numbers": list(range(30)),
        "too-few": ["a", "b", "c"],
        "duplicates": ["w-x", "W-X", *(f"w{i}" for i in range(10))],
        "empty-word": ["", *(f"w{i}" for i in range(10))],
        "long-word": ["w" * 41, *(f"w{i}" for i in range(10))],
        "control-char": ["w\x00", *(f"w{i}" for i in range(10))],
        "too-many": [f"word {i}" for i in range(501)],
    }.items():
        yield Case(
            create, f"words-{name}", 400, "invalid_word_list", body=_merge(create, words=value)
        )
    for name, value in {"number": 5, "too-long": "n" * 81, "control-char": "Room\x1b[2J"}.items():
        yield Case(create, f"name-{name}", 400, "invalid_request", body=_merge(create, name=value))
    for name, value in {
        "number": 5,
        "null": None,
        "list": ["paused"],
        "object": {"state": "paused"},
        "empty": "",
    }.items():
        body = _merge(state, state=value)
        yield Case(state, f"state-{name}", 400, "invalid_request", body=body)
    yield Case(state, "state-missing", 400, "invalid_request", body=_without(state, "state"))
    for name, value in {"bogus": "bogus", "upper-case": "PAUSED"}.items():
        body = _merge(state, state=value)
        yield Case(state, f"state-{name}", 400, "invalid_request", body=body)
    for name, value in {"number": 5, "list": ["x"], "too-long": "r" * 201, "nul": "a\x00"}.items():
        body = _merge(state, reason=value)
        yield Case(state, f"reason-{name}", 400, "invalid_request", body=body)


def _path_cases() -> Iterator[Case]:
    bad_ids = {
        "encoded-slash": "..%2F",
        "encoded-nul": "%00",
        "dot": "a.b",
        "space": "a%20b",
        "long": "g" * 200,
        "sql": "x'%20OR%20'1'='1",
        "unicode": "gam\u00e9",
    }
    for route in GAME_ROUTES:
        for name, game in bad_ids.items():
            yield Case(route, f"game-id-{name}", 400, "invalid_request", game=game)
        if route.kinds == ("user",):
            # A player's token names its game: another id is refused before any lookup.
            yield Case(route, "game-unknown", 403, "wrong_game", game="no-such-game")
        else:
            yield Case(route, "game-unknown", 404, "game_not_found", game="no-such-game")


def _query_cases() -> Iterator[Case]:
    limits = {"history": 100, "leaderboard": 100, "events": 500, "stream": 100}
    for name, most in limits.items():
        for value in ("0", "-1", "abc", "1.5", "", " 5", "0x10", str(most + 1), "9" * 17, "\u0663"):
            label = f"limit-{value.strip() or 'empty'}"
            yield Case(ROUTES[name], label, 400, "invalid_request", query={"limit": value})
    for name in ("events", "stream"):
        for value in ("-1", "abc", "", "2.0", "9" * 17, str(2**60), "\uff15"):
            label = f"after-{value or 'empty'}"
            yield Case(ROUTES[name], label, 400, "invalid_request", query={"after": value})
    for value in ("abc", "-1", "", "1e3", "3, 4", "\u0663"):
        headers = {"last-event-id": value}
        label = f"last-event-id-{value or 'empty'}"
        yield Case(ROUTES["stream"], label, 400, "invalid_request", headers=headers)


CASES = [*_auth_cases(), *_body_cases(), *_field_cases(), *_path_cases(), *_query_cases()]


def _request(h: Harness, case: Case) -> Any:
    scene = h.scene
    assert scene is not None
    route = case.route
    ids = {"game": scene.playing.game_id, "waiting": scene.waiting.game_id}
    path = route.path.replace("{game}", case.game).format(**ids)
    token = _token(route.token if case.token is KEEP else case.token, h, scene)
    body = route.body if case.body is KEEP else case.body
    if isinstance(body, dict) and body.get("gameId") == "{waiting}":
        body = {**body, "gameId": ids["waiting"]}
    event = h.http_event(route.method, path, body, token, case.query, case.headers)
    if case.tweak is not None:
        case.tweak(event)
    return h.invoke_http(event)


# -- the tests ----------------------------------------------------------------------------------
def test_the_routes_here_are_every_route_of_the_api() -> None:
    covered = set()
    for route in ROUTES.values():
        handler, _ = http_api.route(route.method, route.path.format(game="g-1"))
        covered.add(handler)
    assert covered == {handler for _, _, handler in http_api.ROUTES}


@pytest.mark.parametrize("route", list(ROUTES.values()), ids=list(ROUTES))
def test_control_every_valid_request_succeeds(world: Harness, route: Route) -> None:
    if route.name == "bingo":  # a claim needs a complete line first
        assert world.scene is not None
        alice = world.scene.playing.players["alice"]
        for word in world.line_words(alice):
            world.mark(alice, word)

    reply = _request(world, Case(route, "control", 200, ""))

    assert reply.status in (200, 201), reply


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request_gets_a_clear_error_and_changes_nothing(world: Harness, case: Case) -> None:
    assert world.scene is not None
    before = world.snapshot()

    reply = _request(world, case)

    assert (reply.status, reply.body) == (
        case.status,
        {"error": {"code": case.code, "message": reply.body["error"]["message"]}},
    )
    assert reply.headers["content-type"] == "application/json"
    message = reply.body["error"]["message"]
    assert isinstance(message, str)
    assert 0 < len(message) <= 300
    if case.status == 401:
        assert reply.headers["www-authenticate"] == 'Bearer realm="bingo"'
    assert world.snapshot() == before
    for cid in world.scene.listeners:
        assert world.frames(cid) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("token", "x" * 5000), ("nickname", "\u202e" * 30)],
)
def test_error_messages_never_echo_hostile_input(world: Harness, name: str, value: str) -> None:
    if name == "token":
        reply = world.http("GET", "/games/current", token=value)
    else:
        reply = world.http("POST", "/join", {"nickname": value})

    assert 400 <= reply.status < 500
    assert value not in reply.body["error"]["message"]


# -- the state machine, through the admin route --------------------------------------------------
REFUSED = [
    ("open", "ended"),
    ("open", "open"),
    ("open", "bingo"),
    ("playing", "bingo"),
    ("playing", "open"),
    ("playing", "playing"),
    ("paused", "ended"),
    ("paused", "bingo"),
    ("ended", "playing"),
    ("ended", "open"),
    ("ended", "cancelled"),
    ("ended", "ended"),
    ("cancelled", "playing"),
    ("cancelled", "open"),
]


@pytest.mark.parametrize(("current", "target"), REFUSED, ids=[f"{a}-to-{b}" for a, b in REFUSED])
def test_state_machine_refusals_are_409_and_change_nothing(
    world: Harness, current: str, target: str
) -> None:
    assert world.scene is not None
    game_id = {"open": world.scene.waiting.game_id}.get(current, world.scene.playing.game_id)
    if current in ("paused", "ended", "cancelled"):
        world.set_state(game_id, current)
    world.frames("board-a")
    before = world.snapshot()

    reply = world.http(
        "POST",
        f"/admin/games/{game_id}/state",
        {"state": target, "reason": "try"},
        world.admin_token(),
    )

    assert reply.status == 409
    assert reply.body["error"]["code"] == "invalid_transition"
    assert world.snapshot() == before
    assert world.frames("board-a") == []


def test_bingo_state_is_reached_only_through_a_claim(world: Harness) -> None:
    assert world.scene is not None
    table = world.scene.playing
    alice = table.players["alice"]
    for word in world.line_words(alice):
        world.mark(alice, word)
    before = world.snapshot()

    refused = world.http(
        "POST", f"/admin/games/{table.game_id}/state", {"state": "bingo"}, world.admin_token()
    )

    assert (refused.status, refused.body["error"]["code"]) == (409, "invalid_transition")
    assert "claim" in refused.body["error"]["message"]
    assert world.snapshot() == before


def test_cases_are_distinct() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
