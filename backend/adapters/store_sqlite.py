"""The `Store` port on a SQLite file: the embedded default.

Concurrency model: WAL journal (readers never block the writer), and every write transaction
opens with `BEGIN IMMEDIATE`, which takes the write lock up front. A read-then-write transaction
can therefore never lose an update to a concurrent writer, and conditional writes (marks, cards,
claims, sequence numbers) are checked and applied under that one lock. Each thread uses its own
connection, as the emulator runs handlers in worker threads the way Lambda runs containers.
"""

from __future__ import annotations

import heapq
import itertools
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change log: event `seq` of `game_id` was committed.

    `change_id` increases with every commit and is never reused, so it orders the entries of
    every game together, as a stream's sequence numbers do.
    """

    change_id: int
    game_id: str
    seq: int
    created_at: float


DEFAULT_EVENT_TTL_S = 30 * 24 * 3600
# The change log feeds the emulated stream, which reads it within seconds of each write; the
# newest 100,000 changes cover hours of a busy conference, as DynamoDB Streams keeps 24 hours
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html).
DEFAULT_CHANGE_RETENTION = 100_000
BUSY_TIMEOUT_MS = 10_000

# Each entry upgrades the schema by one version; `PRAGMA user_version` records how far a file
# has come, so an old file is migrated in place and a newer one is refused.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE games (
        game_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        grid_size INTEGER NOT NULL,
        words TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        player_count INTEGER NOT NULL DEFAULT 0,
        winner_session_id TEXT,
        winner_nickname TEXT
    );
    CREATE INDEX games_by_state ON games (state, created_at DESC);
    CREATE TABLE players (
        game_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        nickname TEXT NOT NULL,
        nickname_key TEXT NOT NULL,
        joined_at REAL NOT NULL,
        points INTEGER NOT NULL DEFAULT 0,
        marks INTEGER NOT NULL DEFAULT 0,
        last_mark_at REAL,
        PRIMARY KEY (game_id, session_id),
        UNIQUE (game_id, nickname_key)
    ) WITHOUT ROWID;
    -- The leaderboard order: a top-N read walks the first N entries of this index.
    CREATE INDEX players_by_rank ON players (game_id, points DESC, last_mark_at, nickname_key);
    CREATE TABLE cards (
        game_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        cells TEXT NOT NULL,
        PRIMARY KEY (game_id, session_id)
    ) WITHOUT ROWID;
    CREATE TABLE marks (
        game_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        word TEXT NOT NULL,
        marked_at REAL NOT NULL,
        PRIMARY KEY (game_id, session_id, word)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        game_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (game_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE claims (
        claim_id INTEGER PRIMARY KEY,
        game_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        nickname TEXT NOT NULL,
        line TEXT NOT NULL,
        created_at REAL NOT NULL,
        status TEXT NOT NULL
    );
    -- At most one pending claim per game, whatever the interleaving of writers.
    CREATE UNIQUE INDEX one_pending_claim ON claims (game_id) WHERE status = 'pending';
    CREATE TABLE connections (
        connection_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        game_id TEXT,
        nickname TEXT,
        permissions TEXT NOT NULL,
        connected_at REAL NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE subscriptions (
        game_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        subscribed_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (game_id, connection_id)
    ) WITHOUT ROWID;
    CREATE INDEX subscriptions_by_connection ON subscriptions (connection_id);
    """,
    # 2: who a subscription speaks to (issue 6), and the change log the emulated stream reads.
    # Subscriptions written by version 1 become boards with the feed, except those of a user
    # connection, which become players (viewer = the session) without it: what they would
    # have been given had they subscribed now.
    """
    ALTER TABLE subscriptions ADD COLUMN audience TEXT NOT NULL DEFAULT 'board';
    ALTER TABLE subscriptions ADD COLUMN viewer TEXT;
    ALTER TABLE subscriptions ADD COLUMN feed INTEGER NOT NULL DEFAULT 1;
    UPDATE subscriptions
        SET audience = 'player',
            feed = 0,
            viewer = (
                SELECT c.subject FROM connections AS c
                WHERE c.connection_id = subscriptions.connection_id
            )
        WHERE connection_id IN (SELECT connection_id FROM connections WHERE kind = 'user');
    -- One row per event, in commit order: AUTOINCREMENT never reuses an id, even after the
    -- oldest rows are deleted, so a reader's "after this id" stays meaningful.
    CREATE TABLE changes (
        change_id INTEGER PRIMARY KEY AUTOINCREMENT,
        game_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class SqliteStore:
    """`Store` on one SQLite file, safe to share between threads.

    Args:
        path: The database file; created with its schema on first use.
        event_ttl_s: How long events stay readable.
        change_retention: How many of the newest change log entries are kept (see
            `changes_after`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        event_ttl_s: float = DEFAULT_EVENT_TTL_S,
        change_retention: int = DEFAULT_CHANGE_RETENTION,
    ) -> None:
        if change_retention < 1:
            raise ValueError("change_retention must keep at least one change")
        self.path = Path(path)
        self.event_ttl_s = event_ttl_s
        self.change_retention = change_retention
        self._local = threading.local()
        # Every thread's connection, so `close` can close them all (check_same_thread=False
        # below only allows that; each connection is otherwise used by its own thread).
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create {self.path.parent} ({exc})") from exc
        try:
            self._guard(self._migrate)
        except BaseException:
            # A refused or broken file must not leave an open connection behind (Python 3.13
            # reports an unclosed connection with a ResourceWarning).
            self.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # isolation_level=None: no implicit transactions; `_write` issues BEGIN IMMEDIATE.
            db = sqlite3.connect(
                self.path,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False,
            )
            try:
                db.row_factory = sqlite3.Row
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                db.execute("PRAGMA journal_mode = WAL")
                # NORMAL is durable against process crashes in WAL mode; a power cut may lose
                # the last transactions, which a game can afford (https://sqlite.org/wal.html).
                db.execute("PRAGMA synchronous = NORMAL")
            except BaseException:
                # Not a database (or unreadable): close it here, nobody else holds it.
                db.close()
                raise
            self._local.db = db
            with self._all_lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        """Close every thread's connection; a thread that uses the store again reconnects.

        Call it when no other thread is inside a store operation (at shutdown).
        """
        with self._all_lock:
            connections, self._all = self._all, []
        for db in connections:
            db.close()
        # Other threads' locals still point at closed connections: a fresh `threading.local`
        # makes each of them open a new one on next use.
        self._local = threading.local()

    def _guard(self, fn: Callable[[], T]) -> T:
        # Foreign errors stop here: the services see only port and domain errors.
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"the game database is unavailable ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"the game database failed ({exc})") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error:
            # A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open; end it so this
            # thread's next write does not fail with "cannot start a transaction within one".
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self.path} has schema version {version}; this code knows {SCHEMA_VERSION}"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")

    def _append_event(
        self, db: sqlite3.Connection, game_id: str, kind: str, data: dict[str, Any], now: float
    ) -> Event:
        # The counter and the event row change in one transaction: sequence numbers are
        # gap-free per game even when writers race.
        seq = db.execute(
            "UPDATE games SET last_seq = last_seq + 1, updated_at = ? WHERE game_id = ?"
            " RETURNING last_seq",
            (now, game_id),
        ).fetchone()[0]
        db.execute(
            "INSERT INTO events (game_id, seq, type, data, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (game_id, seq, kind, json.dumps(data), now, now + self.event_ttl_s),
        )
        # Its change log entry commits or rolls back with the event: a reader never sees a
        # change whose event is missing, nor misses an event's change.
        change_id = db.execute(
            "INSERT INTO changes (game_id, seq, created_at) VALUES (?, ?, ?)",
            (game_id, seq, now),
        ).lastrowid
        assert change_id is not None
        # Bounded retention, paid a row at a time: past the first `change_retention` changes,
        # each insert deletes the one entry that fell out of the window (a rowid range).
        db.execute("DELETE FROM changes WHERE change_id <= ?", (change_id - self.change_retention,))
        return Event(game_id=game_id, seq=seq, type=kind, data=data, created_at=now)

    @staticmethod
    def _game_row(db: sqlite3.Connection, game_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM games WHERE game_id = ?", (game_id,)
        ).fetchone()
        if row is None:
            raise GameNotFound(f"no game {game_id!r}")
        return row

    @staticmethod
    def _player_row(db: sqlite3.Connection, game_id: str, session_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM players WHERE game_id = ? AND session_id = ?", (game_id, session_id)
        ).fetchone()
        if row is None:
            raise PlayerNotFound("this session has not joined that game")
        return row

    # -- games ------------------------------------------------------------------------------
    def create_game(self, game: Game) -> Event:
        """See `Store.create_game`."""

        def run() -> Event:
            with self._write() as db:
                try:
                    db.execute(
                        "INSERT INTO games (game_id, name, grid_size, words, state, created_at,"
                        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            game.game_id,
                            game.name,
                            game.grid_size,
                            json.dumps(list(game.words)),
                            str(game.state),
                            game.created_at,
                            game.created_at,
                        ),
                    )
                except sqlite3.IntegrityError:
                    raise Conflict(f"game {game.game_id!r} exists") from None
                data = events.game_created(game.name, game.grid_size)
                return self._append_event(
                    db, game.game_id, events.GAME_CREATED, data, game.created_at
                )

        return self._guard(run)

    def get_game(self, game_id: str) -> Game:
        """See `Store.get_game`."""
        return self._guard(lambda: _game(self._game_row(self._db(), game_id)))

    def current_game(self) -> Game | None:
        """See `Store.current_game`."""
        games = self.list_games(ACTIVE_STATES, limit=1)
        return games[0] if games else None

    def list_games(self, states: Collection[GameState], *, limit: int) -> list[Game]:
        """See `Store.list_games`."""

        def run() -> list[Game]:
            # One index range per state, each already newest first, merged here: `IN (...)`
            # over several states would make SQLite sort every matching game instead.
            db = self._db()
            ranges = [
                db.execute(
                    "SELECT * FROM games WHERE state = ? ORDER BY created_at DESC LIMIT ?",
                    (str(state), limit),
                ).fetchall()
                for state in states
            ]
            merged = heapq.merge(*ranges, key=lambda r: r["created_at"], reverse=True)
            return [_game(r) for r in itertools.islice(merged, limit)]

        return self._guard(run)

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

        def run() -> tuple[Game, Event]:
            with self._write() as db:
                row = self._game_row(db, game_id)
                if row["state"] != expected:
                    raise InvalidTransition(
                        f"the game is {row['state']} now, not {expected}; nothing was changed"
                    )
                winner = None
                if resolve_claim is not None:
                    claim = db.execute(
                        "SELECT session_id, nickname FROM claims"
                        " WHERE game_id = ? AND status = 'pending'",
                        (game_id,),
                    ).fetchone()
                    if claim is not None and resolve_claim is ClaimStatus.VERIFIED:
                        winner = Winner(claim["session_id"], claim["nickname"])
                    db.execute(
                        "UPDATE claims SET status = ? WHERE game_id = ? AND status = 'pending'",
                        (str(resolve_claim), game_id),
                    )
                db.execute(
                    "UPDATE games SET state = ?, winner_session_id = ?, winner_nickname = ?"
                    " WHERE game_id = ?",
                    (
                        str(new_state),
                        winner.session_id if winner else None,
                        winner.nickname if winner else None,
                        game_id,
                    ),
                )
                data = events.state_changed(expected, new_state, reason, winner)
                event = self._append_event(db, game_id, events.STATE_CHANGED, data, now)
                return _game(self._game_row(db, game_id)), event

        return self._guard(run)

    # -- players, cards, marks ---------------------------------------------------------------
    def add_player(self, player: Player, nickname_key: str) -> Event:
        """See `Store.add_player`."""

        def run() -> Event:
            with self._write() as db:
                state = self._game_row(db, player.game_id)["state"]
                if state in FINISHED_STATES:
                    raise GameNotAccepting(f"the game is {state}; it no longer accepts players")
                try:
                    db.execute(
                        "INSERT INTO players (game_id, session_id, nickname, nickname_key,"
                        " joined_at) VALUES (?, ?, ?, ?, ?)",
                        (
                            player.game_id,
                            player.session_id,
                            player.nickname,
                            nickname_key,
                            player.joined_at,
                        ),
                    )
                except sqlite3.IntegrityError:
                    raise NicknameTaken(
                        f"the nickname {player.nickname!r} is taken in this game"
                    ) from None
                db.execute(
                    "UPDATE games SET player_count = player_count + 1 WHERE game_id = ?",
                    (player.game_id,),
                )
                data = events.player_joined(player.session_id, player.nickname)
                return self._append_event(
                    db, player.game_id, events.PLAYER_JOINED, data, player.joined_at
                )

        return self._guard(run)

    def get_player(self, game_id: str, session_id: str) -> Player:
        """See `Store.get_player`."""
        return self._guard(lambda: _player(self._player_row(self._db(), game_id, session_id)))

    def put_card_once(self, card: Card) -> Card:
        """See `Store.put_card_once`."""

        def run() -> Card:
            with self._write() as db:
                # First writer wins; later writers read what the first one stored.
                db.execute(
                    "INSERT INTO cards (game_id, session_id, size, cells) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (game_id, session_id) DO NOTHING",
                    (card.game_id, card.session_id, card.size, json.dumps(list(card.cells))),
                )
                stored = self._card(db, card.game_id, card.session_id)
                assert stored is not None
                return stored

        return self._guard(run)

    @staticmethod
    def _card(db: sqlite3.Connection, game_id: str, session_id: str) -> Card | None:
        row = db.execute(
            "SELECT size, cells FROM cards WHERE game_id = ? AND session_id = ?",
            (game_id, session_id),
        ).fetchone()
        if row is None:
            return None
        return Card(game_id, session_id, row["size"], tuple(json.loads(row["cells"])))

    def get_card(self, game_id: str, session_id: str) -> Card | None:
        """See `Store.get_card`."""
        return self._guard(lambda: self._card(self._db(), game_id, session_id))

    def marked_words(self, game_id: str, session_id: str) -> frozenset[str]:
        """See `Store.marked_words`."""

        def run() -> frozenset[str]:
            rows = self._db().execute(
                "SELECT word FROM marks WHERE game_id = ? AND session_id = ?",
                (game_id, session_id),
            )
            return frozenset(r["word"] for r in rows)

        return self._guard(run)

    def add_mark(
        self, game_id: str, session_id: str, word: str, *, points: int, now: float
    ) -> tuple[Player, Event] | None:
        """See `Store.add_mark`."""

        def run() -> tuple[Player, Event] | None:
            with self._write() as db:
                state = self._game_row(db, game_id)["state"]
                if state != GameState.PLAYING:
                    raise GameNotAccepting(
                        f"the game is {state}; marks are accepted only while playing"
                    )
                self._player_row(db, game_id, session_id)
                inserted = db.execute(
                    "INSERT INTO marks (game_id, session_id, word, marked_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (game_id, session_id, word, now),
                ).rowcount
                if not inserted:
                    return None
                row = db.execute(
                    "UPDATE players SET points = points + ?, marks = marks + 1, last_mark_at = ?"
                    " WHERE game_id = ? AND session_id = ? RETURNING *",
                    (points, now, game_id, session_id),
                ).fetchone()
                player = _player(row)
                data = events.word_marked(
                    session_id, player.nickname, word, player.points, player.marks
                )
                return player, self._append_event(db, game_id, events.WORD_MARKED, data, now)

        return self._guard(run)

    def claim_bingo(
        self, game_id: str, session_id: str, *, line: tuple[int, ...], now: float
    ) -> tuple[Game, Claim, Event, Event]:
        """See `Store.claim_bingo`."""

        def run() -> tuple[Game, Claim, Event, Event]:
            with self._write() as db:
                state = self._game_row(db, game_id)["state"]
                if state == GameState.BINGO:
                    raise ClaimPending("another bingo claim is awaiting verification")
                if state != GameState.PLAYING:
                    raise GameNotAccepting(
                        f"the game is {state}; bingo can be claimed only while playing"
                    )
                nickname = self._player_row(db, game_id, session_id)["nickname"]
                try:
                    db.execute(
                        "INSERT INTO claims (game_id, session_id, nickname, line, created_at,"
                        " status) VALUES (?, ?, ?, ?, ?, 'pending')",
                        (game_id, session_id, nickname, json.dumps(list(line)), now),
                    )
                except sqlite3.IntegrityError:
                    raise ClaimPending("another bingo claim is awaiting verification") from None
                db.execute(
                    "UPDATE games SET state = ? WHERE game_id = ?", (str(GameState.BINGO), game_id)
                )
                claimed = self._append_event(
                    db,
                    game_id,
                    events.BINGO_CLAIMED,
                    events.bingo_claimed(session_id, nickname, line),
                    now,
                )
                reason = f"{nickname} claims bingo"
                changed = self._append_event(
                    db,
                    game_id,
                    events.STATE_CHANGED,
                    events.state_changed(GameState.PLAYING, GameState.BINGO, reason),
                    now,
                )
                claim = Claim(game_id, session_id, nickname, line, now)
                return _game(self._game_row(db, game_id)), claim, claimed, changed

        return self._guard(run)

    def pending_claim(self, game_id: str) -> Claim | None:
        """See `Store.pending_claim`."""

        def run() -> Claim | None:
            row = (
                self._db()
                .execute(
                    "SELECT * FROM claims WHERE game_id = ? AND status = 'pending'", (game_id,)
                )
                .fetchone()
            )
            if row is None:
                return None
            return Claim(
                game_id,
                row["session_id"],
                row["nickname"],
                tuple(json.loads(row["line"])),
                row["created_at"],
                ClaimStatus(row["status"]),
            )

        return self._guard(run)

    def leaderboard(self, game_id: str, *, limit: int) -> Leaderboard:
        """See `Store.leaderboard`."""
        return self._guard(lambda: self._ranked(game_id, limit))

    def standings(self, game_id: str) -> Leaderboard:
        """See `Store.standings`."""
        # SQLite reads a negative LIMIT as "no limit" (https://sqlite.org/lang_select.html).
        return self._guard(lambda: self._ranked(game_id, -1))

    def _ranked(self, game_id: str, limit: int) -> Leaderboard:
        db = self._db()
        # One read snapshot for the count, the sequence number and the rows.
        db.execute("BEGIN")
        try:
            game = self._game_row(db, game_id)
            rows = db.execute(
                "SELECT * FROM players INDEXED BY players_by_rank WHERE game_id = ?"
                " ORDER BY points DESC, last_mark_at, nickname_key LIMIT ?",
                (game_id, limit),
            ).fetchall()
        finally:
            db.execute("COMMIT")
        return Leaderboard(
            game_id=game_id,
            entries=tuple(_player(r) for r in rows),
            total_players=game["player_count"],
            seq=game["last_seq"],
        )

    def events_after(self, game_id: str, after_seq: int, *, limit: int, now: float) -> list[Event]:
        """See `Store.events_after`."""

        def run() -> list[Event]:
            rows = self._db().execute(
                "SELECT * FROM events WHERE game_id = ? AND seq > ? AND expires_at > ?"
                " ORDER BY seq LIMIT ?",
                (game_id, after_seq, now, limit),
            )
            return [
                Event(r["game_id"], r["seq"], r["type"], json.loads(r["data"]), r["created_at"])
                for r in rows
            ]

        return self._guard(run)

    # -- connections and subscriptions --------------------------------------------------------
    def put_connection(self, connection: Connection) -> None:
        """See `Store.put_connection`."""

        def run() -> None:
            with self._write() as db:
                db.execute(
                    "INSERT OR REPLACE INTO connections (connection_id, kind, subject, game_id,"
                    " nickname, permissions, connected_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        connection.connection_id,
                        connection.kind,
                        connection.subject,
                        connection.game_id,
                        connection.nickname,
                        json.dumps(sorted(connection.permissions)),
                        connection.connected_at,
                        connection.expires_at,
                    ),
                )

        self._guard(run)

    def get_connection(self, connection_id: str, *, now: float) -> Connection | None:
        """See `Store.get_connection`."""

        def run() -> Connection | None:
            row = (
                self._db()
                .execute(
                    "SELECT * FROM connections WHERE connection_id = ? AND expires_at > ?",
                    (connection_id, now),
                )
                .fetchone()
            )
            if row is None:
                return None
            return Connection(
                connection_id=row["connection_id"],
                kind=row["kind"],
                subject=row["subject"],
                connected_at=row["connected_at"],
                expires_at=row["expires_at"],
                game_id=row["game_id"],
                nickname=row["nickname"],
                permissions=frozenset(json.loads(row["permissions"])),
            )

        return self._guard(run)

    def delete_connection(self, connection_id: str) -> None:
        """See `Store.delete_connection`."""
        self.delete_connections([connection_id])

    def delete_connections(self, connection_ids: Sequence[str]) -> None:
        """See `Store.delete_connections`."""
        if not connection_ids:
            return

        def run() -> None:
            with self._write() as db:
                ids = [(c,) for c in connection_ids]
                db.executemany("DELETE FROM subscriptions WHERE connection_id = ?", ids)
                db.executemany("DELETE FROM connections WHERE connection_id = ?", ids)

        self._guard(run)

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

        def run() -> None:
            with self._write() as db:
                self._game_row(db, game_id)
                # A new subscription keeps its first time; every other field is the latest.
                db.execute(
                    "INSERT INTO subscriptions (game_id, connection_id, subscribed_at,"
                    " expires_at, audience, viewer, feed) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (game_id, connection_id) DO UPDATE SET"
                    " expires_at = excluded.expires_at, audience = excluded.audience,"
                    " viewer = excluded.viewer, feed = excluded.feed",
                    (game_id, connection_id, now, expires_at, str(audience), viewer, int(feed)),
                )

        self._guard(run)

    def unsubscribe(self, game_id: str, connection_id: str) -> None:
        """See `Store.unsubscribe`."""

        def run() -> None:
            with self._write() as db:
                db.execute(
                    "DELETE FROM subscriptions WHERE game_id = ? AND connection_id = ?",
                    (game_id, connection_id),
                )

        self._guard(run)

    def subscribers(self, game_id: str, *, now: float) -> list[str]:
        """See `Store.subscribers`."""

        def run() -> list[str]:
            rows = self._db().execute(
                "SELECT connection_id FROM subscriptions WHERE game_id = ? AND expires_at > ?",
                (game_id, now),
            )
            return [r[0] for r in rows]

        return self._guard(run)

    def subscriptions(self, game_id: str, *, now: float) -> list[Subscription]:
        """See `Store.subscriptions`."""

        def run() -> list[Subscription]:
            # A range of the primary key (game_id, connection_id): already in order.
            rows = self._db().execute(
                "SELECT * FROM subscriptions WHERE game_id = ? AND expires_at > ?"
                " ORDER BY connection_id",
                (game_id, now),
            )
            return [
                Subscription(
                    game_id=r["game_id"],
                    connection_id=r["connection_id"],
                    audience=Audience(r["audience"]),
                    viewer=r["viewer"],
                    feed=bool(r["feed"]),
                    expires_at=r["expires_at"],
                )
                for r in rows
            ]

        return self._guard(run)

    # -- the change log (the emulated stream's source; SQLite only) -----------------------------
    def changes_after(self, after_id: int, *, limit: int) -> list[Change]:
        """Change log entries with `change_id > after_id`, ascending, at most `limit`.

        Every committed event has exactly one entry, written in the event's transaction, so
        entries appear in commit order and never before their event is readable. Only the
        newest `change_retention` entries are kept: a reader further behind than that finds
        its first entry's `change_id` beyond `after_id + 1` and knows it missed some.
        """

        def run() -> list[Change]:
            rows = self._db().execute(
                "SELECT change_id, game_id, seq, created_at FROM changes"
                " WHERE change_id > ? ORDER BY change_id LIMIT ?",
                (after_id, limit),
            )
            return [Change(r[0], r[1], r[2], r[3]) for r in rows]

        return self._guard(run)

    def last_change_id(self) -> int:
        """The newest change log entry's id, 0 before the first event.

        A reader that starts here sees only changes committed from now on (a stream's
        `LATEST` iterator).
        """

        def run() -> int:
            row = self._db().execute("SELECT max(change_id) FROM changes").fetchone()
            return int(row[0] or 0)

        return self._guard(run)


def _game(row: sqlite3.Row) -> Game:
    winner = None
    if row["winner_session_id"] is not None:
        winner = Winner(row["winner_session_id"], row["winner_nickname"])
    return Game(
        game_id=row["game_id"],
        name=row["name"],
        grid_size=row["grid_size"],
        words=tuple(json.loads(row["words"])),
        state=GameState(row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_seq=row["last_seq"],
        winner=winner,
    )


def _player(row: sqlite3.Row) -> Player:
    return Player(
        game_id=row["game_id"],
        session_id=row["session_id"],
        nickname=row["nickname"],
        joined_at=row["joined_at"],
        points=row["points"],
        marks=row["marks"],
        last_mark_at=row["last_mark_at"],
    )
