"""The HTTP listening socket: accepted connections get TCP_NODELAY (no 40 ms Nagle stalls)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from bingo_ops.emulator.server import listening_socket


def test_accepted_connections_have_tcp_nodelay() -> None:
    async def check() -> int:
        sock = listening_socket("127.0.0.1", 0)
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted = transport.get_extra_info("socket")
                seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        async with server:
            port = sock.getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            flag = await asyncio.wait_for(seen, timeout=5)
            writer.close()
            await writer.wait_closed()
        return flag

    assert asyncio.run(check()) == 1


def test_a_taken_port_is_an_oserror_and_leaks_nothing() -> None:
    first = listening_socket("127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="in use"):
            listening_socket("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()
