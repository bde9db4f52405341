"""The emulated DynamoDB Streams poller: LATEST start, batching window, batch size, retries.

Each test runs one `EventSourceMapping` over a real SQLite change log (or a DynamoDB table's
stream on a moto server) and a real `LambdaRuntime`; the function is the test's own recorder,
so what it sees is exactly what the poller handed over. The record shape is checked against
the captured event in tests/events/.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import boto3
import moto_kit
import pytest
from gateway_kit import wait_until

from backend.adapters.dynamodb_keys import EVENT_FILTER, event_item_keys, parse_event_item_keys
from backend.adapters.store_dynamodb import table_definition
from backend.adapters.store_sqlite import Change, SqliteStore
from backend.domain.game import GameState
from backend.domain.model import Game
from backend.handlers.events import StreamBatch
from bingo_ops.emulator.dynamodb_stream import (
    KEYS_ONLY_STREAM,
    DynamoDBStream,
    DynamoDBStreamReader,
)
from bingo_ops.emulator.events import StreamSite, dynamodb_stream_event
from bingo_ops.emulator.lambdas import LambdaRuntime
from bingo_ops.emulator.metering import Meter
from bingo_ops.emulator.run import summary
from bingo_ops.emulator.streams import (
    ChangeLogSource,
    EventSourceMapping,
    MappingConfig,
    StreamSource,
    filter_matches,
)

CAPTURED = Path(__file__).parents[2] / "events" / "dynamodb_stream_keys_only.json"
FUNCTION = "recorder"
QUIET_S = 0.3  # several poll intervals of 0.02 s: long enough for a stray invocation to show


class Recorder:
    """A function that records every event it is invoked with; fails while `failing` says so."""

    def __init__(self, failing: Callable[[dict[str, Any], int], bool] | None = None) -> None:
        self.failing = failing or (lambda _event, _call: False)
        self.calls: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        with self._lock:
            self.calls.append(event)
            if self.failing(event, len(self.calls)):
                raise RuntimeError("the store is unavailable")
            self.delivered.append(event)
        return {"batchItemFailures": []}

    def records(self) -> list[dict[str, Any]]:
        """Every delivered record, in delivery order."""
        return [r for e in self.delivered for r in e["Records"]]

    def games(self) -> list[str]:
        """The game of every delivered record, in delivery order."""
        found = [parse_event_item_keys(r["dynamodb"]["Keys"]) for r in self.records()]
        return [f[0] for f in found if f is not None]


def _write(store: SqliteStore, *game_ids: str) -> None:
    # Creating a game appends its first event (seq 1), and so one change log entry.
    for game_id in game_ids:
        store.create_game(
            Game(
                game_id=game_id,
                name=game_id,
                grid_size=3,
                words=tuple(f"w{i}" for i in range(8)),
                state=GameState.OPEN,
                created_at=1_700_000_000.0,
                updated_at=1_700_000_000.0,
            )
        )


@asynccontextmanager
async def _mapping(
    store: SqliteStore, recorder: Recorder, **config: Any
) -> AsyncIterator[EventSourceMapping]:
    async with _mapping_on(ChangeLogSource(store, StreamSite()), recorder, **config) as mapping:
        yield mapping


@asynccontextmanager
async def _mapping_on(
    source: StreamSource, recorder: Recorder, **config: Any
) -> AsyncIterator[EventSourceMapping]:
    meter = Meter()
    runtime = LambdaRuntime(meter, workers=4)
    settings: dict[str, Any] = {"window_s": 0.0, "poll_s": 0.02, "retry_base_s": 0.01}
    settings.update(config)
    mapping = EventSourceMapping(
        MappingConfig(FUNCTION, recorder, **settings), source, runtime, meter
    )
    await mapping.start()
    try:
        yield mapping
    finally:
        await mapping.stop()
        await asyncio.to_thread(runtime.close)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    """A fresh SQLite store (and so a fresh change log)."""
    return SqliteStore(tmp_path / "bingo.sqlite3")


def _shape(value: Any) -> Any:
    """The structure of a JSON document: its keys, recursively, with leaves reduced to types."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__ if not isinstance(value, int | float) else "number"


