"""Replay a scenario's actions against a stack at a speed factor, with real players and boards."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# tqdm ships no type hints and types-tqdm is not a dev dependency; `unused-ignore` keeps this
# line clean once it is.
from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]

from bingo_ops.client.http import ApiError, BingoHttp, PublicTokenSource
from bingo_ops.client.token_cache import TokenCache
from bingo_ops.client.ws import BingoClient
from bingo_ops.measure.stats import percentile
from bingo_ops.replay.scenario import Action

DEFAULT_SETTLE_TIMEOUT_S = 10.0
# Events each action emits into its game's log when it succeeds; a claim emits the claim and the
# game's move to `bingo`. A game's creation is logged but broadcast to nobody.
_EMITTED = {"create_game": 1, "start_game": 1, "join": 1, "mark": 1, "claim": 2}


class CountingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that counts the requests it sends, by method and route shape.

    The replay's own tally of what it asked of the HTTP API, to set beside the stack's metering.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self.requests: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Count, then send."""
        self.requests[f"{request.method} {_shape(request.url.path)}"] += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Nothing: clients sharing this transport close one by one; `close` closes it."""

    async def close(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


def _shape(path: str) -> str:
    # `/games/abc123/marks` -> `/games/{id}/marks`: a game id follows `games` (bar the fixed
    # `current` and `history`) and `leaderboard` (the stream).
    parts = path.strip("/").split("/")
    out = []
    for i, part in enumerate(parts):
        prev = parts[i - 1] if i else ""
        is_id = prev in ("games", "leaderboard") and part not in ("current", "history")
        out.append("{id}" if is_id else part)
    return "/" + "/".join(out)


@dataclass(frozen=True)
class ActionRecord:
    """What one replayed action did, as the client saw it.

    Attributes:
        kind: The action's kind.
        game: The game's index.
        at_s: Wall seconds from the replay's start when the action began.
        ok: Whether the API accepted it (no error, not skipped).
        emitted: Events it added to the game's log, from the API's answers.
    """

    kind: str
    game: int
    at_s: float
    ok: bool
    emitted: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "kind": self.kind,
            "game": self.game,
            "at_s": self.at_s,
            "ok": self.ok,
            "emitted": self.emitted,
        }


@dataclass(frozen=True)
class ClientSpan:
    """How long one device followed a game: a WebSocket session, or a polling loop.

    Attributes:
        kind: `player` or `board`.
        game: The game's index.
        mode: `push` (a WebSocket) or `polling`.
        start_s: Wall seconds from the replay's start when it started.
        end_s: Wall seconds from the replay's start when it was closed.
    """

    kind: str
    game: int
    mode: str
    start_s: float
    end_s: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "kind": self.kind,
            "game": self.game,
            "mode": self.mode,
            "start_s": self.start_s,
            "end_s": self.end_s,
        }


@dataclass
class ReplaySummary:
    """What a replay did.

    Attributes:
        actions: Actions executed, by kind (an action that failed with an API error counts too).
        errors: API errors, by error code.
        skipped_claims: Claims not sent because the player's real card had no complete line.
        skipped_marks: Marks not sent: unknown player, or every word on the card already marked.
        games: Game index -> the stack's gameId.
        marks_sent: Mark requests sent.
        marks_ok: Marks the server accepted as new (each is one `word_marked` event).
        claims_sent: Bingo claims sent.
        mark_latency_p50_ms: Median mark request latency (0 without marks).
        mark_latency_p95_ms: 95th percentile mark request latency (0 without marks).
        max_lag_s: Largest delay of an action behind its scaled due time.
        wall_time_s: Duration of the replay, closing the clients included.
        boards: Board name -> the rows of the last leaderboard it saw.
        boards_in_sync: Board name -> whether its leaderboard matched the server's at the end.
        polls: Polls of the stream endpoint (polling mode), final board checks included.
        http_requests: Requests the replay sent to the HTTP API, by method and route shape.
        records: One record per action, in order.
        spans: One span per player or board that followed its game.
    """

    actions: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    skipped_claims: int = 0
    skipped_marks: int = 0
    games: dict[int, str] = field(default_factory=dict)
    marks_sent: int = 0
    marks_ok: int = 0
    claims_sent: int = 0
    mark_latency_p50_ms: float = 0.0
    mark_latency_p95_ms: float = 0.0
    max_lag_s: float = 0.0
    wall_time_s: float = 0.0
    boards: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    boards_in_sync: dict[str, bool] = field(default_factory=dict)
    polls: int = 0
    http_requests: dict[str, int] = field(default_factory=dict)
    records: list[ActionRecord] = field(default_factory=list)
    spans: list[ClientSpan] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values (game indexes as string keys)."""
        return {
            "actions": dict(self.actions),
            "errors": dict(self.errors),
            "skipped_claims": self.skipped_claims,
            "skipped_marks": self.skipped_marks,
            "games": {str(k): v for k, v in self.games.items()},
            "marks_sent": self.marks_sent,
            "marks_ok": self.marks_ok,
            "claims_sent": self.claims_sent,
            "mark_latency_p50_ms": self.mark_latency_p50_ms,
            "mark_latency_p95_ms": self.mark_latency_p95_ms,
            "max_lag_s": self.max_lag_s,
            "wall_time_s": self.wall_time_s,
            "boards": {k: list(v) for k, v in self.boards.items()},
            "boards_in_sync": dict(self.boards_in_sync),
            "polls": self.polls,
            "http_requests": dict(self.http_requests),
            "records": [r.as_dict() for r in self.records],
            "spans": [s.as_dict() for s in self.spans],
        }


