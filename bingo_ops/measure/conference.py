"""The conference benchmark: per-audience fan-out against 3 s polling, run for real, metered.

One run (`run_conference`) plays the conference scenario on a fresh local stack in one
fan-out configuration:

- `inline`: the original design (W = 0): the mark's own invocation posts every event and a
  leaderboard to every subscriber; every player and board holds a WebSocket;
- `stream`: writers only write; the broadcaster functions, fed by the emulated change stream,
  send per audience once per batching window (boards W_b, players W_p); players subscribe
  without the activity feed;
- `polling`: the deprecated design: every player and board polls
  `GET /leaderboard/{gameId}/stream` every T seconds from a random phase; no WebSocket.

Players join over HTTP, then each marks words of its own card at the given rate (Poisson,
seeded) over one shared connection pool, open loop. For every mark (seq s in game g) and every
measured client following g, *staleness* is the time from the mark request's start until that
client first holds a leaderboard whose seq is at least s (push: a `leaderboard_update`
delivered by `BingoClient`; polling: the poll reply reporting seq >= s).

Measured span: the steady state. The metering is read after every client has joined,
connected, subscribed and the joins' broadcasts have drained, and again once the last mark's
update reached every measured client (pollers stopped). Setup and teardown are excluded, so
connection set-up (authorizer, `$connect`, `$disconnect`, the first `resume`) is not in the
counts: at a conference a session lasts hours, and amortised over the hour it is a rounding
error, whereas in a two-minute run it would dominate. The prediction (`predict_span`) is the
run model's (`bingo_ops.measure.run_model.predict_run`) for the same span, compared with the
metering by `run_model.agreement`; `usd_per_hour` scales that span's metered usage to an hour.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import httpx
from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]

from bingo_ops.client.http import ApiError, BingoHttp
from bingo_ops.client.token_cache import TokenCache
from bingo_ops.client.ws import BingoClient
from bingo_ops.emulator.streams import DEFAULT_BATCH_SIZE, DEFAULT_POLL_S
from bingo_ops.measure import cost, prices, run_model
from bingo_ops.measure.cost import Fanout
from bingo_ops.measure.invocations import metering_delta
from bingo_ops.measure.stats import percentile

__all__ = [
    "CONFIGS",
    "ConferenceSpec",
    "MarkRecord",
    "PhaseShape",
    "predict_span",
    "run_conference",
    "run_conferences",
    "summarise",
]

Config = Literal["inline", "stream", "polling"]
Audience = Literal["boards", "players"]
CONFIGS: Final[tuple[Config, ...]] = ("inline", "stream", "polling")
AUDIENCES: Final[tuple[Audience, ...]] = ("boards", "players")
BROADCASTERS: Final = ("broadcast_boards", "broadcast_players")
# The players' broadcaster's posting jobs, one invocation per game with news in a window.
POSTERS: Final = ("post_players",)
FUNCTIONS: Final = ("http_api", "ws_authorizer", "ws_connect", "ws_disconnect", "ws_message")
# Issue 6's targets.
TARGET_COST_RATIO: Final = 0.85
TARGET_BOARD_P99_S: Final = 0.5
TARGET_PLAYER_P99_S: Final = 3.0
TARGET_AGREEMENT: Final = 0.05
_LAG_TICK_S: Final = 0.1
_WORDS_PER_CARD: Final = {3: 8, 4: 16, 5: 24}


@dataclass(frozen=True)
class ConferenceSpec:
    """The conference and how to run it.

    Attributes:
        players: Players in all games together (player i plays game i mod games).
        games: Games running at once (one per room).
        boards: Public status boards (board j shows game j mod games).
        marks_per_minute: Marks per player per minute (Poisson, or evenly spread with jitter).
        duration_s: Seconds over which marks are made.
        board_window_s: The boards' batching window (stream).
        player_window_s: The players' batching window (stream).
        post_jobs: Players' views posted by one `post_players` invocation per game (stream),
            as deployed on AWS; by default the players' broadcaster posts them itself.
        poll_interval_s: The pollers' interval T (polling).
        seed: Seeds the mark schedule, words, poll phases and the staleness sample.
        grid_size: Card size (3, 4 or 5).
        poisson: Poisson marks; False spreads each player's marks evenly with jitter.
        sample_players: Players whose staleness is measured (a seeded subset, at least one per
            game when there are enough players); every board is measured. 0 measures all.
        join_concurrency: Joins (and card reads) in flight at once.
        connect_concurrency: WebSocket handshakes in flight at once.
        http_connections: Size of the HTTP connection pool of joins and marks.
        poll_connections: Size of the pollers' own pool, and polls in flight at once (httpx
            checks every pooled connection on each request, so a small pool is cheaper).
        settle_s: Extra seconds, beyond the longest window or poll interval, for the last
            marks' updates to reach every measured client.
        wall_cap_s: Hard cap on one configuration's wall-clock time; the run stops its marks
            where it is and reports `hitWallCap`.
        connect_timeout_s: Seconds one client has to connect and get its first leaderboard.
    """

    players: int = 2000
    games: int = 10
    boards: int = 20
    marks_per_minute: float = 1.0
    duration_s: float = 120.0
    board_window_s: float = 0.0
    player_window_s: float = 2.0
    post_jobs: bool = False
    poll_interval_s: float = 3.0
    seed: int = 1
    grid_size: int = 5
    poisson: bool = True
    sample_players: int = 200
    join_concurrency: int = 32
    connect_concurrency: int = 64
    http_connections: int = 64
    poll_connections: int = 16
    settle_s: float = 10.0
    wall_cap_s: float = 600.0
    connect_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.games < 1 or self.players < 1 or self.boards < 0:
            raise ValueError("a conference needs games >= 1, players >= 1 and boards >= 0")
        if self.grid_size not in _WORDS_PER_CARD:
            raise ValueError(f"grid_size must be one of {sorted(_WORDS_PER_CARD)}")
        if self.marks_per_minute <= 0 or self.duration_s <= 0 or self.poll_interval_s <= 0:
            raise ValueError("marks_per_minute, duration_s and poll_interval_s must be positive")
        if self.board_window_s < 0 or self.player_window_s < 0:
            raise ValueError("batching windows cannot be negative")
        if self.http_connections < 1 or self.poll_connections < 1:
            raise ValueError("http_connections and poll_connections must be at least 1")
        if self.sample_players < 0:
            raise ValueError("sample_players cannot be negative")

    def scale(self) -> dict[str, Any]:
        """The scenario's size, as plain data."""
        return {
            "players": self.players,
            "games": self.games,
            "boards": self.boards,
            "marksPerMinute": self.marks_per_minute,
            "durationS": self.duration_s,
            "gridSize": self.grid_size,
            "seed": self.seed,
            "poisson": self.poisson,
        }


