"""The storage port: everything the services persist, as atomic operations.

Every method is one atomic unit. Writes that must not double (joins, marks, cards, claims,
sequence numbers) are conditional in every adapter, so a retry or a race gives a typed, harmless
outcome instead of a second write. Reads of connections and subscriptions ignore rows whose TTL
has passed even if the adapter has not deleted them yet (DynamoDB deletes expired items only
within days).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from backend.domain.errors import Unavailable
from backend.domain.game import GameState
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
)


class StoreUnavailable(Unavailable):
    """The storage backend failed (locked, throttled, unreachable); the operation did nothing."""

    code = "store_unavailable"


class Store(Protocol):
    """Persistence of games, players, cards, marks, claims, events and connections."""

    # -- games ------------------------------------------------------------------------------
    def create_game(self, game: Game) -> Event:
        """Insert a new game and its first event (`game_created`, seq 1).

        Raises:
            Conflict: a game with that id exists.
        """
        ...

    def get_game(self, game_id: str) -> Game:
        """The game with that id.

        Raises:
            GameNotFound: no such game.
        """
        ...

    def current_game(self) -> Game | None:
        """The newest game in an active state (open, playing, paused, bingo), if any."""
        ...

    def list_games(self, states: Collection[GameState], *, limit: int) -> list[Game]:
        """Games in any of `states`, newest first, at most `limit` (an index read, no scan)."""
        ...

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
        """Move a game from `expected` to `new_state` and log a `state_changed` event.

        With `resolve_claim`, the pending claim is resolved in the same unit; `VERIFIED` makes
        its claimant the game's winner (read inside the unit, so a race cannot swap winners).

        Raises:
            GameNotFound: no such game.
            InvalidTransition: the game is no longer in `expected` (a concurrent change won).
        """
        ...

    # -- players, cards, marks ---------------------------------------------------------------
    def add_player(self, player: Player, nickname_key: str) -> Event:
        """Add a player to an active game and log `player_joined`.

        Raises:
            GameNotFound: no such game.
            GameNotAccepting: the game has finished.
            NicknameTaken: another player of the game has the same `nickname_key`.
        """
        ...

    def get_player(self, game_id: str, session_id: str) -> Player:
        """A player's standing.

        Raises:
            PlayerNotFound: the session has not joined that game.
        """
        ...

    def put_card_once(self, card: Card) -> Card:
        """Store a card unless the player already has one; return the stored card.

        Concurrent callers for the same (game, session) all get the same, first-written card.
        """
        ...

    def get_card(self, game_id: str, session_id: str) -> Card | None:
        """The player's card, if drawn."""
        ...

    def marked_words(self, game_id: str, session_id: str) -> frozenset[str]:
        """The words the player has marked (their card's spelling)."""
        ...

    def add_mark(
        self, game_id: str, session_id: str, word: str, *, points: int, now: float
    ) -> tuple[Player, Event] | None:
        """Record a mark worth `points` while the game is `playing`, log `word_marked`.

        Returns:
            The player's new standing and the event, or None if the word was already marked
            (nothing is written: marks are idempotent).

        Raises:
            PlayerNotFound: the session has not joined that game.
            GameNotAccepting: the game is not `playing` at the moment of the write.
        """
        ...

    def claim_bingo(
        self, game_id: str, session_id: str, *, line: tuple[int, ...], now: float
    ) -> tuple[Game, Claim, Event, Event]:
        """Record a claim and move the game `playing -> bingo` in one unit.

        Returns:
            The game after, the claim, the `bingo_claimed` event and the `state_changed` event.

        Raises:
            PlayerNotFound: the session has not joined that game.
            ClaimPending: another claim is already pending (exactly one wins a race).
            GameNotAccepting: the game is not `playing`.
        """
        ...

    def pending_claim(self, game_id: str) -> Claim | None:
        """The claim awaiting verification, if any."""
        ...

    def leaderboard(self, game_id: str, *, limit: int) -> Leaderboard:
        """The top `limit` players in leaderboard order (from an index), and the player count."""
        ...

    def standings(self, game_id: str) -> Leaderboard:
        """Every player of the game in leaderboard order, read from the same index.

        Points descending, then the earlier last mark (no mark last), then the nickname
        ignoring case: the order of `leaderboard`, of which this is the unlimited form.
        `total_players` and `seq` are the game's counters, as `leaderboard` gives them; `seq`
        may understate what the entries include, never overstate it. Read once per broadcast
        window to build every player's personal view in memory.

        Raises:
            GameNotFound: no such game.
        """
        ...

    def events_after(self, game_id: str, after_seq: int, *, limit: int, now: float) -> list[Event]:
        """Unexpired events with `seq > after_seq`, ascending, at most `limit`."""
        ...

    # -- connections and subscriptions --------------------------------------------------------
    def put_connection(self, connection: Connection) -> None:
        """Record a connection (replacing one with the same id)."""
        ...

    def get_connection(self, connection_id: str, *, now: float) -> Connection | None:
        """A live connection, or None if unknown or expired."""
        ...

    def delete_connection(self, connection_id: str) -> None:
        """Forget a connection and all its subscriptions. Idempotent."""
        ...

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
        """Subscribe a connection to a game's broadcasts.

        Idempotent: subscribing again keeps one subscription, replaces its `audience`,
        `viewer` and `feed` with the new ones and refreshes its TTL to `expires_at`.

        Raises:
            GameNotFound: no such game (nothing is written).
        """
        ...

    def unsubscribe(self, game_id: str, connection_id: str) -> None:
        """End a subscription. Idempotent."""
        ...

    def subscribers(self, game_id: str, *, now: float) -> list[str]:
        """Connection ids subscribed to the game whose subscriptions have not expired."""
        ...

    def subscriptions(self, game_id: str, *, now: float) -> list[Subscription]:
        """The game's unexpired subscriptions, ordered by connection id.

        Read by game (an index or a `Query`, never a scan). An unknown game has none.
        """
        ...

    def delete_connections(self, connection_ids: Sequence[str]) -> None:
        """Forget several connections (the gateway said they are gone). Idempotent."""
        ...
