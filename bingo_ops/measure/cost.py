"""Conference workloads: push (inline or stream fan-out) vs polling in dollars, and the frontier."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from backend.services.fanout import MAX_VIEWS_PER_JOB
from bingo_ops.emulator.metering import http_units, ws_units
from bingo_ops.measure.prices import US_EAST_1, PriceTable, Usage, cost

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
CONTROL_FRAME_BYTES = 200
_HTTP_REQUEST_BYTES = 2 * 1024
# Per WebSocket session: the REQUEST authorizer, $connect, $disconnect, and the subscribe and
# resume routes, each one Lambda invocation.
_SESSION_INVOCATIONS = 5
# Per session in DynamoDB: $connect puts the connection, subscribe puts the subscription,
# $disconnect deletes both (1 WRU each, items under 1 KB); resume queries the events (1 RRU).
_SESSION_WRU = 4
_SESSION_RRU = 1


FanoutMode = Literal["inline", "stream"]

# Lambda's DynamoDB Streams poller reads each shard about four times a second
# (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html: "Lambda polls shards in your
# DynamoDB stream for records at a base rate of 4 times per second").
AWS_STREAM_POLL_S = 0.25
# BatchSize default for a DynamoDB stream's event source mapping
# (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-eventsourcemapping.html).
_STREAM_BATCH_SIZE = 100
# Rows of a board's leaderboard (`backend.domain.audience.DEFAULT_TOP_N`).
TOP_N = 10
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
            and wall). An @connections call takes ~10-30 ms, so keeping a few dozen in flight
            would bring it under 1 ms, but the client's own CPU is a floor: boto3 spends
            0.74-0.82 ms signing, sending and parsing one post without any socket, ~2.7 ms
            with loopback HTTP (`bench/post_cost.py` on this project's 2-core machine), and a
            1,769 MB function has one vCPU whatever it keeps in flight. 0.75 ms is that floor.
        post_jobs: The players' broadcaster hands each game with news to an asynchronous
            posting invocation (`post_players`) instead of posting every view itself; a game
            of more than `MAX_VIEWS_PER_JOB` players is posted in parts, at once.
        dispatch_ms: Effective milliseconds one posting job adds to the players'
            broadcaster (an `Event` invoke: ~20 ms of round trip, ten in flight, plus CPU).
    """

    mode: FanoutMode = "inline"
    board_window_s: float = 0.25
    player_window_s: float = 2.0
    player_feed: bool = False
    poll_s: float = AWS_STREAM_POLL_S
    batch_size: int = _STREAM_BATCH_SIZE
    processing_s: float = 0.05
    post_ms: float = 0.75
    post_jobs: bool = True
    dispatch_ms: float = 5.0

    def __post_init__(self) -> None:
        if self.mode not in ("inline", "stream"):
            raise ValueError(f"unknown fan-out mode {self.mode!r}")
        if self.board_window_s < 0 or self.player_window_s < 0:
            raise ValueError("batching windows cannot be negative")
        if self.poll_s <= 0 or self.batch_size < 1:
            raise ValueError("the poll interval and the batch size must be positive")
        if self.processing_s < 0 or self.post_ms < 0 or self.dispatch_ms < 0:
            raise ValueError("processing allowance, post and dispatch time cannot be negative")

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


# Write units of one mark (its transaction).
MARK_WRITE_UNITS = _MARK_TRANSACTION_ITEMS * _TRANSACT_WRU_PER_ITEM


def poll_read_units(players_per_game: float, events: float) -> float:
    """Read units of one poll: the game's leaderboard rows and the events since its last seq."""
    return _read_units(players_per_game, _ROW_BYTES) + _read_units(events, _EVENT_BYTES)


def inline_read_units(subscribers_per_game: float, players_per_game: float) -> float:
    """Read units of one inline fan-out: the game's subscriptions and its standings."""
    return _read_units(subscribers_per_game, _ROW_BYTES) + _read_units(players_per_game, _ROW_BYTES)


def window_read_units(subscribers_per_game: float, rows: float, events: float) -> float:
    """Read units of one broadcaster window for one game with news.

    The game's subscriptions (every audience's rows, then filtered), the standings rows the
    audience's views need (boards: the top N; players: the whole game) and the window's events.
    """
    return (
        _read_units(subscribers_per_game, _ROW_BYTES)
        + _read_units(rows, _ROW_BYTES)
        + _read_units(events, _EVENT_BYTES)
    )


