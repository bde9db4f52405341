"""notebooks/03_replay.ipynb, executed headlessly with papermill on a stack the test started.

results.json is checked against the scenario file as the test reads it and against the stack's
event log as the test fetches it over HTTP itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from notebook_kit import read_figure, run_notebook

from bingo_ops.client.http import BingoHttp
from bingo_ops.deploy.stack import StackHandle
from bingo_ops.replay.scenario import ACTION_KINDS, ScenarioSpec, generate, write_jsonl


def _stack_log(handle: StackHandle, game_ids: list[str]) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        found = []
        async with BingoHttp(handle.outputs["httpUrl"], token=handle.admin_token()) as admin:
            listed = [g["gameId"] for g in (await admin.history())["games"]]
            assert sorted(listed) == sorted(game_ids)  # a fresh stack: only the replay's games
            for gid in game_ids:
                found.extend({**e, "gameId": gid} for e in await admin.all_events(gid))
        return found

    return asyncio.run(read())


def _values(encoded: Any) -> list[Any]:
    """A figure JSON's array: plotly writes numeric arrays base64-encoded (`dtype`, `bdata`)."""
    if isinstance(encoded, dict):
        raw = base64.b64decode(encoded["bdata"])
        return list(np.frombuffer(raw, dtype=np.dtype(encoded["dtype"])))
    return list(encoded)


def _check_against_the_stack(
    results: dict[str, Any], output_dir: Path, handle: StackHandle
) -> list[dict[str, Any]]:
    """Compare results.json with the scenario file and the stack's own log; return the actions."""
    lines = (output_dir / "scenario.jsonl").read_text().splitlines()
    actions = [json.loads(line) for line in lines[1:]]
    kinds = Counter(a["kind"] for a in actions)
    assert results["scenario"]["counts"] == {k: kinds.get(k, 0) for k in ACTION_KINDS}

    games = results["replay"]["games"]
    assert sorted(games) == [str(i) for i in range(len({a["game"] for a in actions}))]
    log = _stack_log(handle, list(games.values()))
    exported = (output_dir / "events.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in exported] == log
    for index, gid in games.items():
        mine = [e for e in log if e["gameId"] == gid]
        types = Counter(e["type"] for e in mine)
        row = results["recorded"][gid]
        assert row["game"] == int(index)
        assert row["events"] == len(mine)
        assert {t: row[t] for t in types} == dict(types)
        assert row["players"] == sum(
            a["kind"] == "join" and a["game"] == int(index) for a in actions
        )
        ended = [e["data"] for e in mine if e["type"] == "state_changed"][-1]
        assert row["final_state"] == ended["newState"] == "ended"
        assert row["winner"] == ended.get("winner")
    types = Counter(e["type"] for e in log)
    assert results["recorded_totals"]["word_marked"] == types["word_marked"]
    assert types["word_marked"] == results["replay"]["marks_ok"] > 0
    assert types["player_joined"] == kinds["join"]
    assert types["bingo_claimed"] == results["replay"]["claims_sent"]
    assert results["checks"] == {"marks": True, "joins": True, "claims": True, "ended": True}
    assert results["replay"]["errors"] == {}
    figure = read_figure(output_dir, "marks_per_minute")
    assert sum(sum(_values(trace["y"])) for trace in figure["data"]) == types["word_marked"]
    return actions


@pytest.mark.slow
def test_a_generated_scenario_is_replayed_and_the_results_match_the_stacks_log(
    tmp_path: Path, started_stack: tuple[StackHandle, Path]
) -> None:
    handle, outputs = started_stack
    run = run_notebook(
        "03_replay",
        tmp_path,
        stack=str(outputs),
        games=2,
        players=6,
        boards=1,
        grid_size=3,
        marks_per_player_per_minute=30.0,
        duration_s=20.0,
        speed=40.0,
        seed=5,
    )
    results = run.results

    actions = _check_against_the_stack(results, run.output_dir, handle)
    spec = results["scenario"]["spec"]
    assert results["scenario"]["source"] == "generated"
    assert (spec["games"], spec["players"], spec["grid_size"], spec["seed"]) == (2, 6, 3, 5)
    assert sum(a["kind"] == "join" for a in actions) == 6
    assert results["speed"] == 40.0


@pytest.mark.slow
def test_a_scenario_file_is_replayed_as_written(
    tmp_path: Path, started_stack: tuple[StackHandle, Path]
) -> None:
    spec = ScenarioSpec(
        games=1,
        grid_size=4,
        players=4,
        boards=1,
        marks_per_player_per_minute=40.0,
        join_window_s=3.0,
        duration_s=15.0,
        verify_delay_s=1.0,
        seed=21,
    )
    scenario = tmp_path / "mine.jsonl"
    write_jsonl(generate(spec), scenario, spec)
    handle, outputs = started_stack
    run = run_notebook(
        "03_replay", tmp_path, stack=str(outputs), scenario=str(scenario), speed=30.0
    )
    results, output_dir = run.results, run.output_dir

    _check_against_the_stack(results, output_dir, handle)
    assert results["scenario"]["source"] == str(scenario)
    assert results["scenario"]["spec"] == spec.to_dict()
    assert (output_dir / "scenario.jsonl").read_bytes() == scenario.read_bytes()
