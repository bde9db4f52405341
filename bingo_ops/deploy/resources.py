"""What a stage on AWS consists of: configuration, names, desired resources and outputs (pure data).

Nothing here calls AWS. `desired_resources` describes every resource of a stage in dependency
order; values only known once another resource exists (an API id, a role ARN) are `Ref`s that
the planner fills in from what it observed and the executor from what it created.

Fan-out on AWS (`AwsConfig.fanout`, default `stream`; every function gets `BINGO_FANOUT`):
the HTTP and WebSocket handlers only write. Each event item they insert (`sk` = `EVENT#...`)
appears on the table's DynamoDB stream, which two event source mappings read, one per audience:
`broadcast_boards` (window `board_window_s`, 0.25 s -> 0 s on AWS: as soon as the poller reads
the shard, about 4 times a second) and `broadcast_players` (`player_window_s`, 2 s). Two
mappings because a mapping has one batching window, and boards want news fast while players'
phones want few messages; each function is also metered on its own. Trailing guarantee: a
record reaches an invocation within its window, and that invocation reads the game's state as
it is then, so the last change reaches every subscriber within W; idle games invoke nothing.
KEYS_ONLY suffices (the keys name the game and seq; the broadcaster reads the rest from the
table) and keeps stream records small. The players' broadcaster hands each game's posting to an
asynchronous invocation of `post_players` (`BINGO_POST_FUNCTION`; the role may invoke it), so
the stream's next window never waits for thousands of posts. `inline` reproduces the per-mark
posting: no broadcasters, no mappings (removed if present); the stream stays enabled, unread
and free.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

# EVENT_FILTER lives with the keys it filters on: the emulator's poller applies it too.
from backend.adapters.dynamodb_keys import EVENT_FILTER, EVENT_SK_PREFIX
from backend.adapters.gateway_management_api import management_endpoint
from backend.adapters.store_dynamodb import TTL_ATTRIBUTE, table_definition
from backend.handlers import http_api, ws_message
from backend.services.context import FanoutMode

# The Lambda handlers API Gateway invokes, by the short name outputs and function names use.
HANDLERS: Final[Mapping[str, str]] = {
    "ws_authorizer": "backend.handlers.ws_authorizer.handler",
    "ws_connect": "backend.handlers.ws_connect.handler",
    "ws_disconnect": "backend.handlers.ws_disconnect.handler",
    "ws_message": "backend.handlers.ws_message.handler",
    "http_api": "backend.handlers.http_api.handler",
}
# The broadcasters the table's stream invokes (fan-out `stream` only), one per audience.
BROADCASTERS: Final[Mapping[str, str]] = {
    "broadcast_boards": "backend.handlers.stream_broadcast.boards_handler",
    "broadcast_players": "backend.handlers.stream_broadcast.players_handler",
}
# The players' broadcaster hands each game's posting to this function, invoked asynchronously
# (`BINGO_POST_FUNCTION`): posting 2,000 views takes one vCPU ~1.5 s through boto3, and the
# stream's next window waits for the broadcaster, not for these.
POSTERS: Final[Mapping[str, str]] = {
    "post_players": "backend.handlers.stream_broadcast.post_players_handler",
}
# Every function a stage may have: observe and teardown look for all of them.
ALL_HANDLERS: Final[Mapping[str, str]] = {**HANDLERS, **BROADCASTERS, **POSTERS}
AUDIENCES: Final[Mapping[str, str]] = {"broadcast_boards": "boards", "broadcast_players": "players"}
RUNTIME: Final = "python3.12"
# Lambda keeps logs forever unless told otherwise; a month covers any post-event analysis.
LOG_RETENTION_DAYS: Final = 30
# SSM parameter suffixes under `/{prefix}/{stage}/`, by token kind.
TOKEN_PARAMETERS: Final[Mapping[str, str]] = {
    "user": "user-token-keys",
    "public": "public-token-keys",
    "admin": "admin-token-keys",
}
# The WebSocket routes the gateway itself defines, and who serves them.
SYSTEM_ROUTES: Final[Mapping[str, str]] = {
    "$connect": "ws_connect",
    "$disconnect": "ws_disconnect",
    "$default": "ws_message",
}
ROUTE_SELECTION: Final = "$request.body.action"
TOKEN_IDENTITY_SOURCE: Final = "route.request.querystring.token"  # noqa: S105 - not a secret
HTTP_STAGE: Final = "$default"
# The custom domains' API mappings use the root path, so `wss://{domain}` is the stage itself.
MAPPING_KEY: Final = ""
LAMBDA_PRINCIPAL: Final = "lambda.amazonaws.com"
APIGATEWAY_PRINCIPAL: Final = "apigateway.amazonaws.com"
PERMISSION_SID: Final = "apigateway-invoke"

# The broadcaster reads everything from the table: the keys of the new item are enough
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html).
STREAM_SPECIFICATION: Final[Mapping[str, Any]] = {
    "StreamEnabled": True,
    "StreamViewType": "KEYS_ONLY",
}
# Event source mapping settings for a DynamoDB stream
# (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html,
# https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html):
# MaximumBatchingWindowInSeconds is whole seconds, 0-300.
MAX_BATCHING_WINDOW_S: Final = 300
STREAM_BATCH_SIZE: Final = 100
# A failing batch is split in two and retried (a poison record ends up alone), three times...
STREAM_MAX_RETRIES: Final = 3
# ... but never for records older than a minute: a stale leaderboard is worthless, and the next
# event of the game carries the current state anyway.
STREAM_MAX_RECORD_AGE_S: Final = 60

# What the DynamoDB adapter does, and nothing else: its calls (GetItem, BatchGetItem, Query,
# PutItem, BatchWriteItem, TransactWriteItems) and, because a transaction is authorised per
# entry, the Put/Update/Delete/ConditionCheck inside its transactions
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
# No Scan: every read is keyed.
DYNAMODB_ACTIONS: Final = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:TransactWriteItems",
    "dynamodb:UpdateItem",
)
# Reading the table's stream (the broadcasters' event source mappings).
STREAM_ACTIONS: Final = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)

# Deploy creates in this order (each kind only needs kinds before it); teardown deletes the
# top-level kinds in reverse, event source mappings before the functions they invoke. Routes,
# integrations, the authorizer and stages go with their API, permissions with their function,
# TTL and the stream with their table.
KIND_ORDER: Final = (
    "dynamodb_table",
    "ttl",
    "ssm_parameter",
    "websocket_api",
    "http_api",
    "stage",
    "iam_role",
    "log_group",
    "lambda_function",
    "event_source_mapping",
    "authorizer",
    "integration",
    "ws_route",
    "http_route",
    "permission",
    "domain_name",
    "api_mapping",
)
TEARDOWN_KINDS: Final = (
    "api_mapping",
    "domain_name",
    "http_api",
    "websocket_api",
    "event_source_mapping",
    "lambda_function",
    "log_group",
    "iam_role",
    "ssm_parameter",
    "dynamodb_table",
)

# Lower case: the parts end up in DNS names (custom domains), which API Gateway stores lowered.
_NAME_PART = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
_DOMAIN = re.compile(r"(?=.{4,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# Lambda function and IAM role names are at most 64 characters.
_MAX_NAME = 64


@dataclass(frozen=True)
class AwsConfig:
    """Where and how to deploy one stage.

    Attributes:
        stage: The stage name (`dev`, `prod`): part of every resource name and the WebSocket
            stage.
        region: The AWS region.
        prefix: The first part of every resource name.
        domain: A parent domain; with it the stage gets `ws-{stage}.{domain}` (WebSocket) and
            `api-{stage}.{domain}` (HTTP), so one wildcard certificate `*.{domain}` covers both.
            API Gateway cannot put a WebSocket API and an HTTP API on the same domain name
            (https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-mappings.html).
        certificate_arn: The ACM certificate (in `region`) for the custom domains.
        memory_mb: Lambda memory size.
        timeout_s: Lambda timeout.
        fanout: `stream` (writers only write; the broadcaster functions fan out from the
            table's stream, coalesced per audience) or `inline` (the writing invocation posts
            to every subscriber, per event: the original behaviour, kept for comparison).
        board_window_s: The public boards' batching window. AWS takes whole seconds, so it is
            rounded down (0.25 -> 0: as soon as the poller reads the shard).
        player_window_s: The players' batching window (rounded down the same way).

    Raises:
        ValueError: A name part is not 1-31 lower-case letters, digits or '-' (it starts every
            resource name and the domain names), a domain is given without a
            certificate (or the reverse), memory/timeout are outside Lambda's limits, the
            fan-out mode is unknown or a window is outside 0-300 s.
    """

    stage: str
    region: str
    prefix: str = "bingo"
    domain: str | None = None
    certificate_arn: str | None = None
    memory_mb: int = 256
    timeout_s: int = 10
    fanout: str = FanoutMode.STREAM.value
    board_window_s: float = 0.0
    player_window_s: float = 2.0

    def __post_init__(self) -> None:
        for label, value in (("stage", self.stage), ("prefix", self.prefix)):
            if not _NAME_PART.fullmatch(value):
                raise ValueError(
                    f"{label} must be 1-31 lower-case letters, digits or '-', got {value!r}"
                )
        if not self.region:
            raise ValueError("a region is required")
        longest = max((Names(self).function(h) for h in ALL_HANDLERS), key=len)
        if len(longest) > _MAX_NAME:
            raise ValueError(f"prefix and stage are too long: {longest!r} exceeds 64 characters")
        if (self.domain is None) != (self.certificate_arn is None):
            raise ValueError("--domain and --certificate-arn go together")
        if self.domain is not None and not _DOMAIN.fullmatch(self.domain):
            raise ValueError(f"not a lower-case domain name: {self.domain!r}")
        # https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError("memory_mb must be 128-10240")
        if not 1 <= self.timeout_s <= 900:
            raise ValueError("timeout_s must be 1-900")
        modes = tuple(mode.value for mode in FanoutMode)
        if self.fanout not in modes:
            raise ValueError(f"fanout must be one of {', '.join(modes)}, got {self.fanout!r}")
        for label, window in (
            ("board_window_s", self.board_window_s),
            ("player_window_s", self.player_window_s),
        ):
            # `not <=` also refuses NaN.
            if not 0 <= window <= MAX_BATCHING_WINDOW_S:
                raise ValueError(f"{label} must be 0-{MAX_BATCHING_WINDOW_S} seconds")

    @property
    def streams(self) -> bool:
        """Whether the broadcasters fan out from the table's stream."""
        return self.fanout == FanoutMode.STREAM.value

    def window_s(self, handler: str) -> float:
        """The batching window a broadcaster asked for, in (fractional) seconds."""
        return self.board_window_s if handler == "broadcast_boards" else self.player_window_s


