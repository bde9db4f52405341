"""A DynamoDB table's own stream as an event source mapping's source, read with boto3.

With the emulator on a DynamoDB table (`StackOptions.store_env`; a moto server in tests), the
broadcasters run from the table's real stream, read the way Lambda's poller reads it: the
stream's ARN from `DescribeTable` (`LatestStreamArn`), its shards from `DescribeStream`, a
`LATEST` shard iterator per open shard at start, then `GetRecords` on each shard, following
`NextShardIterator` (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.LowLevel.Walkthrough.html).
A shard without a `NextShardIterator` is closed and drained; shards that appear after it (its
children) are read from their start (`TRIM_HORIZON`), since every record in them is new.

One `DynamoDBStream` per stack holds the clients; each mapping gets its own
`DynamoDBStreamReader` (its own iterators, so its own position), as each of AWS's mappings
reads the stream on its own. Unlike AWS's poller, which batches each shard on its own, a reader
hands over the records of every shard in one sequence: fine for moto, whose tables have one
shard. The mapping applies the filter (`dynamodb_keys.EVENT_FILTER`), as Lambda does.

boto3 is imported only when a stream is opened: a stack on SQLite never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast
from urllib.parse import urlsplit

from bingo_ops.emulator import events

# A DynamoDB endpoint on one of these hosts is AWS's, where the streams API has its own host
# (streams.dynamodb.{region}.amazonaws.com); anything else (moto, DynamoDB Local) serves both
# APIs on one endpoint.
AWS_HOST_SUFFIXES: Final = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
# GetRecords returns at most 1,000 records a call
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html).
GET_RECORDS_MAX: Final = 1000
KEYS_ONLY_STREAM: Final[Mapping[str, Any]] = {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}


class StreamUnavailable(RuntimeError):
    """DynamoDB or DynamoDB Streams refused a call or did not answer.

    Attributes:
        code: The service's error code (empty when it did not answer).
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def streams_endpoint(dynamodb_endpoint: str) -> str | None:
    """The endpoint of the streams API that goes with a DynamoDB endpoint.

    Args:
        dynamodb_endpoint: The URL the store's DynamoDB client talks to.

    Returns:
        None on AWS (botocore knows the streams host); else the same URL, since local servers
        answer both APIs on one port.
    """
    host = urlsplit(dynamodb_endpoint).hostname or ""
    return None if host.endswith(AWS_HOST_SUFFIXES) else dynamodb_endpoint


