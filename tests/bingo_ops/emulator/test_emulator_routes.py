"""Messages: route selection on `action`, one-way routes, crash frames and hostile payloads.

API Gateway selects a route with `$request.body.action`, sends what matches nothing (or is not
JSON) to `$default`, never sends a one-way route's return value back, and answers a failed
integration with `{"message": "Internal server error", "connectionId", "requestId"}`
(https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-develop-routes.html).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from conftest import StartStack
from gateway_kit import (
    WORDS,
    assert_silent,
    function_meter,
    http_api,
    new_connection_id,
    recv_frames,
    recv_json,
    subscribe,
    wait_until,
    ws_client,
)

from backend import wiring


def test_messages_route_on_action_and_unmatched_ones_go_to_default(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            async with ws_client(stack, token) as ws:
                await ws.send(json.dumps({"action": "ping"}))
                assert (await recv_json(ws))["type"] == "pong"
                unmatched = {
                    json.dumps({"action": "nope"}): "unknown_action",
                    json.dumps({"action": 7}): "unknown_action",
                    json.dumps({"no": "action"}): "unknown_action",
                    "not json": "malformed_json",
                    "[1]": "malformed_json",
                }
                for text, code in unmatched.items():
                    await ws.send(text)
                    frame = await recv_json(ws)
                    assert (frame["type"], frame["code"]) == ("error", code), text
            expected = {"ping": 1, "$default": len(unmatched)}
            await wait_until(lambda: function_meter(stack, "ws_message")["routes"] == expected)

    asyncio.run(scenario())


def test_routes_are_one_way_the_handlers_return_value_is_never_sent(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            async with ws_client(stack, token) as ws:
                await ws.send(json.dumps({"action": "ping"}))
                assert (await recv_json(ws))["type"] == "pong"
                # ws_message returned {"statusCode": 200}; API Gateway does not echo it.
                await assert_silent(ws, 0.3)
                await ws.send(json.dumps({"action": "unsubscribe", "gameId": "g-1"}))
                assert (await recv_json(ws))["type"] == "unsubscribed"
                await assert_silent(ws, 0.3)
            await wait_until(lambda: function_meter(stack, "ws_message")["invocations"] == 2)

    asyncio.run(scenario())


class _BrokenReads:
    """The real store, except that reads behind `subscribe` fail with an unexpected error."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def leaderboard(self, game_id: str, *, limit: int) -> Any:
        raise RuntimeError("disk on fire (test)")

    def subscribers(self, game_id: str, *, now: float) -> list[str]:
        raise RuntimeError("disk on fire (test)")


def test_a_handler_crash_sends_the_internal_server_error_frame(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                game_id = await api.create_game()
                token = await api.public_token()
            async with ws_client(stack, token) as ws:
                cid = await new_connection_id(stack, set())
                deps = wiring.deps()
                wiring.install(dataclasses.replace(deps, store=_BrokenReads(deps.store)))
                await ws.send(json.dumps({"action": "subscribe", "gameId": game_id}))
                frame = await recv_json(ws)
                assert frame["message"] == "Internal server error"
                assert frame["connectionId"] == cid
                assert isinstance(frame["requestId"], str)
                assert frame["requestId"]
                assert set(frame) == {"message", "connectionId", "requestId"}
                await assert_silent(ws, 0.2)

                # The connection survives the crash.
                wiring.install(deps)
                await ws.send(json.dumps({"action": "ping"}))
                assert (await recv_json(ws))["type"] == "pong"
            assert function_meter(stack, "ws_message")["errors"] == 1

    asyncio.run(scenario())


HOSTILE = (
    "not json",
    "{",
    "",
    "1" * 5000,
    json.dumps({"action": "resume", "gameId": "g", "afterSeq": 10**400}),
    "[" * 3000 + "]" * 3000,
    json.dumps({"action": {"action": "ping"}}),
    json.dumps({"action": "subscribe", "gameId": 12}),
    json.dumps({"action": "subscribe", "gameId": ["a"]}),
    json.dumps({"action": "subscribe", "gameId": "../../etc"}),
    json.dumps({"action": "subscribe", "gameId": "a" * 65}),
    json.dumps({"action": "resume", "gameId": "GAME", "afterSeq": -1}),
    json.dumps({"action": "resume", "gameId": "GAME", "afterSeq": True}),
    json.dumps({"action": "resume", "gameId": "GAME", "afterSeq": "1"}),
    json.dumps({"action": "resume", "gameId": "GAME", "afterSeq": 1e308}),
    '{"action": "ping", "x": NaN}',
    '{"action": "subscribe", "gameId": "abc\\u0000def"}',
    "\x00\x00\x00",
    json.dumps({"action": "ping\x00"}),
    json.dumps({"action": "subscribe", "gameId": "nosuchgame"}),
)


def test_hostile_frames_get_error_frames_while_other_clients_keep_playing(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack() as stack, http_api(stack) as api:
            game_id = await api.create_game()
            alice = await api.join(game_id, "alice")
            bob = await api.join(game_id, "bob")
            board = await api.public_token()
            async with (
                ws_client(stack, alice) as alice_ws,
                ws_client(stack, bob) as bob_ws,
                ws_client(stack, board) as attacker,
            ):
                await subscribe(alice_ws, game_id)
                await subscribe(bob_ws, game_id)
                for turn, text in enumerate(HOSTILE):
                    await attacker.send(text.replace("GAME", game_id))
                    who, word = (alice, bob)[turn % 2], WORDS[turn // 2 % len(WORDS)]
                    marked = await api.mark(game_id, who, word)
                    error = await recv_json(attacker)
                    assert error["type"] == "error", (text[:80], error)
                    assert error["code"] in {
                        "malformed_json",
                        "unknown_action",
                        "invalid_request",
                        "payload_too_large",
                        "game_not_found",
                    }, error
                    if marked["newlyMarked"]:
                        for ws in (alice_ws, bob_ws):
                            activity, update = await recv_frames(ws, 2)
                            assert activity["type"] == "activity_event"
                            assert activity["seq"] == marked["seq"]
                            assert update["type"] == "leaderboard_update"
                # Nothing more for anyone: the attacker never subscribed to anything.
                await asyncio.gather(
                    *(assert_silent(ws, 0.2) for ws in (alice_ws, bob_ws, attacker))
                )
                await wait_until(
                    lambda: function_meter(stack, "ws_message")["invocations"] == len(HOSTILE) + 2
                )
                assert function_meter(stack, "ws_message")["errors"] == 0

    asyncio.run(scenario())
