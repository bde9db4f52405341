"""Stream broadcasters: one window of DynamoDB Streams records -> coalesced, bounded fan-out.

The store is SQLite, whose change log stands in for the table's stream; records are built in
the shape Lambda hands a function subscribed to a KEYS_ONLY stream (tests/events fixture).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from backend.adapters.dynamodb_keys import event_item_keys
from backend.domain.audience import DEFAULT_TOP_N, MESSAGE_UNIT_BYTES, encoded_size
from backend.handlers import stream_broadcast
from backend.ports.store import StoreUnavailable
from backend.services import fanout

if TYPE_CHECKING:
    from conftest import Harness, JobRecorder, Player, Table

FIXTURE = "dynamodb_stream_keys_only"


@dataclass(frozen=True)
class LambdaContext:
    """The context attributes a handler may read."""

    function_name: str
    aws_request_id: str = "c0ffee00-0000-4000-8000-000000000000"


class Stream:
    """Reads the SQLite change log as Lambda's poller reads a shard: from where it stopped."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.cursor = h.store.last_change_id()

    def window(self) -> dict[str, Any]:
        """Every change since the last window, as one stream event."""
        template = self.h.load_event(FIXTURE)["Records"][0]
        records = []
        for change in self.h.store.changes_after(self.cursor, limit=1000):
            record = copy.deepcopy(template)
            record["dynamodb"]["Keys"] = event_item_keys(change.game_id, change.seq)
            record["dynamodb"]["SequenceNumber"] = f"{change.change_id:021d}"
            records.append(record)
            self.cursor = change.change_id
        return {"Records": records}


def _boards(event: dict[str, Any]) -> dict[str, Any]:
    return stream_broadcast.boards_handler(event, LambdaContext("broadcast_boards"))


def _players(event: dict[str, Any]) -> dict[str, Any]:
    return stream_broadcast.players_handler(event, LambdaContext("broadcast_players"))


def _listen(h: Harness, cid: str, token: str, game_id: str, **fields: Any) -> None:
    assert h.ws_connect(cid, token) == 101
    replies = h.ws_action(cid, "subscribe", gameId=game_id, **fields)
    assert [r["type"] for r in replies] == ["subscribed", "leaderboard_update"]


def _types(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames]


def _game_seq(h: Harness, game_id: str) -> int:
    return int(h.ok("GET", f"/games/{game_id}", token=h.admin_token())["seq"])


def _mark_some(h: Harness, player: Player, count: int) -> None:
    words = [w for w in h.card(player)["cells"] if w is not None]
    for word in words[:count]:
        h.mark(player, word)


def test_writers_send_nothing_and_a_boards_window_is_one_batch_and_one_leaderboard(
    sh: Harness,
) -> None:
    table = sh.table(("alice", "bob"))
    alice, bob = table.players["alice"], table.players["bob"]
    _listen(sh, "board", sh.public_token("screen"), table.game_id)
    _listen(sh, "alice-phone", alice.token, table.game_id)
    stream = Stream(sh)

    _mark_some(sh, alice, 2)
    _mark_some(sh, bob, 1)

    assert sh.frames("board") == []
    assert sh.frames("alice-phone") == []
    assert _boards(stream.window()) == {"batchItemFailures": []}
    board = sh.frames("board")
    assert _types(board) == ["activity_batch", "leaderboard_update"]
    batch, standings = board
    assert [e["seq"] for e in batch["events"]] == list(
        range(batch["events"][0]["seq"], batch["seq"] + 1)
    )
    assert len(batch["events"]) == 3
    assert {e["event"]["type"] for e in batch["events"]} == {"word_marked"}
    # The standings are as of the window's last event: no gap for the client to resume.
    assert standings["seq"] == batch["seq"] == _game_seq(sh, table.game_id)
    assert [r["nickname"] for r in standings["leaderboard"]] == ["alice", "bob"]
    assert sh.frames("alice-phone") == [], "the boards' broadcaster never posts to players"


def test_a_players_window_brings_each_player_their_own_view_and_the_feed_only_if_asked(
    sh: Harness,
) -> None:
    table = sh.table(("alice", "bob"))
    alice, bob = table.players["alice"], table.players["bob"]
    _listen(sh, "alice-phone", alice.token, table.game_id)
    _listen(sh, "bob-phone", bob.token, table.game_id, feed=True)
    _listen(sh, "board", sh.public_token("screen"), table.game_id)
    stream = Stream(sh)
    _mark_some(sh, bob, 3)

    _players(stream.window())

    alice_frames, bob_frames = sh.frames("alice-phone"), sh.frames("bob-phone")
    assert _types(alice_frames) == ["leaderboard_update"]
    assert _types(bob_frames) == ["activity_batch", "leaderboard_update"]
    assert next(r for r in alice_frames[0]["leaderboard"] if r.get("isYou"))["nickname"] == "alice"
    assert next(r for r in bob_frames[1]["leaderboard"] if r.get("isYou"))["nickname"] == "bob"
    assert len(bob_frames[0]["events"]) == 3
    assert sh.frames("board") == [], "the players' broadcaster never posts to boards"


