"""Cost model: AWS list prices applied to metered or modelled usage, push vs 3 s polling."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from bingo_ops.emulator.metering import http_units, ws_units

__all__ = [
    "CONFERENCE_WORKLOAD",
    "FUNCTIONS",
    "INLINE",
    "US_EAST_1",
    "CostBreakdown",
    "Fanout",
    "FrontierRow",
    "GameEvent",
    "PriceTable",
    "RunCounts",
    "RunShape",
    "Session",
    "Usage",
    "Workload",
    "agreement",
    "choose",
    "compare",
    "cost",
    "counts_from_metering",
    "frontier",
    "polling_staleness_p99",
    "polling_usage",
    "predict_run",
    "push_staleness_p99",
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


FanoutMode = Literal["inline", "stream"]

# Lambda's DynamoDB Streams poller reads each shard about four times a second
# (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html: "Lambda polls shards in your
# DynamoDB stream for records at a base rate of 4 times per second").
AWS_STREAM_POLL_S = 0.25
# BatchSize default for a DynamoDB stream's event source mapping
# (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-eventsourcemapping.html).
_STREAM_BATCH_SIZE = 100
# Rows of a board's leaderboard (`backend.domain.audience.DEFAULT_TOP_N`).
_TOP_N = 10
_WS_UNIT_BYTES = 32 * 1024


@dataclass(frozen=True)
class Fanout:
    """How the news of a mark reaches the subscribers (issue 6's coalesced fan-out).

    `inline` is the original design (W = 0): the writing invocation posts every event and a
    leaderboard to every subscriber of the game. `stream` leaves the posting to two broadcaster
    functions fed by the table's change stream through one event source mapping per audience,
    each with its batching window (MaximumBatchingWindowInSeconds; on AWS whole seconds, 0 =
    as soon as the poller sees records).

    Attributes:
        mode: `inline` or `stream`.
        board_window_s: The boards' batching window W_b.
        player_window_s: The players' batching window W_p.
        player_feed: Whether players subscribe to the activity feed (boards always do).
        poll_s: Seconds between the poller's reads of the shard while idle (AWS: ~0.25; the
            emulator's default is 0.05).
        batch_size: BatchSize: records per invocation at most.
        processing_s: Staleness allowance for starting the invocation, its reads and the
            gateway's delivery (not the posting, which `post_ms` covers).
        post_ms: Effective milliseconds one post adds to a broadcaster's invocation (billed
            and wall): an @connections call takes ~10-30 ms, so 0.5 ms assumes the
            broadcaster keeps a few dozen posts in flight.
    """

    mode: FanoutMode = "inline"
    board_window_s: float = 0.25
    player_window_s: float = 2.0
    player_feed: bool = False
    poll_s: float = AWS_STREAM_POLL_S
    batch_size: int = _STREAM_BATCH_SIZE
    processing_s: float = 0.05
    post_ms: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in ("inline", "stream"):
            raise ValueError(f"unknown fan-out mode {self.mode!r}")
        if self.board_window_s < 0 or self.player_window_s < 0:
            raise ValueError("batching windows cannot be negative")
        if self.poll_s <= 0 or self.batch_size < 1:
            raise ValueError("the poll interval and the batch size must be positive")
        if self.processing_s < 0 or self.post_ms < 0:
            raise ValueError("processing allowance and post time cannot be negative")

    @property
    def label(self) -> str:
        """Short name for tables and figures."""
        if self.mode == "inline":
            return "inline (W=0)"
        return f"Wb={self.board_window_s:g} s, Wp={self.player_window_s:g} s"


INLINE = Fanout()


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
        fanout: How news reaches subscribers (default: inline, the original design).
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
    fanout: Fanout = INLINE

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
    """Usage of the WebSocket design, with the workload's fan-out (`w.fanout`).

    Inline (the original design) broadcasts two messages per mark to every subscriber of the
    game from inside the mark's invocation. Stream mode coalesces per window and audience
    (see `_stream_fan_out`): the mark's invocation only writes.

    Args:
        w: The workload.

    Returns:
        The usage over `w.hours`.
    """
    players_per_game = w.players / w.games
    boards_per_game = w.boards / w.games
    subscribers_per_game = (players_per_game if w.players_subscribe else 0.0) + boards_per_game
    player_connections = w.players if w.players_subscribe else 0
    connections = player_connections + w.boards
    marks = w.marks

    if w.fanout.mode == "inline":
        # Fan-out: the mark handler queries the game's subscribers and reads the leaderboard,
        # then posts an activity_event and a leaderboard_update to every subscriber through
        # @connections. API Gateway bills each delivered message in 32 KB units
        # (https://aws.amazon.com/api-gateway/pricing/); the posts run inside the mark's
        # invocation.
        fan_out = Usage(
            ws_message_units=marks * 2 * subscribers_per_game * ws_units(w.message_bytes),
            dynamodb_read_units=marks
            * (
                _read_units(subscribers_per_game, _ROW_BYTES)
                + _read_units(players_per_game, _ROW_BYTES)
            ),
        )
        player_feed = True
    else:
        fan_out = _stream_fan_out(w)
        player_feed = w.fanout.player_feed

    # Sessions: a connection lasts `session_minutes` (API Gateway closes it after 2 h anyway),
    # then reconnects; each session is authorizer + $connect + $disconnect + subscribe + resume,
    # with a subscribe and a resume message in and their two replies out. A player without
    # the activity feed never resumes (its client has no event log to fill): 4 invocations,
    # the subscribe in and `subscribed` + `leaderboard_update` out.
    per_hour = w.hours * 60 / w.session_minutes
    feed_sessions = (w.boards + (player_connections if player_feed else 0)) * per_hour
    plain_sessions = (0 if player_feed else player_connections) * per_hour
    sessions = feed_sessions + plain_sessions
    control_unit = ws_units(_CONTROL_FRAME_BYTES)
    session_units = (feed_sessions * 4 + plain_sessions * 3) * control_unit

    # Heartbeats keep a connection under the 10-minute idle timeout: one ping in (one
    # invocation of the ping route) and one pong out per connection per `heartbeat_s`.
    heartbeats = connections * w.hours * 3600 / w.heartbeat_s
    heartbeat_units = heartbeats * 2 * control_unit

    invocations = (
        feed_sessions * _SESSION_INVOCATIONS
        + plain_sessions * (_SESSION_INVOCATIONS - 1)
        + heartbeats
    )
    sockets = Usage(
        lambda_requests=invocations,
        lambda_gb_seconds=invocations * w.gb_seconds_per_invocation,
        ws_message_units=session_units + heartbeat_units,
        # Connection-minutes accrue for every minute a connection is open, idle or not.
        ws_connection_minutes=connections * 60 * w.hours,
        dynamodb_write_units=sessions * _SESSION_WRU,
        dynamodb_read_units=feed_sessions * _SESSION_RRU,
    )
    return _mark_usage(w) + fan_out + sockets


def _first_tick_wait(rate: float, poll_s: float) -> float:
    """Expected seconds from an invocation's end to the poll that next finds a record.

    The poller reads the shard right after an invocation and then every `poll_s`; records
    arrive as a Poisson process of `rate` per second. The first read at `k * poll_s` (k >= 1)
    that finds one comes with P(K > k) = exp(-rate * k * poll_s), so E[K] = 1 / (1 - q),
    q = exp(-rate * poll_s): about 1/rate + poll_s/2 when records are rare, poll_s when they
    are frequent (records of the invocation's own duration are ignored).
    """
    if rate <= 0:
        return math.inf
    return poll_s / -math.expm1(-rate * poll_s)


@dataclass(frozen=True)
class _Window:
    """One audience's steady-state stream windows (see `_stream_windows`)."""

    invocations_per_hour: float
    period_s: float
    games_with_news: float
    events_per_game: float
    posts: float
    duration_s: float


def _stream_windows(w: Workload, window_s: float, subscribers: float, feed: bool) -> _Window:
    """Steady state of one event source mapping over all games.

    One shard: one window at a time spans every game.
    A cycle is: wait for the poll that first sees a record, gather for `window_s`
    (MaximumBatchingWindowInSeconds), invoke (sequentially: the next batch waits for this
    invocation, https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html). Each game has
    news in a window with probability 1 - exp(-lambda_game * period): the records an
    invocation gets are those written since the previous one gathered.
    """
    f = w.fanout
    rate = w.players * w.marks_per_player_per_minute / 60  # records per second, all games
    if rate <= 0:
        return _Window(0.0, math.inf, 0.0, 0.0, 0.0, 0.0)
    per_game_rate = rate / w.games
    base_s = w.handler_ms / 1000
    # The invocation's duration depends on its posts, which depend on the period: two
    # fixed-point passes settle it (the posts barely move once the period exceeds 1/lambda).
    duration_s = base_s
    for _ in range(3):
        period = window_s + duration_s + _first_tick_wait(rate, f.poll_s)
        p_news = -math.expm1(-per_game_rate * period)
        games = w.games * p_news
        events = per_game_rate * period / p_news if p_news else 0.0
        # Per game with news: boards and feed players get the window's events in
        # `activity_batch` messages of at most 32 KB (one unit each) and one leaderboard;
        # players without the feed get one bounded leaderboard (state changes are rare).
        chunks = max(1, math.ceil(events * _EVENT_BYTES / _WS_UNIT_BYTES)) if feed else 0
        posts = games * subscribers * (chunks + 1)
        duration_s = base_s + posts * f.post_ms / 1000
    # A window holds at most BatchSize records; a fuller one is split into more invocations.
    per_window = max(1.0, rate * period / f.batch_size)
    return _Window(
        invocations_per_hour=3600 / period * per_window,
        period_s=period,
        games_with_news=games,
        events_per_game=events,
        posts=posts,
        duration_s=duration_s,
    )


def _stream_fan_out(w: Workload) -> Usage:
    """The two broadcaster functions' usage over `w.hours` (stream mode, steady state).

    Per invocation each broadcaster queries the subscriptions of every game with news (all
    audiences' rows, then filters), reads what its views need (boards: the top N rows;
    players: the game's whole standings once, every player's view is built in memory) and the
    window's events of the game, then posts. Reads are strongly consistent Queries billed per
    4 KB returned, at least one unit each
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
    Stream reads by Lambda's poller are free (https://aws.amazon.com/dynamodb/pricing/on-demand/:
    "GetRecords API calls invoked by AWS Lambda as part of DynamoDB triggers are free").
    """
    f = w.fanout
    players_per_game = w.players / w.games if w.players_subscribe else 0.0
    boards_per_game = w.boards / w.games
    subscribers = players_per_game + boards_per_game
    units = ws_units(w.message_bytes)
    total = Usage()
    audiences = (
        (f.board_window_s, boards_per_game, True, _TOP_N),
        (f.player_window_s, players_per_game, f.player_feed, w.players / w.games),
    )
    for window_s, per_game, feed, rows in audiences:
        win = _stream_windows(w, window_s, per_game, feed)
        invocations = win.invocations_per_hour * w.hours
        windows = 3600 / win.period_s * w.hours if math.isfinite(win.period_s) else 0.0
        reads_per_game = (
            _read_units(subscribers, _ROW_BYTES)
            + _read_units(rows, _ROW_BYTES)
            + _read_units(win.events_per_game, _EVENT_BYTES)
        )
        total += Usage(
            lambda_requests=invocations,
            lambda_gb_seconds=invocations * win.duration_s * w.memory_mb / 1024,
            # Leaderboards are `message_bytes` (bounded views fit one unit); batches are
            # chunked so that each is one unit.
            ws_message_units=windows * win.posts * units,
            dynamodb_read_units=windows * win.games_with_news * reads_per_game,
        )
    return total


def push_staleness_p99(fanout: Fanout, w: Workload | None = None) -> tuple[float, float]:
    """Modelled p99 staleness (seconds) of boards and players under push.

    Inline: the writer posts at once, so only the processing allowance. Stream: a record
    waits for the next poll (uniform over `poll_s`: p99 = 0.99 poll_s), then the window W,
    then the invocation's reads and posts (`processing_s` plus the window's posts at
    `post_ms` each when `w` is given; the last subscriber served waits for all of them).
    Records written while an invocation runs wait for it too; that is left out.

    Returns:
        (board p99, player p99).
    """
    if fanout.mode == "inline":
        return fanout.processing_s, fanout.processing_s
    posting = (0.0, 0.0)
    if w is not None:
        stream = w if w.fanout == fanout else _with_fanout(w, fanout)
        board = _stream_windows(stream, fanout.board_window_s, w.boards / w.games, True)
        players = w.players / w.games if w.players_subscribe else 0.0
        player = _stream_windows(stream, fanout.player_window_s, players, fanout.player_feed)
        posting = (board.duration_s, player.duration_s)
    wait = 0.99 * fanout.poll_s + fanout.processing_s
    return (
        fanout.board_window_s + wait + posting[0],
        fanout.player_window_s + wait + posting[1],
    )


def polling_staleness_p99(interval_s: float, round_trip_s: float = 0.1) -> float:
    """Modelled p99 staleness of a client polling every `interval_s`.

    A change lands uniformly within a poll interval, so it waits 0.99 T at the 99th
    percentile, plus the request's round trip.
    """
    return 0.99 * interval_s + round_trip_s


def _with_fanout(w: Workload, fanout: Fanout) -> Workload:
    return replace(w, fanout=fanout)


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


# -- The frontier: $ per hour against staleness, push at several windows, polling at several T -----

# The conference: 2,000 players in 10 games, 20 boards, 1 mark per player per minute.
CONFERENCE_WORKLOAD = Workload(players=2000, games=10, boards=20, marks_per_player_per_minute=1.0)
# The targets.
BOARD_P99_TARGET_S = 0.5
PLAYER_P99_TARGET_S = 3.0
BUDGET_SHARE_OF_POLLING = 0.85
BASELINE_POLL_S = 3.0
# Windows worth drawing: 0 and whole seconds deploy on AWS as they are; fractions show the
# shape of the curve (the emulator takes them).
DEFAULT_PUSH_WINDOWS: tuple[tuple[float, float], ...] = tuple(
    (board, player) for board in (0.0, 0.25, 1.0) for player in (0.0, 1.0, 2.0, 3.0, 5.0)
)
DEFAULT_POLL_INTERVALS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0)


