"""The upgrade: identity source, authorizer verdicts, $connect status and negotiated extensions.

API Gateway semantics (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html):
a request without the identity source is refused with 401 before the authorizer is invoked; an
authorizer raising "Unauthorized" gives 401 and a Deny policy 403; a non-2xx `$connect` refuses
the upgrade with that status.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from conftest import StartStack
from gateway_kit import (
    function_meter,
    http_api,
    invocations,
    new_connection_id,
    upgrade_status,
    wait_until,
    ws_client,
    ws_url,
)

from backend import wiring
from backend.domain.model import Connection
from backend.domain.tokens import Keyring, TokenKind, TokenService, generate_spec
from backend.ports.store import StoreUnavailable


def test_missing_or_empty_token_is_refused_401_without_invoking_the_authorizer(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            base = stack.outputs["wsUrl"]
            for url in (base, f"{base}?token=", f"{base}?other=1", f"{base}/?token="):
                assert await upgrade_status(url) == 401, url
            assert invocations(stack, "ws_authorizer") == 0
            assert invocations(stack, "ws_connect") == 0
            assert stack.meter.snapshot()["websocket"]["connectionsRejected"] == {"401": 4}

    asyncio.run(scenario())


def test_garbage_forged_and_expired_tokens_are_refused_401_by_the_authorizer(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                game_id = await api.create_game()
                await api.join(game_id, "alice")
            now = time.time()
            real = wiring.deps().tokens
            forger = TokenService(
                {kind: Keyring.parse(kind, generate_spec("local1")) for kind in TokenKind}
            )
            bad = {
                "garbage": "not-a-jwt",
                "forged": forger.issue_user("s-1", game_id, "mallory", now=now),
                "expired user": real.issue_user("s-1", game_id, "alice", now=now - 2 * 86400),
                "expired public": real.issue_public("old", now=now - 31 * 86400)[0],
            }
            for name, token in bad.items():
                assert await upgrade_status(ws_url(stack, token)) == 401, name
            authorizer = function_meter(stack, "ws_authorizer")
            assert authorizer["invocations"] == len(bad)
            assert authorizer["errors"] == len(bad)  # it raised "Unauthorized" each time
            assert invocations(stack, "ws_connect") == 0

    asyncio.run(scenario())


def test_a_denied_token_is_refused_403(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            tokens = wiring.deps().tokens
            blind_board, _ = tokens.issue_public("no-perms", now=time.time(), permissions=())
            for token in (stack.admin_token(), blind_board):
                assert await upgrade_status(ws_url(stack, token)) == 403
            authorizer = function_meter(stack, "ws_authorizer")
            assert authorizer["invocations"] == 2
            assert authorizer["errors"] == 0  # a Deny is an answer, not a failure
            assert invocations(stack, "ws_connect") == 0

    asyncio.run(scenario())


def test_a_path_other_than_the_stage_is_404(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            root = stack.outputs["wsUrl"].rsplit("/", 1)[0]
            for path in ("/", "/prod", "/local/extra", "/@connections"):
                assert await upgrade_status(f"{root}{path}?token={token}") == 404, path
            assert invocations(stack, "ws_authorizer") == 0

    asyncio.run(scenario())


def test_an_allowed_token_connects_and_connect_records_the_authorizer_context(
    start_stack: StartStack,
) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token("screen-7")
            async with ws_client(stack, token, user_agent_header="fidelity-test/1"):
                cid = await new_connection_id(stack, set())
                row = wiring.deps().store.get_connection(cid, now=time.time())
                assert row is not None
                assert (row.kind, row.subject) == ("public", "screen-7")
            await wait_until(lambda: invocations(stack, "ws_disconnect") == 1)
            assert wiring.deps().store.get_connection(cid, now=time.time()) is None

    asyncio.run(scenario())


class _BrokenTokens:
    """Token verification that fails unexpectedly (a bug, not a bad token)."""

    def verify(self, token: str, *, now: float, accept: Any) -> Any:
        raise RuntimeError("keyring unreadable (test)")


def test_an_authorizer_that_crashes_refuses_with_500(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            deps = wiring.deps()
            wiring.install(dataclasses.replace(deps, tokens=_BrokenTokens()))
            assert await upgrade_status(ws_url(stack, token)) == 500
            assert function_meter(stack, "ws_authorizer")["errors"] == 1
            assert invocations(stack, "ws_connect") == 0

    asyncio.run(scenario())


class _RefusingStore:
    """The real store, except that recording a connection fails as a throttled database would."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put_connection(self, connection: Connection) -> None:
        raise StoreUnavailable("the game database is unavailable (test)")


class _CrashingStore(_RefusingStore):
    """Recording a connection fails with an error no handler expects."""

    def put_connection(self, connection: Connection) -> None:
        raise RuntimeError("disk on fire (test)")


def test_a_non_2xx_connect_refuses_the_upgrade_with_that_status(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            deps = wiring.deps()
            wiring.install(dataclasses.replace(deps, store=_RefusingStore(deps.store)))
            assert await upgrade_status(ws_url(stack, token)) == 503
            assert function_meter(stack, "ws_connect")["invocations"] == 1
            assert len(stack.registry) == 0
            assert invocations(stack, "ws_disconnect") == 0  # never connected, never disconnects

            # $connect raising instead of answering is a 500, as a failed integration.
            wiring.install(dataclasses.replace(deps, store=_CrashingStore(deps.store)))
            assert await upgrade_status(ws_url(stack, token)) == 500
            assert function_meter(stack, "ws_connect")["errors"] == 1

            wiring.install(deps)
            assert await upgrade_status(ws_url(stack, token)) == 101
            rejected = stack.meter.snapshot()["websocket"]["connectionsRejected"]
            assert rejected == {"503": 1, "500": 1}

    asyncio.run(scenario())


def test_no_permessage_deflate_is_negotiated_even_when_offered(start_stack: StartStack) -> None:
    async def scenario() -> None:
        async with start_stack() as stack:
            async with http_api(stack) as api:
                token = await api.public_token()
            # The client offers permessage-deflate by default.
            async with ws_client(stack, token, compression="deflate") as ws:
                assert ws.request is not None
                assert ws.response is not None
                assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                assert ws.response.status_code == 101

    asyncio.run(scenario())
