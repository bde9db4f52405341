"""Cost model: AWS list prices applied to metered or modelled usage, push vs 3 s polling."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from bingo_ops.emulator.metering import http_units, ws_units

__all__ = [
    "FUNCTIONS",
    "US_EAST_1",
    "CostBreakdown",
    "GameEvent",
    "PriceTable",
    "RunCounts",
    "RunShape",
    "Session",
    "Usage",
    "Workload",
    "agreement",
    "compare",
    "cost",
    "counts_from_metering",
    "polling_usage",
    "predict_run",
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


# -- Run-shaped predictions: what a measured run should have been metered for --------------------

FUNCTIONS: tuple[str, ...] = (
    "ws_authorizer",
    "ws_connect",
    "ws_disconnect",
    "ws_message",
    "http_api",
)
# A client that subscribes with no position asks for the last 50 events (`EVENT_HISTORY` in
# bingo_ops.client.policy) with one `resume` right after `subscribed`.
_BACKFILL_EVENTS = 50
_DEFAULT_HEARTBEAT_S = 300.0


@dataclass(frozen=True)
class Session:
    """One WebSocket connection following one game, in wall seconds from the run's start.

    Attributes:
        game: The game it subscribed to (any label, the same as `GameEvent.game`).
        opened_s: When it connected.
        closed_s: When it closed.
    """

    game: str
    opened_s: float
    closed_s: float


@dataclass(frozen=True)
class GameEvent:
    """Something that added to a game's log, in wall seconds from the run's start.

    Attributes:
        game: The game.
        at_s: When it happened.
        events: Entries it added to the log (a claim adds two: the claim and the state change).
        messages: Messages the fan-out sends each subscriber: one per broadcast event plus a
            `leaderboard_update` (a mark: 2; a claim: 3; a game's creation broadcasts nothing).
    """

    game: str
    at_s: float
    events: int = 1
    messages: int = 2


@dataclass(frozen=True)
class RunShape:
    """What a measured run did, as its clients know it: the input of `predict_run`.

    Attributes:
        http_requests: Requests the run's clients sent to the HTTP API, polls excluded.
        polls: Polls of the stream endpoint.
        sessions: The WebSocket connections (none when polling).
        game_events: What each game's log received, in time order or not.
        heartbeat_s: Seconds of silence after which a client sends `ping`.
        message_bytes: Size of one pushed message (all but huge leaderboards fit one unit).
        backfill: Events a new subscriber asks for with its first `resume`.
    """

    http_requests: int = 0
    polls: int = 0
    sessions: tuple[Session, ...] = ()
    game_events: tuple[GameEvent, ...] = ()
    heartbeat_s: float = _DEFAULT_HEARTBEAT_S
    message_bytes: int = _CONTROL_FRAME_BYTES
    backfill: int = _BACKFILL_EVENTS


@dataclass(frozen=True)
class RunCounts:
    """The countable quantities of a run, predicted or metered, in billed units.

    Attributes:
        invocations: Lambda invocations per function (every name of `FUNCTIONS`).
        ws_message_units_in: WebSocket message units clients sent.
        ws_message_units_out: WebSocket message units delivered to clients.
        ws_connection_minutes: WebSocket connection-minutes.
        http_requests: HTTP API request units.
    """

    invocations: Mapping[str, float]
    ws_message_units_in: float = 0.0
    ws_message_units_out: float = 0.0
    ws_connection_minutes: float = 0.0
    http_requests: float = 0.0

    @property
    def total_invocations(self) -> float:
        """Invocations of every function together."""
        return float(sum(self.invocations.values()))

    def as_dict(self) -> dict[str, float]:
        """Flat quantities: `invocations.<function>`, `invocations.total` and the rest."""
        out = {f"invocations.{name}": float(self.invocations.get(name, 0)) for name in FUNCTIONS}
        out["invocations.total"] = self.total_invocations
        out["ws_message_units_in"] = float(self.ws_message_units_in)
        out["ws_message_units_out"] = float(self.ws_message_units_out)
        out["ws_connection_minutes"] = float(self.ws_connection_minutes)
        out["http_requests"] = float(self.http_requests)
        return out


def _subscribers(sessions: tuple[Session, ...], game: str, at_s: float) -> int:
    return sum(1 for s in sessions if s.game == game and s.opened_s < at_s < s.closed_s)


def _events_before(events: tuple[GameEvent, ...], game: str, at_s: float) -> int:
    return sum(e.events for e in events if e.game == game and e.at_s < at_s)


def predict_run(shape: RunShape) -> RunCounts:
    """The counts a run of `shape` should be metered for, by the design's accounting.

    Per WebSocket session: the authorizer, `$connect` and `$disconnect` run once each; the
    client sends `subscribe`, and, when the game already has events, `resume` for the last
    `backfill` of them (each a `ws_message` invocation and one message in). Out go `subscribed`
    and a `leaderboard_update` for the subscribe, the replayed events and a
    `leaderboard_update` for the resume. Every `heartbeat_s` of a session adds a `ping` in and a
    `pong` out. Every log entry's fan-out posts its `messages` to each session of its game open
    at that moment (inside the invocation that caused it). Connection-minutes are the sessions'
    lengths. Every HTTP request, polls included, is one `http_api` invocation and one unit.

    Not modelled: resumes a client sends when a broadcast arrives out of order and the gap
    outlives its 1 s grace, reconnections, and messages over 32 KB.

    Args:
        shape: What the run did.

    Returns:
        The predicted counts.
    """
    control = ws_units(_CONTROL_FRAME_BYTES)
    pushed = ws_units(shape.message_bytes)
    units_in = units_out = 0.0
    ws_message = 0.0
    minutes = 0.0
    for session in shape.sessions:
        length = max(0.0, session.closed_s - session.opened_s)
        minutes += length / 60
        pings = math.floor(length / shape.heartbeat_s)
        replayed = min(
            _events_before(shape.game_events, session.game, session.opened_s), shape.backfill
        )
        resumes = 1 if replayed > 0 else 0
        ws_message += 1 + resumes + pings
        units_in += (1 + resumes + pings) * control
        # subscribed + leaderboard_update, then per resume its events + leaderboard_update.
        units_out += 2 * control + resumes * (replayed + 1) * pushed + pings * control
    for event in shape.game_events:
        receivers = _subscribers(shape.sessions, event.game, event.at_s)
        units_out += receivers * event.messages * pushed
    sessions = float(len(shape.sessions))
    http = float(shape.http_requests + shape.polls)
    return RunCounts(
        invocations={
            "ws_authorizer": sessions,
            "ws_connect": sessions,
            "ws_disconnect": sessions,
            "ws_message": ws_message,
            "http_api": http,
        },
        ws_message_units_in=units_in,
        ws_message_units_out=units_out,
        ws_connection_minutes=minutes,
        http_requests=http,
    )


def counts_from_metering(snapshot: Mapping[str, Any]) -> RunCounts:
    """The countable quantities in a metering snapshot or delta (`Meter.snapshot()` shape).

    Raises:
        KeyError: A metric is missing from `snapshot`.
    """
    functions = snapshot.get("lambda", {}).get("functions", {})
    return RunCounts(
        invocations={
            name: float(functions.get(name, {}).get("invocations", 0)) for name in FUNCTIONS
        },
        ws_message_units_in=_metric(snapshot, "websocket.messageUnitsIn"),
        ws_message_units_out=_metric(snapshot, "websocket.messageUnitsOut"),
        ws_connection_minutes=_metric(snapshot, "websocket.connectionMinutes"),
        http_requests=_metric(snapshot, "http.units"),
    )


def agreement(
    predicted: RunCounts, metered: RunCounts, tolerance: float = 0.05
) -> dict[str, dict[str, Any]]:
    """Quantity by quantity, the model's prediction against the metering.

    Args:
        predicted: From `predict_run`.
        metered: From `counts_from_metering` of the run's metering delta.
        tolerance: Largest relative error that counts as agreement.

    Returns:
        Quantity -> `predicted`, `metered`, `relative_error` ((predicted - metered) /
        metered; 0 when both are 0, None when only the metering is 0) and `within`.
    """
    want = predicted.as_dict()
    got = metered.as_dict()
    out: dict[str, dict[str, Any]] = {}
    for name, value in want.items():
        actual = got[name]
        if actual == 0:
            error: float | None = 0.0 if value == 0 else None
        else:
            error = (value - actual) / actual
        out[name] = {
            "predicted": value,
            "metered": actual,
            "relative_error": error,
            "within": error is not None and abs(error) <= tolerance,
        }
    return out
