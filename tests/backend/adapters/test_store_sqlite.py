"""What only the SQLite adapter promises: WAL, schema versions, index-only hot paths, errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest
from store_builders import (
    EVENT_TTL_S,
    LINE,
    T0,
    create,
    game_with_players,
    join,
    make_card,
    make_connection,
    mark,
)

from backend.adapters.store_sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore
from backend.domain.errors import BingoError, Unavailable
from backend.domain.game import GameState
from backend.domain.model import ClaimStatus
from backend.ports.store import StoreUnavailable


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite3"


@pytest.fixture
def sqlite_store(path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(path, event_ttl_s=EVENT_TTL_S)
    yield store
    store.close()


def pragma(path: Path, name: str) -> object:
    """Read a pragma through a connection of our own, as another process would."""
    with closing(sqlite3.connect(path)) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


# -- the file -------------------------------------------------------------------------------------
def test_the_journal_is_in_wal_mode(sqlite_store: SqliteStore, path: Path) -> None:
    # WAL is a property of the file: a fresh connection sees it too.
    assert pragma(path, "journal_mode") == "wal"


def test_the_schema_version_is_recorded_in_user_version(
    sqlite_store: SqliteStore, path: Path
) -> None:
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 1
    assert pragma(path, "user_version") == SCHEMA_VERSION


def test_a_file_with_a_newer_schema_version_is_refused(path: Path) -> None:
    SqliteStore(path).close()
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(StoreUnavailable, match=f"schema version {SCHEMA_VERSION + 1}"):
        SqliteStore(path)

    assert pragma(path, "user_version") == SCHEMA_VERSION + 1


def test_reopening_a_file_keeps_its_data_and_its_schema(path: Path) -> None:
    first = SqliteStore(path, event_ttl_s=EVENT_TTL_S)
    game_with_players(first, GameState.PLAYING, ["s1", "s2"])
    mark(first, "game-1", "s1", "synergy", now=T0 + 1)
    first.put_card_once(make_card("game-1", "s1"))
    first.claim_bingo("game-1", "s2", line=LINE, now=T0 + 2)
    first.put_connection(make_connection("c1"))
    first.subscribe("game-1", "c1", now=T0, expires_at=T0 + 100)
    before = (
        first.get_game("game-1"),
        first.leaderboard("game-1", limit=10),
        first.events_after("game-1", 0, limit=100, now=T0),
        first.get_card("game-1", "s1"),
        first.marked_words("game-1", "s1"),
        first.pending_claim("game-1"),
        first.get_connection("c1", now=T0),
        first.subscribers("game-1", now=T0),
    )
    first.close()

    again = SqliteStore(path, event_ttl_s=EVENT_TTL_S)
    try:
        after = (
            again.get_game("game-1"),
            again.leaderboard("game-1", limit=10),
            again.events_after("game-1", 0, limit=100, now=T0),
            again.get_card("game-1", "s1"),
            again.marked_words("game-1", "s1"),
            again.pending_claim("game-1"),
            again.get_connection("c1", now=T0),
            again.subscribers("game-1", now=T0),
        )
    finally:
        again.close()

    assert after == before
    assert pragma(path, "user_version") == SCHEMA_VERSION


def test_two_stores_on_one_file_see_each_others_writes(path: Path) -> None:
    # Two emulator processes (or two Lambda containers) sharing the file.
    writer, reader = SqliteStore(path), SqliteStore(path)
    try:
        create(writer, state=GameState.OPEN)
        join(writer, "game-1", "s1")

        assert reader.leaderboard("game-1", limit=10).total_players == 1
    finally:
        writer.close()
        reader.close()


# -- foreign errors -------------------------------------------------------------------------------
def _garbage_file(path: Path) -> Path:
    path.write_bytes(b"this is not a database, just some bytes\n" * 200)
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("make_path", [_garbage_file, _directory], ids=["garbage", "directory"])
def test_sqlite_errors_become_store_unavailable(
    path: Path, make_path: Callable[[Path], Path]
) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        SqliteStore(make_path(path))

    assert isinstance(caught.value, Unavailable)
    assert isinstance(caught.value, BingoError)
    assert caught.value.code == "store_unavailable"
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_a_database_that_goes_bad_after_opening_raises_store_unavailable(path: Path) -> None:
    store = SqliteStore(path)
    create(store)
    store.close()
    _garbage_file(path)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)

    try:
        with pytest.raises(StoreUnavailable):
            store.get_game("game-1")
    finally:
        store.close()


# -- query plans ----------------------------------------------------------------------------------
INDEX_USE = (
    "USING INDEX",
    "USING PRIMARY KEY",
    "USING COVERING INDEX",
    "USING INTEGER PRIMARY KEY",
)


def _populated(store: SqliteStore) -> None:
    """Two games with players, marks, events, connections and subscriptions, and an old game.

    The planner has no statistics (no ANALYZE), so its plans do not depend on the row counts:
    a small file shows the plans a large one gets.
    """
    for game_id, created_at in (("game-0", T0), ("game-1", T0 + 10)):
        sessions = [f"{game_id}-s{i}" for i in range(12)]
        game_with_players(store, GameState.PLAYING, sessions, game_id=game_id)
        for i, session in enumerate(sessions):
            for n in range(i % 4):
                mark(store, game_id, session, f"w{n}", now=created_at + i)
        for i in range(8):
            connection_id = f"{game_id}-c{i}"
            store.put_connection(make_connection(connection_id, game_id=game_id))
            store.subscribe(game_id, connection_id, now=T0, expires_at=T0 + 3600)
    create(store, "finished", state=GameState.ENDED, created_at=T0 + 20)


HOT_PATHS: dict[str, tuple[Callable[[SqliteStore], object], str]] = {
    # name: (the call, the table whose rows it must reach through an index)
    "leaderboard": (lambda s: s.leaderboard("game-1", limit=10), "players"),
    "subscribers": (lambda s: s.subscribers("game-1", now=T0), "subscriptions"),
    "events_after": (lambda s: s.events_after("game-1", 5, limit=50, now=T0), "events"),
    "current_game": (lambda s: s.current_game(), "games"),
    "get_connection": (lambda s: s.get_connection("game-1-c3", now=T0), "connections"),
    "delete_connection": (lambda s: s.delete_connection("game-1-c3"), "subscriptions"),
    "get_player": (lambda s: s.get_player("game-1", "game-1-s3"), "players"),
    "marked_words": (lambda s: s.marked_words("game-1", "game-1-s3"), "marks"),
    "add_mark": (
        lambda s: mark(s, "game-1", "game-1-s3", "fresh", now=T0 + 99),
        "players",
    ),
    "pending_claim": (lambda s: s.pending_claim("game-1"), "claims"),
    "claim_bingo": (lambda s: s.claim_bingo("game-1", "game-1-s3", line=LINE, now=T0), "games"),
    "verify_claim": (
        lambda s: s.change_state(
            "game-1",
            expected=GameState.BINGO,
            new_state=GameState.ENDED,
            now=T0,
            reason="verified",
            resolve_claim=ClaimStatus.VERIFIED,
        ),
        "claims",
    ),
}


def query_plans(store: SqliteStore, call: Callable[[SqliteStore], object]) -> dict[str, str]:
    """The plan of every statement `call` runs on this thread's connection, by statement."""
    statements: list[str] = []
    # The adapter's own connection is the one that sees the real SQL, bound values included.
    db = store._db()
    db.set_trace_callback(statements.append)
    try:
        call(store)
    finally:
        db.set_trace_callback(None)
    plans = {}
    with closing(sqlite3.connect(store.path)) as other:
        for sql in statements:
            if sql.split(None, 1)[0].upper() in {"SELECT", "UPDATE", "DELETE"}:
                rows = other.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
                plans[sql] = "\n".join(row[3] for row in rows)
    return plans


