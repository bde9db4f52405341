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

from backend.adapters.store_sqlite import MIGRATIONS, SCHEMA_VERSION, Change, SqliteStore
from backend.domain.errors import (
    BingoError,
    ClaimPending,
    Conflict,
    GameNotAccepting,
    InvalidTransition,
    NicknameTaken,
    PlayerNotFound,
    Unavailable,
)
from backend.domain.game import GameState
from backend.domain.model import Audience, ClaimStatus, Subscription
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
    "subscriptions": (lambda s: s.subscriptions("game-1", now=T0), "subscriptions"),
    "standings": (lambda s: s.standings("game-1"), "players"),
    "changes_after": (lambda s: s.changes_after(10, limit=50), "changes"),
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


@pytest.mark.parametrize("name", ["leaderboard", "standings"])
def test_the_leaderboard_walks_its_index_in_order(sqlite_store: SqliteStore, name: str) -> None:
    _populated(sqlite_store)

    plans = query_plans(sqlite_store, HOT_PATHS[name][0])

    (players_plan,) = [p for p in plans.values() if "players" in p]
    assert "players_by_rank" in players_plan
    assert "TEMP B-TREE" not in players_plan
    assert "SCAN players" not in players_plan


@pytest.mark.parametrize("name", ["subscriptions", "changes_after"])
def test_ordered_reads_need_no_sort(sqlite_store: SqliteStore, name: str) -> None:
    _populated(sqlite_store)

    plans = query_plans(sqlite_store, HOT_PATHS[name][0])

    assert plans
    for sql, plan in plans.items():
        assert "TEMP B-TREE" not in plan, f"{sql}\n{plan}"


def test_the_last_change_id_is_one_index_probe(sqlite_store: SqliteStore) -> None:
    _populated(sqlite_store)

    plans = query_plans(sqlite_store, lambda s: s.last_change_id())

    # max() of an INTEGER PRIMARY KEY reads the last entry of the table's b-tree.
    assert list(plans.values()) == ["SEARCH changes"]


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


# -- the change log -------------------------------------------------------------------------------
def _logged(store: SqliteStore) -> list[tuple[str, int, float]]:
    """Writes across two games in an interleaved order: (game, seq, time) of each event."""
    create(store, "game-a", state=GameState.OPEN, created_at=T0)
    create(store, "game-b", state=GameState.OPEN, created_at=T0 + 1)
    join(store, "game-a", "s1", joined_at=T0 + 2)
    join(store, "game-b", "s2", joined_at=T0 + 3)
    store.change_state(
        "game-a", expected=GameState.OPEN, new_state=GameState.PLAYING, now=T0 + 4, reason="go"
    )
    mark(store, "game-a", "s1", "synergy", now=T0 + 5)
    store.claim_bingo("game-a", "s1", line=LINE, now=T0 + 6)  # two events, one transaction
    join(store, "game-b", "s3", joined_at=T0 + 7)
    return [
        ("game-a", 1, T0),
        ("game-b", 1, T0 + 1),
        ("game-a", 2, T0 + 2),
        ("game-b", 2, T0 + 3),
        ("game-a", 3, T0 + 4),
        ("game-a", 4, T0 + 5),
        ("game-a", 5, T0 + 6),
        ("game-a", 6, T0 + 6),
        ("game-b", 3, T0 + 7),
    ]


def test_every_event_has_one_change_in_commit_order(sqlite_store: SqliteStore) -> None:
    expected = _logged(sqlite_store)

    changes = sqlite_store.changes_after(0, limit=100)

    assert [(c.game_id, c.seq, c.created_at) for c in changes] == expected
    assert [c.change_id for c in changes] == list(range(1, len(expected) + 1))
    assert sqlite_store.last_change_id() == len(expected)
    # Each change names an event that is there to be read.
    for change in changes:
        (event,) = sqlite_store.events_after(change.game_id, change.seq - 1, limit=1, now=T0)
        assert (event.seq, event.created_at) == (change.seq, change.created_at)