def test_a_stream_record_has_the_shape_of_a_captured_one() -> None:
    captured = json.loads(CAPTURED.read_text())["Records"][0]
    site = StreamSite(table="bingo-dev", label="2026-11-29T12:00:00.000", region="us-east-1")
    change = Change(change_id=7, game_id="GAME_ID", seq=1, created_at=1_800_000_000.25)

    (record,) = dynamodb_stream_event(site, [change])["Records"]

    assert _shape(record) == _shape(captured)
    assert record["eventSourceARN"] == captured["eventSourceARN"].replace(
        "123456789012", "000000000000"
    )
    assert record["dynamodb"]["Keys"] == captured["dynamodb"]["Keys"]
    assert record["dynamodb"]["SequenceNumber"] == f"{7:021d}"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1_800_000_000.0
    assert (record["eventName"], record["eventVersion"]) == ("INSERT", "1.1")
    assert (record["eventSource"], record["awsRegion"]) == ("aws:dynamodb", "us-east-1")
    assert record["dynamodb"]["StreamViewType"] == "KEYS_ONLY"


def test_the_broadcasters_read_a_built_batch() -> None:
    changes = [Change(1, "g1", 5, 0.0), Change(2, "g2", 1, 0.0), Change(3, "g1", 6, 0.0)]

    batch = StreamBatch.from_event(
        dynamodb_stream_event(StreamSite(), changes), parse_event_item_keys
    )

    assert batch.seq_ranges == {"g1": (5, 6), "g2": (1, 1)}
    assert (batch.records, batch.ignored) == (3, 0)


def test_it_starts_at_the_latest_change_and_is_idle_without_new_ones(store: SqliteStore) -> None:
    recorder = Recorder()

    async def scenario() -> None:
        _write(store, "before-1", "before-2")
        async with _mapping(store, recorder) as mapping:
            await asyncio.sleep(QUIET_S)
            assert recorder.calls == []
            _write(store, "after")
            await wait_until(lambda: len(recorder.calls) == 1, what="one invocation")
            await asyncio.sleep(QUIET_S)
            assert len(recorder.calls) == 1
            assert mapping.stats.position == f"{3:021d}"
        (record,) = recorder.records()
        assert record["dynamodb"]["SequenceNumber"] == f"{3:021d}"
        assert recorder.games() == ["after"]
        batch = StreamBatch.from_event(recorder.delivered[0], parse_event_item_keys)
        assert batch.seq_ranges == {"after": (1, 1)}

    asyncio.run(scenario())


def test_a_window_gathers_a_burst_into_one_invocation(store: SqliteStore) -> None:
    recorder = Recorder()

    async def scenario() -> None:
        async with _mapping(store, recorder, window_s=0.5):
            _write(store, "a", "b", "c")
            await wait_until(lambda: len(recorder.records()) == 3, what="three records")
            await asyncio.sleep(QUIET_S)
        assert len(recorder.calls) == 1
        assert recorder.games() == ["a", "b", "c"]

    asyncio.run(scenario())


def test_a_full_batch_goes_before_its_window_ends_and_in_order(store: SqliteStore) -> None:
    recorder = Recorder()
    games = [f"g{n}" for n in range(8)]

    async def scenario() -> None:
        # A window far longer than the test: only the batch size can send these batches.
        async with _mapping(store, recorder, window_s=60.0, batch_size=4) as mapping:
            _write(store, *games)
            await wait_until(lambda: len(recorder.calls) == 2, what="two full batches")
            assert mapping.stats.batches == 2
        assert [len(e["Records"]) for e in recorder.calls] == [4, 4]
        assert recorder.games() == games
        numbers = [r["dynamodb"]["SequenceNumber"] for r in recorder.records()]
        assert numbers == sorted(numbers)

    asyncio.run(scenario())


def test_a_failed_batch_is_retried_as_it_was(store: SqliteStore) -> None:
    recorder = Recorder(failing=lambda _event, call: call <= 2)

    async def scenario() -> None:
        async with _mapping(store, recorder, max_retries=3) as mapping:
            _write(store, "a")
            await wait_until(lambda: len(recorder.delivered) == 1, what="the batch to get through")
            assert (mapping.stats.retries, mapping.stats.skipped_batches) == (2, 0)
            snapshot = mapping.runtime.meter.snapshot()
        assert len(recorder.calls) == 3
        # A retry hands over the very same records (same ids and sequence numbers).
        assert recorder.calls[0] == recorder.calls[1] == recorder.calls[2]
        function = snapshot["lambda"]["functions"][FUNCTION]
        assert (function["invocations"], function["errors"]) == (3, 2)
        assert snapshot["eventSourceMappings"][FUNCTION] == {
            "batches": 1,
            "records": 1,
            "retries": 2,
            "skippedBatches": 0,
            "skippedRecords": 0,
        }

    asyncio.run(scenario())


