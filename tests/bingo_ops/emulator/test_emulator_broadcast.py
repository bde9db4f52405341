"""Both broadcast paths: handlers post in-process, or through backend's boto3 adapter over HTTP.

In `http` mode a broadcast takes the AWS code path end to end: the handler's
`ManagementApiGateway` calls this stack's `@connections`, and a 410 there is what makes the
service forget a connection.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import StartStack
from gateway_kit import (
    WORDS,
    assert_silent,
    http_api,
    new_connection_id,
    recv_frames,
    subscribe,
    wait_until,
    ws_client,
)

from backend import wiring
from backend.adapters.gateway_management_api import management_endpoint
from backend.domain.model import Connection
from backend.services.context import CONNECTION_TTL_S

MODES = ("inprocess", "http")


def _stale(game_id: str, count: int, now: float) -> list[str]:
    """Connection and subscription rows for ids that are not open (their $disconnect was lost)."""
    store = wiring.deps().store
    ids = [f"stale{n:04d}AAAAAAAA=" for n in range(count)]
    for cid in ids:
        store.put_connection(
            Connection(cid, "public", f"gone-{cid}", now - 60, now + CONNECTION_TTL_S)
        )
        store.subscribe(game_id, cid, now=now - 60, expires_at=now + CONNECTION_TTL_S)
    return ids


def test_management_endpoint_turns_the_wss_url_into_https() -> None:
    wss = "wss://abc.execute-api.eu-west-1.amazonaws.com/prod/"
    assert management_endpoint(wss) == "https://abc.execute-api.eu-west-1.amazonaws.com/prod"


@pytest.mark.parametrize("mode", MODES)
def test_a_players_mark_reaches_a_subscribed_board(start_stack: StartStack, mode: str) -> None:
    async def scenario() -> None:
        async with start_stack(management_api=mode) as stack:
            async with http_api(stack) as api:
                game_id = await api.create_game()
                alice = await api.join(game_id, "alice")
                board = await api.public_token()
                async with ws_client(stack, board) as ws:
                    await subscribe(ws, game_id)
                    marked = await api.mark(game_id, alice, WORDS[0])
                    activity, update = await recv_frames(ws, 2)
                    assert activity["type"] == "activity_event"
                    assert activity["seq"] == marked["seq"]
                    assert activity["event"]["type"] == "word_marked"
                    assert activity["event"]["data"]["nickname"] == "alice"
                    assert update["type"] == "leaderboard_update"
                    assert update["leaderboard"][0]["nickname"] == "alice"
                    assert update["leaderboard"][0]["marks"] == 1
                    await assert_silent(ws, 0.1)
            calls = stack.meter.snapshot()["managementApi"]
            # subscribed + leaderboard on subscribe, then the event and the leaderboard
            assert calls == {"PostToConnection 200": 4}

    asyncio.run(scenario())


def test_http_mode_forgets_a_stale_subscription_after_one_broadcast(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack(management_api="http") as stack, http_api(stack) as api:
            game_id = await api.create_game()
            alice = await api.join(game_id, "alice")
            board = await api.public_token()
            async with ws_client(stack, board) as ws:
                await subscribe(ws, game_id)
                live = await new_connection_id(stack, set())
                (stale,) = _stale(game_id, 1, time.time())
                store = wiring.deps().store
                assert sorted(store.subscribers(game_id, now=time.time())) == sorted([live, stale])
                await api.mark(game_id, alice, WORDS[0])
                await recv_frames(ws, 2)
                assert store.subscribers(game_id, now=time.time()) == [live]
                assert store.get_connection(stale, now=time.time()) is None
                # One 410 was enough: the leaderboard that followed skipped it.
                calls = stack.meter.snapshot()["managementApi"]
                assert calls["PostToConnection 410"] == 1

                await api.mark(game_id, alice, WORDS[1])
                await recv_frames(ws, 2)
                assert stack.meter.snapshot()["managementApi"]["PostToConnection 410"] == 1

    asyncio.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_one_broadcast_cleans_200_stale_connections(start_stack: StartStack, mode: str) -> None:
    async def scenario() -> None:
        async with start_stack(management_api=mode) as stack, http_api(stack) as api:
            game_id = await api.create_game()
            alice = await api.join(game_id, "alice")
            board = await api.public_token()
            async with (
                ws_client(stack, board) as one,
                ws_client(stack, board) as two,
                ws_client(stack, board) as three,
            ):
                clients = (one, two, three)
                for ws in clients:
                    await subscribe(ws, game_id)
                live = {c.connection_id for c in stack.registry.all()}
                assert len(live) == 3
                stale = _stale(game_id, 200, time.time())
                store = wiring.deps().store
                assert len(store.subscribers(game_id, now=time.time())) == 203

                marked = await api.mark(game_id, alice, WORDS[0])
                for ws in clients:
                    activity, update = await recv_frames(ws, 2, timeout=10)
                    assert activity["seq"] == marked["seq"]
                    assert update["type"] == "leaderboard_update"
                assert set(store.subscribers(game_id, now=time.time())) == live
                assert all(store.get_connection(c, now=time.time()) is None for c in stale)
                calls = stack.meter.snapshot()["managementApi"]
                assert calls["PostToConnection 410"] == 200

    asyncio.run(scenario())


def test_a_closed_clients_subscription_goes_with_its_disconnect(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack(management_api="http") as stack, http_api(stack) as api:
            game_id = await api.create_game()
            alice = await api.join(game_id, "alice")
            board = await api.public_token()
            known: set[str] = set()
            async with ws_client(stack, board) as stays:
                await subscribe(stays, game_id)
                staying = await new_connection_id(stack, known)
                async with ws_client(stack, board) as leaves:
                    await subscribe(leaves, game_id)
                    await new_connection_id(stack, known)
                store = wiring.deps().store
                await wait_until(
                    lambda: store.subscribers(game_id, now=time.time()) == [staying],
                    what="$disconnect to forget the subscription",
                )
                await api.mark(game_id, alice, WORDS[0])
                await recv_frames(stays, 2)
                assert "PostToConnection 410" not in stack.meter.snapshot()["managementApi"]

    asyncio.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_post_each_gives_every_connection_its_own_message_in_one_call(
    start_stack: StartStack, mode: str
) -> None:
    async def scenario() -> None:
        async with start_stack(management_api=mode) as stack, http_api(stack) as api:
            board = await api.public_token()
            async with ws_client(stack, board) as one, ws_client(stack, board) as two:
                await wait_until(lambda: len(stack.registry.all()) == 2, what="two connections")
                ids = sorted(c.connection_id for c in stack.registry.all())
                gone = "goneGoneGone0000="  # never connected: 410
                messages = [(cid, f'{{"for": "{cid}"}}'.encode()) for cid in ids]
                gateway = wiring.deps().gateway
                # Handlers call the gateway from worker threads, never from the loop.
                delivery = await asyncio.to_thread(
                    gateway.post_each, [*messages, (gone, b'{"for": "nobody"}')]
                )

                assert sorted(delivery.delivered) == ids
                assert delivery.gone == (gone,)
                received = [(await recv_frames(ws, 1, timeout=10))[0] for ws in (one, two)]
                assert sorted(r["for"] for r in received) == ids
                assert len({r["for"] for r in received}) == 2, "each its own message"
                for ws in (one, two):
                    await assert_silent(ws, 0.2)

    asyncio.run(scenario())
