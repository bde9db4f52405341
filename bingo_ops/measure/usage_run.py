"""The measured push-vs-polling run: one scenario replayed both ways, metered, priced, modelled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from bingo_ops.deploy.stack import StackHandle, open_stack
from bingo_ops.emulator.streams import DEFAULT_POLL_S
from bingo_ops.measure.cost import (
    AWS_STREAM_POLL_S,
    BASELINE_POLL_S,
    CONFERENCE_WORKLOAD,
    DEFAULT_POLL_INTERVALS,
    DEFAULT_PUSH_WINDOWS,
    INLINE,
    Fanout,
    FrontierRow,
    Workload,
    choose,
    frontier,
    polling_staleness_p99,
    polling_usage,
    push_staleness_p99,
    push_usage,
)
from bingo_ops.measure.invocations import MetricsSource, metering_delta
from bingo_ops.measure.prices import US_EAST_1, PriceTable, Usage, cost, usage_from_metering
from bingo_ops.measure.run_model import (
    GameEvent,
    RunCounts,
    RunShape,
    Session,
    agreement,
    counts_from_metering,
    predict_run,
)
from bingo_ops.replay.replayer import ReplaySummary, replay
from bingo_ops.replay.scenario import ScenarioSpec, generate

__all__ = [
    "CONFERENCE",
    "SEED_CLAIMS",
    "ModeResult",
    "UsageRun",
    "open_measured_stack",
    "run_usage",
    "shape_of",
]

Mode = Literal["push", "polling"]
MODES: tuple[Mode, ...] = ("push", "polling")

# The project's claims, as the seed stated them (DESIGN.md): ~1,200 Lambda invocations per
# user-hour when polling every 3 s, ~3 per WebSocket session, "99.75 % fewer".
SEED_CLAIMS: dict[str, float] = {
    "polling_invocations_per_user_hour": 1200.0,
    "push_invocations_per_session": 3.0,
    "reduction_percent": 99.75,
}
# The conference: 2,000 players, 10 games, 20 boards, 1 mark per player per minute.
CONFERENCE = CONFERENCE_WORKLOAD
# The model of a run must use the stack's own stream poll interval to predict its windows.
EMULATOR_STREAM_POLL_S = DEFAULT_POLL_S

# Messages each subscriber receives per log entry an action adds: its event messages plus one
# `leaderboard_update` (a claim adds two entries, so three messages). A game's creation
# broadcasts nothing.
_MESSAGES = {"create_game": 0, "start_game": 2, "join": 2, "mark": 2, "claim": 3}
_STATE_CHANGE_MESSAGES = 2
# Per action kind: whether its entries may move the standings, and how many are state changes
# (what the stream broadcasters look at). A game's creation adds `game_created` only; a claim
# adds `bingo_claimed` and a state change; other kinds are state changes.
_MOVES = {"create_game": False}
_STATE_CHANGES = {"join": 0, "mark": 0, "create_game": 0, "claim": 1}
_STREAM_ROUTE = "GET /leaderboard/{id}/stream"
_SESSION_FUNCTIONS = ("ws_authorizer", "ws_connect", "ws_disconnect", "ws_message")


@dataclass
class ModeResult:
    """One mode's measured run.

    Attributes:
        mode: `push` or `polling`.
        summary: The replay's summary.
        delta: The stack's metering over the run (after minus before).
        shape: What the run did, as its clients saw it (the model's input).
        predicted: The model's counts for that shape.
        metered: The counts in `delta`.
        agreement: Quantity -> predicted, metered, relative error, within tolerance.
        user_hours: Device-hours of following a game (scenario time).
        scenario_hours: Length of the run in scenario time.
        usage_per_hour: Metered usage per scenario hour.
        usd_per_hour: `usage_per_hour` priced, by line item, with `total`.
    """

    mode: Mode
    summary: ReplaySummary
    delta: dict[str, Any]
    shape: RunShape
    predicted: RunCounts
    metered: RunCounts
    agreement: dict[str, dict[str, Any]]
    user_hours: float
    scenario_hours: float
    usage_per_hour: Usage
    usd_per_hour: dict[str, float]

    @property
    def sessions(self) -> int:
        """WebSocket connections opened (metered)."""
        return int(self.metered.invocations.get("ws_connect", 0))

    @property
    def invocations_per_user_hour(self) -> float:
        """Metered invocations of every function over device-hours."""
        return self.metered.total_invocations / self.user_hours if self.user_hours else 0.0

    @property
    def session_invocations_per_session(self) -> float:
        """WebSocket functions' invocations per session (authorizer to $disconnect)."""
        if not self.sessions:
            return 0.0
        return sum(self.metered.invocations.get(f, 0) for f in _SESSION_FUNCTIONS) / self.sessions

    def as_dict(self) -> dict[str, Any]:
        """The headline figures as plain data."""
        per_function = {k: float(v) for k, v in self.metered.invocations.items()}
        return {
            "mode": self.mode,
            "clients": len(self.summary.spans),
            "sessions": self.sessions,
            "polls": self.summary.polls,
            "marks_ok": self.summary.marks_ok,
            "wall_time_s": self.summary.wall_time_s,
            "scenario_hours": self.scenario_hours,
            "user_hours": self.user_hours,
            "invocations": {**per_function, "total": self.metered.total_invocations},
            "invocations_per_user_hour": self.invocations_per_user_hour,
            "polls_per_user_hour": self.summary.polls / self.user_hours if self.user_hours else 0.0,
            "session_invocations_per_session": self.session_invocations_per_session,
            "messages": {
                "in": int(self.delta["websocket"]["messagesIn"]),
                "out": int(self.delta["websocket"]["messagesOut"]),
                "units_in": self.metered.ws_message_units_in,
                "units_out": self.metered.ws_message_units_out,
            },
            "connection_minutes": self.metered.ws_connection_minutes,
            "http_requests": self.metered.http_requests,
            "usd_per_hour": dict(self.usd_per_hour),
            "model": {
                "predicted": self.predicted.as_dict(),
                "agreement": self.agreement,
                "all_within": all(row["within"] for row in self.agreement.values()),
                "max_abs_relative_error": max(
                    (
                        abs(r["relative_error"])
                        for r in self.agreement.values()
                        if r["relative_error"] is not None
                    ),
                    default=0.0,
                ),
            },
            "errors": dict(self.summary.errors),
        }


@dataclass
class UsageRun:
    """The same scenario measured with WebSocket push and with polling.

    Attributes:
        spec: The scenario.
        speed: Time compression of the replay.
        poll_interval_s: Scenario seconds between polls.
        prices: The price table used.
        modes: `push` and `polling` results.
        fanout: The stack's fan-out (its `poll_s` the stack's stream poll interval).
    """

    spec: ScenarioSpec
    speed: float
    poll_interval_s: float
    prices: PriceTable
    modes: dict[str, ModeResult] = field(default_factory=dict)
    fanout: Fanout = INLINE

    @property
    def aws_fanout(self) -> Fanout:
        """The run's fan-out as AWS would run it: its windows, AWS's ~0.25 s stream poll."""
        return replace(self.fanout, poll_s=AWS_STREAM_POLL_S, post_jobs=True)

    def workload(self) -> Workload:
        """The run's scale as a one-hour steady-state `Workload` for the model."""
        s = self.spec
        return Workload(
            players=s.players,
            games=s.games,
            boards=s.boards,
            marks_per_player_per_minute=s.marks_per_player_per_minute,
            fanout=self.aws_fanout,
        )

    def frontier(self, workload: Workload) -> list[FrontierRow]:
        """$ per hour against p99 staleness at `workload`'s scale (see `cost.frontier`).

        The default windows, plus the run's own when it ran in stream mode; polling at the
        default intervals and at the run's.
        """
        windows = list(DEFAULT_PUSH_WINDOWS)
        own = (self.fanout.board_window_s, self.fanout.player_window_s)
        if self.fanout.mode == "stream" and own not in windows:
            windows.append(own)
        intervals = sorted({*DEFAULT_POLL_INTERVALS, self.poll_interval_s, BASELINE_POLL_S})
        stream = replace(self.aws_fanout, mode="stream")
        return frontier(workload, windows, intervals, self.prices, stream=stream)

    def chosen(self, workload: Workload) -> dict[str, Any]:
        """The cheapest push configuration meeting the staleness targets at a scale.

        Judged against 3 s HTTP-API polling at the same scale.
        """
        baseline = cost(polling_usage(workload, BASELINE_POLL_S), self.prices).total
        return choose(self.frontier(workload), baseline / workload.hours)

    def measured_point(self) -> dict[str, Any] | None:
        """The measured push run as a frontier point.

        Metered $ per scenario hour at the model's p99 staleness for the run's configuration
        (staleness is not measured here).
        """
        push = self.modes.get("push")
        if push is None:
            return None
        board, player = push_staleness_p99(self.aws_fanout, self.workload())
        return {
            "design": f"push-{self.fanout.mode}",
            "parameter": self.fanout.label,
            "usd_per_hour": push.usd_per_hour["total"],
            "board_p99_s": board,
            "player_p99_s": player,
            "polling_usd_per_hour": (
                self.modes["polling"].usd_per_hour["total"] if "polling" in self.modes else None
            ),
            "polling_p99_s": polling_staleness_p99(self.poll_interval_s),
        }

    def modelled_usd_per_hour(self, workload: Workload) -> dict[str, dict[str, float]]:
        """The model's $/h by line item for `workload`, both ways, at this run's prices."""
        return {
            "push": cost(push_usage(workload), self.prices).as_dict(),
            "polling": cost(polling_usage(workload, self.poll_interval_s), self.prices).as_dict(),
        }

    def claims(self) -> dict[str, Any]:
        """The seed's claims beside what this run measured."""
        push, polling = self.modes["push"], self.modes["polling"]
        per_uh_push = push.invocations_per_user_hour
        per_uh_polling = polling.invocations_per_user_hour
        return {
            "seed": dict(SEED_CLAIMS),
            "measured": {
                "polling_invocations_per_user_hour": per_uh_polling,
                "push_invocations_per_user_hour": per_uh_push,
                "push_invocations_per_session": push.session_invocations_per_session,
                "reduction_percent": (
                    100 * (1 - per_uh_push / per_uh_polling) if per_uh_polling else None
                ),
                "push_usd_per_hour": push.usd_per_hour["total"],
                "polling_usd_per_hour": polling.usd_per_hour["total"],
            },
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything the notebook's results.json records."""
        return {
            "spec": self.spec.to_dict(),
            "fanout": {
                "mode": self.fanout.mode,
                "board_window_s": self.fanout.board_window_s,
                "player_window_s": self.fanout.player_window_s,
                "player_feed": self.fanout.player_feed,
                "stream_poll_s": self.fanout.poll_s,
            },
            "speed": self.speed,
            "poll_interval_s": self.poll_interval_s,
            "prices": {"region": self.prices.region, "as_of": self.prices.as_of},
            "modes": {name: result.as_dict() for name, result in self.modes.items()},
            "claims": self.claims(),
            "model_at_run_scale_usd_per_hour": self.modelled_usd_per_hour(self.workload()),
            "conference": {
                "workload": {
                    "players": CONFERENCE.players,
                    "games": CONFERENCE.games,
                    "boards": CONFERENCE.boards,
                    "marks_per_player_per_minute": CONFERENCE.marks_per_player_per_minute,
                },
                "usd_per_hour": self.modelled_usd_per_hour(CONFERENCE),
            },
            "frontier": {
                "run_scale": [r.as_dict() for r in self.frontier(self.workload())],
                "conference": [r.as_dict() for r in self.frontier(CONFERENCE)],
                "measured": self.measured_point(),
            },
            "chosen": {
                "run_scale": self.chosen(self.workload()),
                "conference": self.chosen(CONFERENCE),
            },
        }


def shape_of(summary: ReplaySummary, mode: Mode, fanout: Fanout = INLINE) -> RunShape:
    """The model's input for a replay: its HTTP requests, polls, sessions and log entries.

    Everything comes from the replay's own records (the client side): requests it sent, polls
    it made, when each WebSocket opened and closed (and whether a player or a board), and
    which actions the API accepted and how many log entries each added. With stream fan-out
    the broadcasters run in polling mode too (the stream sees every write), so both modes
    carry the fan-out.
    """
    requests = sum(summary.http_requests.values())
    polls = summary.http_requests.get(_STREAM_ROUTE, 0)
    player_feed = fanout.player_feed if fanout.mode == "stream" else True
    sessions = tuple(
        Session(
            str(s.game),
            s.start_s,
            s.end_s,
            audience=s.kind,
            feed=True if s.kind == "board" else player_feed,
        )
        for s in summary.spans
        if s.mode == "push"
    )
    events: list[GameEvent] = []
    for record in summary.records:
        if not record.ok or record.emitted == 0:
            continue
        messages = _MESSAGES.get(record.kind, _STATE_CHANGE_MESSAGES)
        events.append(
            GameEvent(
                str(record.game),
                record.at_s,
                record.emitted,
                messages,
                moves_leaderboard=_MOVES.get(record.kind, True),
                state_changes=_STATE_CHANGES.get(record.kind, 1),
            )
        )
    return RunShape(
        http_requests=requests - polls,
        polls=polls,
        sessions=sessions if mode == "push" else (),
        game_events=tuple(events),
        fanout=fanout,
    )


def _per_scenario_hour(usage: Usage, wall_s: float, speed: float) -> Usage:
    """Usage per scenario hour: a wall second stands for `speed` scenario seconds.

    Counts (requests, messages) happen once per scenario event, so they only divide by the
    scenario hours; a connection open for one wall minute stood for `speed` scenario minutes.
    """
    hours = wall_s * speed / 3600
    if hours <= 0:
        return Usage()
    stretched = Usage(
        lambda_requests=usage.lambda_requests,
        lambda_gb_seconds=usage.lambda_gb_seconds,
        ws_message_units=usage.ws_message_units,
        ws_connection_minutes=usage.ws_connection_minutes * speed,
        http_request_units=usage.http_request_units,
        dynamodb_write_units=usage.dynamodb_write_units,
        dynamodb_read_units=usage.dynamodb_read_units,
    )
    return stretched.scale(1 / hours)


async def _settled(
    metrics: MetricsSource, before: Mapping[str, Any], timeout_s: float, fanout: Fanout = INLINE
) -> dict[str, Any]:
    """The metering once every connection the run opened has run its `$disconnect`.

    With stream fan-out, the last windows close up to W after the last write (the replay
    settles only the boards): the players' window, a poll and the invocation are waited out
    first, so that the delta holds every broadcaster invocation the run caused.
    """
    if fanout.mode == "stream":
        wait = max(fanout.board_window_s, fanout.player_window_s) + 2 * fanout.poll_s + 0.25
        await asyncio.sleep(wait)
    deadline = time.monotonic() + timeout_s
    while True:
        after = await asyncio.to_thread(metrics)
        delta = metering_delta(before, after)
        functions = delta["lambda"]["functions"]
        connects = functions.get("ws_connect", {}).get("invocations", 0)
        disconnects = functions.get("ws_disconnect", {}).get("invocations", 0)
        if disconnects >= connects or time.monotonic() > deadline:
            return delta
        await asyncio.sleep(0.05)


async def _measure(
    mode: Mode,
    spec: ScenarioSpec,
    outputs: Mapping[str, Any],
    admin_token: str,
    metrics: MetricsSource,
    *,
    speed: float,
    poll_interval_s: float,
    prices: PriceTable,
    tolerance: float,
    progress: bool,
    fanout: Fanout,
) -> ModeResult:
    before = await asyncio.to_thread(metrics)
    summary = await replay(
        generate(spec),
        outputs,
        admin_token=admin_token,
        speed=speed,
        progress=progress,
        poll_interval_s=poll_interval_s if mode == "polling" else None,
        player_feed=fanout.player_feed if fanout.mode == "stream" else True,
    )
    delta = await _settled(metrics, before, timeout_s=10.0, fanout=fanout)
    shape = shape_of(summary, mode, fanout)
    predicted = predict_run(shape)
    metered = counts_from_metering(delta)
    user_seconds = sum(s.end_s - s.start_s for s in summary.spans) * speed
    per_hour = _per_scenario_hour(usage_from_metering(delta), summary.wall_time_s, speed)
    return ModeResult(
        mode=mode,
        summary=summary,
        delta=delta,
        shape=shape,
        predicted=predicted,
        metered=metered,
        agreement=agreement(predicted, metered, tolerance),
        user_hours=user_seconds / 3600,
        scenario_hours=summary.wall_time_s * speed / 3600,
        usage_per_hour=per_hour,
        usd_per_hour=cost(per_hour, prices).as_dict(),
    )


async def run_usage(
    spec: ScenarioSpec,
    outputs: Mapping[str, Any],
    *,
    admin_token: str,
    metrics: MetricsSource,
    speed: float = 1.0,
    poll_interval_s: float = 3.0,
    prices: PriceTable = US_EAST_1,
    tolerance: float = 0.05,
    progress: bool = True,
    fanout: Fanout = INLINE,
) -> UsageRun:
    """Replay one generated scenario with WebSocket push, then with polling, metering each.

    Each mode creates its own games, so the two runs share nothing but the stack. The stack's
    metering is cumulative and may be shared, so each mode's usage is the difference of
    snapshots taken right before it and once its connections have all disconnected.
    DynamoDB is not metered by the emulator (its line items are 0 here; the model prices it).

    Args:
        spec: The scenario to generate and replay both ways.
        outputs: The stack's outputs.
        admin_token: An admin token for the stack.
        metrics: Returns the stack's metering snapshot (e.g. `StackHandle.metrics`).
        speed: Time compression of both replays; per-hour figures are per scenario hour.
        poll_interval_s: Scenario seconds between polls in polling mode.
        prices: Price table for the $ per hour.
        tolerance: Relative error within which model and metering agree.
        progress: Show the replays' progress bars.
        fanout: The stack's fan-out, as it was started (e.g. by `open_measured_stack`);
            with `stream`, players subscribe without the feed unless `player_feed`.

    Returns:
        Both modes' results.
    """
    run = UsageRun(spec, speed, poll_interval_s, prices, fanout=fanout)
    for mode in MODES:
        run.modes[mode] = await _measure(
            mode,
            spec,
            outputs,
            admin_token,
            metrics,
            speed=speed,
            poll_interval_s=poll_interval_s,
            prices=prices,
            tolerance=tolerance,
            progress=progress,
            fanout=fanout,
        )
    return run


def open_measured_stack(
    stack: str, fanout: Fanout = INLINE, *, state_dir: str | Path | None = None
) -> StackHandle:
    """The stack to measure: an attached one as it runs, or a new local one with `fanout`.

    A started stream stack reads its stream every `EMULATOR_STREAM_POLL_S` (the emulator's
    default), which `run_usage` assumes when it models the run.
    """
    return open_stack(
        stack,
        state_dir=state_dir,
        fanout=fanout.mode,
        board_window_s=fanout.board_window_s,
        player_window_s=fanout.player_window_s,
        post_jobs=fanout.post_jobs,
    )