def test_a_batch_that_keeps_failing_is_skipped_and_the_stream_moves_on(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    def poisoned(event: dict[str, Any], _call: int) -> bool:
        return "GAME#bad" in json.dumps(event)

    recorder = Recorder(failing=poisoned)

    async def scenario() -> None:
        async with _mapping(store, recorder, max_retries=1) as mapping:
            _write(store, "bad")
            await wait_until(lambda: mapping.stats.skipped_batches == 1, what="the skip")
            _write(store, "good")
            await wait_until(lambda: len(recorder.delivered) == 1, what="the next batch")
            assert mapping.stats.skipped_records == 1
            assert mapping.stats.retries == 1
            assert mapping.stats.last_error == "RuntimeError: the store is unavailable"
        assert len(recorder.calls) == 3  # the bad batch twice, then the good one
        assert recorder.games() == ["good"]

    with caplog.at_level(logging.WARNING, logger="bingo_ops.emulator.streams"):
        asyncio.run(scenario())
    assert any("skipping a batch of 1 records" in r.getMessage() for r in caplog.records)


def test_a_stopped_mapping_invokes_nothing_more(store: SqliteStore) -> None:
    recorder = Recorder()

    async def scenario() -> None:
        async with _mapping(store, recorder) as mapping:
            _write(store, "a")
            await wait_until(lambda: len(recorder.calls) == 1, what="one invocation")
            await mapping.stop()
            assert not mapping.running
            _write(store, "b")
            await asyncio.sleep(QUIET_S)
        assert recorder.games() == ["a"]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"window_s": -1.0}, "batching window"),
        ({"batch_size": 0}, "batch size"),
        ({"batch_size": 10_001}, "batch size"),
        ({"poll_s": 0.0}, "poll interval"),
        ({"max_retries": -1}, "max retries"),
        ({"filter_pattern": {"eventName": "INSERT"}}, "a list of values"),
        ({"filter_pattern": {"eventName": [{"anything-but": "REMOVE"}]}}, "prefixes only"),
    ],
)
def test_a_mapping_refuses_settings_aws_would_refuse(bad: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"window_s": 0.0, **bad}
    with pytest.raises(ValueError, match=message):
        MappingConfig(FUNCTION, Recorder(), **settings)


def test_the_stacks_summary_reports_each_mappings_records_batches_and_skips() -> None:
    meter = Meter()
    meter.stream_batch("broadcast_boards", records=5)
    meter.stream_batch("broadcast_boards", records=2)
    meter.stream_batch("broadcast_players", retried=True)
    meter.stream_batch("broadcast_players", skipped=3)

    text = summary(meter.snapshot())

    assert "stream -> broadcast_boards: 7 records in 2 batches, 0 retries, 0 records skipped" in (
        text
    )
    assert "stream -> broadcast_players: 0 records in 0 batches, 1 retries, 3 records skipped" in (
        text
    )
    assert "stream ->" not in summary(Meter().snapshot())