@dataclass(frozen=True)
class MarkRecord:
    """One mark the run made.

    Attributes:
        game: Index of the game.
        player: Index of the player.
        due_s: When it was scheduled, seconds after the measured phase began.
        started: Request start (`time.perf_counter()`).
        rtt_s: The request's round trip.
        seq: The event's seq (None when the mark failed or created no event).
    """

    game: int
    player: int
    due_s: float
    started: float
    rtt_s: float
    seq: int | None


# -- the model of the measured span --------------------------------------------------------------


@dataclass(frozen=True)
class PhaseShape:
    """What the measured span held, as the clients know it: the input of `predict_span`.

    Attributes:
        config: The configuration run.
        span_s: Length of the span (the metering's own clock).
        marks: (seconds into the span, game index) of each mark that created an event.
        boards_per_game: Connected boards following each game (push configurations).
        players_per_game: Connected players following each game (push configurations).
        polls: Polls made in the span (polling).
        board_window_s: The boards' window (stream).
        player_window_s: The players' window (stream).
        post_jobs: Whether the players' views went out in posting jobs (stream).
        stream_poll_s: How often the emulated stream is read while idle.
        batch_size: Records per broadcaster invocation at most.
        invocation_s: Mean duration of one broadcaster invocation per function (a measured
            input: how long posting to every subscriber takes on this machine).
        poll_interval_s: The pollers' interval (polling): each poll reads the game's
            leaderboard and the events of about one interval.
        players_in_game: Players per game, connected or not (the rows of a leaderboard).
    """

    config: Config
    span_s: float
    marks: tuple[tuple[float, int], ...]
    boards_per_game: tuple[int, ...]
    players_per_game: tuple[int, ...]
    polls: int = 0
    board_window_s: float = 0.0
    player_window_s: float = 2.0
    post_jobs: bool = False
    stream_poll_s: float = DEFAULT_POLL_S
    batch_size: int = DEFAULT_BATCH_SIZE
    invocation_s: Mapping[str, float] = field(default_factory=dict)
    poll_interval_s: float = 3.0
    players_in_game: float = 0.0


# DynamoDB quantities: modelled on both sides, since the local stack's SQLite store meters none.
DYNAMODB_KEYS: Final = ("dynamodb_read_units", "dynamodb_write_units")


