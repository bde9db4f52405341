"""notebooks/06_engagement.ipynb, executed headlessly with papermill.

Once on a stack the test started and replayed a scenario on (results.json checked against the
stack's log as the test fetches it, and the scenario's words as the test counts them), once on a
JSONL log the test writes by hand (results checked against numbers worked out by hand).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from notebook_kit import read_figure, run_notebook

from bingo_ops.client.http import BingoHttp
from bingo_ops.deploy.stack import StackHandle
from bingo_ops.replay.replayer import ReplaySummary, replay
from bingo_ops.replay.scenario import ScenarioSpec, generate, write_jsonl

FIGURES = (
    "active_players",
    "marks_per_minute",
    "word_popularity",
    "time_to_first_bingo",
    "leaderboard_race",
    "funnel",
)


def _run(tmp_path: Path, **parameters: Any) -> tuple[dict[str, Any], Path]:
    run = run_notebook("06_engagement", tmp_path, **parameters)
    for name in FIGURES:
        read_figure(run.output_dir, name)
    return run.results, run.output_dir


def _funnel(log: list[dict[str, Any]], gid: str) -> dict[str, int]:
    mine = [e for e in log if e["id"].rpartition(":")[0] == gid]

    def nicknames(kind: str) -> int:
        return len({e["data"]["nickname"] for e in mine if e["type"] == kind})

    winners = {
        e["data"]["winner"]
        for e in mine
        if e["type"] == "state_changed"
        and e["data"]["newState"] == "ended"
        and "winner" in e["data"]
    }
    return {
        "joined": nicknames("player_joined"),
        "marked": nicknames("word_marked"),
        "claimed": nicknames("bingo_claimed"),
        "won": len(winners),
    }


def _first_bingo_s(log: list[dict[str, Any]], gid: str) -> float | None:
    mine = [e for e in log if e["id"].rpartition(":")[0] == gid]
    started = [
        e["timestamp"]
        for e in mine
        if e["type"] == "state_changed" and e["data"]["newState"] == "playing"
    ]
    claims = [e["timestamp"] for e in mine if e["type"] == "bingo_claimed"]
    if not started or not claims:
        return None
    return (min(claims) - min(started)) / 1000


@pytest.mark.slow
def test_the_stacks_log_and_the_scenarios_words(
    tmp_path: Path, started_stack: tuple[StackHandle, Path]
) -> None:
    spec = ScenarioSpec(
        games=2,
        grid_size=4,
        players=6,
        boards=1,
        marks_per_player_per_minute=40.0,
        join_window_s=3.0,
        duration_s=20.0,
        verify_delay_s=1.0,
        seed=13,
    )
    actions = generate(spec)
    scenario = tmp_path / "scenario.jsonl"
    write_jsonl(actions, scenario, spec)
    handle, outputs = started_stack
    token = handle.admin_token()

    async def play_and_read() -> tuple[ReplaySummary, list[dict[str, Any]]]:
        done = await replay(actions, handle.outputs, admin_token=token, speed=40.0, progress=False)
        found = []
        async with BingoHttp(handle.outputs["httpUrl"], token=token) as admin:
            for gid in done.games.values():
                found.extend(await admin.all_events(gid))
        return done, found

    summary, log = asyncio.run(play_and_read())
    results, output_dir = _run(tmp_path, stack=str(outputs), scenario=str(scenario), freq="5s")

    games = list(summary.games.values())
    assert results["source"].startswith("stack ")
    assert results["games"] == 2
    assert results["events"] == len(log)
    exported = [json.loads(x) for x in (output_dir / "events.jsonl").read_text().splitlines()]
    assert sorted((e["id"], e["type"]) for e in exported) == sorted(
        (e["id"], e["type"]) for e in log
    )
    marks = Counter(e["id"].rpartition(":")[0] for e in log if e["type"] == "word_marked")
    assert results["marks_by_game"] == {g: marks[g] for g in games}
    assert sum(marks.values()) == summary.marks_ok > 0
    assert results["funnel"] == {g: _funnel(log, g) for g in games}
    assert results["funnel_totals"]["joined"] == 6
    for gid in games:
        expected = _first_bingo_s(log, gid)
        got = results["time_to_first_bingo_s"][gid]
        assert got == pytest.approx(expected) if expected is not None else got is None
    words = Counter(a.data["word"] for a in actions if a.kind == "mark")
    top = sorted(words.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert [(w["word"], w["marks"]) for w in results["top_words"]] == top
    assert 1 <= results["active_players_peak"] <= 6


# 2026-01-01T10:00:00Z in epoch milliseconds.
T0 = 1_767_261_600_000


def _ev(game: str, seq: int, kind: str, second: int, **data: Any) -> dict[str, Any]:
    return {
        "id": f"{game}:{seq}",
        "seq": seq,
        "type": kind,
        "data": data,
        "timestamp": T0 + second * 1000,
    }


def _hand_made_log() -> list[dict[str, Any]]:
    """Room A: three join, two mark, alice wins at 1:05. Room B: two join, dave marks once."""
    a, b = "room-a", "room-b"
    return [
        _ev(a, 1, "game_created", -60, name="Room A", gridSize=3),
        _ev(a, 2, "player_joined", -50, nickname="alice"),
        _ev(a, 3, "player_joined", -40, nickname="bob"),
        _ev(a, 4, "player_joined", -30, nickname="carol"),
        _ev(a, 5, "state_changed", 0, previousState="open", newState="playing", reason="go"),
        _ev(a, 6, "word_marked", 10, nickname="alice", points=10, marks=1),
        _ev(a, 7, "word_marked", 20, nickname="bob", points=10, marks=1),
        _ev(a, 8, "word_marked", 50, nickname="alice", points=20, marks=2),
        _ev(a, 9, "word_marked", 65, nickname="alice", points=30, marks=3),
        _ev(a, 10, "bingo_claimed", 65, nickname="alice"),
        _ev(a, 11, "state_changed", 65, previousState="playing", newState="bingo", reason="c"),
        _ev(
            a,
            12,
            "state_changed",
            70,
            previousState="bingo",
            newState="ended",
            reason="ok",
            winner="alice",
        ),
        _ev(b, 1, "game_created", -60, name="Room B", gridSize=4),
        _ev(b, 2, "player_joined", -20, nickname="dave"),
        _ev(b, 3, "player_joined", -10, nickname="erin"),
        _ev(b, 4, "state_changed", 0, previousState="open", newState="playing", reason="go"),
        _ev(b, 5, "word_marked", 30, nickname="dave", points=10, marks=1),
        _ev(b, 6, "state_changed", 120, previousState="playing", newState="ended", reason="up"),
    ]


@pytest.mark.slow
def test_a_jsonl_log_written_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in _hand_made_log()))
    results, output_dir = _run(tmp_path, events=str(path), freq="1min")

    assert results["source"] == str(path)
    assert results["games"] == 2
    assert results["events"] == 18
    assert results["marks_by_game"] == {"room-a": 4, "room-b": 1}
    assert results["funnel"] == {
        "room-a": {"joined": 3, "marked": 2, "claimed": 1, "won": 1},
        "room-b": {"joined": 2, "marked": 1, "claimed": 0, "won": 0},
    }
    assert results["funnel_totals"] == {"joined": 5, "marked": 3, "claimed": 1, "won": 1}
    # 10:00 minute: alice and bob in A, dave in B; 10:01: alice alone.
    assert results["active_players_peak"] == 3
    assert results["active_players_peak_by_game"] == {"room-a": 2, "room-b": 1}
    assert results["time_to_first_bingo_s"] == {"room-a": 65.0, "room-b": None}
    assert results["top_words"] == []  # no scenario, and events carry no words
    exported = [json.loads(x) for x in (output_dir / "events.jsonl").read_text().splitlines()]
    assert exported == _hand_made_log()
