"""Stream fan-out on the local stack: broadcasters run from the emulated DynamoDB stream.

With `fanout="stream"` the mark handler only writes; `broadcast_boards` and
`broadcast_players` run from event source mappings on the change log (or, on a DynamoDB table
of a moto server, on the table's own stream), each with its own batching window. Real loopback
WebSocket clients and HTTP requests throughout; counts and orders are asserted, never durations.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import moto_kit
import pytest
from conftest import StartStack
from gateway_kit import (
    WORDS,
    Api,
    http_api,
    invocations,
    new_connection_id,
    recv_json,
    running_stack,
    wait_until,
    ws_client,
)
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from backend import wiring
from backend.adapters.store_dynamodb import table_definition
from backend.ports.gateway import ConnectionGateway, Delivery
from bingo_ops.client.policy import Backoff
from bingo_ops.client.ws import BingoClient
from bingo_ops.deploy.resources import STREAM_SPECIFICATION
from bingo_ops.emulator.server import BOARDS_FUNCTION, PLAYERS_FUNCTION, POST_FUNCTION, LocalStack

# Small windows keep the tests quick; the players' is longer, as in production.
STREAM: dict[str, Any] = {"fanout": "stream", "board_window_s": 0.1, "player_window_s": 0.5}
SETTLE_S = 10.0  # how long a test waits for the trailing update at most (never asserted)
IDLE_S = 1.0


class Listener:
    """Every frame one raw WebSocket receives, read in the background."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.frames: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                self.frames.append(json.loads(raw))

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The frames of one `type`, in arrival order."""
        return [f for f in self.frames if f.get("type") == kind]

    def leaderboard(self) -> dict[str, Any] | None:
        """The `leaderboard_update` with the highest seq (the last of those to arrive).

        Not simply the last to arrive: inline, concurrent marks broadcast from concurrent
        invocations, whose posts may overtake each other, as clients know (see `policy`).
        """
        updates = self.of("leaderboard_update")
        return max(reversed(updates), key=lambda u: int(u["seq"])) if updates else None

    def leaderboard_seq(self) -> int:
        """The highest seq of any `leaderboard_update` (-1 before any)."""
        last = self.leaderboard()
        return -1 if last is None else int(last["seq"])

    def feed_seqs(self) -> list[int]:
        """Seqs of every event received, from batches or single messages, in arrival order."""
        seqs: list[int] = []
        for frame in self.frames:
            if frame.get("type") == "activity_batch":
                seqs.extend(int(e["seq"]) for e in frame["events"])
            elif frame.get("type") in ("activity_event", "game_state_changed"):
                seqs.append(int(frame["seq"]))
        return seqs

    async def stop(self) -> None:
        """Stop reading."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@asynccontextmanager
async def listening(
    stack: LocalStack, game_id: str, tokens: dict[str, str], *, feed: bool | None = None
) -> AsyncIterator[dict[str, Listener]]:
    """A subscribed raw WebSocket per token, each recorded by a `Listener` (by name)."""
    async with contextlib.AsyncExitStack() as stack_of:
        listeners: dict[str, Listener] = {}
        for name, token in tokens.items():
            ws = await stack_of.enter_async_context(ws_client(stack, token))
            request: dict[str, Any] = {"action": "subscribe", "gameId": game_id}
            if feed is not None:
                request["feed"] = feed
            await ws.send(json.dumps(request))
            subscribed = await recv_json(ws)
            assert subscribed["type"] == "subscribed", subscribed
            listeners[name] = Listener(ws, name)
        try:
            yield listeners
        finally:
            for listener in listeners.values():
                await listener.stop()


async def _players(api: Api, game_id: str, count: int) -> dict[str, str]:
    return {f"p{n:02d}": await api.join(game_id, f"p{n:02d}") for n in range(count)}


async def _burst(api: Api, game_id: str, marks: Sequence[tuple[str, str]]) -> int:
    """Send every (token, word) mark at once; returns the game's last seq afterwards."""
    replies = await asyncio.gather(*(api.mark(game_id, token, word) for token, word in marks))
    return max(int(r["seq"]) for r in replies)


