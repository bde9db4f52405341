"""The `Store` port on one DynamoDB table through boto3: the AWS deployment's storage.

Table design: one table, string keys `pk` (partition) and `sk` (sort), one local secondary
index `rank` on (`pk`, `rank`), no global secondary index.

    pk               sk                          item
    GAME#{game}      GAME                        the game; counters `lastSeq`, `playerCount`
    GAME#{game}      PLAYER#{session}            a player's standing; `rank` puts it in the index
    GAME#{game}      NICK#{nickname key}         holds a nickname in the game (uniqueness)
    GAME#{game}      CARD#{session}              a player's card
    GAME#{game}      MARK#{session}#{word}       one marked word
    GAME#{game}      EVENT#{seq:012d}            one event of the log (TTL)
    GAME#{game}      CLAIM#PENDING               the claim awaiting verification (at most one)
    GAME#{game}      CLAIM#{seq:012d}            a resolved claim (seq of the resolving event)
    GAME#{game}      SUB#{connection}            a subscription and its audience, by game (TTL)
    CONN#{conn}      CONN                        a connection (TTL)
    CONN#{conn}      SUB#{game}                  the same subscription, by connection (TTL)
    STATE#{state}    {created}#{game}            a game in that state (newest sorts last)

Every hot path is a `GetItem`, a `BatchGetItem` or a `Query` of one partition with a key
condition, never a `Scan`: the subscriptions of a game (`SUB#`), a player's marks
(`MARK#{session}#`), a game's events after a sequence number (an `EVENT#` range), the
leaderboard top N (the first N entries of the `rank` index, see `rank_key`) and the whole
standings (all of that range, paginated), the newest games of
a state (`STATE#{state}`, descending: `current_game` and the history).

Why no GSI: reads of a global secondary index are eventually consistent only
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Reading), and the
services read right after they write: a mark is followed by the broadcast's leaderboard read, a
subscription by the broadcast's subscriber read, a state change by `current_game`. A local
secondary index can be read with `ConsistentRead`
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LSI.html#LSI.Reading), and the
`STATE#` entries are items that change in the same transaction as their game, so every read
here is strongly consistent, as on SQLite. The price of the LSI is a 10 GB limit per game
partition (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LSI.html#LSI.ItemCollections.SizeLimit),
orders of magnitude above a conference game.

Writes, and why sequence numbers are gap-free: every change to a game appends to its log, so the
game item's `lastSeq` is both the log's counter and the game's version. A write reads what it
depends on (one consistent `BatchGetItem`), decides, then commits one `TransactWriteItems` whose
conditions restate what it read: `lastSeq = :read` on the game item it rewrites with
`lastSeq = :read + 1` (or + 2 for a claim's two events), `marks = :read` on the player,
`attribute_not_exists` on the new mark, nickname, player, event and claim items. DynamoDB
checks every condition and applies every write atomically, with serializable isolation
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation).
Two writers that read the same `lastSeq` therefore cannot both commit: the loser's transaction
is cancelled and nothing of it is written, it decides again from the current items and commits
with the next number. Each number is written by exactly one committed transaction, together
with its event, so the log has no gap and no duplicate. The `CancellationReasons` say which
condition failed: a restated read (a version, an absence) means "someone wrote first" and the
item's current state comes back with the reason (`ReturnValuesOnConditionCheckFailure`), so the
retry needs no read; an existence condition on an item that is never deleted (a nickname, a
pending claim, a game) is the final, typed answer (NicknameTaken, ClaimPending, Conflict).

TTL: connection, subscription and event items carry `expiresAt` (`TTL_ATTRIBUTE`: whole epoch
seconds, rounded up so DynamoDB never deletes an item before it expires) and `expiry`, the exact
expiry time. DynamoDB deletes expired items only within days, so every read of those items
filters on `expiry > now` and treats the rest as absent.

Errors: botocore retries throttling and 5xx itself (standard mode); what still fails, and every
other `ClientError` or connection error, becomes `StoreUnavailable` here.

boto3 is imported when the first store is built, never at module import: a handler configured
for SQLite does not pay for it at cold start.
"""

from __future__ import annotations

import json
import math
import random
import struct
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final, TypeVar, cast

# The stream's readers may take the key helpers from here too (explicit re-exports).
from backend.adapters.dynamodb_keys import (
    EVENT_SK_PREFIX,
    MAX_SEQ,
)
from backend.adapters.dynamodb_keys import event_item_keys as event_item_keys
from backend.adapters.dynamodb_keys import game_pk as _game_pk
from backend.adapters.dynamodb_keys import parse_event_item_keys as parse_event_item_keys
from backend.adapters.dynamodb_keys import seq_sk as _seq_sk
from backend.domain import events
from backend.domain.errors import (
    ClaimPending,
    Conflict,
    GameNotAccepting,
    GameNotFound,
    InvalidTransition,
    NicknameTaken,
    PlayerNotFound,
)
from backend.domain.game import ACTIVE_STATES, FINISHED_STATES, GameState
from backend.domain.model import (
    Audience,
    Card,
    Claim,
    ClaimStatus,
    Connection,
    Event,
    Game,
    Leaderboard,
    Player,
    Subscription,
    Winner,
)
from backend.ports.store import StoreUnavailable

T = TypeVar("T")
Item = dict[str, Any]  # one item in DynamoDB's attribute-value JSON: {"name": {"S": "..."}}
Key = tuple[str, str]  # (pk, sk)

TTL_ATTRIBUTE: Final = "expiresAt"
"""The table's TTL attribute: a Number, whole epoch seconds (enable it with `time_to_live`)."""
RANK_INDEX: Final = "rank"
"""The local secondary index that orders a game's players for the leaderboard."""
RANK_ATTRIBUTE: Final = "rank"
"""Its sort key, on player items only (a sparse index): see `rank_key`."""

DEFAULT_EVENT_TTL_S: Final = 30 * 24 * 3600
# botocore's standard retry mode retries throttling, transient and 5xx errors with exponential
# backoff and jitter (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html);
# 4 attempts in all (the first and 3 retries) keep a throttled request well inside API
# Gateway's 29 s integration timeout.
SDK_TOTAL_ATTEMPTS: Final = 4
# Optimistic transactions retried after losing a race for the game's `lastSeq`. Each retry
# sleeps a "full jitter" backoff (random between 0 and min(cap, base * 2**n)), so racing writers
# spread out instead of colliding again in lock step
# (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
TXN_MAX_ATTEMPTS: Final = 60
TXN_BACKOFF_BASE_S: Final = 0.02
TXN_BACKOFF_CAP_S: Final = 1.0
BATCH_GET_MAX_KEYS: Final = 100  # BatchGetItem's limit per request
BATCH_WRITE_MAX_ITEMS: Final = 25  # BatchWriteItem's limit per request