def predict_span(shape: PhaseShape) -> dict[str, float]:
    """The counts the measured span should be metered for, by the run model's accounting.

    `run_model.predict_run` models whole runs: every session's set-up (authorizer, `$connect`,
    `$disconnect`, subscribe, backfill) and connection-minutes included. The span excludes
    set-up, so this predicts the run with the span's sessions (open before it starts, closed
    when it ends) and its marks and polls, and subtracts the prediction for the same sessions
    alone; connection-minutes are the sessions' time inside the span. Every mark is one event
    (one `http_api` invocation and one request, as is every poll); `inline` players follow the
    feed, `stream` players do not, boards always do; no client connects when polling. The
    stream broadcasters' wall time per invocation is the mean of `shape.invocation_s`.
    DynamoDB read and write units (`DYNAMODB_KEYS`) are the run model's: the marks'
    transactions, each poll's leaderboard and events, and the fan-out's reads.

    Args:
        shape: What the span held.

    Returns:
        Flat quantities, the keys of `metered_counts`.
    """
    fanout = Fanout(
        mode="stream" if shape.config == "stream" else "inline",
        board_window_s=shape.board_window_s,
        player_window_s=shape.player_window_s,
        player_feed=shape.config == "inline",
        poll_s=shape.stream_poll_s,
        batch_size=shape.batch_size,
        post_jobs=shape.post_jobs,
    )
    sessions: list[run_model.Session] = []
    if shape.config != "polling":
        for game, count in enumerate(shape.boards_per_game):
            sessions += [run_model.Session(str(game), -1.0, shape.span_s, "board", True)] * count
        for game, count in enumerate(shape.players_per_game):
            feed = shape.config == "inline"
            sessions += [run_model.Session(str(game), -1.0, shape.span_s, "player", feed)] * count
    # Each mapping waits for its own broadcaster: a players' window posts a view per player.
    by_audience = {
        audience: shape.invocation_s[name]
        for audience, name in zip(("board", "player"), BROADCASTERS, strict=True)
        if name in shape.invocation_s
    }
    events = tuple(run_model.GameEvent(str(game), at) for at, game in shape.marks)
    # A poll returns its game's whole leaderboard and the events of about one interval.
    games = max(1, len(shape.players_per_game))
    per_poll_events = len(shape.marks) / games / max(shape.span_s, 1e-9) * shape.poll_interval_s
    predicted = run_model.predict_run(
        run_model.RunShape(
            http_requests=len(shape.marks),
            polls=shape.polls,
            sessions=tuple(sessions),
            game_events=events,
            fanout=fanout,
            broadcast_s_by_audience=by_audience,
            poll_read_units=cost.poll_read_units(shape.players_in_game, per_poll_events),
        )
    )
    full = predicted.as_dict()
    base = run_model.predict_run(
        run_model.RunShape(
            sessions=tuple(sessions), fanout=fanout, broadcast_s_by_audience=by_audience
        )
    ).as_dict()
    counts = {f"invocations.{name}": 0.0 for name in (*FUNCTIONS, *BROADCASTERS, *POSTERS)}
    counts.update({k: full[k] - base.get(k, 0.0) for k in full})
    counts["ws_connection_minutes"] = len(sessions) * shape.span_s / 60
    counts["invocations.total"] = sum(
        v for k, v in counts.items() if k.startswith("invocations.") and k != "invocations.total"
    )
    counts["dynamodb_read_units"] = predicted.dynamodb_read_units
    counts["dynamodb_write_units"] = predicted.dynamodb_write_units
    return counts


def metered_counts(delta: Mapping[str, Any]) -> dict[str, float]:
    """The same quantities as `predict_span`, from a metering delta."""
    functions = delta.get("lambda", {}).get("functions", {})
    counts = {
        f"invocations.{name}": float(functions.get(name, {}).get("invocations", 0))
        for name in (*FUNCTIONS, *BROADCASTERS, *POSTERS)
    }
    counts["invocations.total"] = float(delta["lambda"]["invocations"])
    counts["ws_message_units_in"] = float(delta["websocket"]["messageUnitsIn"])
    counts["ws_message_units_out"] = float(delta["websocket"]["messageUnitsOut"])
    counts["ws_connection_minutes"] = float(delta["websocket"]["connectionMinutes"])
    counts["http_requests"] = float(delta["http"]["units"])
    return counts


