"""$disconnect: the connection and all of its subscriptions are forgotten."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from backend.handlers import ws_disconnect

if TYPE_CHECKING:
    from conftest import Harness


def test_disconnect_removes_the_connection_and_its_subscriptions(h: Harness) -> None:
    first = h.create_game()["gameId"]
    second = h.create_game()["gameId"]
    assert h.ws_connect("board-1", h.public_token("one")) == 101
    assert h.ws_connect("board-2", h.public_token("two")) == 101
    for game_id in (first, second):
        h.ws_action("board-1", "subscribe", gameId=game_id)
    h.ws_action("board-2", "subscribe", gameId=first)

    assert h.ws_disconnect("board-1", 1001, "going away") == {"statusCode": 200}

    assert [r["connection_id"] for r in h.rows("connections")] == ["board-2"]
    assert [(r["game_id"], r["connection_id"]) for r in h.rows("subscriptions")] == [
        (first, "board-2")
    ]


@pytest.mark.parametrize(
    ("status", "reason"),
    [(1000, ""), (1001, ""), (1005, "Client-side close frame status not set"), (1006, "x")],
)
def test_disconnect_logs_the_close_status_and_reason(
    h: Harness, caplog: pytest.LogCaptureFixture, status: int, reason: str
) -> None:
    assert h.ws_connect("conn-1", h.public_token()) == 101

    with caplog.at_level(logging.INFO, logger=ws_disconnect.__name__):
        assert h.ws_disconnect("conn-1", status, reason) == {"statusCode": 200}

    assert h.rows("connections") == []
    (record,) = caplog.records
    assert record.getMessage() == f"disconnect conn-1: {status} {reason}"


def test_disconnect_of_an_unknown_connection_is_harmless(h: Harness) -> None:
    assert h.ws_connect("conn-1", h.public_token()) == 101
    before = h.snapshot()

    event = h.disconnect_event("never-connected", None, 1006, "")
    assert ws_disconnect.handler(event, None) == {"statusCode": 200}

    assert h.snapshot() == before


def test_disconnect_twice_is_harmless(h: Harness) -> None:
    assert h.ws_connect("conn-1", h.public_token()) == 101
    authorizer = dict(h.authorizers["conn-1"])
    h.ws_disconnect("conn-1")

    event = h.disconnect_event("conn-1", authorizer, 1001, "")
    assert ws_disconnect.handler(event, None) == {"statusCode": 200}

    assert h.rows("connections") == []


def test_disconnected_connection_receives_no_broadcasts(h: Harness) -> None:
    table = h.table(("alice",))
    assert h.ws_connect("board-1", h.public_token()) == 101
    h.ws_action("board-1", "subscribe", gameId=table.game_id)
    h.ws_disconnect("board-1")
    posts = h.gateway.posts

    h.mark(table.players["alice"], "w-alpha")

    assert h.gateway.posts == posts
