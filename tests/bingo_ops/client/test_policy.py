"""The client's pure rules: backoff, retry-or-give-up, heartbeat, seq order and state."""

from __future__ import annotations

import random
import statistics
from typing import Any

import pytest

from backend.domain import events as domain_events
from backend.domain import messages as wire
from backend.domain.game import GameState
from backend.domain.model import Event, Winner
from bingo_ops.client.policy import (
    EVENT_HISTORY,
    PLAYER_MAX_ATTEMPTS,
    Backoff,
    ClientKind,
    ClientState,
    Failure,
    GameFeed,
    Heartbeat,
    ReconnectPolicy,
    Send,
    event_view,
)

GAME = "g1"
NETWORK = Failure(detail="ConnectionRefusedError")


def activity(seq: int, game_id: str = GAME, nickname: str = "ann") -> dict[str, Any]:
    event = Event(game_id, seq, domain_events.PLAYER_JOINED, {"nickname": nickname}, 1000.0 + seq)
    return wire.event_message(event)


def state_change(seq: int, new: str, winner: str | None = None) -> dict[str, Any]:
    data = domain_events.state_changed(
        GameState.PLAYING, GameState(new), "why", Winner("s1", winner) if winner else None
    )
    return wire.event_message(Event(GAME, seq, domain_events.STATE_CHANGED, data, 2000.0 + seq))


def board(seq: int, points: int = 0, game_id: str = GAME) -> dict[str, Any]:
    return {
        "type": "leaderboard_update",
        "gameId": game_id,
        "seq": seq,
        "timestamp": 1,
        "leaderboard": [{"rank": 1, "nickname": "ann", "points": points, "marks": 0}],
        "totalPlayers": 1,
    }


def subscribed(seq: int, game_id: str = GAME) -> dict[str, Any]:
    return wire.subscribed(game_id, seq)


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages]


