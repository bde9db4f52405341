"""Runs the real handlers as Lambda would: each invocation in a worker thread, metered."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bingo_ops.emulator.events import LambdaContext
from bingo_ops.emulator.metering import Meter

Handler = Callable[[dict[str, Any], Any], Any]

log = logging.getLogger(__name__)
# Lambda retries a failed asynchronous invocation twice
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
ASYNC_RETRIES = 2


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

    def start(
        self, name: str, handler: Handler, event: dict[str, Any], *, retries: int = ASYNC_RETRIES
    ) -> Future[Any]:
        """An asynchronous (`Event`) invocation: queued on the workers, not waited for.

        A failing attempt is retried up to `retries` times, each attempt metered as an
        invocation; the last failure is logged, as Lambda would drop the event.

        Raises:
            RuntimeError: the runtime is closed.
        """

        def attempts() -> Any:
            attempt = 0
            while True:
                try:
                    return self._run(name, handler, event, None)
                except Exception:
                    if attempt == retries:
                        log.exception("%s: dropped an event after %d attempts", name, attempt + 1)
                        raise
                    attempt += 1

        return self._pool.submit(attempts)

    def close(self) -> None:
        """Wait for running invocations and stop the threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)