@dataclass(frozen=True)
class Names:
    """Every name of a stage's resources, derived from its configuration alone."""

    config: AwsConfig

    @property
    def base(self) -> str:
        """`{prefix}-{stage}`, the start of every name."""
        return f"{self.config.prefix}-{self.config.stage}"

    @property
    def table(self) -> str:
        """The DynamoDB table."""
        return self.base

    @property
    def role(self) -> str:
        """The Lambda execution role (its inline policy has the same name)."""
        return f"{self.base}-lambda"

    @property
    def websocket_api(self) -> str:
        """The WebSocket API."""
        return f"{self.base}-ws"

    @property
    def http_api(self) -> str:
        """The HTTP API."""
        return f"{self.base}-http"

    @property
    def authorizer(self) -> str:
        """The WebSocket API's REQUEST authorizer."""
        return f"{self.base}-token"

    @property
    def ssm_prefix(self) -> str:
        """The SSM path of the token keyrings, with a trailing slash."""
        return f"/{self.config.prefix}/{self.config.stage}/"

    def parameter(self, kind: str) -> str:
        """The SSM parameter holding the keyring of a token kind."""
        return self.ssm_prefix + TOKEN_PARAMETERS[kind]

    def function(self, handler: str) -> str:
        """The Lambda function of a handler (`ws_connect` -> `bingo-dev-ws-connect`)."""
        return f"{self.base}-{handler.replace('_', '-')}"

    def log_group(self, handler: str) -> str:
        """The log group Lambda writes a handler's logs to."""
        return f"/aws/lambda/{self.function(handler)}"

    def stream_mapping(self, handler: str) -> str:
        """The event source mapping from the table's stream to a broadcaster."""
        return f"{self.table}/stream -> {self.function(handler)}"

    @property
    def websocket_domain(self) -> str | None:
        """The WebSocket API's custom domain, if any."""
        return (
            None if self.config.domain is None else f"ws-{self.config.stage}.{self.config.domain}"
        )

    @property
    def http_domain(self) -> str | None:
        """The HTTP API's custom domain, if any."""
        return (
            None if self.config.domain is None else f"api-{self.config.stage}.{self.config.domain}"
        )


