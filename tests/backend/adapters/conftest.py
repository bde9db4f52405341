"""The `store` fixture: every contract test runs once per `Store` adapter."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store_builders import EVENT_TTL_S

from backend.adapters.store_sqlite import SqliteStore
from backend.ports.store import Store

# A factory gets the test's request, to ask for the fixtures only its adapter needs (the SQLite
# run never starts moto), and the test's temporary directory.
StoreFactory = Callable[[pytest.FixtureRequest, Path], Store]

TABLE = "bingo-test"


@pytest.fixture
def dynamodb_table(aws: dict[str, str]) -> str:
    """The store's table on a clean moto server, created as the deployer does it."""
    import boto3

    from backend.adapters.store_dynamodb import table_definition, time_to_live

    client = boto3.client("dynamodb")
    client.create_table(**table_definition(TABLE))
    client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 1})
    client.update_time_to_live(**time_to_live(TABLE))
    client.close()
    return TABLE


# moto's server answers requests in threads but does not make one request atomic with respect to
# another: `transact_write_items` deep-copies the table, checks and writes item by item, and when
# a condition fails puts the copy back, erasing whatever concurrent requests committed meanwhile;
# a conditional `put_item` checks, then writes, with no lock (moto/dynamodb/models/__init__.py).
# Against it, 16 racing joins all succeed and only 14 players remain. DynamoDB guarantees what
# moto lacks: each request is atomic and transactions are serializable. Sending one request at a
# time restores exactly that guarantee and no more: the racing threads still interleave between
# requests (read, lose the race, retry), which is what the race tests exercise.
_ONE_REQUEST = threading.Lock()


class OneRequestAtATime:
    """A boto3 client whose API calls take turns (see above); everything else passes through."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._client.meta.method_to_api_mapping:
            return attribute

        def call(**kwargs: Any) -> Any:
            with _ONE_REQUEST:
                return attribute(**kwargs)

        return call


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return SqliteStore(tmp_path / "db.sqlite3", event_ttl_s=EVENT_TTL_S)


def _dynamodb(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    from backend.adapters.store_dynamodb import DynamoStore, make_client

    # The moto server process over HTTP (session fixture), reset, with a fresh table.
    table = request.getfixturevalue("dynamodb_table")
    return DynamoStore(table, client=OneRequestAtATime(make_client()), event_ttl_s=EVENT_TTL_S)


# One entry per adapter, each built fresh for the test: SQLite in the test's own temporary
# directory, DynamoDB as a new table on the session's moto server.
STORE_FACTORIES: dict[str, StoreFactory] = {
    "sqlite": _sqlite,
    "dynamodb": _dynamodb,
}


@pytest.fixture(params=list(STORE_FACTORIES), ids=list(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of each adapter."""
    built = STORE_FACTORIES[request.param](request, tmp_path)
    yield built
    close = getattr(built, "close", None)
    if close is not None:
        close()