@pytest.mark.parametrize("name", list(HOT_PATHS))
def test_hot_paths_read_through_indexes_and_never_scan(
    sqlite_store: SqliteStore, name: str
) -> None:
    _populated(sqlite_store)
    if name == "verify_claim":
        sqlite_store.claim_bingo("game-1", "game-1-s1", line=LINE, now=T0)
    call, table = HOT_PATHS[name]

    plans = query_plans(sqlite_store, call)

    assert plans, f"{name} ran no query"
    for sql, plan in plans.items():
        assert "SCAN " not in plan, f"{sql}\n{plan}"
    on_table = {sql: plan for sql, plan in plans.items() if f" {table} " in f" {plan} "}
    assert on_table, f"{name} never read {table}: {plans}"
    for sql, plan in on_table.items():
        assert any(use in plan for use in INDEX_USE), f"{sql}\n{plan}"


def test_the_leaderboard_walks_its_index_in_order(sqlite_store: SqliteStore) -> None:
    _populated(sqlite_store)

    plans = query_plans(sqlite_store, HOT_PATHS["leaderboard"][0])

    (players_plan,) = [p for p in plans.values() if "players" in p]
    assert "players_by_rank" in players_plan
    assert "TEMP B-TREE" not in players_plan
    assert "SCAN players" not in players_plan


def test_close_closes_the_connections_of_every_thread(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    opened: list[sqlite3.Connection] = []

    def use() -> None:
        store.current_game()
        opened.append(store._db())

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: use(), range(4)))
    store.close()
    assert opened
    for db in opened:
        with pytest.raises(sqlite3.ProgrammingError):
            db.execute("SELECT 1")
    # A thread that uses the store after close() reconnects.
    assert store.current_game() is None
    store.close()