@dataclass(frozen=True)
class Ref:
    """An attribute of another resource, known once that resource exists.

    Attributes:
        kind: The other resource's kind.
        name: The other resource's name.
        attribute: Which of its attributes (`ApiId`, `Arn`, ...).
    """

    kind: str
    name: str
    attribute: str

    def __str__(self) -> str:
        return f"<{self.name}.{self.attribute}>"


@dataclass(frozen=True)
class Join:
    """A string made of literal parts and `Ref`s (an ARN containing an API id)."""

    parts: tuple[str | Ref, ...]

    def __str__(self) -> str:
        return "".join(str(part) for part in self.parts)


@dataclass(frozen=True)
class Resource:
    """One resource as it should be.

    Attributes:
        kind: The resource kind (`lambda_function`, `ws_route`, ...).
        name: Its name, unique within the kind; observed resources are named the same way.
        spec: The properties deploy manages: compared with what exists, and an update sets
            the ones that differ.
        identity: Where the resource lives (its API, its function); needed by every call.
        create: Sent only when creating (tags, the table's full definition).
        label: A one-line description for the plan table.
        note: Why a value is what it is (a rounding), shown with a create or an update.
        absent: The resource must not exist (deploy deletes it if it does); `spec` is unused.
    """

    kind: str
    name: str
    spec: dict[str, Any]
    identity: dict[str, Any] = field(default_factory=dict)
    create: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    note: str = ""
    absent: bool = False


def code_sha256(bundle: bytes) -> str:
    """A zip's digest the way Lambda reports `CodeSha256` (base64 of the SHA-256)."""
    return base64.b64encode(hashlib.sha256(bundle).digest()).decode("ascii")


