"""The HTTP API's routes on their happy paths, a whole game, the polling endpoint and privacy."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from backend import wiring
from backend.domain.tokens import PUBLIC_TOKEN_TTL_S, TokenKind
from backend.domain.words import DEFAULT_WORDS
from backend.handlers import http_api
from backend.services.context import Deps

if TYPE_CHECKING:
    from conftest import Harness, Player


def _error(reply: Any, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert reply.headers["content-type"] == "application/json"
    assert set(reply.body) == {"error"}
    assert set(reply.body["error"]) == {"code", "message"}
    assert reply.body["error"]["code"] == code
    assert reply.body["error"]["message"]


def _events(h: Harness, game_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = h.ok("GET", f"/games/{game_id}/events", token=h.public_token())[
        "events"
    ]
    return found


# -- join and tokens ----------------------------------------------------------------------------
def test_join_the_current_game_returns_201_and_a_user_token(h: Harness) -> None:
    game_id = h.create_game()["gameId"]

    reply = h.http("POST", "/join", {"nickname": "  alice  "})

    assert reply.status == 201
    assert reply.headers["content-type"] == "application/json"
    assert set(reply.body) == {"sessionId", "nickname", "gameId", "token"}
    assert reply.body["nickname"] == "alice"
    assert reply.body["gameId"] == game_id
    claims = h.deps.tokens.verify(reply.body["token"], now=h.clock(), accept=[TokenKind.USER])
    assert (claims.subject, claims.game_id, claims.nickname) == (
        reply.body["sessionId"],
        game_id,
        "alice",
    )
    assert [(p["nickname"], p["session_id"]) for p in h.rows("players")] == [
        ("alice", reply.body["sessionId"])
    ]


def test_join_a_named_game_while_another_is_current(h: Harness) -> None:
    older = h.create_game(name="Room A")["gameId"]
    h.clock.advance(1)
    newer = h.create_game(name="Room B")["gameId"]

    assert h.ok("GET", "/games/current", token=h.public_token())["gameId"] == newer
    reply = h.http("POST", "/join", {"nickname": "alice", "gameId": older})

    assert reply.status == 201
    assert reply.body["gameId"] == older


def test_join_when_no_game_runs_is_404(h: Harness) -> None:
    _error(h.http("POST", "/join", {"nickname": "alice"}), 404, "game_not_found")


@pytest.mark.parametrize(
    "taken", ["alice", "ALICE", "Alice", "  aLiCe ", "\uff41\uff4c\uff49\uff43\uff45"]
)
def test_nicknames_are_unique_per_game_ignoring_case(h: Harness, taken: str) -> None:
    game_id = h.create_game()["gameId"]
    h.join(game_id, "alice")
    before = h.snapshot()

    reply = h.http("POST", "/join", {"nickname": taken, "gameId": game_id})

    _error(reply, 409, "nickname_taken")
    assert h.snapshot() == before


def test_the_same_nickname_may_play_in_another_game(h: Harness) -> None:
    first = h.create_game()["gameId"]
    second = h.create_game()["gameId"]
    h.join(first, "alice")

    assert h.http("POST", "/join", {"nickname": "alice", "gameId": second}).status == 201


@pytest.mark.parametrize("state", ["ended", "cancelled"])
def test_joining_a_finished_game_is_409(h: Harness, state: str) -> None:
    game_id = h.create_game()["gameId"]
    if state == "ended":
        h.set_state(game_id, "playing")
    h.set_state(game_id, state)
    before = h.snapshot()

    _error(
        h.http("POST", "/join", {"nickname": "late", "gameId": game_id}), 409, "game_not_accepting"
    )
    assert h.snapshot() == before


@pytest.mark.parametrize("body", [None, {}, {"deviceId": "hall-screen"}])
def test_public_token_is_201_with_read_permissions(h: Harness, body: Any) -> None:
    before = h.snapshot()

    reply = h.http("POST", "/public/token", body)

    assert reply.status == 201
    assert set(reply.body) == {"deviceId", "publicToken", "permissions", "expiresAt"}
    if body:
        assert reply.body["deviceId"] == "hall-screen"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", reply.body["deviceId"])
    assert reply.body["permissions"] == ["read_events", "read_leaderboard"]
    assert reply.body["expiresAt"] == (h.clock() + PUBLIC_TOKEN_TTL_S) * 1000
    claims = h.deps.tokens.verify(
        reply.body["publicToken"], now=h.clock(), accept=[TokenKind.PUBLIC]
    )
    assert claims.subject == reply.body["deviceId"]
    assert h.snapshot() == before  # tokens are stateless


# -- games ----------------------------------------------------------------------------------
@pytest.mark.parametrize("grid_size", [3, 4, 5])
def test_create_game_is_201_in_state_open(h: Harness, grid_size: int) -> None:
    reply = h.http(
        "POST", "/admin/games", {"gridSize": grid_size, "name": "Room A"}, h.admin_token()
    )

    assert reply.status == 201
    view = reply.body
    assert view["gridSize"] == grid_size
    assert (view["state"], view["seq"], view["name"], view["winner"]) == ("open", 1, "Room A", None)
    assert view["words"] == list(DEFAULT_WORDS)
    assert view["createdAt"] == view["updatedAt"] == h.clock() * 1000
    assert [e["type"] for e in _events(h, view["gameId"])] == ["game_created"]


def test_create_game_accepts_a_body_between_16_and_64_kib(h: Harness) -> None:
    words = [f"buzzword number {i:03d} " + "x" * 18 for i in range(500)]
    body = {"gridSize": 5, "words": words}
    assert 16 * 1024 < len(json.dumps(body)) < 64 * 1024

    reply = h.http("POST", "/admin/games", body, h.admin_token())

    assert reply.status == 201
    assert len(reply.body["words"]) == 500


def test_current_game_is_404_when_none_is_active(h: Harness) -> None:
    token = h.public_token()
    _error(h.http("GET", "/games/current", token=token), 404, "game_not_found")
    game_id = h.create_game()["gameId"]
    h.set_state(game_id, "cancelled")

    _error(h.http("GET", "/games/current", token=token), 404, "game_not_found")


@pytest.mark.parametrize("kind", ["user", "public", "admin"])
def test_game_views_are_200_for_every_reader(h: Harness, kind: str) -> None:
    table = h.table(("alice",))
    token = {
        "user": table.players["alice"].token,
        "public": h.public_token(),
        "admin": h.admin_token(),
    }[kind]

    current = h.http("GET", "/games/current", token=token)
    one = h.http("GET", f"/games/{table.game_id}", token=token)

    assert current.status == one.status == 200
    assert current.body == one.body
    assert set(one.body) == {
        "gameId",
        "name",
        "gridSize",
        "state",
        "seq",
        "createdAt",
        "updatedAt",
        "winner",
    }
    assert (one.body["gameId"], one.body["state"]) == (table.game_id, "playing")


def test_history_lists_finished_games_newest_first(h: Harness) -> None:
    token = h.public_token()
    assert h.ok("GET", "/games/history", token=token) == {"games": []}
    ended = h.table(("alice",))
    h.set_state(ended.game_id, "ended", "time is up")
    h.clock.advance(10)
    cancelled = h.create_game()["gameId"]
    h.set_state(cancelled, "cancelled")
    h.clock.advance(10)
    active = h.create_game()["gameId"]

    reply = h.http("GET", "/games/history", token=token)
    limited = h.http("GET", "/games/history", token=token, query={"limit": "1"})

    assert reply.status == 200
    assert [(g["gameId"], g["state"]) for g in reply.body["games"]] == [
        (cancelled, "cancelled"),
        (ended.game_id, "ended"),
    ]
    assert active not in json.dumps(reply.body)
    assert [g["gameId"] for g in limited.body["games"]] == [cancelled]


# -- cards and marks ------------------------------------------------------------------------
@pytest.mark.parametrize(("grid_size", "free"), [(3, 4), (4, None), (5, 12)])
def test_card_is_200_and_the_same_every_time(h: Harness, grid_size: int, free: int | None) -> None:
    game_id = h.create_game(grid_size, words=None)["gameId"]
    alice = h.join(game_id, "alice")

    first = h.http("GET", f"/games/{game_id}/card", token=alice.token)
    second = h.http("GET", f"/games/{game_id}/card", token=alice.token)

    assert first.status == second.status == 200
    assert first.body == second.body
    card = first.body
    assert (card["gridSize"], card["freeIndex"], card["gameState"]) == (grid_size, free, "open")
    assert len(card["cells"]) == grid_size * grid_size
    words = [c for c in card["cells"] if c is not None]
    assert len(set(words)) == len(words)
    assert set(words) <= set(DEFAULT_WORDS)
    assert (card["marked"], card["points"], card["marks"], card["completeLines"]) == ([], 0, 0, [])
    assert len(h.rows("cards")) == 1


def test_mark_is_200_and_broadcast_once(h: Harness) -> None:
    table = h.table(("alice",))
    alice = table.players["alice"]
    events_before = len(_events(h, table.game_id))

    reply = h.http("POST", f"/games/{table.game_id}/marks", {"word": "W-ALPHA "}, alice.token)

    assert reply.status == 200
    assert reply.body == {
        "gameId": table.game_id,
        "word": "w-alpha",
        "newlyMarked": True,
        "seq": events_before + 1,
        "points": 10,
        "marks": 1,
        "completeLines": [],
    }
    assert len(_events(h, table.game_id)) == events_before + 1


def test_marking_twice_changes_and_emits_nothing(h: Harness) -> None:
    table = h.table(("alice",))
    alice = table.players["alice"]
    h.mark(alice, "w-alpha")
    before = h.snapshot()

    reply = h.http("POST", f"/games/{table.game_id}/marks", {"word": "w-alpha"}, alice.token)

    assert reply.status == 200
    assert reply.body["newlyMarked"] is False
    assert reply.body["seq"] is None
    assert (reply.body["points"], reply.body["marks"]) == (10, 1)
    assert h.snapshot() == before


def test_mark_of_a_word_not_on_the_card_is_400(h: Harness) -> None:
    game_id = h.create_game(5, words=None)["gameId"]
    alice = h.join(game_id, "alice")
    on_card = {c for c in h.card(alice)["cells"] if c is not None}
    in_game_not_on_card = next(w for w in DEFAULT_WORDS if w not in on_card)
    h.set_state(game_id, "playing")
    before = h.snapshot()

    for word in (in_game_not_on_card, "not a buzzword at all"):
        reply = h.http("POST", f"/games/{game_id}/marks", {"word": word}, alice.token)
        _error(reply, 400, "word_not_on_card")
    assert h.snapshot() == before


@pytest.mark.parametrize("state", ["open", "paused", "bingo", "ended", "cancelled"])
def test_marks_are_refused_unless_the_game_is_playing(h: Harness, state: str) -> None:
    table = h.table(("alice", "bob"), state="open")
    alice, bob = table.players["alice"], table.players["bob"]
    if state != "open":
        h.set_state(table.game_id, "playing")
    if state == "bingo":
        for word in h.line_words(alice):
            h.mark(alice, word)
        h.ok("POST", f"/games/{table.game_id}/bingo", token=alice.token)
    elif state in ("paused", "ended", "cancelled"):
        h.set_state(table.game_id, state)
    before = h.snapshot()

    reply = h.http("POST", f"/games/{table.game_id}/marks", {"word": "w-hotel"}, bob.token)

    _error(reply, 409, "game_not_accepting")
    assert h.snapshot() == before


# -- a whole game ---------------------------------------------------------------------------
def test_a_whole_game_from_creation_to_a_verified_winner(h: Harness) -> None:
    admin = h.admin_token()
    created = h.http("POST", "/admin/games", {"gridSize": 3, "words": list(h.words)}, admin)
    assert created.status == 201
    game_id = created.body["gameId"]
    players: dict[str, Player] = {}
    for name in ("alice", "bob", "carol"):
        reply = h.http("POST", "/join", {"nickname": name})
        assert reply.status == 201
        players[name] = h.player(reply.body)
    start = h.http("POST", f"/admin/games/{game_id}/state", {"state": "playing"}, admin)
    assert (start.status, start.body["state"]) == (200, "playing")
    alice, bob = players["alice"], players["bob"]

    early = h.http("POST", f"/games/{game_id}/bingo", token=bob.token)
    _error(early, 422, "no_bingo_line")
    row = h.line_words(alice)
    marks = [h.http("POST", f"/games/{game_id}/marks", {"word": w}, alice.token) for w in row]
    assert [m.status for m in marks] == [200, 200, 200]
    assert marks[-1].body["completeLines"] == [[0, 1, 2]]
    assert marks[-1].body["points"] == 30
    claim = h.http("POST", f"/games/{game_id}/bingo", token=alice.token)
    second = h.http("POST", f"/games/{game_id}/bingo", token=bob.token)
    again = h.http("POST", f"/games/{game_id}/bingo", token=alice.token)
    verdict = h.http(
        "POST", f"/admin/games/{game_id}/state", {"state": "ended", "reason": "ok"}, admin
    )
    final = h.http("GET", f"/games/{game_id}", token=h.public_token())

    assert claim.status == 201
    assert claim.body == {
        "gameId": game_id,
        "state": "bingo",
        "line": [0, 1, 2],
        "seq": claim.body["seq"],
        "status": "pending",
    }
    _error(second, 409, "claim_pending")
    _error(again, 409, "claim_pending")
    assert verdict.status == 200
    assert (verdict.body["state"], verdict.body["winner"]) == ("ended", "alice")
    assert (final.body["state"], final.body["winner"]) == ("ended", "alice")
    assert [r["status"] for r in h.rows("claims")] == ["verified"]
    assert [e["type"] for e in _events(h, game_id)] == [
        "game_created",
        *["player_joined"] * 3,
        "state_changed",
        *["word_marked"] * 3,
        "bingo_claimed",
        "state_changed",
        "state_changed",
    ]
    history = h.ok("GET", "/games/history", token=h.public_token())
    assert [g["gameId"] for g in history["games"]] == [game_id]


def test_a_rejected_claim_returns_the_game_to_playing(h: Harness) -> None:
    table = h.table(("alice", "bob"))
    alice = table.players["alice"]
    for word in h.line_words(alice):
        h.mark(alice, word)
    h.ok("POST", f"/games/{table.game_id}/bingo", token=alice.token)

    reply = h.http(
        "POST",
        f"/admin/games/{table.game_id}/state",
        {"state": "playing", "reason": "the host heard no such word"},
        h.admin_token(),
    )

    assert reply.status == 200
    assert (reply.body["state"], reply.body["winner"]) == ("playing", None)
    assert [r["status"] for r in h.rows("claims")] == ["rejected"]
    last = _events(h, table.game_id)[-1]
    assert last["data"] == {
        "previousState": "bingo",
        "newState": "playing",
        "reason": "the host heard no such word",
    }
    # Play goes on: marks count again and the player may claim once more.
    assert h.mark(table.players["bob"], "w-alpha")["newlyMarked"] is True
    assert h.http("POST", f"/games/{table.game_id}/bingo", token=alice.token).status == 201
    assert sorted(r["status"] for r in h.rows("claims")) == ["pending", "rejected"]


def test_cancelling_during_a_claim_rejects_it(h: Harness) -> None:
    table = h.table(("alice",))
    alice = table.players["alice"]
    for word in h.line_words(alice):
        h.mark(alice, word)
    h.ok("POST", f"/games/{table.game_id}/bingo", token=alice.token)

    view = h.set_state(table.game_id, "cancelled", "fire alarm")

    assert (view["state"], view["winner"]) == ("cancelled", None)
    assert [r["status"] for r in h.rows("claims")] == ["rejected"]


# -- leaderboard, events and the deprecated stream ------------------------------------------
def test_leaderboard_is_200_and_flags_the_players_own_row(h: Harness) -> None:
    table = h.table()
    h.mark(table.players["bob"], "w-alpha")
    path = f"/games/{table.game_id}/leaderboard"

    mine = h.http("GET", path, token=table.players["carol"].token)
    public = h.http("GET", path, token=h.public_token(), query={"limit": "2"})

    assert mine.status == public.status == 200
    assert set(mine.body) == {"gameId", "seq", "timestamp", "leaderboard", "totalPlayers"}
    assert [(r["nickname"], r.get("isYou", False)) for r in mine.body["leaderboard"]] == [
        ("bob", False),
        ("alice", False),
        ("carol", True),
    ]
    assert mine.body["leaderboard"][0]["lastMarkAt"] == h.clock() * 1000
    assert [r["nickname"] for r in public.body["leaderboard"]] == ["bob", "alice"]
    assert public.body["totalPlayers"] == 3
    assert all("isYou" not in r for r in public.body["leaderboard"])


def test_events_after_and_limit_page_through_the_log(h: Harness) -> None:
    table = h.table()  # 1 created, 3 joins, 1 state change
    path = f"/games/{table.game_id}/events"
    token = h.public_token()

    page = h.http("GET", path, token=token, query={"after": "1", "limit": "2"})
    rest = h.http("GET", path, token=token, query={"after": str(page.body["nextAfter"])})
    empty = h.http("GET", path, token=token, query={"after": "99"})

    assert page.status == rest.status == empty.status == 200
    assert page.body["gameId"] == table.game_id
    assert page.body["seq"] == 5
    assert [e["seq"] for e in page.body["events"]] == [2, 3]
    assert page.body["nextAfter"] == 3
    assert page.body["events"][0] == {
        "id": f"{table.game_id}:2",
        "seq": 2,
        "type": "player_joined",
        "data": {"nickname": "alice"},
        "timestamp": h.clock() * 1000,
    }
    assert [e["seq"] for e in rest.body["events"]] == [4, 5]
    assert (empty.body["events"], empty.body["nextAfter"]) == ([], 99)


def test_stream_answers_json_by_default_with_retry_and_deprecation(h: Harness) -> None:
    table = h.table(("alice",))
    h.mark(table.players["alice"], "w-alpha")

    reply = h.http("GET", f"/leaderboard/{table.game_id}/stream", token=h.public_token())

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["deprecation"] == "@1735689600"
    assert reply.headers["link"] == f'</games/{table.game_id}/leaderboard>; rel="successor-version"'
    assert reply.headers["cache-control"] == "no-store"
    assert reply.body["retry"] == 3000
    assert reply.body["seq"] == 4
    assert [e["seq"] for e in reply.body["events"]] == [1, 2, 3, 4]
    assert [r["nickname"] for r in reply.body["leaderboard"]] == ["alice"]


def test_stream_answers_server_sent_events_when_asked(h: Harness) -> None:
    table = h.table(("alice",))
    h.mark(table.players["alice"], "w-alpha")

    reply = h.http(
        "GET",
        f"/leaderboard/{table.game_id}/stream",
        token=h.public_token(),
        headers={"Accept": "text/event-stream"},
    )

    assert reply.status == 200
    assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert reply.headers["deprecation"] == "@1735689600"
    blocks = [b for b in reply.body.split("\n\n") if b.strip()]
    assert blocks[0] == "retry: 3000"
    messages = [_sse_block(b) for b in blocks[1:]]
    assert [(m["id"], m["event"]) for m in messages] == [
        ("1", "activity_event"),
        ("2", "activity_event"),
        ("3", "activity_event"),
        ("4", "activity_event"),
        ("4", "leaderboard_update"),
    ]
    final = json.loads(messages[-1]["data"])
    assert (final["type"], final["seq"], final["gameId"]) == (
        "leaderboard_update",
        4,
        table.game_id,
    )
    assert final["leaderboard"][0]["points"] == 10
    first = json.loads(messages[0]["data"])
    assert (first["type"], first["seq"], first["event"]["type"]) == (
        "activity_event",
        1,
        "game_created",
    )


@pytest.mark.parametrize(
    ("headers", "query"),
    [({"Last-Event-ID": "2"}, None), ({"last-event-id": " 2 "}, None), ({}, {"after": "2"})],
    ids=["last-event-id", "last-event-id-blanks", "after-query"],
)
def test_stream_resumes_after_the_last_event_id(
    h: Harness, headers: dict[str, str], query: dict[str, str] | None
) -> None:
    table = h.table(("alice",))
    path = f"/leaderboard/{table.game_id}/stream"

    json_reply = h.http("GET", path, token=h.public_token(), headers=headers, query=query)
    sse_reply = h.http(
        "GET",
        path,
        token=h.public_token(),
        headers={**headers, "accept": "text/event-stream"},
        query=query,
    )

    assert [e["seq"] for e in json_reply.body["events"]] == [3]
    assert re.findall(r"^id: (\d+)$", sse_reply.body, flags=re.MULTILINE) == ["3", "3"]


def test_last_event_id_wins_over_the_after_query(h: Harness) -> None:
    table = h.table(("alice",))

    reply = h.http(
        "GET",
        f"/leaderboard/{table.game_id}/stream",
        token=h.public_token(),
        headers={"Last-Event-ID": "2"},
        query={"after": "0"},
    )

    assert [e["seq"] for e in reply.body["events"]] == [3]


def _sse_block(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block.splitlines():
        name, _, value = line.partition(": ")
        assert name not in fields
        fields[name] = value
    return fields


# -- privacy --------------------------------------------------------------------------------
def test_public_views_never_carry_session_ids_or_words(h: Harness) -> None:
    table = h.table()
    assert h.ws_connect("board-1", h.public_token()) == 101
    h.ws_action("board-1", "subscribe", gameId=table.game_id)
    alice, bob = table.players["alice"], table.players["bob"]
    marked = set()
    for word in h.line_words(alice):
        h.mark(alice, word)
        marked.add(word)
    h.mark(bob, "w-hotel")
    marked.add("w-hotel")
    h.ok("POST", f"/games/{table.game_id}/bingo", token=alice.token)
    h.set_state(table.game_id, "ended", "verified")
    other = h.table(("dave",))  # an active game, so /games/current has something to show
    views: list[str] = []
    for token in (h.public_token(), bob.token, h.admin_token()):
        for path in (
            f"/games/{table.game_id}",
            "/games/current",
            "/games/history",
            f"/games/{table.game_id}/leaderboard",
            f"/games/{table.game_id}/events",
            f"/leaderboard/{table.game_id}/stream",
        ):
            for accept in ("application/json", "text/event-stream"):
                reply = h.http("GET", path, token=token, headers={"accept": accept})
                assert reply.status == 200, (path, reply)
                views.append(reply.body if isinstance(reply.body, str) else json.dumps(reply.body))
    views.append(json.dumps(h.frames("board-1")))
    views.append(json.dumps(h.ws_action("board-1", "resume", gameId=table.game_id, afterSeq=0)))
    text = "\n".join(views)

    session_ids = [p.session_id for p in (*table.players.values(), *other.players.values())]
    for secret in session_ids:
        assert secret not in text
    for word in marked | set(h.words):
        assert word not in text
    # The views do carry what they should, so the search above is not vacuous.
    assert "alice" in text
    assert table.game_id in text


# -- routing --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nope"),
        ("POST", "/games"),
        ("GET", "/games/g-1/card/extra"),
        ("GET", "/games//card"),
        ("GET", "/admin"),
        ("POST", "/admin/games/g-1"),
        ("GET", "/leaderboard/g-1"),
        ("GET", "/_local/metrics"),
    ],
)
def test_unknown_route_is_404(h: Harness, method: str, path: str) -> None:
    reply = h.http(method, path, token=h.admin_token())

    _error(reply, 404, "route_not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/join", "POST"),
        ("DELETE", "/join", "POST"),
        ("GET", "/public/token", "POST"),
        ("POST", "/games/current", "GET"),
        ("POST", "/games/history", "GET"),
        ("PUT", "/games/g-1", "GET"),
        ("DELETE", "/games/g-1", "GET"),
        ("POST", "/games/g-1/card", "GET"),
        ("GET", "/games/g-1/marks", "POST"),
        ("GET", "/games/g-1/bingo", "POST"),
        ("POST", "/games/g-1/leaderboard", "GET"),
        ("PATCH", "/games/g-1/events", "GET"),
        ("POST", "/leaderboard/g-1/stream", "GET"),
        ("GET", "/admin/games", "POST"),
        ("PUT", "/admin/games/g-1/state", "POST"),
    ],
)
def test_wrong_method_is_405_with_an_allow_header(
    h: Harness, method: str, path: str, allow: str
) -> None:
    reply = h.http(method, path, {"state": "ended"}, token=h.admin_token())

    _error(reply, 405, "method_not_allowed")
    assert reply.headers["allow"] == allow


def test_trailing_slash_is_the_same_route(h: Harness) -> None:
    assert h.http("GET", "/games/history/", token=h.public_token()).status == 200


def test_named_stage_prefix_is_removed_from_the_path(h: Harness) -> None:
    event = h.http_event("GET", "/dev/games/history", token=h.public_token())
    event["requestContext"]["stage"] = "dev"

    assert h.invoke_http(event).status == 200


def test_base64_encoded_json_body_is_accepted(h: Harness) -> None:
    h.create_game()

    reply = h.http("POST", "/join", json.dumps({"nickname": "zoë"}).encode())

    assert reply.status == 201
    assert reply.body["nickname"] == "zoë"


def test_route_keyed_fixtures_are_served_as_well(h: Harness) -> None:
    """The GET and POST fixtures carry a route key and path parameters; the handler routes
    on the raw path, so a per-route deployment works the same as the `$default` one."""
    game_id = h.create_game()["gameId"]
    join = h.load_event("http_v2_post")
    join["body"] = json.dumps({"nickname": "alice", "gameId": game_id})
    joined = h.invoke_http(join)
    assert joined.status == 201
    board = h.load_event("http_v2_get")
    for where in (board, board["requestContext"]["http"]):
        key = "rawPath" if where is board else "path"
        where[key] = where[key].replace("game-1", game_id)
    board["pathParameters"]["gameId"] = game_id
    board["headers"]["authorization"] = f"Bearer {joined.body['token']}"

    reply = h.invoke_http(board)

    assert reply.status == 200
    assert [(r["nickname"], r.get("isYou")) for r in reply.body["leaderboard"]] == [("alice", True)]


def test_unmodified_fixtures_with_placeholder_tokens_are_401(h: Harness) -> None:
    for name in ("http_v2_get", "http_v2_default_route"):
        reply = h.invoke_http(h.load_event(name))
        _error(reply, 401, "invalid_token")
        assert reply.headers["www-authenticate"] == 'Bearer realm="bingo"'


class _BrokenStore:
    """A store whose every read fails the way a bug would: not with a port error."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals: /var/db password=hunter2")

        return fail


def test_unexpected_error_is_a_500_without_internals(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    wiring.install(
        Deps(_BrokenStore(), h.gateway, h.deps.tokens, h.clock, h.deps.randbelow, h.deps.new_id)
    )

    reply = h.http("GET", "/games/current", token=h.public_token())

    assert reply.status == 500
    assert reply.body["error"]["code"] == "internal_error"
    assert "L0TTUi1KoAMEJ8Q=" in reply.body["error"]["message"]  # the fixture's request id
    assert "hunter2" not in json.dumps(reply.body)
    assert "hunter2" in caplog.text
    assert http_api.log.name in {r.name for r in caplog.records}


@pytest.mark.parametrize(("key", "handler"), http_api.ROUTE_KEYS)
def test_every_route_key_matches_its_own_path(key: str, handler: object) -> None:
    method, template = key.split(" ", 1)
    path = template.replace("{gameId}", "game-1")
    assert http_api.route_key(method, path) == key
    assert http_api.route(method, path)[0] is handler


def test_a_path_of_no_route_has_no_route_key() -> None:
    assert http_api.route_key("GET", "/nowhere") is None
    assert http_api.route_key("DELETE", "/join") is None