def _mark_usage(w: Workload) -> Usage:
    """Each mark without any fan-out: one HTTP request, one invocation, one 4-item transaction."""
    marks = w.marks
    return Usage(
        lambda_requests=marks,
        lambda_gb_seconds=marks * w.gb_seconds_per_invocation,
        http_request_units=marks * http_units(_HTTP_REQUEST_BYTES),
        dynamodb_write_units=marks * MARK_WRITE_UNITS,
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
            dynamodb_read_units=marks * inline_read_units(subscribers_per_game, players_per_game),
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
    control_unit = ws_units(CONTROL_FRAME_BYTES)
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
    jobs_per_hour: float = 0.0
    job_duration_s: float = 0.0

    @property
    def posting_s(self) -> float:
        """How long the last subscriber of a window waits for its post after the window ends."""
        return self.duration_s + self.job_duration_s


def _stream_windows(
    w: Workload, window_s: float, subscribers: float, feed: bool, jobs: bool = False
) -> _Window:
    """Steady state of one event source mapping over all games.

    One shard: one window at a time spans every game.
    A cycle is: wait for the poll that first sees a record, gather for `window_s`
    (MaximumBatchingWindowInSeconds), invoke (sequentially: the next batch waits for this
    invocation, https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html). Each game has
    news in a window with probability 1 - exp(-lambda_game * period): the records an
    invocation gets are those written since the previous one gathered. With `jobs` the
    invocation only starts one asynchronous posting job per game with news (`dispatch_ms`
    each), and the jobs post concurrently, outside the cycle.
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
        if jobs:
            duration_s = base_s + games * f.dispatch_ms / 1000
        else:
            duration_s = base_s + posts * f.post_ms / 1000
    # A window holds at most BatchSize records; a fuller one is split into more invocations.
    per_window = max(1.0, rate * period / f.batch_size)
    # A game with more subscribers than one job posts is split into parts, dispatched by the
    # first job and posted at once (`backend.services.fanout.run_post_job`).
    parts = max(1, math.ceil(subscribers / MAX_VIEWS_PER_JOB))
    job_s = (
        base_s
        + (parts - 1) * f.dispatch_ms / 1000
        + min(subscribers, MAX_VIEWS_PER_JOB) * (chunks + 1) * f.post_ms / 1000
        if jobs
        else 0.0
    )
    return _Window(
        invocations_per_hour=3600 / period * per_window,
        period_s=period,
        games_with_news=games,
        events_per_game=events,
        posts=posts,
        duration_s=duration_s,
        jobs_per_hour=3600 / period * games * parts if jobs else 0.0,
        job_duration_s=job_s,
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
        (f.board_window_s, boards_per_game, True, TOP_N, False),
        (f.player_window_s, players_per_game, f.player_feed, w.players / w.games, f.post_jobs),
    )
    for window_s, per_game, feed, rows, jobs in audiences:
        win = _stream_windows(w, window_s, per_game, feed, jobs)
        invocations = win.invocations_per_hour * w.hours
        job_invocations = win.jobs_per_hour * w.hours
        windows = 3600 / win.period_s * w.hours if math.isfinite(win.period_s) else 0.0
        reads_per_game = window_read_units(subscribers, rows, win.events_per_game)
        total += Usage(
            lambda_requests=invocations + job_invocations,
            lambda_gb_seconds=(invocations * win.duration_s + job_invocations * win.job_duration_s)
            * w.memory_mb
            / 1024,
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
    When records keep coming, one written just after the previous invocation started also
    waits for that invocation to end (one batch at a time per shard), so the posting counts
    twice: W + poll + 2 x posting, which is what the local conference bench measures. With
    posting jobs (`Fanout.post_jobs`, players only) the invocation only dispatches, and its
    game's job posts after it: W + poll + 2 x dispatching + one game's posting.

    Returns:
        (board p99, player p99).
    """
    if fanout.mode == "inline":
        return fanout.processing_s, fanout.processing_s
    wait = 0.99 * fanout.poll_s + fanout.processing_s
    if w is not None:
        stream = w if w.fanout == fanout else _with_fanout(w, fanout)
        board = _stream_windows(stream, fanout.board_window_s, w.boards / w.games, True)
        players = w.players / w.games if w.players_subscribe else 0.0
        player = _stream_windows(
            stream, fanout.player_window_s, players, fanout.player_feed, fanout.post_jobs
        )
        return (
            fanout.board_window_s + wait + board.duration_s + board.posting_s,
            fanout.player_window_s + wait + player.duration_s + player.posting_s,
        )
    return (fanout.board_window_s + wait, fanout.player_window_s + wait)


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
    reads_per_poll = poll_read_units(players_per_game, events_per_poll)
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
