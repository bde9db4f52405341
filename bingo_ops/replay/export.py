"""Export a game event log from a stack, a DynamoDB table or a JSONL file, to JSONL or pandas."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from backend.domain import messages
from backend.domain.errors import GameNotFound
from backend.domain.game import ACTIVE_STATES, FINISHED_STATES
from bingo_ops.client.http import ApiError, BingoHttp
from bingo_ops.deploy.smoke import run_sync
from bingo_ops.deploy.stack import StackHandle

if TYPE_CHECKING:
    import pandas as pd

    from backend.ports.store import Store

DYNAMODB_PREFIX: Final = "dynamodb:"
# `GET /games/history` returns at most this many finished games (backend.services.queries).
MAX_HISTORY: Final = 100
# A table read lists at most this many games; a conference has a handful.
MAX_TABLE_GAMES: Final = 10_000
# Events read per store query: the store pages DynamoDB itself, this only bounds one call.
_STORE_PAGE: Final = 1_000

EventSource = StackHandle | Mapping[str, Any] | str | os.PathLike[str]
"""What `load_events` reads: a stack (handle or outputs), `"dynamodb:TABLE"`, or a file."""


def _tagged(view: Mapping[str, Any], game_id: str) -> dict[str, Any]:
    """An event view with its game's id alongside (views carry it only inside `id`)."""
    return {**view, "gameId": game_id}


