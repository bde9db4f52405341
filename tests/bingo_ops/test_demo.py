"""The two demos: the live one over real sockets and the scripted in-process one."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from bingo_ops import demo, demo_live


def test_the_live_demo_finishes_a_game_and_the_board_agrees_with_the_server(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    result = asyncio.run(demo_live.play(tmp_path, out, players=4, pace_s=0.0, seed=3))
    assert result.final_state == "ended"
    assert result.winner in demo_live.NICKNAMES[:4]
    board = [(r["nickname"], r["points"], r["marks"]) for r in result.board_leaderboard]
    server = [(r["nickname"], r["points"], r["marks"]) for r in result.server_leaderboard]
    assert board == server
    assert sum(r["marks"] for r in result.server_leaderboard) == result.marks
    functions = result.metering["lambda"]["functions"]
    # One authorizer and one $connect per client (4 players and the board).
    assert functions["ws_authorizer"]["invocations"] == 5
    assert functions["ws_connect"]["invocations"] == 5
    assert functions["ws_disconnect"]["invocations"] == 5
    assert "matches the server's" in out.getvalue()
    assert "Metered:" in out.getvalue()


def test_the_in_process_demo_plays_a_scripted_game(tmp_path: Path) -> None:
    result = demo.play(tmp_path, say=lambda _line: None)
    assert (result.final_state, result.winner) == ("ended", "alice")
    assert result.refused_claim["error"]["code"] == "no_bingo_line"
    assert [e["seq"] for e in result.events] == list(range(1, len(result.events) + 1))
    assert result.leaderboard[0]["nickname"] == "alice"
    out = io.StringIO()
    demo.render(result, out)
    assert "winner: alice" in out.getvalue()
