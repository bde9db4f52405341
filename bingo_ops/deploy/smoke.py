"""After a deploy: a public client connects, subscribes and gets a leaderboard.

On the local stack (or real AWS) the smoke test is end to end: an organiser creates a game over
HTTP, a status board connects over WebSocket with a public token, subscribes, and must receive
the game's `leaderboard_update`; the game is then cancelled so it never shows as the current
game. Against a local AWS emulator (moto) nothing runs the Lambda functions, so only what the
emulator can answer is checked (the keyrings, the APIs, the functions) and the test is
reported as skipped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import ipaddress
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from backend import wiring
from backend.domain.tokens import TokenKind
from bingo_ops.deploy.stack import aws_keyrings

DEFAULT_TIMEOUT_S: Final = 20.0
SMOKE_GAME_NAME: Final = "deploy smoke test"
MOTO_SKIP_REASON: Final = "moto runs no Lambda functions"
_T = TypeVar("_T")


def local_aws_endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """`AWS_ENDPOINT_URL` when it points at this machine (a moto server), else None."""
    endpoint = (env if env is not None else os.environ).get("AWS_ENDPOINT_URL")
    if not endpoint:
        return None
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return endpoint
    try:
        return endpoint if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


def run_sync(make: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to the end from synchronous code, even inside a running event loop.

    A Jupyter kernel runs cells inside its own loop, where `asyncio.run` refuses to start;
    there the coroutine runs on a fresh loop in a worker thread.
    """

    async def main() -> _T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def _board_sees_leaderboard(
    http_url: str, ws_url: str, admin_token: str, timeout_s: float, cache_dir: Path
) -> dict[str, Any]:
    from bingo_ops.client import BingoClient, BingoHttp, TokenCache

    checks: dict[str, Any] = {}
    async with BingoHttp(http_url, token=admin_token, timeout=timeout_s) as admin:
        game = await admin.create_game(name=SMOKE_GAME_NAME, grid_size=3)
        game_id = game["gameId"]
        checks["createGame"] = "ok"
        board = BingoClient.board(
            http_url,
            ws_url,
            games=[game_id],
            cache=TokenCache(cache_dir),
            max_attempts=3,
            open_timeout=timeout_s,
        )
        stream = board.messages()
        seen: list[str] = []
        update: dict[str, Any] | None = None
        try:
            board.start()
            async with asyncio.timeout(timeout_s):
                async for message in stream:
                    seen.append(str(message.get("type")))
                    if message.get("type") == "leaderboard_update" and (
                        message.get("gameId") == game_id
                    ):
                        update = message
                        break
        except TimeoutError:
            raise TimeoutError(
                f"no leaderboard_update within {timeout_s:g} s (received {seen}; "
                f"last error: {board.state.last_error})"
            ) from None
        finally:
            stream.close()
            await board.close()
            # A smoke game left open would become the stage's "current game".
            await admin.change_state(game_id, "cancelled", SMOKE_GAME_NAME)
    if update is None:
        raise RuntimeError(f"the board stopped before a leaderboard arrived (received {seen})")
    checks["connect"] = "ok"
    checks["subscribed"] = "ok" if "subscribed" in seen else "missing"
    checks["leaderboard"] = "ok"
    return {
        "gameId": game_id,
        "checks": checks,
        "messages": seen,
        "leaderboard": {
            "seq": update.get("seq"),
            "totalPlayers": update.get("totalPlayers"),
            "entries": len(update.get("leaderboard", [])),
        },
    }


