"""Fan-out through the handlers: a game's news reaches that game's subscribers, and only them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Harness, Table


@pytest.fixture
def two_games(h: Harness) -> tuple[Table, Table]:
    """Two playing games; boards and players subscribed to each."""
    first = h.table(("alice", "bob"))
    second = h.table(("carol",))
    subscriptions = {
        "board-1": (h.public_token("screen-1"), first.game_id),
        "board-1b": (h.public_token("screen-1b"), first.game_id),
        "board-2": (h.public_token("screen-2"), second.game_id),
        "conn-bob": (first.players["bob"].token, first.game_id),
        "conn-carol": (second.players["carol"].token, second.game_id),
    }
    for cid, (token, game_id) in subscriptions.items():
        assert h.ws_connect(cid, token) == 101
        h.ws_action(cid, "subscribe", gameId=game_id)
    return first, second


def test_mark_reaches_the_subscribers_of_its_game_only(
    h: Harness, two_games: tuple[Table, Table]
) -> None:
    first, _ = two_games

    result = h.mark(first.players["alice"], "w-charlie")

    for cid in ("board-1", "board-1b", "conn-bob"):
        event, board = h.frames(cid)
        assert event["type"] == "activity_event"
        assert event["gameId"] == first.game_id
        assert event["seq"] == result["seq"]
        assert event["event"]["type"] == "word_marked"
        assert event["event"]["data"] == {"nickname": "alice", "points": 10, "marks": 1}
        assert board["type"] == "leaderboard_update"
        assert board["seq"] == result["seq"]
        assert board["leaderboard"][0]["nickname"] == "alice"
        assert board["leaderboard"][0]["points"] == 10
    for cid in ("board-2", "conn-carol"):
        assert h.frames(cid) == []


def test_repeated_mark_broadcasts_nothing(h: Harness, two_games: tuple[Table, Table]) -> None:
    first, _ = two_games
    h.mark(first.players["alice"], "w-charlie")
    h.frames("board-1")
    posts = h.gateway.posts

    again = h.mark(first.players["alice"], "w-charlie")

    assert again["newlyMarked"] is False
    assert h.gateway.posts == posts
    assert h.frames("board-1") == []


def test_join_and_state_changes_are_broadcast_with_the_leaderboard(
    h: Harness, two_games: tuple[Table, Table]
) -> None:
    first, _ = two_games

    h.join(first.game_id, "dave")
    joined, board = h.frames("board-1")
    h.set_state(first.game_id, "paused", "coffee break")
    changed, board_after = h.frames("board-1")

    assert joined["event"]["type"] == "player_joined"
    assert joined["event"]["data"] == {"nickname": "dave"}
    assert (board["type"], board["seq"], board["totalPlayers"]) == (
        "leaderboard_update",
        joined["seq"],
        3,
    )
    assert changed == {
        "type": "game_state_changed",
        "gameId": first.game_id,
        "seq": joined["seq"] + 1,
        "previousState": "playing",
        "newState": "paused",
        "reason": "coffee break",
        "timestamp": h.clock() * 1000,
    }
    assert (board_after["type"], board_after["seq"]) == ("leaderboard_update", changed["seq"])
    assert h.frames("board-2") == []


def test_claim_and_verdict_are_broadcast_in_seq_order(
    h: Harness, two_games: tuple[Table, Table]
) -> None:
    first, _ = two_games
    alice = first.players["alice"]
    for word in h.line_words(alice):
        h.mark(alice, word)
    h.frames("board-1")

    claim = h.ok("POST", f"/games/{first.game_id}/bingo", token=alice.token)
    h.set_state(first.game_id, "ended", "verified")

    frames = h.frames("board-1")
    assert [(f["type"], f["seq"]) for f in frames] == [
        ("activity_event", claim["seq"] - 1),
        ("game_state_changed", claim["seq"]),
        ("leaderboard_update", claim["seq"]),
        ("game_state_changed", claim["seq"] + 1),
        ("leaderboard_update", claim["seq"] + 1),
    ]
    assert frames[0]["event"]["type"] == "bingo_claimed"
    assert frames[0]["event"]["data"] == {"nickname": "alice"}
    assert (frames[1]["previousState"], frames[1]["newState"]) == ("playing", "bingo")
    assert frames[3]["newState"] == "ended"
    assert frames[3]["winner"] == "alice"
    assert h.frames("board-2") == []


def test_gone_subscriber_is_deleted_after_one_broadcast_and_live_ones_stay(
    h: Harness, two_games: tuple[Table, Table]
) -> None:
    first, second = two_games
    h.gateway.close("board-1b")  # the client vanished without a $disconnect

    h.mark(first.players["alice"], "w-charlie")

    connections = sorted(r["connection_id"] for r in h.rows("connections"))
    assert connections == ["board-1", "board-2", "conn-bob", "conn-carol"]
    subscriptions = sorted((r["game_id"], r["connection_id"]) for r in h.rows("subscriptions"))
    assert subscriptions == sorted(
        [
            (first.game_id, "board-1"),
            (first.game_id, "conn-bob"),
            (second.game_id, "board-2"),
            (second.game_id, "conn-carol"),
        ]
    )
    assert len(h.frames("board-1")) == 2
    assert len(h.frames("conn-bob")) == 2


def test_gone_subscriber_is_not_posted_to_again(h: Harness, two_games: tuple[Table, Table]) -> None:
    first, _ = two_games
    h.gateway.close("board-1b")
    h.mark(first.players["alice"], "w-charlie")
    posts = h.gateway.posts

    h.mark(first.players["alice"], "w-delta")

    # Two messages (event, leaderboard) to the two live subscribers of the first game.
    assert h.gateway.posts - posts == 4
