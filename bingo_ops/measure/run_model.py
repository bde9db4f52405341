"""Run-shaped predictions: what a measured run should have been metered for, and the agreement."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.services.fanout import MAX_VIEWS_PER_JOB
from bingo_ops.emulator.metering import ws_units
from bingo_ops.measure.cost import (
    CONTROL_FRAME_BYTES,
    INLINE,
    MARK_WRITE_UNITS,
    TOP_N,
    Fanout,
    inline_read_units,
    window_read_units,
)
from bingo_ops.measure.prices import metric

FUNCTIONS: tuple[str, ...] = (
    "ws_authorizer",
    "ws_connect",
    "ws_disconnect",
    "ws_message",
    "http_api",
    "broadcast_boards",
    "broadcast_players",
    "post_players",
)
_BROADCASTERS = {"board": "broadcast_boards", "player": "broadcast_players"}
# The players' broadcaster's posting jobs (`Fanout.post_jobs`), one per game in a window.
_POSTER = "post_players"
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
        broadcast_s_by_audience: The same per audience (`board`, `player`) where known; a
            players' window posts a view per player and takes far longer than a boards' one.
        poll_read_units: DynamoDB read units one poll costs (`cost.poll_read_units`).
    """

    http_requests: int = 0
    polls: int = 0
    sessions: tuple[Session, ...] = ()
    game_events: tuple[GameEvent, ...] = ()
    heartbeat_s: float = _DEFAULT_HEARTBEAT_S
    message_bytes: int = CONTROL_FRAME_BYTES
    backfill: int = _BACKFILL_EVENTS
    fanout: Fanout = INLINE
    write_delay_s: float = 0.01
    broadcast_s: float = 0.01
    broadcast_s_by_audience: Mapping[str, float] = field(default_factory=dict)
    poll_read_units: float = 0.0

    def broadcast_time(self, audience: str) -> float:
        """Wall seconds one invocation of `audience`'s broadcaster takes."""
        return self.broadcast_s_by_audience.get(audience, self.broadcast_s)


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
        dynamodb_read_units: DynamoDB read units of the log's entries, their fan-out and the
            polls (modelled only: the local stack's SQLite store meters none, so they stay out
            of `as_dict` and of `agreement`).
        dynamodb_write_units: DynamoDB write units of the log's entries (each one transaction
            like a mark's).
    """

    invocations: Mapping[str, float]
    ws_message_units_in: float = 0.0
    ws_message_units_out: float = 0.0
    ws_connection_minutes: float = 0.0
    http_requests: float = 0.0
    broadcast_units_out: Mapping[str, float] = field(default_factory=dict)
    dynamodb_read_units: float = 0.0
    dynamodb_write_units: float = 0.0

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


def _subscribers(
    sessions: tuple[Session, ...], game: str, at_s: float, audience: str | None = None
) -> int:
    return sum(
        1
        for s in sessions
        if s.game == game
        and s.opened_s < at_s < s.closed_s
        and (audience is None or s.audience == audience)
    )


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
    control = ws_units(CONTROL_FRAME_BYTES)
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
    reads = shape.polls * shape.poll_read_units
    if shape.fanout.mode == "inline":
        for event in shape.game_events:
            receivers = _subscribers(shape.sessions, event.game, event.at_s)
            units_out += receivers * event.messages * pushed
            if shape.sessions:  # a design without WebSockets (polling) has no fan-out
                players = _subscribers(shape.sessions, event.game, event.at_s, "player")
                reads += inline_read_units(receivers, players)
    else:
        for audience, name in _BROADCASTERS.items():
            count, sent, window_reads, jobs = _stream_windows_of_run(shape, audience)
            invocations[name] = count
            invocations[_POSTER] += jobs
            broadcast[audience] = sent * pushed
            units_out += sent * pushed
            reads += window_reads
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
        dynamodb_read_units=reads,
        dynamodb_write_units=sum(e.events for e in shape.game_events) * MARK_WRITE_UNITS,
    )


def _stream_windows_of_run(shape: RunShape, audience: str) -> tuple[float, float, float, float]:
    """One mapping's invocations, messages, DynamoDB read units and posting jobs over a run.

    The poller reads right after each invocation and then every `poll_s`; a window opens at
    the first read that finds a pending record (for the very first record, half a poll
    interval after it on average, the poller's phase being unknown), gathers every record
    written until W later, and invokes the broadcaster once (more if BatchSize overflows).
    For each game in the window, every session of the audience open when the window closes
    receives: with the feed, one `activity_batch` (the run's windows stay far below 32 KB)
    and, when the standings may have moved, one `leaderboard_update`; without the feed, each
    state change and that leaderboard. Each game in a window costs `cost.window_read_units`.
    With posting jobs (players, `Fanout.post_jobs`) each game in a window is one job, and the
    mapping waits only for the dispatching invocation (`RunShape.broadcast_time`).

    Not exact: a record written within a few milliseconds of a poll or of a window's end may
    fall either side, which moves one window's worth of invocations and messages.
    """
    f = shape.fanout
    window_s = f.board_window_s if audience == "board" else f.player_window_s
    events = sorted(shape.game_events, key=lambda e: e.at_s)
    times = [e.at_s + shape.write_delay_s for e in events]
    sessions = [s for s in shape.sessions if s.audience == audience]
    invocations = messages = reads = jobs = 0.0
    with_jobs = audience == "player" and f.post_jobs
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
        if with_jobs:
            # One job per game; a game bigger than one job posts is split into parts.
            jobs += sum(
                max(
                    1,
                    math.ceil(
                        _subscribers(shape.sessions, g, closed, "player") / MAX_VIEWS_PER_JOB
                    ),
                )
                for g in {e.game for e in batch}
            )
        for game in {e.game for e in batch}:
            news = [e for e in batch if e.game == game]
            moved = any(e.moves_leaderboard for e in news)
            players = _subscribers(tuple(shape.sessions), game, closed, "player")
            reads += window_read_units(
                _subscribers(tuple(shape.sessions), game, closed),
                TOP_N if audience == "board" else players,
                sum(e.events for e in news),
            )
            for session in sessions:
                if session.game != game or not session.opened_s < closed < session.closed_s:
                    continue
                if session.feed:
                    messages += 1 + (1 if moved else 0)
                else:
                    messages += sum(e.state_changes for e in news) + (1 if moved else 0)
        free_at = closed + shape.broadcast_time(audience)
        i = j
    return invocations, messages, reads, jobs


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
        ws_message_units_in=metric(snapshot, "websocket.messageUnitsIn"),
        ws_message_units_out=metric(snapshot, "websocket.messageUnitsOut"),
        ws_connection_minutes=metric(snapshot, "websocket.connectionMinutes"),
        http_requests=metric(snapshot, "http.units"),
    )


def agreement(
    predicted: RunCounts | Mapping[str, float],
    metered: RunCounts | Mapping[str, float],
    tolerance: float = 0.05,
) -> dict[str, dict[str, Any]]:
    """Quantity by quantity, the model's prediction against the metering.

    Either side may be `RunCounts` (compared through `RunCounts.as_dict`) or flat quantities
    already (`name -> value`, e.g. the conference's steady-state span); a quantity `metered`
    lacks counts as metered 0.

    Args:
        predicted: From `predict_run` (or its flat quantities): every quantity is reported.
        metered: From `counts_from_metering` of the run's metering delta (or flat quantities).
        tolerance: Largest relative error that counts as agreement.

    Returns:
        Quantity of `predicted` -> `predicted`, `metered`, `relative_error` ((predicted -
        metered) / metered; 0 when both are 0, None when only the metering is 0) and `within`.
        Values are not rounded.
    """
    want = predicted.as_dict() if isinstance(predicted, RunCounts) else predicted
    got = metered.as_dict() if isinstance(metered, RunCounts) else metered
    out: dict[str, dict[str, Any]] = {}
    for name, raw in want.items():
        value = float(raw)
        actual = float(got.get(name, 0.0))
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
