"""A whole game through the real handlers on the AWS adapters: DynamoDB (a moto server over
HTTP) for storage and the boto3 management API adapter for posts, against the emulator's
own `@connections` endpoint."""

from __future__ import annotations

import asyncio
from pathlib import Path

import boto3

from backend.adapters.store_dynamodb import table_definition, time_to_live
from bingo_ops.client import BingoClient, BingoHttp, TokenCache
from bingo_ops.emulator.server import LocalStack, StackOptions


def test_a_whole_game_on_dynamodb_with_posts_through_the_management_api(
    aws: dict[str, str], tmp_path: Path
) -> None:
    table = "bingo-e2e"
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(**table_definition(table))
    dynamodb.update_time_to_live(**time_to_live(table))
    store_env = {"BINGO_STORE": "dynamodb", "BINGO_TABLE": table, "AWS_REGION": aws["AWS_REGION"]}
    options = StackOptions(
        state_dir=tmp_path / "stack",
        http_port=0,
        ws_port=0,
        management_api="http",
        store_env=store_env,
    )

    async def play() -> str:
        async with LocalStack(options) as stack:
            urls = stack.outputs
            async with BingoHttp(urls["httpUrl"], token=stack.admin_token()) as admin:
                game = await admin.create_game(name="Room A", grid_size=3)
                gid = game["gameId"]
                cache = TokenCache(tmp_path / "cache")
                board = BingoClient.board(urls["httpUrl"], urls["wsUrl"], games=[gid], cache=cache)
                board.start()
                await board.wait_connected(timeout=20)
                anonymous = admin.with_token(None)
                alice = admin.with_token((await anonymous.join("alice", gid))["token"])
                bob = admin.with_token((await anonymous.join("bob", gid))["token"])
                await admin.change_state(gid, "playing", "go")
                card = (await alice.card(gid))["cells"]
                for word in card[:3]:  # the top row: a line on a 3x3 card
                    await alice.mark(gid, word)
                bob_word = next(w for w in (await bob.card(gid))["cells"] if w)
                await bob.mark(gid, bob_word)
                await alice.claim_bingo(gid)
                await admin.change_state(gid, "ended", "verified")

                def finished(state: object) -> bool:
                    view = board.state.game
                    return view is not None and view.winner == "alice"

                await board.wait_for(finished, timeout=20)
                server_events = await admin.all_events(gid)
                server_board = (await admin.leaderboard(gid))["leaderboard"]
                view = board.state.game
                assert view is not None
                assert [e["seq"] for e in view.events] == [e["seq"] for e in server_events]
                assert [(r["nickname"], r["points"]) for r in view.leaderboard] == [
                    (r["nickname"], r["points"]) for r in server_board
                ]
                assert server_board[0] == {**server_board[0], "nickname": "alice", "points": 30}
                await board.close()
            posts = stack.meter.snapshot()["managementApi"]
            # Every push went through boto3 to the emulator's @connections endpoint.
            assert posts.get("PostToConnection 200", 0) >= len(server_events)
            return gid

    gid = asyncio.run(asyncio.wait_for(play(), timeout=120))
    # The game lives in the DynamoDB table (not in the state dir's SQLite file).
    item = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": f"GAME#{gid}"}, "sk": {"S": "GAME"}}, ConsistentRead=True
    )["Item"]
    assert item["state"]["S"] == "ended"