_CLIENT_LOCK = threading.Lock()
_MAX_POINTS: Final = 10**12 - 1  # points are stored inverted in 12 digits (see `rank_key`)

# Codes of a `TransactionCanceledException`'s reasons that mean "try again later", not "no"
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
_RETRY_REASONS: Final = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
_THROTTLING_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
    }
)


# -- the table, for the deployer ------------------------------------------------------------------
def table_definition(table_name: str) -> dict[str, Any]:
    """The `CreateTable` keyword arguments of the store's table.

    Stable API: the deployer creates the table with
    `client.create_table(**table_definition(name))`, then enables TTL with
    `client.update_time_to_live(**time_to_live(name))`. A local secondary index can only be
    created with its table, so this is the whole definition. On-demand capacity: a
    conference's bursts need no capacity planning.

    Args:
        table_name: The table's name.

    Returns:
        TableName; KeySchema `pk` (hash) and `sk` (range), both strings; the local secondary
        index `RANK_INDEX` on (`pk`, `RANK_ATTRIBUTE`), all attributes projected;
        AttributeDefinitions of the three key attributes; BillingMode `PAY_PER_REQUEST`.
    """
    return {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": RANK_ATTRIBUTE, "AttributeType": "S"},
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": RANK_INDEX,
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": RANK_ATTRIBUTE, "KeyType": "RANGE"},
                ],
                # A leaderboard entry is the whole standing: no fetch from the table.
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def time_to_live(table_name: str) -> dict[str, Any]:
    """The `UpdateTimeToLive` keyword arguments that enable TTL on `TTL_ATTRIBUTE`."""
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
    }


def make_client(region: str | None = None) -> Any:
    """A boto3 DynamoDB client configured as the store needs it.

    Retries are botocore's standard mode, set explicitly (older botocore defaults to "legacy"):
    throttling, transient errors and 5xx are retried with capped exponential backoff and jitter
    under a retry quota (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html).
    The endpoint follows boto3's configuration (`AWS_ENDPOINT_URL` points it at moto in tests).

    Raises:
        StoreUnavailable: botocore cannot build the client (no region, bad configuration).
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(
        # `total_max_attempts` counts the first attempt; botocore's `max_attempts` key counts
        # only the retries, a classic off-by-one.
        retries={"mode": "standard", "total_max_attempts": SDK_TOTAL_ATTEMPTS},
        # The emulator runs handlers in threads that share one store.
        max_pool_connections=32,
        connect_timeout=2,
        read_timeout=5,
    )
    try:
        # boto3's default session caches the service model (a client from a fresh session
        # reloads it, ~0.2 s) but is not safe to use from two threads at once; its clients are.
        with _CLIENT_LOCK:
            return boto3.client("dynamodb", region_name=region, config=config)
    except BotoCoreError as exc:
        raise StoreUnavailable(f"cannot build a DynamoDB client ({exc})") from exc


# -- SSM Parameter Store: the deployment's secrets -------------------------------------------------
# It lives here because this module is the backend's door to the AWS SDK for data at rest
# (tests/backend/test_dependencies.py admits boto3 in the AWS adapters only).
class ParameterStoreError(RuntimeError):
    """SSM Parameter Store could not be read (permissions, network, throttling)."""


SSM_GET_PARAMETERS_MAX: Final = 10  # GetParameters takes at most 10 names


def read_parameters(
    names: Sequence[str], *, region: str | None = None, client: Any = None
) -> dict[str, str]:
    """The decrypted values of SSM parameters, in one `GetParameters` call.

    Args:
        names: Full parameter names (at most 10), e.g. `/bingo/dev/user-token-keys`.
        region: The region of the client built here when `client` is None.
        client: A boto3 SSM client (tests).

    Returns:
        Name -> value for the parameters that exist; names SSM does not know are left out.

    Raises:
        ParameterStoreError: SSM refused or did not answer (after standard retries).
        ValueError: more than 10 names.
    """
    if len(names) > SSM_GET_PARAMETERS_MAX:
        raise ValueError(f"GetParameters takes at most {SSM_GET_PARAMETERS_MAX} names")
    if not names:
        return {}
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"mode": "standard", "total_max_attempts": SDK_TOTAL_ATTEMPTS})
            with _CLIENT_LOCK:
                client = boto3.client("ssm", region_name=region, config=config)
        # SecureString values come back decrypted with the KMS key they were written with
        # (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameters.html).
        response = client.get_parameters(Names=list(names), WithDecryption=True)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ParameterStoreError(f"SSM refused GetParameters ({code})") from exc
    except BotoCoreError as exc:
        raise ParameterStoreError(f"SSM did not answer ({type(exc).__name__})") from exc
    return {str(p["Name"]): str(p["Value"]) for p in response.get("Parameters", [])}


# -- keys -----------------------------------------------------------------------------------------
# Ids are server-generated (hex); a `#` inside one would only make its own keys ambiguous.
# A game's partition and the event keys come from `dynamodb_keys`, shared with the stream's
# readers so that the keys they parse are the keys written here.
def _conn_pk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def _state_pk(state: GameState | str) -> str:
    return f"STATE#{state}"


GAME_SK: Final = "GAME"
PENDING_CLAIM_SK: Final = "CLAIM#PENDING"
CONN_SK: Final = "CONN"


def sortable_float(value: float) -> str:
    """16 hex digits whose string order is the numeric order of `value` (inf included).

    The IEEE 754 bits of a double, with the sign bit flipped for positives and all bits flipped
    for negatives, compare as unsigned integers the way the doubles compare. Exact, unlike a
    rounded millisecond count: two marks 0.1 ms apart keep their order.
    """
    if math.isnan(value):
        raise ValueError("NaN has no place in an order")
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


def rank_key(points: int, last_mark_at: float | None, nickname_key: str) -> str:
    """A player's `RANK_ATTRIBUTE`: ascending order is the leaderboard order.

    Points descending (stored as `_MAX_POINTS - points`, zero-padded), then the earlier last mark
    (no mark sorts as +inf, after every time), then the nickname key, unique per game, which
    makes the order total. It is `backend.domain.scoring.rank_key` as a string: DynamoDB orders
    sort keys by UTF-8 bytes, which is code point order, as Python compares strings.

    Raises:
        ValueError: points outside 0..10**12-1.
    """
    if not 0 <= points <= _MAX_POINTS:
        raise ValueError(f"points {points} are outside 0..{_MAX_POINTS}")
    last = math.inf if last_mark_at is None else last_mark_at
    return f"{_MAX_POINTS - points:012d}#{sortable_float(last)}#{nickname_key}"


# -- attribute values -----------------------------------------------------------------------------
def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    # repr of a float is the shortest string that reads back to the same float; DynamoDB keeps
    # 38 significant digits, so the value round-trips exactly.
    return {"N": str(value) if isinstance(value, int) else repr(float(value))}


def _str_list(values: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    return {"L": [_s(v) for v in values]}


def _get_s(item: Item, name: str) -> str:
    return str(item[name]["S"])


def _get_opt_s(item: Item, name: str) -> str | None:
    return _get_s(item, name) if name in item else None


def _get_int(item: Item, name: str) -> int:
    return int(Decimal(item[name]["N"]))


def _get_float(item: Item, name: str) -> float:
    return float(item[name]["N"])


def _get_opt_float(item: Item, name: str) -> float | None:
    return _get_float(item, name) if name in item else None


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": _s(pk), "sk": _s(sk)}


def _expiry(expires_at: float) -> Item:
    """The TTL attributes of an item that expires at `expires_at` (epoch seconds)."""
    # DynamoDB's TTL process reads whole epoch seconds in a Number; rounding up means it never
    # deletes an item early (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
    # time-to-live-ttl-before-you-start.html). Reads compare against the exact `expiry`.
    return {TTL_ATTRIBUTE: _n(math.ceil(expires_at)), "expiry": _n(expires_at)}


def _alive(item: Item, now: float) -> bool:
    return _get_float(item, "expiry") > now


# -- internal signals -----------------------------------------------------------------------------
class _Retry(Exception):
    """A concurrent writer won, or DynamoDB asked to slow down: decide again and retry.

    Attributes:
        learnt: The current state of the items whose conditions failed, as the cancelled
            transaction reported them (None: absent); None if it reported nothing usable.
    """

    def __init__(self, learnt: dict[Key, Item | None] | None = None) -> None:
        super().__init__("lost a race")
        self.learnt = learnt


class _ConditionFailed(Exception):
    """A single-item write's condition failed; `item` is the current item if it exists."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