class PartlyFailing:
    """Reports the first record of game `b` failed (ReportBatchItemFailures) on its first call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        games = [parse_event_item_keys(r["dynamodb"]["Keys"]) for r in event["Records"]]
        self.calls.append([g[0] for g in games if g is not None])
        if len(self.calls) == 1:
            failed = next(
                r["dynamodb"]["SequenceNumber"]
                for r, g in zip(event["Records"], games, strict=True)
                if g is not None and g[0] == "b"
            )
            return {"batchItemFailures": [{"itemIdentifier": failed}]}
        return {"batchItemFailures": []}


def test_a_partial_batch_failure_resumes_from_the_first_failed_record(store: SqliteStore) -> None:
    function = PartlyFailing()

    async def scenario() -> None:
        async with _mapping(store, function, window_s=0.3) as mapping:
            _write(store, "a", "b", "c")
            await wait_until(lambda: mapping.stats.records == 3, what="every record through")
            assert (mapping.stats.retries, mapping.stats.skipped_records) == (1, 0)

    asyncio.run(scenario())
    # `a` was done; the retry starts at `b`'s record and carries what follows it.
    assert function.calls == [["a", "b", "c"], ["b", "c"]]


def test_a_partial_failure_naming_no_record_fails_the_whole_batch(store: SqliteStore) -> None:
    calls: list[int] = []

    def confused(event: dict[str, Any], context: object) -> dict[str, Any]:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            return {"batchItemFailures": [{"itemIdentifier": "not-a-record"}]}
        return {}

    async def scenario() -> None:
        async with _mapping(store, confused) as mapping:
            _write(store, "a")
            await wait_until(lambda: mapping.stats.records == 1, what="the record through")
            assert mapping.stats.retries == 1

    asyncio.run(scenario())
    assert calls == [1, 1]


def test_the_filter_passes_only_the_inserts_of_event_items() -> None:
    captured = json.loads(CAPTURED.read_text())["Records"]

    passed = [filter_matches(EVENT_FILTER, r) for r in captured]

    assert [r["eventName"] for r in captured] == ["INSERT", "MODIFY", "REMOVE"]
    assert passed == [True, False, False]
    game_item = {**captured[0], "dynamodb": {"Keys": {"pk": {"S": "GAME#g"}, "sk": {"S": "GAME"}}}}
    assert not filter_matches(EVENT_FILTER, game_item)


def _put(dynamodb: Any, table: str, keys: dict[str, dict[str, str]]) -> None:
    dynamodb.put_item(TableName=table, Item={**keys, "note": {"S": "x"}})


def test_a_tables_own_stream_is_read_from_the_latest_record_and_filtered(
    aws: dict[str, str],
) -> None:
    table = "bingo-stream"
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(**table_definition(table), StreamSpecification=dict(KEYS_ONLY_STREAM))
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    _put(dynamodb, table, event_item_keys("before", 1))  # before the start: LATEST skips it
    recorder = Recorder()
    stream = DynamoDBStream.open(table, moto_kit.REGION)

    async def scenario() -> None:
        reader = stream.reader()
        async with _mapping_on(reader, recorder, filter_pattern=EVENT_FILTER) as mapping:
            _put(dynamodb, table, {"pk": {"S": "GAME#g"}, "sk": {"S": "GAME"}})  # not an event
            _put(dynamodb, table, event_item_keys("g", 1))
            _put(dynamodb, table, event_item_keys("g", 1))  # MODIFY
            dynamodb.delete_item(TableName=table, Key=event_item_keys("before", 1))  # REMOVE
            _put(dynamodb, table, event_item_keys("g", 2))
            await wait_until(lambda: mapping.stats.records == 2, what="both event inserts")
            await asyncio.sleep(QUIET_S)
            assert (mapping.stats.records, mapping.stats.filtered) == (2, 3)
            assert mapping.stats.position == recorder.records()[-1]["dynamodb"]["SequenceNumber"]

    try:
        asyncio.run(scenario())
    finally:
        stream.close()
    records = recorder.records()
    batch = StreamBatch.from_event({"Records": records}, parse_event_item_keys)
    assert batch.seq_ranges == {"g": (1, 2)}
    assert {r["eventSourceARN"] for r in records} == {arn}
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(numbers)
    # Lambda's shape, as captured: the ARN added, the creation time in epoch seconds.
    captured = json.loads(CAPTURED.read_text())["Records"][0]
    assert _shape(records[0]) == _shape(captured)
    assert records[0]["dynamodb"]["StreamViewType"] == "KEYS_ONLY"
    assert set(records[0]["dynamodb"]["Keys"]) == {"pk", "sk"}  # keys only, no image


class ShardedStream:
    """A stream of shards whose records the test appends and whose shards it closes."""

    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label"

    def __init__(self) -> None:
        self.listed: list[str] = ["parent"]
        self.shard_records: dict[str, list[dict[str, Any]]] = {"parent": []}
        self.closed: set[str] = set()

    def add(self, shard: str, game_id: str, seq: int) -> None:
        records = self.shard_records.setdefault(shard, [])
        keys = event_item_keys(game_id, seq)
        number = f"{len(records) + 1:021d}"
        records.append(
            {"eventName": "INSERT", "dynamodb": {"Keys": keys, "SequenceNumber": number}}
        )

    def shards(self) -> list[dict[str, Any]]:
        return [{"ShardId": s, "SequenceNumberRange": {}} for s in self.listed]

    def iterator(self, shard_id: str, kind: str) -> str:
        start = len(self.shard_records[shard_id]) if kind == "LATEST" else 0
        return f"{shard_id}:{start}"

    def records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        shard_id, start = iterator.split(":")
        found = self.shard_records[shard_id][int(start) : int(start) + limit]
        end = int(start) + len(found)
        drained = end == len(self.shard_records[shard_id])
        following = None if shard_id in self.closed and drained else f"{shard_id}:{end}"
        return found, following


def test_a_reader_follows_a_closed_shard_into_its_child_from_the_childs_start() -> None:
    stream = ShardedStream()
    stream.add("parent", "old", 1)
    reader = DynamoDBStreamReader(cast(DynamoDBStream, stream))
    reader.start()  # LATEST: after `old`

    stream.add("parent", "g", 1)
    stream.closed.add("parent")  # the shard rolls over: its child takes the writes
    stream.listed.append("child")
    stream.add("child", "g", 2)
    first = reader.read(100)
    second = reader.read(100)

    assert [parse_event_item_keys(r["dynamodb"]["Keys"]) for r in first + second] == [
        ("g", 1),
        ("g", 2),
    ]
    assert {r["eventSourceARN"] for r in first + second} == {stream.arn}
    assert reader.read(100) == []
