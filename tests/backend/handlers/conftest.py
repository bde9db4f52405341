"""Handler-test harness: real SQLite, in-memory gateway, fixed clock, events from JSON fixtures.

Every event a test feeds a handler starts as a deep copy of an API Gateway fixture in
`tests/events/` (see its README for where the shapes come from); only the token, body, path,
query, headers, connection id and authorizer context are set on the copy.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import functools
import itertools
import json
import random
import shutil
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode

import pytest

from backend import wiring
from backend.adapters.gateway_memory import InMemoryGateway
from backend.adapters.store_sqlite import SqliteStore
from backend.domain.tokens import PUBLIC_PERMISSIONS, Keyring, TokenKind, TokenService
from backend.handlers import http_api, ws_authorizer, ws_connect, ws_disconnect, ws_message
from backend.services.context import Deps, FanoutMode

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
# 2025-11-29T07:06:40Z, the moment the fixtures' client session connected.
EPOCH = 1_764_400_000.0
KEY_SPECS: Mapping[TokenKind, str] = {
    TokenKind.USER: "t1:" + "u" * 40,
    TokenKind.PUBLIC: "t1:" + "p" * 40,
    TokenKind.ADMIN: "t1:" + "a" * 40,
}
# Eight words fill a 3x3 card (the centre is free), so every card holds all of them.
WORDS = ("w-alpha", "w-bravo", "w-charlie", "w-delta", "w-echo", "w-foxtrot", "w-golf", "w-hotel")


class FakeClock:
    """A clock that moves only when a test says so."""

    def __init__(self, start: float = EPOCH) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingIds:
    """`new_id` for tests: `id-00001`, `id-00002`, ... (valid ids, easy to search for)."""

    def __init__(self, first: int = 1) -> None:
        self._next = itertools.count(first)

    def __call__(self) -> str:
        return f"id-{next(self._next):05d}"


@dataclass(frozen=True)
class LambdaContext:
    """The few attributes of a Lambda context object a handler might read."""

    function_name: str
    aws_request_id: str = "c0ffee00-0000-4000-8000-000000000000"


class Reply(NamedTuple):
    """An HTTP API response as a client sees it: status, headers, parsed body."""

    status: int
    headers: dict[str, str]
    body: Any


@functools.cache
def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return loaded


def load_event(name: str) -> dict[str, Any]:
    """A deep copy of the fixture `tests/events/<name>.json`, free to change."""
    return copy.deepcopy(_fixture(name))


def snapshot(store_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the SQLite file, sorted, plus the schema version."""
    with closing(sqlite3.connect(store_path)) as db:
        return _dump(db)


def _dump(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    # Table names come from sqlite_master, not from input.
    dump = {
        name: sorted(map(tuple, db.execute(f'SELECT * FROM "{name}"')), key=repr)  # noqa: S608
        for name in names
    }
    dump["user_version"] = [tuple(db.execute("PRAGMA user_version").fetchone())]
    return dump


def _rows(db: sqlite3.Connection, name: str) -> list[dict[str, Any]]:
    cursor = db.execute(f'SELECT * FROM "{name}"')  # noqa: S608 - names are the tests' own
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]


@dataclass(frozen=True)
class Player:
    """A joined player: what `POST /join` returned."""

    nickname: str
    session_id: str
    game_id: str
    token: str


@dataclass(frozen=True)
class Table:
    """A game set up for a test: its id, the organiser's token and the players by nickname."""

    game_id: str
    admin: str
    players: dict[str, Player]


