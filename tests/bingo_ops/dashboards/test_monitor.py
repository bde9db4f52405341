"""The live monitor: its pure view logic, then a real board run against an in-process stack."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bingo_ops.client import BingoHttp, ClientState
from bingo_ops.dashboards.games import NoGameRunning, choose_game, demo_spec, demo_wall_s
from bingo_ops.dashboards.monitor import (
    ConnectionStatus,
    LiveMonitor,
    MonitorModel,
    MonitorView,
    PointsHistory,
    connection_status,
    feed_html,
    feed_line,
    leaderboard_html,
    leaderboard_rows,
    leaderboards_match,
    points_figure,
    status_html,
    status_text,
)
from bingo_ops.emulator.server import LocalStack, StackOptions

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
WORDS = ["w-alpha", "w-bravo", "w-charlie", "w-delta", "w-echo", "w-foxtrot", "w-golf", "w-hotel"]
WAIT_S = 10.0


def joined(seq: int, nickname: str, at: int) -> dict[str, Any]:
    event = {"type": "player_joined", "data": {"nickname": nickname}, "timestamp": at}
    return {"type": "activity_event", "gameId": "g", "seq": seq, "event": event}


def marked(seq: int, nickname: str, points: int, at: int) -> dict[str, Any]:
    data = {"nickname": nickname, "points": points, "marks": points // 10}
    event = {"type": "word_marked", "data": data, "timestamp": at}
    return {"type": "activity_event", "gameId": "g", "seq": seq, "event": event}


def board(*rows: tuple[str, int]) -> list[dict[str, Any]]:
    return [
        {"rank": i, "nickname": n, "points": p, "marks": p // 10, "lastMarkAt": None}
        for i, (n, p) in enumerate(rows, start=1)
    ]


class _Cells(HTMLParser):
    """The text of each `<tr>`'s cells in an HTML table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_cells(markup: str) -> list[list[str]]:
    parser = _Cells()
    parser.feed(markup)
    return [row for row in parser.rows if row]


# -- pure view logic ----------------------------------------------------------------------------
def test_leaderboard_rows_keep_the_top_n_and_flag_the_viewer_by_nickname() -> None:
    rows = leaderboard_rows(board(("ann", 30), ("Bob", 20), ("cy", 10)), top_n=2, me="bob")

    assert rows == [
        {"rank": 1, "nickname": "ann", "points": 30, "marks": 3, "you": False},
        {"rank": 2, "nickname": "Bob", "points": 20, "marks": 2, "you": True},
    ]
    flagged = leaderboard_rows([{**board(("ann", 0))[0], "isYou": True}])
    assert flagged[0]["you"] is True


def test_the_leaderboard_table_escapes_nicknames_and_bolds_the_viewer() -> None:
    rows = leaderboard_rows(board(("<b>x</b>", 20), ("ann", 10)), me="ann")
    markup = leaderboard_html(rows, total_players=2)

    assert "<b>x</b>" not in markup
    assert "&lt;b&gt;x&lt;/b&gt;" in markup
    assert table_cells(markup) == [["1", "<b>x</b>", "20", "2"], ["2", "ann (you)", "10", "1"]]
    assert '<tr style="font-weight:bold"><td>2</td>' in markup
    assert "2 players" in markup
    assert "no players yet" in leaderboard_html([])


def test_feed_lines_describe_each_kind_of_message() -> None:
    state = {
        "type": "game_state_changed",
        "gameId": "g",
        "seq": 9,
        "previousState": "bingo",
        "newState": "ended",
        "reason": "verified",
        "winner": "ann",
        "timestamp": T0 + 5_000,
    }
    claim = {
        "type": "activity_event",
        "seq": 8,
        "event": {"type": "bingo_claimed", "data": {"nickname": "ann"}, "timestamp": T0},
    }

    assert feed_line(joined(2, "ann", T0), UTC) == "00:00:00 #2 ann joined"
    assert feed_line(marked(3, "ann", 20, T0 + 61_000), UTC) == (
        "00:01:01 #3 ann marked a word: 20 pts, 2 marks"
    )
    assert feed_line(claim, UTC) == "00:00:00 #8 ann claims BINGO!"
    assert feed_line(state, UTC) == "00:00:05 #9 game bingo -> ended (verified), winner ann"
    assert feed_line({"type": "subscribed", "gameId": "g", "seq": 4}) == (
        "subscribed to game g (log at seq 4)"
    )
    assert feed_line({"type": "error", "code": "forbidden", "message": "no"}) == (
        "error forbidden: no"
    )
    for quiet in ("leaderboard_update", "pong", "unsubscribed"):
        assert feed_line({"type": quiet, "gameId": "g", "seq": 1}) is None
    assert "&lt;script&gt;" in feed_html(["<script>"])