@dataclass(frozen=True)
class FrontierRow:
    """One design at one parameter: what it costs and how stale it lets clients be.

    Attributes:
        design: `push-inline`, `push-stream` or `polling`.
        parameter: Human-readable parameter (windows, or the poll interval).
        usd_per_hour: Modelled $ per hour.
        board_p99_s: Modelled p99 staleness of a board.
        player_p99_s: Modelled p99 staleness of a player.
        board_window_s: W_b (push-stream), 0 for inline, None for polling.
        player_window_s: W_p (push-stream), 0 for inline, None for polling.
        poll_interval_s: T (polling), None for push.
    """

    design: str
    parameter: str
    usd_per_hour: float
    board_p99_s: float
    player_p99_s: float
    board_window_s: float | None = None
    player_window_s: float | None = None
    poll_interval_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


def frontier(
    w: Workload,
    push_windows: Iterable[tuple[float, float] | float] = DEFAULT_PUSH_WINDOWS,
    poll_intervals: Iterable[float] = DEFAULT_POLL_INTERVALS,
    prices: PriceTable = US_EAST_1,
    *,
    stream: Fanout | None = None,
    round_trip_s: float = 0.1,
) -> list[FrontierRow]:
    """$ per hour against p99 staleness: push inline, push stream at each window, polling.

    Args:
        w: The workload (its own `fanout` is ignored).
        push_windows: (W_b, W_p) pairs, or one W for both audiences.
        poll_intervals: Polling intervals T in seconds.
        prices: The price table.
        stream: Everything but the windows of the stream configurations (poll, feed, post
            time); `Fanout(mode="stream")` by default.
        round_trip_s: A poll's round trip, added to polling's staleness.

    Returns:
        Rows: inline first, then stream by window, then polling by interval.
    """
    base = stream if stream is not None else Fanout(mode="stream")
    base = replace(base, mode="stream")
    rows: list[FrontierRow] = []
    inline = replace(base, mode="inline")
    board, player = push_staleness_p99(inline, w)
    rows.append(
        FrontierRow(
            "push-inline",
            inline.label,
            cost(push_usage(_with_fanout(w, inline)), prices).total / w.hours,
            board,
            player,
            0.0,
            0.0,
        )
    )
    for windows in push_windows:
        board_w, player_w = windows if isinstance(windows, tuple) else (windows, windows)
        config = replace(base, board_window_s=float(board_w), player_window_s=float(player_w))
        board, player = push_staleness_p99(config, w)
        rows.append(
            FrontierRow(
                "push-stream",
                config.label,
                cost(push_usage(_with_fanout(w, config)), prices).total / w.hours,
                board,
                player,
                config.board_window_s,
                config.player_window_s,
            )
        )
    for interval in poll_intervals:
        stale = polling_staleness_p99(interval, round_trip_s)
        rows.append(
            FrontierRow(
                "polling",
                f"T={interval:g} s",
                cost(polling_usage(w, interval), prices).total / w.hours,
                stale,
                stale,
                poll_interval_s=float(interval),
            )
        )
    return rows