# -- Backoff ------------------------------------------------------------------------------------
def test_backoff_ceiling_doubles_from_base_up_to_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=30.0)
    assert [backoff.ceiling(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.ceiling(10_000) == 30  # no float overflow however long the outage


def test_backoff_delays_stay_within_zero_and_the_ceiling() -> None:
    backoff = Backoff(base=1.0, cap=30.0, rng=random.Random(7))
    for attempt in range(12):
        for _ in range(200):
            assert 0.0 <= backoff.delay(attempt) <= backoff.ceiling(attempt)


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    first = Backoff(rng=random.Random(42))
    second = Backoff(rng=random.Random(42))
    assert [first.delay(n) for n in range(10)] == [second.delay(n) for n in range(10)]


@pytest.mark.parametrize(("attempt", "ceiling"), [(0, 1.0), (3, 8.0), (9, 30.0)])
def test_full_jitter_spreads_delays_uniformly_below_the_ceiling(
    attempt: int, ceiling: float
) -> None:
    backoff = Backoff(base=1.0, cap=30.0, rng=random.Random(1234))
    draws = [backoff.delay(attempt) for _ in range(20_000)]
    # Uniform on [0, c]: mean c/2, standard deviation c/sqrt(12), half the draws below c/2.
    assert statistics.fmean(draws) == pytest.approx(ceiling / 2, rel=0.02)
    assert statistics.pstdev(draws) == pytest.approx(ceiling / 12**0.5, rel=0.03)
    below_half = sum(d < ceiling / 2 for d in draws) / len(draws)
    assert below_half == pytest.approx(0.5, abs=0.02)
    assert min(draws) < ceiling * 0.01
    assert max(draws) > ceiling * 0.99


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_backoff_rejects_nonsense_bounds(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base=base, cap=cap)


# -- ReconnectPolicy ----------------------------------------------------------------------------
def test_a_player_gives_up_after_its_maximum_of_failed_attempts() -> None:
    policy = ReconnectPolicy.for_kind("user", backoff=Backoff(rng=random.Random(1)))
    assert policy.max_attempts == PLAYER_MAX_ATTEMPTS
    for failed in range(1, PLAYER_MAX_ATTEMPTS):
        decision = policy.decide(NETWORK, failed)
        assert decision.retry
        assert 0 <= decision.delay <= policy.backoff.ceiling(failed)
    final = policy.decide(NETWORK, PLAYER_MAX_ATTEMPTS)
    assert not final.retry
    assert "10 failed attempts" in final.reason


def test_the_maximum_is_configurable() -> None:
    policy = ReconnectPolicy.for_kind("public", max_attempts=3)
    assert [policy.decide(NETWORK, n).retry for n in (1, 2, 3)] == [True, True, False]


def test_a_board_retries_forever_with_capped_delays() -> None:
    policy = ReconnectPolicy.for_kind("public", backoff=Backoff(rng=random.Random(3)))
    assert policy.max_attempts is None
    for failed in (1, 10, 100, 10_000):
        decision = policy.decide(NETWORK, failed)
        assert decision.retry
        assert 0 <= decision.delay <= 30.0


def test_a_dropped_connection_reconnects_within_the_base_delay() -> None:
    policy = ReconnectPolicy.for_kind("user", backoff=Backoff(base=1.0, rng=random.Random(5)))
    delays = [policy.decide(Failure(detail="closed 1001"), 0).delay for _ in range(100)]
    assert all(0 <= d <= 1.0 for d in delays)


def test_max_attempts_zero_means_never_reconnect() -> None:
    policy = ReconnectPolicy.for_kind("public", max_attempts=0)
    assert not policy.decide(Failure(detail="closed"), 0).retry


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("kind", ["user", "public"])
def test_refused_credentials_are_not_retried(kind: ClientKind, status: int) -> None:
    decision = ReconnectPolicy.for_kind(kind).decide(Failure(status=status), 1)
    assert not decision.retry
    assert f"HTTP {status}" in decision.reason


@pytest.mark.parametrize(("status", "retry"), [(500, True), (502, True), (503, True),
                                               (504, True), (429, True), (400, False),
                                               (404, False)])  # fmt: skip
def test_server_errors_are_retried_and_client_errors_are_not(status: int, retry: bool) -> None:
    assert ReconnectPolicy.for_kind("public").decide(Failure(status=status), 1).retry is retry


def test_fatal_errors_are_not_retried() -> None:
    failure = Failure(fatal=True, detail="InvalidURI")
    assert not failure.retryable
    assert not ReconnectPolicy.for_kind("public").decide(failure, 1).retry


def test_a_refused_token_is_refreshed_once_when_it_can_be() -> None:
    policy = ReconnectPolicy.for_kind("public")
    refresh = policy.decide(Failure(status=401), 1, can_refresh_token=True)
    assert refresh.retry
    assert refresh.refresh_token
    assert refresh.delay == 0
    # After the refresh the source cannot help any more: the next 401 is final.
    assert not policy.decide(Failure(status=401), 2, can_refresh_token=False).retry
    # A Deny (403) is about the token's rights, which a new token of the same kind shares.
    assert not policy.decide(Failure(status=403), 1, can_refresh_token=True).retry


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        ReconnectPolicy.for_kind("admin")  # type: ignore[arg-type]


# -- Heartbeat ----------------------------------------------------------------------------------
def test_a_ping_is_due_only_after_the_interval_without_sending() -> None:
    heartbeat = Heartbeat(300.0)
    assert heartbeat.due_at() is None
    assert not heartbeat.due(1e9)
    heartbeat.sent(100.0)
    assert heartbeat.due_at() == 400.0
    assert not heartbeat.due(399.9)
    assert heartbeat.due(400.0)
    heartbeat.sent(350.0)  # any frame we send resets the idle timer
    assert not heartbeat.due(400.0)


@pytest.mark.parametrize("interval", [0.0, 600.0, 900.0])
def test_the_heartbeat_must_beat_the_idle_timeout(interval: float) -> None:
    with pytest.raises(ValueError, match="idle timeout"):
        Heartbeat(interval)


# -- GameFeed -----------------------------------------------------------------------------------
def test_events_in_order_are_delivered_at_once() -> None:
    feed = GameFeed(GAME, backfill=0)
    assert feed.subscribed(5, now=0).resume_after is None
    assert seqs(feed.event(activity(6), now=0).events) == [6]
    assert seqs(feed.event(activity(7), now=0).events) == [7]
    assert feed.last_seq == 7
    assert not feed.behind


def test_duplicates_are_dropped() -> None:
    feed = GameFeed(GAME, after_seq=0)
    assert seqs(feed.event(activity(1), now=0).events) == [1]
    assert feed.event(activity(1), now=0).events == []
    assert feed.event(activity(0), now=0).events == []
    assert feed.last_seq == 1


def test_a_gap_is_resumed_from_the_last_seq_after_the_grace() -> None:
    feed = GameFeed(GAME, after_seq=7, gap_grace_s=1.0)
    step = feed.event(activity(9), now=100.0)
    assert step.events == []
    assert step.resume_after is None  # 8 may be in flight from another Lambda
    assert feed.behind
    assert feed.deadline() == 101.0
    assert feed.tick(100.5).resume_after is None
    assert feed.tick(101.0).resume_after == 7
    assert feed.resuming
    # The replay fills the gap and releases what was held, in order, once each.
    assert seqs(feed.event(activity(8), now=101.1).events) == [8, 9]
    assert feed.event(activity(9), now=101.1).events == []
    assert feed.leaderboard(9, now=101.2).resume_after is None
    assert not feed.resuming
    assert feed.deadline() is None


def test_a_gap_that_fills_itself_costs_no_resume() -> None:
    feed = GameFeed(GAME, after_seq=7, gap_grace_s=1.0)
    feed.event(activity(9), now=0)
    assert seqs(feed.event(activity(8), now=0.2).events) == [8, 9]
    assert feed.deadline() is None
    assert feed.tick(5.0).resume_after is None


def test_without_grace_a_gap_resumes_at_once() -> None:
    feed = GameFeed(GAME, after_seq=3, gap_grace_s=0.0)
    assert feed.event(activity(5), now=0).resume_after == 3
    # While that resume is outstanding, further gaps do not send another.
    assert feed.event(activity(7), now=0).resume_after is None


def test_subscribed_sets_the_baseline_backfilling_the_event_history() -> None:
    feed = GameFeed(GAME)  # default: the last EVENT_HISTORY events before subscribing
    step = feed.subscribed(120, now=0)
    assert feed.last_seq == 120 - EVENT_HISTORY
    assert step.resume_after == 120 - EVENT_HISTORY
    young = GameFeed(GAME)
    assert young.subscribed(20, now=0).resume_after == 0
    new = GameFeed(GAME)
    assert new.subscribed(0, now=0).resume_after is None
    assert new.last_seq == 0


def test_subscribed_with_after_seq_replays_the_whole_log() -> None:
    feed = GameFeed(GAME, after_seq=0)
    assert feed.subscribed(3, now=0).resume_after == 0
    assert seqs(feed.event(activity(1), now=0).events) == [1]
    # The subscribe's own leaderboard comes before the replay ends: the resume stays open.
    assert feed.leaderboard(3, now=0).resume_after is None
    assert feed.resuming
    assert seqs(feed.event(activity(2), now=0).events) == [2]
    assert seqs(feed.event(activity(3), now=0).events) == [3]
    assert feed.leaderboard(3, now=0).resume_after is None
    assert not feed.resuming


def test_events_before_subscribed_are_held_until_the_baseline_is_known() -> None:
    feed = GameFeed(GAME, backfill=0)
    assert feed.event(activity(6), now=0).events == []  # broadcast raced the subscribe reply
    assert feed.event(activity(4), now=0).events == []
    step = feed.subscribed(5, now=0)
    assert seqs(step.events) == [6]  # 4 predates the subscription and is dropped
    assert step.resume_after is None


def test_after_a_reconnect_the_missed_events_are_resumed_once() -> None:
    feed = GameFeed(GAME, after_seq=0)
    for seq in range(1, 8):
        feed.event(activity(seq), now=0)
    feed.disconnected()
    step = feed.subscribed(12, now=10.0)
    assert step.resume_after == 7  # nothing broadcasts 8..12 to us any more: ask now
    assert feed.event(activity(13), now=10.1).events == []  # live, held for the replay
    assert feed.leaderboard(12, now=10.1).resume_after is None  # the subscribe's own
    replay = [feed.event(activity(seq), now=10.2).events for seq in range(8, 13)]
    assert [seqs(r) for r in replay] == [[8], [9], [10], [11], [12, 13]]
    assert feed.leaderboard(13, now=10.3).resume_after is None
    assert not feed.resuming
    assert not feed.behind


def test_a_reconnect_with_nothing_missed_sends_no_resume() -> None:
    feed = GameFeed(GAME, after_seq=0)
    feed.event(activity(1), now=0)
    feed.disconnected()
    assert feed.subscribed(1, now=1).resume_after is None


def test_a_resume_longer_than_one_page_is_continued() -> None:
    feed = GameFeed(GAME, after_seq=0)
    assert feed.subscribed(450, now=0).resume_after == 0
    feed.leaderboard(450, now=0)  # the subscribe's
    for seq in range(1, 201):  # the server replays at most 200
        feed.event(activity(seq), now=0)
    assert feed.leaderboard(450, now=0).resume_after == 200
    for seq in range(201, 401):
        feed.event(activity(seq), now=0)
    assert feed.leaderboard(450, now=0).resume_after == 400
    for seq in range(401, 451):
        feed.event(activity(seq), now=0)
    assert feed.leaderboard(450, now=0).resume_after is None
    assert feed.last_seq == 450


def test_a_live_leaderboard_ahead_of_the_events_waits_for_the_grace() -> None:
    feed = GameFeed(GAME, after_seq=4, gap_grace_s=1.0)
    assert feed.leaderboard(5, now=0).resume_after is None  # event 5 is still on its way
    assert seqs(feed.event(activity(5), now=0.1).events) == [5]
    assert feed.tick(2.0).resume_after is None
    feed.leaderboard(6, now=3.0)
    assert feed.tick(4.0).resume_after == 5  # 6 never came: the post was lost


def test_an_unanswered_resume_is_sent_again() -> None:
    feed = GameFeed(GAME, after_seq=0, resume_timeout_s=10.0)
    assert feed.subscribed(5, now=0).resume_after == 0
    assert feed.deadline() == 10.0
    assert feed.tick(9.9).resume_after is None
    assert feed.tick(10.0).resume_after == 0
    feed.leaderboard(5, now=10.1)  # a late answer to either
    for seq in range(1, 6):
        feed.event(activity(seq), now=10.2)
    feed.leaderboard(5, now=10.3)
    assert not feed.behind


def test_a_failed_resume_is_retried_after_the_grace() -> None:
    feed = GameFeed(GAME, after_seq=0, gap_grace_s=1.0)
    feed.subscribed(5, now=0)
    feed.resume_failed()
    assert not feed.resuming
    assert feed.tick(0.5).resume_after is None
    assert feed.tick(1.5).resume_after == 0


def test_a_live_leaderboard_overtaking_the_resume_answer_costs_no_events() -> None:
    feed = GameFeed(GAME, after_seq=0, gap_grace_s=1.0)
    assert feed.subscribed(2, now=0).resume_after == 0
    feed.leaderboard(2, now=0)  # the subscribe's
    feed.event(activity(3), now=0.1)  # live, held
    # A live leaderboard arrives before the resume's answer and is taken for it.
    assert feed.leaderboard(3, now=0.1).resume_after is None  # no progress: wait, no storm
    assert seqs(feed.event(activity(1), now=0.2).events) == [1]
    assert seqs(feed.event(activity(2), now=0.2).events) == [2, 3]
    assert feed.leaderboard(3, now=0.2).resume_after is None
    assert feed.tick(5.0).resume_after is None
    assert feed.last_seq == 3


def test_events_gone_from_the_server_are_skipped_after_fruitless_resumes() -> None:
    # Events 1..3 outlived the log's TTL: every resume from 0 returns 4.. only.
    feed = GameFeed(GAME, after_seq=0, gap_grace_s=1.0, resume_timeout_s=10.0)
    now = 0.0
    resume = feed.subscribed(5, now=now).resume_after
    feed.leaderboard(5, now=now)  # the subscribe's
    settled: list[int | None] = []
    warning = None
    for _ in range(30):
        assert resume == 0
        for seq in (4, 5):
            feed.event(activity(seq), now=now)
        step = feed.leaderboard(5, now=now)
        warning = warning or step.warning
        if step.warning:
            assert seqs(step.events) == [4, 5]
            break
        settled.append(step.resume_after)
        now += 1.0
        resume = feed.tick(now).resume_after
    assert warning == f"game {GAME}: events 1..3 are no longer on the server; skipped them"
    assert feed.last_seq == 5
    assert not feed.behind
    assert 3 <= len(settled) <= 12  # a bounded number of tries, about resume_timeout_s apart


def test_a_server_whose_log_went_back_is_followed_with_a_warning() -> None:
    feed = GameFeed(GAME, after_seq=0)
    for seq in range(1, 11):
        feed.event(activity(seq), now=0)
    step = feed.subscribed(4, now=1)
    assert step.warning is not None
    assert "seq 4" in step.warning
    assert feed.last_seq == 4
    assert seqs(feed.event(activity(5), now=1).events) == [5]


def test_the_out_of_order_buffer_is_bounded() -> None:
    feed = GameFeed(GAME, after_seq=0, max_buffered=2, gap_grace_s=0.0)
    for seq in (3, 4, 5, 6):
        feed.event(activity(seq), now=0)
    assert feed.buffered == 2
    # The resume brings back what did not fit.
    got = [s for seq in range(1, 7) for s in seqs(feed.event(activity(seq), now=0).events)]
    assert got == [1, 2, 3, 4, 5, 6]


def test_a_full_buffer_keeps_the_events_nearest_the_position() -> None:
    feed = GameFeed(GAME, after_seq=0, max_buffered=2)
    for seq in (6, 5, 4, 3):
        feed.event(activity(seq), now=0)
    assert feed.buffered == 2
    assert seqs(feed.event(activity(2), now=0).events) == []
    assert seqs(feed.event(activity(1), now=0).events) == [1, 2, 3]  # 4 made room for 2


def test_after_seq_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="after_seq"):
        GameFeed(GAME, after_seq=-1)


# -- ClientState ----------------------------------------------------------------------------------
def test_opening_a_connection_subscribes_to_every_game() -> None:
    state = ClientState(["a", "b"])
    sends = state.connection_opened(now=0)
    assert sends == [
        Send({"action": "subscribe", "gameId": "a", "feed": True}),
        Send({"action": "subscribe", "gameId": "b", "feed": True}),
    ]
    assert state.connected
    assert state.connections == 1
    assert state.add_game("c") == [Send({"action": "subscribe", "gameId": "c", "feed": True})]
    assert state.remove_game("a") == [Send({"action": "unsubscribe", "gameId": "a"})]
    assert list(state.games) == ["b", "c"]


def test_a_game_added_offline_is_subscribed_on_connecting() -> None:
    state = ClientState()
    assert state.add_game("a") == []
    assert state.connection_opened(now=0) == [
        Send({"action": "subscribe", "gameId": "a", "feed": True})
    ]


def test_the_state_tracks_leaderboard_events_and_last_update() -> None:
    state = ClientState([GAME], after_seq=0)
    state.connection_opened(now=1.0)
    step = state.apply(subscribed(2), now=2.0)
    assert step.commands == [Send({"action": "resume", "gameId": GAME, "afterSeq": 0})]
    assert step.messages == [subscribed(2)]
    state.apply(board(2, points=10), now=3.0)
    assert state.leaderboard == board(2, points=10)["leaderboard"]
    assert state.total_players == 1
    assert state.last_update == 3.0
    state.apply(activity(1), now=4.0)
    state.apply(state_change(2, "ended", winner="ann"), now=5.0)
    assert [e["type"] for e in state.events] == ["player_joined", "state_changed"]
    assert state.game is not None
    assert state.game.game_state == "ended"
    assert state.game.winner == "ann"
    assert state.last_update == 5.0


def test_the_state_keeps_the_last_50_events() -> None:
    state = ClientState([GAME], after_seq=0)
    for seq in range(1, 121):
        state.apply(activity(seq), now=seq)
    assert len(state.events) == EVENT_HISTORY == 50
    assert [e["seq"] for e in state.events] == list(range(71, 121))


def test_duplicates_and_stale_leaderboards_are_not_delivered() -> None:
    state = ClientState([GAME], after_seq=0)
    assert seqs(state.apply(activity(1), now=0).messages) == [1]
    assert state.apply(activity(1), now=0).messages == []
    state.apply(board(5, points=50), now=1)
    assert state.apply(board(4, points=40), now=2).messages == []
    assert state.leaderboard[0]["points"] == 50
    assert state.last_update == 1


def test_messages_of_games_not_followed_are_ignored() -> None:
    state = ClientState([GAME], after_seq=0)
    assert state.apply(activity(1, game_id="other"), now=0).messages == []
    assert state.apply(board(1, game_id="other"), now=0).messages == []
    assert state.events == []


def test_pong_and_unknown_types_are_delivered_as_they_are() -> None:
    state = ClientState([GAME])
    assert state.apply({"type": "pong", "timestamp": 1}, now=0).messages == [
        {"type": "pong", "timestamp": 1}
    ]
    assert state.apply({"type": "future_thing"}, now=0).messages == [{"type": "future_thing"}]


def test_errors_are_recorded_and_clearable() -> None:
    state = ClientState([GAME])
    frame = wire.error("game_not_found", "no such game", "subscribe")
    assert state.apply(frame, now=0).messages == [frame]
    assert state.last_error == "game_not_found: no such game"
    state.clear_error()
    assert state.last_error is None


def test_api_gateway_internal_errors_become_error_messages() -> None:
    state = ClientState([GAME], after_seq=0, gap_grace_s=0.0)
    state.connection_opened(now=0)
    state.apply(subscribed(3), now=0)  # sends a resume
    crash = {"message": "Internal server error", "connectionId": "c1", "requestId": "r1"}
    step = state.apply(crash, now=1)
    assert step.messages == [{"type": "error", "code": "internal_error", **crash}]
    assert state.last_error == "internal_error: Internal server error"
    # The crashed Lambda may have been the resume: it is sent again.
    assert state.tick(now=1) == [Send({"action": "resume", "gameId": GAME, "afterSeq": 0})]


def test_a_gap_becomes_a_resume_command_at_the_deadline() -> None:
    state = ClientState([GAME], after_seq=1, gap_grace_s=1.0)
    state.connection_opened(now=0)
    assert state.apply(activity(3), now=10.0).commands == []
    assert state.deadline() == 11.0
    assert state.tick(now=10.5) == []
    assert state.tick(now=11.0) == [Send({"action": "resume", "gameId": GAME, "afterSeq": 1})]


def test_losing_the_connection_is_recorded() -> None:
    state = ClientState([GAME])
    state.connection_opened(now=0)
    state.connection_lost("connection closed: 1001 going away")
    assert not state.connected
    assert state.last_error == "connection closed: 1001 going away"
    state.connection_failed("ConnectionRefusedError")
    assert state.last_error == "ConnectionRefusedError"
    state.connection_opened(now=1)
    assert state.last_error is None  # the trouble is over
    assert state.last_disconnect == "ConnectionRefusedError"


def test_a_reconnect_keeps_errors_the_server_reported() -> None:
    state = ClientState([GAME])
    state.connection_lost("connection closed")
    state.apply(wire.error("wrong_game", "not yours", "subscribe"), now=0)
    state.connection_opened(now=1)
    assert state.last_error == "wrong_game: not yours"


def test_a_server_reset_lets_older_leaderboards_in_again() -> None:
    state = ClientState([GAME], after_seq=0)
    for seq in range(1, 11):
        state.apply(activity(seq), now=0)
    state.apply(board(10, points=100), now=0)
    state.apply(subscribed(2), now=1)
    assert state.last_error is not None
    assert "seq 2" in state.last_error
    assert state.apply(board(2, points=20), now=2).messages == [board(2, points=20)]


def test_event_views_match_the_http_event_log() -> None:
    # What the client keeps must equal what `GET /games/{id}/events` returns for the same entry.
    entries = [
        Event(GAME, 1, domain_events.GAME_CREATED, domain_events.game_created("Room", 5), 1.5),
        Event(GAME, 2, domain_events.PLAYER_JOINED, domain_events.player_joined("s", "ann"), 2),
        Event(
            GAME,
            3,
            domain_events.WORD_MARKED,
            domain_events.word_marked("s", "ann", "synergy", 10, 1),
            3,
        ),
        Event(
            GAME,
            4,
            domain_events.STATE_CHANGED,
            domain_events.state_changed(GameState.OPEN, GameState.PLAYING, "go"),
            4,
        ),
        Event(
            GAME,
            5,
            domain_events.STATE_CHANGED,
            domain_events.state_changed(
                GameState.BINGO, GameState.ENDED, "verified", Winner("s", "ann")
            ),
            5,
        ),
    ]
    for entry in entries:
        assert event_view(wire.event_message(entry)) == wire.event_view(entry)


# -- coalesced fan-out: activity batches and subscriptions without the feed ----------------------
def batch(*items: dict[str, Any], game_id: str = GAME) -> dict[str, Any]:
    return {
        "type": "activity_batch",
        "gameId": game_id,
        "seq": items[-1]["seq"],
        "events": list(items),
    }


def test_a_batch_delivers_its_events_in_order_and_drops_the_ones_seen() -> None:
    state = ClientState([GAME], after_seq=0)
    state.connection_opened(now=0)
    state.apply(subscribed(2), now=0)
    state.apply(activity(1), now=0)
    state.apply(activity(2), now=0)

    step = state.apply(batch(activity(2), activity(3), activity(4)), now=1)

    assert seqs(step.messages) == [3, 4]
    assert step.commands == []
    assert [e["seq"] for e in state.events] == [1, 2, 3, 4]


def test_a_batch_after_a_lost_one_resumes_once_from_the_gap() -> None:
    state = ClientState([GAME], after_seq=0, gap_grace_s=0)
    state.connection_opened(now=0)
    state.apply(subscribed(0), now=0)

    step = state.apply(batch(activity(3), activity(4)), now=1)

    assert step.messages == []
    assert step.commands == [Send({"action": "resume", "gameId": GAME, "afterSeq": 0})]


def test_without_the_feed_leaderboards_jump_ahead_without_a_resume() -> None:
    state = ClientState([GAME], after_seq=0, feed=False, gap_grace_s=0)
    assert state.connection_opened(now=0) == [
        Send({"action": "subscribe", "gameId": GAME, "feed": False})
    ]
    assert state.apply(subscribed(5), now=0).commands == []

    step = state.apply(board(40, points=30), now=1)

    assert step.commands == []
    assert state.leaderboard[0]["points"] == 30
    assert state.tick(now=100) == []
    # State changes still come, once each, whatever their seq.
    ended = state.apply(state_change(57, "ended"), now=2)
    assert seqs(ended.messages) == [57]
    assert state.apply(state_change(57, "ended"), now=3).messages == []
    assert state.game is not None
    assert state.game.game_state == "ended"