def test_a_state_change_reaches_players_without_the_feed(sh: Harness) -> None:
    table = sh.table(("alice",))
    _listen(sh, "alice-phone", table.players["alice"].token, table.game_id)
    stream = Stream(sh)

    sh.set_state(table.game_id, "ended", "time is up")
    _players(stream.window())

    frames = sh.frames("alice-phone")
    assert _types(frames) == ["game_state_changed", "leaderboard_update"]
    assert frames[0]["newState"] == "ended"


def test_a_player_far_down_a_big_game_sees_the_top_and_their_neighbourhood(sh: Harness) -> None:
    names = tuple(f"p{i:02d}" for i in range(30))
    table = sh.table(names, grid_size=3)
    # Everybody but the last marks, so the last player ranks 30th.
    for name in names[:-1]:
        _mark_some(sh, table.players[name], 1)
    last = table.players[names[-1]]
    _listen(sh, "last-phone", last.token, table.game_id)
    stream = Stream(sh)
    _mark_some(sh, table.players[names[0]], 2)

    _players(stream.window())

    (view,) = sh.frames("last-phone")
    ranks = [r["rank"] for r in view["leaderboard"]]
    assert ranks == [*range(1, DEFAULT_TOP_N + 1), 28, 29, 30]
    assert view["leaderboard"][-1]["isYou"] is True
    assert view["totalPlayers"] == 30
    assert encoded_size(view) <= MESSAGE_UNIT_BYTES


def test_records_that_are_not_event_inserts_are_ignored_and_an_empty_window_sends_nothing(
    sh: Harness,
) -> None:
    table = sh.table(("alice",))
    _listen(sh, "board", sh.public_token("screen"), table.game_id)
    fixture = sh.load_event(FIXTURE)
    ignored = {"Records": fixture["Records"][1:]}  # a MODIFY of the game, a TTL REMOVE
    for record in ignored["Records"]:
        record["dynamodb"]["Keys"]["pk"]["S"] = f"GAME#{table.game_id}"
    # And records no stream would send, which must not break the batch either.
    ignored["Records"] += [
        None,
        "INSERT",
        {"eventName": "INSERT"},
        {"eventName": "INSERT", "dynamodb": {"Keys": "pk"}},
        {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"N": "1"}, "sk": {"S": "EVENT#1"}}}},
    ]
    before = sh.gateway.posts

    _boards(ignored)
    _boards({"Records": []})
    _players({})

    assert sh.gateway.posts == before
    assert sh.frames("board") == []


def test_a_window_delivered_twice_resends_the_same_seqs_for_clients_to_drop(sh: Harness) -> None:
    table = sh.table(("alice",))
    _listen(sh, "board", sh.public_token("screen"), table.game_id)
    stream = Stream(sh)
    _mark_some(sh, table.players["alice"], 2)
    window = stream.window()

    _boards(window)
    first = sh.frames("board")
    _boards(window)  # Lambda retries a batch: streams are at-least-once

    again = sh.frames("board")
    assert [e["seq"] for e in again[0]["events"]] == [e["seq"] for e in first[0]["events"]]


def test_a_gone_connection_is_forgotten_and_the_rest_still_served(sh: Harness) -> None:
    table = sh.table(("alice",))
    _listen(sh, "board-1", sh.public_token("one"), table.game_id)
    _listen(sh, "board-2", sh.public_token("two"), table.game_id)
    stream = Stream(sh)
    _mark_some(sh, table.players["alice"], 1)
    sh.gateway.close("board-1")  # the device went away without $disconnect

    _boards(stream.window())

    assert _types(sh.frames("board-2")) == ["activity_batch", "leaderboard_update"]
    assert [r["connection_id"] for r in sh.rows("connections")] == ["board-2"]
    assert {r["connection_id"] for r in sh.rows("subscriptions")} == {"board-2"}


def test_inline_mode_still_posts_from_the_writer(h: Harness) -> None:
    table = h.table(("alice",))
    _listen(h, "board", h.public_token("screen"), table.game_id)

    _mark_some(h, table.players["alice"], 1)

    assert _types(h.frames("board")) == ["activity_event", "leaderboard_update"]


