"""What only the DynamoDB adapter promises: its table, no scans, TTL items, error translation.

The contract suite (test_store_contract.py) proves the port's semantics on a moto server; these
tests look under the port: the table the deployer creates, which API operations the adapter
sends, the raw items it writes, and how botocore's errors become port errors (with botocore's
Stubber, which stands in for DynamoDB answers moto never gives: throttling, conflicts).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from store_builders import (
    EVENT_TTL_S,
    LINE,
    T0,
    create,
    game_with_players,
    join,
    make_card,
    make_connection,
    make_game,
    mark,
    move,
)

from backend.adapters.store_dynamodb import (
    RANK_ATTRIBUTE,
    RANK_INDEX,
    SDK_TOTAL_ATTEMPTS,
    TTL_ATTRIBUTE,
    DynamoStore,
    event_item_keys,
    make_client,
    rank_key,
    sortable_float,
    table_definition,
)
from backend.domain.errors import Conflict, GameNotFound, Unavailable
from backend.domain.game import GameState
from backend.domain.model import Audience, ClaimStatus, Player, Winner
from backend.domain.scoring import rank_key as domain_rank_key
from backend.domain.validation import nickname_key
from backend.ports.store import StoreUnavailable

ROOT = Path(__file__).resolve().parents[3]
READS = {"GetItem", "BatchGetItem", "Query"}
WRITES = {"TransactWriteItems", "PutItem", "BatchWriteItem"}


@dataclass
class Recorder:
    """Every API operation a client sends, with its parameters, seen through botocore's events."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params))

    @property
    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def client(dynamodb_table: str) -> Iterator[Any]:
    """The adapter's own client (standard retries) on the moto server."""
    built = make_client()
    yield built
    built.close()


@pytest.fixture
def recorder(client: Any) -> Recorder:
    recorded = Recorder()
    # Emitted once per API call with the caller's parameters (before botocore's own retries).
    client.meta.events.register("before-parameter-build.dynamodb", recorded)
    return recorded


@pytest.fixture
def dynamo(client: Any, dynamodb_table: str) -> DynamoStore:
    return DynamoStore(dynamodb_table, client=client, event_ttl_s=EVENT_TTL_S)


@pytest.fixture
def raw(dynamodb_table: str) -> Iterator[Any]:
    """A plain boto3 client, to look at items as DynamoDB holds them."""
    plain = boto3.client("dynamodb")
    yield plain
    plain.close()


def raw_item(raw: Any, pk: str, sk: str) -> dict[str, Any]:
    item = raw.get_item(TableName="bingo-test", Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    assert item is not None, (pk, sk)
    return dict(item)


# -- the table ------------------------------------------------------------------------------------
def test_the_table_definition_creates_the_table_with_its_rank_index(raw: Any) -> None:
    table = raw.describe_table(TableName="bingo-test")["Table"]

    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    [index] = table["LocalSecondaryIndexes"]
    assert index["IndexName"] == RANK_INDEX
    assert index["KeySchema"][1] == {"AttributeName": RANK_ATTRIBUTE, "KeyType": "RANGE"}
    assert table.get("GlobalSecondaryIndexes", []) == []
    ttl = raw.describe_time_to_live(TableName="bingo-test")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL_ATTRIBUTE}


def test_table_definition_is_plain_create_table_arguments() -> None:
    definition = table_definition("games")

    assert definition["TableName"] == "games"
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert json.loads(json.dumps(definition)) == definition  # no SDK objects inside


def test_the_client_uses_standard_retries(client: Any) -> None:
    assert client.meta.config.retries == {
        "mode": "standard",
        "total_max_attempts": SDK_TOTAL_ATTEMPTS,
    }


