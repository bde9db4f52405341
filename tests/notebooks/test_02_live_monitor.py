"""notebooks/02_live_monitor.ipynb, executed headlessly with papermill as CI runs it.

The test starts its own local stack and hands the notebook its outputs file; the notebook finds
no game running, starts a demo replay and watches it. Its results.json is then checked against
what the test itself reads from the stack: the game's event log and leaderboard.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
import pytest
from notebook_kit import NotebookRun, read_figure, run_notebook

from bingo_ops.client import BingoHttp
from bingo_ops.deploy.stack import StackHandle

# Long enough for the demo replay (half of it) to end well before the monitor stops.
DURATION_S = 8


@pytest.fixture(autouse=True)
def _cache_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The board's public token cache goes to the platform cache dir: keep it in tmp_path.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _run(tmp_path: Path, outputs: Path, **parameters: Any) -> NotebookRun:
    return run_notebook(
        "02_live_monitor", tmp_path, stack=str(outputs), duration_s=DURATION_S, **parameters
    )


def _server(stack: StackHandle, game_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The game's whole event log and its leaderboard, read by the test itself."""

    async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as http:
            log = await http.all_events(game_id)
            board = await http.leaderboard(game_id)
        return log, list(board["leaderboard"])

    return asyncio.run(read())


def _standings(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["rank"], r["nickname"], r["points"], r["marks"]) for r in rows]


def _check_against_the_stack(results: dict[str, Any], stack: StackHandle) -> list[dict[str, Any]]:
    log, board = _server(stack, results["gameId"])
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    seen = log[: results["lastSeq"]]
    # The monitor replays the log from the start: every event up to its last seq, once each.
    assert results["events"] == len(seen)
    assert results["eventsByType"] == dict(Counter(e["type"] for e in seen))
    assert _standings(results["serverLeaderboard"]) == _standings(board)
    demo = results["demo"]
    assert demo["ran"] is True
    assert results["source"] == "demo"
    if demo["finishedBeforeStop"]:
        # Nothing happened after the monitor's last look: it must have seen it all.
        assert results["lastSeq"] == log[-1]["seq"]
        assert results["seqMatches"] is True
        assert results["leaderboardMatches"] is True
        assert _standings(results["leaderboard"]) == _standings(board)
        assert results["eventsByType"]["word_marked"] == demo["replay"]["marks_ok"]
    assert results["connected"] is True
    assert results["error"] is None
    assert results["attempts"] >= results["connections"] >= 1
    return log


def _outputs_by_cell(executed: Path) -> dict[str, list[dict[str, Any]]]:
    notebook = nbformat.read(executed, as_version=4)
    return {
        cell.source.splitlines()[0]: cell.outputs
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source
    }


@pytest.mark.slow
def test_a_board_watches_a_demo_game_and_ends_with_the_servers_leaderboard(
    tmp_path: Path, started_stack: tuple[StackHandle, Path]
) -> None:
    stack, outputs = started_stack

    run = _run(tmp_path, outputs)
    results = run.results

    log = _check_against_the_stack(results, stack)
    assert results["asPublic"] is True
    assert results["nickname"] is None
    assert results["messagesByType"]["subscribed"] >= 1
    assert results["eventsByType"]["game_created"] == 1
    assert results["durationS"] == DURATION_S
    joined = {e["data"]["nickname"] for e in log if e["type"] == "player_joined"}
    figure = read_figure(run.output_dir, "points_over_time")
    charted = [trace["name"] for trace in figure["data"]]
    assert len(charted) == results["playersCharted"] == min(8, len(joined))
    assert set(charted) <= joined

    cells = _outputs_by_cell(run.executed)
    widget = cells["monitor = LiveMonitor("]
    assert "application/vnd.jupyter.widget-view+json" in widget[0]["data"]
    status = cells["await monitor.run(duration_s)"][0]["text"]
    assert status.startswith("stopped · 1 connection")
    table = cells["monitor.leaderboard_frame()"][0]["data"]["text/html"]
    assert all(row["nickname"] in table for row in results["leaderboard"])
    # The report keeps the chart's data, not only a widget reference.
    html = "".join(o["data"].get("text/html", "") for o in cells["figure = monitor.figure()"])
    assert all(name in html for name in charted)


@pytest.mark.slow
def test_a_player_joins_the_demo_game_and_watches_it(
    tmp_path: Path, started_stack: tuple[StackHandle, Path]
) -> None:
    stack, outputs = started_stack

    results = _run(tmp_path, outputs, as_public=False, nickname="watcher").results

    log = _check_against_the_stack(results, stack)
    assert results["asPublic"] is False
    assert results["nickname"] == "watcher"
    assert any(e["type"] == "player_joined" and e["data"]["nickname"] == "watcher" for e in log)
    if results["demo"]["finishedBeforeStop"]:
        assert "watcher" in {row["nickname"] for row in results["leaderboard"]}
