"""Benchmark of the SQLite store's hot path: marks per second and mark + leaderboard round trips.

For each player count, one game is filled through the `Store` API (players with a few marks
each, so the leaderboard index has real work), then timed: sequential marks of new words, and
"mark + leaderboard(top 10)" round trips, the work of one `POST /games/{id}/marks` plus the
broadcast that follows it. The claim under test: the time grows with the player count at most
by the log factor of a B-tree index, never linearly.

Usage: python bench/store.py [--players 100,1000,10000] [--marks N] [--round-trips N]
Only JSON goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backend.adapters.store_sqlite import SqliteStore
from backend.domain.game import GameState
from backend.domain.model import Game, Player
from backend.domain.scoring import DEFAULT_LEADERBOARD_SIZE, POINTS_PER_WORD
from backend.domain.validation import nickname_key

GAME_ID = "bench-game"
T0 = 1_700_000_000.0
MAX_PREFILL_MARKS = 4  # player i starts with i % 4 marks: a leaderboard with ties and spread


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary_ms(samples_ns: Sequence[int]) -> dict[str, float]:
    """Median, p95 and max of durations in nanoseconds, as milliseconds."""
    ms = sorted(s / 1e6 for s in samples_ns)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {
        "median": round(statistics.median(ms), 4),
        "p95": round(p95, 4),
        "max": round(ms[-1], 4),
    }


def timed(fn: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - start


def populate(store: SqliteStore, players: int) -> float:
    """Create the game and its players through the store; return the clock after the last mark."""
    store.create_game(
        Game(GAME_ID, "Bench room", 4, ("w",), GameState.OPEN, created_at=T0, updated_at=T0)
    )
    for i in range(players):
        nickname = f"player-{i:05d}"
        store.add_player(Player(GAME_ID, f"s{i}", nickname, joined_at=T0), nickname_key(nickname))
        if i and i % 2_000 == 0:
            progress(f"  {i} players joined")
    store.change_state(
        GAME_ID, expected=GameState.OPEN, new_state=GameState.PLAYING, now=T0, reason="bench"
    )
    now = T0
    for round_ in range(MAX_PREFILL_MARKS):
        for i in range(players):
            if i % MAX_PREFILL_MARKS > round_:
                now += 0.001
                store.add_mark(
                    GAME_ID, f"s{i}", f"prefill-{round_}", points=POINTS_PER_WORD, now=now
                )
    return now


def run_one(directory: Path, players: int, marks: int, round_trips: int) -> dict[str, Any]:
    store = SqliteStore(directory / f"bench-{players}.sqlite3")
    try:
        progress(f"{players} players: populating")
        start = time.perf_counter()
        now = populate(store, players)
        populate_s = time.perf_counter() - start
        counter = 0

        def mark_new_word() -> None:
            # A new word each time, for a player chosen round-robin: every call writes.
            nonlocal counter, now
            counter += 1
            now += 0.001
            result = store.add_mark(
                GAME_ID, f"s{counter % players}", f"new-{counter}", points=POINTS_PER_WORD, now=now
            )
            assert result is not None

        def leaderboard() -> None:
            store.leaderboard(GAME_ID, limit=DEFAULT_LEADERBOARD_SIZE)

        def round_trip() -> None:
            mark_new_word()
            leaderboard()

        progress(f"{players} players: {marks} sequential marks")
        start_ns = time.perf_counter_ns()
        mark_ns = [timed(mark_new_word) for _ in range(marks)]
        marks_s = (time.perf_counter_ns() - start_ns) / 1e9

        progress(f"{players} players: {round_trips} mark + leaderboard round trips")
        round_trip_ns = [timed(round_trip) for _ in range(round_trips)]
        leaderboard_ns = [timed(leaderboard) for _ in range(round_trips)]

        board = store.leaderboard(GAME_ID, limit=DEFAULT_LEADERBOARD_SIZE)
        assert board.total_players == players
        return {
            "players": players,
            "populate_s": round(populate_s, 3),
            "marks": marks,
            "marks_s": round(marks_s, 3),
            "marks_per_s": round(marks / marks_s, 1),
            "mark_ms": summary_ms(mark_ns),
            "round_trips": round_trips,
            "round_trip_ms": summary_ms(round_trip_ns),
            "leaderboard_ms": summary_ms(leaderboard_ns),
            "leader_points": board.entries[0].points,
        }
    finally:
        store.close()


def growth(results: list[dict[str, Any]]) -> dict[str, Any]:
    """How the median round trip grows from the fewest to the most players, against log n."""
    low, high = results[0], results[-1]
    ratio = high["round_trip_ms"]["median"] / low["round_trip_ms"]["median"]
    log_ratio = math.log2(high["players"]) / math.log2(max(low["players"], 2))
    return {
        "from_players": low["players"],
        "to_players": high["players"],
        "players_ratio": high["players"] / low["players"],
        "round_trip_median_ratio": round(ratio, 3),
        "log_factor": round(log_ratio, 3),
        "within_log_factor": ratio <= log_ratio,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--players",
        default="100,1000,10000",
        help="comma-separated player counts, one game each (default: %(default)s)",
    )
    parser.add_argument(
        "--marks", type=int, default=2_000, help="sequential marks timed (default: %(default)s)"
    )
    parser.add_argument(
        "--round-trips",
        type=int,
        default=500,
        help="mark + leaderboard round trips timed (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        args.players = sorted({int(p) for p in args.players.split(",") if p.strip()})
    except ValueError:
        parser.error("--players takes comma-separated integers")
    if not args.players or min(args.players) < 1 or args.marks < 1 or args.round_trips < 2:
        parser.error("player counts and --marks must be positive; --round-trips at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bingo-bench-") as directory:
        results = [
            run_one(Path(directory), players, args.marks, args.round_trips)
            for players in args.players
        ]
    report = {
        "benchmark": "store",
        "adapter": "sqlite",
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "parameters": {
            "players": args.players,
            "marks": args.marks,
            "round_trips": args.round_trips,
            "leaderboard_size": DEFAULT_LEADERBOARD_SIZE,
            "prefill_marks_per_player": f"0..{MAX_PREFILL_MARKS - 1}",
        },
        "results": results,
        "growth": growth(results),
        "total_s": round(time.perf_counter() - started, 2),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
