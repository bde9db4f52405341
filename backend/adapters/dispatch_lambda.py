"""The `Dispatcher` port on Lambda's asynchronous invocation (`InvocationType=Event`, boto3).

The client is built on the first dispatch, so functions that never dispatch (every one but the
players' broadcaster) never import boto3 or pay for a client at cold start. An `Event`
invocation returns 202 once Lambda has queued it; Lambda runs it and retries it twice on error
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

DEFAULT_CONCURRENCY = 10
_ACCEPTED = 202


class LambdaDispatcher:
    """Starts one asynchronous invocation of `function_name` per job, `concurrency` at a time.

    Args:
        function_name: The posting function (name or ARN).
        concurrency: Invocations requested at once.
        client: A ready boto3 Lambda client (tests); built on first use when None.
    """

    def __init__(
        self, function_name: str, *, concurrency: int = DEFAULT_CONCURRENCY, client: Any = None
    ) -> None:
        self.function_name = function_name
        self.concurrency = concurrency
        self._client = client
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _ready(self) -> tuple[Any, ThreadPoolExecutor]:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                config = Config(
                    retries={"mode": "standard", "max_attempts": 3},
                    max_pool_connections=self.concurrency,
                    connect_timeout=2,
                    read_timeout=5,
                )
                self._client = boto3.client("lambda", config=config)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="dispatch")
            return self._client, self._pool

    def _invoke(self, job: Mapping[str, Any]) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        client, _ = self._ready()
        try:
            answer = client.invoke(
                FunctionName=self.function_name,
                InvocationType="Event",
                Payload=json.dumps(job, separators=(",", ":")).encode(),
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
        except BotoCoreError as exc:
            return type(exc).__name__
        status = answer.get("StatusCode")
        return None if status == _ACCEPTED else f"HTTP {status}"

    def dispatch(self, jobs: Sequence[Mapping[str, Any]]) -> list[str | None]:
        """See `Dispatcher.dispatch`."""
        if not jobs:
            return []
        _, pool = self._ready()
        return list(pool.map(self._invoke, jobs))

    def close(self) -> None:
        """Stop the threads and close the client's connection pool."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        close = getattr(self._client, "close", None)
        if callable(close):
            close()