def management_url(api_endpoint: str, stage: str) -> str:
    """The `@connections` endpoint of a WebSocket API stage, from GetApi's `ApiEndpoint`.

    AWS reports a WebSocket API's endpoint as `wss://...` and moto as `https://...`; either
    way the management API is HTTPS at the same host and stage
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html).
    """
    return management_endpoint(f"{api_endpoint.rstrip('/')}/{stage}")


def websocket_url(api_endpoint: str, stage: str) -> str:
    """The `wss://` URL clients connect to, from GetApi's `ApiEndpoint` and the stage."""
    parts = urlsplit(api_endpoint.strip())
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    path = f"{parts.path.rstrip('/')}/{stage}"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def mapped_url(scheme: str, domain: str, key: str) -> str:
    """The URL of an API mapped on a custom domain at `key` (empty: the domain's root)."""
    return f"{scheme}://{domain}" + (f"/{key}" if key else "")


def function_of_uri(uri: str) -> str | None:
    """The Lambda function name inside an integration or authorizer URI, if any."""
    found = re.search(r":function:([A-Za-z0-9_-]+)", uri)
    return found.group(1) if found else None


def integration_name(api_name: str, function_name: str) -> str:
    """How an integration is named: the API and the function it invokes."""
    return f"{api_name} -> {function_name}"


def route_name(api_name: str, route_key: str) -> str:
    """How a route is named: the API and its route key."""
    return f"{api_name} {route_key}"


def stage_name(api_name: str, stage: str) -> str:
    """How a stage is named: the API and the stage."""
    return f"{api_name} {stage}"


def mapping_name(domain: str, key: str) -> str:
    """How an API mapping is named: the domain and the mapping key."""
    return f"{domain}/{key}"


def permission_name(function_name: str) -> str:
    """How the API Gateway invoke permission of a function is named."""
    return f"{function_name} {PERMISSION_SID}"


def canonical_policy(document: Mapping[str, Any]) -> dict[str, Any]:
    """A policy document with `Action`/`Resource` always lists, so equal policies compare equal.

    IAM accepts a single string where a list is allowed
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html).
    """
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    canonical = []
    for statement in statements:
        item = dict(statement)
        for key in ("Action", "Resource"):
            if isinstance(item.get(key), str):
                item[key] = [item[key]]
        canonical.append(item)
    return {**document, "Statement": canonical}


def _arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def _invoke_uri(partition: str, region: str, function_arn: str) -> str:
    # Lambda integrations and authorizers of WebSocket APIs name the function by this URI
    # (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).
    return (
        f"arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/"
        f"{function_arn}/invocations"
    )


def functions(config: AwsConfig) -> dict[str, str]:
    """The handlers the stage deploys: the API's, plus the broadcasters and poster on `stream`."""
    return {**HANDLERS, **BROADCASTERS, **POSTERS} if config.streams else dict(HANDLERS)


def batching_window(window_s: float) -> int:
    """`MaximumBatchingWindowInSeconds` for a window: AWS takes whole seconds, so round down.

    Rounding down keeps the promise "within W"; rounding up would break it.
    """
    return min(MAX_BATCHING_WINDOW_S, max(0, math.floor(window_s)))


def window_note(audience: str, window_s: float) -> str:
    """What a window becomes on AWS, for the plan's summary (`boards window 0.25 s -> 0 s ...`)."""
    seconds = batching_window(window_s)
    note = f"{audience} window {window_s:g} s -> {seconds} s"
    if seconds == 0:
        # With no window the poller invokes as soon as it reads records; it polls each shard
        # about 4 times a second (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html).
        return note + ": as soon as the poller reads the shard, about 4 times a second"
    if seconds != window_s:
        return note + " (whole seconds, rounded down)"
    return note


def event_filter_pattern() -> str:
    """The filter pattern, as the JSON string `FilterCriteria` carries (keys sorted, compact)."""
    return canonical_pattern(EVENT_FILTER)


def canonical_pattern(pattern: Mapping[str, Any] | str) -> str:
    """A filter pattern as compact JSON with sorted keys, so equal patterns compare equal."""
    value = json.loads(pattern) if isinstance(pattern, str) else pattern
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def tags(config: AwsConfig) -> dict[str, str]:
    """The tags every created resource carries (cost allocation, finding a stage's resources)."""
    return {"bingo:prefix": config.prefix, "bingo:stage": config.stage}


