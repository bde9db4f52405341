"""Metering: what a scripted session is billed for, and the cold-start model on a fake clock.

Units as AWS bills them (https://aws.amazon.com/api-gateway/pricing/,
https://aws.amazon.com/lambda/pricing/): WebSocket messages in 32 KB units, connection-minutes,
HTTP API requests, Lambda invocations and milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from conftest import StartStack
from gateway_kit import (
    WORDS,
    fragments,
    function_meter,
    http_api,
    invocations,
    recv_frames,
    recv_json,
    upgrade_status,
    wait_until,
    ws_client,
    ws_url,
)
from websockets.asyncio.client import ClientConnection

from bingo_ops.emulator.metering import Meter, ws_units


async def _drain(ws: ClientConnection, quiet_s: float = 0.15) -> list[dict[str, Any]]:
    """Every frame that arrives until the connection has been quiet for `quiet_s`."""
    frames = []
    while True:
        try:
            frames.append(await recv_json(ws, timeout=quiet_s))
        except TimeoutError:
            return frames


def _shape(value: Any) -> Any:
    """The structure of a JSON document: its keys, recursively, with leaves reduced to types."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__ if not isinstance(value, int | float) else "number"


def test_a_scripted_session_is_metered_as_it_happened(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            started = time.monotonic()
            async with http_api(stack) as api:
                game_id = await api.create_game()
                alice = await api.join(game_id, "alice")
                await api.join(game_id, "bob")
                board = await api.public_token()
                assert (await api.call("GET", "/no/such/route")).status_code == 404

                assert await upgrade_status(stack.outputs["wsUrl"]) == 401
                assert await upgrade_status(ws_url(stack, "garbage")) == 401
                sent = 0
                async with ws_client(stack, board) as board_ws, ws_client(stack, alice) as alice_ws:
                    received = []
                    for ws in (board_ws, alice_ws):
                        await ws.send(json.dumps({"action": "subscribe", "gameId": game_id}))
                        sent += 1
                        received += await recv_frames(ws, 2)  # subscribed before any mark
                    await board_ws.send(json.dumps({"action": "ping"}))
                    await alice_ws.send(json.dumps({"action": "nope"}))
                    sent += 2
                    for word in WORDS[:3]:
                        await api.mark(game_id, alice, word)
                    received += await _drain(board_ws) + await _drain(alice_ws)
                await wait_until(lambda: invocations(stack, "ws_disconnect") == 2)
                elapsed = time.monotonic() - started
                snapshot = stack.meter.snapshot()

                # subscribed + leaderboard each, a pong, an error, 3 marks x 2 frames x 2 clients
                assert len(received) == 2 * 2 + 1 + 1 + 3 * 2 * 2
                ws = snapshot["websocket"]
                assert ws["messagesIn"] == sent
                assert ws["messageUnitsIn"] == sent
                assert ws["messagesOut"] == len(received)
                assert ws["connectionsOpened"] == 2
                assert ws["connectionsOpen"] == 0
                assert ws["connectionsRejected"] == {"401": 2}
                assert 0 < ws["connectionMinutes"] <= elapsed * 2 / 60

                functions = snapshot["lambda"]["functions"]
                http = functions["http_api"]
                assert http["invocations"] == api.requests == snapshot["http"]["requests"]
                # Counted per route key, as API Gateway's per-route metrics are.
                assert http["routes"] == {
                    "POST /admin/games": 1,
                    "POST /admin/games/{gameId}/state": 1,
                    "POST /join": 2,
                    "POST /public/token": 1,
                    "POST /games/{gameId}/marks": 3,
                    "unmatched": 1,
                }
                assert functions["ws_authorizer"]["invocations"] == 3
                assert functions["ws_connect"]["invocations"] == 2
                assert functions["ws_disconnect"]["invocations"] == 2
                assert functions["ws_message"]["routes"] == {
                    "subscribe": 2,
                    "ping": 1,
                    "$default": 1,
                }
                lam = snapshot["lambda"]
                assert lam["invocations"] == sum(f["invocations"] for f in functions.values())
                assert lam["billedMs"] >= lam["invocations"]  # at least 1 ms each
                assert 1 <= lam["coldStarts"] <= lam["invocations"]

                # The metrics endpoint serves the same document, and is not billed as a request.
                metrics = await api.client.get(stack.outputs["metricsUrl"])
                assert metrics.status_code == 200
                served = metrics.json()
                assert _shape(served) == _shape(stack.meter.snapshot())
                assert served["lambda"] == snapshot["lambda"]
                assert served["websocket"] == snapshot["websocket"]
                assert served["http"] == snapshot["http"]
                assert function_meter(stack, "http_api")["invocations"] == api.requests

    asyncio.run(scenario())


def test_the_metrics_url_is_served_over_plain_http(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with httpx.AsyncClient(timeout=3) as client:
                answer = await client.get(stack.outputs["metricsUrl"])
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/json"
            assert set(answer.json()) == {
                "elapsedSeconds",
                "lambda",
                "websocket",
                "http",
                "managementApi",
            }

    asyncio.run(scenario())


def test_a_big_message_is_billed_in_32_kb_units(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            async with ws_client(stack, token) as ws:
                # 40 KB in two frames is one message of two units; a ping is one of one.
                big = json.dumps({"action": "ping", "pad": "p" * 40 * 1024})
                await ws.send(fragments(big, 20 * 1024))
                await ws.send(json.dumps({"action": "ping"}))
                frames = await _drain(ws)
            # Each message is its own invocation, so the replies may come in either order.
            assert sorted(f["type"] for f in frames) == ["error", "pong"]
            ws_meter = stack.meter.snapshot()["websocket"]
            assert (ws_meter["messagesIn"], ws_meter["messageUnitsIn"]) == (2, 3)
            assert (ws_meter["messagesOut"], ws_meter["messageUnitsOut"]) == (2, 2)

    asyncio.run(scenario())


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_invocations_need_one_container_each() -> None:
    meter = Meter(clock=FakeClock())
    first, first_cold = meter.start_invocation("ws_message")
    second, second_cold = meter.start_invocation("ws_message")
    assert first_cold
    assert second_cold
    assert first is not second
    meter.end_invocation("ws_message", first, 0.05)
    meter.end_invocation("ws_message", second, 0.05)

    third, third_cold = meter.start_invocation("ws_message")
    assert not third_cold
    assert third in (first, second)
    meter.end_invocation("ws_message", third, 0.0101, route="ping")

    view = meter.snapshot()["lambda"]["functions"]["ws_message"]
    assert (view["invocations"], view["coldStarts"], view["warmContainers"]) == (3, 2, 2)
    assert view["billedMs"] == 50 + 50 + 11  # each invocation rounded up to the millisecond
    assert view["routes"] == {"ping": 1}
    # Another function has containers of its own.
    _, other_cold = meter.start_invocation("http_api")
    assert other_cold


def test_idle_containers_are_reclaimed_after_container_idle_s() -> None:
    clock = FakeClock()
    meter = Meter(clock=clock, container_idle_s=600)
    container, _ = meter.start_invocation("http_api")
    meter.end_invocation("http_api", container, 0.001)

    clock.now += 599
    container, cold = meter.start_invocation("http_api")
    assert not cold
    meter.end_invocation("http_api", container, 0.001)

    clock.now += 601
    container, cold = meter.start_invocation("http_api")
    assert cold
    meter.end_invocation("http_api", container, 0.001)
    view = meter.snapshot()["lambda"]["functions"]["http_api"]
    assert (view["coldStarts"], view["warmContainers"]) == (2, 1)


def test_a_busy_container_is_never_reclaimed() -> None:
    clock = FakeClock()
    meter = Meter(clock=clock, container_idle_s=10)
    slow, _ = meter.start_invocation("ws_message")
    clock.now += 60
    other, cold = meter.start_invocation("ws_message")
    assert cold
    assert other is not slow
    meter.end_invocation("ws_message", slow, 60)
    meter.end_invocation("ws_message", other, 0.001)
    assert meter.snapshot()["lambda"]["functions"]["ws_message"]["warmContainers"] == 2


def test_connection_minutes_and_message_units_on_a_fake_clock() -> None:
    clock = FakeClock()
    meter = Meter(clock=clock)
    meter.connection_opened("a")
    meter.connection_opened("b")
    clock.now += 90
    meter.connection_closed("a")
    clock.now += 30
    assert meter.connection_minutes() == (90 + 120) / 60
    meter.connection_closed("b")
    clock.now += 600
    assert meter.connection_minutes() == (90 + 120) / 60

    meter.message_in(33 * 1024)
    meter.message_out(10)
    ws = meter.snapshot()["websocket"]
    assert (ws["messagesIn"], ws["messageUnitsIn"]) == (1, 2)
    assert (ws["messagesOut"], ws["messageUnitsOut"]) == (1, 1)
    assert [ws_units(n) for n in (0, 1, 32 * 1024, 32 * 1024 + 1, 128 * 1024)] == [1, 1, 1, 2, 4]
