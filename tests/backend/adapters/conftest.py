"""The `store` fixture: every contract test runs once per `Store` adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from store_builders import EVENT_TTL_S

from backend.adapters.store_sqlite import SqliteStore
from backend.ports.store import Store

StoreFactory = Callable[[Path], Store]


def _sqlite(tmp_path: Path) -> Store:
    return SqliteStore(tmp_path / "db.sqlite3", event_ttl_s=EVENT_TTL_S)


# One entry per adapter, each built fresh in the test's own temporary directory. The DynamoDB
# adapter joins here (on a moto server) and must pass the same suite.
STORE_FACTORIES: dict[str, StoreFactory] = {
    "sqlite": _sqlite,
}


@pytest.fixture(params=list(STORE_FACTORIES), ids=list(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of each adapter."""
    built = STORE_FACTORIES[request.param](tmp_path)
    yield built
    close = getattr(built, "close", None)
    if close is not None:
        close()