def test_consecutive_windows_send_each_event_once_and_label_standings_with_their_last_seq(
    sh: Harness,
) -> None:
    table = sh.table(("alice", "bob"))
    _listen(sh, "board", sh.public_token("screen"), table.game_id)
    stream = Stream(sh)
    _mark_some(sh, table.players["alice"], 2)
    first_window = stream.window()
    # More marks land before the first window's broadcaster runs: their window comes next.
    _mark_some(sh, table.players["bob"], 2)
    second_window = stream.window()

    _boards(first_window)
    _boards(second_window)

    batch_1, standings_1, batch_2, standings_2 = sh.frames("board")
    seqs_1 = [e["seq"] for e in batch_1["events"]]
    seqs_2 = [e["seq"] for e in batch_2["events"]]
    assert len(seqs_1) == len(seqs_2) == 2
    assert seqs_2[0] == seqs_1[-1] + 1, "no event twice, none missing"
    # The first standings already count bob's marks, but are labelled with the first window's
    # last seq: never ahead of the events the board has.
    assert standings_1["seq"] == seqs_1[-1]
    assert [r["points"] for r in standings_1["leaderboard"]] == [20, 20]
    assert standings_2["seq"] == seqs_2[-1] == _game_seq(sh, table.game_id)


def test_a_game_the_store_fails_for_is_reported_and_the_others_still_served(
    sh: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = sh.table(("alice",))
    bad = sh.table(("bob",))
    _listen(sh, "board-good", sh.public_token("one"), good.game_id)
    _listen(sh, "board-bad", sh.public_token("two"), bad.game_id)
    stream = Stream(sh)
    _mark_some(sh, good.players["alice"], 1)
    _mark_some(sh, bad.players["bob"], 1)
    window = stream.window()
    # The store fails for one game only (a throttled partition, say).
    real = sh.store.subscriptions

    def subscriptions(game_id: str, *, now: float) -> Any:
        if game_id == bad.game_id:
            raise StoreUnavailable("throttled")
        return real(game_id, now=now)

    monkeypatch.setattr(sh.store, "subscriptions", subscriptions)

    answer = _boards(window)

    bad_record = next(
        r["dynamodb"]["SequenceNumber"]
        for r in window["Records"]
        if r["dynamodb"]["Keys"]["pk"]["S"] == f"GAME#{bad.game_id}"
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad_record}]}
    assert _types(sh.frames("board-good")) == ["activity_batch", "leaderboard_update"]
    assert sh.frames("board-bad") == []


# -- posting jobs: the players' broadcaster hands each game to an invocation of its own -----------


def _post(job: dict[str, Any]) -> dict[str, Any]:
    return stream_broadcast.post_players_handler(job, LambdaContext("post_players"))


def test_with_posting_jobs_a_players_window_starts_one_job_per_game_and_posts_nothing(
    jh: Harness, jobs: JobRecorder
) -> None:
    one, two = jh.table(("alice",)), jh.table(("bob",))
    _listen(jh, "alice-phone", one.players["alice"].token, one.game_id)
    _listen(jh, "bob-phone", two.players["bob"].token, two.game_id)
    stream = Stream(jh)
    _mark_some(jh, one.players["alice"], 2)
    _mark_some(jh, two.players["bob"], 1)

    answer = _players(stream.window())

    assert answer == {"batchItemFailures": []}
    assert jh.frames("alice-phone") == jh.frames("bob-phone") == []
    first = _game_seq(jh, one.game_id)
    assert sorted((j["postJob"]["gameId"], j["postJob"]["toSeq"]) for j in jobs.jobs) == sorted(
        [(one.game_id, first), (two.game_id, _game_seq(jh, two.game_id))]
    )
    assert {j["postJob"]["audience"] for j in jobs.jobs} == {"player"}

    # Each job, run as its own invocation, posts its game's views and nothing else.
    (job,) = [j for j in jobs.jobs if j["postJob"]["gameId"] == one.game_id]
    assert _post(job) == {"games": 1, "posts": 1, "gone": 0}
    (view,) = jh.frames("alice-phone")
    assert (view["type"], view["seq"]) == ("leaderboard_update", first)
    assert jh.frames("bob-phone") == []


def test_the_boards_broadcaster_never_hands_its_posting_out(jh: Harness, jobs: JobRecorder) -> None:
    table = jh.table(("alice",))
    _listen(jh, "board", jh.public_token("screen"), table.game_id)
    stream = Stream(jh)
    _mark_some(jh, table.players["alice"], 1)

    _boards(stream.window())

    assert jobs.jobs == []
    assert _types(jh.frames("board")) == ["activity_batch", "leaderboard_update"]