def role_policy(config: AwsConfig, *, account: str, partition: str) -> dict[str, Any]:
    """The execution role's inline policy: exactly what the handlers do, on exactly this stage.

    Args:
        config: The stage.
        account: The AWS account id.
        partition: The ARN partition (`aws`, `aws-cn`, ...).

    Returns:
        The policy document (`Ref` to the WebSocket API's id inside).
    """
    names = Names(config)
    region = config.region
    table_arn = _arn(partition, "dynamodb", region, account, f"table/{names.table}")
    parameter_arns = [
        # A parameter ARN drops the name's leading slash:
        # https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html
        _arn(partition, "ssm", region, account, f"parameter{names.parameter(kind)}")
        for kind in TOKEN_PARAMETERS
    ]
    log_groups = [
        _arn(partition, "logs", region, account, f"log-group:{names.log_group(handler)}")
        for handler in functions(config)
    ]
    ws_api_id = Ref("websocket_api", names.websocket_api, "ApiId")
    stream: list[dict[str, Any]] = []
    if config.streams:
        stream.append(
            {
                # The players' broadcaster starts posting jobs (InvocationType Event).
                "Sid": "PostJobs",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [
                    _arn(partition, "lambda", region, account, f"function:{names.function(h)}")
                    for h in POSTERS
                ],
            }
        )
        stream.append(
            {
                # What the event source mappings' pollers do with the role of the function
                # they invoke, on this table's streams only
                # (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html,
                # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/iam-policy-example-lamda-process-dynamodb-streams.html).
                "Sid": "Stream",
                "Effect": "Allow",
                "Action": list(STREAM_ACTIONS),
                "Resource": [f"{table_arn}/stream/*"],
            }
        )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Table",
                "Effect": "Allow",
                "Action": list(DYNAMODB_ACTIONS),
                "Resource": [table_arn, f"{table_arn}/index/*"],
            },
            {
                # POST to, GET and DELETE @connections of this API's stage only:
                # https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-control-access-iam.html
                "Sid": "Connections",
                "Effect": "Allow",
                "Action": ["execute-api:ManageConnections"],
                "Resource": [
                    Join(
                        (
                            f"arn:{partition}:execute-api:{region}:{account}:",
                            ws_api_id,
                            f"/{config.stage}/*/@connections/*",
                        )
                    )
                ],
            },
            {
                # GetParameter(s) read the three keyrings. No kms:Decrypt: the AWS managed key
                # aws/ssm lets every principal of the account decrypt through Parameter Store
                # (https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-restrict-decryption.html).
                "Sid": "TokenKeys",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                "Resource": parameter_arns,
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": log_groups + [f"{arn}:*" for arn in log_groups],
            },
            *stream,
        ],
    }