def _end_to_end(outputs: Mapping[str, Any], admin_token: str, timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bingo-smoke-") as cache_dir:
        try:
            found = run_sync(
                lambda: _board_sees_leaderboard(
                    str(outputs["httpUrl"]),
                    str(outputs["wsUrl"]),
                    admin_token,
                    timeout_s,
                    Path(cache_dir),
                )
            )
        except Exception as error:  # the report says what failed; the caller decides
            return {
                "status": "failed",
                "error": f"{type(error).__name__}: {error}",
                "elapsedMs": round((time.perf_counter() - started) * 1000),
            }
    status = "passed" if all(v == "ok" for v in found["checks"].values()) else "failed"
    return {"status": status, **found, "elapsedMs": round((time.perf_counter() - started) * 1000)}


def _aws_static_checks(outputs: Mapping[str, Any], region: str) -> dict[str, str]:
    """What an AWS emulator without Lambda can confirm: keyrings, APIs and functions exist."""
    import boto3

    checks: dict[str, str] = {}

    def check(name: str, probe: Callable[[], object]) -> None:
        try:
            probe()
        except Exception as error:
            checks[name] = f"{type(error).__name__}: {error}"
        else:
            checks[name] = "ok"

    def mint() -> None:
        tokens = wiring.build_tokens(aws_keyrings(outputs, region))
        token = tokens.issue_admin("smoke-test", now=time.time())
        tokens.verify(token, now=time.time(), accept=(TokenKind.ADMIN,))

    apis = boto3.client("apigatewayv2", region_name=region)
    lambda_ = boto3.client("lambda", region_name=region)
    check("adminTokenFromSsm", mint)
    check("websocketApi", lambda: apis.get_api(ApiId=outputs["websocketApiId"]))
    check("httpApi", lambda: apis.get_api(ApiId=outputs["httpApiId"]))
    for handler, function in sorted(outputs.get("functions", {}).items()):
        check(f"function:{handler}", functools.partial(lambda_.get_function, FunctionName=function))
    return checks


def smoke_test(
    outputs: Mapping[str, Any] | None,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Check a deployed stage: a public client connects, subscribes and gets a leaderboard.

    Never raises for a failing stage: the result says what failed (`raise_for_smoke` turns
    that into an error once the result is saved).

    Args:
        outputs: The deploy's outputs (`target` says which); None after a dry run.
        state_dir: The local stack's state dir, whose secrets sign the admin token.
        timeout_s: Seconds allowed for each network step.

    Returns:
        `status` (`passed`, `failed` or `skipped`), `reason` when skipped, the individual
        `checks`, and what the board received.
    """
    if outputs is None:
        return {"status": "skipped", "reason": "dry run: nothing was deployed", "checks": {}}
    target = outputs.get("target")
    if target == "local":
        from bingo_ops import tokens

        if state_dir is None:
            state_dir = str(outputs["stateDir"])
        admin = tokens.mint(Path(state_dir), "admin", subject="smoke-test")
        return {"target": "local", **_end_to_end(outputs, admin, timeout_s)}
    if target == "aws":
        region = str(outputs["region"])
        endpoint = local_aws_endpoint()
        if endpoint is not None:
            checks = _aws_static_checks(outputs, region)
            failed = any(value != "ok" for value in checks.values())
            return {
                "target": "aws",
                "status": "failed" if failed else "skipped",
                "reason": f"{MOTO_SKIP_REASON} (AWS_ENDPOINT_URL={endpoint}); checked only "
                "the keyrings, APIs and functions it holds",
                "checks": checks,
            }
        try:
            keyrings = aws_keyrings(outputs, region)
            admin = wiring.build_tokens(keyrings).issue_admin("smoke-test", now=time.time())
        except Exception as error:
            return {
                "target": "aws",
                "status": "failed",
                "error": f"cannot mint an admin token from SSM: {type(error).__name__}: {error}",
                "checks": {},
            }
        return {"target": "aws", **_end_to_end(outputs, admin, timeout_s)}
    return {"status": "failed", "error": f"unknown target {target!r} in the outputs", "checks": {}}


class SmokeTestFailed(AssertionError):
    """The smoke test found the deployed stage not working."""


def raise_for_smoke(result: Mapping[str, Any]) -> None:
    """Raise when a smoke test failed (passed and skipped are fine).

    Raises:
        SmokeTestFailed: `result["status"]` is `failed`; the message carries its error and checks.
    """
    if result.get("status") == "failed":
        detail = result.get("error") or {
            k: v for k, v in result.get("checks", {}).items() if v != "ok"
        }
        raise SmokeTestFailed(f"smoke test failed: {detail}")