def _rounded(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """`run_model.agreement`'s rows, rounded for the report."""
    return {
        name: {
            **row,
            "predicted": round(row["predicted"], 3),
            "metered": round(row["metered"], 3),
            "relative_error": (
                None if row["relative_error"] is None else round(row["relative_error"], 4)
            ),
        }
        for name, row in rows.items()
    }


def _usage(
    counts: Mapping[str, float], gb_seconds: float, dynamodb: Mapping[str, float]
) -> prices.Usage:
    return prices.Usage(
        lambda_requests=counts["invocations.total"],
        lambda_gb_seconds=gb_seconds,
        ws_message_units=counts["ws_message_units_in"] + counts["ws_message_units_out"],
        ws_connection_minutes=counts["ws_connection_minutes"],
        http_request_units=counts["http_requests"],
        dynamodb_read_units=dynamodb["dynamodb_read_units"],
        dynamodb_write_units=dynamodb["dynamodb_write_units"],
    )


# -- clients ------------------------------------------------------------------------------------


class _Holder:
    """What one client holds: the newest leaderboard seq, and when each newer one arrived."""

    def __init__(self, name: str, audience: Audience, game: int, measured: bool) -> None:
        self.name = name
        self.audience = audience
        self.game = game
        self.measured = measured
        self.seq = -1
        self.seqs: list[int] = []
        self.times: list[float] = []
        self.recording = False
        self.ready = asyncio.Event()
        self.changed: asyncio.Event | None = None

    def holds(self, seq: int, at: float) -> None:
        if seq <= self.seq:
            return
        self.seq = seq
        self.ready.set()
        if self.recording and self.measured:
            self.seqs.append(seq)
            self.times.append(at)
        if self.changed is not None:
            self.changed.set()

    def on_message(self, message: Mapping[str, Any]) -> None:
        at = time.perf_counter()  # first thing: when the application sees it
        if message.get("type") == "leaderboard_update":
            self.holds(int(message["seq"]), at)

    def first_holding(self, seq: int) -> float | None:
        """When this client first held a leaderboard at `seq` or newer (None: never)."""
        index = bisect.bisect_left(self.seqs, seq)
        return self.times[index] if index < len(self.seqs) else None


@dataclass
class _Player:
    index: int
    game: int
    token: str
    words: list[str]


def raise_fd_limit() -> None:
    """Thousands of sockets need more than the usual 1,024 descriptors (children inherit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _schedule(
    spec: ConferenceSpec, rng: random.Random, cards: Sequence[int]
) -> list[tuple[float, int]]:
    """(due seconds, player) for every mark, sorted; no player marks more words than it has."""
    rate = spec.marks_per_minute / 60
    marks: list[tuple[float, int]] = []
    for player in range(spec.players):
        times: list[float] = []
        if spec.poisson:
            t = rng.expovariate(rate)
            while t < spec.duration_s:
                times.append(t)
                t += rng.expovariate(rate)
        else:
            count = round(spec.duration_s * rate)
            step = spec.duration_s / max(count, 1)
            offset = rng.uniform(0, step)
            times = [
                min(spec.duration_s, offset + k * step + rng.uniform(-0.1, 0.1) * step)
                for k in range(count)
            ]
        marks += [(max(0.0, t), player) for t in times[: cards[player]]]
    return sorted(marks)


def _summary_s(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(percentile(values, 50), 4),
        "p99": round(percentile(values, 99), 4),
        "max": round(max(values), 4),
    }


Observer = Callable[[str, Mapping[str, Any]], None]


class _Run:
    """One configuration's run against one stack (private)."""

    def __init__(
        self,
        config: Config,
        spec: ConferenceSpec,
        outputs: Mapping[str, Any],
        admin_token: str,
        metrics: Callable[[], Mapping[str, Any]],
        workdir: Path,
        progress: bool,
        observer: Observer | None,
    ) -> None:
        self.config = config
        self.spec = spec
        self.outputs = outputs
        self.admin_token = admin_token
        self.metrics = metrics
        self.workdir = workdir
        self.progress = progress
        self.observer = observer
        self.rng = random.Random(spec.seed)
        self.began = time.perf_counter()
        self.deadline = self.began + spec.wall_cap_s
        self.hit_cap = False
        self.games: list[str] = []
        self.players: list[_Player] = []
        self.holders: list[_Holder] = []
        self.clients: list[BingoClient] = []
        self.marks: list[MarkRecord] = []
        self.mark_errors: dict[str, int] = {}
        self.polls = 0
        self.poll_errors: dict[str, int] = {}
        self.connect_failures = 0
        self.scheduled = 0
        self.public_token = ""
        self.lags: list[float] = []
        self.changed = asyncio.Event()
        self.poll_api: BingoHttp | None = None
        # At most one poll per pooled connection in flight: httpcore assigns queued requests
        # to connections in time quadratic in the queue, and 2,000 queued polls stall it.
        self.poll_gate = asyncio.Semaphore(spec.poll_connections)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def _bar(self, total: int, what: str) -> Any:
        return tqdm(total=total, desc=f"{self.config}: {what}", disable=not self.progress)

    async def run(self) -> dict[str, Any]:
        spec = self.spec
        limits = httpx.Limits(
            max_connections=spec.http_connections, max_keepalive_connections=spec.http_connections
        )
        poll_limits = httpx.Limits(
            max_connections=spec.poll_connections, max_keepalive_connections=spec.poll_connections
        )
        url = str(self.outputs["httpUrl"])
        # Marks get a pool of their own so that they never queue behind 2,000 pollers: each
        # player has its own device at a conference.
        async with (
            httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as pool,
            httpx.AsyncClient(base_url=url, timeout=30.0, limits=poll_limits) as poll_pool,
        ):
            api = BingoHttp(url, _client=pool)
            self.poll_api = BingoHttp(url, _client=poll_pool)
            await self._set_up(api)
            try:
                if self.config != "polling":
                    await self._connect()
                return await self._measure(api)
            finally:
                await self._close()

    async def _set_up(self, api: BingoHttp) -> None:
        spec = self.spec
        admin = api.with_token(self.admin_token)
        for g in range(spec.games):
            game = await admin.create_game(name=f"room {g}", grid_size=spec.grid_size)
            await admin.change_state(game["gameId"], "playing", "conference benchmark")
            self.games.append(game["gameId"])
        gate = asyncio.Semaphore(spec.join_concurrency)
        bar = self._bar(spec.players, "joining")
        found: dict[int, _Player] = {}

        async def join(i: int) -> None:
            async with gate:
                g = i % spec.games
                joined = await api.join(f"p{i:05d}", self.games[g])
                card = await api.with_token(joined["token"]).card(self.games[g])
                words = [w for w in card["cells"] if w]
                random.Random(spec.seed * 1_000_003 + i).shuffle(words)
                found[i] = _Player(i, g, joined["token"], words)
                bar.update(1)

        try:
            await asyncio.gather(*(join(i) for i in range(spec.players)))
        finally:
            bar.close()
        self.players = [found[i] for i in range(spec.players)]
        measured = set(range(spec.players))
        if spec.sample_players and spec.sample_players < spec.players:
            # Seeded and spread over the games: every game gets its share of measured players.
            by_game = [[p.index for p in self.players if p.game == g] for g in range(spec.games)]
            picked: list[int] = []
            per_game = max(1, spec.sample_players // spec.games)
            sampler = random.Random(spec.seed + 1)
            for members in by_game:
                picked += sampler.sample(members, min(per_game, len(members)))
            measured = set(picked)
        for p in self.players:
            self.holders.append(
                _Holder(f"player-{p.index}", "players", p.game, p.index in measured)
            )
        for b in range(spec.boards):
            self.holders.append(_Holder(f"board-{b}", "boards", b % spec.games, True))
        for holder in self.holders:
            holder.changed = self.changed

    async def _connect(self) -> None:
        spec = self.spec
        ws_url = str(self.outputs["wsUrl"])
        http_url = str(self.outputs["httpUrl"])
        cache = TokenCache(self.workdir / "tokens")
        gate = asyncio.Semaphore(spec.connect_concurrency)
        bar = self._bar(len(self.holders), "connecting")
        common: dict[str, Any] = {"max_attempts": 3, "ping_interval": None}

        async def connect(holder: _Holder, client: BingoClient) -> None:
            async with gate:
                client.start()
                try:
                    await asyncio.wait_for(holder.ready.wait(), spec.connect_timeout_s)
                except TimeoutError:
                    self.connect_failures += 1
                bar.update(1)

        jobs: list[Awaitable[None]] = []
        for holder in self.holders:
            game = self.games[holder.game]
            if holder.audience == "boards":
                client = BingoClient.board(
                    http_url,
                    ws_url,
                    games=[game],
                    cache=cache,
                    feed=True,
                    on_message=holder.on_message,
                    **common,
                )
            else:
                token = self.players[int(holder.name.split("-")[1])].token
                client = BingoClient(
                    ws_url,
                    token,
                    games=[game],
                    kind="user",
                    feed=self.config == "inline",
                    on_message=holder.on_message,
                    **common,
                )
            self.clients.append(client)
            jobs.append(connect(holder, client))
        try:
            await asyncio.gather(*jobs)
        finally:
            bar.close()

    async def _lag_monitor(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(_LAG_TICK_S)
            self.lags.append(max(0.0, loop.time() - before - _LAG_TICK_S))

    async def _poll(
        self, api: BingoHttp, holder: _Holder, token: str, start: float, stop: asyncio.Event
    ) -> None:
        """Poll every T from a random phase on a fixed schedule (slots missed are skipped)."""
        interval = self.spec.poll_interval_s
        client = api.with_token(token)
        game = self.games[holder.game]
        after = max(0, holder.seq)
        next_at = start + self.rng.uniform(0, interval)
        while not stop.is_set():
            delay = next_at - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return
            self.polls += 1
            try:
                async with self.poll_gate:
                    reply = await client.poll_stream(game, after=after)
            except (ApiError, httpx.HTTPError) as error:
                code = error.code if isinstance(error, ApiError) else type(error).__name__
                self.poll_errors[code] = self.poll_errors.get(code, 0) + 1
                reply = {}
            at = time.perf_counter()
            if "seq" in reply:
                holder.holds(int(reply["seq"]), at)
            for event in reply.get("events", []):
                after = max(after, int(event["seq"]))
            next_at += interval
            now = time.perf_counter()
            if next_at < now:
                next_at += math.ceil((now - next_at) / interval) * interval

    async def _mark(self, api: BingoHttp, player: _Player, word: str, due: float) -> None:
        started = time.perf_counter()
        seq: int | None = None
        try:
            reply = await api.with_token(player.token).mark(self.games[player.game], word)
            if reply.get("newlyMarked") and reply.get("seq") is not None:
                seq = int(reply["seq"])
        except (ApiError, httpx.HTTPError) as error:
            code = error.code if isinstance(error, ApiError) else type(error).__name__
            self.mark_errors[code] = self.mark_errors.get(code, 0) + 1
        rtt = time.perf_counter() - started
        self.marks.append(MarkRecord(player.game, player.index, due, started, rtt, seq))

    async def _initial_polls(self, api: BingoHttp) -> None:
        """Every poller's starting point: the current seq of its game (not in the span)."""
        reader = api.with_token(self.public_token)
        for g, game in enumerate(self.games):
            seq = int((await reader.game(game))["seq"])
            for holder in self.holders:
                if holder.game == g:
                    holder.holds(seq, time.perf_counter())

    async def _measure(self, api: BingoHttp) -> dict[str, Any]:
        spec = self.spec
        if self.config == "polling":
            self.public_token = (await api.request_public_token("conference-boards"))["publicToken"]
            await self._initial_polls(api)
        else:
            # The joins' own broadcasts (stream windows) must be over before the span starts.
            await asyncio.sleep(
                max(spec.board_window_s, spec.player_window_s) + 0.5
                if self.config == "stream"
                else 0.5
            )
        cards = [len(p.words) for p in self.players]
        schedule = _schedule(spec, self.rng, cards)
        self.scheduled = len(schedule)
        used = [0] * spec.players
        for holder in self.holders:
            holder.recording = True
        before = await asyncio.to_thread(self.metrics)
        if self.observer is not None:
            self.observer("start", self.outputs)
        t0 = time.perf_counter()
        lag = asyncio.create_task(self._lag_monitor())
        stop_polling = asyncio.Event()
        pollers: list[asyncio.Task[None]] = []
        if self.config == "polling":
            for holder in self.holders:
                token = (
                    self.players[int(holder.name.split("-")[1])].token
                    if holder.audience == "players"
                    else self.public_token
                )
                pollers.append(
                    asyncio.create_task(
                        self._poll(self.poll_api or api, holder, token, t0, stop_polling)
                    )
                )
        tasks: list[asyncio.Task[None]] = []
        bar = self._bar(len(schedule), "marking")
        try:
            for due, index in schedule:
                delay = t0 + due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.left() <= 0:
                    self.hit_cap = True
                    break
                player = self.players[index]
                word = player.words[used[index]]
                used[index] += 1
                task = asyncio.create_task(self._mark(api, player, word, due))
                task.add_done_callback(lambda _: bar.update(1))
                tasks.append(task)
            if tasks:
                await asyncio.wait(tasks, timeout=max(1.0, self.left()))
            await self._settle()
        finally:
            bar.close()
            stop_polling.set()
            if pollers:
                await asyncio.wait(pollers, timeout=60)
            for task in tasks:
                task.cancel()
            # The last broadcaster invocations end right after their posts: let them be metered.
            await asyncio.sleep(0.3)
            after = await asyncio.to_thread(self.metrics)
            if self.observer is not None:
                self.observer("end", self.outputs)
            lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag
        return self._report(before, after, t0)

    async def _settle(self) -> None:
        """Wait until every measured client holds its game's last mark (or time is up)."""
        spec = self.spec
        last: dict[int, int] = {}
        for mark in self.marks:
            if mark.seq is not None:
                last[mark.game] = max(last.get(mark.game, 0), mark.seq)
        longest = {
            "inline": 0.0,
            "stream": max(spec.board_window_s, spec.player_window_s),
            "polling": spec.poll_interval_s,
        }[self.config]
        until = time.perf_counter() + min(spec.settle_s + longest, max(0.0, self.left()))
        waiting = [h for h in self.holders if h.measured and h.game in last]
        while True:
            waiting = [h for h in waiting if h.seq < last[h.game]]
            left = until - time.perf_counter()
            if not waiting or left <= 0:
                return
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))

    async def _close(self) -> None:
        if self.clients:
            await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)

    def _staleness(self) -> dict[str, Any]:
        by_game: dict[int, list[MarkRecord]] = {}
        for mark in self.marks:
            if mark.seq is not None:
                by_game.setdefault(mark.game, []).append(mark)
        out: dict[str, Any] = {}
        for audience in AUDIENCES:
            values: list[float] = []
            missing = 0
            measured = [h for h in self.holders if h.audience == audience and h.measured]
            for holder in measured:
                for mark in by_game.get(holder.game, []):
                    assert mark.seq is not None
                    at = holder.first_holding(mark.seq)
                    if at is None:
                        missing += 1
                    else:
                        values.append(at - mark.started)
            total = sum(1 for h in self.holders if h.audience == audience)
            out[audience] = {
                "clients": total,
                "measuredClients": len(measured),
                "samples": len(values),
                "missing": missing,
                **{f"{k}S": v for k, v in _summary_s(values).items()},
                "minS": round(min(values), 4) if values else None,
            }
        return out

    def _report(
        self, before: Mapping[str, Any], after: Mapping[str, Any], t0: float
    ) -> dict[str, Any]:
        spec = self.spec
        delta = metering_delta(before, after)
        span_s = float(delta["elapsedSeconds"])
        metered = metered_counts(delta)
        gb_seconds = float(delta["lambda"]["gbSeconds"])
        functions = delta["lambda"].get("functions", {})
        per_hour = 3600 / span_s if span_s > 0 else 0.0
        ok = [m for m in self.marks if m.seq is not None]
        connected = [h for h in self.holders if self.config != "polling"]
        boards_per_game = [0] * spec.games
        players_per_game = [0] * spec.games
        for holder in connected:
            target = boards_per_game if holder.audience == "boards" else players_per_game
            target[holder.game] += 1
        # Invocation durations of the broadcasters, measured: how long posting takes here.
        invocation_s = {
            name: functions[name]["billedMs"] / 1000 / functions[name]["invocations"]
            for name in BROADCASTERS
            if functions.get(name, {}).get("invocations")
        }
        shape = PhaseShape(
            config=self.config,
            span_s=span_s,
            marks=tuple((m.started - t0, m.game) for m in ok),
            boards_per_game=tuple(boards_per_game),
            players_per_game=tuple(players_per_game),
            polls=self.polls,
            board_window_s=spec.board_window_s,
            player_window_s=spec.player_window_s,
            post_jobs=spec.post_jobs and self.config == "stream",
            invocation_s=invocation_s,
            poll_interval_s=spec.poll_interval_s,
            players_in_game=spec.players / spec.games,
        )
        predicted = predict_span(shape)
        # The SQLite store meters no DynamoDB capacity: both sides take the model's.
        dynamodb = {key: predicted.pop(key) for key in DYNAMODB_KEYS}
        usage = prices.usage_from_metering(delta, **dynamodb).scale(per_hour)
        usd = prices.cost(usage).as_dict()
        agree = run_model.agreement(predicted, metered, TARGET_AGREEMENT)
        model_usd = prices.cost(_usage(predicted, gb_seconds, dynamodb).scale(per_hour)).total
        metered_usd = prices.cost(_usage(metered, gb_seconds, dynamodb).scale(per_hour)).total
        usd_error = (model_usd - metered_usd) / metered_usd if metered_usd else None
        headline = (
            "invocations.total",
            "ws_message_units_out",
            "ws_connection_minutes",
            "http_requests",
        )
        staleness = self._staleness()
        lags_ms = [x * 1000 for x in self.lags]
        rtts = [m.rtt_s for m in self.marks]
        mark_p99 = percentile(rtts, 99) if rtts else None
        fell_behind = bool(
            self.hit_cap
            or self.connect_failures
            or (lags_ms and percentile(lags_ms, 99) > 500)
            or (mark_p99 is not None and mark_p99 > 1.0)
            or any(staleness[a]["missing"] for a in AUDIENCES)
        )
        board_p99, player_p99 = staleness["boards"]["p99S"], staleness["players"]["p99S"]
        return {
            "config": self.config,
            "fanout": "inline" if self.config == "polling" else self.config,
            "windows": (
                {
                    "boardS": spec.board_window_s,
                    "playerS": spec.player_window_s,
                    "postJobs": spec.post_jobs,
                }
                if self.config == "stream"
                else {"boardS": 0.0, "playerS": 0.0}
                if self.config == "inline"
                else None
            ),
            "pollIntervalS": spec.poll_interval_s if self.config == "polling" else None,
            "spanS": round(span_s, 3),
            "metered": {
                "invocations": {
                    name: int(functions.get(name, {}).get("invocations", 0))
                    for name in sorted(functions)
                },
                "invocationsTotal": int(delta["lambda"]["invocations"]),
                "messagesIn": int(delta["websocket"]["messagesIn"]),
                "messagesOut": int(delta["websocket"]["messagesOut"]),
                "messageUnitsIn": int(delta["websocket"]["messageUnitsIn"]),
                "messageUnitsOut": int(delta["websocket"]["messageUnitsOut"]),
                "connectionMinutes": round(float(delta["websocket"]["connectionMinutes"]), 3),
                "httpRequests": int(delta["http"]["requests"]),
                "httpUnits": int(delta["http"]["units"]),
                "gbSeconds": round(gb_seconds, 4),
                "eventSourceMappings": delta.get("eventSourceMappings", {}),
            },
            "marks": {
                "scheduled": self.scheduled,
                "sent": len(self.marks),
                "events": len(ok),
                "errors": dict(self.mark_errors),
                "rttS": _summary_s(rtts),
            },
            "polls": {"count": self.polls, "errors": dict(self.poll_errors)},
            "staleness": staleness,
            "sampling": (
                f"staleness of {staleness['players']['measuredClients']} of "
                f"{staleness['players']['clients']} players (seeded, spread over the games) "
                f"and of every board; every client is connected and counted in the metering"
            ),
            "usdPerHour": {k: round(v, 4) for k, v in usd.items()},
            "dynamodb": {
                "readUnits": round(dynamodb["dynamodb_read_units"], 1),
                "writeUnits": round(dynamodb["dynamodb_write_units"], 1),
                "source": "modelled (bingo_ops.measure.run_model): the local store is SQLite",
            },
            "model": {
                "predicted": {k: round(v, 3) for k, v in predicted.items()},
                "usdPerHour": round(model_usd, 4),
                "meteredUsdPerHour": round(metered_usd, 4),
                "usdRelativeError": None if usd_error is None else round(usd_error, 4),
                "invocationSecondsInput": {k: round(v, 4) for k, v in invocation_s.items()},
                "source": "bingo_ops.measure.run_model.predict_run (the span: minus set-up)",
            },
            "agreement": _rounded(agree),
            "agreementWithin": bool(
                usd_error is not None
                and abs(usd_error) <= TARGET_AGREEMENT
                and all(agree[k]["within"] for k in headline)
            ),
            "health": {
                "eventLoopLagMs": _summary_s(lags_ms),
                "markRttS": _summary_s(rtts),
                "connectFailures": self.connect_failures,
                "hitWallCap": self.hit_cap,
                "fellBehind": fell_behind,
            },
            "targets": {
                "boardP99": board_p99 is not None and board_p99 <= TARGET_BOARD_P99_S,
                "playerP99": player_p99 is not None and player_p99 <= TARGET_PLAYER_P99_S,
            },
            "wallTimeS": round(time.perf_counter() - self.began, 2),
        }