class _Cancelled(Exception):
    """A transaction was cancelled; `reasons` has one entry per item, in order."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons


@dataclass(frozen=True)
class _Write:
    """One `TransactItems` entry, the item it touches and what a failure of its condition means.

    Attributes:
        op: The entry, e.g. `{"Put": {...}}`.
        key: The item's key.
        refusal: The answer when its condition fails: for an item that is never deleted, its
            existence is final (a taken nickname, a pending claim). None when the condition
            restates a read (a version, an absence): someone changed the item, decide again.
    """

    op: dict[str, Any]
    key: Key
    refusal: Exception | None = None


# What a write decides from what it read: the entries to commit and the answer to give once
# they have committed (no entries: nothing to write, give the answer now).
Plan = tuple[list[_Write], T]


class DynamoStore:
    """`Store` on one DynamoDB table (see the module docstring for the design).

    Safe to share between threads: botocore clients are thread-safe and the store keeps no other
    state.

    Args:
        table_name: The table, created from `table_definition`.
        client: A boto3 DynamoDB client; `make_client(region)` when None.
        region: The client's region when it is built here (None: boto3's default chain).
        event_ttl_s: How long events stay readable.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        region: str | None = None,
        event_ttl_s: float = DEFAULT_EVENT_TTL_S,
    ) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self.table_name = table_name
        self.event_ttl_s = event_ttl_s
        self._client_error: type[Exception] = ClientError
        self._botocore_error: type[Exception] = BotoCoreError
        self._client = make_client(region) if client is None else client

    def close(self) -> None:
        """Close the client's connection pool."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    # -- requests ---------------------------------------------------------------------------------
    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One API call (botocore retries throttling and 5xx); foreign errors stop here."""
        try:
            response = getattr(self._client, operation)(**kwargs)
        except self._client_error as exc:
            detail: dict[str, Any] = getattr(exc, "response", None) or {}
            code = str(detail.get("Error", {}).get("Code", ""))
            if code == "ConditionalCheckFailedException":
                raise _ConditionFailed(detail.get("Item")) from None
            if code == "TransactionCanceledException":
                raise _Cancelled(list(detail.get("CancellationReasons") or [])) from None
            raise _unavailable(code, operation) from exc
        except self._botocore_error as exc:
            raise StoreUnavailable(
                f"DynamoDB did not answer {operation} ({type(exc).__name__})"
            ) from exc
        return cast(dict[str, Any], response)

    def _get(self, key: Key) -> Item | None:
        response = self._call(
            "get_item", TableName=self.table_name, Key=_key(*key), ConsistentRead=True
        )
        item = response.get("Item")
        return cast(Item, item) if item else None

    def _get_many(self, keys: Sequence[Key]) -> dict[Key, Item]:
        """Consistent reads of several items, one round trip per 100 keys; absent ones missing."""
        found: dict[Key, Item] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH_GET_MAX_KEYS):
            chunk = unique[start : start + BATCH_GET_MAX_KEYS]
            request: dict[str, Any] = {
                self.table_name: {"Keys": [_key(*k) for k in chunk], "ConsistentRead": True}
            }
            for attempt in range(TXN_MAX_ATTEMPTS):
                response = self._call("batch_get_item", RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    found[(_get_s(item, "pk"), _get_s(item, "sk"))] = item
                # Keys DynamoDB did not get to (throughput, 16 MB) come back to be asked again
                # (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                _sleep_backoff(attempt)
            else:
                raise StoreUnavailable("DynamoDB left keys of a batch read unprocessed")
        return found

    def _query(
        self,
        pk: str,
        *,
        begins_with: str | None = None,
        between: tuple[str, str] | None = None,
        index: str | None = None,
        limit: int | None = None,
        forward: bool = True,
        alive_at: float | None = None,
    ) -> list[Item]:
        """Items of one partition in sort key order, page after page, up to `limit`.

        With `alive_at`, DynamoDB filters out items whose `expiry` has passed. A filter applies
        after `Limit` (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
        Query.FilterExpression.html), so pages continue until `limit` live items are found.
        """
        names = {"#pk": "pk"}
        values: dict[str, Any] = {":pk": _s(pk)}
        condition = "#pk = :pk"
        if begins_with is not None:
            names["#sk"] = "sk"
            values[":prefix"] = _s(begins_with)
            condition += " AND begins_with(#sk, :prefix)"
        elif between is not None:
            names["#sk"] = "sk"
            values[":lo"], values[":hi"] = _s(between[0]), _s(between[1])
            condition += " AND #sk BETWEEN :lo AND :hi"
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            # The base table and local secondary indexes can be read strongly consistent.
            "ConsistentRead": True,
            "ScanIndexForward": forward,
        }
        if index is not None:
            kwargs["IndexName"] = index
        if alive_at is not None:
            names["#expiry"] = "expiry"
            values[":now"] = _n(alive_at)
            kwargs["FilterExpression"] = "#expiry > :now"
        kwargs["ExpressionAttributeNames"] = names
        kwargs["ExpressionAttributeValues"] = values
        found: list[Item] = []
        while limit is None or len(found) < limit:
            if limit is not None:
                kwargs["Limit"] = limit - len(found)
            response = self._call("query", **kwargs)
            found.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        return found

    def _delete_many(self, keys: Iterable[Key]) -> None:
        """Idempotent deletes, 25 per `BatchWriteItem`, unprocessed ones sent again."""
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH_WRITE_MAX_ITEMS):
            chunk = unique[start : start + BATCH_WRITE_MAX_ITEMS]
            request: dict[str, Any] = {
                self.table_name: [{"DeleteRequest": {"Key": _key(*k)}} for k in chunk]
            }
            for attempt in range(TXN_MAX_ATTEMPTS):
                response = self._call("batch_write_item", RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                _sleep_backoff(attempt)
            else:
                raise StoreUnavailable("DynamoDB left deletes of a batch unprocessed")

    # -- optimistic transactions ------------------------------------------------------------------
    def _commit(self, keys: Sequence[Key], plan: Callable[[dict[Key, Item]], Plan[T]]) -> T:
        """Read `keys`, let `plan` decide, commit its writes; after a lost race, decide again.

        `plan` gets the items found (absent keys are missing from the mapping), raises the
        domain error when the answer is no, and otherwise returns its `Plan`. Every entry of
        the plan restates as a condition what the plan relied on, so a commit succeeds only if
        nothing it read has changed. When it fails, the cancelled transaction reports the
        current state of the items that changed (ReturnValuesOnConditionCheckFailure), and the
        next decision starts from that instead of reading everything again.

        Raises:
            StoreUnavailable: still losing after `TXN_MAX_ATTEMPTS` decisions.
        """
        wanted = frozenset(keys)
        found = self._get_many(keys) if keys else {}
        for attempt in range(TXN_MAX_ATTEMPTS):
            writes, answer = plan(found)
            if not writes:
                return answer
            try:
                self._transact(writes)
            except _Retry as retry:
                _sleep_backoff(attempt)
                learnt = {k: v for k, v in (retry.learnt or {}).items() if k in wanted}
                if not learnt:  # nothing usable reported: read everything again
                    again = self._get_many(keys) if keys else {}
                    if retry.learnt is not None and again == found:
                        # A condition on an item nothing read failed while everything read is
                        # unchanged: not a race but an item missing or extra against the rules.
                        raise StoreUnavailable(
                            "the game table contradicts itself; a transaction cannot commit"
                        ) from None
                    found = again
                    continue
                found = dict(found)
                for key, item in learnt.items():
                    if item is None:
                        found.pop(key, None)
                    else:
                        found[key] = item
                continue
            return answer
        raise StoreUnavailable("the game is too busy to take this write now; try again")

    def _transact(self, writes: Sequence[_Write]) -> None:
        """Commit `writes` atomically, or raise what the failed conditions mean.

        Raises:
            _Retry: a condition restating a read failed (someone wrote first), or DynamoDB
                reported a conflicting transaction or throttling.
            Exception: the `refusal` of the first failed condition, when every failed
                condition has one (its answer is final).
            StoreUnavailable: any other cancellation.
        """
        try:
            self._call(
                "transact_write_items",
                TransactItems=[w.op for w in writes],
                # The token makes the SDK's own retries of this request idempotent: a retry of
                # a commit that did succeed is answered with success, not with a failed
                # condition (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/
                # API_TransactWriteItems.html#DDB-TransactWriteItems-request-ClientRequestToken).
                ClientRequestToken=uuid.uuid4().hex,
            )
        except _Cancelled as exc:
            # One reason per entry, in order; "None" for the entries that were not the cause
            # (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/
            # API_TransactWriteItems.html#API_TransactWriteItems_Errors).
            codes = [str(r.get("Code") or "None") for r in exc.reasons]
            if any(code in _RETRY_REASONS for code in codes):
                raise _Retry from None
            odd = sorted({c for c in codes if c not in {"None", "ConditionalCheckFailed"}})
            if odd or len(codes) != len(writes) or "ConditionalCheckFailed" not in codes:
                raise StoreUnavailable(
                    f"DynamoDB cancelled a transaction ({', '.join(odd) or 'no reason given'})"
                ) from None
            failed = [
                (write, reason.get("Item"))
                for write, reason, code in zip(writes, exc.reasons, codes, strict=True)
                if code == "ConditionalCheckFailed"
            ]
            refusals = [w.refusal for w, _ in failed if w.refusal is not None]
            # A changed read makes every other failure stale (a nickname taken in a game that
            # has since finished is "not accepting"): decide again.
            if len(refusals) < len(failed):
                raise _Retry({w.key: item for w, item in failed}) from None
            raise refusals[0] from None

    # -- transaction entries ----------------------------------------------------------------------
    def _entry(
        self,
        operation: str,
        key: Key,
        body: dict[str, Any],
        condition: str | None,
        names: dict[str, str],
        values: dict[str, Any],
        refusal: Exception | None,
    ) -> _Write:
        entry: dict[str, Any] = {"TableName": self.table_name, **body}
        if condition is not None:
            entry["ConditionExpression"] = condition
            # A failed condition reports the item as it is now: the retry needs no read.
            entry["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if names:
            entry["ExpressionAttributeNames"] = names
        if values:
            entry["ExpressionAttributeValues"] = values
        return _Write({operation: entry}, key, refusal)

    def _put(
        self,
        item: Item,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any] | None = None,
        refusal: Exception | None = None,
    ) -> _Write:
        key = (_get_s(item, "pk"), _get_s(item, "sk"))
        return self._entry("Put", key, {"Item": item}, condition, names, values or {}, refusal)

    def _put_new(self, item: Item, refusal: Exception | None = None) -> _Write:
        """Put an item that must not exist yet."""
        return self._put(item, "attribute_not_exists(#pk)", {"#pk": "pk"}, refusal=refusal)

    def _put_if(self, item: Item, version: str, expected: int) -> _Write:
        """Put an item whose `version` attribute still has the value that was read."""
        return self._put(item, "#v = :v", {"#v": version}, {":v": _n(expected)})

    def _keyed(
        self,
        operation: str,
        key: Key,
        condition: str | None,
        values: dict[str, Any] | None = None,
        refusal: Exception | None = None,
        names: dict[str, str] | None = None,
        update: str | None = None,
    ) -> _Write:
        """A `Delete`, `ConditionCheck` or `Update` entry of the item at `key`."""
        if names is None:
            names = {"#pk": "pk"}  # what the existence conditions name
        body: dict[str, Any] = {"Key": _key(*key)}
        if update is not None:
            body["UpdateExpression"] = update
        return self._entry(operation, key, body, condition, names, values or {}, refusal)

    def _delete_existing(self, key: Key) -> _Write:
        """Delete an item that must still exist."""
        return self._keyed("Delete", key, "attribute_exists(#pk)")

    def _delete_if(self, key: Key, version: str, expected: int) -> _Write:
        """Delete an item whose `version` attribute still has the value that was read."""
        return self._keyed("Delete", key, "#v = :v", {":v": _n(expected)}, names={"#v": version})

    def _check_exists(self, key: Key, refusal: Exception) -> _Write:
        """Commit only if the item exists; `refusal` is what its absence means."""
        return self._keyed("ConditionCheck", key, "attribute_exists(#pk)", refusal=refusal)

    def _check_absent(self, key: Key) -> _Write:
        """Commit only if the item, read as absent, is still absent."""
        return self._keyed("ConditionCheck", key, "attribute_not_exists(#pk)")

    def _check_if(self, key: Key, version: str, expected: int) -> _Write:
        """Commit only if the item's `version` attribute is still as read."""
        return self._keyed(
            "ConditionCheck", key, "#v = :v", {":v": _n(expected)}, names={"#v": version}
        )

    def _event(
        self,
        game_id: str,
        seq: int,
        kind: str,
        data: dict[str, Any],
        now: float,
        refusal: Exception | None = None,
    ) -> tuple[_Write, Event]:
        """The put of event `seq`, which must not exist, and the event it records."""
        item: Item = {
            **event_item_keys(game_id, seq),
            "itemType": _s("event"),
            "gameId": _s(game_id),
            "seq": _n(seq),
            "eventType": _s(kind),
            "data": _s(json.dumps(data)),
            "createdAt": _n(now),
            **_expiry(now + self.event_ttl_s),
        }
        event = Event(game_id=game_id, seq=seq, type=kind, data=data, created_at=now)
        return self._put_new(item, refusal), event

    def _game_put(self, read: Item, changes: Item, remove: Collection[str] = ()) -> _Write:
        """The game item as read, with `changes`, conditional on the `lastSeq` that was read.

        The whole item is put: the condition guarantees nothing else changed since the read,
        and an update costs as much as a put of the larger item anyway
        (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
        read-write-operations.html#write-operation-consumption).
        """
        item = {k: v for k, v in read.items() if k not in remove}
        item.update(changes)
        return self._put_if(item, "lastSeq", _get_int(read, "lastSeq"))

    def _state_moves(self, game: Game, old: GameState, new: GameState) -> list[_Write]:
        """Move the game's `STATE#` index entry from `old` to `new`."""
        if old == new:
            return []
        return [
            self._delete_existing((_state_pk(old), _state_sk(game))),
            self._put_new(_state_index_item(game, new)),
        ]

    # -- games ------------------------------------------------------------------------------------
    def create_game(self, game: Game) -> Event:
        """See `Store.create_game`."""
        item: Item = {
            **_key(_game_pk(game.game_id), GAME_SK),
            "itemType": _s("game"),
            "gameId": _s(game.game_id),
            "name": _s(game.name),
            "gridSize": _n(game.grid_size),
            "words": _str_list(game.words),
            "state": _s(str(game.state)),
            "createdAt": _n(game.created_at),
            "updatedAt": _n(game.created_at),
            "lastSeq": _n(1),
            "playerCount": _n(0),
        }

        def plan(found: dict[Key, Item]) -> Plan[Event]:
            # Every item of a new game is new: if any exists, so does the game.
            exists = f"game {game.game_id!r} exists"
            data = events.game_created(game.name, game.grid_size)
            event_put, event = self._event(
                game.game_id, 1, events.GAME_CREATED, data, game.created_at, Conflict(exists)
            )
            writes = [
                self._put_new(item, Conflict(exists)),
                self._put_new(_state_index_item(game, game.state), Conflict(exists)),
                event_put,
            ]
            return writes, event

        return self._commit([], plan)

    def get_game(self, game_id: str) -> Game:
        """See `Store.get_game`."""
        item = self._get((_game_pk(game_id), GAME_SK))
        if item is None:
            raise GameNotFound(f"no game {game_id!r}")
        return _game(item)

    def current_game(self) -> Game | None:
        """See `Store.current_game`."""
        games = self.list_games(ACTIVE_STATES, limit=1)
        return games[0] if games else None

    def list_games(self, states: Collection[GameState], *, limit: int) -> list[Game]:
        """See `Store.list_games`."""
        if limit <= 0 or not states:
            return []
        games: list[Game] = []
        for _ in range(3):
            # One Query per state, each newest first, merged; then the games themselves.
            entries = [
                item
                for state in states
                for item in self._query(_state_pk(state), limit=limit, forward=False)
            ]
            entries.sort(key=lambda i: _get_s(i, "sk"), reverse=True)
            keys = [(_game_pk(_get_s(i, "gameId")), GAME_SK) for i in entries[:limit]]
            found = self._get_many(keys)
            games = [_game(found[k]) for k in keys if k in found]
            # A game that changed state between the two reads: read the index again.
            if all(g.state in states for g in games):
                return games
        return [g for g in games if g.state in states]

    def change_state(
        self,
        game_id: str,
        *,
        expected: GameState,
        new_state: GameState,
        now: float,
        reason: str,
        resolve_claim: ClaimStatus | None = None,
    ) -> tuple[Game, Event]:
        """See `Store.change_state`."""
        game_key = (_game_pk(game_id), GAME_SK)
        claim_key = (_game_pk(game_id), PENDING_CLAIM_SK)

        def plan(found: dict[Key, Item]) -> Plan[tuple[Game, Event]]:
            if game_key not in found:
                raise GameNotFound(f"no game {game_id!r}")
            read = found[game_key]
            current = _game(read)
            if current.state != expected:
                raise InvalidTransition(
                    f"the game is {current.state} now, not {expected}; nothing was changed"
                )
            seq = current.last_seq + 1
            winner = None
            claim_writes: list[_Write] = []
            claim = found.get(claim_key)
            # The claim is checked at the commit as it was read (absent, or the claim of that
            # `claimSeq`), so the winner is the claimant of this very moment, never one whose
            # claim a race has resolved and replaced since the read.
            if resolve_claim is not None and claim is None:
                claim_writes = [self._check_absent(claim_key)]
            elif resolve_claim is ClaimStatus.PENDING and claim is not None:  # no verdict
                claim_writes = [self._check_if(claim_key, "claimSeq", _get_int(claim, "claimSeq"))]
            elif resolve_claim is not None and claim is not None:
                if resolve_claim is ClaimStatus.VERIFIED:
                    winner = Winner(_get_s(claim, "sessionId"), _get_s(claim, "nickname"))
                resolved = {
                    **claim,
                    **_key(_game_pk(game_id), _seq_sk("CLAIM#", seq)),
                    "status": _s(str(resolve_claim)),
                }
                claim_writes = [
                    self._delete_if(claim_key, "claimSeq", _get_int(claim, "claimSeq")),
                    self._put_new(resolved),
                ]
            changes: Item = {"state": _s(str(new_state)), "lastSeq": _n(seq), "updatedAt": _n(now)}
            if winner is not None:
                changes["winnerSessionId"] = _s(winner.session_id)
                changes["winnerNickname"] = _s(winner.nickname)
            game_put = self._game_put(read, changes, remove={"winnerSessionId", "winnerNickname"})
            data = events.state_changed(expected, new_state, reason, winner)
            event_put, event = self._event(game_id, seq, events.STATE_CHANGED, data, now)
            writes = [
                game_put,
                *self._state_moves(current, expected, new_state),
                *claim_writes,
                event_put,
            ]
            return writes, (_game(game_put.op["Put"]["Item"]), event)

        return self._commit([game_key, claim_key] if resolve_claim else [game_key], plan)

    # -- players, cards, marks --------------------------------------------------------------------
    def add_player(self, player: Player, nickname_key: str) -> Event:
        """See `Store.add_player`."""
        game_pk = _game_pk(player.game_id)
        game_key = (game_pk, GAME_SK)
        standing: Item = {
            **_key(game_pk, f"PLAYER#{player.session_id}"),
            "itemType": _s("player"),
            "gameId": _s(player.game_id),
            "sessionId": _s(player.session_id),
            "nickname": _s(player.nickname),
            "nicknameKey": _s(nickname_key),
            "joinedAt": _n(player.joined_at),
            "points": _n(player.points),
            "marks": _n(player.marks),
            RANK_ATTRIBUTE: _s(rank_key(player.points, player.last_mark_at, nickname_key)),
        }
        if player.last_mark_at is not None:
            standing["lastMarkAt"] = _n(player.last_mark_at)
        nickname: Item = {
            **_key(game_pk, f"NICK#{nickname_key}"),
            "itemType": _s("nickname"),
            "sessionId": _s(player.session_id),
        }
        taken = f"the nickname {player.nickname!r} is taken in this game"

        def plan(found: dict[Key, Item]) -> Plan[Event]:
            if game_key not in found:
                raise GameNotFound(f"no game {player.game_id!r}")
            read = found[game_key]
            state = _game(read).state
            if state in FINISHED_STATES:
                raise GameNotAccepting(f"the game is {state}; it no longer accepts players")
            seq = _get_int(read, "lastSeq") + 1
            count = _get_int(read, "playerCount") + 1
            data = events.player_joined(player.session_id, player.nickname)
            event_put, event = self._event(
                player.game_id, seq, events.PLAYER_JOINED, data, player.joined_at
            )
            changes = {
                "lastSeq": _n(seq),
                "updatedAt": _n(player.joined_at),
                "playerCount": _n(count),
            }
            writes = [
                self._game_put(read, changes),
                # Nickname items are never deleted: a failed condition is final. The same
                # session joining twice is refused the same way (SQLite's primary key).
                self._put_new(nickname, NicknameTaken(taken)),
                self._put_new(standing, NicknameTaken(taken)),
                event_put,
            ]
            return writes, event

        return self._commit([game_key], plan)

    def get_player(self, game_id: str, session_id: str) -> Player:
        """See `Store.get_player`."""
        item = self._get((_game_pk(game_id), f"PLAYER#{session_id}"))
        if item is None:
            raise PlayerNotFound("this session has not joined that game")
        return _player(item)

    def put_card_once(self, card: Card) -> Card:
        """See `Store.put_card_once`."""
        key = (_game_pk(card.game_id), f"CARD#{card.session_id}")
        item: Item = {
            **_key(*key),
            "itemType": _s("card"),
            "gameId": _s(card.game_id),
            "sessionId": _s(card.session_id),
            "size": _n(card.size),
            "cells": {"L": [{"NULL": True} if c is None else _s(c) for c in card.cells]},
        }
        try:
            # First writer wins. A later writer gets the stored card back with the refusal
            # (ReturnValuesOnConditionCheckFailure), so it costs no second round trip.
            self._call(
                "put_item",
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": "pk"},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailed as exc:
            stored = exc.item or self._get(key)
            if stored is None:  # cards are never deleted
                raise StoreUnavailable("a card was refused but cannot be read back") from None
            return _card(stored)
        return card

    def get_card(self, game_id: str, session_id: str) -> Card | None:
        """See `Store.get_card`."""
        item = self._get((_game_pk(game_id), f"CARD#{session_id}"))
        return None if item is None else _card(item)

    def marked_words(self, game_id: str, session_id: str) -> frozenset[str]:
        """See `Store.marked_words`."""
        items = self._query(_game_pk(game_id), begins_with=f"MARK#{session_id}#")
        return frozenset(_get_s(i, "word") for i in items)

    def add_mark(
        self, game_id: str, session_id: str, word: str, *, points: int, now: float
    ) -> tuple[Player, Event] | None:
        """See `Store.add_mark`."""
        game_pk = _game_pk(game_id)
        game_key = (game_pk, GAME_SK)
        player_key = (game_pk, f"PLAYER#{session_id}")
        mark_key = (game_pk, f"MARK#{session_id}#{word}")
        mark: Item = {
            **_key(*mark_key),
            "itemType": _s("mark"),
            "sessionId": _s(session_id),
            "word": _s(word),
            "markedAt": _n(now),
        }

        def plan(found: dict[Key, Item]) -> Plan[tuple[Player, Event] | None]:
            if game_key not in found:
                raise GameNotFound(f"no game {game_id!r}")
            read = found[game_key]
            state = _game(read).state
            if state != GameState.PLAYING:
                raise GameNotAccepting(
                    f"the game is {state}; marks are accepted only while playing"
                )
            if player_key not in found:
                raise PlayerNotFound("this session has not joined that game")
            if mark_key in found:  # marked already: nothing to write
                return [], None
            before = found[player_key]
            old = _player(before)
            new = replace(old, points=old.points + points, marks=old.marks + 1, last_mark_at=now)
            standing = {
                **before,
                "points": _n(new.points),
                "marks": _n(new.marks),
                "lastMarkAt": _n(now),
                RANK_ATTRIBUTE: _s(rank_key(new.points, now, _get_s(before, "nicknameKey"))),
            }
            seq = _get_int(read, "lastSeq") + 1
            data = events.word_marked(session_id, new.nickname, word, new.points, new.marks)
            event_put, event = self._event(game_id, seq, events.WORD_MARKED, data, now)
            writes = [
                self._game_put(read, {"lastSeq": _n(seq), "updatedAt": _n(now)}),
                # If the mark exists by now, the next decision learns it and answers None.
                self._put_new(mark),
                # The player's `marks` is its version: the totals written are those read plus
                # this mark, even if the player was read before the game.
                self._put_if(standing, "marks", old.marks),
                event_put,
            ]
            return writes, (new, event)

        # One consistent read of the three items, in no particular order: the commit restates
        # each of them as a condition.
        return self._commit([game_key, player_key, mark_key], plan)

    def claim_bingo(
        self, game_id: str, session_id: str, *, line: tuple[int, ...], now: float
    ) -> tuple[Game, Claim, Event, Event]:
        """See `Store.claim_bingo`."""
        game_pk = _game_pk(game_id)
        game_key = (game_pk, GAME_SK)
        player_key = (game_pk, f"PLAYER#{session_id}")
        pending = "another bingo claim is awaiting verification"

        def plan(found: dict[Key, Item]) -> Plan[tuple[Game, Claim, Event, Event]]:
            if game_key not in found:
                raise GameNotFound(f"no game {game_id!r}")
            read = found[game_key]
            current = _game(read)
            if current.state == GameState.BINGO:
                raise ClaimPending(pending)
            if current.state != GameState.PLAYING:
                raise GameNotAccepting(
                    f"the game is {current.state}; bingo can be claimed only while playing"
                )
            if player_key not in found:
                raise PlayerNotFound("this session has not joined that game")
            nickname = _get_s(found[player_key], "nickname")
            seq = current.last_seq
            claimed_put, claimed = self._event(
                game_id,
                seq + 1,
                events.BINGO_CLAIMED,
                events.bingo_claimed(session_id, nickname, line),
                now,
            )
            reason = f"{nickname} claims bingo"
            changed_put, changed = self._event(
                game_id,
                seq + 2,
                events.STATE_CHANGED,
                events.state_changed(GameState.PLAYING, GameState.BINGO, reason),
                now,
            )
            claim_item: Item = {
                **_key(game_pk, PENDING_CLAIM_SK),
                "itemType": _s("claim"),
                "gameId": _s(game_id),
                "sessionId": _s(session_id),
                "nickname": _s(nickname),
                "line": {"L": [_n(i) for i in line]},
                "createdAt": _n(now),
                "status": _s(str(ClaimStatus.PENDING)),
                # The seq of its `bingo_claimed` event: unique in the game, the claim's version.
                "claimSeq": _n(seq + 1),
            }
            changes = {
                "state": _s(str(GameState.BINGO)),
                "lastSeq": _n(seq + 2),
                "updatedAt": _n(now),
            }
            game_put = self._game_put(read, changes)
            writes = [
                # `lastSeq` as read implies `playing` as read: racing claims cannot both commit,
                # and the losers decide again and find the game in `bingo`.
                game_put,
                *self._state_moves(current, current.state, GameState.BINGO),
                # A claim left pending by a move back to `playing` without a verdict still
                # blocks new claims, as SQLite's unique index on pending claims does. Players
                # are never deleted or renamed: the claimant needs no condition.
                self._put_new(claim_item, ClaimPending(pending)),
                claimed_put,
                changed_put,
            ]
            claim = Claim(game_id, session_id, nickname, line, now)
            return writes, (_game(game_put.op["Put"]["Item"]), claim, claimed, changed)

        return self._commit([game_key, player_key], plan)

    def pending_claim(self, game_id: str) -> Claim | None:
        """See `Store.pending_claim`."""
        item = self._get((_game_pk(game_id), PENDING_CLAIM_SK))
        if item is None:
            return None
        return Claim(
            game_id=game_id,
            session_id=_get_s(item, "sessionId"),
            nickname=_get_s(item, "nickname"),
            line=tuple(int(Decimal(v["N"])) for v in item["line"]["L"]),
            created_at=_get_float(item, "createdAt"),
            status=ClaimStatus(_get_s(item, "status")),
        )

    def leaderboard(self, game_id: str, *, limit: int) -> Leaderboard:
        """See `Store.leaderboard`."""
        return self._ranked(game_id, max(limit, 0))

    def standings(self, game_id: str) -> Leaderboard:
        """See `Store.standings`."""
        # The whole `rank` index range of the game, page after page: a Query returns at most
        # 1 MB per page (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
        # Query.Pagination.html), a few thousand players.
        return self._ranked(game_id, None)

    def _ranked(self, game_id: str, limit: int | None) -> Leaderboard:
        """The first `limit` players of the `rank` index (None: all) and the game's counters."""
        # The game first: a mark committed between the two reads then shows in the entries but
        # not in `seq`, and its event still reaches the client. `seq` may understate what the
        # entries include, never overstate it.
        read = self._get((_game_pk(game_id), GAME_SK))
        if read is None:
            raise GameNotFound(f"no game {game_id!r}")
        items = self._query(_game_pk(game_id), index=RANK_INDEX, limit=limit) if limit != 0 else []
        # `total_players` and `seq` are the game's counters, never a count of items.
        return Leaderboard(
            game_id=game_id,
            entries=tuple(_player(i) for i in items),
            total_players=_get_int(read, "playerCount"),
            seq=_get_int(read, "lastSeq"),
        )

    def events_after(self, game_id: str, after_seq: int, *, limit: int, now: float) -> list[Event]:
        """See `Store.events_after`."""
        first, last = max(after_seq, 0) + 1, MAX_SEQ
        if limit <= 0 or first > last:
            return []
        items = self._query(
            _game_pk(game_id),
            between=(_seq_sk(EVENT_SK_PREFIX, first), _seq_sk(EVENT_SK_PREFIX, last)),
            limit=limit,
            alive_at=now,
        )
        return [_event(i) for i in items]

    # -- connections and subscriptions ------------------------------------------------------------
    def put_connection(self, connection: Connection) -> None:
        """See `Store.put_connection`."""
        item: Item = {
            **_key(_conn_pk(connection.connection_id), CONN_SK),
            "itemType": _s("connection"),
            "connectionId": _s(connection.connection_id),
            "kind": _s(connection.kind),
            "subject": _s(connection.subject),
            "permissions": _str_list(sorted(connection.permissions)),
            "connectedAt": _n(connection.connected_at),
            **_expiry(connection.expires_at),
        }
        if connection.game_id is not None:
            item["gameId"] = _s(connection.game_id)
        if connection.nickname is not None:
            item["nickname"] = _s(connection.nickname)
        self._call("put_item", TableName=self.table_name, Item=item)

    def get_connection(self, connection_id: str, *, now: float) -> Connection | None:
        """See `Store.get_connection`."""
        item = self._get((_conn_pk(connection_id), CONN_SK))
        # GetItem takes no filter expression: the expiry is checked here.
        if item is None or not _alive(item, now):
            return None
        return Connection(
            connection_id=_get_s(item, "connectionId"),
            kind=_get_s(item, "kind"),
            subject=_get_s(item, "subject"),
            connected_at=_get_float(item, "connectedAt"),
            expires_at=_get_float(item, "expiry"),
            game_id=_get_opt_s(item, "gameId"),
            nickname=_get_opt_s(item, "nickname"),
            permissions=frozenset(str(v["S"]) for v in item["permissions"]["L"]),
        )

    def delete_connection(self, connection_id: str) -> None:
        """See `Store.delete_connection`."""
        self.delete_connections([connection_id])

    def delete_connections(self, connection_ids: Sequence[str]) -> None:
        """See `Store.delete_connections`."""
        keys: list[Key] = []
        for connection_id in dict.fromkeys(connection_ids):
            # The connection's partition holds it and one item per subscription, each naming
            # the game whose partition holds the other copy.
            for item in self._query(_conn_pk(connection_id)):
                keys.append((_get_s(item, "pk"), _get_s(item, "sk")))
                if _get_s(item, "sk").startswith("SUB#"):
                    keys.append((_game_pk(_get_s(item, "gameId")), f"SUB#{connection_id}"))
        self._delete_many(keys)

    def subscribe(
        self,
        game_id: str,
        connection_id: str,
        *,
        now: float,
        expires_at: float,
        audience: Audience = Audience.BOARD,
        viewer: str | None = None,
        feed: bool = True,
    ) -> None:
        """See `Store.subscribe`."""

        def upsert(key: Key) -> _Write:
            # Refreshes the expiry and the audience, keeps the first subscription time. Both
            # copies carry the audience, so either read needs no second one.
            expiry = _expiry(expires_at)
            update = (
                "SET #type = :type, #game = :game, #conn = :conn, #ttl = :ttl,"
                " #expiry = :expiry, #since = if_not_exists(#since, :now),"
                " #audience = :audience, #feed = :feed"
            )
            names = {
                "#type": "itemType",
                "#game": "gameId",
                "#conn": "connectionId",
                "#ttl": TTL_ATTRIBUTE,
                "#expiry": "expiry",
                "#since": "subscribedAt",
                "#audience": "audience",
                "#feed": "feed",
                "#viewer": "viewer",
            }
            values = {
                ":type": _s("subscription"),
                ":game": _s(game_id),
                ":conn": _s(connection_id),
                ":ttl": expiry[TTL_ATTRIBUTE],
                ":expiry": expiry["expiry"],
                ":now": _n(now),
                ":audience": _s(str(audience)),
                ":feed": {"BOOL": feed},
            }
            # A re-subscription as a board drops the viewer a player subscription left.
            if viewer is None:
                update += " REMOVE #viewer"
            else:
                update += ", #viewer = :viewer"
                values[":viewer"] = _s(viewer)
            return self._keyed("Update", key, None, values, names=names, update=update)

        def plan(found: dict[Key, Item]) -> Plan[None]:
            # Both copies in one transaction, with the game's existence (games are never
            # deleted, so its absence is final).
            writes = [
                self._check_exists(
                    (_game_pk(game_id), GAME_SK), GameNotFound(f"no game {game_id!r}")
                ),
                upsert((_game_pk(game_id), f"SUB#{connection_id}")),
                upsert((_conn_pk(connection_id), f"SUB#{game_id}")),
            ]
            return writes, None

        self._commit([], plan)

    def unsubscribe(self, game_id: str, connection_id: str) -> None:
        """See `Store.unsubscribe`."""
        self._delete_many(
            [
                (_game_pk(game_id), f"SUB#{connection_id}"),
                (_conn_pk(connection_id), f"SUB#{game_id}"),
            ]
        )

    def subscribers(self, game_id: str, *, now: float) -> list[str]:
        """See `Store.subscribers`."""
        items = self._query(_game_pk(game_id), begins_with="SUB#", alive_at=now)
        return [_get_s(i, "connectionId") for i in items]

    def subscriptions(self, game_id: str, *, now: float) -> list[Subscription]:
        """See `Store.subscriptions`."""
        # The game's `SUB#{connection}` items, in sort key order: by connection id.
        items = self._query(_game_pk(game_id), begins_with="SUB#", alive_at=now)
        return [_subscription(i) for i in items]


# -- helpers --------------------------------------------------------------------------------------
def _sleep_backoff(attempt: int) -> None:
    """Sleep before retry `attempt` (0-based): "full jitter" over a capped exponential."""
    time.sleep(random.uniform(0, min(TXN_BACKOFF_CAP_S, TXN_BACKOFF_BASE_S * 2**attempt)))


def _unavailable(code: str, operation: str) -> StoreUnavailable:
    """The port error for a DynamoDB error code (after botocore's own retries)."""
    if code in _THROTTLING_CODES:
        return StoreUnavailable(f"the game table is throttled ({code} on {operation})")
    if code == "ResourceNotFoundException":
        return StoreUnavailable(f"the game table does not exist ({operation})")
    return StoreUnavailable(f"DynamoDB refused {operation} ({code or 'unknown error'})")


def _state_sk(game: Game) -> str:
    return f"{sortable_float(game.created_at)}#{game.game_id}"


def _state_index_item(game: Game, state: GameState) -> Item:
    return {
        **_key(_state_pk(state), _state_sk(game)),
        "itemType": _s("state_index"),
        "gameId": _s(game.game_id),
        "createdAt": _n(game.created_at),
    }


def _game(item: Item) -> Game:
    winner = None
    if "winnerSessionId" in item:
        winner = Winner(_get_s(item, "winnerSessionId"), _get_s(item, "winnerNickname"))
    return Game(
        game_id=_get_s(item, "gameId"),
        name=_get_s(item, "name"),
        grid_size=_get_int(item, "gridSize"),
        words=tuple(str(v["S"]) for v in item["words"]["L"]),
        state=GameState(_get_s(item, "state")),
        created_at=_get_float(item, "createdAt"),
        updated_at=_get_float(item, "updatedAt"),
        last_seq=_get_int(item, "lastSeq"),
        winner=winner,
    )


def _player(item: Item) -> Player:
    return Player(
        game_id=_get_s(item, "gameId"),
        session_id=_get_s(item, "sessionId"),
        nickname=_get_s(item, "nickname"),
        joined_at=_get_float(item, "joinedAt"),
        points=_get_int(item, "points"),
        marks=_get_int(item, "marks"),
        last_mark_at=_get_opt_float(item, "lastMarkAt"),
    )


def _subscription(item: Item) -> Subscription:
    # Items written before audiences existed are boards with the feed, as SQLite's migration
    # makes them (a user connection's would then get the board's messages, which it accepts).
    return Subscription(
        game_id=_get_s(item, "gameId"),
        connection_id=_get_s(item, "connectionId"),
        audience=Audience(_get_opt_s(item, "audience") or Audience.BOARD),
        viewer=_get_opt_s(item, "viewer"),
        feed=bool(item["feed"]["BOOL"]) if "feed" in item else True,
        expires_at=_get_float(item, "expiry"),
    )


def _card(item: Item) -> Card:
    return Card(
        game_id=_get_s(item, "gameId"),
        session_id=_get_s(item, "sessionId"),
        size=_get_int(item, "size"),
        cells=tuple(None if "NULL" in v else str(v["S"]) for v in item["cells"]["L"]),
    )


def _event(item: Item) -> Event:
    return Event(
        game_id=_get_s(item, "gameId"),
        seq=_get_int(item, "seq"),
        type=_get_s(item, "eventType"),
        data=json.loads(_get_s(item, "data")),
        created_at=_get_float(item, "createdAt"),
    )
