"""Runs the real handlers as Lambda would: each invocation in a worker thread, metered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bingo_ops.emulator.events import LambdaContext
from bingo_ops.emulator.metering import Meter

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaRuntime:
    """Invokes handlers off the event loop, so a slow handler never stalls the gateway.

    Args:
        meter: Where invocations, cold starts and billed time are counted.
        workers: Threads available; models the account's concurrency on one laptop.
    """

    def __init__(self, meter: Meter, *, workers: int = 32) -> None:
        self.meter = meter
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lambda")

    def _run(self, name: str, handler: Handler, event: dict[str, Any], route: str | None) -> Any:
        container, _cold = self.meter.start_invocation(name)
        context = LambdaContext(function_name=name, memory_limit_in_mb=self.meter.memory_mb)
        started = time.perf_counter()
        failed = False
        try:
            return handler(event, context)
        except BaseException:
            failed = True
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.meter.end_invocation(name, container, elapsed, error=failed, route=route)

    async def invoke(
        self, name: str, handler: Handler, event: dict[str, Any], *, route: str | None = None
    ) -> Any:
        """Run `handler(event, context)` in a worker thread and return its result.

        Raises:
            Exception: whatever the handler raised (the caller maps it as API Gateway would).
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, name, handler, event, route)

    def close(self) -> None:
        """Wait for running invocations and stop the threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)