@dataclass
class _Player:
    """A joined player: its own HTTP client, its real card and what it has marked."""

    http: BingoHttp
    game_id: str
    cells: list[str | None]
    marked: set[str]

    def remaining(self) -> list[str]:
        """Unmarked words in row-major order, the free centre skipped: what `pick` indexes."""
        return [w for w in self.cells if w is not None and w not in self.marked]


class _Poller:
    """A device of the deprecated design: polls the stream endpoint on a fixed grid of times."""

    def __init__(self, http: BingoHttp, game_id: str, interval_s: float) -> None:
        self.http = http
        self.game_id = game_id
        self.interval_s = interval_s
        self.after = 0
        self.polls = 0
        self.errors: Counter[str] = Counter()
        self.leaderboard: list[dict[str, Any]] = []

    async def poll(self) -> None:
        """One poll: the leaderboard and the events after the last one seen."""
        self.polls += 1
        try:
            reply = await self.http.poll_stream(self.game_id, after=self.after)
        except ApiError as exc:
            self.errors[exc.code] += 1
            return
        seqs = [int(e["seq"]) for e in reply.get("events", []) if "seq" in e]
        self.after = max([self.after, *seqs])
        self.leaderboard = list(reply.get("leaderboard", []))

    async def run(self, stop: asyncio.Event) -> None:
        """Poll at once, then every `interval_s` on a fixed grid (no drift), until `stop`."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        k = 0
        while not stop.is_set():
            await self.poll()
            k += 1
            delay = start + k * self.interval_s - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)


class _Replayer:
    """State of one replay (private to `replay`)."""

    def __init__(
        self,
        outputs: Mapping[str, Any],
        admin: BingoHttp,
        cache: TokenCache,
        connect_players: bool,
        transport: CountingTransport,
        poll_interval_wall_s: float | None = None,
        player_feed: bool = True,
    ) -> None:
        self.http_url = str(outputs["httpUrl"])
        self.ws_url = str(outputs["wsUrl"])
        self.admin = admin
        self.anonymous = admin.with_token(None)
        self.cache = cache
        self.connect_players = connect_players
        self.transport = transport
        self.poll_interval_wall_s = poll_interval_wall_s
        self.player_feed = player_feed
        self.summary = ReplaySummary()
        self.players: dict[tuple[int, str], _Player] = {}
        self.clients: list[BingoClient] = []
        self.boards: dict[str, tuple[str, BingoClient]] = {}
        self.board_pollers: dict[str, _Poller] = {}
        self.latencies_ms: list[float] = []
        self.actions: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.stop_polling = asyncio.Event()
        self.pollers: list[tuple[str, int, float, _Poller, asyncio.Task[None]]] = []
        self.sockets: list[tuple[str, int, float]] = []
        self.started = asyncio.get_running_loop().time()

    @property
    def polling(self) -> bool:
        """Whether players and boards poll instead of holding a WebSocket."""
        return self.poll_interval_wall_s is not None

    def now(self) -> float:
        """Wall seconds since the replay started."""
        return asyncio.get_running_loop().time() - self.started

    def game_id(self, index: int) -> str:
        """The stack's id of game `index`; an `unknown_game` ApiError when not created."""
        try:
            return self.summary.games[index]
        except KeyError:
            raise ApiError(0, "unknown_game", f"game {index} was not created") from None

    async def run(self, action: Action) -> None:
        """Execute one action; API errors are counted, never raised."""
        self.actions[action.kind] += 1
        at = self.now()
        emitted: int | None = None
        try:
            emitted = await getattr(self, f"_{action.kind}")(action)
        except ApiError as exc:
            self.errors[exc.code] += 1
        record = ActionRecord(action.kind, action.game, at, emitted is not None, emitted or 0)
        self.summary.records.append(record)

    def _follow(self, kind: str, game: int, http: BingoHttp, gid: str) -> _Poller | None:
        """Start polling `gid` for a device, in polling mode."""
        if self.poll_interval_wall_s is None:
            return None
        poller = _Poller(http, gid, self.poll_interval_wall_s)
        task = asyncio.create_task(poller.run(self.stop_polling), name="bingo-poller")
        self.pollers.append((kind, game, self.now(), poller, task))
        return poller

    async def _create_game(self, action: Action) -> int:
        grid_size = int(action.data.get("grid_size", 5))
        created = await self.admin.create_game(
            name=f"replay game {action.game}", grid_size=grid_size
        )
        self.summary.games[action.game] = created["gameId"]
        return _EMITTED["create_game"]

    async def _start_game(self, action: Action) -> int:
        await self.admin.change_state(self.game_id(action.game), "playing", "replay starts")
        return _EMITTED["start_game"]

    async def _join(self, action: Action) -> int:
        gid = self.game_id(action.game)
        joined = await self.anonymous.join(action.actor, gid)
        http = self.admin.with_token(joined["token"])
        card = await http.card(gid)
        self.players[(action.game, action.actor)] = _Player(
            http, gid, list(card["cells"]), set(card.get("marked", []))
        )
        if self.polling:
            self._follow("player", action.game, http, gid)
        elif self.connect_players:
            client = BingoClient(self.ws_url, joined["token"], games=[gid], feed=self.player_feed)
            self.clients.append(client)
            self.sockets.append(("player", action.game, self.now()))
            client.start()
        return _EMITTED["join"]

    async def _connect_board(self, action: Action) -> int:
        gid = self.game_id(action.game)
        if self.polling:
            token = await self.cache.get(self.http_url, self.anonymous.request_public_token)
            poller = self._follow("board", action.game, self.admin.with_token(token.token), gid)
            assert poller is not None
            self.board_pollers[action.actor] = poller
            return 0
        # `BingoClient.board`, with the token fetches counted by the replay's transport.
        source = PublicTokenSource(self.http_url, cache=self.cache, transport=self.transport)
        client = BingoClient(self.ws_url, source, games=[gid], kind="public")
        self.clients.append(client)
        self.boards[action.actor] = (gid, client)
        self.sockets.append(("board", action.game, self.now()))
        client.start()
        return 0

    async def _mark(self, action: Action) -> int | None:
        player = self.players.get((action.game, action.actor))
        remaining = player.remaining() if player else []
        if player is None or not remaining:
            self.summary.skipped_marks += 1
            return None
        # The real card differs from the model, so `pick` indexes the real remaining words;
        # modulo, because the model may have had more words left than the real card has.
        word = remaining[int(action.data.get("pick", 0)) % len(remaining)]
        self.summary.marks_sent += 1
        started = time.perf_counter()
        try:
            reply = await player.http.mark(player.game_id, word)
        finally:
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
        player.marked.add(reply.get("word", word))
        if reply.get("newlyMarked"):
            self.summary.marks_ok += 1
            return _EMITTED["mark"]
        return 0

    async def _claim(self, action: Action) -> int | None:
        player = self.players.get((action.game, action.actor))
        if player is None:
            self.summary.skipped_claims += 1
            return None
        # The model's line is on the model card; only the server's view of the real card says
        # whether a claim would be accepted.
        card = await player.http.card(player.game_id)
        if not card.get("completeLines"):
            self.summary.skipped_claims += 1
            return None
        self.summary.claims_sent += 1
        await player.http.claim_bingo(player.game_id)
        return _EMITTED["claim"]

    async def _verify(self, action: Action) -> int:
        gid = self.game_id(action.game)
        state = (await self.admin.game(gid)).get("state")
        if state == "bingo":
            await self.admin.change_state(gid, "ended", "verified by the replay")
            return 1
        if state == "playing":
            # The model's claim found no line on the real card (the server draws the cards),
            # so nothing awaits verification; the scenario's game is over all the same.
            await self.admin.change_state(gid, "ended", "the scenario's game is over")
            return 1
        return 0

    async def _end(self, action: Action) -> int:
        gid = self.game_id(action.game)
        game = await self.admin.game(gid)
        if game.get("state") != "ended":
            await self.admin.change_state(gid, "ended", "the replay's time is up")
            return 1
        return 0

    async def stop_pollers(self) -> None:
        """End every polling loop (after its poll in flight) and record its span."""
        self.stop_polling.set()
        await asyncio.gather(*(task for *_, task in self.pollers), return_exceptions=True)
        end = self.now()
        for kind, game, start, poller, _task in self.pollers:
            self.summary.spans.append(ClientSpan(kind, game, "polling", start, end))
            self.summary.polls += poller.polls
            self.errors.update(poller.errors)

    async def settle_boards(self, timeout: float) -> None:
        """Wait until each board shows its game's server leaderboard, then record what it saw."""
        for name, poller in self.board_pollers.items():
            # A polling board's last poll may predate the last mark: poll once more, as the
            # next tick would.
            server = await self._server_standings(poller.game_id)
            await poller.poll()
            self.summary.polls += 1
            self.errors.update(poller.errors)
            poller.errors.clear()
            self.summary.boards[name] = list(poller.leaderboard)
            self.summary.boards_in_sync[name] = (
                server is not None and _standings(poller.leaderboard) == server
            )
        for name, (gid, client) in self.boards.items():
            want = await self._server_standings(gid)

            def caught_up(state: Any, gid: str = gid, want: Any = want) -> bool:
                view = state.games.get(gid)
                return view is not None and _standings(view.leaderboard) == want

            in_sync = False
            if want is not None:
                # A board that never connected must not hang the replay; it is reported instead.
                with contextlib.suppress(Exception):
                    await client.wait_for(caught_up, timeout=timeout)
                    in_sync = True
            view = client.state.games.get(gid)
            self.summary.boards[name] = list(view.leaderboard) if view else []
            self.summary.boards_in_sync[name] = in_sync

    async def _server_standings(self, gid: str) -> list[tuple[Any, Any, Any]] | None:
        try:
            return _standings((await self.admin.leaderboard(gid))["leaderboard"])
        except ApiError as exc:
            self.errors[exc.code] += 1
            return None

    async def close(self) -> None:
        """Close every WebSocket client and every player's HTTP client."""
        self.stop_polling.set()
        await asyncio.gather(*(task for *_, task in self.pollers), return_exceptions=True)
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        end = self.now()
        for kind, game, start in self.sockets:
            self.summary.spans.append(ClientSpan(kind, game, "push", start, end))
        self.sockets = []
        # Players' clients share the admin's pool (`with_token`): closing them closes nothing,
        # but keeps the contract if that ever changes.
        for player in self.players.values():
            await player.http.aclose()

    def finish(self, wall_time_s: float) -> ReplaySummary:
        """Fill in the totals and return the summary."""
        self.summary.actions = dict(self.actions)
        self.summary.errors = dict(self.errors)
        self.summary.http_requests = dict(sorted(self.transport.requests.items()))
        if self.latencies_ms:
            self.summary.mark_latency_p50_ms = percentile(self.latencies_ms, 50)
            self.summary.mark_latency_p95_ms = percentile(self.latencies_ms, 95)
        self.summary.wall_time_s = wall_time_s
        return self.summary


