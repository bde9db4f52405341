"""Which game a dashboard watches: a given one, the current one, or a demo game being replayed."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bingo_ops.client.http import ApiError, BingoHttp
from bingo_ops.client.token_cache import TokenCache
from bingo_ops.replay.replayer import ReplaySummary, replay
from bingo_ops.replay.scenario import ScenarioSpec, generate

# Scenario seconds of a demo game; the replay speed squeezes them into the wall time asked for.
DEMO_SCENARIO_S = 60.0
# Wall time of a demo when the monitor runs until stopped (duration 0).
DEMO_OPEN_ENDED_WALL_S = 60.0
# Share of the monitoring time the demo takes, so it is over (and the monitor has caught up
# with its last events) well before the monitor stops.
DEMO_SHARE = 0.5
DEMO_GAME_NAME = "replay game 0"  # what `replay` names the first game it creates
GAME_WAIT_S = 10.0
# What of a replay's summary goes into a monitor's results (not its per-action records).
REPLAY_HEADLINES = (
    "actions",
    "errors",
    "marks_sent",
    "marks_ok",
    "claims_sent",
    "skipped_marks",
    "skipped_claims",
    "max_lag_s",
    "wall_time_s",
    "mark_latency_p50_ms",
    "mark_latency_p95_ms",
)
POLL_S = 0.05


class NoGameRunning(LookupError):
    """No game is running and none was given or started."""


async def current_game_id(http_url: str, *, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The id of the stack's current game (the newest active one), read with a public token.

    Args:
        http_url: The stack's HTTP API URL.
        cache_dir: Public token cache; the user cache directory by default.

    Raises:
        NoGameRunning: no game is active.
        ApiError: any other refusal.
    """
    async with BingoHttp(http_url, cache=TokenCache(cache_dir)) as http:
        token = (await http.public_token()).token
        try:
            game = await http.with_token(token).current_game()
        except ApiError as exc:
            if exc.code == "game_not_found":
                raise NoGameRunning(exc.message) from exc
            raise
    return str(game["gameId"])


def demo_spec(wall_s: float, *, seed: int = 1) -> tuple[ScenarioSpec, float]:
    """A small lively game (4x4 cards, six players) and the speed that fits `wall_s`.

    Args:
        wall_s: Seconds of wall time the replay should take.
        seed: The scenario's seed.

    Returns:
        The spec and the replay speed factor.
    """
    if not wall_s > 0:
        raise ValueError("wall_s must be positive")
    spec = ScenarioSpec(
        games=1,
        # 4x4: no free centre, so a line takes four marks and the chart has time to grow.
        grid_size=4,
        players=6,
        boards=0,
        marks_per_player_per_minute=8.0,
        join_curve="front_loaded",
        join_window_s=10.0,
        duration_s=DEMO_SCENARIO_S,
        bingo_claims=True,
        verify_delay_s=3.0,
        seed=seed,
    )
    return spec, DEMO_SCENARIO_S / wall_s


def demo_wall_s(duration_s: float) -> float:
    """How long a demo replay runs while a monitor watches for `duration_s` (0: until stopped)."""
    if duration_s <= 0:
        return DEMO_OPEN_ENDED_WALL_S
    return max(0.5, duration_s * DEMO_SHARE)