@dataclass
class Harness:
    """Drives the real handlers with fixture-built events over one test's dependencies."""

    deps: Deps
    store: SqliteStore
    gateway: InMemoryGateway
    clock: FakeClock
    store_path: Path
    # Authorizer context of each open connection, as API Gateway repeats it on every event.
    authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    words: tuple[str, ...] = WORDS
    scene: World | None = None  # set by the `world` fixture
    reader: sqlite3.Connection | None = field(default=None, repr=False)

    @staticmethod
    def load_event(name: str) -> dict[str, Any]:
        """A fresh copy of the fixture `tests/events/<name>.json`."""
        return load_event(name)

    # -- tokens ---------------------------------------------------------------------------
    def admin_token(self, subject: str = "organiser", *, now: float | None = None) -> str:
        return self.deps.tokens.issue_admin(subject, now=self.clock() if now is None else now)

    def public_token(
        self,
        device_id: str = "hall-screen",
        *,
        permissions: frozenset[str] = PUBLIC_PERMISSIONS,
        now: float | None = None,
    ) -> str:
        when = self.clock() if now is None else now
        return self.deps.tokens.issue_public(device_id, now=when, permissions=permissions)[0]

    def user_token(
        self, session_id: str, game_id: str, nickname: str, *, now: float | None = None
    ) -> str:
        when = self.clock() if now is None else now
        return self.deps.tokens.issue_user(session_id, game_id, nickname, now=when)

    # -- HTTP API -------------------------------------------------------------------------
    def http_event(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A payload 2.0 `$default`-route event; `body` bytes go base64, other non-str as JSON."""
        event = load_event("http_v2_default_route")
        event["rawPath"] = path
        event["requestContext"]["http"]["method"] = method
        event["requestContext"]["http"]["path"] = path
        heads: dict[str, str] = event["headers"]
        heads.pop("authorization", None)
        heads.pop("content-type", None)
        if token is not None:
            heads["authorization"] = f"Bearer {token}"
        event["rawQueryString"] = urlencode(query or {})
        if query:
            event["queryStringParameters"] = dict(query)
        if body is None:
            event.pop("body", None)
            event["isBase64Encoded"] = False
            heads["content-length"] = "0"
        else:
            if isinstance(body, bytes):
                raw, event["isBase64Encoded"] = body, True
                event["body"] = base64.b64encode(body).decode()
            else:
                text = body if isinstance(body, str) else json.dumps(body)
                raw, event["isBase64Encoded"] = text.encode(), False
                event["body"] = text
            heads["content-type"] = "application/json"
            heads["content-length"] = str(len(raw))
        for name, value in (headers or {}).items():
            heads[name.lower()] = value
        return event

    def invoke_http(self, event: dict[str, Any]) -> Reply:
        raw = http_api.handler(event, LambdaContext("http_api"))
        resp_headers = dict(raw.get("headers") or {})
        text = raw.get("body", "")
        is_json = resp_headers.get("content-type") == "application/json"
        return Reply(int(raw["statusCode"]), resp_headers, json.loads(text) if is_json else text)

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One HTTP API request through `http_api.handler`."""
        return self.invoke_http(self.http_event(method, path, body, token, query, headers))

    def ok(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """A request that must succeed (2xx); its parsed body."""
        reply = self.http(method, path, body, token)
        assert 200 <= reply.status < 300, reply
        return reply.body

    # -- WebSocket API --------------------------------------------------------------------
    def authorizer_event(self, cid: str, token: str | None) -> dict[str, Any]:
        event = load_event("ws_authorizer_request")
        event["requestContext"]["connectionId"] = cid
        if token is None:
            event.pop("queryStringParameters")
            event.pop("multiValueQueryStringParameters")
        else:
            event["queryStringParameters"] = {"token": token}
            event["multiValueQueryStringParameters"] = {"token": [token]}
        return event

    def connect_event(self, cid: str, authorizer: Mapping[str, Any] | None) -> dict[str, Any]:
        event = load_event("ws_connect")
        event["requestContext"]["connectionId"] = cid
        # The token stays in the query string of the upgrade request; handlers must not need it.
        event.pop("queryStringParameters")
        event.pop("multiValueQueryStringParameters")
        if authorizer is None:
            del event["requestContext"]["authorizer"]
        else:
            event["requestContext"]["authorizer"] = dict(authorizer)
        return event

    def message_event(
        self, cid: str, body: str | bytes, authorizer: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """A MESSAGE event on the route API Gateway would select (`$request.body.action`)."""
        event = load_event("ws_message")
        ctx = event["requestContext"]
        ctx["connectionId"] = cid
        ctx["routeKey"] = _selected_route(body)
        if authorizer is None:
            del ctx["authorizer"]
        else:
            ctx["authorizer"] = dict(authorizer)
        if isinstance(body, bytes):
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = body, False
        return event

    def disconnect_event(
        self, cid: str, authorizer: Mapping[str, Any] | None, status: int, reason: str
    ) -> dict[str, Any]:
        event = load_event("ws_disconnect")
        ctx = event["requestContext"]
        ctx["connectionId"] = cid
        ctx["disconnectStatusCode"] = status
        ctx["disconnectReason"] = reason
        if authorizer is None:
            del ctx["authorizer"]
        else:
            ctx["authorizer"] = dict(authorizer)
        return event

    def authorize(self, cid: str, token: str | None) -> dict[str, Any]:
        """Run the REQUEST authorizer; it returns a policy or raises."""
        return ws_authorizer.handler(self.authorizer_event(cid, token), LambdaContext("auth"))

    def ws_connect(self, cid: str, token: str | None) -> int:
        """Open a connection as API Gateway does; the upgrade's status (101 = open).

        A missing token is refused with 401 without invoking the authorizer; a raised
        "Unauthorized" is 401, a Deny 403; then $connect runs with the authorizer's context in
        `requestContext.authorizer` and a non-2xx answer refuses the upgrade.
        """
        if not token:
            return 401
        try:
            verdict = self.authorize(cid, token)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                return 401
            raise
        if verdict["policyDocument"]["Statement"][0]["Effect"] != "Allow":
            return 403
        authorizer = {
            "principalId": verdict["principalId"],
            "integrationLatency": 0,
            **verdict.get("context", {}),
        }
        answer = ws_connect.handler(self.connect_event(cid, authorizer), LambdaContext("connect"))
        status = int(answer["statusCode"])
        if not 200 <= status < 300:
            return status
        self.authorizers[cid] = authorizer
        self.gateway.open(cid)
        return 101

    def ws_send(self, cid: str, body: str | bytes) -> list[dict[str, Any]]:
        """One client message on an open connection; everything then waiting for `cid`."""
        event = self.message_event(cid, body, self.authorizers[cid])
        answer = ws_message.handler(event, LambdaContext("message"))
        assert answer == {"statusCode": 200}
        return self.gateway.drain(cid)

    def ws_action(self, cid: str, action: str, **fields: Any) -> list[dict[str, Any]]:
        return self.ws_send(cid, json.dumps({"action": action, **fields}))

    def ws_disconnect(self, cid: str, status: int = 1001, reason: str = "") -> dict[str, Any]:
        """Close a connection and run $disconnect with that close status and reason."""
        authorizer = self.authorizers.pop(cid)
        self.gateway.close(cid)
        event = self.disconnect_event(cid, authorizer, status, reason)
        return ws_disconnect.handler(event, LambdaContext("disconnect"))

    def frames(self, cid: str) -> list[dict[str, Any]]:
        """Take what the gateway holds for a connection."""
        return self.gateway.drain(cid)

    # -- set-ups --------------------------------------------------------------------------
    def create_game(
        self, grid_size: int = 3, words: tuple[str, ...] | None = WORDS, name: str = "Main Hall"
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "gridSize": grid_size}
        if words is not None:
            body["words"] = list(words)
        view: dict[str, Any] = self.ok("POST", "/admin/games", body, self.admin_token())
        return view

    def join(self, game_id: str, nickname: str) -> Player:
        return self.player(self.ok("POST", "/join", {"nickname": nickname, "gameId": game_id}))

    @staticmethod
    def player(joined: Mapping[str, str]) -> Player:
        """The player a `POST /join` body describes."""
        return Player(joined["nickname"], joined["sessionId"], joined["gameId"], joined["token"])

    def set_state(self, game_id: str, state: str, reason: str = "") -> dict[str, Any]:
        body = {"state": state, "reason": reason}
        view: dict[str, Any] = self.ok(
            "POST", f"/admin/games/{game_id}/state", body, self.admin_token()
        )
        return view

    def card(self, player: Player) -> dict[str, Any]:
        card: dict[str, Any] = self.ok("GET", f"/games/{player.game_id}/card", token=player.token)
        return card

    def mark(self, player: Player, word: str) -> dict[str, Any]:
        path = f"/games/{player.game_id}/marks"
        result: dict[str, Any] = self.ok("POST", path, {"word": word}, player.token)
        return result

    def table(
        self,
        nicknames: tuple[str, ...] = ("alice", "bob", "carol"),
        *,
        state: str = "playing",
        grid_size: int = 3,
        words: tuple[str, ...] | None = WORDS,
    ) -> Table:
        """A game with players who have fetched their cards, moved to `state`."""
        game_id = self.create_game(grid_size, words)["gameId"]
        players = {name: self.join(game_id, name) for name in nicknames}
        for player in players.values():
            self.card(player)
        if state == "playing":
            self.set_state(game_id, "playing", "keynote starts")
        elif state != "open":
            raise ValueError(f"set up {state!r} games in the test itself")
        return Table(game_id, self.admin_token(), players)

    def line_words(self, player: Player, row: int = 0) -> list[str]:
        """The words of one row of the player's card (the free centre left out)."""
        card = self.card(player)
        size = card["gridSize"]
        cells = card["cells"][row * size : (row + 1) * size]
        return [w for w in cells if w is not None]

    # -- what is stored, read through a connection of its own ----------------------------
    def _reader(self) -> sqlite3.Connection:
        if self.reader is None:
            # Autocommit: every read sees the latest committed write of the handlers.
            self.reader = sqlite3.connect(self.store_path, isolation_level=None)
        return self.reader

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """`snapshot(store_path)`, on a connection kept open for the test."""
        return _dump(self._reader())

    def rows(self, name: str) -> list[dict[str, Any]]:
        """The rows of one table as dicts."""
        return _rows(self._reader(), name)


def _selected_route(body: str | bytes) -> str:
    # API Gateway's route selection expression `$request.body.action`: the action's value if a
    # route has that key, else `$default` (also for bodies that are not JSON objects).
    try:
        action = json.loads(body).get("action")
    except (ValueError, AttributeError, RecursionError):
        return "$default"
    return action if isinstance(action, str) and action in ws_message.ROUTES else "$default"


def build_deps(path: Path, clock: FakeClock, first_id: int = 1) -> Deps:
    """Real adapters on `path`, the test keyrings, the fake clock and counting ids."""
    return Deps(
        store=SqliteStore(path),
        gateway=InMemoryGateway(),
        tokens=TokenService({kind: Keyring.parse(kind, spec) for kind, spec in KEY_SPECS.items()}),
        clock=clock,
        randbelow=random.Random(0).randrange,
        new_id=CountingIds(first_id),
    )


@contextmanager
def installed(deps: Deps) -> Iterator[Harness]:
    """`deps` installed into `backend.wiring` (what every handler uses) for the duration."""
    assert isinstance(deps.store, SqliteStore)
    assert isinstance(deps.gateway, InMemoryGateway)
    assert isinstance(deps.clock, FakeClock)
    wiring.install(deps)
    harness = Harness(deps, deps.store, deps.gateway, deps.clock, deps.store.path)
    try:
        yield harness
    finally:
        wiring.install(None)
        if harness.reader is not None:
            harness.reader.close()
        deps.store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


_NUMBERS = itertools.count(1)


@pytest.fixture(scope="session")
def _databases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One directory for every test's database: `tmp_path` makes a numbered directory per test,
    # which adds up over hundreds of tests.
    return tmp_path_factory.mktemp("databases")


@pytest.fixture
def database(_databases: Path) -> Path:
    """A fresh path for this test's SQLite file (pytest cleans its temporary tree up)."""
    return _databases / f"{next(_NUMBERS):05d}.sqlite3"


@pytest.fixture
def deps(database: Path, clock: FakeClock) -> Deps:
    """This test's dependencies over a fresh SQLite file."""
    return build_deps(database, clock)


@pytest.fixture
def h(deps: Deps) -> Iterator[Harness]:
    """The harness over this test's dependencies, installed in `backend.wiring`."""
    with installed(deps) as harness:
        yield harness


@pytest.fixture
def sh(deps: Deps) -> Iterator[Harness]:
    """The harness with writers in stream mode: they write, the stream broadcasters send."""
    with installed(dataclasses.replace(deps, fanout=FanoutMode.STREAM)) as harness:
        yield harness


class JobRecorder:
    """A `Dispatcher` that keeps the posting jobs it is given instead of invoking anything.

    Attributes:
        jobs: Every job accepted, in order.
        refuse: Game ids whose jobs are refused (as a throttled `Invoke` would be).
    """

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.refuse: set[str] = set()

    def dispatch(self, jobs: Sequence[Mapping[str, Any]]) -> list[str | None]:
        answers: list[str | None] = []
        for job in jobs:
            if job["postJob"]["gameId"] in self.refuse:
                answers.append("TooManyRequestsException: Rate exceeded")
            else:
                self.jobs.append(dict(job))
                answers.append(None)
        return answers


@pytest.fixture
def jobs() -> JobRecorder:
    return JobRecorder()


@pytest.fixture
def jh(deps: Deps, jobs: JobRecorder) -> Iterator[Harness]:
    """Stream mode with posting jobs: the players' broadcaster hands each game to `jobs`."""
    replaced = dataclasses.replace(deps, fanout=FanoutMode.STREAM, dispatcher=jobs)
    with installed(replaced) as harness:
        yield harness


# -- a shared starting position, built once and copied into each test ---------------------------
@dataclass(frozen=True)
class World:
    """What `world` starts with.

    Attributes:
        playing: A playing game of alice and bob (cards drawn); alice has marked `w-alpha`.
        waiting: An open game of carol (card drawn).
        listeners: Connection id -> the game it subscribed to: a board and alice on `playing`,
            a board on `waiting`.
    """

    playing: Table
    waiting: Table
    listeners: dict[str, str]


@pytest.fixture(scope="session")
def world_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, World, dict[str, dict[str, Any]]]:
    path = tmp_path_factory.mktemp("world") / "template.sqlite3"
    with installed(build_deps(path, FakeClock())) as h:
        playing = h.table(("alice", "bob"))
        h.mark(playing.players["alice"], "w-alpha")
        waiting = h.table(("carol",), state="open")
        listeners = {
            "board-a": (h.public_token("screen-a"), playing.game_id),
            "conn-alice": (playing.players["alice"].token, playing.game_id),
            "board-b": (h.public_token("screen-b"), waiting.game_id),
        }
        for cid, (token, game_id) in listeners.items():
            assert h.ws_connect(cid, token) == 101
            h.ws_action(cid, "subscribe", gameId=game_id)
        world = World(playing, waiting, {cid: game for cid, (_, game) in listeners.items()})
        authorizers = dict(h.authorizers)
    # Fold the write-ahead log into the file, so that a plain file copy is the whole database.
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path, world, authorizers


@pytest.fixture
def world(
    world_template: tuple[Path, World, dict[str, dict[str, Any]]], database: Path
) -> Iterator[Harness]:
    """A harness over a private copy of the shared starting position (see `World`)."""
    template, scene, authorizers = world_template
    path = database
    shutil.copyfile(template, path)
    # Ids from 1001 on cannot collide with the template's.
    with installed(build_deps(path, FakeClock(), first_id=1001)) as harness:
        harness.scene = scene
        harness.authorizers.update(authorizers)
        for cid in scene.listeners:
            harness.gateway.open(cid)
        yield harness
