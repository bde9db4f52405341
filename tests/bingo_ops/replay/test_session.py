"""Replay sessions on real local stacks: the stack's record equals the replay, seeds repeat."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bingo_ops.analytics.frames import read_events_jsonl
from bingo_ops.client.http import BingoHttp
from bingo_ops.deploy.stack import open_stack
from bingo_ops.notebooks.outputs import save_results
from bingo_ops.replay import session
from bingo_ops.replay.scenario import ScenarioSpec, generate, summary, write_jsonl

SPEED = 60.0


def _spec(seed: int = 3, *, bingo_claims: bool = True) -> ScenarioSpec:
    return session.conference_spec(
        games=2,
        players=6,
        boards=1,
        grid_size=3,
        marks_per_player_per_minute=30.0,
        duration_s=20.0,
        seed=seed,
        bingo_claims=bingo_claims,
    )


async def _read_log(outputs: dict[str, Any], token: str, game_ids: list[str]) -> list[Any]:
    found = []
    async with BingoHttp(outputs["httpUrl"], token=token) as admin:
        for gid in game_ids:
            found.extend({**e, "gameId": gid} for e in await admin.all_events(gid))
    return found


@pytest.mark.slow
def test_a_session_records_exactly_what_it_replayed(tmp_path: Path) -> None:
    spec = _spec()
    with open_stack("") as handle:
        result = session.run_session(
            handle, spec, speed=SPEED, output_dir=tmp_path / "out", progress=False
        )
        game_ids = [result.replay.games[i] for i in sorted(result.replay.games)]
        log = asyncio.run(_read_log(handle.outputs, handle.admin_token(), game_ids))

    # The files: the scenario as generated here, the log as the stack serves it.
    reference = tmp_path / "reference.jsonl"
    write_jsonl(generate(spec), reference, spec)
    assert result.scenario.path.read_bytes() == reference.read_bytes()
    assert read_events_jsonl(result.events_path) == log == result.events
    # The counts equal the replayed log.
    replay = result.replay
    assert replay.errors == {}
    types = Counter(e["type"] for e in log)
    assert types["word_marked"] == replay.marks_ok > 0
    assert types["player_joined"] == summary(result.scenario.actions)["counts"]["join"] == 6
    assert types["bingo_claimed"] == replay.claims_sent
    assert result.checks() == {"marks": True, "joins": True, "claims": True, "ended": True}
    # Per game, counted independently from the log.
    for row in result.recorded:
        mine = [e for e in log if e["gameId"] == row["gameId"]]
        assert row["gameId"] == result.replay.games[row["game"]]
        assert row["events"] == len(mine)
        assert row["marks"] == sum(e["type"] == "word_marked" for e in mine)
        assert row["players"] == len(
            {e["data"]["nickname"] for e in mine if e["type"] == "player_joined"}
        )
        last_state = [e["data"]["newState"] for e in mine if e["type"] == "state_changed"][-1]
        assert row["final_state"] == last_state == "ended"
    for row in result.comparison:
        assert row["scenario_joins"] == row["recorded_joins"] == 3
        # Marks fall short of the model's only when a real card fills up first.
        assert row["recorded_marks"] <= row["scenario_marks"]
    assert sum(r["recorded_marks"] for r in result.comparison) + replay.skipped_marks == sum(
        r["scenario_marks"] for r in result.comparison
    )
    # results.json is plain JSON and carries the same counts.
    results = json.loads(save_results(tmp_path / "out", result.results()).read_text())
    assert results["recorded_totals"]["word_marked"] == replay.marks_ok
    assert results["scenario"]["counts"]["mark"] == sum(a.kind == "mark" for a in generate(spec))
    assert set(results["recorded"]) == set(game_ids)
    assert len(result.frame()) == len(log)


@pytest.mark.slow
def test_a_seed_gives_the_same_scenario_bytes_and_the_same_record_on_fresh_stacks(
    tmp_path: Path,
) -> None:
    # Without claims every count is the scenario's: claims depend on the cards the stack draws.
    spec = _spec(seed=8, bingo_claims=False)
    first = session.prepare_scenario(spec, tmp_path / "a")
    second = session.prepare_scenario("", tmp_path / "b", spec=_spec(8, bingo_claims=False))
    other = session.prepare_scenario(_spec(9, bingo_claims=False), tmp_path / "c")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path.read_bytes() != other.path.read_bytes()

    def recorded(folder: str) -> list[dict[str, Any]]:
        with open_stack("") as handle:
            # Replay the file, as a notebook given `scenario=PATH` does.
            result = session.run_session(
                handle, first.path, speed=SPEED, output_dir=tmp_path / folder, progress=False
            )
        assert result.scenario.spec == spec
        assert result.checks()["marks"]
        return [{k: v for k, v in row.items() if k != "gameId"} for row in result.recorded]

    one, two = recorded("run1"), recorded("run2")
    assert one == two
    assert [row["marks"] for row in one] == [g["marks"] for g in first.by_game()]
    assert all(row["claims"] == 0 and row["final_state"] == "ended" for row in one)


def test_the_demo_conference_is_small_but_lively() -> None:
    spec = session.demo_conference_spec()
    games = session.scenario_by_game(generate(spec))
    assert spec.games == len(games) >= 2
    assert all(g["joins"] >= 3 and g["marks"] >= 10 and g["claims"] == 1 for g in games)
    assert spec.boards >= spec.games
    # About ten seconds at the demo speed.
    assert summary(generate(spec))["duration_s"] / session.DEMO_SPEED <= 15


def test_a_scenario_needs_a_file_or_a_spec(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scenario file or a spec"):
        session.prepare_scenario("", tmp_path)
    with pytest.raises(FileNotFoundError):
        session.prepare_scenario(tmp_path / "nope.jsonl", tmp_path)


@pytest.mark.slow
def test_engagement_with_no_source_replays_on_a_fresh_stack(tmp_path: Path) -> None:
    log = session.load_engagement(
        "", "", "", output_dir=tmp_path, spec=_spec(seed=4), speed=SPEED, progress=False
    )
    assert log.session is not None
    assert log.events == log.session.events == read_events_jsonl(log.events_path)
    assert log.scenario_path == log.session.scenario.path
    results = log.results(freq="10s")
    marks = Counter(e["gameId"] for e in log.events if e["type"] == "word_marked")
    assert results["marks_by_game"] == dict(marks)
    assert results["funnel_totals"]["joined"] == 6
    words = Counter(a.data["word"] for a in log.session.scenario.actions if a.kind == "mark")
    top = sorted(words.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert [(w["word"], w["marks"]) for w in results["top_words"]] == top