# -- entry points ---------------------------------------------------------------------------------


def run_conference(
    config: Config,
    spec: ConferenceSpec,
    *,
    progress: bool = True,
    observer: Observer | None = None,
) -> dict[str, Any]:
    """Run the conference once in one configuration on a fresh local stack; always torn down.

    The stack runs in the background (`open_stack`: free ports, a temporary state dir) with
    the configuration's fan-out and windows; everything else runs in this process's event loop.

    Args:
        config: `inline`, `stream` or `polling`.
        spec: The conference.
        progress: Show tqdm progress bars (joins, connections, marks) on stderr.
        observer: Called as `observer("start" | "end", outputs)` right after the run reads the
            metering at either end of the measured span (tests read it independently there).

    Returns:
        JSON-ready figures: metered counts, staleness per audience, $ per hour, model and
        agreement, health (event-loop lag, mark round trips, whether the stack fell behind).

    Raises:
        ValueError: an unknown configuration.
        bingo_ops.deploy.local.LocalStackError: the stack did not start.
        httpx.HTTPError, ApiError: the stack could not set the conference up.
    """
    from bingo_ops.deploy.stack import open_stack

    if config not in CONFIGS:
        raise ValueError(f"unknown configuration {config!r} (use one of {', '.join(CONFIGS)})")
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix=f"bingo-conference-{config}-"))
    try:
        with open_stack(
            "",
            state_dir=workdir / "stack",
            fanout="inline" if config == "polling" else config,
            board_window_s=spec.board_window_s,
            player_window_s=spec.player_window_s,
            post_jobs=spec.post_jobs,
        ) as handle:
            run = _Run(
                config,
                spec,
                handle.outputs,
                handle.admin_token("conference benchmark"),
                handle.metrics,
                workdir,
                progress,
                observer,
            )
            return asyncio.run(run.run())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def summarise(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The chosen stream configuration against 3 s polling, with issue 6's target verdicts."""
    summary: dict[str, Any] = {
        "targets": {
            "costRatioAtMost": TARGET_COST_RATIO,
            "boardP99AtMostS": TARGET_BOARD_P99_S,
            "playerP99AtMostS": TARGET_PLAYER_P99_S,
            "agreementWithin": TARGET_AGREEMENT,
        }
    }
    for name, run in runs.items():
        summary[f"{name}UsdPerHour"] = run["usdPerHour"]["total"]
    stream, polling = runs.get("stream"), runs.get("polling")
    if stream is None or polling is None:
        summary["verdict"] = "needs both the stream and the polling configuration to compare"
        return summary
    ratio = stream["usdPerHour"]["total"] / polling["usdPerHour"]["total"]
    verdicts = {
        "cost": ratio <= TARGET_COST_RATIO,
        "boardStaleness": bool(stream["targets"]["boardP99"]),
        "playerStaleness": bool(stream["targets"]["playerP99"]),
        "agreement": all(bool(r["agreementWithin"]) for r in runs.values()),
    }
    summary.update(
        {
            "costRatioStreamOverPolling": round(ratio, 4),
            "streamBoardP99S": stream["staleness"]["boards"]["p99S"],
            "streamPlayerP99S": stream["staleness"]["players"]["p99S"],
            "verdicts": verdicts,
            "allTargetsMet": all(verdicts.values()),
            "anyFellBehind": any(bool(r["health"]["fellBehind"]) for r in runs.values()),
        }
    )
    return summary


def run_conferences(
    spec: ConferenceSpec,
    configs: Iterable[str] = CONFIGS,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Every configuration in turn, each on its own fresh stack, and the summary.

    Returns:
        `{"benchmark", "scale", "configs": {name: run}, "summary"}` (see `run_conference`).

    Raises:
        ValueError: an unknown configuration.
    """
    names = list(dict.fromkeys(configs))
    for name in names:
        if name not in CONFIGS:
            raise ValueError(f"unknown configuration {name!r} (use one of {', '.join(CONFIGS)})")
    runs: dict[str, dict[str, Any]] = {}
    for name in names:
        runs[name] = run_conference(name, spec, progress=progress)  # type: ignore[arg-type]
    return {
        "benchmark": "conference",
        "scale": spec.scale(),
        "spec": asdict(spec),
        "span": "steady state: from after every client joined, connected and subscribed "
        "(and the joins' broadcasts drained) to after the last mark's update reached every "
        "measured client; usdPerHour scales that span to an hour",
        "configs": runs,
        "summary": summarise(runs),
    }