# -- access paths ---------------------------------------------------------------------------------
def _workload(store: DynamoStore) -> None:
    """Every store operation the services use, as a game goes from creation to history."""
    create(store, "old", state=GameState.ENDED, created_at=T0 - 100)
    store.create_game(make_game("game-1", state=GameState.OPEN))
    store.current_game()
    for session in ("s1", "s2", "s3"):
        join(store, "game-1", session)
    store.put_connection(make_connection("c1"))
    store.get_connection("c1", now=T0)
    store.subscribe("game-1", "c1", now=T0, expires_at=T0 + 100)
    move(store, "game-1", GameState.PLAYING)
    store.put_card_once(make_card("game-1", "s1"))
    store.put_card_once(make_card("game-1", "s1", offset=3))  # refused: the first card stays
    store.get_card("game-1", "s1")
    store.get_player("game-1", "s1")
    for word in ("a", "b", "a"):
        mark(store, "game-1", "s1", word)
    store.marked_words("game-1", "s1")
    store.subscribers("game-1", now=T0)
    store.subscriptions("game-1", now=T0)
    store.leaderboard("game-1", limit=10)
    store.standings("game-1")
    store.events_after("game-1", 3, limit=50, now=T0)  # resume
    store.claim_bingo("game-1", "s2", line=LINE, now=T0)
    store.pending_claim("game-1")
    store.change_state(
        "game-1",
        expected=GameState.BINGO,
        new_state=GameState.ENDED,
        now=T0,
        reason="verified",
        resolve_claim=ClaimStatus.VERIFIED,
    )
    store.list_games({GameState.ENDED, GameState.CANCELLED}, limit=10)  # history
    store.current_game()
    store.unsubscribe("game-1", "c1")
    store.delete_connections(["c1", "gone"])


def test_no_operation_scans_and_every_read_is_a_consistent_key_read(
    dynamo: DynamoStore, recorder: Recorder
) -> None:
    _workload(dynamo)

    operations = set(recorder.operations)
    assert "Scan" not in operations
    assert operations <= READS | WRITES, operations - READS - WRITES
    assert operations >= READS  # the workload did exercise every kind of read
    for name, params in recorder.calls:
        if name == "BatchGetItem":
            assert all(r["ConsistentRead"] for r in params["RequestItems"].values())
        elif name in READS:
            # Read-your-writes, as on SQLite: no read of a global (eventual) index.
            assert params["ConsistentRead"] is True, (name, params)
        if name == "Query":
            assert "KeyConditionExpression" in params
            assert params.get("IndexName") in (None, RANK_INDEX)


def test_every_transaction_carries_an_idempotency_token(
    dynamo: DynamoStore, recorder: Recorder
) -> None:
    _workload(dynamo)

    tokens = [p["ClientRequestToken"] for n, p in recorder.calls if n == "TransactWriteItems"]
    assert tokens
    assert len(set(tokens)) == len(tokens)


def test_a_mark_is_one_read_and_one_transaction(dynamo: DynamoStore, recorder: Recorder) -> None:
    game_with_players(dynamo, GameState.PLAYING, ["s1"])
    recorder.calls.clear()

    mark(dynamo, "game-1", "s1", "synergy")

    assert recorder.operations == ["BatchGetItem", "TransactWriteItems"]


def test_the_leaderboard_is_the_first_entries_of_the_rank_index(
    dynamo: DynamoStore, recorder: Recorder
) -> None:
    game_with_players(dynamo, GameState.PLAYING, [f"s{i}" for i in range(8)])
    recorder.calls.clear()

    board = dynamo.leaderboard("game-1", limit=3)

    assert len(board.entries) == 3
    [(_, get), (_, query)] = recorder.calls
    assert get["Key"]["sk"] == {"S": "GAME"}  # the counters, not a count of players
    assert (query["IndexName"], query["Limit"]) == (RANK_INDEX, 3)


def test_the_standings_are_the_whole_rank_index_range(
    dynamo: DynamoStore, recorder: Recorder
) -> None:
    game_with_players(dynamo, GameState.PLAYING, [f"s{i}" for i in range(8)])
    recorder.calls.clear()

    board = dynamo.standings("game-1")

    assert len(board.entries) == board.total_players == 8
    [(_, get), (name, query)] = recorder.calls
    assert get["Key"]["sk"] == {"S": "GAME"}
    # No Limit: the pages of the index follow one another until the range ends.
    assert (name, query["IndexName"], "Limit" in query) == ("Query", RANK_INDEX, False)