def choose(
    rows: Sequence[FrontierRow],
    baseline_usd_per_hour: float,
    *,
    board_p99_s: float = BOARD_P99_TARGET_S,
    player_p99_s: float = PLAYER_P99_TARGET_S,
    budget_share: float = BUDGET_SHARE_OF_POLLING,
) -> dict[str, Any]:
    """The cheapest push configuration meeting both staleness targets, against the budget.

    Args:
        rows: From `frontier`.
        baseline_usd_per_hour: What the baseline (3 s HTTP-API polling) costs per hour.
        board_p99_s: Largest acceptable board p99 staleness.
        player_p99_s: Largest acceptable player p99 staleness.
        budget_share: The chosen configuration must cost at most this share of the baseline.

    Returns:
        `chosen` (the row as a dict, None when no push configuration meets the targets),
        `meets_staleness`, `ratio_to_polling`, `within_budget`, `baseline_usd_per_hour` and
        the targets.
    """
    fitting = [
        r
        for r in rows
        if r.design.startswith("push")
        and r.board_p99_s <= board_p99_s
        and r.player_p99_s <= player_p99_s
    ]
    best = min(fitting, key=lambda r: r.usd_per_hour, default=None)
    ratio = (
        best.usd_per_hour / baseline_usd_per_hour
        if best is not None and baseline_usd_per_hour > 0
        else None
    )
    return {
        "chosen": best.as_dict() if best is not None else None,
        "meets_staleness": best is not None,
        "ratio_to_polling": ratio,
        "within_budget": ratio is not None and ratio <= budget_share,
        "baseline_usd_per_hour": baseline_usd_per_hour,
        "targets": {
            "board_p99_s": board_p99_s,
            "player_p99_s": player_p99_s,
            "budget_share_of_polling": budget_share,
        },
    }