def trust_policy() -> dict[str, Any]:
    """The role's trust policy: only Lambda may assume it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": LAMBDA_PRINCIPAL},
                "Action": ["sts:AssumeRole"],
            }
        ],
    }


def environment(config: AwsConfig) -> dict[str, Any]:
    """Every function's environment (`backend/wiring.py` reads it); no secret is in here.

    The management endpoint is the execute-api one even with a custom domain: it works before
    DNS points at the domain, and IAM authorises `@connections` calls by API id either way.
    """
    names = Names(config)
    return {
        "BINGO_STORE": "dynamodb",
        "BINGO_TABLE": names.table,
        "BINGO_GATEWAY": "management_api",
        "BINGO_MANAGEMENT_ENDPOINT": Ref("websocket_api", names.websocket_api, "ManagementUrl"),
        "BINGO_TOKEN_SSM_PREFIX": names.ssm_prefix,
        "BINGO_FANOUT": config.fanout,
        **({"BINGO_POST_FUNCTION": names.function("post_players")} if config.streams else {}),
    }


def websocket_route_keys() -> dict[str, str]:
    """Every WebSocket route key and the handler serving it."""
    keys = dict(SYSTEM_ROUTES)
    keys.update(dict.fromkeys(ws_message.ROUTES, "ws_message"))
    return keys


def http_route_keys() -> tuple[str, ...]:
    """Every HTTP API route key (`POST /games/{gameId}/marks`)."""
    return tuple(key for key, _ in http_api.ROUTE_KEYS)


def desired_resources(
    config: AwsConfig, *, code_sha256: str, account: str, partition: str
) -> list[Resource]:
    """Every resource of the stage, as it should be, in `KIND_ORDER`.

    Args:
        config: The stage.
        code_sha256: The bundle's digest (see `code_sha256`).
        account: The AWS account id (STS GetCallerIdentity).
        partition: The ARN partition of the region.

    Returns:
        The resources; creating them in this order never needs one that comes later. With
        fan-out `inline`, the broadcasters and their mappings come as `absent` resources.
    """
    names = Names(config)
    region = config.region
    stage = config.stage
    tagged = tags(config)
    ws_name, http_name = names.websocket_api, names.http_api
    ws_id = Ref("websocket_api", ws_name, "ApiId")
    http_id = Ref("http_api", http_name, "ApiId")
    # Function and role ARNs follow from their names, so they are literals, not references: a
    # function recreated after an out-of-band delete changes nothing that points at it.
    function_arn = {
        h: _arn(partition, "lambda", region, account, f"function:{names.function(h)}")
        for h in HANDLERS
    }
    role_arn = f"arn:{partition}:iam::{account}:role/{names.role}"
    out: list[Resource] = []

    # The stream is on in both fan-out modes: switching modes then never replaces it (a new
    # stream gets a new ARN), and a stream nobody reads costs nothing.
    definition = {
        **table_definition(names.table),
        "StreamSpecification": dict(STREAM_SPECIFICATION),
    }
    indexes = sorted(i["IndexName"] for i in definition.get("GlobalSecondaryIndexes", []))
    out.append(
        Resource(
            "dynamodb_table",
            names.table,
            spec={
                "KeySchema": definition["KeySchema"],
                "BillingMode": definition.get("BillingMode", "PROVISIONED"),
                "IndexNames": indexes,
                "LocalIndexNames": sorted(
                    i["IndexName"] for i in definition.get("LocalSecondaryIndexes", [])
                ),
                "StreamSpecification": dict(STREAM_SPECIFICATION),
            },
            identity={"TableName": names.table},
            create={"Definition": definition, "Tags": tagged},
            label=f"{definition.get('BillingMode', 'PROVISIONED')}; indexes: "
            + (", ".join(indexes) or "none")
            + f"; stream {STREAM_SPECIFICATION['StreamViewType']}",
        )
    )
    out.append(
        Resource(
            "ttl",
            names.table,
            spec={"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
            identity={"TableName": names.table},
            label=f"expire items on {TTL_ATTRIBUTE}",
        )
    )
    for kind in TOKEN_PARAMETERS:
        out.append(
            Resource(
                "ssm_parameter",
                names.parameter(kind),
                spec={"Type": "SecureString"},
                identity={"Name": names.parameter(kind)},
                create={"Description": f"{kind} token keyring (kid:secret,...)", "Tags": tagged},
                label=f"SecureString {kind} token keyring; generated when created, never shown",
            )
        )
    out.append(
        Resource(
            "websocket_api",
            ws_name,
            spec={"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": ROUTE_SELECTION},
            identity={"Name": ws_name},
            create={"Tags": tagged},
            label=f"WebSocket API routed on {ROUTE_SELECTION}",
        )
    )
    out.append(
        Resource(
            "http_api",
            http_name,
            spec={
                "ProtocolType": "HTTP",
                # Players' browsers call the API from the game's web page on another origin;
                # tokens travel in the Authorization header (no cookies), so any origin is safe.
                "CorsConfiguration": {
                    "AllowOrigins": ["*"],
                    "AllowMethods": ["GET", "POST"],
                    "AllowHeaders": ["authorization", "content-type", "last-event-id"],
                    "MaxAge": 600,
                },
            },
            identity={"Name": http_name},
            create={"Tags": tagged},
            label="HTTP API (CORS for browsers)",
        )
    )
    # Stages come right after their API: with auto-deploy on, every later route or integration
    # change deploys by itself, so the last change leaves the complete API deployed
    # (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-stages.html).
    for api_name, api_id, stage_label in (
        (ws_name, ws_id, stage),
        (http_name, http_id, HTTP_STAGE),
    ):
        out.append(
            Resource(
                "stage",
                stage_name(api_name, stage_label),
                spec={"AutoDeploy": True},
                identity={"ApiId": api_id, "StageName": stage_label},
                create={"Tags": tagged},
                label=f"{stage_label}, auto-deploy",
            )
        )
    out.append(
        Resource(
            "iam_role",
            names.role,
            spec={
                "AssumeRolePolicyDocument": trust_policy(),
                "PolicyDocument": role_policy(config, account=account, partition=partition),
            },
            identity={"RoleName": names.role, "PolicyName": names.role},
            create={"Tags": tagged},
            label="assumed by Lambda; inline policy: table, @connections, token keys, logs",
        )
    )
    deployed = functions(config)
    for handler in deployed:
        out.append(
            Resource(
                "log_group",
                names.log_group(handler),
                spec={"RetentionInDays": LOG_RETENTION_DAYS},
                identity={"LogGroupName": names.log_group(handler)},
                create={"Tags": tagged},
                label=f"kept {LOG_RETENTION_DAYS} days",
            )
        )
    env = environment(config)
    for handler, entry in deployed.items():
        out.append(
            Resource(
                "lambda_function",
                names.function(handler),
                spec={
                    "Runtime": RUNTIME,
                    "Handler": entry,
                    "Role": role_arn,
                    "MemorySize": config.memory_mb,
                    "Timeout": config.timeout_s,
                    "Environment": {"Variables": env},
                    "CodeSha256": code_sha256,
                },
                identity={"FunctionName": names.function(handler)},
                create={"Tags": tagged},
                label=f"{entry}, {RUNTIME}, {config.memory_mb} MB, {config.timeout_s} s",
            )
        )
    out.extend(_stream_mappings(config))
    if not config.streams:
        for handler in (*BROADCASTERS, *POSTERS):
            out.append(
                Resource(
                    "lambda_function",
                    names.function(handler),
                    spec={},
                    identity={"FunctionName": names.function(handler)},
                    label="fan-out inline: no broadcaster",
                    absent=True,
                )
            )
    authorizer_fn = names.function("ws_authorizer")
    out.append(
        Resource(
            "authorizer",
            names.authorizer,
            spec={
                "AuthorizerType": "REQUEST",
                "AuthorizerUri": _invoke_uri(partition, region, function_arn["ws_authorizer"]),
                "IdentitySource": [TOKEN_IDENTITY_SOURCE],
            },
            identity={"ApiId": ws_id, "Name": names.authorizer},
            label=f"REQUEST, {TOKEN_IDENTITY_SOURCE} -> {authorizer_fn}",
        )
    )
    ws_handlers = sorted(set(websocket_route_keys().values()))
    for handler in ws_handlers:
        fn = names.function(handler)
        out.append(
            Resource(
                "integration",
                integration_name(ws_name, fn),
                spec={
                    "IntegrationType": "AWS_PROXY",
                    # Lambda is always invoked with POST, whatever the route.
                    "IntegrationMethod": "POST",
                    "IntegrationUri": _invoke_uri(partition, region, function_arn[handler]),
                },
                identity={"ApiId": ws_id},
                label=f"AWS_PROXY -> {fn}",
            )
        )
    http_fn = names.function("http_api")
    out.append(
        Resource(
            "integration",
            integration_name(http_name, http_fn),
            spec={
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": function_arn["http_api"],
                # https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
                "PayloadFormatVersion": "2.0",
            },
            identity={"ApiId": http_id},
            label=f"AWS_PROXY 2.0 -> {http_fn}",
        )
    )
    authorizer_id = Ref("authorizer", names.authorizer, "AuthorizerId")
    for key, handler in websocket_route_keys().items():
        fn = names.function(handler)
        target = Join(
            ("integrations/", Ref("integration", integration_name(ws_name, fn), "IntegrationId"))
        )
        spec: dict[str, Any] = {"Target": target, "AuthorizationType": "NONE"}
        label = f"-> {fn}"
        if key == "$connect":
            # Only $connect can be authorized; the connection is trusted afterwards
            # (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html).
            spec = {"Target": target, "AuthorizationType": "CUSTOM", "AuthorizerId": authorizer_id}
            label += f", authorizer {names.authorizer}"
        out.append(
            Resource(
                "ws_route",
                route_name(ws_name, key),
                spec=spec,
                identity={"ApiId": ws_id, "RouteKey": key},
                label=label,
            )
        )
    http_target = Join(
        ("integrations/", Ref("integration", integration_name(http_name, http_fn), "IntegrationId"))
    )
    for key in http_route_keys():
        out.append(
            Resource(
                "http_route",
                route_name(http_name, key),
                spec={"Target": http_target, "AuthorizationType": "NONE"},
                identity={"ApiId": http_id, "RouteKey": key},
                label=f"-> {http_fn}",
            )
        )
    execute_api = f"arn:{partition}:execute-api:{region}:{account}:"
    # Who may invoke each function: only this API (and for the authorizer, its authorizers)
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html
    sources = {
        "ws_authorizer": Join((execute_api, ws_id, "/authorizers/*")),
        "ws_connect": Join((execute_api, ws_id, f"/{stage}/*")),
        "ws_disconnect": Join((execute_api, ws_id, f"/{stage}/*")),
        "ws_message": Join((execute_api, ws_id, f"/{stage}/*")),
        "http_api": Join((execute_api, http_id, "/*")),
    }
    for handler, source in sources.items():
        fn = names.function(handler)
        out.append(
            Resource(
                "permission",
                permission_name(fn),
                spec={
                    "Action": "lambda:InvokeFunction",
                    "Principal": APIGATEWAY_PRINCIPAL,
                    "SourceArn": source,
                },
                identity={"FunctionName": fn, "StatementId": PERMISSION_SID},
                label=f"{APIGATEWAY_PRINCIPAL} may invoke, from {source}",
            )
        )
    if names.websocket_domain and names.http_domain and config.certificate_arn:
        for domain in (names.websocket_domain, names.http_domain):
            out.append(
                Resource(
                    "domain_name",
                    domain,
                    # WebSocket APIs support only regional domains and TLS 1.2
                    # (https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-custom-domain-names.html).
                    spec={
                        "CertificateArn": config.certificate_arn,
                        "EndpointType": "REGIONAL",
                        "SecurityPolicy": "TLS_1_2",
                    },
                    identity={"DomainName": domain},
                    create={"Tags": tagged},
                    label="REGIONAL, TLS 1.2",
                )
            )
        for domain, api_id, api_stage, api_name in (
            (names.websocket_domain, ws_id, stage, ws_name),
            (names.http_domain, http_id, HTTP_STAGE, http_name),
        ):
            out.append(
                Resource(
                    "api_mapping",
                    mapping_name(domain, MAPPING_KEY),
                    spec={"ApiId": api_id, "Stage": api_stage},
                    identity={"DomainName": domain, "ApiMappingKey": MAPPING_KEY},
                    label=f"{domain} -> {api_name} {api_stage}",
                )
            )
    return out


def _stream_mappings(config: AwsConfig) -> list[Resource]:
    """The event source mappings from the table's stream to each broadcaster (or their absence).

    Settings: https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html and
    https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html; the filter:
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html.
    """
    names = Names(config)
    out: list[Resource] = []
    for handler in BROADCASTERS:
        fn = names.function(handler)
        name = names.stream_mapping(handler)
        if not config.streams:
            out.append(
                Resource(
                    "event_source_mapping",
                    name,
                    spec={},
                    identity={"FunctionName": fn},
                    label="fan-out inline: the stream feeds no broadcaster",
                    absent=True,
                )
            )
            continue
        window = batching_window(config.window_s(handler))
        out.append(
            Resource(
                "event_source_mapping",
                name,
                spec={
                    # The stream's ARN is known once streaming is on (it changes if the
                    # stream is ever replaced, and the mapping moves with it).
                    "EventSourceArn": Ref("dynamodb_table", names.table, "LatestStreamArn"),
                    # News from now on: a broadcaster never replays a day of old events.
                    "StartingPosition": "LATEST",
                    "BatchSize": STREAM_BATCH_SIZE,
                    "MaximumBatchingWindowInSeconds": window,
                    "FilterCriteria": {"Filters": [{"Pattern": event_filter_pattern()}]},
                    # The handler reports per-record failures; a failing batch is halved and
                    # retried a bounded number of times, never past a minute.
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "BisectBatchOnFunctionError": True,
                    "MaximumRetryAttempts": STREAM_MAX_RETRIES,
                    "MaximumRecordAgeInSeconds": STREAM_MAX_RECORD_AGE_S,
                    # One batch per shard at a time: a game's events (one partition key, one
                    # shard) reach the broadcaster in order. More concurrent batches would keep
                    # order only per item (partition and sort key), and every event is its own
                    # item (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html).
                    "ParallelizationFactor": 1,
                    "Enabled": True,
                },
                identity={"FunctionName": fn},
                label=f"INSERT of {EVENT_SK_PREFIX}* items, batch {STREAM_BATCH_SIZE}, "
                f"window {window} s, LATEST",
                note=window_note(AUDIENCES[handler], config.window_s(handler)),
            )
        )
    return out


def outputs(
    config: AwsConfig, known: Mapping[tuple[str, str], Mapping[str, Any]]
) -> dict[str, Any]:
    """The stage's outputs, keyed like `bingo-ops serve --outputs` so clients treat both alike.

    Args:
        config: The stage.
        known: Attributes of every existing resource by (kind, name), after deploying.

    Returns:
        URLs (custom domains when configured) and resource names.
    """
    names = Names(config)
    ws = known[("websocket_api", names.websocket_api)]
    http = known[("http_api", names.http_api)]
    result: dict[str, Any] = {
        "target": "aws",
        "stage": config.stage,
        "region": config.region,
        "httpUrl": str(http["ApiEndpoint"]).rstrip("/"),
        "wsUrl": websocket_url(ws["ApiEndpoint"], config.stage),
        "managementUrl": ws["ManagementUrl"],
        "metricsUrl": None,
        "table": names.table,
        "role": names.role,
        "functions": {handler: names.function(handler) for handler in functions(config)},
        "fanout": config.fanout,
        "websocketApiId": ws["ApiId"],
        "httpApiId": http["ApiId"],
        "parameters": {kind: names.parameter(kind) for kind in TOKEN_PARAMETERS},
    }
    if config.streams:
        # What AWS batches on (whole seconds), by audience.
        result["batchingWindowS"] = {
            AUDIENCES[h]: batching_window(config.window_s(h)) for h in BROADCASTERS
        }
    if names.websocket_domain and names.http_domain:
        ws_mapping = known[("api_mapping", mapping_name(names.websocket_domain, MAPPING_KEY))]
        http_mapping = known[("api_mapping", mapping_name(names.http_domain, MAPPING_KEY))]
        ws_key = ws_mapping.get("ApiMappingKey", MAPPING_KEY)
        # Through a custom domain the management API lives under the mapping's path, not the
        # stage's (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html).
        result["wsUrl"] = mapped_url("wss", names.websocket_domain, ws_key)
        result["httpUrl"] = mapped_url(
            "https", names.http_domain, http_mapping.get("ApiMappingKey", MAPPING_KEY)
        )
        result["managementUrl"] = management_endpoint(result["wsUrl"])
        result["domains"] = {
            # Point DNS (CNAME or alias) at these targets.
            domain: known[("domain_name", domain)].get("ApiGatewayDomainName")
            for domain in (names.websocket_domain, names.http_domain)
        }
    return result
