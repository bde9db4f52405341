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

# tqdm ships no type hints and types-tqdm is not a dev dependency; `unused-ignore` keeps this
# line clean once it is.
from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]

from bingo_ops.client.http import ApiError, BingoHttp
from bingo_ops.client.token_cache import TokenCache
from bingo_ops.client.ws import BingoClient
from bingo_ops.measure.stats import percentile
from bingo_ops.replay.scenario import Action

DEFAULT_SETTLE_TIMEOUT_S = 10.0


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


class _Replayer:
    """State of one replay (private to `replay`)."""

    def __init__(
        self,
        outputs: Mapping[str, Any],
        admin: BingoHttp,
        cache: TokenCache,
        connect_players: bool,
    ) -> None:
        self.http_url = str(outputs["httpUrl"])
        self.ws_url = str(outputs["wsUrl"])
        self.admin = admin
        self.anonymous = admin.with_token(None)
        self.cache = cache
        self.connect_players = connect_players
        self.summary = ReplaySummary()
        self.players: dict[tuple[int, str], _Player] = {}
        self.clients: list[BingoClient] = []
        self.boards: dict[str, tuple[str, BingoClient]] = {}
        self.latencies_ms: list[float] = []
        self.actions: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def game_id(self, index: int) -> str:
        """The stack's id of game `index`; an `unknown_game` ApiError when not created."""
        try:
            return self.summary.games[index]
        except KeyError:
            raise ApiError(0, "unknown_game", f"game {index} was not created") from None

    async def run(self, action: Action) -> None:
        """Execute one action; API errors are counted, never raised."""
        self.actions[action.kind] += 1
        try:
            await getattr(self, f"_{action.kind}")(action)
        except ApiError as exc:
            self.errors[exc.code] += 1

    async def _create_game(self, action: Action) -> None:
        grid_size = int(action.data.get("grid_size", 5))
        created = await self.admin.create_game(
            name=f"replay game {action.game}", grid_size=grid_size
        )
        self.summary.games[action.game] = created["gameId"]

    async def _start_game(self, action: Action) -> None:
        await self.admin.change_state(self.game_id(action.game), "playing", "replay starts")

    async def _join(self, action: Action) -> None:
        gid = self.game_id(action.game)
        joined = await self.anonymous.join(action.actor, gid)
        http = self.admin.with_token(joined["token"])
        card = await http.card(gid)
        self.players[(action.game, action.actor)] = _Player(
            http, gid, list(card["cells"]), set(card.get("marked", []))
        )
        if self.connect_players:
            client = BingoClient(self.ws_url, joined["token"], games=[gid])
            self.clients.append(client)
            client.start()

    async def _connect_board(self, action: Action) -> None:
        gid = self.game_id(action.game)
        client = BingoClient.board(self.http_url, self.ws_url, games=[gid], cache=self.cache)
        self.clients.append(client)
        self.boards[action.actor] = (gid, client)
        client.start()

    async def _mark(self, action: Action) -> None:
        player = self.players.get((action.game, action.actor))
        remaining = player.remaining() if player else []
        if player is None or not remaining:
            self.summary.skipped_marks += 1
            return
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

    async def _claim(self, action: Action) -> None:
        player = self.players.get((action.game, action.actor))
        if player is None:
            self.summary.skipped_claims += 1
            return
        # The model's line is on the model card; only the server's view of the real card says
        # whether a claim would be accepted.
        card = await player.http.card(player.game_id)
        if not card.get("completeLines"):
            self.summary.skipped_claims += 1
            return
        self.summary.claims_sent += 1
        await player.http.claim_bingo(player.game_id)

    async def _verify(self, action: Action) -> None:
        gid = self.game_id(action.game)
        state = (await self.admin.game(gid)).get("state")
        if state == "bingo":
            await self.admin.change_state(gid, "ended", "verified by the replay")
        elif state == "playing":
            # The model's claim found no line on the real card (the server draws the cards),
            # so nothing awaits verification; the scenario's game is over all the same.
            await self.admin.change_state(gid, "ended", "the scenario's game is over")

    async def _end(self, action: Action) -> None:
        gid = self.game_id(action.game)
        game = await self.admin.game(gid)
        if game.get("state") != "ended":
            await self.admin.change_state(gid, "ended", "the replay's time is up")

    async def settle_boards(self, timeout: float) -> None:
        """Wait until each board shows its game's server leaderboard, then record what it saw."""
        for name, (gid, client) in self.boards.items():
            try:
                server = (await self.admin.leaderboard(gid))["leaderboard"]
            except ApiError as exc:
                self.errors[exc.code] += 1
                server = None
            want = None if server is None else _standings(server)

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

    async def close(self) -> None:
        """Close every WebSocket client and every player's HTTP client."""
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        # Players' clients share the admin's pool (`with_token`): closing them closes nothing,
        # but keeps the contract if that ever changes.
        for player in self.players.values():
            await player.http.aclose()

    def finish(self, wall_time_s: float) -> ReplaySummary:
        """Fill in the totals and return the summary."""
        self.summary.actions = dict(self.actions)
        self.summary.errors = dict(self.errors)
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
) -> ReplaySummary:
    """Replay a scenario against a stack.

    Actions run one at a time in time order, each at `t / speed` seconds from the start; one
    that falls behind runs at once and its delay counts towards `max_lag_s`. Running them one at
    a time keeps the causal order of the scenario (a join before its marks, a mark before its
    claim) and makes runs repeatable. Marks map the scenario's `pick` onto the player's real
    card; claims are sent only when the real card has a complete line. At the end, boards are
    given `settle_timeout_s` to show the server's leaderboard, and every client is closed.

    Args:
        actions: The scenario (e.g. from `generate` or `read_jsonl`); sorted here by `t`.
        outputs: The stack's outputs (`httpUrl`, `wsUrl`).
        admin_token: An admin token for creating, starting and ending games.
        speed: Time compression: 10 plays a 60 s scenario in 6 s.
        connect_players: Whether each player also opens a WebSocket, like a real phone.
        progress: Show a tqdm progress bar over the actions.
        cache_dir: The boards' public token cache; a temporary directory when None.
        settle_timeout_s: Seconds each board may take to catch up with the server at the end.

    Returns:
        What the replay did.

    Raises:
        ValueError: `speed` is not positive.
        httpx.HTTPError: the stack could not be reached (API errors are counted instead).
    """
    if not speed > 0:
        raise ValueError("speed must be positive")
    # Stable sort: actions at the same time keep their causal order.
    ordered = sorted(actions, key=lambda a: a.t)
    temporary = None
    if cache_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="bingo-replay-")
        cache_dir = temporary.name
    try:
        async with BingoHttp(str(outputs["httpUrl"]), token=admin_token) as admin:
            replayer = _Replayer(outputs, admin, TokenCache(cache_dir), connect_players)
            return await _run_all(replayer, ordered, speed, progress, settle_timeout_s)
    finally:
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
    start = loop.time()
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
        await replayer.settle_boards(settle_timeout_s)
    finally:
        bar.close()
        await replayer.close()
    return replayer.finish(loop.time() - start)
