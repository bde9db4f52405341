"""Event source mappings: Lambda's DynamoDB Streams poller, emulated over a stream source.

On AWS a table's stream is read by Lambda's poller, one reader per shard, which gathers records
into batches and invokes the function with each batch, one batch at a time per shard
(https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html). One `EventSourceMapping` plays
the poller for one function over a `StreamSource`, which hands over records already in the
shape Lambda delivers them. There are two sources:

- `ChangeLogSource`: the SQLite store writes a change log entry in the same transaction as
  every event (`SqliteStore.changes_after`); each entry becomes the KEYS_ONLY record of an
  event insert (`events.stream_record`), as one shard;
- `bingo_ops.emulator.dynamodb_stream`: a DynamoDB table's own stream (a moto server's, in
  tests), read through the DynamoDB Streams API.

Whatever the source, the mapping:

- starts at the newest record when the stack starts (StartingPosition `LATEST`);
- reads the source every `poll_s` in a worker thread (AWS's poller reads a shard about four
  times a second; the default here is faster so that a batching window of 0 really means "as
  soon as the poller sees records");
- drops the records its filter pattern does not match before they count towards a batch
  (FilterCriteria; https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html);
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
import copy
import logging
import time
from collections.abc import Mapping, Sequence
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


class StreamSource(Protocol):
    """Where a mapping reads records: one stream, in order, from where `start` put the reader.

    One source per mapping (each mapping has its own position, as each of AWS's does). `start`
    and `read` block; the mapping calls them from its reader thread only.
    """

    @property
    def arn(self) -> str:
        """The stream's ARN (every record's `eventSourceARN`)."""
        ...

    def start(self) -> None:
        """Position the reader after the newest record (StartingPosition `LATEST`)."""
        ...

    def read(self, limit: int) -> list[dict[str, Any]]:
        """The next records after the position, oldest first, at most `limit`; moves past them.

        Each is a stream record as Lambda hands it to a function: `eventName`, `dynamodb`
        (`Keys`, a decimal-string `SequenceNumber` growing within a shard, ...) and
        `eventSourceARN`.
        """
        ...


class ChangeLog(Protocol):
    """The store's change log (`SqliteStore` provides it)."""

    def changes_after(self, after_id: int, *, limit: int) -> list[Change]:
        """Entries with `change_id > after_id`, ascending, at most `limit`."""
        ...

    def last_change_id(self) -> int:
        """The newest entry's id (0 before the first)."""
        ...


class ChangeLogSource:
    """The SQLite store's change log as a one-shard stream of KEYS_ONLY event inserts.

    Args:
        log: The store's change log.
        site: The stream's region, table and label, for the records' ARN.
    """

    def __init__(self, log: ChangeLog, site: StreamSite) -> None:
        self.log = log
        self.site = site
        self._after = 0

    @property
    def arn(self) -> str:
        """The emulated stream's ARN."""
        return self.site.arn

    def start(self) -> None:
        """Position after the log's newest entry."""
        self._after = self.log.last_change_id()

    def read(self, limit: int) -> list[dict[str, Any]]:
        """The next entries as stream records (every entry is an event insert)."""
        changes = self.log.changes_after(self._after, limit=limit)
        if changes:
            self._after = changes[-1].change_id
        return [events.stream_record(self.site, change) for change in changes]


def check_filter(pattern: Mapping[str, Any]) -> None:
    """Refuse a filter pattern `filter_matches` cannot apply as Lambda would.

    Supported: nested objects whose leaves are lists of literal values and `{"prefix": ...}`
    operators, which is what the broadcasters' filter (`dynamodb_keys.EVENT_FILTER`) uses.

    Raises:
        ValueError: a leaf that is not a list, or an operator other than `prefix`.
    """
    for name, rule in pattern.items():
        if isinstance(rule, Mapping):
            check_filter(rule)
        elif not isinstance(rule, list):
            raise ValueError(f"filter field {name!r}: expected an object or a list of values")
        else:
            for value in rule:
                if isinstance(value, Mapping) and (
                    set(value) != {"prefix"} or not isinstance(value["prefix"], str)
                ):
                    raise ValueError(
                        f"filter field {name!r}: the emulator supports literal values and"
                        f" string prefixes only, not {value!r}"
                    )


def filter_matches(pattern: Mapping[str, Any], record: Any) -> bool:
    """Whether a record passes a Lambda event filter pattern (see `check_filter`).

    Every field of the pattern must match; a list matches when the record's value equals one
    of its literals or starts with one of its prefixes; a field the record lacks never matches
    (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html).
    """
    if not isinstance(record, Mapping):
        return False
    for name, rule in pattern.items():
        if name not in record:
            return False
        value = record[name]
        if isinstance(rule, Mapping):
            if not filter_matches(rule, value):
                return False
        elif not any(_value_matches(option, value) for option in rule):
            return False
    return True


def _value_matches(option: Any, value: Any) -> bool:
    if isinstance(option, Mapping):
        return isinstance(value, str) and value.startswith(option["prefix"])
    return bool(option == value)


