"""Cost model: AWS list prices applied to metered or modelled usage, push vs 3 s polling."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from bingo_ops.emulator.metering import http_units, ws_units

__all__ = [
    "US_EAST_1",
    "CostBreakdown",
    "PriceTable",
    "Usage",
    "Workload",
    "compare",
    "cost",
    "polling_usage",
    "push_usage",
    "usage_from_metering",
]

_PER_MILLION = 1e-6

# DynamoDB capacity-unit sizes
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html):
# one read request unit reads up to 4 KB strongly consistent; one write request unit writes 1 KB;
# a transactional write costs 2 units per item.
_RRU_BYTES = 4 * 1024
_TRANSACT_WRU_PER_ITEM = 2
# A mark is one TransactWriteItems of 4 items: the mark, the player's score, the game's event
# sequence counter and the event itself (each item under 1 KB).
_MARK_TRANSACTION_ITEMS = 4
# Rough item sizes for reads: a subscription or leaderboard row, and an activity event.
_ROW_BYTES = 100
_EVENT_BYTES = 200
# Control frames (subscribe, resume, ping, their replies) and HTTP requests are far below one
# 32 KB WebSocket unit and one 512 KB HTTP API unit.
_CONTROL_FRAME_BYTES = 200
_HTTP_REQUEST_BYTES = 2 * 1024
# Per WebSocket session: the REQUEST authorizer, $connect, $disconnect, and the subscribe and
# resume routes, each one Lambda invocation.
_SESSION_INVOCATIONS = 5
# Per session in DynamoDB: $connect puts the connection, subscribe puts the subscription,
# $disconnect deletes both (1 WRU each, items under 1 KB); resume queries the events (1 RRU).
_SESSION_WRU = 4
_SESSION_RRU = 1


@dataclass(frozen=True)
class PriceTable:
    """List prices, in US dollars per billed unit, of everything the game is billed for.

    List prices change and differ by region: the table is a parameter of every function here,
    and `US_EAST_1` is only a dated default. Pass your own table (region, negotiated rates) to
    price the same usage differently. Free tiers and volume tiers are ignored (first tier only).

    Attributes:
        region: AWS region the prices apply to.
        as_of: Date (ISO 8601) the prices were checked.
        source: Pricing pages the figures come from.
        lambda_request: Per Lambda request.
        lambda_gb_second: Per GB-second of Lambda duration (x86).
        ws_message: Per WebSocket message unit (32 KB), sent or received.
        ws_connection_minute: Per WebSocket connection-minute.
        http_request: Per HTTP API request unit (512 KB).
        dynamodb_write_unit: Per on-demand DynamoDB write request unit.
        dynamodb_read_unit: Per on-demand DynamoDB read request unit.
    """

    region: str
    as_of: str
    source: tuple[str, ...]
    lambda_request: float
    lambda_gb_second: float
    ws_message: float
    ws_connection_minute: float
    http_request: float
    dynamodb_write_unit: float
    dynamodb_read_unit: float


US_EAST_1 = PriceTable(
    region="us-east-1",
    as_of="2026-11-29",
    source=(
        # $1.00 per million WebSocket messages (32 KB units, both directions), $0.25 per million
        # connection-minutes, $1.00 per million HTTP API requests (512 KB units), first tiers.
        "https://aws.amazon.com/api-gateway/pricing/",
        # $0.20 per million requests, $0.0000166667 per GB-second (x86, first 6 billion GB-s).
        "https://aws.amazon.com/lambda/pricing/",
        # On-demand after the 1 November 2024 price cut (50% off throughput):
        # $0.625 per million write request units, $0.125 per million read request units.
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        # Secondary confirmations of the same figures.
        "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html",
        "https://amnic.com/blogs/aws-api-gateway-pricing",
        "https://airbyte.com/data-engineering-resources/dynamodb-pricing",
    ),
    lambda_request=0.20 * _PER_MILLION,
    lambda_gb_second=0.0000166667,
    ws_message=1.00 * _PER_MILLION,
    ws_connection_minute=0.25 * _PER_MILLION,
    http_request=1.00 * _PER_MILLION,
    dynamodb_write_unit=0.625 * _PER_MILLION,
    dynamodb_read_unit=0.125 * _PER_MILLION,
)


@dataclass(frozen=True)
class Usage:
    """Billable quantities, already in the units AWS bills (32 KB messages, 512 KB requests).

    Attributes:
        lambda_requests: Lambda invocations.
        lambda_gb_seconds: Billed duration times configured memory, in GB-seconds.
        ws_message_units: WebSocket message units, in and out together.
        ws_connection_minutes: WebSocket connection-minutes.
        http_request_units: HTTP API request units.
        dynamodb_write_units: DynamoDB write request units.
        dynamodb_read_units: DynamoDB read request units.
    """

    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    ws_message_units: float = 0.0
    ws_connection_minutes: float = 0.0
    http_request_units: float = 0.0
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(Usage)),
        )

    def scale(self, factor: float) -> Usage:
        """Every quantity multiplied by `factor` (e.g. hours, or a share of the traffic)."""
        return Usage(*(getattr(self, f.name) * factor for f in fields(Usage)))


@dataclass(frozen=True)
class CostBreakdown:
    """Dollars per line item of a `Usage` priced with a `PriceTable`."""

    lambda_requests: float
    lambda_duration: float
    ws_messages: float
    ws_connection_minutes: float
    http_requests: float
    dynamodb_writes: float
    dynamodb_reads: float

    @property
    def total(self) -> float:
        """Sum of every line item, in dollars."""
        return float(sum(getattr(self, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, float]:
        """The line items and `total`, as plain data."""
        return {**asdict(self), "total": self.total}


def cost(usage: Usage, prices: PriceTable = US_EAST_1) -> CostBreakdown:
    """Price `usage` at `prices` (first-tier list prices, no free tier).

    Args:
        usage: Billable quantities.
        prices: The price table; `US_EAST_1` by default.

    Returns:
        Dollars per line item.
    """
    return CostBreakdown(
        lambda_requests=usage.lambda_requests * prices.lambda_request,
        lambda_duration=usage.lambda_gb_seconds * prices.lambda_gb_second,
        ws_messages=usage.ws_message_units * prices.ws_message,
        ws_connection_minutes=usage.ws_connection_minutes * prices.ws_connection_minute,
        http_requests=usage.http_request_units * prices.http_request,
        dynamodb_writes=usage.dynamodb_write_units * prices.dynamodb_write_unit,
        dynamodb_reads=usage.dynamodb_read_units * prices.dynamodb_read_unit,
    )


def _metric(snapshot: Mapping[str, Any], path: str) -> float:
    node: Any = snapshot
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(f"metering snapshot has no {path!r}")
        node = node[key]
    return float(node)


def usage_from_metering(
    snapshot: Mapping[str, Any],
    *,
    dynamodb_write_units: float = 0.0,
    dynamodb_read_units: float = 0.0,
) -> Usage:
    """The billable usage in an emulator `Meter.snapshot()`.

    The meter already counts WebSocket messages in 32 KB units and HTTP requests in 512 KB
    units. API Gateway bills WebSocket messages in both directions, so the billable units are
    units in plus units out. The emulator runs over SQLite and does not meter DynamoDB, so its
    units are 0 unless given here.

    Args:
        snapshot: `Meter.snapshot()` (or the `/_local/metrics` JSON).
        dynamodb_write_units: DynamoDB write request units measured or modelled elsewhere.
        dynamodb_read_units: DynamoDB read request units measured or modelled elsewhere.

    Returns:
        The usage.

    Raises:
        KeyError: A metric is missing from `snapshot`.
    """
    return Usage(
        lambda_requests=_metric(snapshot, "lambda.invocations"),
        lambda_gb_seconds=_metric(snapshot, "lambda.gbSeconds"),
        ws_message_units=_metric(snapshot, "websocket.messageUnitsIn")
        + _metric(snapshot, "websocket.messageUnitsOut"),
        ws_connection_minutes=_metric(snapshot, "websocket.connectionMinutes"),
        http_request_units=_metric(snapshot, "http.units"),
        dynamodb_write_units=dynamodb_write_units,
        dynamodb_read_units=dynamodb_read_units,
    )


@dataclass(frozen=True)
class Workload:
    """A conference-sized load, for modelling what push and polling would cost.

    Attributes:
        players: Players in all games together (spread evenly over the games).
        games: Games running at once (one per room).
        boards: Public status boards (spread evenly over the games).
        marks_per_player_per_minute: Marks each player makes per minute.
        hours: Length of the modelled period.
        memory_mb: Memory configured for every Lambda function.
        handler_ms: Billed milliseconds per invocation.
        message_bytes: Size of a broadcast message (activity or leaderboard).
        players_subscribe: Whether players hold a WebSocket subscription (else only boards do).
        heartbeat_s: Seconds between client pings on a WebSocket connection.
        session_minutes: Length of one WebSocket session before it reconnects.
    """

    players: int
    games: int
    boards: int
    marks_per_player_per_minute: float
    hours: float = 1.0
    memory_mb: int = 256
    handler_ms: float = 20.0
    message_bytes: int = 1200
    players_subscribe: bool = True
    heartbeat_s: float = 300.0
    session_minutes: float = 60.0

    def __post_init__(self) -> None:
        if self.games < 1:
            raise ValueError("a workload needs at least one game")
        if self.players < 0 or self.boards < 0 or self.marks_per_player_per_minute < 0:
            raise ValueError("players, boards and marks cannot be negative")
        if min(self.hours, self.memory_mb, self.handler_ms, self.message_bytes) <= 0:
            raise ValueError("hours, memory, handler time and message size must be positive")
        if self.heartbeat_s <= 0 or self.session_minutes <= 0:
            raise ValueError("heartbeat and session length must be positive")

    @property
    def marks(self) -> float:
        """Marks made in the whole period."""
        return self.players * self.marks_per_player_per_minute * 60 * self.hours

    @property
    def clients(self) -> int:
        """Devices showing the game: players and boards."""
        return self.players + self.boards

    @property
    def gb_seconds_per_invocation(self) -> float:
        """Billed duration of one invocation times memory (Lambda bills memory / 1024 GB)."""
        return self.handler_ms / 1000 * self.memory_mb / 1024


def _read_units(items: float, item_bytes: int) -> float:
    # A Query is billed on the summed size of what it returns, rounded up to 4 KB, and costs at
    # least one unit even when it returns nothing (strongly consistent; eventual would halve it).
    return float(max(1, math.ceil(items * item_bytes / _RRU_BYTES)))


def _mark_usage(w: Workload) -> Usage:
    """Each mark without any fan-out: one HTTP request, one invocation, one 4-item transaction."""
    marks = w.marks
    return Usage(
        lambda_requests=marks,
        lambda_gb_seconds=marks * w.gb_seconds_per_invocation,
        http_request_units=marks * http_units(_HTTP_REQUEST_BYTES),
        dynamodb_write_units=marks * _MARK_TRANSACTION_ITEMS * _TRANSACT_WRU_PER_ITEM,
    )


def push_usage(w: Workload) -> Usage:
    """Usage of the WebSocket design, which broadcasts two messages per mark.

    Args:
        w: The workload.

    Returns:
        The usage over `w.hours`.
    """
    players_per_game = w.players / w.games
    boards_per_game = w.boards / w.games
    subscribers_per_game = (players_per_game if w.players_subscribe else 0.0) + boards_per_game
    connections = (w.players if w.players_subscribe else 0) + w.boards
    marks = w.marks

    # Fan-out: the mark handler queries the game's subscribers and reads the leaderboard, then
    # posts an activity_event and a leaderboard_update to every subscriber through @connections.
    # API Gateway bills each delivered message in 32 KB units
    # (https://aws.amazon.com/api-gateway/pricing/); the posts run inside the mark's invocation.
    fan_out_units = marks * 2 * subscribers_per_game * ws_units(w.message_bytes)
    fan_out_reads = marks * (
        _read_units(subscribers_per_game, _ROW_BYTES) + _read_units(players_per_game, _ROW_BYTES)
    )

    # Sessions: a connection lasts `session_minutes` (API Gateway closes it after 2 h anyway),
    # then reconnects; each session is authorizer + $connect + $disconnect + subscribe + resume,
    # with a subscribe and a resume message in and their two replies out.
    sessions = connections * w.hours * 60 / w.session_minutes
    control_unit = ws_units(_CONTROL_FRAME_BYTES)
    session_units = sessions * 4 * control_unit

    # Heartbeats keep a connection under the 10-minute idle timeout: one ping in (one
    # invocation of the ping route) and one pong out per connection per `heartbeat_s`.
    heartbeats = connections * w.hours * 3600 / w.heartbeat_s
    heartbeat_units = heartbeats * 2 * control_unit

    invocations = sessions * _SESSION_INVOCATIONS + heartbeats
    sockets = Usage(
        lambda_requests=invocations,
        lambda_gb_seconds=invocations * w.gb_seconds_per_invocation,
        ws_message_units=fan_out_units + session_units + heartbeat_units,
        # Connection-minutes accrue for every minute a connection is open, idle or not.
        ws_connection_minutes=connections * 60 * w.hours,
        dynamodb_write_units=sessions * _SESSION_WRU,
        dynamodb_read_units=fan_out_reads + sessions * _SESSION_RRU,
    )
    return _mark_usage(w) + sockets


def polling_usage(w: Workload, interval_s: float = 3.0) -> Usage:
    """Usage of the deprecated design: every player and board polls the stream endpoint.

    Args:
        w: The workload.
        interval_s: Seconds between polls (the original's `retry: 3000`).

    Returns:
        The usage over `w.hours` (no WebSocket at all).

    Raises:
        ValueError: `interval_s` is not positive.
    """
    if interval_s <= 0:
        raise ValueError("the polling interval must be positive")
    players_per_game = w.players / w.games
    polls = w.clients * w.hours * 3600 / interval_s
    # Each poll is one HTTP API request and one invocation that reads the leaderboard and the
    # events since the client's last seq (those of the game in one interval, at least one unit).
    events_per_poll = players_per_game * w.marks_per_player_per_minute * interval_s / 60
    reads_per_poll = _read_units(players_per_game, _ROW_BYTES) + _read_units(
        events_per_poll, _EVENT_BYTES
    )
    polling = Usage(
        lambda_requests=polls,
        lambda_gb_seconds=polls * w.gb_seconds_per_invocation,
        http_request_units=polls * http_units(_HTTP_REQUEST_BYTES),
        dynamodb_read_units=polls * reads_per_poll,
    )
    return _mark_usage(w) + polling


def compare(
    w: Workload, prices: PriceTable = US_EAST_1, interval_s: float = 3.0
) -> dict[str, float]:
    """Push against polling for one workload, per hour and per user-hour.

    A user-hour is one connected client (player or board) for one hour.

    Args:
        w: The workload.
        prices: The price table.
        interval_s: Seconds between polls.

    Returns:
        `push_usd_per_hour`, `polling_usd_per_hour`, `push_invocations_per_user_hour`,
        `polling_invocations_per_user_hour`, `cost_ratio` (push over polling) and
        `invocation_ratio` (polling over push).
    """
    push = push_usage(w)
    polling = polling_usage(w, interval_s)
    push_usd = cost(push, prices).total / w.hours
    polling_usd = cost(polling, prices).total / w.hours
    user_hours = max(w.clients, 1) * w.hours
    push_inv = push.lambda_requests / user_hours
    polling_inv = polling.lambda_requests / user_hours
    return {
        "push_usd_per_hour": push_usd,
        "polling_usd_per_hour": polling_usd,
        "push_invocations_per_user_hour": push_inv,
        "polling_invocations_per_user_hour": polling_inv,
        "cost_ratio": push_usd / polling_usd if polling_usd else math.inf,
        "invocation_ratio": polling_inv / push_inv if push_inv else math.inf,
    }
