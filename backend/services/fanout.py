"""Coalesced fan-out per audience: what a broadcaster sends for one window of a stream's changes.

The table's change stream hands a broadcaster function the events written during its batching
window (one window per audience: boards, players). For each game with news, the broadcaster
reads the game's standings *now* (at least as new as the window's last event) and sends:

- to subscribers of the activity feed (boards by default, players who asked): the window's own
  events, exactly the seq range of its records, as `activity_batch` messages, each within one
  32 KB billing unit;
- to the others: only state changes (a game ending matters to everyone), one message each;
- to everyone, when the standings may have moved: one bounded `leaderboard_update`, the top N
  for a board, the top N plus their own neighbourhood for a player.

Nothing is sent for a game without news, so an idle game costs nothing; and because the
standings are read when the window closes, the latest state reaches every subscriber within
its window of the last change (the trailing update).

A leaderboard carries the seq of the window's last event, though its rows may already include
a few later marks (whose own window follows): a client then never sees a leaderboard ahead of
the events it was given, which it would take for a gap and resume, and no event is sent twice
(except when the stream redelivers a batch, which clients drop by seq). The DynamoDB adapter's
`leaderboard` gives the same guarantee: `seq` may understate the rows, never overstate them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from backend.domain import events, messages
from backend.domain.audience import (
    DEFAULT_NEIGHBOURS,
    DEFAULT_TOP_N,
    activity_batches,
    bounded_leaderboard_update,
)
from backend.domain.model import Audience, Subscription
from backend.ports.gateway import Delivery
from backend.ports.store import StoreUnavailable
from backend.services.broadcast import forget_gone
from backend.services.context import Deps

log = logging.getLogger(__name__)

# Events after which the standings (or the number of players) may differ.
_MOVES_LEADERBOARD = frozenset({events.PLAYER_JOINED, events.WORD_MARKED, events.STATE_CHANGED})
# Events a window may carry to the feed; a client further behind resumes from the batch's seq.
MAX_WINDOW_EVENTS = 1_000


@dataclass
class FanoutReport:
    """What one broadcaster invocation sent.

    Attributes:
        games: Games that had news and at least one subscriber of the audience.
        posts: Posts attempted (one message to one connection each).
        delivered: Posts the gateway accepted.
        gone: Connections the gateway reported gone (deleted).
        by_type: Posts attempted per message type.
        failed_games: Games whose news could not be sent because the store failed; the
            stream should deliver their records again.
    """

    games: int = 0
    posts: int = 0
    delivered: int = 0
    gone: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    failed_games: list[str] = field(default_factory=list)


class _Sender:
    """Posts payloads and keeps the report; connections found gone are dropped for the rest."""

    def __init__(self, deps: Deps, report: FanoutReport) -> None:
        self.deps = deps
        self.report = report
        self.gone: set[str] = set()

    def post(self, connection_ids: Sequence[str], message: dict[str, object]) -> None:
        """One message to every live connection of `connection_ids`."""
        live = [c for c in connection_ids if c not in self.gone]
        if live:
            payload = messages.encode(dict(message))
            self._account([str(message.get("type"))] * len(live))
            self._settle(self.deps.gateway.post_many(live, payload))

    def post_each(self, personal: Sequence[tuple[str, dict[str, object]]]) -> None:
        """A message of its own to each live connection, in one concurrent round of posts."""
        live = [(c, m) for c, m in personal if c not in self.gone]
        if live:
            self._account([str(m.get("type")) for _, m in live])
            encoded = [(c, messages.encode(dict(m))) for c, m in live]
            self._settle(self.deps.gateway.post_each(encoded))

    def _account(self, kinds: Sequence[str]) -> None:
        self.report.posts += len(kinds)
        for kind in kinds:
            self.report.by_type[kind] = self.report.by_type.get(kind, 0) + 1

    def _settle(self, delivery: Delivery) -> None:
        forget_gone(self.deps, delivery)
        self.gone.update(delivery.gone)
        self.report.delivered += len(delivery.delivered)
        self.report.gone += len(delivery.gone)


def fan_out(
    deps: Deps,
    audience: Audience,
    seq_ranges: Mapping[str, tuple[int, int]],
    *,
    top_n: int = DEFAULT_TOP_N,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> FanoutReport:
    """Send one window's news of each game to one audience of its subscribers.

    Args:
        deps: The services' dependencies.
        audience: Boards or players: the subscriptions this invocation serves.
        seq_ranges: Game id -> the lowest and highest event seq of the window's records.
            Records delivered twice (streams are at-least-once) resend events a client
            already has; clients drop them by seq.
        top_n: Leaderboard rows from the top in every view.
        neighbours: Rows either side of a player's own row in their view.

    Returns:
        What was sent; games the store failed for are in `failed_games` (one game's trouble
        does not hold the others' news back).
    """
    report = FanoutReport()
    sender = _Sender(deps, report)
    for game_id, seqs in sorted(seq_ranges.items()):
        try:
            subscriptions = _audience(deps, game_id, audience)
            if not subscriptions:
                continue
            report.games += 1
            _fan_out_game(deps, sender, audience, game_id, seqs, subscriptions, top_n, neighbours)
        except StoreUnavailable:
            log.warning("%s fan-out of game %s failed: the store is unavailable", audience, game_id)
            report.failed_games.append(game_id)
    return report


def _audience(deps: Deps, game_id: str, audience: Audience) -> list[Subscription]:
    """The game's live subscriptions of one audience, in connection id order (parts split it)."""
    found = deps.store.subscriptions(game_id, now=deps.clock())
    return sorted((s for s in found if s.audience == audience), key=lambda s: s.connection_id)


def _fan_out_game(
    deps: Deps,
    sender: _Sender,
    audience: Audience,
    game_id: str,
    seqs: tuple[int, int],
    subscriptions: Sequence[Subscription],
    top_n: int,
    neighbours: int,
) -> None:
    first, last = seqs
    if audience is Audience.PLAYER:
        board = deps.store.standings(game_id)
    else:
        board = deps.store.leaderboard(game_id, limit=top_n)
    now = deps.clock()
    limit = min(MAX_WINDOW_EVENTS, max(0, last - first + 1))
    window = [
        e
        for e in deps.store.events_after(game_id, max(first, 1) - 1, limit=limit, now=now)
        if e.seq <= last
    ]
    # See the module docstring: labelled with the window's last event, never ahead of it.
    seq = min(board.seq, last)
    feed = [s.connection_id for s in subscriptions if s.feed]
    others = [s.connection_id for s in subscriptions if not s.feed]
    for batch in activity_batches(game_id, window):
        sender.post(feed, batch)
    for event in window:
        if event.type == events.STATE_CHANGED:
            sender.post(others, messages.event_message(event))
    if not any(e.type in _MOVES_LEADERBOARD for e in window):
        return
    if audience is Audience.BOARD:
        view = bounded_leaderboard_update(
            game_id, seq, board.entries, now, top_n=top_n, total_players=board.total_players
        )
        sender.post([s.connection_id for s in subscriptions], view)
        return
    # One personal view per player, posted concurrently: one at a time, a game of 2,000
    # players would take 2,000 round trips to @connections per window.
    sender.post_each(
        [
            (
                subscription.connection_id,
                bounded_leaderboard_update(
                    game_id,
                    seq,
                    board.entries,
                    now,
                    viewer_session_id=subscription.viewer,
                    top_n=top_n,
                    neighbours=neighbours,
                    total_players=board.total_players,
                ),
            )
            for subscription in subscriptions
        ]
    )


# -- posting jobs: one game's views per invocation --------------------------------------------

POST_JOB = "postJob"
# A job posts at most this many views itself: ~0.4 s of one vCPU through boto3 (0.75 ms per
# post). A bigger game's job hands the rest to parts of its own (`run_post_job`).
MAX_VIEWS_PER_JOB = 500
MAX_PARTS = 1_000


@dataclass(frozen=True)
class PostJob:
    """One posting job: one game's window of news for one audience, or one part of it.

    Attributes:
        audience: Who the views are for.
        game_id: The game.
        seqs: The window's lowest and highest event seq.
        part: Which part of the game's subscribers (connection ids in order, every `parts`-th
            from index `part`).
        parts: How many parts the game's subscribers were split into (1: all of them).
    """

    audience: Audience
    game_id: str
    seqs: tuple[int, int]
    part: int = 0
    parts: int = 1

    def payload(self) -> dict[str, object]:
        """The job as the event of an asynchronous invocation."""
        body: dict[str, object] = {
            "audience": self.audience.value,
            "gameId": self.game_id,
            "fromSeq": self.seqs[0],
            "toSeq": self.seqs[1],
        }
        if self.parts > 1:
            body.update(part=self.part, parts=self.parts)
        return {POST_JOB: body}

    @classmethod
    def parse(cls, event: Mapping[str, object]) -> PostJob | None:
        """A job from an invocation's event; None when `event` is not a job.

        Raises:
            ValueError: `event` is a job with missing or malformed fields.
        """
        job = event.get(POST_JOB)
        if job is None:
            return None
        if not isinstance(job, Mapping):
            raise ValueError(f"{POST_JOB} must be an object")
        game_id = job.get("gameId")
        if not isinstance(game_id, str) or not game_id:
            raise ValueError("gameId must be a non-empty string")
        first, last = _integer(job, "fromSeq", None), _integer(job, "toSeq", None)
        if not 1 <= first <= last:
            raise ValueError("the seq range must satisfy 1 <= fromSeq <= toSeq")
        part, parts = _integer(job, "part", 0), _integer(job, "parts", 1)
        if not 0 <= part < parts <= MAX_PARTS:
            raise ValueError(f"the part must satisfy 0 <= part < parts <= {MAX_PARTS}")
        return cls(Audience(str(job.get("audience"))), game_id, (first, last), part, parts)


def _integer(job: Mapping[str, object], name: str, default: int | None) -> int:
    value = job.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer")
    return value


def run_post_job(
    deps: Deps,
    job: PostJob,
    *,
    max_views: int | None = None,
    top_n: int = DEFAULT_TOP_N,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> FanoutReport:
    """Post one job's views; a whole game with more than `max_views` subscribers is split.

    `max_views` is `MAX_VIEWS_PER_JOB` when None.

    The job keeps the first part and dispatches the others as jobs of their own, so a game of
    5,000 players posts in ten invocations at once rather than one after the other. A part
    that cannot be dispatched is posted here instead.

    Raises:
        StoreUnavailable: the game's subscriptions, standings or events cannot be read (an
            asynchronous invocation is then retried by Lambda).
    """
    report = FanoutReport()
    subscriptions = _audience(deps, job.game_id, job.audience)
    if not subscriptions:
        return report
    limit = MAX_VIEWS_PER_JOB if max_views is None else max_views
    parts, mine = job.parts, {job.part}
    if parts == 1 and deps.dispatcher is not None and len(subscriptions) > limit:
        parts = min(MAX_PARTS, -(-len(subscriptions) // limit))
        others = [PostJob(job.audience, job.game_id, job.seqs, k, parts) for k in range(1, parts)]
        errors = deps.dispatcher.dispatch([o.payload() for o in others])
        for other, error in zip(others, errors, strict=True):
            if error is not None:
                log.warning("posting part %d of game %s here: %s", other.part, job.game_id, error)
                mine.add(other.part)
    report.games = 1
    _fan_out_game(
        deps,
        _Sender(deps, report),
        job.audience,
        job.game_id,
        job.seqs,
        [s for i, s in enumerate(subscriptions) if i % parts in mine],
        top_n,
        neighbours,
    )
    return report


def dispatch(
    deps: Deps, audience: Audience, seq_ranges: Mapping[str, tuple[int, int]]
) -> FanoutReport:
    """Hand each game's news to a posting invocation of its own, or post it here without one.

    One players' window posts a personal view per player of every game with news; on AWS that
    is CPU-bound (about 0.75 ms per post through boto3 on one vCPU), and the stream's next
    window waits for this invocation. With a dispatcher, this invocation only starts one
    posting job per game (`PostJob`, run by `run_post_job`), which run concurrently and do not
    hold the stream.

    Returns:
        `fan_out`'s report without a dispatcher; else `games` = jobs started and
        `failed_games` = games whose job could not be started (the stream redelivers them).
    """
    if deps.dispatcher is None:
        return fan_out(deps, audience, seq_ranges)
    report = FanoutReport()
    games = sorted(seq_ranges)
    jobs = [PostJob(audience, g, seq_ranges[g]).payload() for g in games]
    errors = deps.dispatcher.dispatch(jobs)
    for game_id, error in zip(games, errors, strict=True):
        if error is None:
            report.games += 1
        else:
            log.warning(
                "could not start the %s posting job of game %s: %s", audience, game_id, error
            )
            report.failed_games.append(game_id)
    return report
