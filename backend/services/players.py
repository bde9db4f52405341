"""A player's use cases: join, see the card, mark a word, claim bingo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.domain import cards, game, tokens, validation
from backend.domain.errors import ClaimPending, GameNotFound, NoBingo
from backend.domain.game import GameState
from backend.domain.model import Card, Game, Player
from backend.domain.scoring import POINTS_PER_WORD
from backend.domain.tokens import TokenClaims
from backend.services import broadcast
from backend.services.context import Deps


@dataclass(frozen=True)
class Joined:
    """Result of a join: the new session and its token."""

    session_id: str
    nickname: str
    game_id: str
    token: str

    def view(self) -> dict[str, Any]:
        """JSON body of `POST /join`."""
        return {
            "sessionId": self.session_id,
            "nickname": self.nickname,
            "gameId": self.game_id,
            "token": self.token,
        }


def join(deps: Deps, nickname: object, game_id: str | None) -> Joined:
    """Join a game (the current one unless `game_id` is given) under a nickname.

    Raises:
        InvalidNickname: the nickname breaks the rules.
        GameNotFound: no such game, or no game is running.
        GameNotAccepting: the game has finished.
        NicknameTaken: the nickname is used in that game (ignoring case).
    """
    name = validation.nickname(nickname)
    target = deps.store.get_game(game_id) if game_id else deps.store.current_game()
    if target is None:
        raise GameNotFound("no game is running; ask an organiser to start one")
    game.check_accepts_joins(target.state)
    now = deps.clock()
    session_id = deps.new_id()
    player = Player(target.game_id, session_id, name, joined_at=now)
    event = deps.store.add_player(player, validation.nickname_key(name))
    token = deps.tokens.issue_user(session_id, target.game_id, name, now=now)
    broadcast.publish(deps, target.game_id, [event])
    return Joined(session_id, name, target.game_id, token)


def _card(deps: Deps, current: Game, session_id: str) -> Card:
    stored = deps.store.get_card(current.game_id, session_id)
    if stored is not None:
        return stored
    cells = cards.draw_cells(current.words, current.grid_size, deps.randbelow)
    # Concurrent first requests may both draw; the store keeps the first and both get it.
    return deps.store.put_card_once(Card(current.game_id, session_id, current.grid_size, cells))


def card_view(
    card: Card, marked: frozenset[str], player: Player, state: GameState
) -> dict[str, Any]:
    """JSON view of a player's card with what is marked and the complete lines."""
    return {
        "gameId": card.game_id,
        "gridSize": card.size,
        "cells": list(card.cells),
        "freeIndex": cards.free_index(card.size),
        "marked": sorted(marked),
        "points": player.points,
        "marks": player.marks,
        "completeLines": [list(line) for line in cards.complete_lines(card, marked)],
        "gameState": str(state),
    }


def get_card(deps: Deps, claims: TokenClaims, game_id: str) -> dict[str, Any]:
    """The player's card, drawn on first request and the same ever after.

    Raises:
        WrongGame: the token is for another game.
        PlayerNotFound: the session is unknown in that game.
    """
    tokens.require_game(claims, game_id)
    player = deps.store.get_player(game_id, claims.subject)
    current = deps.store.get_game(game_id)
    card = _card(deps, current, claims.subject)
    marked = deps.store.marked_words(game_id, claims.subject)
    return card_view(card, marked, player, current.state)


def mark(deps: Deps, claims: TokenClaims, game_id: str, word: object) -> dict[str, Any]:
    """Mark a word on the player's own card; marking it again changes and emits nothing.

    Raises:
        WrongGame: the token is for another game.
        InvalidRequest: `word` is not a string.
        GameNotAccepting: the game is not being played.
        WordNotOnCard: the word is not on this player's card.
    """
    tokens.require_game(claims, game_id)
    text = validation.text({"word": word}, "word", max_chars=cards.MAX_WORD_CHARS * 2)
    current = deps.store.get_game(game_id)
    game.check_accepts_marks(current.state)
    deps.store.get_player(game_id, claims.subject)
    card = _card(deps, current, claims.subject)
    spelled = cards.find_word(card, text)
    outcome = deps.store.add_mark(
        game_id, claims.subject, spelled, points=POINTS_PER_WORD, now=deps.clock()
    )
    if outcome is None:
        player, seq, new = deps.store.get_player(game_id, claims.subject), None, False
    else:
        player, event = outcome
        seq, new = event.seq, True
        broadcast.publish(deps, game_id, [event])
    marked = deps.store.marked_words(game_id, claims.subject)
    return {
        "gameId": game_id,
        "word": spelled,
        "newlyMarked": new,
        "seq": seq,
        "points": player.points,
        "marks": player.marks,
        "completeLines": [list(line) for line in cards.complete_lines(card, marked)],
    }


def claim_bingo(deps: Deps, claims: TokenClaims, game_id: str) -> dict[str, Any]:
    """Claim bingo; the server checks the card, then the game awaits an organiser's verdict.

    Raises:
        WrongGame: the token is for another game.
        ClaimPending: a claim is already awaiting verification.
        GameNotAccepting: the game is not being played.
        NoBingo: no complete row, column or diagonal.
    """
    tokens.require_game(claims, game_id)
    current = deps.store.get_game(game_id)
    if current.state is GameState.BINGO:
        raise ClaimPending("another bingo claim is awaiting verification")
    game.check_accepts_claims(current.state)
    deps.store.get_player(game_id, claims.subject)
    card = deps.store.get_card(game_id, claims.subject)
    if card is None:
        raise NoBingo("you have no card yet, so no complete line")
    line = cards.winning_line(card, deps.store.marked_words(game_id, claims.subject))
    after, claim, claimed, changed = deps.store.claim_bingo(
        game_id, claims.subject, line=line, now=deps.clock()
    )
    broadcast.publish(deps, game_id, [claimed, changed])
    return {
        "gameId": game_id,
        "state": str(after.state),
        "line": list(claim.line),
        "seq": changed.seq,
        "status": str(claim.status),
    }