def test_event_items_are_keyed_as_the_stream_readers_parse_them(
    dynamo: DynamoStore, raw: Any
) -> None:
    game_with_players(dynamo, GameState.PLAYING, ["s1"])

    for event in dynamo.events_after("game-1", 0, limit=10, now=T0):
        keys = event_item_keys("game-1", event.seq)
        item = raw_item(raw, keys["pk"]["S"], keys["sk"]["S"])
        assert (item["itemType"], item["seq"]) == ({"S": "event"}, {"N": str(event.seq)})


# -- races decided from what a cancelled transaction reports --------------------------------------
def _before_first(client: Any, operation: str, action: Any) -> None:
    """Run `action` once, just before `client` sends its first `operation`."""
    pending = [action]

    def hook(**_: Any) -> None:
        if pending:
            pending.pop()()

    client.meta.events.register(f"before-call.dynamodb.{operation}", hook)


def test_a_mark_that_loses_the_race_retries_from_the_cancellation_without_reading(
    dynamo: DynamoStore, client: Any, recorder: Recorder, dynamodb_table: str
) -> None:
    game_with_players(dynamo, GameState.PLAYING, ["s1", "s2"])
    rival = DynamoStore(dynamodb_table, event_ttl_s=EVENT_TTL_S)
    won: list[int] = []
    _before_first(
        client,
        "TransactWriteItems",
        lambda: won.append(mark(rival, "game-1", "s2", "w")[1].seq),
    )
    recorder.calls.clear()

    result = mark(dynamo, "game-1", "s1", "w")

    assert result is not None
    assert result[1].seq == won[0] + 1
    assert recorder.operations == ["BatchGetItem", "TransactWriteItems", "TransactWriteItems"]
    assert [e.seq for e in dynamo.events_after("game-1", 0, limit=100, now=T0)] == list(
        range(1, won[0] + 2)
    )


def test_a_verdict_that_loses_the_race_crowns_the_claimant_of_the_moment(
    dynamo: DynamoStore, client: Any, dynamodb_table: str
) -> None:
    game_with_players(dynamo, GameState.PLAYING, ["s1", "s2"])
    dynamo.claim_bingo("game-1", "s1", line=LINE, now=T0)
    rival = DynamoStore(dynamodb_table, event_ttl_s=EVENT_TTL_S)

    def reject_and_claim_again() -> None:
        rival.change_state(
            "game-1",
            expected=GameState.BINGO,
            new_state=GameState.PLAYING,
            now=T0,
            reason="no",
            resolve_claim=ClaimStatus.REJECTED,
        )
        rival.claim_bingo("game-1", "s2", line=LINE, now=T0 + 1)

    _before_first(client, "TransactWriteItems", reject_and_claim_again)

    game, _ = dynamo.change_state(
        "game-1",
        expected=GameState.BINGO,
        new_state=GameState.ENDED,
        now=T0 + 2,
        reason="verified",
        resolve_claim=ClaimStatus.VERIFIED,
    )

    assert game.winner == Winner("s2", "nick-s2")
    assert dynamo.pending_claim("game-1") is None


# -- TTL ------------------------------------------------------------------------------------------
def test_connection_subscription_and_event_items_carry_the_ttl_attribute(
    dynamo: DynamoStore, raw: Any
) -> None:
    create(dynamo, created_at=T0)
    dynamo.put_connection(make_connection("c1", expires_at=T0 + 60.25))
    dynamo.subscribe("game-1", "c1", now=T0, expires_at=T0 + 99.5)

    items = {
        "connection": (raw_item(raw, "CONN#c1", "CONN"), T0 + 60.25),
        "subscription by game": (raw_item(raw, "GAME#game-1", "SUB#c1"), T0 + 99.5),
        "subscription by connection": (raw_item(raw, "CONN#c1", "SUB#game-1"), T0 + 99.5),
        "event": (raw_item(raw, "GAME#game-1", "EVENT#000000000001"), T0 + EVENT_TTL_S),
    }
    for name, (item, expires_at) in items.items():
        # Whole epoch seconds in a Number, never before the exact expiry.
        assert item[TTL_ATTRIBUTE] == {"N": str(math.ceil(expires_at))}, name
        assert float(item["expiry"]["N"]) == expires_at, name


