"""Helpers for the emulator's fidelity tests: a running stack, its HTTP API and WebSocket clients.

Everything here talks to the stack over real loopback sockets, as a browser or boto3 would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from bingo_ops.emulator.server import LocalStack, StackOptions

# Eight words fill a 3x3 card (the centre is free), so every player's card holds all of them.
WORDS = ("w-alpha", "w-bravo", "w-charlie", "w-delta", "w-echo", "w-foxtrot", "w-golf", "w-hotel")
WAIT_S = 3.0


@asynccontextmanager
async def running_stack(state_dir: Path, **options: Any) -> AsyncIterator[LocalStack]:
    """A stack on free loopback ports, stopped (and its handlers unwired) on exit."""
    settings = StackOptions(state_dir=state_dir, http_port=0, ws_port=0, **options)
    async with LocalStack(settings) as stack:
        yield stack


class Api:
    """The stack's HTTP API as a player, a board and an organiser use it."""

    def __init__(self, client: httpx.AsyncClient, admin_token: str) -> None:
        self.client = client
        self.admin = {"authorization": f"Bearer {admin_token}"}
        self.requests = 0

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> httpx.Response:
        """One request (counted, so tests can compare with the meter)."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.requests += 1
        return await self.client.request(method, path, json=body, headers=headers)

    async def create_game(self, *, playing: bool = True) -> str:
        """A new 3x3 game of `WORDS`, started unless `playing` is False; returns its id."""
        self.requests += 1
        created = await self.client.post(
            "/admin/games", json={"gridSize": 3, "words": list(WORDS)}, headers=self.admin
        )
        assert created.status_code == 201, created.text
        game_id: str = created.json()["gameId"]
        if playing:
            self.requests += 1
            started = await self.client.post(
                f"/admin/games/{game_id}/state", json={"state": "playing"}, headers=self.admin
            )
            assert started.status_code == 200, started.text
        return game_id

    async def join(self, game_id: str, nickname: str) -> str:
        """Join a game; returns the player's token."""
        joined = await self.call("POST", "/join", {"nickname": nickname, "gameId": game_id})
        assert joined.status_code == 201, joined.text
        token: str = joined.json()["token"]
        return token

    async def public_token(self, device_id: str = "hall-screen") -> str:
        """A board's read-only token."""
        issued = await self.call("POST", "/public/token", {"deviceId": device_id})
        assert issued.status_code == 201, issued.text
        token: str = issued.json()["publicToken"]
        return token

    async def mark(self, game_id: str, token: str, word: str) -> dict[str, Any]:
        """Mark a word; returns the response body."""
        marked = await self.call("POST", f"/games/{game_id}/marks", {"word": word}, token)
        assert marked.status_code == 200, marked.text
        body: dict[str, Any] = marked.json()
        return body


@asynccontextmanager
async def http_api(stack: LocalStack) -> AsyncIterator[Api]:
    """An HTTP client of the stack's HTTP API, with an admin token."""
    async with httpx.AsyncClient(base_url=stack.outputs["httpUrl"], timeout=WAIT_S) as client:
        yield Api(client, stack.admin_token())


def ws_url(stack: LocalStack, token: str | None) -> str:
    """The WebSocket URL with the token in the query string, as clients connect."""
    url: str = stack.outputs["wsUrl"]
    return url if token is None else f"{url}?token={token}"


@asynccontextmanager
async def ws_client(
    stack: LocalStack, token: str, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """An open WebSocket to the stack (no client pings unless asked, so timing is the test's)."""
    settings: dict[str, Any] = {"open_timeout": WAIT_S, "close_timeout": 1, "ping_interval": None}
    settings.update(kwargs)
    async with connect(ws_url(stack, token), **settings) as ws:
        yield ws


async def upgrade_status(url: str, **kwargs: Any) -> int:
    """The HTTP status of a WebSocket upgrade: 101 if it opened (then closed), else the refusal."""
    try:
        async with connect(url, open_timeout=WAIT_S, close_timeout=1, **kwargs):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def recv_json(ws: ClientConnection, timeout: float = WAIT_S) -> dict[str, Any]:
    """The next frame, parsed."""
    async with asyncio.timeout(timeout):
        raw = await ws.recv()
    frame: dict[str, Any] = json.loads(raw)
    return frame


async def recv_frames(ws: ClientConnection, count: int, timeout: float = WAIT_S) -> list[Any]:
    """Exactly the next `count` frames, parsed."""
    async with asyncio.timeout(timeout):
        return [json.loads(await ws.recv()) for _ in range(count)]


async def fragments(text: str, size: int) -> AsyncIterator[str]:
    """`text` as one message of several frames of at most `size` characters."""
    for start in range(0, len(text), size):
        yield text[start : start + size]


async def assert_silent(ws: ClientConnection, seconds: float = 0.3) -> None:
    """Nothing arrives on `ws` for `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            frame = await ws.recv()
    except TimeoutError:
        return
    raise AssertionError(f"unexpected frame: {frame!r}")


async def subscribe(ws: ClientConnection, game_id: str) -> dict[str, Any]:
    """Subscribe to a game; returns the initial `leaderboard_update`."""
    await ws.send(json.dumps({"action": "subscribe", "gameId": game_id}))
    subscribed = await recv_json(ws)
    assert subscribed["type"] == "subscribed", subscribed
    board = await recv_json(ws)
    assert board["type"] == "leaderboard_update", board
    return board


async def wait_until(
    condition: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition"
) -> None:
    """Poll `condition` until it holds (the server finishes its work after the client's)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def new_connection_id(stack: LocalStack, known: set[str]) -> str:
    """The id API Gateway gave the connection that just opened (not one of `known`)."""

    def fresh() -> set[str]:
        return {c.connection_id for c in stack.registry.all()} - known

    await wait_until(lambda: bool(fresh()), what="the connection to register")
    (found,) = fresh()
    known.add(found)
    return found


def function_meter(stack: LocalStack, name: str) -> dict[str, Any]:
    """One function's metering (zeros if it never ran)."""
    functions: dict[str, Any] = stack.meter.snapshot()["lambda"]["functions"]
    return dict(functions.get(name, {"invocations": 0, "errors": 0, "routes": {}}))


def invocations(stack: LocalStack, name: str) -> int:
    """How often a function ran."""
    count: int = function_meter(stack, name)["invocations"]
    return count


async def in_thread(call: Callable[[], Any]) -> Any:
    """Run a blocking client call (boto3) off the loop, so the stack keeps serving meanwhile."""
    return await asyncio.to_thread(call)