def test_the_model_counts_messages_and_keeps_a_bounded_feed_most_recent_first() -> None:
    model = MonitorModel(feed_size=3, tz=UTC)
    model.apply({"type": "subscribed", "gameId": "g", "seq": 0})
    model.apply(joined(1, "ann", T0))
    for seq, points in ((2, 10), (3, 20), (4, 30)):
        model.apply(marked(seq, "ann", points, T0 + seq * 1000))
    model.apply({"type": "leaderboard_update", "gameId": "g", "seq": 4, "leaderboard": []})

    assert model.counts == Counter(subscribed=1, activity_event=4, leaderboard_update=1)
    assert model.event_counts == Counter(player_joined=1, word_marked=3)
    assert [line.split()[1] for line in model.feed] == ["#4", "#3", "#2"]
    assert model.version == 6


def test_points_series_follow_the_leaderboard_then_points_and_reach_the_last_event() -> None:
    history = PointsHistory()
    for message in (
        joined(1, "ann", T0),
        joined(2, "bob", T0 + 1000),
        joined(3, "cy", T0 + 2000),
        marked(4, "cy", 10, T0 + 3000),
        marked(5, "bob", 10, T0 + 4000),
        marked(6, "bob", 20, T0 + 5000),
        {"type": "activity_event", "seq": 7, "event": {"type": "word_marked", "data": {}}},
        {"type": "leaderboard_update", "seq": 6},
    ):
        history.add(message)

    series = history.series(order=["bob"], top_n=2, until_ms=T0 + 9000)
    assert list(series) == ["bob", "cy"]  # bob leads on the board; cy outscores ann
    assert series["bob"] == ([T0 + 1000, T0 + 4000, T0 + 5000, T0 + 9000], [0, 10, 20, 20])
    assert series["cy"] == ([T0 + 2000, T0 + 3000, T0 + 9000], [0, 10, 10])
    assert history.series()["ann"] == ([T0], [0])
    assert history.last_ms == T0 + 5000


def test_the_status_follows_the_client_state_through_a_reconnect() -> None:
    state = ClientState(["g"])
    assert connection_status(state, "g").phase == "connecting"

    state.connection_failed("OSError: refused")
    failing = connection_status(state, "g", attempts=2)
    assert (failing.phase, failing.attempts, failing.last_error) == (
        "connecting",
        2,
        "OSError: refused",
    )
    state.connection_opened(now=1.0)
    assert connection_status(state, "g", attempts=2).phase == "connected"
    state.connection_lost("connection closed: 1006")
    lost = connection_status(state, "g", attempts=2, remaining_s=3.4)
    assert (lost.phase, lost.reconnects) == ("reconnecting", 0)
    state.connection_opened(now=2.0)
    again = connection_status(state, "g", attempts=3)
    assert (again.phase, again.connections, again.reconnects) == ("connected", 2, 1)
    assert status_text(again) == "connected · 2 connections · 1 reconnect · 3 attempts"
    assert "3 s left" in status_text(lost)
    assert "last error: connection closed" in status_text(lost)

    gave_up = connection_status(state, "g", closed=True, error="giving up after 10")
    assert gave_up.phase == "failed"
    assert "gave up: giving up after 10" in status_text(gave_up)
    assert connection_status(state, "g", closed=True).phase == "stopped"
    assert "&lt;" in status_html(ConnectionStatus(last_error="<oops>"))


def test_leaderboards_match_on_standings_not_on_the_viewer_flag() -> None:
    seen = board(("ann", 20), ("bob", 10))
    server = [{**seen[0], "isYou": True, "lastMarkAt": 5}, seen[1]]

    assert leaderboards_match(seen, server)
    assert not leaderboards_match(seen, list(reversed(server)))
    assert not leaderboards_match(seen, seen[:1])