async def _settled(listeners: Sequence[Listener], seq: int) -> None:
    await wait_until(
        lambda: all(listener.leaderboard_seq() >= seq for listener in listeners),
        timeout=SETTLE_S,
        what=f"every client's leaderboard to reach seq {seq}",
    )


async def _get(api: Api, path: str, token: str) -> dict[str, Any]:
    response = await api.call("GET", path, token=token)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _caught_up(stack: LocalStack) -> None:
    """Wait until every mapping has handed every change so far to its function."""
    changes = getattr(wiring.deps().store, "last_change_id", lambda: 0)()

    def done() -> bool:
        return all(m.stats.records + m.stats.skipped_records >= changes for m in stack.mappings)

    await wait_until(done, timeout=SETTLE_S, what="the stream to catch up")


def _rows(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["rank"], r["nickname"], r["points"], r["marks"]) for r in rows]


@pytest.mark.slow
def test_every_client_ends_with_the_final_leaderboard_and_idle_sends_nothing(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack(**STREAM) as stack, http_api(stack) as api:
            game_id = await api.create_game()
            players = await _players(api, game_id, 4)
            tokens = {"board": await api.public_token(), **players}
            async with listening(stack, game_id, tokens) as listeners:
                marks = [(t, w) for t in players.values() for w in WORDS[:4]]
                last_seq = await _burst(api, game_id, marks)
                await _settled(list(listeners.values()), last_seq)

                reader = players["p00"]
                game = await _get(api, f"/games/{game_id}", reader)
                assert game["seq"] == last_seq  # nothing was written after the burst
                final = await _get(api, f"/games/{game_id}/leaderboard", reader)
                for listener in listeners.values():
                    update = listener.leaderboard()
                    assert update is not None
                    # The last update came after the last mark: it is as of the final seq.
                    assert update["seq"] == last_seq, listener.name
                    assert _rows(update["leaderboard"]) == _rows(final["leaderboard"])
                    assert update["totalPlayers"] == 4

                # Idle: no invocation, no message, for a while after the burst settled.
                await asyncio.sleep(stack.options.player_window_s)  # any window still open
                counts = {name: len(lis.frames) for name, lis in listeners.items()}
                sent = stack.meter.messages_out
                calls = [invocations(stack, f) for f in (BOARDS_FUNCTION, PLAYERS_FUNCTION)]
                await asyncio.sleep(IDLE_S)
                assert {name: len(lis.frames) for name, lis in listeners.items()} == counts
                assert stack.meter.messages_out == sent
                assert [invocations(stack, f) for f in (BOARDS_FUNCTION, PLAYERS_FUNCTION)] == (
                    calls
                )
                assert all(c >= 1 for c in calls)

    asyncio.run(scenario())


async def _player_updates(
    state_dir: Path, players: int, words: int, **options: Any
) -> tuple[list[int], int, LocalStack]:
    """Leaderboard updates each player received for a burst of `players * words` marks."""
    async with running_stack(state_dir, **options) as stack, http_api(stack) as api:
        game_id = await api.create_game()
        tokens = await _players(api, game_id, players)
        async with listening(stack, game_id, tokens) as listeners:
            # The setup's own window (the joins) closes first, so the burst starts a fresh one.
            await _caught_up(stack)
            start = (await _get(api, f"/games/{game_id}", next(iter(tokens.values()))))["seq"]
            marks = [(t, w) for w in WORDS[:words] for t in tokens.values()]
            last_seq = await _burst(api, game_id, marks)
            await _settled(list(listeners.values()), last_seq)
            # The burst's updates: those as of a seq after it began (so not the subscribe's).
            counts = [
                sum(1 for u in lis.of("leaderboard_update") if u["seq"] > start)
                for lis in listeners.values()
            ]
        return counts, len(marks), stack


@pytest.mark.slow
def test_a_players_window_coalesces_a_burst_that_inline_sends_mark_by_mark(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        stream = {**STREAM, "player_window_s": 1.0}
        coalesced, marks, stack = await _player_updates(tmp_path / "stream", 3, 4, **stream)
        assert marks == 12
        assert all(1 <= c <= 2 for c in coalesced), coalesced

        inline, marks, stack = await _player_updates(tmp_path / "inline", 3, 4)
        assert inline == [marks] * 3  # W = 0: one leaderboard per mark, to everyone
        functions = stack.meter.snapshot()["lambda"]["functions"]
        assert BOARDS_FUNCTION not in functions
        assert PLAYERS_FUNCTION not in functions
        assert POST_FUNCTION not in functions
        assert "eventSourceMappings" not in stack.meter.snapshot()

    asyncio.run(scenario())


@pytest.mark.slow
def test_boards_see_every_event_once_in_order_in_batches(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack(**STREAM) as stack, http_api(stack) as api:
            game_id = await api.create_game()
            players = await _players(api, game_id, 3)
            subscribed_at = (await _get(api, f"/games/{game_id}", players["p00"]))["seq"]
            board = await api.public_token()
            async with listening(stack, game_id, {"one": board, "two": board}) as listeners:
                last_seq = 0
                for word in WORDS[:4]:  # several windows' worth
                    last_seq = await _burst(api, game_id, [(t, word) for t in players.values()])
                await _settled(list(listeners.values()), last_seq)
                for listener in listeners.values():
                    batches = listener.of("activity_batch")
                    assert listener.of("activity_event") == []  # batches only
                    high = 0
                    for batch in batches:
                        seqs = [int(e["seq"]) for e in batch["events"]]
                        assert seqs == list(range(seqs[0], seqs[-1] + 1)), "contiguous"
                        assert batch["seq"] == seqs[-1]
                        # A window reads the events up to the game's seq when it runs, so the
                        # next one may repeat its tail (clients drop repeats by seq); it never
                        # skips one, nor goes back before what came already.
                        assert seqs[0] <= high + 1 or high == 0, "no gap"
                        assert seqs[-1] >= high, "never backwards"
                        high = seqs[-1]
                    seen = sorted(set(listener.feed_seqs()))
                    # A window may reach back before the subscription; from it on, nothing lacks.
                    assert [s for s in seen if s > subscribed_at] == list(
                        range(subscribed_at + 1, last_seq + 1)
                    )
                    assert len(batches) < last_seq - subscribed_at  # coalesced

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_board_that_drops_and_resumes_ends_with_the_whole_log(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack(**STREAM) as stack, http_api(stack) as api:
            game_id = await api.create_game()
            players = await _players(api, game_id, 3)
            board_token = await api.public_token()
            seen: list[int] = []

            def record(message: dict[str, Any]) -> None:
                if message.get("type") in ("activity_event", "game_state_changed"):
                    seen.append(int(message["seq"]))

            client = BingoClient(
                stack.outputs["wsUrl"],
                board_token,
                games=[game_id],
                kind="public",
                after_seq=0,
                backoff=Backoff(base=0.05, cap=0.2),
                ping_interval=None,
                on_message=record,
            )
            known = {c.connection_id for c in stack.registry.all()}
            async with client:
                await client.wait_connected(timeout=SETTLE_S)
                connection_id = await new_connection_id(stack, known)
                first = await _burst(api, game_id, [(t, WORDS[0]) for t in players.values()])
                await client.wait_for(lambda s: s.feeds[game_id].last_seq == first, SETTLE_S)

                # The gateway drops it (DELETE @connections); marks go on meanwhile.
                management = stack.outputs["managementUrl"]
                async with httpx.AsyncClient() as http:
                    dropped = await http.delete(f"{management}/@connections/{connection_id}")
                assert dropped.status_code == 204
                last = first
                for word in WORDS[1:3]:
                    last = await _burst(api, game_id, [(t, word) for t in players.values()])

                await client.wait_for(lambda s: s.feeds[game_id].last_seq == last, SETTLE_S)
                await client.wait_for(
                    lambda s: s.game is not None and s.game.leaderboard_seq == last, SETTLE_S
                )
                assert client.state.connections >= 2
            assert seen == list(range(1, last + 1))

    asyncio.run(scenario())


@pytest.mark.slow
def test_players_get_bounded_leaderboards_and_state_changes_but_no_feed(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack(**STREAM) as stack, http_api(stack) as api:
            game_id = await api.create_game()
            players = await _players(api, game_id, 13)  # more than the top 10 shown
            last_place = {"p12": players["p12"]}
            async with listening(stack, game_id, last_place, feed=False) as listeners:
                marks = [(t, WORDS[0]) for name, t in players.items() if name != "p12"]
                await _burst(api, game_id, marks)
                paused = await api.call(
                    "POST",
                    f"/admin/games/{game_id}/state",
                    {"state": "paused", "reason": "coffee"},
                    stack.admin_token(),
                )
                assert paused.status_code == 200, paused.text
                final_seq = int(paused.json()["seq"])
                listener = listeners["p12"]
                await _settled([listener], final_seq)

                update = listener.leaderboard()
                assert update is not None
                assert update["seq"] == final_seq
                rows = update["leaderboard"]
                assert update["totalPlayers"] == 13
                # The top 10, then their own row (13th, no marks) and the neighbour above it.
                assert [r["rank"] for r in rows] == [*range(1, 11), 11, 12, 13]
                own = [r for r in rows if r.get("isYou")]
                assert [(r["nickname"], r["rank"], r["points"]) for r in own] == [("p12", 13, 0)]
                # (The first window may reach back to the game's start, before the subscription.)
                changed = listener.of("game_state_changed")
                assert [(c["newState"], c["reason"]) for c in changed][-1] == ("paused", "coffee")
                kinds = {f["type"] for f in listener.frames}
                assert kinds == {"leaderboard_update", "game_state_changed"}

    asyncio.run(scenario())


class HeldGateway:
    """A gateway whose posts wait until released: a broadcaster stuck in its fan-out."""

    def __init__(self, inner: ConnectionGateway) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def post_many(self, connection_ids: Sequence[str], data: bytes) -> Delivery:
        """Post once released."""
        self.entered.set()
        self.release.wait(timeout=30)
        return self.inner.post_many(connection_ids, data)

    def post_each(self, messages: Sequence[tuple[str, bytes]]) -> Delivery:
        """Post once released."""
        self.entered.set()
        self.release.wait(timeout=30)
        return self.inner.post_each(messages)


def test_a_mark_does_not_wait_for_the_fan_out(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack(**STREAM) as stack, http_api(stack) as api:
            game_id = await api.create_game()
            alice = await api.join(game_id, "alice")
            board = await api.public_token()
            async with listening(stack, game_id, {"board": board}) as listeners:
                deps = wiring.deps()
                held = HeldGateway(deps.gateway)
                wiring.install(dataclasses.replace(deps, gateway=held))
                try:
                    await api.mark(game_id, alice, WORDS[0])
                    await wait_until(held.entered.is_set, timeout=SETTLE_S, what="a blocked post")
                    # The broadcaster is stuck in its post, and yet a mark is answered.
                    second = await api.mark(game_id, alice, WORDS[1])
                    assert not held.release.is_set()
                    assert listeners["board"].leaderboard_seq() < second["seq"]
                finally:
                    held.release.set()
                await _settled(list(listeners.values()), second["seq"])
                assert listeners["board"].feed_seqs()[-1] == second["seq"]

    asyncio.run(scenario())


def test_the_stack_reports_its_mappings_and_meters_the_broadcasters(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        options = {**STREAM, "post_jobs": True}
        async with start_stack(**options) as stack, http_api(stack) as api:
            assert stack.outputs["fanout"] == "stream"
            assert stack.outputs["postJobs"] is True
            assert (stack.outputs["boardWindowS"], stack.outputs["playerWindowS"]) == (0.1, 0.5)
            assert [m.name for m in stack.mappings] == [BOARDS_FUNCTION, PLAYERS_FUNCTION]
            assert [m.config.window_s for m in stack.mappings] == [0.1, 0.5]
            assert wiring.deps().fanout == "stream"
            assert invocations(stack, BOARDS_FUNCTION) == 0  # nothing written yet: idle

            game_id = await api.create_game()
            alice = await api.join(game_id, "alice")
            async with listening(stack, game_id, {"alice": alice}) as listeners:
                seq = await _burst(api, game_id, [(alice, WORDS[0])])
                await _settled(list(listeners.values()), seq)
                await wait_until(
                    lambda: invocations(stack, BOARDS_FUNCTION) >= 1, what="the boards' run"
                )
            async with httpx.AsyncClient() as http:
                served = (await http.get(stack.outputs["metricsUrl"])).json()
            functions = served["lambda"]["functions"]
            assert functions[BOARDS_FUNCTION]["invocations"] >= 1
            assert functions[PLAYERS_FUNCTION]["invocations"] >= 1
            # The players' broadcaster handed the game's posting to a job of its own, which
            # is what reached alice.
            assert wiring.deps().dispatcher is not None
            assert functions[POST_FUNCTION]["invocations"] >= 1
            mappings = served["eventSourceMappings"]
            # Every event reached both mappings: create, start, join, mark.
            assert mappings[BOARDS_FUNCTION]["records"] == mappings[PLAYERS_FUNCTION]["records"]
            assert mappings[PLAYERS_FUNCTION]["records"] == seq
        assert stack.mappings == []  # stopped with the stack

    asyncio.run(scenario())


def test_without_posting_jobs_the_players_broadcaster_posts_itself(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack(**STREAM, post_jobs=False) as stack, http_api(stack) as api:
            assert wiring.deps().dispatcher is None
            game_id = await api.create_game()
            alice = await api.join(game_id, "alice")
            async with listening(stack, game_id, {"alice": alice}) as listeners:
                seq = await _burst(api, game_id, [(alice, WORDS[0])])
                await _settled(list(listeners.values()), seq)
            functions = stack.meter.snapshot()["lambda"]["functions"]
            assert functions[PLAYERS_FUNCTION]["invocations"] >= 1
            assert POST_FUNCTION not in functions

    asyncio.run(scenario())


def _dynamodb_table(name: str, **stream: Any) -> dict[str, str]:
    """A table of the store's on the moto server; the `store_env` of a stack on it."""
    boto3.client("dynamodb").create_table(**table_definition(name), **stream)
    return {"BINGO_STORE": "dynamodb", "BINGO_TABLE": name, "AWS_REGION": moto_kit.REGION}


def test_a_mark_reaches_clients_through_a_dynamodb_tables_own_stream(
    aws: dict[str, str], tmp_path: Path
) -> None:
    # The table as the deployer creates it: with a KEYS_ONLY stream.
    store_env = _dynamodb_table("bingo-stream", StreamSpecification=dict(STREAM_SPECIFICATION))

    async def scenario() -> None:
        async with (
            running_stack(tmp_path, store_env=store_env, **STREAM) as stack,
            http_api(stack) as api,
        ):
            game_id = await api.create_game()
            alice = await api.join(game_id, "alice")
            board = await api.public_token()
            async with listening(stack, game_id, {"board": board, "alice": alice}) as listeners:
                seq = await _burst(api, game_id, [(alice, WORDS[0])])
                await _settled(list(listeners.values()), seq)
                for listener in listeners.values():
                    update = listener.leaderboard()
                    assert update is not None
                    assert [(r["nickname"], r["marks"]) for r in update["leaderboard"]] == [
                        ("alice", 1)
                    ]
            assert invocations(stack, BOARDS_FUNCTION) >= 1
            assert invocations(stack, PLAYERS_FUNCTION) >= 1
            table = boto3.client("dynamodb").describe_table(TableName="bingo-stream")["Table"]
            assert stack.outputs["streamArn"] == table["LatestStreamArn"]
            for mapping in stack.mappings:
                assert mapping.source.arn == table["LatestStreamArn"]
                # Every event reached both functions (create, start, join, mark); the other
                # items' writes are on the stream too, and the filter dropped them.
                assert mapping.stats.records == seq
                assert mapping.stats.filtered > 0

    asyncio.run(scenario())
    assert wiring._deps is None


def test_stream_fan_out_on_a_table_without_a_stream_says_to_enable_one(
    aws: dict[str, str], tmp_path: Path
) -> None:
    store_env = _dynamodb_table("bingo-no-stream")

    async def scenario() -> None:
        with pytest.raises(ValueError, match="'bingo-no-stream' has no stream") as raised:
            async with running_stack(tmp_path, fanout="stream", store_env=store_env):
                pass
        assert "enable a KEYS_ONLY stream" in str(raised.value)

    asyncio.run(scenario())
    assert wiring._deps is None
