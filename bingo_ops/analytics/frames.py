"""Engagement analytics: game event logs as pandas frames, and the metrics computed from them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bingo_ops.replay.scenario import Action, read_jsonl

GAME_CREATED = "game_created"
PLAYER_JOINED = "player_joined"
WORD_MARKED = "word_marked"
BINGO_CLAIMED = "bingo_claimed"
STATE_CHANGED = "state_changed"

# The public fields of each event type (`backend.domain.events._PUBLIC_FIELDS`), flattened into
# columns; an event type without a field leaves it missing.
_STRING_DATA = ("nickname", "name", "previousState", "newState", "reason", "winner")
_INT_DATA = ("points", "marks", "gridSize")

EVENT_COLUMNS: tuple[str, ...] = (
    "gameId",
    "seq",
    "type",
    "nickname",
    "points",
    "marks",
    "timestamp",
    "name",
    "gridSize",
    "previousState",
    "newState",
    "reason",
    "winner",
)


def _game_id(event: Mapping[str, Any], game_id: str | None) -> str:
    if game_id is not None:
        return game_id
    event_id = event.get("id")
    if not isinstance(event_id, str) or ":" not in event_id:
        raise ValueError(f"event {event_id!r} has no 'gameId:seq' id and no game_id was given")
    # Game ids are opaque; the sequence number is whatever follows the last colon.
    return event_id.rpartition(":")[0]


def events_frame(events: Iterable[Mapping[str, Any]], game_id: str | None = None) -> pd.DataFrame:
    """One row per event, the public data fields flattened into columns.

    Args:
        events: Event views as returned by `GET /games/{gameId}/events`
            (`backend.domain.messages.event_view`), of one game or of several.
        game_id: The game of every event; None takes each event's game from the prefix of its
            `id` (`"gameId:seq"`).

    Returns:
        Columns `EVENT_COLUMNS`, sorted by (gameId, seq) with a fresh index: `gameId`, `type`
        and the string data fields (`nickname`, `name`, `previousState`, `newState`, `reason`,
        `winner`) as strings, missing where the event type has no such field; `seq` as int64;
        `points`, `marks` (the player's totals after a mark) and `gridSize` as nullable Int64;
        `timestamp` as a tz-aware UTC datetime.

    Raises:
        ValueError: an event has no usable id and `game_id` is None.
    """
    columns: dict[str, list[Any]] = {name: [] for name in EVENT_COLUMNS}
    for event in events:
        data = event.get("data") or {}
        columns["gameId"].append(_game_id(event, game_id))
        columns["seq"].append(int(event["seq"]))
        columns["type"].append(str(event["type"]))
        columns["timestamp"].append(int(event["timestamp"]))
        for name in _STRING_DATA:
            value = data.get(name)
            columns[name].append(None if value is None else str(value))
        for name in _INT_DATA:
            columns[name].append(data.get(name))
    frame = pd.DataFrame(
        {
            "gameId": pd.Series(columns["gameId"], dtype="str"),
            "seq": pd.Series(columns["seq"], dtype="int64"),
            "type": pd.Series(columns["type"], dtype="str"),
            "timestamp": pd.to_datetime(
                pd.Series(columns["timestamp"], dtype="int64"), unit="ms", utc=True
            ),
            **{name: pd.Series(columns[name], dtype="str") for name in _STRING_DATA},
            **{name: pd.Series(columns[name], dtype="Int64") for name in _INT_DATA},
        }
    )
    frame = frame[list(EVENT_COLUMNS)]
    return frame.sort_values(["gameId", "seq"], kind="stable").reset_index(drop=True)


def read_events_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read an event export: one event view (a JSON object) per line, blank lines skipped.

    Raises:
        ValueError: a line is not a JSON object.
    """
    out: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: not a JSON object")
            out.append(row)
    return out


def write_events_jsonl(events: Iterable[Mapping[str, Any]], path: str | Path) -> None:
    """Write event views one JSON object per line, overwriting `path`; see `read_events_jsonl`."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as f:
        for event in events:
            f.write(json.dumps(dict(event), sort_keys=True, allow_nan=False) + "\n")


def _of_type(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    return frame[frame["type"] == kind]


def _per_interval(marks: pd.DataFrame, freq: str, label: str, count_players: bool) -> pd.DataFrame:
    """Per game, one row per interval from its first mark's to its last mark's, zeros kept."""
    parts = []
    for gid, sub in marks.groupby("gameId", sort=True):
        grouped = sub.set_index("timestamp")["nickname"].resample(freq)
        counts = grouped.nunique() if count_players else grouped.size()
        parts.append(
            pd.DataFrame(
                {"gameId": gid, "interval": counts.index, label: counts.to_numpy(dtype="int64")}
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                "gameId": pd.Series([], dtype="str"),
                "interval": pd.Series([], dtype=marks["timestamp"].dtype),
                label: pd.Series([], dtype="int64"),
            }
        )
    return pd.concat(parts, ignore_index=True)


def active_players(frame: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """How many distinct players marked in each interval, per game.

    Intervals are aligned to the clock (`freq` boundaries, UTC) and run from the one holding
    the game's first mark to the one holding its last; quiet intervals between count 0. Games
    without marks have no rows.

    Args:
        frame: An `events_frame`.
        freq: Interval length, a pandas offset alias such as `"1min"` or `"30s"`.

    Returns:
        Columns `gameId`, `interval` (the interval's start, UTC) and `players` (int64).
    """
    return _per_interval(_of_type(frame, WORD_MARKED), freq, "players", count_players=True)


def marks_per_minute(frame: pd.DataFrame) -> pd.DataFrame:
    """How many words were marked in each clock minute, per game.

    Minutes run from the game's first mark's to its last's; quiet minutes between count 0.

    Args:
        frame: An `events_frame`.

    Returns:
        Columns `gameId`, `minute` (the minute's start, UTC) and `marks` (int64).
    """
    out = _per_interval(_of_type(frame, WORD_MARKED), "1min", "marks", count_players=False)
    return out.rename(columns={"interval": "minute"})


def _first_time(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("gameId")["timestamp"].min()


def _games(frame: pd.DataFrame) -> pd.Index:
    return pd.Index(sorted(frame["gameId"].unique()), dtype="str", name="gameId")


def time_to_first_bingo(frame: pd.DataFrame) -> pd.DataFrame:
    """Per game, the time from its start to its first bingo claim.

    The start is the first state change to `playing`; the first claim is the earliest
    `bingo_claimed` event (verified or not).

    Args:
        frame: An `events_frame`.

    Returns:
        One row per game: `gameId`, `startedAt`, `firstBingoAt` (UTC datetimes, NaT when
        missing) and `seconds` (float64; NaN when the game never started or had no claim).
    """
    games = _games(frame)
    started = _first_time(
        frame[(frame["type"] == STATE_CHANGED) & (frame["newState"] == "playing")]
    )
    bingo = _first_time(_of_type(frame, BINGO_CLAIMED))
    out = pd.DataFrame(
        {
            "startedAt": started.reindex(games),
            "firstBingoAt": bingo.reindex(games),
        },
        index=games,
    )
    out["seconds"] = (out["firstBingoAt"] - out["startedAt"]).dt.total_seconds().astype("float64")
    return out.reset_index()


def leaderboard_race(frame: pd.DataFrame) -> pd.DataFrame:
    """Each player's points over time: the race a leaderboard shows, one row per mark.

    A `word_marked` event carries the player's total points after the mark, so the totals are
    read, not summed; `gained` is the step from the player's previous total in the same game.

    Args:
        frame: An `events_frame`.

    Returns:
        Columns `gameId`, `seq`, `timestamp`, `nickname`, `points` (total after the mark) and
        `gained` (both Int64), sorted by (gameId, seq).
    """
    marks = _of_type(frame, WORD_MARKED)[["gameId", "seq", "timestamp", "nickname", "points"]]
    marks = marks.reset_index(drop=True)
    previous = marks.groupby(["gameId", "nickname"])["points"].shift(1).fillna(0)
    marks["gained"] = (marks["points"] - previous).astype("Int64")
    return marks


def funnel(frame: pd.DataFrame) -> pd.DataFrame:
    """Per game, how many players reached each stage of engagement.

    Stages, as distinct nicknames: `joined` (a `player_joined` event), `marked` (at least one
    `word_marked`), `claimed` (a `bingo_claimed`; whether a player merely *had* a line is not
    in the public log, so a claim stands for it) and `won` (the `winner` of the state change to
    `ended`).

    Args:
        frame: An `events_frame`.

    Returns:
        One row per game: `gameId`, `joined`, `marked`, `claimed`, `won` (int64).
    """
    games = _games(frame)
    ended = frame[(frame["type"] == STATE_CHANGED) & (frame["newState"] == "ended")]
    stages = {
        "joined": (_of_type(frame, PLAYER_JOINED), "nickname"),
        "marked": (_of_type(frame, WORD_MARKED), "nickname"),
        "claimed": (_of_type(frame, BINGO_CLAIMED), "nickname"),
        "won": (ended, "winner"),
    }
    out = pd.DataFrame(index=games)
    for stage, (rows, column) in stages.items():
        counts = rows.dropna(subset=[column]).groupby("gameId")[column].nunique()
        out[stage] = counts.reindex(games, fill_value=0).astype("int64")
    return out.reset_index()


def word_popularity(actions: str | Path | Iterable[Action | Mapping[str, Any]]) -> pd.DataFrame:
    """How often each word was marked, from a replay scenario.

    Public event views never carry words (a `word_marked` view has only the nickname and the
    totals, so cards stay unguessable), so this reads the `mark` actions of a scenario, which
    hold the model card's `word` (`bingo_ops.replay.scenario`). Passing event views is an error.

    Args:
        actions: A scenario JSONL path (read with `bingo_ops.replay.scenario.read_jsonl`), or
            its actions as `Action` objects or their `to_dict` mappings.

    Returns:
        Columns `word`, `marks` (times marked) and `players` (distinct players who marked it,
        across games), both int64, sorted by `marks` descending, then `word`.

    Raises:
        ValueError: an item is an event view rather than a scenario action.
    """
    items: Iterable[Action | Mapping[str, Any]]
    items = read_jsonl(actions) if isinstance(actions, str | Path) else actions
    marks: Counter[str] = Counter()
    players: dict[str, set[tuple[int, str]]] = {}
    for item in items:
        if isinstance(item, Mapping):
            if "kind" not in item:
                raise ValueError(
                    "word_popularity needs scenario actions; public events carry no words"
                )
            item = Action.from_dict(item)
        if item.kind != "mark":
            continue
        word = str(item.data["word"])
        marks[word] += 1
        players.setdefault(word, set()).add((item.game, item.actor))
    out = pd.DataFrame(
        {
            "word": pd.Series(list(marks), dtype="str"),
            "marks": pd.Series(list(marks.values()), dtype="int64"),
            "players": pd.Series([len(players[w]) for w in marks], dtype="int64"),
        }
    )
    return out.sort_values(["marks", "word"], ascending=[False, True]).reset_index(drop=True)
