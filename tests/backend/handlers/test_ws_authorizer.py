"""The $connect REQUEST authorizer: Allow with string context, 401 by raising, 403 by Deny."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from backend.domain.tokens import (
    PUBLIC_TOKEN_TTL_S,
    READ_EVENTS,
    READ_LEADERBOARD,
    USER_TOKEN_TTL_S,
    Keyring,
    TokenKind,
    TokenService,
)
from backend.handlers import ws_authorizer

if TYPE_CHECKING:
    from conftest import Harness

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/$connect"


def _statement(policy: dict[str, Any]) -> dict[str, Any]:
    statements = policy["policyDocument"]["Statement"]
    assert len(statements) == 1
    statement: dict[str, Any] = statements[0]
    return statement


def test_user_token_is_allowed_with_its_claims_as_string_context(h: Harness) -> None:
    token = h.user_token("session-7", "game-7", "alice")

    policy = h.authorize("conn-1", token)

    assert policy["principalId"] == "session-7"
    assert policy["policyDocument"]["Version"] == "2012-10-17"
    assert _statement(policy) == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": METHOD_ARN,
    }
    assert policy["context"] == {
        "kind": "user",
        "sub": "session-7",
        "gameId": "game-7",
        "nickname": "alice",
        "permissions": "",
        "expiresAt": str(int(h.clock() + USER_TOKEN_TTL_S)),
    }


def test_public_token_is_allowed_with_its_permissions_in_the_context(h: Harness) -> None:
    policy = h.authorize("conn-1", h.public_token("hall-screen"))

    assert policy["principalId"] == "hall-screen"
    assert _statement(policy)["Effect"] == "Allow"
    assert policy["context"] == {
        "kind": "public",
        "sub": "hall-screen",
        "gameId": "",
        "nickname": "",
        "permissions": f"{READ_EVENTS},{READ_LEADERBOARD}",
        "expiresAt": str(int(h.clock() + PUBLIC_TOKEN_TTL_S)),
    }


@pytest.mark.parametrize("kind", ["user", "public"])
def test_every_context_value_is_a_string_as_api_gateway_requires(h: Harness, kind: str) -> None:
    token = h.user_token("s", "g", "n") if kind == "user" else h.public_token()

    policy = h.authorize("conn-1", token)

    assert isinstance(policy["principalId"], str)
    assert policy["context"]
    assert all(isinstance(v, str) for v in policy["context"].values())


@pytest.mark.parametrize(
    "query",
    [None, {}, {"token": ""}, {"other": "x"}],
    ids=["no-query-string", "empty-query", "empty-token", "other-parameter"],
)
def test_missing_token_raises_unauthorized(h: Harness, query: dict[str, str] | None) -> None:
    event = h.authorizer_event("conn-1", "placeholder")
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()}

    with pytest.raises(Exception, match=r"^Unauthorized$") as raised:
        ws_authorizer.handler(event, None)
    assert type(raised.value) is Exception


def _forged(kind: TokenKind) -> str:
    other = TokenService({kind: Keyring.parse(kind, "t1:" + "z" * 40)})
    if kind is TokenKind.USER:
        return other.issue_user("session-7", "game-7", "mallory", now=1_764_400_000.0)
    return other.issue_public("mallory-screen", now=1_764_400_000.0)[0]


BAD_TOKENS = {
    "garbage": lambda h: "not-a-token",
    "three-dots": lambda h: "a.b.c",
    "forged-user": lambda h: _forged(TokenKind.USER),
    "forged-public": lambda h: _forged(TokenKind.PUBLIC),
    "expired-user": lambda h: h.user_token("s", "g", "n", now=h.clock() - USER_TOKEN_TTL_S - 60),
    "expired-public": lambda h: h.public_token(now=h.clock() - PUBLIC_TOKEN_TTL_S - 60),
    "issued-in-the-future": lambda h: h.user_token("s", "g", "n", now=h.clock() + 3600),
    "truncated": lambda h: h.user_token("s", "g", "n")[:-5],
    "too-long": lambda h: "x" * 10_000,
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_bad_token_raises_exactly_unauthorized(h: Harness, name: str) -> None:
    token = BAD_TOKENS[name](h)

    with pytest.raises(Exception) as raised:  # noqa: PT011 - the message is checked below
        h.authorize("conn-1", token)

    # API Gateway answers 401 only for this exact message; anything else is a 500.
    assert type(raised.value) is Exception
    assert str(raised.value) == "Unauthorized"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_admin_token_is_denied_with_a_policy(h: Harness) -> None:
    policy = h.authorize("conn-1", h.admin_token())

    assert _statement(policy) == {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": METHOD_ARN,
    }
    assert "context" not in policy
    assert isinstance(policy["principalId"], str)


@pytest.mark.parametrize(
    "permissions",
    [frozenset(), frozenset({READ_EVENTS}), frozenset({"write_everything"})],
    ids=["none", "events-only", "unknown-only"],
)
def test_public_token_without_read_leaderboard_is_denied(
    h: Harness, permissions: frozenset[str]
) -> None:
    policy = h.authorize("conn-1", h.public_token(permissions=permissions))

    assert _statement(policy)["Effect"] == "Deny"
    assert "context" not in policy


@pytest.mark.parametrize(
    ("token_of", "status"),
    [
        (lambda h: None, 401),
        (lambda h: "garbage", 401),
        (lambda h: h.admin_token(), 403),
        (lambda h: h.public_token(permissions=frozenset({READ_EVENTS})), 403),
        (lambda h: h.public_token(), 101),
    ],
    ids=["missing", "garbage", "admin", "no-leaderboard-permission", "public"],
)
def test_only_allowed_connections_are_stored(h: Harness, token_of: Any, status: int) -> None:
    before = h.snapshot()

    assert h.ws_connect("conn-1", token_of(h)) == status

    if status == 101:
        assert [r["connection_id"] for r in h.rows("connections")] == ["conn-1"]
    else:
        assert h.snapshot() == before
