"""$connect: the connection the authorizer allowed is stored; without its context, 401."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from backend.handlers import ws_connect
from backend.services.context import CONNECTION_TTL_S

if TYPE_CHECKING:
    from conftest import Harness


def test_user_connection_is_stored_with_the_verified_claims(h: Harness) -> None:
    token = h.user_token("session-7", "game-7", "alice")

    assert h.ws_connect("conn-1", token) == 101

    assert h.rows("connections") == [
        {
            "connection_id": "conn-1",
            "kind": "user",
            "subject": "session-7",
            "game_id": "game-7",
            "nickname": "alice",
            "permissions": "[]",
            "connected_at": h.clock(),
            "expires_at": h.clock() + CONNECTION_TTL_S,
        }
    ]
    assert h.rows("subscriptions") == []


def test_public_connection_is_stored_with_its_permissions(h: Harness) -> None:
    assert h.ws_connect("board-1", h.public_token("hall-screen")) == 101

    (row,) = h.rows("connections")
    assert row["kind"] == "public"
    assert row["subject"] == "hall-screen"
    assert row["game_id"] is None
    assert row["nickname"] is None
    assert row["permissions"] == '["read_events", "read_leaderboard"]'


def test_connect_handler_answers_200_and_posts_nothing(h: Harness) -> None:
    policy = h.authorize("conn-1", h.public_token())
    authorizer = {"principalId": policy["principalId"], **policy["context"]}
    h.gateway.open("conn-1")

    answer = ws_connect.handler(h.connect_event("conn-1", authorizer), None)

    assert answer == {"statusCode": 200}
    assert h.frames("conn-1") == []


def test_reconnecting_with_the_same_id_keeps_one_row(h: Harness) -> None:
    token = h.public_token()
    assert h.ws_connect("conn-1", token) == 101
    h.clock.advance(60)

    assert h.ws_connect("conn-1", token) == 101

    (row,) = h.rows("connections")
    assert row["connected_at"] == h.clock()


@pytest.mark.parametrize(
    "authorizer",
    [
        None,
        {},
        {"principalId": "session-1", "integrationLatency": 0},
        {"principalId": "x", "kind": "superuser", "sub": "x"},
        {"principalId": "x", "kind": "user"},
    ],
    ids=["no-authorizer", "empty", "principal-only", "unknown-kind", "no-subject"],
)
def test_connect_without_authorizer_context_is_refused_with_401(
    h: Harness, authorizer: dict[str, Any] | None
) -> None:
    before = h.snapshot()

    answer = ws_connect.handler(h.connect_event("conn-1", authorizer), None)

    assert answer == {"statusCode": 401}
    assert h.snapshot() == before
