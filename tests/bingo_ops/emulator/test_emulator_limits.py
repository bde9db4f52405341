"""Frame and message size limits, binary frames, and the idle and hard connection timeouts.

API Gateway quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html):
frames of at most 32 KB, messages of at most 128 KB, a 10-minute idle timeout and a 2-hour
connection duration; the timeouts are configurable in the emulator so they can be tested here.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from conftest import StartStack
from gateway_kit import (
    fragments,
    function_meter,
    http_api,
    invocations,
    new_connection_id,
    recv_json,
    wait_until,
    ws_client,
)
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from backend import wiring
from backend.handlers import ws_disconnect
from bingo_ops.emulator.server import LocalStack

KB = 1024


async def _closed_with(ws: ClientConnection, timeout: float = 3.0) -> tuple[int, str]:
    """Wait for the server to close `ws`; returns the close code and reason it sent."""
    async with asyncio.timeout(timeout):
        await ws.wait_closed()
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


async def _ping_until_closed(ws: ClientConnection, every: float) -> int:
    """Keep the connection busy until the server closes it; returns how many pongs came back."""
    pongs = 0
    try:
        async with asyncio.timeout(4):
            while True:
                await ws.send(json.dumps({"action": "ping"}))
                await recv_json(ws)
                pongs += 1
                await asyncio.sleep(every)
    except ConnectionClosed:
        return pongs


async def _public_token(stack: LocalStack) -> str:
    async with http_api(stack) as api:
        return await api.public_token()


def test_a_text_frame_above_32_kb_closes_with_1009(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            token = await _public_token(stack)
            async with ws_client(stack, token) as ws:
                # Exactly 32 KB in one frame is within the quota.
                await ws.send(json.dumps({"action": "ping", "pad": "p" * (32 * KB - 40)}))
                assert (await recv_json(ws))["code"] == "payload_too_large"
                await ws.send("x" * 33 * KB)
                code, _ = await _closed_with(ws)
                assert code == 1009
            await wait_until(lambda: invocations(stack, "ws_disconnect") == 1)
            assert function_meter(stack, "ws_message")["invocations"] == 1

    asyncio.run(scenario())


def test_fragmented_messages_up_to_128_kb_are_accepted_and_larger_ones_close_1009(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            token = await _public_token(stack)
            async with ws_client(stack, token) as ws:
                body = json.dumps({"action": "nope", "pad": "p" * 100 * KB})
                await ws.send(fragments(body, 32 * KB))
                frame = await recv_json(ws)
                # It reached the handler whole: too big for an action, so refused as such.
                assert (frame["type"], frame["code"]) == ("error", "payload_too_large")
                await wait_until(lambda: function_meter(stack, "ws_message")["invocations"] == 1)
                assert function_meter(stack, "ws_message")["routes"] == {"$default": 1}
                assert stack.meter.snapshot()["websocket"]["messageUnitsIn"] == 4

                await ws.send(fragments("z" * 130 * KB, 26 * KB))
                code, _ = await _closed_with(ws)
                assert code == 1009
            assert function_meter(stack, "ws_message")["invocations"] == 1

    asyncio.run(scenario())


def test_a_binary_frame_closes_with_1003(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            token = await _public_token(stack)
            async with ws_client(stack, token) as ws:
                await ws.send(b'{"action": "ping"}')
                code, _ = await _closed_with(ws)
                assert code == 1003
            await wait_until(lambda: invocations(stack, "ws_disconnect") == 1)
            assert invocations(stack, "ws_message") == 0

    asyncio.run(scenario())


class _DisconnectSpy:
    """Records the $disconnect events API Gateway sends, then runs the real handler."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[dict[str, Any]] = []
        self._real = ws_disconnect.handler
        monkeypatch.setattr(ws_disconnect, "handler", self)

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        self.events.append(event)
        return self._real(event, context)

    def status(self, connection_id: str) -> tuple[int, str]:
        (ctx,) = [
            e["requestContext"]
            for e in self.events
            if e["requestContext"]["connectionId"] == connection_id
        ]
        assert ctx["eventType"] == "DISCONNECT"
        assert ctx["routeKey"] == "$disconnect"
        assert type(ctx["disconnectStatusCode"]) is int  # a plain JSON number, as AWS sends
        return ctx["disconnectStatusCode"], ctx["disconnectReason"]


def test_an_idle_connection_is_closed_1001_and_disconnect_gets_the_status(
    start_stack: StartStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _DisconnectSpy(monkeypatch)

    async def scenario() -> None:
        async with start_stack(idle_timeout_s=0.5, hard_timeout_s=30) as stack:
            token = await _public_token(stack)
            async with ws_client(stack, token) as ws:
                opened = time.monotonic()
                cid = await new_connection_id(stack, set())
                # A message restarts the idle clock.
                await asyncio.sleep(0.3)
                await ws.send(json.dumps({"action": "ping"}))
                await recv_json(ws)
                touched = time.monotonic()
                code, _reason = await _closed_with(ws)
                closed = time.monotonic()
            assert code == 1001
            assert 0.45 <= closed - touched < 1.5
            assert closed - opened >= 0.75
            await wait_until(lambda: len(spy.events) == 1)
            assert spy.status(cid) == (1001, "Going away")
            assert wiring.deps().store.get_connection(cid, now=time.time()) is None

    asyncio.run(scenario())


def test_a_busy_connection_is_closed_at_the_hard_limit(
    start_stack: StartStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _DisconnectSpy(monkeypatch)

    async def scenario() -> None:
        async with start_stack(idle_timeout_s=0.5, hard_timeout_s=1.5) as stack:
            token = await _public_token(stack)
            async with ws_client(stack, token) as ws:
                opened = time.monotonic()
                cid = await new_connection_id(stack, set())
                pongs = await _ping_until_closed(ws, every=0.2)
                await ws.wait_closed()
                lived = time.monotonic() - opened
            assert ws.close_code == 1001
            assert 1.4 <= lived < 2.5
            assert pongs >= 3  # it outlived the 0.5 s idle limit: only the hard limit closed it
            await wait_until(lambda: len(spy.events) == 1)
            assert spy.status(cid) == (1001, "Going away")
            assert wiring.deps().store.get_connection(cid, now=time.time()) is None

    asyncio.run(scenario())


def test_disconnect_gets_the_clients_close_code_and_reason(
    start_stack: StartStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _DisconnectSpy(monkeypatch)

    async def scenario() -> None:
        async with start_stack() as stack:
            token = await _public_token(stack)
            known: set[str] = set()
            async with ws_client(stack, token) as ws:
                normal = await new_connection_id(stack, known)
                await ws.close(4000, "board switched off")
            async with ws_client(stack, token) as ws:
                bare = await new_connection_id(stack, known)
                await ws.close(None)  # type: ignore[arg-type]  # a close frame without a status
            await wait_until(lambda: len(spy.events) == 2)
            assert spy.status(normal) == (4000, "board switched off")
            # What AWS reports for a close frame without a status code (captured events).
            assert spy.status(bare) == (1005, "Client-side close frame status not set")

    asyncio.run(scenario())