@pytest.mark.parametrize(
    ("after", "limit", "expected"),
    [(0, 3, [1, 2, 3]), (3, 2, [4, 5]), (7, 10, [8, 9]), (9, 10, []), (50, 10, [])],
)
def test_changes_after_returns_later_changes_ascending_up_to_limit(
    sqlite_store: SqliteStore, after: int, limit: int, expected: list[int]
) -> None:
    _logged(sqlite_store)

    changes = sqlite_store.changes_after(after, limit=limit)

    assert [c.change_id for c in changes] == expected
    assert all(isinstance(c, Change) for c in changes)


def test_the_change_log_starts_empty(sqlite_store: SqliteStore) -> None:
    assert sqlite_store.changes_after(0, limit=10) == []
    assert sqlite_store.last_change_id() == 0


Refusals = list[tuple[Callable[[], object], type[BingoError]]]


def _refuse_all(store: SqliteStore, refused: Refusals) -> None:
    """Run each write, check its refusal, and that the change log did not move."""
    before = store.changes_after(0, limit=100)
    for write, refusal in refused:
        with pytest.raises(refusal):
            write()
    assert store.changes_after(0, limit=100) == before
    assert before[-1].seq == store.get_game("game-1").last_seq


def test_refused_writes_leave_no_change(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    game_with_players(store, GameState.PLAYING, ["s1", "s2"])

    def pause_to_playing() -> object:
        return store.change_state(
            "game-1", expected=GameState.PAUSED, new_state=GameState.PLAYING, now=T0, reason="x"
        )

    _refuse_all(
        store,
        [
            (lambda: create(store, "game-1"), Conflict),
            (lambda: join(store, "game-1", "s9", "NICK-S1"), NicknameTaken),
            (lambda: mark(store, "game-1", "nobody", "w"), PlayerNotFound),
            (pause_to_playing, InvalidTransition),
        ],
    )
    store.claim_bingo("game-1", "s1", line=LINE, now=T0)
    _refuse_all(
        store,
        [
            (lambda: store.claim_bingo("game-1", "s2", line=LINE, now=T0), ClaimPending),
            (lambda: mark(store, "game-1", "s1", "late"), GameNotAccepting),
        ],
    )


def test_a_repeated_mark_writes_no_change(sqlite_store: SqliteStore) -> None:
    game_with_players(sqlite_store, GameState.PLAYING, ["s1"])
    mark(sqlite_store, "game-1", "s1", "synergy")
    before = sqlite_store.last_change_id()

    assert mark(sqlite_store, "game-1", "s1", "synergy") is None

    assert sqlite_store.last_change_id() == before


def test_an_event_and_its_change_commit_together_or_not_at_all(
    sqlite_store: SqliteStore, path: Path
) -> None:
    game_with_players(sqlite_store, GameState.PLAYING, ["s1"])
    game_before = sqlite_store.get_game("game-1")
    changes_before = sqlite_store.changes_after(0, limit=100)
    # The change's insert fails after the event's succeeded, inside the same write.
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TRIGGER refuse_changes BEFORE INSERT ON changes"
            " BEGIN SELECT RAISE(ABORT, 'no changes today'); END"
        )
        db.commit()

    with pytest.raises(StoreUnavailable):
        mark(sqlite_store, "game-1", "s1", "synergy")

    assert sqlite_store.get_game("game-1") == game_before
    assert sqlite_store.events_after("game-1", game_before.last_seq, limit=10, now=T0) == []
    assert sqlite_store.marked_words("game-1", "s1") == frozenset()
    assert sqlite_store.changes_after(0, limit=100) == changes_before


def test_only_the_newest_changes_are_kept_and_ids_are_never_reused(path: Path) -> None:
    store = SqliteStore(path, event_ttl_s=EVENT_TTL_S, change_retention=4)
    try:
        expected = _logged(store)

        changes = store.changes_after(0, limit=100)

        assert [(c.game_id, c.seq, c.created_at) for c in changes] == expected[-4:]
        assert [c.change_id for c in changes] == [6, 7, 8, 9]
        assert store.last_change_id() == 9
        join(store, "game-b", "s4", joined_at=T0 + 8)
        assert [c.change_id for c in store.changes_after(0, limit=100)] == [7, 8, 9, 10]
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM changes").fetchone()[0] == 4


