"""WebSocket $connect REQUEST authorizer: a user or public token in `?token=` -> Allow/Deny.

API Gateway answers 401 when the authorizer raises `Exception("Unauthorized")` and 403 on a
Deny policy (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html).
"""

from __future__ import annotations

from typing import Any

from backend import wiring
from backend.domain import tokens
from backend.domain.errors import BingoError
from backend.domain.tokens import TokenKind
from backend.handlers.errors import authorizer_denies
from backend.handlers.events import AuthorizerRequest, authorizer_context


def policy(
    principal: str, effect: str, resource: str, context: dict[str, str] | None = None
) -> dict[str, Any]:
    """An IAM policy document allowing or denying `execute-api:Invoke` on `resource`."""
    response: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        response["context"] = context
    return response


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Verify the connecting client's token.

    Raises:
        Exception: "Unauthorized" for a missing, malformed, forged or expired token.
    """
    request = AuthorizerRequest.from_event(event)
    deps = wiring.deps()
    if request.token is None:
        raise Exception("Unauthorized")
    try:
        claims = deps.tokens.verify(
            request.token, now=deps.clock(), accept=(TokenKind.USER, TokenKind.PUBLIC)
        )
        # A board that may not read the leaderboard has nothing to receive.
        tokens.require_permission(claims, tokens.READ_LEADERBOARD)
    except BingoError as error:
        if authorizer_denies(error):
            return policy("denied", "Deny", request.method_arn)
        raise Exception("Unauthorized") from None
    return policy(claims.subject, "Allow", request.method_arn, authorizer_context(claims))