@dataclass(frozen=True)
class MappingConfig:
    """One event source mapping: which function, and how the poller filters and batches for it.

    Attributes:
        function_name: The function invoked (its metering name).
        handler: The function's entry point.
        window_s: MaximumBatchingWindowInSeconds (0: invoke as soon as records are read).
        batch_size: BatchSize: records per invocation at most.
        poll_s: Seconds between reads of the stream while nothing is pending.
        max_retries: MaximumRetryAttempts for a batch whose invocation fails.
        retry_base_s: First retry delay; doubled per attempt.
        retry_cap_s: Longest retry delay.
        filter_pattern: FilterCriteria: only records matching it reach the function (None: all
            do). Literal values and prefixes only (`check_filter`).
    """

    function_name: str
    handler: Handler
    window_s: float
    batch_size: int = DEFAULT_BATCH_SIZE
    poll_s: float = DEFAULT_POLL_S
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_base_s: float = RETRY_BASE_S
    retry_cap_s: float = RETRY_CAP_S
    filter_pattern: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.window_s < 0:
            raise ValueError(f"{self.function_name}: the batching window must be >= 0")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"{self.function_name}: batch size must be 1..{MAX_BATCH_SIZE}")
        if self.poll_s <= 0:
            raise ValueError(f"{self.function_name}: the poll interval must be > 0")
        if self.max_retries < 0:
            raise ValueError(f"{self.function_name}: max retries must be >= 0")
        if self.filter_pattern is not None:
            check_filter(self.filter_pattern)

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before retry `attempt` (1-based): exponential, capped."""
        return float(min(self.retry_cap_s, self.retry_base_s * 2 ** (attempt - 1)))


@dataclass
class MappingStats:
    """What a mapping has done so far.

    Attributes:
        position: The `SequenceNumber` of the last record read (None before the first).
        filtered: Records read that the filter pattern dropped.
        batches: Batches handed to the function successfully.
        records: Records in those batches.
        retries: Invocations that were retries of a failed batch.
        skipped_batches: Batches given up on after `max_retries` retries.
        skipped_records: Records in those batches.
        last_error: The last handler error, as text.
    """

    position: str | None = None
    filtered: int = 0
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
            "filtered": self.filtered,
            "batches": self.batches,
            "records": self.records,
            "retries": self.retries,
            "skippedBatches": self.skipped_batches,
            "skippedRecords": self.skipped_records,
            "lastError": self.last_error,
        }


@dataclass
class _Pending:
    record: dict[str, Any]
    seen_at: float


class EventSourceMapping:
    """Polls a stream source and invokes one function with batches of it, in a task.

    Args:
        config: The function, its batching and its filter.
        source: The stream, read by this mapping alone.
        runtime: Runs (and meters) the invocations.
        meter: Where the mapping's counters are reported (optional).
    """

    def __init__(
        self,
        config: MappingConfig,
        source: StreamSource,
        runtime: LambdaRuntime,
        meter: Meter | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.runtime = runtime
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
        """Position at the stream's end (LATEST) and start polling.

        Raises:
            Exception: whatever the source's `start` raised (no stream, no table, ...).
        """
        if self._task is not None:
            raise RuntimeError(f"the mapping for {self.name} is already started")
        # One reader thread per mapping: SQLite or HTTP never blocks the event loop, and `stop`
        # can wait for the read in flight before the store (or the clients) are closed.
        self._reader = ThreadPoolExecutor(1, thread_name_prefix=f"stream-{self.name}")
        await self._read(self.source.start)
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
        """Read up to `limit` new records, keeping those the filter passes; returns how many read.

        Lambda filters before batching: a dropped record neither counts towards BatchSize nor
        opens a batching window (it is still read past, so it is never read again).
        """
        records: list[dict[str, Any]] = await self._read(self.source.read, limit)
        if records:
            now = time.monotonic()
            pattern = self.config.filter_pattern
            kept = [r for r in records if pattern is None or filter_matches(pattern, r)]
            self._pending.extend(_Pending(r, now) for r in kept)
            self.stats.filtered += len(records) - len(kept)
            self.stats.position = _sequence_number(records[-1])
        return len(records)

    async def _run(self) -> None:
        config = self.config
        while True:
            if not self._pending:
                try:
                    read = await self._poll(config.batch_size)
                except Exception:
                    log.exception("%s: reading the stream failed", self.name)
                    read = 0
                if not self._pending:
                    if not read:  # records that were all filtered out: more may follow at once
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
            batch = [p.record for p in self._pending[: config.batch_size]]
            del self._pending[: config.batch_size]
            await self._deliver(batch)

    async def _deliver(self, batch: Sequence[dict[str, Any]]) -> None:
        config = self.config
        attempt = 0
        while True:
            # A fresh copy per attempt: a handler that edits its event cannot change what a
            # retry hands over.
            event = {"Records": copy.deepcopy(list(batch))}
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
                    "%s: skipping a batch of %d records (sequence numbers %s..%s) after %d"
                    " retries; last error: %s",
                    self.name,
                    len(batch),
                    _sequence_number(batch[0]),
                    _sequence_number(batch[-1]),
                    attempt,
                    self.stats.last_error,
                )
                return
            attempt += 1
            self.stats.retries += 1
            self._report(retried=True)
            log.info("%s: %s; retry %d", self.name, self.stats.last_error, attempt)
            await asyncio.sleep(config.retry_delay(attempt))

    def _delivered(self, records: Sequence[dict[str, Any]]) -> None:
        self.stats.batches += 1
        self.stats.records += len(records)
        self._report(records=len(records))

    def _report(self, *, records: int = 0, retried: bool = False, skipped: int = 0) -> None:
        if self.meter is not None:
            self.meter.stream_batch(self.name, records=records, retried=retried, skipped=skipped)


def _sequence_number(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _split_at_failure(
    batch: Sequence[dict[str, Any]], response: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A batch's records done and still to deliver, after the function's answer.

    A failure names its record by `SequenceNumber` (`itemIdentifier`), whichever the source.

    Raises:
        ValueError: the answer reports a failure but names no record of the batch.
    """
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return list(batch), []
    numbers = {_sequence_number(r): i for i, r in enumerate(batch)}
    try:
        first = min(numbers[f["itemIdentifier"]] for f in failures)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"batchItemFailures names no record of the batch: {failures!r}") from exc
    return list(batch[:first]), list(batch[first:])