def test_both_copies_of_a_subscription_carry_its_audience(dynamo: DynamoStore, raw: Any) -> None:
    create(dynamo)
    dynamo.subscribe(
        "game-1",
        "c1",
        now=T0,
        expires_at=T0 + 100,
        audience=Audience.PLAYER,
        viewer="s1",
        feed=False,
    )
    copies = [("GAME#game-1", "SUB#c1"), ("CONN#c1", "SUB#game-1")]

    for pk, sk in copies:
        item = raw_item(raw, pk, sk)
        assert (item["audience"], item["viewer"], item["feed"]) == (
            {"S": "player"},
            {"S": "s1"},
            {"BOOL": False},
        ), (pk, sk)

    # Again as a board: the viewer goes from both copies, the first subscription time stays.
    dynamo.subscribe("game-1", "c1", now=T0 + 5, expires_at=T0 + 200)

    for pk, sk in copies:
        item = raw_item(raw, pk, sk)
        assert (item["audience"], item["feed"]) == ({"S": "board"}, {"BOOL": True}), (pk, sk)
        assert "viewer" not in item, (pk, sk)
        assert item["subscribedAt"] == {"N": repr(T0)}, (pk, sk)


def test_a_subscription_written_before_audiences_reads_as_a_board_with_the_feed(
    dynamo: DynamoStore, raw: Any
) -> None:
    create(dynamo)
    # An item as the adapter wrote it before issue 6: no audience, viewer or feed.
    raw.put_item(
        TableName="bingo-test",
        Item={
            "pk": {"S": "GAME#game-1"},
            "sk": {"S": "SUB#old"},
            "itemType": {"S": "subscription"},
            "gameId": {"S": "game-1"},
            "connectionId": {"S": "old"},
            "subscribedAt": {"N": repr(T0)},
            TTL_ATTRIBUTE: {"N": str(int(T0) + 100)},
            "expiry": {"N": repr(T0 + 100)},
        },
    )

    [found] = dynamo.subscriptions("game-1", now=T0)

    assert (found.connection_id, found.audience, found.viewer, found.feed) == (
        "old",
        Audience.BOARD,
        None,
        True,
    )


def test_expired_items_still_in_the_table_are_not_read(dynamo: DynamoStore, raw: Any) -> None:
    create(dynamo, created_at=T0)
    dynamo.put_connection(make_connection("c1", expires_at=T0 + 60.25))
    dynamo.subscribe("game-1", "c1", now=T0, expires_at=T0 + 60.25)
    later = T0 + EVENT_TTL_S + 1

    # Exactly at the fraction, not at the rounded-up TTL second.
    assert dynamo.get_connection("c1", now=T0 + 60.2) is not None
    assert dynamo.get_connection("c1", now=T0 + 60.3) is None
    assert dynamo.subscribers("game-1", now=T0 + 60.3) == []
    assert dynamo.events_after("game-1", 0, limit=10, now=later) == []
    # DynamoDB deletes expired items within days; until then they are there to be filtered.
    assert raw_item(raw, "CONN#c1", "CONN")
    assert raw_item(raw, "GAME#game-1", "SUB#c1")
    assert raw_item(raw, "GAME#game-1", "EVENT#000000000001")


def test_deleting_a_connection_removes_both_copies_of_its_subscriptions(
    dynamo: DynamoStore, raw: Any
) -> None:
    create(dynamo, "game-1")
    create(dynamo, "game-2")
    dynamo.put_connection(make_connection("c1"))
    for game_id in ("game-1", "game-2"):
        dynamo.subscribe(game_id, "c1", now=T0, expires_at=T0 + 100)

    dynamo.delete_connection("c1")

    left = raw.query(
        TableName="bingo-test",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "CONN#c1"}},
    )["Items"]
    assert left == []
    for game_id in ("game-1", "game-2"):
        assert "Item" not in raw.get_item(
            TableName="bingo-test",
            Key={"pk": {"S": f"GAME#{game_id}"}, "sk": {"S": "SUB#c1"}},
        )


# -- the leaderboard order ------------------------------------------------------------------------
finite_times = st.floats(min_value=0, max_value=4e9, allow_nan=False)


