"""The client's rules without I/O: backoff, retry-or-give-up, per-game sequencing and state."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ClientKind = Literal["user", "public"]

# How many events `ClientState` keeps per game, like the original's leaderboard hook.
EVENT_HISTORY = 50
# API Gateway closes a WebSocket after 10 minutes without traffic ("Idle Connection Timeout",
# https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html); a ping at half
# that leaves room for a slow network. Only frames we send are counted, since it is not
# documented that messages pushed by the server keep a connection alive.
IDLE_TIMEOUT_S = 600.0
DEFAULT_HEARTBEAT_S = 300.0
# A player's phone gives up after this many failed attempts in a row; a board never does.
PLAYER_MAX_ATTEMPTS = 10
# Out-of-order events are normal when several Lambdas broadcast at once; wait this long for a
# gap to fill by itself before spending a `resume`.
DEFAULT_GAP_GRACE_S = 1.0
# A `resume` whose answer has not come by then is sent again (the frame or the reply was lost).
DEFAULT_RESUME_TIMEOUT_S = 10.0
# Resumes that must settle without progress, over at least `resume_timeout_s`, before the
# missing events are taken to be gone for good.
FRUITLESS_RESUMES = 3
# Events held while waiting for a gap to fill; beyond this a resume fetches them anyway.
MAX_BUFFERED_EVENTS = 1000

# Statuses of a refused upgrade that can change by themselves (RFC 9110 section 15.6, and 429
# from API Gateway throttling). Every other 4xx repeats itself, so retrying it is pointless.
_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Backoff:
    """Exponential backoff with full jitter.

    The delay before retry number `attempt` (0-based) is uniform between 0 and
    `min(cap, base * 2**attempt)`, so a crowd of clients dropped at once (a deploy, the 2-hour
    connection limit) spreads its reconnects instead of arriving together. See "Exponential
    Backoff And Jitter", AWS Architecture Blog, 2015.

    Args:
        base: Upper bound of the first delay, in seconds.
        cap: Largest upper bound, in seconds.
        rng: Source of randomness; pass a seeded `random.Random` for reproducible delays.
    """

    def __init__(
        self, base: float = 1.0, cap: float = 30.0, rng: random.Random | None = None
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.rng = rng if rng is not None else random.Random()

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the delay before retry `attempt` (0-based)."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        # 2**attempt overflows a float near attempt 1024; the cap is reached long before.
        return min(self.cap, self.base * float(2 ** min(attempt, 64)))

    def delay(self, attempt: int) -> float:
        """A random delay in seconds before retry `attempt` (0-based)."""
        return self.rng.uniform(0.0, self.ceiling(attempt))


@dataclass(frozen=True)
class Failure:
    """Why a connection attempt failed or an open connection ended.

    Attributes:
        status: HTTP status of a refused upgrade, or None for network errors and drops.
        fatal: True when retrying cannot help (a malformed URL, a protocol violation).
        detail: Human-readable explanation, never containing the token.
    """

    status: int | None = None
    fatal: bool = False
    detail: str = ""

    @property
    def retryable(self) -> bool:
        """Whether the same connection attempt could succeed later."""
        if self.fatal:
            return False
        # 401/403 mean the token is missing, bad or denied by the authorizer: asking again
        # with the same token gets the same answer.
        return self.status is None or self.status in _RETRYABLE_STATUSES


@dataclass(frozen=True)
class Decision:
    """What to do after a failure: retry after `delay` seconds, or give up.

    Attributes:
        retry: Connect again.
        delay: Seconds to wait first.
        refresh_token: Get a new token before connecting (the last one was refused).
        reason: Why the client gives up.
    """

    retry: bool
    delay: float = 0.0
    refresh_token: bool = False
    reason: str = ""


@dataclass
class ReconnectPolicy:
    """Decides whether and when to connect again.

    Args:
        max_attempts: Failed connection attempts in a row after which to give up; None retries
            forever (a status board on a wall). A dropped connection is not an attempt, so
            `max_attempts=0` means "never reconnect".
        backoff: Delays between attempts.
    """

    max_attempts: int | None = None
    backoff: Backoff = field(default_factory=Backoff)

    @classmethod
    def for_kind(
        cls,
        kind: ClientKind,
        max_attempts: int | Literal["default"] | None = "default",
        backoff: Backoff | None = None,
    ) -> ReconnectPolicy:
        """The policy of a player (`user`: gives up after 10) or a board (`public`: never does).

        Args:
            kind: `user` or `public`.
            max_attempts: `"default"` for the kind's default, else as in the class (None:
                unlimited).
            backoff: Delays between attempts; full jitter, 1 s base, 30 s cap by default.
        """
        if kind not in ("user", "public"):
            raise ValueError(f"kind must be 'user' or 'public', not {kind!r}")
        if max_attempts == "default":
            max_attempts = PLAYER_MAX_ATTEMPTS if kind == "user" else None
        return cls(max_attempts=max_attempts, backoff=backoff or Backoff())

    def decide(
        self, failure: Failure, failed_attempts: int, *, can_refresh_token: bool = False
    ) -> Decision:
        """Retry or give up.

        Args:
            failure: What went wrong.
            failed_attempts: Connection attempts that failed in a row, this one included; 0 when
                an open connection dropped.
            can_refresh_token: A new token can be fetched, and has not been since the last
                successful connection (a cached board token the server no longer accepts).

        Returns:
            Retry after a full-jitter delay, or give up with the reason.
        """
        if failure.status == 401 and can_refresh_token:
            return Decision(True, refresh_token=True)
        if not failure.retryable:
            what = f"HTTP {failure.status}" if failure.status is not None else "fatal error"
            return Decision(False, reason=f"not retrying after {what}: {failure.detail}")
        if self.max_attempts is not None and failed_attempts >= self.max_attempts:
            return Decision(
                False,
                reason=f"giving up after {failed_attempts} failed attempts: {failure.detail}",
            )
        return Decision(True, delay=self.backoff.delay(failed_attempts))


class Heartbeat:
    """When to send the application `ping` so API Gateway does not close an idle connection.

    Args:
        interval_s: Seconds without a frame sent after which a ping is due.
    """

    def __init__(self, interval_s: float = DEFAULT_HEARTBEAT_S) -> None:
        if not 0 < interval_s < IDLE_TIMEOUT_S:
            raise ValueError(f"heartbeat must come before the {IDLE_TIMEOUT_S:.0f} s idle timeout")
        self.interval_s = interval_s
        self.last_sent: float | None = None

    def sent(self, now: float) -> None:
        """Record that a frame went out at `now`."""
        self.last_sent = now

    def due_at(self) -> float | None:
        """When the next ping is due (None before the first frame)."""
        return None if self.last_sent is None else self.last_sent + self.interval_s

    def due(self, now: float) -> bool:
        """Whether a ping should be sent at `now`."""
        due_at = self.due_at()
        return due_at is not None and now >= due_at


@dataclass
class FeedStep:
    """What one input to a `GameFeed` produced.

    Attributes:
        events: Newly accepted game messages (`activity_event`, `game_state_changed`), in seq
            order, none seen before.
        resume_after: When not None, send `resume {gameId, afterSeq: resume_after}`.
        warning: Something the user should know (the server's log went backwards).
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    resume_after: int | None = None
    warning: str | None = None


class GameFeed:
    """Puts one game's event messages in `seq` order, without gaps or duplicates.

    Every game event carries a gap-free per-game `seq`. Messages can arrive twice (a broadcast
    racing a `resume` replay), out of order (two Lambdas broadcasting at once) or not at all
    (the connection dropped); the feed delivers each seq exactly once, in order, and asks for a
    `resume` when one is missing.

    Args:
        game_id: The game.
        after_seq: Deliver every event after this seq (0 = the whole log). None starts
            `backfill` events before the point of subscribing.
        backfill: Events to fetch from before the subscription when `after_seq` is None.
        gap_grace_s: Seconds to wait for an out-of-order gap to fill before resuming.
        resume_timeout_s: Seconds after which an unanswered resume is sent again.
        max_buffered: Out-of-order events held at most.
        follow_events: False for a subscription without the activity feed: the server then
            sends state changes and leaderboards only, whose seqs jump by design, so nothing
            is a gap and nothing is resumed; events are still delivered once, in order.
    """

    def __init__(
        self,
        game_id: str,
        *,
        after_seq: int | None = None,
        backfill: int = EVENT_HISTORY,
        gap_grace_s: float = DEFAULT_GAP_GRACE_S,
        resume_timeout_s: float = DEFAULT_RESUME_TIMEOUT_S,
        max_buffered: int = MAX_BUFFERED_EVENTS,
        follow_events: bool = True,
    ) -> None:
        if after_seq is not None and after_seq < 0:
            raise ValueError("after_seq must be >= 0")
        self.game_id = game_id
        self.follow_events = follow_events
        self.last_seq: int | None = after_seq
        # The highest seq the server is known to have reached (from any message).
        self.known_seq = 0 if after_seq is None else after_seq
        self.backfill = backfill
        self.gap_grace_s = gap_grace_s
        self.resume_timeout_s = resume_timeout_s
        self.max_buffered = max_buffered
        self.resume_sent_at: float | None = None
        self.behind_since: float | None = None
        # Leaderboards our own requests still owe us: `subscribe` and `resume` each end with
        # one. The one that settles a resume is the one that brings this back to 0.
        self._owed_leaderboards = 0
        self._resume_from: int | None = None
        # When resumes settled without moving us forward (see `leaderboard`).
        self._fruitless: list[float] = []
        self._buffer: dict[int, dict[str, Any]] = {}

    @property
    def behind(self) -> bool:
        """Whether events the server has are missing here (never without the feed)."""
        return self.follow_events and self.last_seq is not None and self.known_seq > self.last_seq

    @property
    def resuming(self) -> bool:
        """Whether a `resume` has been sent and its closing leaderboard has not arrived."""
        return self.resume_sent_at is not None

    @property
    def buffered(self) -> int:
        """How many out-of-order events are held."""
        return len(self._buffer)

    def subscribed(self, seq: int, now: float) -> FeedStep:
        """The server confirmed the subscription; `seq` is the game's last event then.

        From here on every new event reaches us by broadcast, so anything between our position
        and `seq` can only come from a `resume`, which is asked for at once.
        """
        step = FeedStep()
        if self.last_seq is None:
            self.last_seq = max(0, seq - self.backfill)
        elif seq < self.last_seq:
            # The server's log is shorter than what we saw: its state was reset. Follow it.
            step.warning = (
                f"game {self.game_id}: the server's log ends at seq {seq} but seq "
                f"{self.last_seq} was seen; following the server"
            )
            self.last_seq = seq
            self.known_seq = seq
            self._buffer.clear()
            self.resume_sent_at = None
            self._owed_leaderboards = 0
            self._fruitless = []
        self.known_seq = max(self.known_seq, seq)
        self._owed_leaderboards += 1  # the subscribe handler sends the standings next
        step.events = self._drain()
        if self.behind and not self.resuming:
            step.resume_after = self._resume(now)
        return step

    def event(self, message: Mapping[str, Any], now: float) -> FeedStep:
        """An `activity_event` or `game_state_changed` message arrived."""
        seq = int(message["seq"])
        self.known_seq = max(self.known_seq, seq)
        if self.last_seq is not None and seq <= self.last_seq:
            return FeedStep()  # a duplicate: a broadcast raced a replay
        if not self.follow_events and self.last_seq is not None:
            # Without the feed only some events come (state changes): jump to this one.
            self.last_seq = seq - 1
        self._hold(seq, message)
        step = FeedStep(events=self._drain())
        step.resume_after = self._check(now, urgent=False)
        return step

    def leaderboard(self, seq: int, now: float) -> FeedStep:
        """A `leaderboard_update` arrived, reflecting the game as of `seq`.

        A `resume` ends with one. If the resume moved us forward and we are still behind
        (more than one page was missing), resume again at once. If resumes keep moving us
        nowhere, the missing events no longer exist (the log's TTL removed them): skip them
        with a warning rather than ask forever.
        """
        self.known_seq = max(self.known_seq, seq)
        self._owed_leaderboards = max(0, self._owed_leaderboards - 1)
        step = FeedStep()
        urgent = False
        if self.resuming and self._owed_leaderboards == 0:
            self.resume_sent_at = None
            if self.last_seq != self._resume_from:
                urgent = True
                self._fruitless = []
            elif self.behind:
                # No progress. Usually a live leaderboard overtook the resume's answer, which
                # is still coming; only a streak of such answers over a while means a hole.
                self._fruitless.append(now)
                first = self._fruitless[0]
                streak = len(self._fruitless)
                if streak >= FRUITLESS_RESUMES and now - first >= self.resume_timeout_s:
                    step = self._skip_hole()
                    urgent = True
        step.resume_after = self._check(now, urgent=urgent)
        return step

    def _skip_hole(self) -> FeedStep:
        assert self.last_seq is not None
        start = self.last_seq + 1
        resume_at = min(self._buffer, default=self.known_seq + 1) - 1
        warning = (
            f"game {self.game_id}: events {start}..{resume_at} are no longer on the server; "
            "skipped them"
        )
        self.last_seq = resume_at
        self._fruitless = []
        return FeedStep(events=self._drain(), warning=warning)

    def resume_failed(self) -> None:
        """The server answered a `resume` with an error; the next check may try again."""
        self.resume_sent_at = None
        self._owed_leaderboards = 0

    def disconnected(self) -> None:
        """The connection dropped: an outstanding resume will never be answered."""
        self.resume_sent_at = None
        self.behind_since = None
        self._owed_leaderboards = 0

    def tick(self, now: float) -> FeedStep:
        """Time passed: resume if a gap outlived its grace or a resume went unanswered."""
        return FeedStep(resume_after=self._check(now, urgent=False))

    def deadline(self) -> float | None:
        """When `tick` next has something to do (None: nothing pending)."""
        if self.resume_sent_at is not None:
            return self.resume_sent_at + self.resume_timeout_s
        if self.behind_since is not None:
            return self.behind_since + self.gap_grace_s
        return None

    def _hold(self, seq: int, message: Mapping[str, Any]) -> None:
        nearest = self.last_seq is not None and seq == self.last_seq + 1
        if len(self._buffer) >= self.max_buffered and not nearest and seq not in self._buffer:
            # Full: keep the events nearest our position, they are released first; a resume
            # fetches the rest.
            farthest = max(self._buffer)
            if seq > farthest:
                return
            del self._buffer[farthest]
        self._buffer[seq] = dict(message)

    def _drain(self) -> list[dict[str, Any]]:
        # Release the buffered events that continue our position, in order.
        out: list[dict[str, Any]] = []
        if self.last_seq is None:
            return out
        for stale in [s for s in self._buffer if s <= self.last_seq]:
            del self._buffer[stale]
        while (message := self._buffer.pop(self.last_seq + 1, None)) is not None:
            out.append(message)
            self.last_seq += 1
        if not self.behind:
            self.behind_since = None
            self._fruitless = []
        return out

    def _resume(self, now: float) -> int:
        assert self.last_seq is not None
        self.resume_sent_at = now
        self.behind_since = None
        self._owed_leaderboards += 1
        self._resume_from = self.last_seq
        return self.last_seq

    def _check(self, now: float, *, urgent: bool) -> int | None:
        if not self.behind:
            self.behind_since = None
            return None
        if self.resume_sent_at is not None:
            if now - self.resume_sent_at >= self.resume_timeout_s:
                self._owed_leaderboards = 0  # whatever was owed is not coming any more
                return self._resume(now)
            return None
        if urgent:
            return self._resume(now)
        if self.behind_since is None:
            self.behind_since = now
        if now - self.behind_since >= self.gap_grace_s:
            return self._resume(now)
        return None


@dataclass(frozen=True)
class Send:
    """A command for the loop: send this JSON message."""

    message: dict[str, Any]


@dataclass
class Step:
    """What one input to `ClientState` produced: messages for the application, frames to send."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    commands: list[Send] = field(default_factory=list)


@dataclass
class GameView:
    """What a client knows about one game.

    Attributes:
        game_id: The game.
        leaderboard: Rows of the newest leaderboard (rank, nickname, points, marks, lastMarkAt,
            and `isYou` on a player's own row when the server flagged it).
        total_players: Players in the game.
        leaderboard_seq: The seq the leaderboard reflects (-1 before the first).
        events: The newest events (at most `EVENT_HISTORY`), shaped like `GET /games/{id}/events`.
        game_state: The game's state, once a state change has been seen.
        winner: The winner's nickname once a verified claim ended the game.
    """

    game_id: str
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    total_players: int = 0
    leaderboard_seq: int = -1
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=EVENT_HISTORY))
    game_state: str | None = None
    winner: str | None = None


def event_view(message: Mapping[str, Any]) -> dict[str, Any]:
    """The log entry carried by an event message, shaped like one of `GET .../events`.

    `game_state_changed` is flattened on the wire; this rebuilds its `state_changed` entry.
    """
    if message.get("type") == "activity_event":
        return dict(message["event"])
    data = {k: message[k] for k in ("previousState", "newState", "reason") if k in message}
    if "winner" in message:
        data["winner"] = message["winner"]
    return {
        "id": f"{message['gameId']}:{message['seq']}",
        "seq": message["seq"],
        "type": "state_changed",
        "data": data,
        "timestamp": message.get("timestamp"),
    }


def gateway_error(message: Mapping[str, Any]) -> dict[str, Any]:
    """An `error` message made from API Gateway's own reply (`{"message", "requestId"...}`).

    API Gateway answers `{"message": "Internal server error", ...}` when a route's Lambda
    crashes and `{"message": "Forbidden", ...}` for an unmatched route without `$default`.
    """
    text = str(message.get("message", ""))
    code = "internal_error" if text == "Internal server error" else "gateway_error"
    return {"type": "error", "code": code, **message}


class ClientState:
    """Everything a client knows, updated only by feeding it what happened.

    The asyncio loop reports connections, messages and the passage of time; the state answers
    with messages for the application and frames to send. Nothing here blocks or reads a clock.

    Args:
        games: Games to follow; subscribed on every (re)connection.
        after_seq: See `GameFeed` (None: start with the last `EVENT_HISTORY` events).
        gap_grace_s: See `GameFeed`.
        resume_timeout_s: See `GameFeed`.
        feed: Subscribe to the activity feed (every event); False asks only for leaderboards
            and state changes, which is what a player's phone needs at conference scale.
    """

    def __init__(
        self,
        games: Iterable[str] = (),
        *,
        after_seq: int | None = None,
        gap_grace_s: float = DEFAULT_GAP_GRACE_S,
        resume_timeout_s: float = DEFAULT_RESUME_TIMEOUT_S,
        feed: bool = True,
    ) -> None:
        self.feed = feed
        self._after_seq = after_seq
        self._gap_grace_s = gap_grace_s
        self._resume_timeout_s = resume_timeout_s
        self.games: dict[str, GameView] = {}
        self.feeds: dict[str, GameFeed] = {}
        self.connected = False
        self.connections = 0
        self.last_update: float | None = None
        self.last_error: str | None = None
        # Why the last connection ended or the last attempt failed (kept after reconnecting,
        # unlike `last_error`, which a successful connection clears of connection trouble).
        self.last_disconnect: str | None = None
        for game_id in games:
            self.add_game(game_id)

    # -- views of the first game, for the common one-game client --------------------------
    @property
    def game(self) -> GameView | None:
        """The first followed game's view."""
        return next(iter(self.games.values()), None)

    @property
    def leaderboard(self) -> list[dict[str, Any]]:
        """Rows of the first game's newest leaderboard."""
        return self.game.leaderboard if self.game else []

    @property
    def total_players(self) -> int:
        """Players in the first game."""
        return self.game.total_players if self.game else 0

    @property
    def events(self) -> list[dict[str, Any]]:
        """The first game's newest events, oldest first."""
        return list(self.game.events) if self.game else []

    def clear_error(self) -> None:
        """Forget the last error (the user has seen it)."""
        self.last_error = None

    # -- games ------------------------------------------------------------------------------
    def add_game(self, game_id: str) -> list[Send]:
        """Follow a game; returns the subscribe frame when connected."""
        if game_id not in self.feeds:
            self.games[game_id] = GameView(game_id)
            self.feeds[game_id] = GameFeed(
                game_id,
                after_seq=self._after_seq,
                gap_grace_s=self._gap_grace_s,
                resume_timeout_s=self._resume_timeout_s,
                follow_events=self.feed,
            )
        return [_subscribe(game_id, self.feed)] if self.connected else []

    def remove_game(self, game_id: str) -> list[Send]:
        """Stop following a game; returns the unsubscribe frame when connected."""
        self.games.pop(game_id, None)
        self.feeds.pop(game_id, None)
        return [Send({"action": "unsubscribe", "gameId": game_id})] if self.connected else []

    # -- connection lifecycle ----------------------------------------------------------------
    def connection_opened(self, now: float) -> list[Send]:
        """A connection opened: subscribe to every game (the resume follows `subscribed`).

        A connection error shown as `last_error` is over now and is cleared; errors the
        server reported are kept until `clear_error`.
        """
        self.connected = True
        self.connections += 1
        if self.last_error is not None and self.last_error == self.last_disconnect:
            self.last_error = None
        return [_subscribe(game_id, self.feed) for game_id in self.feeds]

    def connection_lost(self, reason: str | None) -> None:
        """The connection ended; `reason` is recorded as the last error when given."""
        self.connected = False
        for feed in self.feeds.values():
            feed.disconnected()
        if reason:
            self.last_error = self.last_disconnect = reason

    def connection_failed(self, reason: str) -> None:
        """A connection attempt failed."""
        self.connected = False
        self.last_error = self.last_disconnect = reason

    # -- messages and time -------------------------------------------------------------------
    def apply(self, message: Mapping[str, Any], now: float) -> Step:
        """Take one server message.

        Args:
            message: The decoded JSON object.
            now: Epoch seconds, recorded as `last_update` when the message changed a game.

        Returns:
            The messages to hand the application (duplicates and stale leaderboards are left
            out; released out-of-order events come in seq order) and the frames to send.
        """
        kind = message.get("type")
        if kind is None and "message" in message:
            message = gateway_error(message)
            kind = "error"
        game_id = message.get("gameId")
        feed = self.feeds.get(game_id) if isinstance(game_id, str) else None
        if kind == "error":
            return self._error(message)
        if feed is None and kind in _GAME_MESSAGES:
            return Step()  # in flight after an unsubscribe, or for a game we never followed
        if kind == "subscribed" and feed is not None:
            feed_step = feed.subscribed(int(message["seq"]), now)
            if feed_step.warning:
                self.games[feed.game_id].leaderboard_seq = -1  # older standings are now newer
            return self._feed_step(feed, feed_step, now, [dict(message)])
        if kind in ("activity_event", "game_state_changed") and feed is not None:
            return self._feed_step(feed, feed.event(message, now), now)
        if kind == "activity_batch" and feed is not None:
            return self._batch(feed, message, now)
        if kind == "leaderboard_update" and feed is not None:
            return self._leaderboard(feed, message, now)
        return Step(messages=[dict(message)])

    def tick(self, now: float) -> list[Send]:
        """Time passed: resume games whose gap outlived its grace or whose resume got lost."""
        sends: list[Send] = []
        for feed in self.feeds.values():
            resume = feed.tick(now).resume_after
            if resume is not None:
                sends.append(_resume(feed.game_id, resume))
        return sends

    def deadline(self) -> float | None:
        """When `tick` next has something to do."""
        found = [d for f in self.feeds.values() if (d := f.deadline()) is not None]
        return min(found, default=None)

    def _error(self, message: Mapping[str, Any]) -> Step:
        self.last_error = f"{message.get('code', 'error')}: {message.get('message', '')}"
        # Error frames name the action but not the game, and a crashed Lambda names neither:
        # any resume may be the one that failed, so let each outstanding one be re-decided.
        if message.get("action") in ("resume", None):
            for feed in self.feeds.values():
                feed.resume_failed()
        return Step(messages=[dict(message)])

    def _batch(self, feed: GameFeed, message: Mapping[str, Any], now: float) -> Step:
        # A window's events in one message: each goes through the feed as if it came alone;
        # one resume at most (the last one asked for covers the earlier ones).
        step = Step()
        for item in message.get("events") or []:
            if not isinstance(item, Mapping):
                continue
            part = self._feed_step(feed, feed.event(item, now), now)
            step.messages.extend(part.messages)
            if part.commands:
                step.commands = part.commands
        return step

    def _leaderboard(self, feed: GameFeed, message: Mapping[str, Any], now: float) -> Step:
        view = self.games[feed.game_id]
        seq = int(message["seq"])
        step = self._feed_step(feed, feed.leaderboard(seq, now), now)
        # Two Lambdas may post leaderboards out of order; an older one must not win.
        if seq >= view.leaderboard_seq:
            view.leaderboard_seq = seq
            view.leaderboard = list(message.get("leaderboard", []))
            view.total_players = int(message.get("totalPlayers", len(view.leaderboard)))
            self.last_update = now
            step.messages.append(dict(message))
        return step

    def _feed_step(
        self,
        feed: GameFeed,
        feed_step: FeedStep,
        now: float,
        first: list[dict[str, Any]] | None = None,
    ) -> Step:
        step = Step(messages=list(first or []))
        view = self.games[feed.game_id]
        for message in feed_step.events:
            view.events.append(event_view(message))
            if message.get("type") == "game_state_changed":
                view.game_state = message.get("newState")
                view.winner = message.get("winner", view.winner)
            self.last_update = now
            step.messages.append(message)
        if feed_step.resume_after is not None:
            step.commands.append(_resume(feed.game_id, feed_step.resume_after))
        if feed_step.warning:
            self.last_error = feed_step.warning
        return step


_GAME_MESSAGES = frozenset(
    {"subscribed", "activity_event", "activity_batch", "game_state_changed", "leaderboard_update"}
)


def _subscribe(game_id: str, feed: bool = True) -> Send:
    return Send({"action": "subscribe", "gameId": game_id, "feed": feed})


def _resume(game_id: str, after_seq: int) -> Send:
    return Send({"action": "resume", "gameId": game_id, "afterSeq": after_seq})
