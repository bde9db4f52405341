"""Builders of games, players, cards and connections for the store tests.

The module is not called `builders.py`: tests have no `__init__.py`, so pytest puts each test
folder on `sys.path` and two helper modules of the same name in different folders would shadow
each other.
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.domain.cards import free_index
from backend.domain.game import GameState
from backend.domain.model import Card, Connection, Event, Game, Player
from backend.domain.scoring import POINTS_PER_WORD
from backend.domain.validation import nickname_key
from backend.ports.store import Store

T0 = 1_700_000_000.0
# Every adapter under test is built with this event TTL, so the TTL tests know when events expire.
EVENT_TTL_S = 3600.0
WORDS = tuple(f"word-{i:02d}" for i in range(40))
LINE = (0, 1, 2, 3)  # the top row of a 4x4 card
ACTIVE = (GameState.OPEN, GameState.PLAYING, GameState.PAUSED, GameState.BINGO)
FINISHED = (GameState.ENDED, GameState.CANCELLED)
NOT_PLAYING = (GameState.OPEN, GameState.PAUSED, GameState.BINGO, *FINISHED)
# Valid state-machine paths from `open`, used to bring a game with players into any state.
PATHS: dict[GameState, tuple[GameState, ...]] = {
    GameState.OPEN: (),
    GameState.PLAYING: (GameState.PLAYING,),
    GameState.PAUSED: (GameState.PLAYING, GameState.PAUSED),
    GameState.BINGO: (GameState.PLAYING, GameState.BINGO),
    GameState.ENDED: (GameState.PLAYING, GameState.ENDED),
    GameState.CANCELLED: (GameState.CANCELLED,),
}


def make_game(
    game_id: str = "game-1",
    *,
    state: GameState = GameState.PLAYING,
    created_at: float = T0,
    grid_size: int = 4,
    words: tuple[str, ...] = WORDS,
) -> Game:
    """A game as an organiser creates it, in any state."""
    return Game(
        game_id=game_id,
        name=f"Room {game_id}",
        grid_size=grid_size,
        words=words,
        state=state,
        created_at=created_at,
        updated_at=created_at,
    )


def make_player(
    game_id: str, session_id: str, nickname: str | None = None, *, joined_at: float = T0
) -> Player:
    """A player who has just joined (no points yet)."""
    return Player(game_id, session_id, nickname or f"nick-{session_id}", joined_at=joined_at)


def make_card(game_id: str, session_id: str, *, size: int = 4, offset: int = 0) -> Card:
    """A card of `size` drawn from `WORDS` starting at `offset`, free centre on odd sizes."""
    cells: list[str | None] = [WORDS[(offset + i) % len(WORDS)] for i in range(size * size)]
    centre = free_index(size)
    if centre is not None:
        cells[centre] = None
    return Card(game_id, session_id, size, tuple(cells))


def make_connection(
    connection_id: str,
    *,
    kind: str = "user",
    game_id: str | None = "game-1",
    connected_at: float = T0,
    expires_at: float = T0 + 3600,
    permissions: Iterable[str] = (),
) -> Connection:
    """A connection as the `$connect` handler records it."""
    return Connection(
        connection_id=connection_id,
        kind=kind,
        subject=f"subject-{connection_id}",
        connected_at=connected_at,
        expires_at=expires_at,
        game_id=game_id if kind == "user" else None,
        nickname=f"nick-{connection_id}" if kind == "user" else None,
        permissions=frozenset(permissions),
    )


def create(
    store: Store,
    game_id: str = "game-1",
    *,
    state: GameState = GameState.PLAYING,
    created_at: float = T0,
) -> Game:
    """Create a game directly in `state` and return it as stored."""
    store.create_game(make_game(game_id, state=state, created_at=created_at))
    return store.get_game(game_id)


def join(
    store: Store,
    game_id: str,
    session_id: str,
    nickname: str | None = None,
    *,
    joined_at: float = T0,
) -> Event:
    """Add a player under the uniqueness key the join service computes."""
    player = make_player(game_id, session_id, nickname, joined_at=joined_at)
    return store.add_player(player, nickname_key(player.nickname))


def mark(
    store: Store, game_id: str, session_id: str, word: str, *, now: float = T0
) -> tuple[Player, Event] | None:
    """Mark a word for the usual points."""
    return store.add_mark(game_id, session_id, word, points=POINTS_PER_WORD, now=now)


def move(store: Store, game_id: str, *states: GameState, now: float = T0) -> Game:
    """Walk a game through `states` by `change_state`, each step expecting the previous one."""
    current = store.get_game(game_id)
    for state in states:
        current, _ = store.change_state(
            game_id, expected=current.state, new_state=state, now=now, reason=f"to {state}"
        )
    return current


def game_with_players(
    store: Store,
    state: GameState,
    sessions: Iterable[str] = ("s1",),
    *,
    game_id: str = "game-1",
) -> Game:
    """A game in `state` whose players joined while it was open."""
    create(store, game_id, state=GameState.OPEN)
    for session in sessions:
        join(store, game_id, session)
    return move(store, game_id, *PATHS[state])


def all_events(store: Store, game_id: str = "game-1", *, now: float = T0) -> list[Event]:
    """Every unexpired event of a game, in order."""
    return store.events_after(game_id, 0, limit=100_000, now=now)
