"""Organisers' use cases: create a game and move it through its states."""

from __future__ import annotations

from typing import Any

from backend.domain import cards, game, messages
from backend.domain.game import GameState
from backend.domain.model import ClaimStatus, Game
from backend.domain.words import DEFAULT_WORDS
from backend.services import broadcast
from backend.services.context import Deps


def create_game(deps: Deps, *, name: str, grid_size: object, words: object) -> dict[str, Any]:
    """Create a game in state `open`.

    Args:
        deps: Dependencies.
        name: A label, typically the conference room.
        grid_size: 3, 4 or 5.
        words: The word list, or None for the default buzzwords.

    Raises:
        InvalidRequest: bad grid size.
        InvalidWordList: the list cannot fill a card.
    """
    size = cards.check_grid_size(grid_size)
    word_list = cards.check_word_list(list(DEFAULT_WORDS) if words is None else words, size)
    now = deps.clock()
    new = Game(
        game_id=deps.new_id(),
        name=name,
        grid_size=size,
        words=word_list,
        state=GameState.OPEN,
        created_at=now,
        updated_at=now,
    )
    event = deps.store.create_game(new)
    view = messages.game_view(deps.store.get_game(new.game_id))
    view["seq"] = event.seq
    view["words"] = list(word_list)
    return view


def _claim_resolution(current: GameState, target: GameState) -> ClaimStatus | None:
    # Leaving `bingo` settles the pending claim: ending the game verifies it, anything else
    # (back to playing, cancelled) rejects it.
    if current is not GameState.BINGO:
        return None
    return ClaimStatus.VERIFIED if target is GameState.ENDED else ClaimStatus.REJECTED


def change_state(deps: Deps, game_id: str, *, state: object, reason: str) -> dict[str, Any]:
    """Move a game to another state (from `bingo`: `ended` verifies, `playing` rejects).

    Raises:
        GameNotFound: no such game.
        InvalidTransition: the state machine refuses, or a concurrent change won.
    """
    target = game.parse_state(state)
    current = deps.store.get_game(game_id)
    game.check_admin_transition(current.state, target)
    after, event = deps.store.change_state(
        game_id,
        expected=current.state,
        new_state=target,
        now=deps.clock(),
        reason=reason,
        resolve_claim=_claim_resolution(current.state, target),
    )
    broadcast.publish(deps, game_id, [event])
    return messages.game_view(after)