@pytest.mark.parametrize("retention", [0, -1])
def test_a_retention_below_one_change_is_refused(path: Path, retention: int) -> None:
    with pytest.raises(ValueError, match="at least one"):
        SqliteStore(path, change_retention=retention)


# -- migrations -----------------------------------------------------------------------------------
def _version_1_file(path: Path) -> None:
    """A file as version 1 of the schema wrote it: games, players, connections, subscriptions."""
    with closing(sqlite3.connect(path)) as db:
        db.executescript(MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO games (game_id, name, grid_size, words, state, created_at, updated_at,"
            " last_seq, player_count) VALUES ('game-1', 'Room', 4, '[]', 'playing', ?, ?, 2, 1)",
            (T0, T0),
        )
        db.execute(
            "INSERT INTO players (game_id, session_id, nickname, nickname_key, joined_at)"
            " VALUES ('game-1', 's1', 'Ada', 'ada', ?)",
            (T0,),
        )
        db.executemany(
            "INSERT INTO events (game_id, seq, type, data, created_at, expires_at)"
            " VALUES ('game-1', ?, 'player_joined', '{}', ?, ?)",
            [(1, T0, T0 + EVENT_TTL_S), (2, T0, T0 + EVENT_TTL_S)],
        )
        db.executemany(
            "INSERT INTO connections (connection_id, kind, subject, game_id, nickname,"
            " permissions, connected_at, expires_at) VALUES (?, ?, ?, ?, ?, '[]', ?, ?)",
            [
                ("c-player", "user", "s1", "game-1", "Ada", T0, T0 + 100),
                ("c-board", "public", "device-1", None, None, T0, T0 + 100),
            ],
        )
        db.executemany(
            "INSERT INTO subscriptions (game_id, connection_id, subscribed_at, expires_at)"
            " VALUES ('game-1', ?, ?, ?)",
            [("c-player", T0, T0 + 100), ("c-board", T0, T0 + 100), ("c-unknown", T0, T0 + 50)],
        )
        db.commit()


def test_a_version_1_file_is_migrated_in_place(path: Path) -> None:
    _version_1_file(path)

    store = SqliteStore(path, event_ttl_s=EVENT_TTL_S)
    try:
        assert pragma(path, "user_version") == SCHEMA_VERSION == 2
        # Subscriptions keep their rows and get the audience their connection implies.
        assert store.subscriptions("game-1", now=T0) == [
            Subscription("game-1", "c-board", Audience.BOARD, None, True, T0 + 100),
            Subscription("game-1", "c-player", Audience.PLAYER, "s1", False, T0 + 100),
            Subscription("game-1", "c-unknown", Audience.BOARD, None, True, T0 + 50),
        ]
        assert store.standings("game-1").total_players == 1
        assert [e.seq for e in store.events_after("game-1", 0, limit=10, now=T0)] == [1, 2]
        # The log starts with the first event written after the migration.
        assert store.last_change_id() == 0
        joined = join(store, "game-1", "s2", joined_at=T0 + 1)
        assert store.changes_after(0, limit=10) == [Change(1, "game-1", joined.seq, T0 + 1)]
        assert joined.seq == 3
    finally:
        store.close()


def test_a_migrated_file_opens_again_unchanged(path: Path) -> None:
    _version_1_file(path)
    SqliteStore(path).close()
    with closing(sqlite3.connect(path)) as db:
        before = db.execute("SELECT * FROM subscriptions ORDER BY connection_id").fetchall()

    SqliteStore(path).close()

    with closing(sqlite3.connect(path)) as db:
        after = db.execute("SELECT * FROM subscriptions ORDER BY connection_id").fetchall()
    assert after == before
    assert pragma(path, "user_version") == SCHEMA_VERSION