class DynamoDBStream:
    """A table's stream through the DynamoDB Streams API, with clients its readers share.

    Args:
        table: The table's name.
        arn: The stream's ARN (the table's `LatestStreamArn`).
        dynamodb: A boto3 DynamoDB client.
        streams: A boto3 DynamoDB Streams client on the same endpoint.
    """

    def __init__(self, table: str, arn: str, *, dynamodb: Any, streams: Any) -> None:
        self.table = table
        self.arn = arn
        self.dynamodb = dynamodb
        self.streams = streams

    @classmethod
    def open(cls, table: str, region: str) -> DynamoDBStream:
        """The stream of `table`, with clients configured as the store's (blocking).

        The DynamoDB client comes from the store's own factory, so it honours the same
        environment (`AWS_ENDPOINT_URL` points it at moto); the streams client talks to the same
        endpoint.

        Raises:
            ValueError: the table does not exist, or has no enabled stream.
            StreamUnavailable: DynamoDB refused `DescribeTable` or did not answer.
        """
        import boto3
        from botocore.config import Config

        from backend.adapters.store_dynamodb import SDK_TOTAL_ATTEMPTS, make_client

        dynamodb = make_client(region)
        streams: Any = None
        try:
            config = Config(
                retries={"mode": "standard", "total_max_attempts": SDK_TOTAL_ATTEMPTS},
                connect_timeout=2,
                read_timeout=5,
            )
            # A session of its own: boto3's default session is not safe to use from two
            # threads at once, and the handlers' threads use it.
            streams = boto3.session.Session().client(
                "dynamodbstreams",
                region_name=region,
                endpoint_url=streams_endpoint(dynamodb.meta.endpoint_url),
                config=config,
            )
            arn = latest_stream_arn(dynamodb, table)
        except BaseException:
            if streams is not None:
                streams.close()
            dynamodb.close()
            raise
        return cls(table, arn, dynamodb=dynamodb, streams=streams)

    def reader(self) -> DynamoDBStreamReader:
        """A reader with a position of its own, for one mapping."""
        return DynamoDBStreamReader(self)

    def shards(self) -> list[dict[str, Any]]:
        """Every shard `DescribeStream` lists, oldest first (all pages)."""
        shards: list[dict[str, Any]] = []
        request: dict[str, Any] = {"StreamArn": self.arn}
        while True:
            page = _call(self.streams, "describe_stream", **request)["StreamDescription"]
            shards.extend(page.get("Shards") or [])
            last = page.get("LastEvaluatedShardId")
            if not last:
                return shards
            request["ExclusiveStartShardId"] = last

    def iterator(self, shard_id: str, kind: str) -> str:
        """A shard iterator (`LATEST`, `TRIM_HORIZON`)."""
        response = _call(
            self.streams,
            "get_shard_iterator",
            StreamArn=self.arn,
            ShardId=shard_id,
            ShardIteratorType=kind,
        )
        return str(response["ShardIterator"])

    def records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` records at `iterator`, and the next iterator (None: the shard ended)."""
        response = _call(self.streams, "get_records", ShardIterator=iterator, Limit=limit)
        following = response.get("NextShardIterator")
        return list(response.get("Records") or []), str(following) if following else None

    def close(self) -> None:
        """Close both clients' connection pools."""
        self.streams.close()
        self.dynamodb.close()


def latest_stream_arn(dynamodb: Any, table: str) -> str:
    """The ARN of a table's enabled stream (blocking).

    Args:
        dynamodb: A boto3 DynamoDB client.
        table: The table's name.

    Raises:
        ValueError: the table does not exist, or has no enabled stream.
        StreamUnavailable: DynamoDB refused `DescribeTable` or did not answer.
    """
    try:
        description = _call(dynamodb, "describe_table", TableName=table)["Table"]
    except StreamUnavailable as exc:
        if exc.code == "ResourceNotFoundException":
            raise ValueError(f"DynamoDB table {table!r} does not exist") from None
        raise
    spec = description.get("StreamSpecification") or {}
    arn = description.get("LatestStreamArn")
    if not spec.get("StreamEnabled") or not arn:
        raise ValueError(
            f"DynamoDB table {table!r} has no stream, and fanout='stream' reads it: enable a"
            f" KEYS_ONLY stream (StreamSpecification={dict(KEYS_ONLY_STREAM)})"
        )
    return str(arn)


class DynamoDBStreamReader:
    """One mapping's reader of a table's stream: a `StreamSource`.

    Args:
        stream: The stream and its clients.
    """

    def __init__(self, stream: DynamoDBStream) -> None:
        self.stream = stream
        self._iterators: dict[str, str] = {}
        self._known: set[str] = set()
        self._look_for_shards = False

    @property
    def arn(self) -> str:
        """The stream's ARN."""
        return self.stream.arn

    def start(self) -> None:
        """A `LATEST` iterator on every open shard; closed ones have nothing new to read."""
        self._iterators.clear()
        self._known.clear()
        self._look_for_shards = False
        for shard in self.stream.shards():
            shard_id = str(shard["ShardId"])
            self._known.add(shard_id)
            if "EndingSequenceNumber" not in (shard.get("SequenceNumberRange") or {}):
                self._iterators[shard_id] = self.stream.iterator(shard_id, "LATEST")

    def read(self, limit: int) -> list[dict[str, Any]]:
        """The next records of the open shards, as Lambda hands them over, at most `limit`.

        Raises:
            StreamUnavailable: a call failed before any record was read (a shard that fails
                after others gave records is read again next time, from where it was).
        """
        if self._look_for_shards or not self._iterators:
            self._follow_new_shards()
        found: list[dict[str, Any]] = []
        for shard_id, iterator in list(self._iterators.items()):
            if len(found) >= limit:
                break
            try:
                records, following = self.stream.records(
                    iterator, min(limit - len(found), GET_RECORDS_MAX)
                )
            except StreamUnavailable:
                if not found:
                    raise
                break  # the records already read must not be lost: their iterators moved on
            found.extend(records)
            if following is None:
                # Closed and drained: its children are listed from now on, and read next time
                # (here, a failing DescribeStream would lose the records just read).
                del self._iterators[shard_id]
                self._look_for_shards = True
            else:
                self._iterators[shard_id] = following
        return [events.lambda_stream_record(record, self.arn) for record in found]

    def _follow_new_shards(self) -> None:
        # Shards that appeared since (a closed shard's children) hold only new records.
        for shard in self.stream.shards():
            shard_id = str(shard["ShardId"])
            if shard_id not in self._known:
                self._iterators[shard_id] = self.stream.iterator(shard_id, "TRIM_HORIZON")
                self._known.add(shard_id)
        self._look_for_shards = False


def _call(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
    """One API call (botocore retries throttling and 5xx); botocore's errors stop here."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return cast(dict[str, Any], getattr(client, operation)(**kwargs))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise StreamUnavailable(f"DynamoDB refused {operation} ({code})", code) from exc
    except BotoCoreError as exc:
        raise StreamUnavailable(
            f"DynamoDB did not answer {operation} ({type(exc).__name__})"
        ) from exc
