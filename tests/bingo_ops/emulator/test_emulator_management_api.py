"""`@connections` as boto3's real `apigatewaymanagementapi` client and a raw HTTP client see it.

Operations and errors: https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html
(PostToConnection, GetConnection, DeleteConnection; 410 GoneException for a connection that is
not open; 413 PayloadTooLargeException above 128 KB).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from conftest import StartStack
from gateway_kit import (
    http_api,
    in_thread,
    invocations,
    new_connection_id,
    recv_json,
    wait_until,
    ws_client,
)
from websockets.exceptions import ConnectionClosed

from bingo_ops.emulator.connections import MAX_POST_BYTES
from bingo_ops.emulator.server import LocalStack


@contextmanager
def management_client(stack: LocalStack) -> Iterator[Any]:
    """boto3's client for the stack's `@connections` endpoint, closed afterwards."""
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.outputs["managementUrl"],
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    try:
        yield client
    finally:
        client.close()


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_post_get_and_delete_through_boto3(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            with management_client(stack) as client:
                async with ws_client(stack, token, user_agent_header="fidelity-test/2") as ws:
                    cid = await new_connection_id(stack, set())
                    payload = json.dumps({"type": "hello", "n": 1}).encode()
                    posted = await in_thread(
                        lambda: client.post_to_connection(ConnectionId=cid, Data=payload)
                    )
                    assert posted["ResponseMetadata"]["HTTPStatusCode"] == 200
                    assert await recv_json(ws) == {"type": "hello", "n": 1}

                    await ws.send(json.dumps({"action": "ping"}))
                    await recv_json(ws)
                    got = await in_thread(lambda: client.get_connection(ConnectionId=cid))
                    now = datetime.now(UTC)
                    assert isinstance(got["ConnectedAt"], datetime)
                    assert isinstance(got["LastActiveAt"], datetime)
                    assert now - timedelta(seconds=10) < got["ConnectedAt"] <= now
                    assert got["ConnectedAt"] <= got["LastActiveAt"] <= now
                    assert got["Identity"]["SourceIp"] == "127.0.0.1"
                    assert got["Identity"]["UserAgent"] == "fidelity-test/2"

                    deleted = await in_thread(lambda: client.delete_connection(ConnectionId=cid))
                    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
                    with pytest.raises(ConnectionClosed):
                        async with asyncio.timeout(2):
                            await ws.recv()
                await wait_until(lambda: invocations(stack, "ws_disconnect") == 1)
                assert len(stack.registry) == 0

                # Every operation on the now closed connection is a 410.
                for call in (
                    lambda: client.post_to_connection(ConnectionId=cid, Data=b"{}"),
                    lambda: client.get_connection(ConnectionId=cid),
                    lambda: client.delete_connection(ConnectionId=cid),
                ):
                    with pytest.raises(ClientError) as caught:
                        await in_thread(call)
                    assert _error(caught) == ("GoneException", 410)
            calls = stack.meter.snapshot()["managementApi"]
            assert calls == {
                "DeleteConnection 204": 1,
                "DeleteConnection 410": 1,
                "GetConnection 200": 1,
                "GetConnection 410": 1,
                "PostToConnection 200": 2,  # ours and the pong
                "PostToConnection 410": 1,
            }

    asyncio.run(scenario())


def test_unknown_connection_is_gone_410_with_the_error_type_header(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            with management_client(stack) as client:
                with pytest.raises(ClientError) as caught:
                    await in_thread(
                        lambda: client.post_to_connection(ConnectionId="bm9wZQ==", Data=b"x")
                    )
                assert _error(caught) == ("GoneException", 410)
            url = f"{stack.outputs['managementUrl']}/@connections/AAAAAAAAAAAAAAAA"
            async with httpx.AsyncClient(timeout=3) as raw:
                for method in ("POST", "GET", "DELETE"):
                    answer = await raw.request(method, url, content=b"{}")
                    assert answer.status_code == 410, method
                    assert answer.headers["x-amzn-ErrorType"] == "GoneException"

    asyncio.run(scenario())


def test_post_above_128_kb_is_413_payload_too_large(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            with management_client(stack) as client:
                async with ws_client(stack, token, max_size=None) as ws:
                    cid = await new_connection_id(stack, set())
                    with pytest.raises(ClientError) as caught:
                        await in_thread(
                            lambda: client.post_to_connection(
                                ConnectionId=cid, Data=b"x" * (MAX_POST_BYTES + 1)
                            )
                        )
                    assert _error(caught) == ("PayloadTooLargeException", 413)
                    # Exactly 128 KB is still allowed, and arrives whole.
                    limit = b"y" * MAX_POST_BYTES
                    await in_thread(lambda: client.post_to_connection(ConnectionId=cid, Data=limit))
                    async with asyncio.timeout(2):
                        assert await ws.recv() == limit.decode()

    asyncio.run(scenario())
