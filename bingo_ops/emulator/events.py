"""The one module that builds AWS events and Lambda contexts for the real handlers.

Shapes follow AWS's documentation and captured events (see tests/events/README.md): a REQUEST
authorizer event for WebSocket $connect, WebSocket proxy events (CONNECT, DISCONNECT, MESSAGE),
HTTP API payload format 2.0 events, and DynamoDB Streams records and batches as an event source
mapping delivers them.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from backend.adapters.dynamodb_keys import event_item_keys

if TYPE_CHECKING:
    from backend.adapters.store_sqlite import Change

API_ID = "local"
ACCOUNT_ID = "000000000000"
REGION = "local"


def _request_id() -> str:
    return base64.b64encode(uuid.uuid4().bytes[:12]).decode()


def _request_time(epoch_ms: int) -> str:
    # API Gateway's requestTime format: 29/Nov/2025:07:06:40 +0000
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers may read."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 30_000
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """The function's ARN in the emulator's fake account."""
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the modelled timeout."""
        return max(0, self.timeout_ms - int((time.monotonic() - self.started) * 1000))


@dataclass(frozen=True)
class WsSite:
    """Where a WebSocket API lives: the values every WebSocket event repeats."""

    domain_name: str = "localhost"
    stage: str = "local"
    api_id: str = API_ID


def _ws_context(
    site: WsSite,
    connection_id: str,
    route_key: str,
    event_type: str,
    connected_at_ms: int,
    source_ip: str,
) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    request_id = _request_id()
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": _request_time(now_ms),
        "messageDirection": "IN",
        "stage": site.stage,
        "connectedAt": connected_at_ms,
        "requestTimeEpoch": now_ms,
        "identity": {"sourceIp": source_ip},
        "requestId": request_id,
        "domainName": site.domain_name,
        "connectionId": connection_id,
        "apiId": site.api_id,
    }


def authorizer_event(
    site: WsSite,
    connection_id: str,
    query: dict[str, str],
    headers: dict[str, str],
    connected_at_ms: int,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """A REQUEST authorizer event for a WebSocket $connect."""
    method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{site.api_id}/{site.stage}/$connect"
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "stageVariables": {},
        "requestContext": _ws_context(
            site, connection_id, "$connect", "CONNECT", connected_at_ms, source_ip
        ),
    }


