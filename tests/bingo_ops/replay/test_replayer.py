"""The replayer against a local stack: marks, joins and claims land, boards follow, runs repeat."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bingo_ops.client.http import BingoHttp
from bingo_ops.emulator.server import LocalStack, StackOptions
from bingo_ops.replay.replayer import ReplaySummary, replay
from bingo_ops.replay.scenario import Action, ScenarioSpec, generate, read_jsonl, write_jsonl

SPEC = ScenarioSpec(
    games=1,
    grid_size=4,
    players=5,
    boards=1,
    marks_per_player_per_minute=30.0,
    join_curve="linear",
    join_window_s=5.0,
    duration_s=30.0,
    verify_delay_s=2.0,
    seed=11,
)
SPEED = 80.0


async def _replay_on_fresh_stack(
    state_dir: Path, actions: list[Action]
) -> tuple[ReplaySummary, dict[str, Any]]:
    """Replay on a new stack; return the summary and independent reads of game 0."""
    options = StackOptions(state_dir=state_dir, http_port=0, ws_port=0)
    async with LocalStack(options) as stack:
        summary = await replay(
            actions,
            stack.outputs,
            admin_token=stack.admin_token(),
            speed=SPEED,
            progress=False,
            cache_dir=state_dir / "client-cache",
        )
        async with BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as admin:
            gid = summary.games[0]
            reads = {
                "events": await admin.all_events(gid),
                "leaderboard": (await admin.leaderboard(gid))["leaderboard"],
                "game": await admin.game(gid),
            }
    return summary, reads


def _count(events: list[dict[str, Any]], kind: str) -> int:
    return sum(1 for e in events if e["type"] == kind)


def test_a_replay_lands_every_mark_join_and_claim_and_the_board_follows(tmp_path: Path) -> None:
    actions = generate(SPEC)
    summary, reads = asyncio.run(_replay_on_fresh_stack(tmp_path, actions))
    joins = sum(1 for a in actions if a.kind == "join")
    marks = sum(1 for a in actions if a.kind == "mark")

    assert summary.actions["join"] == joins == 5
    assert summary.actions["mark"] == marks
    assert summary.errors == {}
    assert summary.marks_sent + summary.skipped_marks == marks
    assert summary.marks_ok == summary.marks_sent > 0
    assert _count(reads["events"], "word_marked") == summary.marks_ok
    assert _count(reads["events"], "player_joined") == joins
    # A sent claim is accepted and verified; a skipped one leaves no claim event.
    claim_events = sum(1 for e in reads["events"] if "claim" in e["type"])
    assert (claim_events > 0) == (summary.claims_sent > 0)
    assert summary.claims_sent + summary.skipped_claims == summary.actions.get("claim", 0)
    if summary.actions.get("verify", 0) or summary.actions.get("end", 0):
        # Verified, or ended by the scenario even when its claim had no line on the real card.
        assert reads["game"]["state"] == "ended"
    # The board saw the final standings, as the server reports them afterwards.
    assert summary.boards_in_sync == {"board-01": True}
    board = [(r["nickname"], r["points"], r["marks"]) for r in summary.boards["board-01"]]
    server = [(r["nickname"], r["points"], r["marks"]) for r in reads["leaderboard"]]
    assert board == server
    assert sum(r["marks"] for r in reads["leaderboard"]) == summary.marks_ok
    assert summary.mark_latency_p95_ms >= summary.mark_latency_p50_ms > 0
    assert summary.wall_time_s < 15
    assert summary.as_dict()["games"] == {"0": summary.games[0]}


def test_the_same_scenario_file_replays_to_the_same_marks_on_fresh_stacks(tmp_path: Path) -> None:
    path = tmp_path / "scenario.jsonl"
    write_jsonl(generate(SPEC), path, SPEC)
    actions = read_jsonl(path)
    first, first_reads = asyncio.run(_replay_on_fresh_stack(tmp_path / "a", actions))
    second, second_reads = asyncio.run(_replay_on_fresh_stack(tmp_path / "b", actions))
    assert first.marks_ok == second.marks_ok > 0
    assert _count(first_reads["events"], "word_marked") == first.marks_ok
    assert _count(second_reads["events"], "word_marked") == second.marks_ok


def test_api_errors_are_counted_not_raised(tmp_path: Path) -> None:
    # A mark before the game is started, a join to a game never created, an unstarted end.
    actions = [
        Action(0.0, "create_game", 0, "organiser", {"grid_size": 3}),
        Action(0.0, "join", 0, "early", {}),
        Action(0.0, "mark", 0, "early", {"pick": 0, "word": "x"}),
        Action(0.0, "join", 7, "lost", {}),
        Action(0.01, "end", 0, "organiser"),
    ]

    async def run() -> ReplaySummary:
        options = StackOptions(state_dir=tmp_path, http_port=0, ws_port=0)
        async with LocalStack(options) as stack:
            return await replay(
                actions,
                stack.outputs,
                admin_token=stack.admin_token(),
                speed=1.0,
                connect_players=False,
                progress=True,  # the bar must not warn (warnings are errors here)
            )

    summary = asyncio.run(run())
    assert summary.actions == {"create_game": 1, "join": 2, "mark": 1, "end": 1}
    # An open game accepts no marks, and cannot go straight to `ended` either.
    assert summary.errors == {
        "game_not_accepting": 1,
        "unknown_game": 1,
        "invalid_transition": 1,
    }
    assert summary.marks_sent == 1
    assert summary.marks_ok == 0


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        asyncio.run(
            replay([], {"httpUrl": "http://x", "wsUrl": "ws://x"}, admin_token="t", speed=0)
        )


def test_polling_mode_polls_instead_of_connecting(tmp_path: Path) -> None:
    spec = ScenarioSpec(
        games=1,
        players=3,
        boards=1,
        marks_per_player_per_minute=30.0,
        join_window_s=0.5,
        duration_s=2.0,
        seed=4,
    )

    async def run() -> tuple[ReplaySummary, dict[str, Any], dict[str, Any]]:
        options = StackOptions(state_dir=tmp_path, http_port=0, ws_port=0)
        async with LocalStack(options) as stack:
            before = stack.meter.snapshot()
            summary = await replay(
                generate(spec),
                stack.outputs,
                admin_token=stack.admin_token(),
                speed=1.0,
                progress=False,
                poll_interval_s=0.5,
                cache_dir=tmp_path / "client-cache",
            )
            return summary, before, stack.meter.snapshot()

    summary, before, after = asyncio.run(run())
    assert summary.errors == {}
    # No device opened a WebSocket; every request the replay counted reached the HTTP API.
    assert after["websocket"]["connectionsOpened"] == before["websocket"]["connectionsOpened"]
    sent = sum(summary.http_requests.values())
    assert after["http"]["requests"] - before["http"]["requests"] == sent
    stream = summary.http_requests["GET /leaderboard/{id}/stream"]
    assert stream == summary.polls > 4  # 4 devices, polling from join to the end
    assert {s.mode for s in summary.spans} == {"polling"}
    assert len(summary.spans) == 4
    assert summary.boards_in_sync == {"board-01": True}
    assert summary.as_dict()["polls"] == summary.polls


def test_records_and_spans_of_a_push_replay(tmp_path: Path) -> None:
    actions = generate(SPEC)
    summary, reads = asyncio.run(_replay_on_fresh_stack(tmp_path, actions))
    assert [r.kind for r in summary.records] == [a.kind for a in sorted(actions, key=lambda a: a.t)]
    # Log entries the records say were added are the log the server kept.
    assert sum(r.emitted for r in summary.records) == len(reads["events"])
    assert {s.mode for s in summary.spans} == {"push"}
    assert len(summary.spans) == SPEC.players + SPEC.boards
    assert all(0 <= s.start_s <= s.end_s <= summary.wall_time_s for s in summary.spans)
    assert summary.polls == 0


def test_poll_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="poll_interval_s"):
        asyncio.run(
            replay(
                [], {"httpUrl": "http://x", "wsUrl": "ws://x"}, admin_token="t", poll_interval_s=0
            )
        )
