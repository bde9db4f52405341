"""Game states and the transitions between them."""

from __future__ import annotations

from enum import StrEnum

from backend.domain.errors import GameNotAccepting, InvalidRequest, InvalidTransition


class GameState(StrEnum):
    """Lifecycle of one game (one conference room's round)."""

    OPEN = "open"
    PLAYING = "playing"
    PAUSED = "paused"
    BINGO = "bingo"  # a claim awaits the organiser's verification
    ENDED = "ended"
    CANCELLED = "cancelled"


TRANSITIONS: dict[GameState, frozenset[GameState]] = {
    GameState.OPEN: frozenset({GameState.PLAYING, GameState.PAUSED, GameState.CANCELLED}),
    GameState.PLAYING: frozenset(
        {GameState.PAUSED, GameState.BINGO, GameState.ENDED, GameState.CANCELLED}
    ),
    GameState.PAUSED: frozenset({GameState.PLAYING, GameState.CANCELLED}),
    GameState.BINGO: frozenset({GameState.ENDED, GameState.PLAYING, GameState.CANCELLED}),
    GameState.ENDED: frozenset(),
    GameState.CANCELLED: frozenset(),
}

ACTIVE_STATES = frozenset({GameState.OPEN, GameState.PLAYING, GameState.PAUSED, GameState.BINGO})
FINISHED_STATES = frozenset({GameState.ENDED, GameState.CANCELLED})

# Only a claim moves a game into `bingo`; an organiser cannot pick that state by hand.
ADMIN_TARGETS = frozenset(TRANSITIONS) - {GameState.BINGO}


def parse_state(value: object) -> GameState:
    """Return the `GameState` named by `value`.

    Raises:
        InvalidRequest: `value` names no state (a malformed request, not a conflict).
    """
    try:
        return GameState(str(value))
    except ValueError:
        names = ", ".join(s.value for s in GameState)
        raise InvalidRequest(f"unknown state {value!r}; states are: {names}") from None


def check_transition(current: GameState, target: GameState) -> None:
    """Refuse a transition the state machine does not have.

    Raises:
        InvalidTransition: `current -> target` is not an edge of the state machine.
    """
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (the game is over)"
        raise InvalidTransition(
            f"cannot move a game from {current} to {target}; allowed from {current}: {allowed}"
        )


def check_admin_transition(current: GameState, target: GameState) -> None:
    """Refuse what an organiser may not do by hand, then what the state machine refuses.

    Raises:
        InvalidTransition: the target is `bingo` (only a player's claim leads there) or the
            edge does not exist.
    """
    if target not in ADMIN_TARGETS:
        raise InvalidTransition("a game enters 'bingo' only through a player's claim")
    check_transition(current, target)


def check_accepts_marks(state: GameState) -> None:
    """Marks count only while the game is being played.

    Raises:
        GameNotAccepting: the game is not `playing`.
    """
    if state is not GameState.PLAYING:
        raise GameNotAccepting(f"the game is {state}; marks are accepted only while playing")


def check_accepts_claims(state: GameState) -> None:
    """A claim needs a game in play.

    Raises:
        GameNotAccepting: the game is not `playing` (a pending claim is reported by the store).
    """
    if state is not GameState.PLAYING:
        raise GameNotAccepting(f"the game is {state}; bingo can be claimed only while playing")


def check_accepts_joins(state: GameState) -> None:
    """Players may join any game that has not finished.

    Raises:
        GameNotAccepting: the game has ended or was cancelled.
    """
    if state in FINISHED_STATES:
        raise GameNotAccepting(f"the game is {state}; it no longer accepts players")
