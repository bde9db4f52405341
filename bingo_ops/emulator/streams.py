"""Event source mappings: Lambda's DynamoDB Streams poller, emulated over the SQLite change log.

On AWS a table's stream is read by Lambda's poller, one reader per shard, which gathers records
into batches and invokes the function with each batch, one batch at a time per shard
(https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html). The emulator's store writes a
change log entry in the same transaction as every event (`SqliteStore.changes_after`); one
`EventSourceMapping` plays the poller for one function over that log, as one shard:

- it starts at the newest entry when the stack starts (StartingPosition `LATEST`);
- it reads the log every `poll_s` in a worker thread (AWS's poller reads a shard about four
  times a second; the default here is faster so that a batching window of 0 really means "as
  soon as the poller sees records");
- MaximumBatchingWindowInSeconds: once records are pending it keeps gathering for up to
  `window_s` after it saw the first of them, or until `batch_size` (BatchSize; AWS's default
  for DynamoDB streams is 100), then invokes the function once with all of them;
- invocations are sequential: the next batch waits for the previous invocation to end;
- a handler error retries the same batch with capped exponential backoff up to
  `max_retries` times (MaximumRetryAttempts), then skips it with a warning, as AWS does for a
  mapping without an on-failure destination
  (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html);
- no new records, no invocation: an idle table costs nothing.

Every invocation goes through `LambdaRuntime.invoke`, so it is metered per function like any
API Gateway integration. The mapping's own counters (batches, records, retries, skips) are
reported to the `Meter` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from backend.adapters.store_sqlite import Change
from bingo_ops.emulator import events
from bingo_ops.emulator.events import StreamSite
from bingo_ops.emulator.lambdas import Handler, LambdaRuntime
from bingo_ops.emulator.metering import Meter

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 0.05
DEFAULT_BATCH_SIZE = 100  # BatchSize default for DynamoDB streams
MAX_BATCH_SIZE = 10_000  # BatchSize maximum for DynamoDB streams
# AWS retries until the record expires (-1) unless told otherwise; a bounded default keeps a
# poisoned batch from stalling a local stack (MaximumRetryAttempts).
DEFAULT_MAX_RETRIES = 3
RETRY_BASE_S = 0.1
RETRY_CAP_S = 2.0


class ChangeLog(Protocol):
    """What a mapping reads: the store's change log (`SqliteStore` provides it)."""

    def changes_after(self, after_id: int, *, limit: int) -> list[Change]:
        """Entries with `change_id > after_id`, ascending, at most `limit`."""
        ...

    def last_change_id(self) -> int:
        """The newest entry's id (0 before the first)."""
        ...