async def fetch_stack_events(
    outputs: Mapping[str, Any],
    *,
    token: str | None = None,
    game_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Read a stack's event log over its HTTP API.

    Without `game_ids`, the games are those the HTTP API lists: the finished games of
    `GET /games/history` (the newest `MAX_HISTORY`) and the current game, if any. Other games
    still running (several rooms at once) are not listed by the API; pass their ids.

    Args:
        outputs: The stack's outputs (`httpUrl`).
        token: An admin or public token; None fetches a fresh public token (reading events
            needs no more, and it works on every stack).
        game_ids: The games to export, in this order; None lists them as above.

    Returns:
        Every game's event views (`GET /games/{gameId}/events`), each with its `gameId` added;
        games oldest first when listed, each game's events by sequence number.

    Raises:
        ApiError: the API refused (e.g. an unknown game in `game_ids`).
        httpx.HTTPError: the stack could not be reached.
    """
    async with BingoHttp(str(outputs["httpUrl"]), token=token) as http:
        if token is None:
            http.token = (await http.request_public_token())["publicToken"]
        ids = list(game_ids) if game_ids is not None else await _listed_games(http)
        found: list[dict[str, Any]] = []
        for gid in ids:
            found.extend(_tagged(view, gid) for view in await http.all_events(gid))
    return found


async def _listed_games(http: BingoHttp) -> list[str]:
    """The ids of the games the HTTP API lists, oldest first."""
    history = (await http.history(limit=MAX_HISTORY))["games"]
    ids = [str(g["gameId"]) for g in reversed(history)]  # the history is newest first
    try:
        current = await http.current_game()
    except ApiError as exc:
        if exc.code != GameNotFound.code:
            raise
    else:
        if current["gameId"] not in ids:
            ids.append(str(current["gameId"]))
    return ids


def stack_events(
    stack: StackHandle | Mapping[str, Any],
    *,
    token: str | None = None,
    game_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """`fetch_stack_events` from synchronous code (a notebook cell, the CLI).

    Args:
        stack: A `StackHandle` or the stack's outputs.
        token: See `fetch_stack_events`.
        game_ids: See `fetch_stack_events`.
    """
    outputs = stack.outputs if isinstance(stack, StackHandle) else stack
    return run_sync(lambda: fetch_stack_events(outputs, token=token, game_ids=game_ids))


def store_events(
    store: Store,
    *,
    game_ids: Sequence[str] | None = None,
    now: float | None = None,
    max_games: int = MAX_TABLE_GAMES,
) -> list[dict[str, Any]]:
    """Read the event log straight from a backend `Store` (what the HTTP API would show).

    Unlike the HTTP API, the store lists games in every state, so games still running are
    included. Events past their TTL are left out, as every store read does.

    Args:
        store: Any `backend.ports.store.Store` (e.g. `DynamoStore`).
        game_ids: The games to export, in this order; None lists every game in the store.
        now: The time the TTL is judged at (epoch seconds); the current time when None.
        max_games: How many games to list at most (newest kept).

    Returns:
        Public event views (`backend.domain.messages.event_view`), each with its `gameId`
        added; games oldest first when listed, each game's events by sequence number.

    Raises:
        GameNotFound: a game of `game_ids` is not in the store (only if it has no events).
        backend.ports.store.StoreUnavailable: the store could not be read.
    """
    at = time.time() if now is None else now
    if game_ids is None:
        games = store.list_games(ACTIVE_STATES | FINISHED_STATES, limit=max_games)
        # Newest first from the store; a log reads better oldest first.
        ids = [g.game_id for g in sorted(games, key=lambda g: (g.created_at, g.game_id))]
    else:
        ids = list(game_ids)
    found: list[dict[str, Any]] = []
    for gid in ids:
        after = 0
        while True:
            page = store.events_after(gid, after, limit=_STORE_PAGE, now=at)
            found.extend(_tagged(messages.event_view(e), gid) for e in page)
            if len(page) < _STORE_PAGE:
                break
            after = page[-1].seq
    return found


def table_events(
    table: str,
    *,
    region: str | None = None,
    game_ids: Sequence[str] | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Read a DynamoDB table's event log through the backend's store adapter.

    boto3's usual configuration applies (credentials chain, `AWS_ENDPOINT_URL`); the reads are
    `Query`s of the `STATE#` entries and of each game's `EVENT#` range, never a `Scan`.

    Args:
        table: The table name (the deploy's `BINGO_TABLE`).
        region: The table's region; None follows boto3's default chain.
        game_ids: See `store_events`.
        now: See `store_events`.

    Raises:
        backend.ports.store.StoreUnavailable: DynamoDB refused or did not answer.
    """
    from backend.adapters.store_dynamodb import DynamoStore

    store = DynamoStore(table, region=region)
    try:
        return store_events(store, game_ids=game_ids, now=now)
    finally:
        store.close()


def _outputs_file(path: Path) -> dict[str, Any] | None:
    """The stack outputs in `path`, or None when it is something else (an event export)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None  # several JSON lines: an export
    if isinstance(data, dict) and "httpUrl" in data and "seq" not in data:
        return data
    return None


def load_events(
    source: EventSource,
    *,
    token: str | None = None,
    game_ids: Sequence[str] | None = None,
    region: str | None = None,
) -> list[dict[str, Any]]:
    """Read an event log from wherever it lives.

    Args:
        source: A `StackHandle` or stack outputs (read over HTTP, `stack_events`); a stack
            outputs file (the same); `"dynamodb:TABLE"` (`table_events`); or a JSONL export
            (`bingo_ops.analytics.frames.read_events_jsonl`).
        token: For a stack: see `fetch_stack_events`.
        game_ids: For a stack or a table: the games to export (default: all listed).
        region: For a table: its region.

    Returns:
        Event views, each with its `gameId`, ready for `events_frame`.

    Raises:
        ValueError: an empty source.
        FileNotFoundError: a path that does not exist.
    """
    if isinstance(source, StackHandle | Mapping):
        return stack_events(source, token=token, game_ids=game_ids)
    text = os.fspath(source)
    if not text.strip():
        raise ValueError("no event source: give a stack, 'dynamodb:TABLE' or a JSONL path")
    if text.startswith(DYNAMODB_PREFIX):
        table = text.removeprefix(DYNAMODB_PREFIX).strip()
        if not table:
            raise ValueError("'dynamodb:' needs a table name, e.g. 'dynamodb:bingo-dev'")
        return table_events(table, region=region, game_ids=game_ids)
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"no event log or stack outputs file at {path}")
    outputs = _outputs_file(path)
    if outputs is not None:
        return stack_events(outputs, token=token, game_ids=game_ids)
    from bingo_ops.analytics.frames import read_events_jsonl

    events = read_events_jsonl(path)
    if game_ids is not None:
        wanted = set(game_ids)
        events = [e for e in events if event_game_id(e) in wanted]
    return events


def event_game_id(event: Mapping[str, Any]) -> str:
    """The game of an event view: its `gameId`, else the prefix of its `gameId:seq` id."""
    gid = event.get("gameId")
    if isinstance(gid, str):
        return gid
    return str(event.get("id", "")).rpartition(":")[0]


def write_events(events: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write an event log as JSONL (`write_events_jsonl`), creating the folder.

    Returns:
        The path written.
    """
    from bingo_ops.analytics.frames import write_events_jsonl

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_events_jsonl(events, target)
    return target


def export_events(
    source: EventSource, path: str | os.PathLike[str], **options: Any
) -> list[dict[str, Any]]:
    """Read an event log (`load_events`, with its keyword `options`) and write it as JSONL.

    Returns:
        The events written.
    """
    events = load_events(source, **options)
    write_events(events, path)
    return events


def events_frame(events: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The events as an `analytics.frames.events_frame` (one row per event, games mixed)."""
    from bingo_ops.analytics.frames import events_frame as frame_of

    return frame_of(_with_ids(events))


def _with_ids(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Events whose `id` names their game, so `events_frame` can tell games apart."""
    out: list[Mapping[str, Any]] = []
    for event in events:
        gid = event.get("gameId")
        if isinstance(gid, str) and not str(event.get("id", "")).startswith(f"{gid}:"):
            event = {**event, "id": f"{gid}:{event['seq']}"}
        out.append(event)
    return out


def load_events_frame(source: EventSource, **options: Any) -> pd.DataFrame:
    """`load_events` (with its keyword `options`) as a pandas frame (`events_frame`)."""
    return events_frame(load_events(source, **options))