@dataclass
class DemoActivity:
    """A scenario being replayed in a background task against one new game.

    Attributes:
        game_id: The game the replay created.
        task: The replay.
        wall_s: The wall time the replay was sized for.
        finished_at: Event-loop time (`loop.time()`) when the replay ended, None while running.
    """

    game_id: str
    task: asyncio.Task[ReplaySummary]
    wall_s: float
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        """Whether the replay has ended."""
        return self.task.done()

    async def wait(self, timeout_s: float | None = None) -> ReplaySummary | None:
        """Wait for the replay to end; cancel it if it takes longer than `timeout_s`.

        Returns:
            Its summary, or None when it was cancelled.

        Raises:
            Exception: whatever the replay raised (e.g. the stack went away).
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.task), timeout_s)
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        return None if self.task.cancelled() else self.task.result()


async def start_demo_activity(
    outputs: Mapping[str, Any],
    admin_token: str,
    *,
    wall_s: float,
    seed: int = 1,
    timeout_s: float = GAME_WAIT_S,
) -> DemoActivity:
    """Replay a small generated scenario in the background; return once its game exists.

    The replayer creates its own game, so the game is found as the stack's current game named
    like the replayer's first game; call this only when no other game is running.

    Args:
        outputs: The stack's outputs (`httpUrl`, `wsUrl`).
        admin_token: Creates, starts and ends the game.
        wall_s: Seconds the replay should take (see `demo_spec`).
        seed: The scenario's seed.
        timeout_s: Seconds to wait for the game to appear.

    Raises:
        TimeoutError: the game did not appear in time (the replay is cancelled).
        Exception: the replay failed before its game appeared.
    """
    spec, speed = demo_spec(wall_s, seed=seed)
    loop = asyncio.get_running_loop()
    demo: DemoActivity | None = None

    async def run() -> ReplaySummary:
        try:
            return await replay(
                generate(spec),
                outputs,
                admin_token=admin_token,
                speed=speed,
                connect_players=False,
                progress=False,
            )
        finally:
            if demo is not None:
                demo.finished_at = loop.time()

    task = asyncio.create_task(run(), name="bingo-demo-activity")
    try:
        game_id = await _wait_for_game(str(outputs["httpUrl"]), admin_token, task, timeout_s)
    except BaseException:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise
    demo = DemoActivity(game_id, task, wall_s)
    if task.done():  # already over: the finally above ran before `demo` existed
        demo.finished_at = loop.time()
    return demo


async def _wait_for_game(
    http_url: str, admin_token: str, task: asyncio.Task[ReplaySummary], timeout_s: float
) -> str:
    async with BingoHttp(http_url, token=admin_token) as http, asyncio.timeout(timeout_s):
        while True:
            if task.done():
                task.result()  # raises the replay's error
                raise RuntimeError("the demo replay ended before its game was found")
            with contextlib.suppress(ApiError):
                game = await http.current_game()
                if game.get("name") == DEMO_GAME_NAME:
                    return str(game["gameId"])
            await asyncio.sleep(POLL_S)


def _headlines(summary: ReplaySummary) -> dict[str, Any]:
    everything = summary.as_dict()
    return {key: everything[key] for key in REPLAY_HEADLINES if key in everything}


@dataclass
class WatchTarget:
    """The game a monitor watches and, when one was started for it, the demo activity.

    Attributes:
        game_id: The game.
        source: `given`, `current` or `demo`.
        demo: The replay feeding a demo game.
        demo_summary: What `finish_demo` found.
    """

    game_id: str
    source: str
    demo: DemoActivity | None = None
    demo_summary: dict[str, Any] = field(default_factory=dict)

    async def finish_demo(
        self, stopped_at: float | None = None, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Let the demo replay end (cancelled after `timeout_s`) and describe it.

        Args:
            stopped_at: Event-loop time when the monitor stopped (`LiveMonitor.stopped_at`),
                to tell whether the demo was over before it.
            timeout_s: Seconds the replay may still take.

        Returns:
            `ran`, `finishedBeforeStop`, `cancelled` and the replay's headline figures.
        """
        if self.demo is None:
            self.demo_summary = {"ran": False}
            return self.demo_summary
        finished_early = (
            self.demo.finished_at is not None
            and stopped_at is not None
            and self.demo.finished_at <= stopped_at
        )
        summary = await self.demo.wait(timeout_s)
        self.demo_summary = {
            "ran": True,
            "wallS": self.demo.wall_s,
            "finishedBeforeStop": finished_early,
            "cancelled": summary is None,
            "replay": _headlines(summary) if summary is not None else None,
        }
        return self.demo_summary


async def choose_game(
    outputs: Mapping[str, Any],
    *,
    game_id: str = "",
    demo_activity: bool = True,
    admin_token: str | Callable[[], str] | None = None,
    duration_s: float = 6.0,
    seed: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
) -> WatchTarget:
    """Pick the game to watch: `game_id`, else the current game, else a new demo game.

    Args:
        outputs: The stack's outputs.
        game_id: A game to watch; empty for the current game.
        demo_activity: When no game is running, create one and replay a small scenario in it
            in the background while the monitor watches (needs `admin_token`).
        admin_token: An admin token, or a function making one (called only for a demo).
        duration_s: How long the monitor will watch (sizes the demo; 0: until stopped).
        seed: The demo scenario's seed.
        cache_dir: Public token cache; the user cache directory by default.

    Raises:
        NoGameRunning: no game is running and `demo_activity` is off.
    """
    if game_id:
        return WatchTarget(game_id, "given")
    try:
        return WatchTarget(
            await current_game_id(str(outputs["httpUrl"]), cache_dir=cache_dir), "current"
        )
    except NoGameRunning:
        if not demo_activity:
            raise NoGameRunning(
                "no game is running: pass game_id, or demo_activity=True to start one"
            ) from None
    if admin_token is None:
        raise ValueError("a demo game needs an admin token")
    token = admin_token if isinstance(admin_token, str) else admin_token()
    demo = await start_demo_activity(outputs, token, wall_s=demo_wall_s(duration_s), seed=seed)
    return WatchTarget(demo.game_id, "demo", demo)