@dataclass(frozen=True)
class MappingConfig:
    """One event source mapping: which function, and how the poller batches for it.

    Attributes:
        function_name: The function invoked (its metering name).
        handler: The function's entry point.
        window_s: MaximumBatchingWindowInSeconds (0: invoke as soon as records are read).
        batch_size: BatchSize: records per invocation at most.
        poll_s: Seconds between reads of the log while nothing is pending.
        max_retries: MaximumRetryAttempts for a batch whose invocation fails.
        retry_base_s: First retry delay; doubled per attempt.
        retry_cap_s: Longest retry delay.
    """

    function_name: str
    handler: Handler
    window_s: float
    batch_size: int = DEFAULT_BATCH_SIZE
    poll_s: float = DEFAULT_POLL_S
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_base_s: float = RETRY_BASE_S
    retry_cap_s: float = RETRY_CAP_S

    def __post_init__(self) -> None:
        if self.window_s < 0:
            raise ValueError(f"{self.function_name}: the batching window must be >= 0")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"{self.function_name}: batch size must be 1..{MAX_BATCH_SIZE}")
        if self.poll_s <= 0:
            raise ValueError(f"{self.function_name}: the poll interval must be > 0")
        if self.max_retries < 0:
            raise ValueError(f"{self.function_name}: max retries must be >= 0")

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before retry `attempt` (1-based): exponential, capped."""
        return float(min(self.retry_cap_s, self.retry_base_s * 2 ** (attempt - 1)))


@dataclass
class MappingStats:
    """What a mapping has done so far.

    Attributes:
        position: The change id of the last record read (the shard iterator's position).
        batches: Batches handed to the function successfully.
        records: Records in those batches.
        retries: Invocations that were retries of a failed batch.
        skipped_batches: Batches given up on after `max_retries` retries.
        skipped_records: Records in those batches.
        last_error: The last handler error, as text.
    """

    position: int = 0
    batches: int = 0
    records: int = 0
    retries: int = 0
    skipped_batches: int = 0
    skipped_records: int = 0
    last_error: str | None = None

    def view(self) -> dict[str, Any]:
        """JSON view."""
        return {
            "position": self.position,
            "batches": self.batches,
            "records": self.records,
            "retries": self.retries,
            "skippedBatches": self.skipped_batches,
            "skippedRecords": self.skipped_records,
            "lastError": self.last_error,
        }


@dataclass
class _Pending:
    change: Change
    seen_at: float


class EventSourceMapping:
    """Polls the change log and invokes one function with batches of it, in a task.

    Args:
        config: The function and its batching.
        log_source: The store's change log.
        runtime: Runs (and meters) the invocations.
        site: The stream's region, table and label, for the records' ARN.
        meter: Where the mapping's counters are reported (optional).
    """

    def __init__(
        self,
        config: MappingConfig,
        log_source: ChangeLog,
        runtime: LambdaRuntime,
        site: StreamSite,
        meter: Meter | None = None,
    ) -> None:
        self.config = config
        self.log_source = log_source
        self.runtime = runtime
        self.site = site
        self.meter = meter
        self.stats = MappingStats()
        self._task: asyncio.Task[None] | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._pending: list[_Pending] = []

    @property
    def name(self) -> str:
        """The mapped function's name."""
        return self.config.function_name

    @property
    def running(self) -> bool:
        """Whether the polling task is alive."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Position at the log's end (LATEST) and start polling."""
        if self._task is not None:
            raise RuntimeError(f"the mapping for {self.name} is already started")
        # One reader thread per mapping: SQLite never blocks the event loop, and `stop` can
        # wait for the read in flight before the store is closed.
        self._reader = ThreadPoolExecutor(1, thread_name_prefix=f"stream-{self.name}")
        self.stats.position = await self._read(self.log_source.last_change_id)
        self._task = asyncio.create_task(self._run(), name=f"esm-{self.name}")

    async def stop(self) -> None:
        """Stop polling; a batch gathered or in flight is dropped (not drained)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        reader, self._reader = self._reader, None
        if reader is not None:
            await asyncio.to_thread(reader.shutdown, wait=True, cancel_futures=True)
        self._pending.clear()

    async def _read(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        assert self._reader is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, lambda: call(*args, **kwargs))

    async def _poll(self, limit: int) -> int:
        """Read up to `limit` new records into the pending list; returns how many."""
        changes: list[Change] = await self._read(
            self.log_source.changes_after, self.stats.position, limit=limit
        )
        if changes:
            now = time.monotonic()
            self._pending.extend(_Pending(c, now) for c in changes)
            self.stats.position = changes[-1].change_id
        return len(changes)

    async def _run(self) -> None:
        config = self.config
        while True:
            if not self._pending:
                try:
                    found = await self._poll(config.batch_size)
                except Exception:
                    log.exception("%s: reading the change log failed", self.name)
                    found = 0
                if not found:
                    await asyncio.sleep(config.poll_s)
                    continue
            # The window runs from when the poller first saw the oldest pending record; left
            # over records of a full batch were seen long ago and go at once.
            deadline = self._pending[0].seen_at + config.window_s
            while len(self._pending) < config.batch_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await asyncio.sleep(min(config.poll_s, left))
                with contextlib.suppress(Exception):
                    await self._poll(config.batch_size - len(self._pending))
            batch = [p.change for p in self._pending[: config.batch_size]]
            del self._pending[: config.batch_size]
            await self._deliver(batch)

    async def _deliver(self, batch: Sequence[Change]) -> None:
        config = self.config
        attempt = 0
        while True:
            event = events.dynamodb_stream_event(self.site, batch)
            try:
                response = await self.runtime.invoke(self.name, config.handler, event)
                # ReportBatchItemFailures: the records before the lowest failed one are done;
                # the stream resumes from that one (a malformed answer fails the whole batch).
                # https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
                done, batch = _split_at_failure(batch, response)
            except Exception as exc:
                done = []
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            else:
                if not batch:
                    self._delivered(done)
                    return
                self.stats.last_error = f"the function reported {len(batch)} records failed"
            if done:
                self._delivered(done)
            if attempt >= config.max_retries:
                self.stats.skipped_batches += 1
                self.stats.skipped_records += len(batch)
                self._report(skipped=len(batch))
                log.warning(
                    "%s: skipping a batch of %d records (changes %d..%d) after %d retries;"
                    " last error: %s",
                    self.name,
                    len(batch),
                    batch[0].change_id,
                    batch[-1].change_id,
                    attempt,
                    self.stats.last_error,
                )
                return
            attempt += 1
            self.stats.retries += 1
            self._report(retried=True)
            log.info("%s: %s; retry %d", self.name, self.stats.last_error, attempt)
            await asyncio.sleep(config.retry_delay(attempt))

    def _delivered(self, changes: Sequence[Change]) -> None:
        self.stats.batches += 1
        self.stats.records += len(changes)
        self._report(records=len(changes))

    def _report(self, *, records: int = 0, retried: bool = False, skipped: int = 0) -> None:
        if self.meter is not None:
            self.meter.stream_batch(self.name, records=records, retried=retried, skipped=skipped)


def _split_at_failure(batch: Sequence[Change], response: Any) -> tuple[list[Change], list[Change]]:
    """A batch's records done and still to deliver, after the function's answer.

    Raises:
        ValueError: the answer reports a failure but names no record of the batch.
    """
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return list(batch), []
    numbers = {events.stream_sequence_number(c): i for i, c in enumerate(batch)}
    try:
        first = min(numbers[f["itemIdentifier"]] for f in failures)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"batchItemFailures names no record of the batch: {failures!r}") from exc
    return list(batch[:first]), list(batch[first:])
