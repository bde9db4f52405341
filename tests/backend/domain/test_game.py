"""Tests for backend.domain.game: the state machine and what each state accepts."""

from __future__ import annotations

import itertools

import pytest

from backend.domain.errors import Conflict, GameNotAccepting, InvalidRequest, InvalidTransition
from backend.domain.game import (
    ACTIVE_STATES,
    FINISHED_STATES,
    TRANSITIONS,
    GameState,
    check_accepts_claims,
    check_accepts_joins,
    check_accepts_marks,
    check_admin_transition,
    check_transition,
    parse_state,
)

# The table of DESIGN.md "Game rules", written out independently of the code.
ALLOWED = {
    ("open", "playing"),
    ("open", "paused"),
    ("open", "cancelled"),
    ("playing", "paused"),
    ("playing", "bingo"),
    ("playing", "ended"),
    ("playing", "cancelled"),
    ("paused", "playing"),
    ("paused", "cancelled"),
    ("bingo", "ended"),
    ("bingo", "playing"),
    ("bingo", "cancelled"),
}
STATE_NAMES = ["open", "playing", "paused", "bingo", "ended", "cancelled"]
EVERY_PAIR = [
    pytest.param(GameState(a), GameState(b), id=f"{a}->{b}")
    for a, b in itertools.product(STATE_NAMES, repeat=2)
]


def test_the_states_are_exactly_those_of_the_design() -> None:
    assert [s.value for s in GameState] == STATE_NAMES


def test_the_transition_table_is_the_designs() -> None:
    table = {(str(a), str(b)) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED
    assert set(TRANSITIONS) == set(GameState)


@pytest.mark.parametrize(("current", "target"), EVERY_PAIR)
def test_check_transition_allows_exactly_the_designs_edges(
    current: GameState, target: GameState
) -> None:
    if (str(current), str(target)) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition, match=f"from {current} to {target}"):
            check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), EVERY_PAIR)
def test_check_admin_transition_allows_the_designs_edges_except_into_bingo(
    current: GameState, target: GameState
) -> None:
    if (str(current), str(target)) in ALLOWED and target is not GameState.BINGO:
        check_admin_transition(current, target)
    else:
        with pytest.raises(InvalidTransition):
            check_admin_transition(current, target)


@pytest.mark.parametrize("current", list(GameState))
def test_an_organiser_can_never_pick_bingo(current: GameState) -> None:
    with pytest.raises(InvalidTransition, match="only through a player's claim"):
        check_admin_transition(current, GameState.BINGO)


@pytest.mark.parametrize("state", list(GameState))
def test_no_state_moves_to_itself(state: GameState) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(state, state)


@pytest.mark.parametrize("state", [GameState.ENDED, GameState.CANCELLED])
def test_a_finished_game_allows_nothing_and_says_so(state: GameState) -> None:
    assert TRANSITIONS[state] == frozenset()
    with pytest.raises(InvalidTransition, match="the game is over"):
        check_transition(state, GameState.PLAYING)


def test_the_refusal_lists_the_allowed_targets() -> None:
    with pytest.raises(InvalidTransition) as caught:
        check_transition(GameState.PAUSED, GameState.ENDED)
    assert caught.value.message.endswith("allowed from paused: cancelled, playing")


def test_invalid_transition_is_a_409_conflict_with_its_own_code() -> None:
    assert issubclass(InvalidTransition, Conflict)
    assert InvalidTransition.code == "invalid_transition"


def test_active_and_finished_states_partition_the_states() -> None:
    assert set(GameState) == ACTIVE_STATES | FINISHED_STATES
    assert not ACTIVE_STATES & FINISHED_STATES
    assert {str(s) for s in FINISHED_STATES} == {"ended", "cancelled"}


# -- parse_state --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", STATE_NAMES)
def test_parse_state_reads_every_state_name(name: str) -> None:
    state = parse_state(name)
    assert state is GameState(name)
    assert parse_state(state) is state


@pytest.mark.parametrize(
    "value", ["", "PLAYING", "Open", " open", "open ", "started", "bingo!", None, 1, ["open"], {}]
)
def test_parse_state_refuses_what_names_no_state(value: object) -> None:
    with pytest.raises(InvalidRequest, match="unknown state") as caught:
        parse_state(value)
    assert "open, playing, paused, bingo, ended, cancelled" in caught.value.message


# -- what each state accepts --------------------------------------------------------------------
@pytest.mark.parametrize("state", list(GameState))
def test_marks_are_accepted_only_while_playing(state: GameState) -> None:
    if state is GameState.PLAYING:
        check_accepts_marks(state)
    else:
        with pytest.raises(GameNotAccepting, match=f"the game is {state}; marks"):
            check_accepts_marks(state)


@pytest.mark.parametrize("state", list(GameState))
def test_claims_are_accepted_only_while_playing(state: GameState) -> None:
    if state is GameState.PLAYING:
        check_accepts_claims(state)
    else:
        with pytest.raises(GameNotAccepting, match=f"the game is {state}; bingo"):
            check_accepts_claims(state)


@pytest.mark.parametrize("state", list(GameState))
def test_joins_are_accepted_until_the_game_is_over(state: GameState) -> None:
    if str(state) in {"open", "playing", "paused", "bingo"}:
        check_accepts_joins(state)
    else:
        with pytest.raises(GameNotAccepting, match="no longer accepts players"):
            check_accepts_joins(state)


def test_game_not_accepting_is_a_409_conflict_with_its_own_code() -> None:
    assert issubclass(GameNotAccepting, Conflict)
    assert GameNotAccepting.code == "game_not_accepting"
