"""WebSocket messages: every action's reply, and an error frame (changing nothing) for bad input."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from backend.domain.tokens import READ_LEADERBOARD
from backend.handlers import ws_message

if TYPE_CHECKING:
    from conftest import Harness, Table


@pytest.fixture
def table(h: Harness) -> Table:
    """A playing game of alice, bob and carol, each connected over a WebSocket."""
    table = h.table()
    for name, player in table.players.items():
        assert h.ws_connect(f"conn-{name}", player.token) == 101
    return table


def _seq(h: Harness, game_id: str) -> int:
    seq: int = h.ok("GET", f"/games/{game_id}", token=h.public_token())["seq"]
    return seq


def test_subscribe_answers_subscribed_with_seq_then_the_leaderboard(
    h: Harness, table: Table
) -> None:
    seq = _seq(h, table.game_id)

    frames = h.ws_action("conn-alice", "subscribe", gameId=table.game_id)

    assert [f["type"] for f in frames] == ["subscribed", "leaderboard_update"]
    assert frames[0] == {"type": "subscribed", "gameId": table.game_id, "seq": seq}
    update = frames[1]
    assert update["gameId"] == table.game_id
    assert update["seq"] == seq
    assert update["timestamp"] == h.clock() * 1000
    assert update["totalPlayers"] == 3
    assert [r["nickname"] for r in update["leaderboard"]] == ["alice", "bob", "carol"]
    assert [r.get("isYou", False) for r in update["leaderboard"]] == [True, False, False]
    assert h.rows("subscriptions") == [
        {
            "game_id": table.game_id,
            "connection_id": "conn-alice",
            "subscribed_at": h.clock(),
            "expires_at": h.rows("connections")[0]["expires_at"],
            "audience": "player",
            "viewer": table.players["alice"].session_id,
            "feed": 0,
        }
    ]


def _subscription(h: Harness, cid: str) -> tuple[str, str | None, bool]:
    """(audience, viewer, feed) of the one subscription of `cid`."""
    (row,) = [r for r in h.rows("subscriptions") if r["connection_id"] == cid]
    return row["audience"], row["viewer"], bool(row["feed"])


@pytest.mark.parametrize(("feed", "stored"), [(None, False), (False, False), (True, True)])
def test_a_player_subscribes_without_the_feed_unless_they_ask(
    h: Harness, table: Table, feed: bool | None, stored: bool
) -> None:
    fields = {} if feed is None else {"feed": feed}

    frames = h.ws_action("conn-bob", "subscribe", gameId=table.game_id, **fields)

    assert [f["type"] for f in frames] == ["subscribed", "leaderboard_update"]
    assert _subscription(h, "conn-bob") == ("player", table.players["bob"].session_id, stored)


@pytest.mark.parametrize(("feed", "stored"), [(None, True), (True, True), (False, False)])
def test_a_board_subscribes_with_the_feed_unless_it_declines(
    h: Harness, table: Table, feed: bool | None, stored: bool
) -> None:
    assert h.ws_connect("board-1", h.public_token()) == 101
    fields = {} if feed is None else {"feed": feed}

    frames = h.ws_action("board-1", "subscribe", gameId=table.game_id, **fields)

    assert [f["type"] for f in frames] == ["subscribed", "leaderboard_update"]
    assert _subscription(h, "board-1") == ("board", None, stored)


def test_subscribing_again_changes_the_feed_and_keeps_one_subscription(
    h: Harness, table: Table
) -> None:
    h.ws_action("conn-alice", "subscribe", gameId=table.game_id, feed=True)
    assert _subscription(h, "conn-alice")[2] is True

    h.ws_action("conn-alice", "subscribe", gameId=table.game_id)

    assert len(h.rows("subscriptions")) == 1
    assert _subscription(h, "conn-alice")[2] is False


def test_public_board_subscribes_to_any_game(h: Harness, table: Table) -> None:
    other = h.create_game()["gameId"]
    assert h.ws_connect("board-1", h.public_token()) == 101

    for game_id in (table.game_id, other):
        frames = h.ws_action("board-1", "subscribe", gameId=game_id)
        assert [f["type"] for f in frames] == ["subscribed", "leaderboard_update"]
        assert all("isYou" not in row for row in frames[1]["leaderboard"])

    assert sorted(r["game_id"] for r in h.rows("subscriptions")) == sorted([table.game_id, other])


def test_subscribing_twice_keeps_one_subscription(h: Harness, table: Table) -> None:
    h.ws_action("conn-alice", "subscribe", gameId=table.game_id)

    frames = h.ws_action("conn-alice", "subscribe", gameId=table.game_id)

    assert [f["type"] for f in frames] == ["subscribed", "leaderboard_update"]
    assert len(h.rows("subscriptions")) == 1


def test_unsubscribe_answers_and_stops_broadcasts(h: Harness, table: Table) -> None:
    h.ws_action("conn-alice", "subscribe", gameId=table.game_id)

    frames = h.ws_action("conn-alice", "unsubscribe", gameId=table.game_id)

    assert frames == [{"type": "unsubscribed", "gameId": table.game_id}]
    assert h.rows("subscriptions") == []
    h.mark(table.players["bob"], "w-alpha")
    assert h.frames("conn-alice") == []


def test_unsubscribe_without_a_subscription_is_idempotent(h: Harness, table: Table) -> None:
    before = h.snapshot()

    frames = h.ws_action("conn-alice", "unsubscribe", gameId="never-subscribed")

    assert frames == [{"type": "unsubscribed", "gameId": "never-subscribed"}]
    assert h.snapshot() == before


def test_get_leaderboard_flags_the_players_own_row(h: Harness, table: Table) -> None:
    h.mark(table.players["bob"], "w-alpha")
    h.mark(table.players["bob"], "w-bravo")
    h.mark(table.players["carol"], "w-alpha")
    before = h.snapshot()

    frames = h.ws_action("conn-carol", "get_leaderboard", gameId=table.game_id)

    (update,) = frames
    assert update["type"] == "leaderboard_update"
    assert update["seq"] == _seq(h, table.game_id)
    assert [(r["rank"], r["nickname"], r["points"]) for r in update["leaderboard"]] == [
        (1, "bob", 20),
        (2, "carol", 10),
        (3, "alice", 0),
    ]
    assert [r["nickname"] for r in update["leaderboard"] if r.get("isYou")] == ["carol"]
    assert h.snapshot() == before


def test_get_leaderboard_for_a_board_has_no_own_row(h: Harness, table: Table) -> None:
    assert h.ws_connect("board-1", h.public_token()) == 101

    (update,) = h.ws_action("board-1", "get_leaderboard", gameId=table.game_id)

    assert update["type"] == "leaderboard_update"
    assert all("isYou" not in row for row in update["leaderboard"])


@pytest.mark.parametrize("after", [0, 3, 5, 8])
def test_resume_replays_exactly_the_events_after_the_seq_then_the_leaderboard(
    h: Harness, table: Table, after: int
) -> None:
    alice = table.players["alice"]
    for word in h.line_words(alice):
        h.mark(alice, word)
    h.ok("POST", f"/games/{table.game_id}/bingo", token=alice.token)
    last = _seq(h, table.game_id)
    log = h.ok(
        "GET",
        f"/games/{table.game_id}/events",
        token=h.public_token(),
    )["events"]
    assert [e["seq"] for e in log] == list(range(1, last + 1))

    frames = h.ws_action("conn-bob", "resume", gameId=table.game_id, afterSeq=after)

    replayed, final = frames[:-1], frames[-1]
    assert [f["seq"] for f in replayed] == list(range(after + 1, last + 1))
    for frame, event in zip(replayed, log[after:], strict=True):
        if event["type"] == "state_changed":
            assert frame["type"] == "game_state_changed"
            assert frame["newState"] == event["data"]["newState"]
            assert frame["previousState"] == event["data"]["previousState"]
        else:
            assert frame == {
                "type": "activity_event",
                "gameId": table.game_id,
                "seq": event["seq"],
                "event": event,
            }
    assert final["type"] == "leaderboard_update"
    assert final["seq"] == last


def test_resume_beyond_the_last_event_sends_only_the_leaderboard(h: Harness, table: Table) -> None:
    last = _seq(h, table.game_id)

    frames = h.ws_action("conn-alice", "resume", gameId=table.game_id, afterSeq=last + 100)

    assert [(f["type"], f["seq"]) for f in frames] == [("leaderboard_update", last)]


def test_resume_needs_the_read_events_permission(h: Harness, table: Table) -> None:
    token = h.public_token(permissions=frozenset({READ_LEADERBOARD}))
    assert h.ws_connect("board-1", token) == 101

    frames = h.ws_action("board-1", "resume", gameId=table.game_id, afterSeq=0)

    assert [(f["type"], f["code"], f["action"]) for f in frames] == [
        ("error", "missing_permission", "resume")
    ]


def test_ping_answers_pong_with_the_time(h: Harness, table: Table) -> None:
    before = h.snapshot()

    frames = h.ws_action("conn-alice", "ping")

    assert frames == [{"type": "pong", "timestamp": h.clock() * 1000}]
    assert h.snapshot() == before


@pytest.mark.parametrize("action", ["subscribe", "get_leaderboard", "resume"])
def test_player_reading_another_game_gets_wrong_game(h: Harness, table: Table, action: str) -> None:
    other = h.create_game()["gameId"]
    before = h.snapshot()

    frames = h.ws_action("conn-alice", action, gameId=other, afterSeq=0)

    (frame,) = frames
    assert frame["type"] == "error"
    assert frame["code"] == "wrong_game"
    assert frame["action"] == action
    assert frame["message"]
    assert h.snapshot() == before


@pytest.mark.parametrize("action", ["subscribe", "get_leaderboard", "resume"])
def test_board_reading_a_game_that_does_not_exist_gets_game_not_found(
    h: Harness, table: Table, action: str
) -> None:
    assert h.ws_connect("board-1", h.public_token()) == 101
    before = h.snapshot()

    frames = h.ws_action("board-1", action, gameId="no-such-game", afterSeq=0)

    assert [(f["type"], f["code"]) for f in frames] == [("error", "game_not_found")]
    assert h.snapshot() == before


# -- bad input: an error frame to the sender, nothing stored changes ----------------------------
def _frame(body: dict[str, Any]) -> str:
    return json.dumps(body)


G = "GAME"  # replaced by the playing game's id
# (id, raw body, code): bodies whose action cannot be read, so the frame echoes none.
UNREADABLE: list[tuple[str, str | bytes, str]] = [
    ("not-json", "{action: subscribe}", "malformed_json"),
    ("truncated-json", '{"action": "subscribe", "gameId": "g', "malformed_json"),
    ("empty", "", "malformed_json"),
    ("json-array", '[{"action": "subscribe"}]', "malformed_json"),
    ("json-string", '"subscribe"', "malformed_json"),
    ("json-number", "42", "malformed_json"),
    ("json-null", "null", "malformed_json"),
    ("nested-too-deep", "[" * 2000 + "]" * 2000, "malformed_json"),
    ("nested-and-huge", "[" * 5000 + "]" * 5000, "payload_too_large"),
    ("binary-not-utf8", b"\xff\xfe\x00garbage", "malformed_json"),
    ("huge", _frame({"action": "ping", "pad": "x" * 5000}), "payload_too_large"),
    # 2,100 characters but 4,200 bytes: the limit is API Gateway's, in bytes.
    ("huge-multibyte", '{"action":"ping","pad":"' + "\u00e9" * 2100 + '"}', "payload_too_large"),
    # Not JSON (RFC 8259 has no Infinity or NaN), though Python's parser would take them.
    ("infinity", '{"action":"resume","gameId":"GAME","afterSeq":Infinity}', "malformed_json"),
    ("nan", '{"action":"resume","gameId":"GAME","afterSeq":NaN}', "malformed_json"),
]
# (id, message, code): JSON objects; a string action of at most 64 characters is echoed.
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no-action", {"gameId": G}, "unknown_action"),
    ("unknown-action", {"action": "mark", "word": "x"}, "unknown_action"),
    ("default-route", {"action": "$default"}, "unknown_action"),
    ("empty-action", {"action": ""}, "unknown_action"),
    ("action-case", {"action": "SUBSCRIBE", "gameId": G}, "unknown_action"),
    ("action-number", {"action": 5}, "unknown_action"),
    ("action-list", {"action": ["subscribe"]}, "unknown_action"),
    ("action-null", {"action": None}, "unknown_action"),
    ("action-too-long", {"action": "a" * 65}, "unknown_action"),
    ("dunder-action", {"action": "__class__"}, "unknown_action"),
    ("subscribe-no-game", {"action": "subscribe"}, "invalid_request"),
    ("subscribe-null", {"action": "subscribe", "gameId": None}, "invalid_request"),
    ("subscribe-number", {"action": "subscribe", "gameId": 7}, "invalid_request"),
    ("subscribe-list", {"action": "subscribe", "gameId": [G]}, "invalid_request"),
    ("subscribe-object", {"action": "subscribe", "gameId": {"id": G}}, "invalid_request"),
    ("subscribe-empty", {"action": "subscribe", "gameId": ""}, "invalid_request"),
    ("subscribe-path", {"action": "subscribe", "gameId": f"../{G}"}, "invalid_request"),
    ("subscribe-space", {"action": "subscribe", "gameId": f"{G} "}, "invalid_request"),
    ("subscribe-long", {"action": "subscribe", "gameId": "g" * 65}, "invalid_request"),
    ("subscribe-sql", {"action": "subscribe", "gameId": "x' OR '1'='1"}, "invalid_request"),
    # `feed`, when given, is a JSON boolean: nothing truthy stands in for one.
    ("feed-null", {"action": "subscribe", "gameId": G, "feed": None}, "invalid_request"),
    ("feed-string", {"action": "subscribe", "gameId": G, "feed": "true"}, "invalid_request"),
    ("feed-one", {"action": "subscribe", "gameId": G, "feed": 1}, "invalid_request"),
    ("feed-zero", {"action": "subscribe", "gameId": G, "feed": 0}, "invalid_request"),
    ("feed-list", {"action": "subscribe", "gameId": G, "feed": [True]}, "invalid_request"),
    ("feed-object", {"action": "subscribe", "gameId": G, "feed": {}}, "invalid_request"),
    ("feed-empty", {"action": "subscribe", "gameId": G, "feed": ""}, "invalid_request"),
    ("unsubscribe-no-game", {"action": "unsubscribe"}, "invalid_request"),
    ("unsubscribe-number", {"action": "unsubscribe", "gameId": 1}, "invalid_request"),
    ("leaderboard-no-game", {"action": "get_leaderboard"}, "invalid_request"),
    ("leaderboard-bool", {"action": "get_leaderboard", "gameId": True}, "invalid_request"),
    ("resume-no-game", {"action": "resume", "afterSeq": 0}, "invalid_request"),
    ("resume-no-seq", {"action": "resume", "gameId": G}, "invalid_request"),
    ("resume-negative", {"action": "resume", "gameId": G, "afterSeq": -1}, "invalid_request"),
    ("resume-true", {"action": "resume", "gameId": G, "afterSeq": True}, "invalid_request"),
    ("resume-false", {"action": "resume", "gameId": G, "afterSeq": False}, "invalid_request"),
    ("resume-string", {"action": "resume", "gameId": G, "afterSeq": "3"}, "invalid_request"),
    ("resume-float", {"action": "resume", "gameId": G, "afterSeq": 2.5}, "invalid_request"),
    ("resume-null", {"action": "resume", "gameId": G, "afterSeq": None}, "invalid_request"),
    ("resume-huge", {"action": "resume", "gameId": G, "afterSeq": 2**64}, "invalid_request"),
]


def _echoed(message: dict[str, Any]) -> str | None:
    action = message.get("action")
    return action if isinstance(action, str) and len(action) <= 64 else None


BAD_MESSAGES: list[tuple[str, str | bytes, str, str | None]] = [
    *((name, body, code, None) for name, body, code in UNREADABLE),
    *((name, _frame(message), code, _echoed(message)) for name, message, code in INVALID),
]


@pytest.mark.parametrize(
    ("body", "code", "action"),
    [case[1:] for case in BAD_MESSAGES],
    ids=[case[0] for case in BAD_MESSAGES],
)
def test_bad_message_gets_an_error_frame_and_changes_nothing(
    world: Harness, body: str | bytes, code: str, action: str | None
) -> None:
    assert world.scene is not None
    if isinstance(body, str):
        body = body.replace(G, world.scene.playing.game_id)
    before = world.snapshot()

    frames = world.ws_send("conn-alice", body)

    (frame,) = frames
    assert frame["type"] == "error"
    assert frame["code"] == code
    assert isinstance(frame["message"], str)
    assert frame["message"]
    if action is None:
        assert set(frame) == {"type", "code", "message"}
    else:
        assert frame["action"] == action
    assert world.snapshot() == before
    for cid in world.scene.listeners:
        assert world.frames(cid) == []


def test_bad_message_names_the_known_actions(h: Harness, table: Table) -> None:
    (frame,) = h.ws_send("conn-alice", _frame({"action": "shout"}))

    assert frame["code"] == "unknown_action"
    for action in ws_message.ROUTES:
        assert action in frame["message"]


def test_message_on_a_connection_without_authorizer_context_is_refused(
    h: Harness, table: Table
) -> None:
    h.gateway.open("conn-x")
    before = h.snapshot()
    body = _frame({"action": "subscribe", "gameId": table.game_id})
    event = h.message_event("conn-x", body, None)

    assert ws_message.handler(event, None) == {"statusCode": 200}

    (frame,) = h.frames("conn-x")
    assert (frame["type"], frame["code"], frame["action"]) == ("error", "unauthorized", "subscribe")
    assert h.snapshot() == before


def test_error_frame_to_a_gone_connection_forgets_that_connection(h: Harness, table: Table) -> None:
    h.gateway.close("conn-alice")

    h.ws_send("conn-alice", "not json")

    assert "conn-alice" not in [r["connection_id"] for r in h.rows("connections")]
    assert sorted(r["connection_id"] for r in h.rows("connections")) == ["conn-bob", "conn-carol"]


def test_a_bad_feed_is_named_in_the_error_and_keeps_the_subscription(
    h: Harness, table: Table
) -> None:
    h.ws_action("conn-alice", "subscribe", gameId=table.game_id, feed=True)
    before = h.snapshot()

    (frame,) = h.ws_action("conn-alice", "subscribe", gameId=table.game_id, feed="no")

    assert (frame["type"], frame["code"], frame["action"]) == (
        "error",
        "invalid_request",
        "subscribe",
    )
    assert "feed must be true or false" in frame["message"]
    assert h.snapshot() == before