def connect_event(
    site: WsSite,
    connection_id: str,
    query: dict[str, str],
    headers: dict[str, str],
    authorizer: dict[str, Any],
    connected_at_ms: int,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The $connect integration event, after the authorizer allowed the connection."""
    ctx = _ws_context(site, connection_id, "$connect", "CONNECT", connected_at_ms, source_ip)
    ctx["authorizer"] = authorizer
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "requestContext": ctx,
        "isBase64Encoded": False,
    }


def disconnect_event(
    site: WsSite,
    connection_id: str,
    authorizer: dict[str, Any],
    connected_at_ms: int,
    status_code: int,
    reason: str,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The $disconnect event with the close status and reason."""
    ctx = _ws_context(site, connection_id, "$disconnect", "DISCONNECT", connected_at_ms, source_ip)
    ctx["authorizer"] = authorizer
    ctx["disconnectStatusCode"] = status_code
    ctx["disconnectReason"] = reason
    headers = {"Host": site.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": ctx,
        "isBase64Encoded": False,
    }


def message_event(
    site: WsSite,
    connection_id: str,
    route_key: str,
    body: str,
    authorizer: dict[str, Any],
    connected_at_ms: int,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """A MESSAGE event for the route API Gateway selected."""
    ctx = _ws_context(site, connection_id, route_key, "MESSAGE", connected_at_ms, source_ip)
    ctx["authorizer"] = authorizer
    ctx["messageId"] = _request_id()
    return {"requestContext": ctx, "body": body, "isBase64Encoded": False}


def http_event(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: str | bytes | None = None,
    domain_name: str = "localhost",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An HTTP API payload format 2.0 event for the `$default` route and stage."""
    now_ms = int(time.time() * 1000)
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".")[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": _request_id(),
            "routeKey": "$default",
            "stage": "$default",
            "time": formatdate(now_ms / 1000, usegmt=True),
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": False,
    }
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        # Payload 2.0 joins repeated parameters with commas.
        merged: dict[str, str] = {}
        for k, v in pairs:
            merged[k] = f"{merged[k]},{v}" if k in merged else v
        event["queryStringParameters"] = merged
    if body is not None:
        if isinstance(body, bytes):
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = body
    return event


def query_string(params: dict[str, Any]) -> str:
    """Encode query parameters as a raw query string."""
    return urlencode(params)


def millis_now() -> int:
    """The current time in epoch milliseconds, as API Gateway stamps events."""
    return int(time.time() * 1000)


# -- DynamoDB Streams ---------------------------------------------------------------------------
# Stream sequence numbers are decimal strings of 21 to 40 digits that grow within a shard
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html).
STREAM_SEQUENCE_DIGITS = 21
LOCAL_TABLE = "bingo-local"


def stream_label(epoch_s: float) -> str:
    """A stream label as DynamoDB makes them: the stream's creation time, to the millisecond."""
    millis = int(epoch_s * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{millis:03d}"


@dataclass(frozen=True)
class StreamSite:
    """Where a table's stream lives: the values every stream record repeats."""

    table: str = LOCAL_TABLE
    label: str = field(default_factory=lambda: stream_label(time.time()))
    region: str = REGION
    account_id: str = ACCOUNT_ID

    @property
    def arn(self) -> str:
        """The stream's ARN, the records' `eventSourceARN`."""
        return (
            f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{self.table}"
            f"/stream/{self.label}"
        )


def _keys_size(keys: dict[str, dict[str, str]]) -> int:
    # An item's size is the UTF-8 length of its attribute names and values
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
    return sum(len(n.encode()) + sum(len(v.encode()) for v in a.values()) for n, a in keys.items())


def stream_sequence_number(change: Change) -> str:
    """The stream record's `SequenceNumber` of a change (its change id, zero-padded)."""
    return f"{change.change_id:0{STREAM_SEQUENCE_DIGITS}d}"


def stream_record(site: StreamSite, change: Change) -> dict[str, Any]:
    """The `KEYS_ONLY` stream record of one event insert, as Lambda hands it over."""
    keys = event_item_keys(change.game_id, change.seq)
    sequence = stream_sequence_number(change)
    return {
        # A hex digest per record; stable for a record, so a retried batch repeats its ids.
        "eventID": hashlib.md5(
            f"{site.arn}/{sequence}".encode(), usedforsecurity=False
        ).hexdigest(),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": site.region,
        "dynamodb": {
            # Epoch seconds, rounded down to the second on DynamoDB Streams.
            "ApproximateCreationDateTime": float(int(change.created_at)),
            "Keys": keys,
            "SequenceNumber": sequence,
            "SizeBytes": _keys_size(keys),
            "StreamViewType": "KEYS_ONLY",
        },
        "eventSourceARN": site.arn,
    }


def lambda_stream_record(record: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """A record from the DynamoDB Streams API (`GetRecords`, via boto3) as Lambda hands it over.

    Lambda's poller adds `eventSourceARN` (the stream's ARN), which `GetRecords` leaves out, and
    the event carries `ApproximateCreationDateTime` as epoch seconds, where boto3 parses it into
    a datetime (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html). Everything else is
    passed on as the stream gave it.

    Args:
        record: One of `GetRecords`' `Records`.
        arn: The stream's ARN.
    """
    dynamodb = dict(record.get("dynamodb") or {})
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        # Rounded down to the second, as DynamoDB Streams reports it.
        dynamodb["ApproximateCreationDateTime"] = float(int(created.timestamp()))
    return {**record, "dynamodb": dynamodb, "eventSourceARN": arn}


def dynamodb_stream_event(site: StreamSite, changes: Iterable[Change]) -> dict[str, Any]:
    """A DynamoDB Streams batch event for an event source mapping's function.

    Shape: https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html (and the captured
    tests/events/dynamodb_stream_keys_only.json). Only inserts of event items reach the
    broadcasters (the mapping's filter), so every record here is one.
    """
    return {"Records": [stream_record(site, change) for change in changes]}