def _standings(rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, Any, Any]]:
    return [(r.get("nickname"), r.get("points"), r.get("marks")) for r in rows]


async def replay(
    actions: Iterable[Action],
    outputs: Mapping[str, Any],
    *,
    admin_token: str,
    speed: float = 1.0,
    connect_players: bool = True,
    progress: bool = True,
    cache_dir: str | Path | None = None,
    settle_timeout_s: float = DEFAULT_SETTLE_TIMEOUT_S,
    poll_interval_s: float | None = None,
    player_feed: bool = True,
) -> ReplaySummary:
    """Replay a scenario against a stack.

    Actions run one at a time in time order, each at `t / speed` seconds from the start; one
    that falls behind runs at once and its delay counts towards `max_lag_s`. Running them one at
    a time keeps the causal order of the scenario (a join before its marks, a mark before its
    claim) and makes runs repeatable. Marks map the scenario's `pick` onto the player's real
    card; claims are sent only when the real card has a complete line. At the end, boards are
    given `settle_timeout_s` to show the server's leaderboard, and every client is closed.

    With `poll_interval_s`, the run is the deprecated design instead: no device opens a
    WebSocket; each player (from its join) and each board (from its connection) polls
    `GET /leaderboard/{gameId}/stream` every `poll_interval_s / speed` wall seconds until the
    last action, and each board polls once more at the end to check its standings.

    Args:
        actions: The scenario (e.g. from `generate` or `read_jsonl`); sorted here by `t`.
        outputs: The stack's outputs (`httpUrl`, `wsUrl`).
        admin_token: An admin token for creating, starting and ending games.
        speed: Time compression: 10 plays a 60 s scenario in 6 s.
        connect_players: Whether each player also opens a WebSocket, like a real phone.
        progress: Show a tqdm progress bar over the actions.
        cache_dir: The boards' public token cache; a temporary directory when None.
        settle_timeout_s: Seconds each board may take to catch up with the server at the end.
        poll_interval_s: Scenario seconds between polls; None (the default) pushes instead.
        player_feed: Whether players' WebSocket clients subscribe to the activity feed
            (False: leaderboards and state changes only, a phone at conference scale).

    Returns:
        What the replay did.

    Raises:
        ValueError: `speed` or `poll_interval_s` is not positive.
        httpx.HTTPError: the stack could not be reached (API errors are counted instead).
    """
    if not speed > 0:
        raise ValueError("speed must be positive")
    if poll_interval_s is not None and not poll_interval_s > 0:
        raise ValueError("poll_interval_s must be positive")
    # Stable sort: actions at the same time keep their causal order.
    ordered = sorted(actions, key=lambda a: a.t)
    temporary = None
    if cache_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="bingo-replay-")
        cache_dir = temporary.name
    transport = CountingTransport()
    try:
        async with BingoHttp(
            str(outputs["httpUrl"]), token=admin_token, transport=transport
        ) as admin:
            replayer = _Replayer(
                outputs,
                admin,
                TokenCache(cache_dir),
                connect_players,
                transport,
                None if poll_interval_s is None else poll_interval_s / speed,
                player_feed,
            )
            return await _run_all(replayer, ordered, speed, progress, settle_timeout_s)
    finally:
        await transport.close()
        if temporary is not None:
            temporary.cleanup()


async def _run_all(
    replayer: _Replayer,
    ordered: list[Action],
    speed: float,
    progress: bool,
    settle_timeout_s: float,
) -> ReplaySummary:
    """The timed loop of `replay`; closes every client however it ends."""
    bar = tqdm(total=len(ordered), unit="action", disable=not progress)
    loop = asyncio.get_running_loop()
    start = replayer.started
    try:
        for action in ordered:
            due = start + action.t / speed
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                replayer.summary.max_lag_s = max(replayer.summary.max_lag_s, now - due)
            await replayer.run(action)
            bar.update(1)
        await replayer.stop_pollers()
        await replayer.settle_boards(settle_timeout_s)
    finally:
        bar.close()
        await replayer.close()
    return replayer.finish(loop.time() - start)