def test_a_game_whose_job_is_refused_is_reported_for_the_stream_to_redeliver(
    jh: Harness, jobs: JobRecorder
) -> None:
    good, bad = jh.table(("alice",)), jh.table(("bob",))
    stream = Stream(jh)
    _mark_some(jh, good.players["alice"], 1)
    _mark_some(jh, bad.players["bob"], 1)
    jobs.refuse.add(bad.game_id)
    window = stream.window()

    answer = _players(window)

    bad_record = next(
        r["dynamodb"]["SequenceNumber"]
        for r in window["Records"]
        if r["dynamodb"]["Keys"]["pk"]["S"] == f"GAME#{bad.game_id}"
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad_record}]}
    assert [j["postJob"]["gameId"] for j in jobs.jobs] == [good.game_id]


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"Records": []}, "not a posting job"),
        ({"postJob": "game-1"}, "postJob must be an object"),
        ({"postJob": {"audience": "player", "fromSeq": 1, "toSeq": 2}}, "gameId"),
        ({"postJob": {"audience": "player", "gameId": "g", "fromSeq": "1", "toSeq": 2}}, "int"),
        ({"postJob": {"audience": "player", "gameId": "g", "fromSeq": 3, "toSeq": 2}}, "range"),
        ({"postJob": {"audience": "player", "gameId": "g", "fromSeq": True, "toSeq": 2}}, "int"),
        ({"postJob": {"audience": "crowd", "gameId": "g", "fromSeq": 1, "toSeq": 2}}, "crowd"),
        (
            {"postJob": {"audience": "player", "gameId": "g", "fromSeq": 1, "toSeq": 2, "part": 2}},
            "part",
        ),
    ],
)
def test_a_malformed_posting_job_is_dropped_with_a_reason_and_sends_nothing(
    jh: Harness, event: dict[str, Any], error: str
) -> None:
    table = jh.table(("alice",))
    _listen(jh, "alice-phone", table.players["alice"].token, table.game_id)

    answer = _post(event)

    assert answer["posts"] == 0
    assert error in answer["error"]
    assert jh.frames("alice-phone") == []


def test_a_posting_job_raises_on_a_store_failure_so_lambda_retries_it(
    jh: Harness, jobs: JobRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = jh.table(("alice",))
    stream = Stream(jh)
    _mark_some(jh, table.players["alice"], 1)
    _players(stream.window())
    (job,) = jobs.jobs

    def unavailable(game_id: str, *, now: float) -> Any:
        raise StoreUnavailable("throttled")

    monkeypatch.setattr(jh.store, "subscriptions", unavailable)
    with pytest.raises(StoreUnavailable):
        _post(job)


def _whole_game_job(
    jh: Harness, jobs: JobRecorder, names: tuple[str, ...]
) -> tuple[Table, dict[str, Any]]:
    """A game of `names`, all listening; the players' window of one mark; its (only) job."""
    table = jh.table(names)
    for name in names:
        _listen(jh, f"{name}-phone", table.players[name].token, table.game_id)
    stream = Stream(jh)
    _mark_some(jh, table.players[names[0]], 1)
    _players(stream.window())
    (whole,) = jobs.jobs
    jobs.jobs.clear()
    return table, whole


def test_a_big_games_job_keeps_one_part_and_hands_the_others_to_jobs_of_their_own(
    jh: Harness, jobs: JobRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("ann", "ben", "cat", "dan", "eve")
    table, whole = _whole_game_job(jh, jobs, names)
    # Two views a job: five players make three parts; the first job posts its own part.
    monkeypatch.setattr(fanout, "MAX_VIEWS_PER_JOB", 2)

    assert _post(whole)["posts"] == 2
    parts = [j["postJob"] for j in jobs.jobs]
    assert [(p["part"], p["parts"]) for p in parts] == [(1, 3), (2, 3)]
    assert all(
        (p["gameId"], p["toSeq"]) == (table.game_id, _game_seq(jh, table.game_id)) for p in parts
    )
    assert [_post(part)["posts"] for part in list(jobs.jobs)] == [2, 1]
    # Every player got exactly one view, whichever part it fell in.
    assert all(_types(jh.frames(f"{n}-phone")) == ["leaderboard_update"] for n in names)


def test_a_part_that_cannot_be_dispatched_is_posted_by_the_first_job(
    jh: Harness, jobs: JobRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("ann", "ben", "cat")
    table, whole = _whole_game_job(jh, jobs, names)
    monkeypatch.setattr(fanout, "MAX_VIEWS_PER_JOB", 1)
    jobs.refuse.add(table.game_id)  # every further job of this game is refused

    assert _post(whole)["posts"] == 3
    assert jobs.jobs == []
    assert all(_types(jh.frames(f"{n}-phone")) == ["leaderboard_update"] for n in names)