def test_the_chart_updates_traces_in_place_and_rebuilds_when_players_change() -> None:
    figure = points_figure({"ann": ([T0], [0])})
    first = figure.data[0]
    view = MonitorView("t")

    view.show_game(leaderboard_rows(board(("ann", 10))), 1, ["x"], {"ann": ([T0, T0 + 1], [0, 10])})
    trace = view.chart.data[0]
    view.show_game([], 1, [], {"ann": ([T0, T0 + 1, T0 + 2], [0, 10, 20])})

    assert (first.name, first.line.shape) == ("ann", "hv")
    assert view.chart.data[0] is trace  # same player: updated, not replaced
    assert list(trace.y) == [0, 10, 20]
    assert trace.x[0] == datetime.fromtimestamp(T0 / 1000, UTC)
    view.show_game([], 2, [], {"bob": ([T0], [0]), "ann": ([T0], [0])})
    assert [t.name for t in view.chart.data] == ["bob", "ann"]


def test_the_demo_is_sized_to_end_within_the_monitoring_time() -> None:
    spec, speed = demo_spec(3.0)

    assert spec.duration_s / speed == pytest.approx(3.0)
    assert demo_wall_s(8) == 4.0
    assert demo_wall_s(0) > 0
    with pytest.raises(ValueError, match="wall_s"):
        demo_spec(0)


# -- a real run -----------------------------------------------------------------------------------
def options(state_dir: Path) -> StackOptions:
    return StackOptions(state_dir=state_dir, host="127.0.0.1", http_port=0, ws_port=0)


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.02)


def test_a_board_monitor_sees_marks_made_over_http_and_ends_with_the_servers_leaderboard(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "tokens"

    async def scenario() -> None:
        async with (
            LocalStack(options(tmp_path / "state")) as stack,
            BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as admin,
        ):
            outputs = stack.outputs
            with pytest.raises(NoGameRunning):
                await choose_game(outputs, demo_activity=False, cache_dir=cache)
            game_id = (await admin.create_game(name="Room 2", grid_size=3, words=WORDS))["gameId"]
            await admin.change_state(game_id, "playing", "talks begin")
            target = await choose_game(outputs, cache_dir=cache)
            assert (target.game_id, target.source, target.demo) == (game_id, "current", None)

            monitor = LiveMonitor(outputs, cache_dir=cache, refresh_s=0.05, tz=UTC)
            task = asyncio.create_task(monitor.run(0))
            await eventually(lambda: monitor.status().connected)
            assert monitor.game_id == game_id  # the current game, found by the monitor

            ann = admin.with_token((await admin.join("ann", game_id))["token"])
            bob = admin.with_token((await admin.join("bob", game_id))["token"])
            for player, words in ((ann, WORDS[:2]), (bob, WORDS[3:4]), (ann, WORDS[:3])):
                for word in words:
                    await player.mark(game_id, word)  # ann's repeats change nothing
            log = await admin.all_events(game_id)
            server = (await admin.leaderboard(game_id))["leaderboard"]
            await eventually(lambda: monitor.last_seq == log[-1]["seq"])
            await eventually(lambda: leaderboards_match(monitor.leaderboard, server))
            await asyncio.sleep(0.15)  # a redraw or two
            table, feed, chart = (
                monitor.view.table.value,
                monitor.view.feed.value,
                monitor.view.chart,
            )
            monitor.stop()
            results = await task

            assert monitor.client is not None
            assert monitor.client.closed
            assert results["leaderboard"] == server
            assert results["lastSeq"] == log[-1]["seq"] == len(log)
            assert results["events"] == len(log)  # the whole log, each event once
            assert results["eventsByType"] == dict(Counter(e["type"] for e in log))
            assert results["eventsByType"]["word_marked"] == 4
            assert results["messagesByType"]["subscribed"] == 1
            assert (results["connected"], results["reconnects"], results["attempts"]) == (
                True,
                0,
                1,
            )
            assert results["error"] is None
            assert results["lastError"] is None
            check = await monitor.compare_with_server()
            assert check["leaderboardMatches"]
            assert check["seqMatches"]

            assert table_cells(table) == [["1", "ann", "30", "3"], ["2", "bob", "10", "1"]]
            assert "ann marked a word: 30 pts, 3 marks" in feed
            assert feed.index(f"#{len(log)} ") < feed.index("#1 ")  # most recent first
            assert {t.name: list(t.y) for t in chart.data} == {
                "ann": [0, 10, 20, 30],
                "bob": [0, 10],
            }
            plain = monitor.figure()
            assert [t.name for t in plain.data] == ["ann", "bob"]
            assert list(plain.data[1].y) == [0, 10, 10]  # bob's line reaches the last event
            assert monitor.leaderboard_frame()["nickname"].tolist() == ["ann", "bob"]
            assert "stopped" in monitor.status_text()
            with pytest.raises(RuntimeError, match="runs once"):
                await monitor.run(1)

    asyncio.run(scenario())