# -- Run-shaped predictions: what a measured run should have been metered for --------------------

FUNCTIONS: tuple[str, ...] = (
    "ws_authorizer",
    "ws_connect",
    "ws_disconnect",
    "ws_message",
    "http_api",
    "broadcast_boards",
    "broadcast_players",
)
_BROADCASTERS = {"board": "broadcast_boards", "player": "broadcast_players"}
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
        audience: `board` (public token) or `player` (user token).
        feed: Whether it subscribed to the activity feed (it then resumes its backfill).
    """

    game: str
    opened_s: float
    closed_s: float
    audience: str = "player"
    feed: bool = True


@dataclass(frozen=True)
class GameEvent:
    """Something that added to a game's log, in wall seconds from the run's start.

    Attributes:
        game: The game.
        at_s: When it happened.
        events: Entries it added to the log (a claim adds two: the claim and the state change).
        messages: Messages the fan-out sends each subscriber: one per broadcast event plus a
            `leaderboard_update` (a mark: 2; a claim: 3; a game's creation broadcasts nothing).
            Inline fan-out only.
        moves_leaderboard: Whether its entries may change the standings (a join, a mark, a
            state change: the stream broadcasters then send a leaderboard).
        state_changes: How many of its entries are state changes (sent one by one to
            subscribers without the feed in stream mode).
    """

    game: str
    at_s: float
    events: int = 1
    messages: int = 2
    moves_leaderboard: bool = True
    state_changes: int = 0


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
        fanout: The stack's fan-out (inline by default); its `poll_s` must be the stack's
            stream poll interval (the emulator's default is 0.05 s).
        write_delay_s: Seconds from a client's `at_s` (when it sent the request) to the
            record's write, on average.
        broadcast_s: Wall seconds a broadcaster invocation takes (the mapping waits for it).
    """

    http_requests: int = 0
    polls: int = 0
    sessions: tuple[Session, ...] = ()
    game_events: tuple[GameEvent, ...] = ()
    heartbeat_s: float = _DEFAULT_HEARTBEAT_S
    message_bytes: int = _CONTROL_FRAME_BYTES
    backfill: int = _BACKFILL_EVENTS
    fanout: Fanout = INLINE
    write_delay_s: float = 0.01
    broadcast_s: float = 0.01


@dataclass(frozen=True)
class RunCounts:
    """The countable quantities of a run, predicted or metered, in billed units.

    Attributes:
        invocations: Lambda invocations per function (every name of `FUNCTIONS`).
        ws_message_units_in: WebSocket message units clients sent.
        ws_message_units_out: WebSocket message units delivered to clients.
        ws_connection_minutes: WebSocket connection-minutes.
        http_requests: HTTP API request units.
        broadcast_units_out: Of `ws_message_units_out`, the units the stream broadcasters
            sent, per audience (`board`, `player`); empty when inline or metered.
    """

    invocations: Mapping[str, float]
    ws_message_units_in: float = 0.0
    ws_message_units_out: float = 0.0
    ws_connection_minutes: float = 0.0
    http_requests: float = 0.0
    broadcast_units_out: Mapping[str, float] = field(default_factory=dict)

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
    client sends `subscribe`, and, when it follows the feed and the game already has events,
    `resume` for the last `backfill` of them (each a `ws_message` invocation and one message
    in). Out go `subscribed` and a `leaderboard_update` for the subscribe, the replayed events
    and a `leaderboard_update` for the resume. Every `heartbeat_s` of a session adds a `ping`
    in and a `pong` out. Connection-minutes are the sessions' lengths. Every HTTP request,
    polls included, is one `http_api` invocation and one unit.

    Inline fan-out: every log entry's fan-out posts its `messages` to each session of its
    game open at that moment (inside the invocation that caused it). Stream fan-out: the
    writers post nothing; `_stream_windows_of_run` replays each mapping's windows.

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
        resumes = 1 if replayed > 0 and session.feed else 0
        ws_message += 1 + resumes + pings
        units_in += (1 + resumes + pings) * control
        # subscribed + leaderboard_update, then per resume its events + leaderboard_update.
        units_out += 2 * control + resumes * (replayed + 1) * pushed + pings * control
    invocations = dict.fromkeys(FUNCTIONS, 0.0)
    broadcast: dict[str, float] = {}
    if shape.fanout.mode == "inline":
        for event in shape.game_events:
            receivers = _subscribers(shape.sessions, event.game, event.at_s)
            units_out += receivers * event.messages * pushed
    else:
        for audience, name in _BROADCASTERS.items():
            count, sent = _stream_windows_of_run(shape, audience)
            invocations[name] = count
            broadcast[audience] = sent * pushed
            units_out += sent * pushed
    sessions = float(len(shape.sessions))
    http = float(shape.http_requests + shape.polls)
    invocations.update(
        {
            "ws_authorizer": sessions,
            "ws_connect": sessions,
            "ws_disconnect": sessions,
            "ws_message": ws_message,
            "http_api": http,
        }
    )
    return RunCounts(
        invocations=invocations,
        ws_message_units_in=units_in,
        ws_message_units_out=units_out,
        ws_connection_minutes=minutes,
        http_requests=http,
        broadcast_units_out=broadcast,
    )


def _stream_windows_of_run(shape: RunShape, audience: str) -> tuple[float, float]:
    """One mapping's invocations and messages over a run's log entries (one shard).

    The poller reads right after each invocation and then every `poll_s`; a window opens at
    the first read that finds a pending record (for the very first record, half a poll
    interval after it on average, the poller's phase being unknown), gathers every record
    written until W later, and invokes the broadcaster once (more if BatchSize overflows).
    For each game in the window, every session of the audience open when the window closes
    receives: with the feed, one `activity_batch` (the run's windows stay far below 32 KB)
    and, when the standings may have moved, one `leaderboard_update`; without the feed, each
    state change and that leaderboard.

    Not exact: a record written within a few milliseconds of a poll or of a window's end may
    fall either side, which moves one window's worth of invocations and messages.
    """
    f = shape.fanout
    window_s = f.board_window_s if audience == "board" else f.player_window_s
    events = sorted(shape.game_events, key=lambda e: e.at_s)
    times = [e.at_s + shape.write_delay_s for e in events]
    sessions = [s for s in shape.sessions if s.audience == audience]
    invocations = messages = 0.0
    free_at: float | None = None  # when the previous invocation ended: the poller reads then
    i = 0
    while i < len(events):
        first = times[i]
        if free_at is None:
            opened = first + f.poll_s / 2
        elif first <= free_at:
            opened = free_at
        else:
            opened = free_at + math.ceil((first - free_at) / f.poll_s) * f.poll_s
        closed = opened + window_s
        j = i
        while j < len(events) and times[j] <= closed:
            j += 1
        batch = events[i:j]
        records = sum(e.events for e in batch)
        invocations += max(1, math.ceil(records / f.batch_size))
        for game in {e.game for e in batch}:
            news = [e for e in batch if e.game == game]
            moved = any(e.moves_leaderboard for e in news)
            for session in sessions:
                if session.game != game or not session.opened_s < closed < session.closed_s:
                    continue
                if session.feed:
                    messages += 1 + (1 if moved else 0)
                else:
                    messages += sum(e.state_changes for e in news) + (1 if moved else 0)
        free_at = closed + shape.broadcast_s
        i = j
    return invocations, messages


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
