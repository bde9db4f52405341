"""The `Dispatcher` port in the emulator: posting jobs as asynchronous in-process invocations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bingo_ops.emulator.lambdas import Handler, LambdaRuntime


class InProcessDispatcher:
    """Starts `function_name` once per job on the stack's Lambda workers, without waiting.

    The emulator's answer to `Invoke` with `InvocationType=Event`: each job becomes an
    invocation of the posting function, metered like any other and retried as Lambda retries
    an asynchronous invocation (`LambdaRuntime.start`).

    Args:
        runtime: The stack's Lambda runtime.
        function_name: The posting function's metering name.
        handler: Its entry point.
    """

    def __init__(self, runtime: LambdaRuntime, function_name: str, handler: Handler) -> None:
        self.runtime = runtime
        self.function_name = function_name
        self.handler = handler

    def dispatch(self, jobs: Sequence[Mapping[str, Any]]) -> list[str | None]:
        """See `Dispatcher.dispatch`: every job is accepted unless the runtime is closed."""
        results: list[str | None] = []
        for job in jobs:
            try:
                self.runtime.start(self.function_name, self.handler, dict(job))
            except RuntimeError as exc:  # shut down: the stack is stopping
                results.append(str(exc))
            else:
                results.append(None)
        return results
