"""Event-log export against real stacks: the local stack over HTTP, and a DynamoDB table (moto)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from backend.adapters.store_dynamodb import table_definition, time_to_live
from bingo_ops.analytics.frames import read_events_jsonl
from bingo_ops.client.http import BingoHttp
from bingo_ops.deploy.stack import open_stack
from bingo_ops.emulator.server import LocalStack, StackOptions
from bingo_ops.replay import export
from bingo_ops.replay.replayer import ReplaySummary, replay
from bingo_ops.replay.scenario import Action, ScenarioSpec, generate

SPEC = ScenarioSpec(
    games=2,
    grid_size=3,
    players=6,
    boards=1,
    marks_per_player_per_minute=30.0,
    join_window_s=4.0,
    duration_s=20.0,
    verify_delay_s=1.0,
    seed=5,
)
SPEED = 60.0


async def _independent_log(http_url: str, token: str, game_ids: list[str]) -> list[dict[str, Any]]:
    """The log read route by route, as a client would, each event tagged with its game."""
    found = []
    async with BingoHttp(http_url, token=token) as admin:
        for gid in game_ids:
            found.extend({**e, "gameId": gid} for e in await admin.all_events(gid))
    return found


def _types(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["type"] for e in events)


@pytest.mark.slow
def test_a_replayed_stack_exports_every_event_it_recorded(tmp_path: Path) -> None:
    actions = generate(SPEC)
    with open_stack("") as handle:
        token = handle.admin_token()
        summary = asyncio.run(
            replay(actions, handle.outputs, admin_token=token, speed=SPEED, progress=False)
        )
        game_ids = [summary.games[i] for i in sorted(summary.games)]

        # A game still open after the replay: only `GET /games/current` lists it.
        async def open_game() -> str:
            async with BingoHttp(handle.outputs["httpUrl"], token=token) as admin:
                return str((await admin.create_game(name="later", grid_size=3))["gameId"])

        later = asyncio.run(open_game())
        expected = asyncio.run(
            _independent_log(handle.outputs["httpUrl"], token, [*game_ids, later])
        )
        listed = export.load_events(handle)  # a public token, games listed by the API
        outputs_file = tmp_path / "outputs.json"
        outputs_file.write_text(json.dumps(handle.outputs))
        from_file = export.load_events(str(outputs_file))
        written = export.export_events(handle, tmp_path / "log" / "events.jsonl")

    assert summary.errors == {}
    assert listed == expected
    assert from_file == expected
    assert written == expected
    # The counts equal what the replay did.
    replayed = [e for e in listed if e["gameId"] in game_ids]
    assert _types(replayed)["word_marked"] == summary.marks_ok > 0
    assert _types(replayed)["player_joined"] == sum(a.kind == "join" for a in actions)
    assert _types(replayed)["game_created"] == SPEC.games
    assert [e for e in listed if e["gameId"] == later] == [
        e for e in expected if e["gameId"] == later
    ]
    assert _types([e for e in listed if e["gameId"] == later]) == {"game_created": 1}
    # JSONL round trip, through the analytics reader and through `load_events`.
    path = tmp_path / "log" / "events.jsonl"
    assert read_events_jsonl(path) == expected
    assert export.load_events(path) == expected
    assert export.load_events(path, game_ids=[later]) == [
        e for e in expected if e["gameId"] == later
    ]
    frame = export.load_events_frame(path)
    assert len(frame) == len(expected)
    assert set(frame["gameId"]) == {*game_ids, later}
    assert (frame["type"] == "word_marked").sum() == summary.marks_ok


def test_explicit_game_ids_are_exported_in_that_order(tmp_path: Path) -> None:
    with open_stack("") as handle:
        token = handle.admin_token()

        async def two_games() -> list[str]:
            async with BingoHttp(handle.outputs["httpUrl"], token=token) as admin:
                return [
                    str((await admin.create_game(name=n, grid_size=3))["gameId"])
                    for n in ("first", "second")
                ]

        first, second = asyncio.run(two_games())
        events = export.stack_events(handle, token=token, game_ids=[second, first])
    assert [(e["gameId"], e["seq"], e["type"]) for e in events] == [
        (second, 1, "game_created"),
        (first, 1, "game_created"),
    ]
    assert [e["data"]["name"] for e in events] == ["second", "first"]


def test_bad_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no event source"):
        export.load_events("  ")
    with pytest.raises(ValueError, match="table name"):
        export.load_events("dynamodb:")
    with pytest.raises(FileNotFoundError):
        export.load_events(tmp_path / "missing.jsonl")


@pytest.mark.slow
def test_a_dynamodb_table_exports_the_same_log_as_the_stack_over_it(
    aws: dict[str, str], tmp_path: Path
) -> None:
    table = "bingo-export"
    client = boto3.client("dynamodb")
    client.create_table(**table_definition(table))
    client.update_time_to_live(**time_to_live(table))
    options = StackOptions(
        state_dir=tmp_path / "stack",
        http_port=0,
        ws_port=0,
        store_env={
            "BINGO_STORE": "dynamodb",
            "BINGO_TABLE": table,
            "AWS_REGION": aws["AWS_REGION"],
        },
    )
    # No WebSockets: moto does not make concurrent requests atomic (see
    # tests/backend/adapters/conftest.py), so the replay's requests go one at a time.
    spec = ScenarioSpec(**{**SPEC.to_dict(), "boards": 0, "players": 4})
    actions = generate(spec)
    # One more game, left running: the HTTP API does not list it, the table does.
    extra = [
        Action(0.0, "create_game", 9, "organiser", {"grid_size": 3}),
        Action(0.0, "start_game", 9, "organiser"),
    ]

    async def run() -> tuple[ReplaySummary, list[dict[str, Any]]]:
        async with LocalStack(options) as stack:
            summary = await replay(
                [*actions, *extra],
                stack.outputs,
                admin_token=stack.admin_token(),
                speed=SPEED,
                connect_players=False,
                progress=False,
            )
            game_ids = [summary.games[i] for i in sorted(summary.games)]
            http = await export.fetch_stack_events(stack.outputs, game_ids=game_ids)
        return summary, http

    summary, over_http = asyncio.run(asyncio.wait_for(run(), timeout=100))
    from_table = export.load_events(f"dynamodb:{table}")

    assert summary.errors == {}
    by_game = lambda events: {  # noqa: E731
        gid: [e for e in events if e["gameId"] == gid] for gid in summary.games.values()
    }
    assert by_game(from_table) == by_game(over_http)
    assert len(from_table) == len(over_http)
    assert {e["gameId"] for e in from_table} == set(summary.games.values())
    assert _types(from_table)["word_marked"] == summary.marks_ok > 0
    assert _types(from_table)["player_joined"] == spec.players
    # Listed oldest first: the first created game's log comes first.
    assert from_table[0]["gameId"] == summary.games[0]
    # A game's subset, and the same reads through the table helper.
    assert (
        export.table_events(table, game_ids=[summary.games[9]])
        == by_game(over_http)[summary.games[9]]
    )