@given(st.lists(st.floats(allow_nan=False), min_size=2, max_size=20))
def test_sortable_float_orders_as_the_numbers(values: list[float]) -> None:
    by_key = sorted(values, key=sortable_float)

    assert by_key == sorted(values)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10**6),
            st.one_of(st.none(), finite_times),
            st.text(min_size=1, max_size=12),
        ),
        min_size=2,
        max_size=12,
        unique_by=lambda t: nickname_key(t[2]),
    )
)
def test_rank_key_orders_as_the_domain_ranks(
    standings: list[tuple[int, float | None, str]],
) -> None:
    players = [
        Player("g", f"s{i}", name, joined_at=T0, points=points, last_mark_at=last)
        for i, (points, last, name) in enumerate(standings)
    ]

    def stored(p: Player) -> str:
        return rank_key(p.points, p.last_mark_at, nickname_key(p.nickname))

    assert sorted(players, key=stored) == sorted(players, key=domain_rank_key)


def test_rank_key_refuses_points_it_cannot_order() -> None:
    with pytest.raises(ValueError, match="outside"):
        rank_key(-1, None, "ada")


# -- foreign errors stop at the adapter -----------------------------------------------------------
@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoStore, Stubber]]:
    """A store on a client whose answers are queued by botocore's Stubber (no network)."""
    offline = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",
    )
    stubber = Stubber(offline)
    with stubber:
        yield DynamoStore("bingo-test", client=offline), stubber
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "says"),
    [
        ("ProvisionedThroughputExceededException", 400, "throttled"),
        ("ThrottlingException", 400, "throttled"),
        ("RequestLimitExceeded", 400, "throttled"),
        ("InternalServerError", 500, "InternalServerError"),
        ("ServiceUnavailable", 503, "ServiceUnavailable"),
        ("ResourceNotFoundException", 400, "does not exist"),
        ("AccessDeniedException", 400, "AccessDeniedException"),
    ],
)
def test_a_client_error_becomes_store_unavailable(
    stubbed: tuple[DynamoStore, Stubber], code: str, status: int, says: str
) -> None:
    store, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code=code, http_status_code=status)

    with pytest.raises(StoreUnavailable, match=says) as raised:
        store.get_game("game-1")

    assert isinstance(raised.value, Unavailable)


def _cancelled(stubber: Stubber, *codes: str) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": c} for c in codes]},
    )


@pytest.mark.parametrize("reason", ["TransactionConflict", "ThrottlingError"])
def test_a_transaction_cancelled_by_a_conflict_or_throttling_is_retried(
    stubbed: tuple[DynamoStore, Stubber], reason: str
) -> None:
    store, stubber = stubbed
    _cancelled(stubber, "None", reason, "None")
    stubber.add_response("transact_write_items", {})

    event = store.create_game(make_game(state=GameState.OPEN))

    assert event.seq == 1


def test_a_transaction_cancelled_by_the_games_condition_is_a_conflict(
    stubbed: tuple[DynamoStore, Stubber],
) -> None:
    store, stubber = stubbed
    _cancelled(stubber, "ConditionalCheckFailed", "None", "None")

    with pytest.raises(Conflict):
        store.create_game(make_game(state=GameState.OPEN))


def test_a_transaction_cancelled_for_another_reason_is_store_unavailable(
    stubbed: tuple[DynamoStore, Stubber],
) -> None:
    store, stubber = stubbed
    _cancelled(stubber, "None", "ValidationError", "None")

    with pytest.raises(StoreUnavailable, match="ValidationError"):
        store.create_game(make_game(state=GameState.OPEN))


def test_a_missing_game_on_subscribe_is_game_not_found(
    stubbed: tuple[DynamoStore, Stubber],
) -> None:
    store, stubber = stubbed
    _cancelled(stubber, "ConditionalCheckFailed", "None", "None")

    with pytest.raises(GameNotFound):
        store.subscribe("nope", "c1", now=T0, expires_at=T0 + 10)


def test_an_unreachable_endpoint_becomes_store_unavailable() -> None:
    nowhere = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1),
    )
    store = DynamoStore("bingo-test", client=nowhere)

    with pytest.raises(StoreUnavailable, match="did not answer"):
        store.get_game("game-1")
    nowhere.close()
