"""Typed views of the API Gateway events the handlers receive.

Shapes: HTTP API payload format 2.0 and WebSocket API Lambda proxy events
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html,
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-mapping-template-reference.html).
Optional keys are read with `.get`: AWS omits them rather than sending null, and older events
differ in what they carry.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.domain.errors import MalformedJson, Unauthorized
from backend.domain.tokens import TokenClaims, TokenKind

# Authorizer context values reach later events as strings (API Gateway stringifies them).
CTX_KIND, CTX_SUB, CTX_GAME, CTX_NICK, CTX_PERMS, CTX_EXP = (
    "kind",
    "sub",
    "gameId",
    "nickname",
    "permissions",
    "expiresAt",
)


def authorizer_context(claims: TokenClaims) -> dict[str, str]:
    """The authorizer's `context`: the verified claims, every value a string."""
    return {
        CTX_KIND: str(claims.kind),
        CTX_SUB: claims.subject,
        CTX_GAME: claims.game_id or "",
        CTX_NICK: claims.nickname or "",
        CTX_PERMS: ",".join(sorted(claims.permissions)),
        CTX_EXP: str(int(claims.expires_at)),
    }


def claims_from_context(context: Mapping[str, Any]) -> TokenClaims:
    """Rebuild the claims the authorizer verified on $connect.

    Raises:
        Unauthorized: the event carries no authorizer context (the route is not protected).
    """
    try:
        kind = TokenKind(str(context[CTX_KIND]))
        subject = str(context[CTX_SUB])
    except (KeyError, ValueError):
        raise Unauthorized("this connection was not authorized") from None
    perms = str(context.get(CTX_PERMS) or "")
    return TokenClaims(
        kind=kind,
        subject=subject,
        issued_at=0.0,
        expires_at=float(context.get(CTX_EXP) or 0),
        game_id=str(context.get(CTX_GAME) or "") or None,
        nickname=str(context.get(CTX_NICK) or "") or None,
        permissions=frozenset(p for p in perms.split(",") if p),
    )


def _body(event: Mapping[str, Any]) -> str | None:
    body = event.get("body")
    if body is None or not event.get("isBase64Encoded"):
        return body if isinstance(body, str) or body is None else str(body)
    try:
        return base64.b64decode(body, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MalformedJson("the body is not valid base64-encoded UTF-8") from None


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP API (payload 2.0) request."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    raw_body: Mapping[str, Any] = field(repr=False)
    request_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> HttpRequest:
        """Read a payload 2.0 event; the stage prefix of a named stage is removed from the path."""
        ctx = event.get("requestContext") or {}
        http = ctx.get("http") or {}
        path = str(event.get("rawPath") or http.get("path") or "/")
        stage = ctx.get("stage")
        if stage and stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        return cls(
            method=str(http.get("method") or "GET").upper(),
            path=path,
            headers=headers,
            query={str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
            raw_body=event,
            request_id=str(ctx.get("requestId") or ""),
        )

    def body(self) -> str | None:
        """The body as text (base64 bodies decoded).

        Raises:
            MalformedJson: a base64 body that does not decode to UTF-8.
        """
        return _body(self.raw_body)

    def bearer_token(self) -> str | None:
        """The token of an `Authorization: Bearer ...` header, if any."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass(frozen=True)
class WebSocketRequest:
    """A WebSocket $connect, $disconnect or message event."""

    connection_id: str
    route_key: str
    event_type: str
    request_id: str
    domain_name: str
    stage: str
    authorizer: Mapping[str, Any]
    raw_body: Mapping[str, Any] = field(repr=False)
    disconnect_status: int | None = None
    disconnect_reason: str | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WebSocketRequest:
        """Read a WebSocket proxy event."""
        ctx = event.get("requestContext") or {}
        status = ctx.get("disconnectStatusCode")
        return cls(
            connection_id=str(ctx.get("connectionId") or ""),
            route_key=str(ctx.get("routeKey") or ""),
            event_type=str(ctx.get("eventType") or ""),
            request_id=str(ctx.get("requestId") or ""),
            domain_name=str(ctx.get("domainName") or ""),
            stage=str(ctx.get("stage") or ""),
            authorizer=ctx.get("authorizer") or {},
            raw_body=event,
            disconnect_status=int(status) if isinstance(status, int | str) and status else None,
            disconnect_reason=ctx.get("disconnectReason"),
        )

    def body(self) -> str | None:
        """The message body as text.

        Raises:
            MalformedJson: a base64 body that does not decode to UTF-8.
        """
        return _body(self.raw_body)

    def claims(self) -> TokenClaims:
        """The claims the authorizer verified when this connection opened.

        Raises:
            Unauthorized: no authorizer context.
        """
        return claims_from_context(self.authorizer)


@dataclass(frozen=True)
class AuthorizerRequest:
    """A REQUEST authorizer event for a WebSocket $connect."""

    token: str | None
    method_arn: str
    connection_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> AuthorizerRequest:
        """Read the token from the `token` query string parameter (the identity source)."""
        query = event.get("queryStringParameters") or {}
        token = query.get("token")
        return cls(
            token=token if isinstance(token, str) and token else None,
            method_arn=str(event.get("methodArn") or ""),
            connection_id=str((event.get("requestContext") or {}).get("connectionId") or ""),
        )


@dataclass(frozen=True)
class StreamBatch:
    """A DynamoDB Streams batch for a broadcaster: the first new event seq of each game.

    Shape: https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html (`Records[].eventName`,
    `Records[].dynamodb.Keys` in DynamoDB's typed JSON). The broadcaster reads everything else
    from the table, so a KEYS_ONLY stream is enough; records of other items (the mapping's
    filter should drop them) and removals (TTL expiries) are ignored.

    Attributes:
        seq_ranges: Game id -> the lowest and highest event seq inserted in the batch.
        records: Records in the batch.
        ignored: Records that were not event inserts.
        first_records: Game id -> the `SequenceNumber` of its first record in the batch, which
            names the game in a partial batch failure (`batchItemFailures`).
    """

    seq_ranges: dict[str, tuple[int, int]]
    records: int
    ignored: int
    first_records: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_event(
        cls,
        event: Mapping[str, Any],
        parse_keys: Callable[[Mapping[str, Any]], tuple[str, int] | None],
    ) -> StreamBatch:
        """Read a stream event; `parse_keys` turns an item's keys into (game id, seq)."""
        records = event.get("Records") or []
        ranges: dict[str, tuple[int, int]] = {}
        first: dict[str, str] = {}
        ignored = 0
        for record in records:
            found = None
            if isinstance(record, Mapping) and record.get("eventName") == "INSERT":
                keys = (record.get("dynamodb") or {}).get("Keys")
                found = parse_keys(keys) if isinstance(keys, Mapping) else None
            if found is None:
                ignored += 1
                continue
            game_id, seq = found
            low, high = ranges.get(game_id, (seq, seq))
            ranges[game_id] = (min(low, seq), max(high, seq))
            number = (record.get("dynamodb") or {}).get("SequenceNumber")
            if isinstance(number, str):
                first.setdefault(game_id, number)
        return cls(seq_ranges=ranges, records=len(records), ignored=ignored, first_records=first)
