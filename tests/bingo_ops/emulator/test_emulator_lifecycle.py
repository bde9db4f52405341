"""Starting and stopping the stack: outputs, taken ports, shutdown with clients, one per process."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from conftest import StartStack
from gateway_kit import http_api, invocations, new_connection_id, ws_client

from backend import wiring
from backend.adapters.store_sqlite import SqliteStore
from bingo_ops.emulator import websocket_api
from bingo_ops.emulator.metering import DEFAULT_CONTAINER_IDLE_S
from bingo_ops.emulator.server import LocalStack, StackOptions


@contextmanager
def _taken_port() -> Iterator[int]:
    """A loopback port something else is listening on."""
    with closing(socket.create_server(("127.0.0.1", 0))) as listener:
        yield listener.getsockname()[1]


def _free_port() -> int:
    with closing(socket.create_server(("127.0.0.1", 0))) as probe:
        port: int = probe.getsockname()[1]
    return port


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


def test_the_defaults_are_api_gateways_quotas(tmp_path: Path) -> None:
    options = StackOptions(state_dir=tmp_path)
    assert options.idle_timeout_s == 10 * 60
    assert options.hard_timeout_s == 2 * 3600
    assert options.container_idle_s == DEFAULT_CONTAINER_IDLE_S
    assert websocket_api.MAX_FRAME_BYTES == 32 * 1024
    assert websocket_api.MAX_MESSAGE_BYTES == 128 * 1024


def test_the_outputs_file_holds_the_urls(state_dir: Path, tmp_path: Path) -> None:
    outputs = tmp_path / "deep" / "outputs.json"

    async def scenario() -> None:
        options = StackOptions(state_dir=state_dir, http_port=0, ws_port=0, outputs=outputs)
        async with LocalStack(options) as stack:
            assert json.loads(outputs.read_text()) == stack.outputs
            assert not outputs.with_suffix(".json.partial").exists()
            assert await _listening(int(stack.outputs["httpUrl"].rsplit(":", 1)[1]))

    asyncio.run(scenario())


@pytest.mark.parametrize("taken", ["http", "ws"])
def test_a_taken_port_raises_oserror_and_leaves_nothing_running(
    state_dir: Path, taken: str
) -> None:
    async def scenario() -> None:
        with _taken_port() as busy:
            other = _free_port()
            ports = {"http_port": busy, "ws_port": other}
            if taken == "ws":
                ports = {"http_port": other, "ws_port": busy}
            with pytest.raises(OSError, match="in use"):
                async with LocalStack(StackOptions(state_dir=state_dir, **ports)):
                    pass
            assert not await _listening(other)
            assert {t.get_name() for t in asyncio.all_tasks()} == {"main"}
        # Nothing half-started is left behind: the next stack starts normally.
        async with LocalStack(StackOptions(state_dir=state_dir, http_port=0, ws_port=0)):
            pass

    async def main() -> None:
        asyncio.current_task().set_name("main")  # type: ignore[union-attr]
        await scenario()

    asyncio.run(main())


def test_stopping_the_stack_closes_clients_1001_and_runs_their_disconnect(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            async with ws_client(stack, token) as ws:
                cid = await new_connection_id(stack, set())
                await stack.stop()
                async with asyncio.timeout(2):
                    await ws.wait_closed()
                assert ws.close_code == 1001
            assert invocations(stack, "ws_disconnect") == 1
            with closing(SqliteStore(stack.state.database)) as store:
                assert store.get_connection(cid, now=0) is None
            assert stack.meter.snapshot()["websocket"]["connectionsOpen"] == 0

    asyncio.run(scenario())


def test_only_one_stack_runs_per_process(start_stack: StartStack, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with start_stack() as first:
            deps = wiring.deps()
            second = LocalStack(StackOptions(state_dir=tmp_path / "other", http_port=0, ws_port=0))
            with pytest.raises(RuntimeError, match="already running"):
                await second.start()
            await second.stop()  # harmless, and it must not unwire the running stack
            assert wiring.deps() is deps
            async with http_api(first) as api:
                assert (await api.call("POST", "/public/token", {})).status_code == 201
        async with start_stack():  # once stopped, another may start
            pass

    asyncio.run(scenario())
