"""Tests for backend.domain.scoring: points and the leaderboard order."""

from __future__ import annotations

import itertools

import pytest

from backend.domain.model import Player
from backend.domain.scoring import POINTS_PER_WORD, rank_key, ranked


def player(nickname: str, points: int = 0, last_mark_at: float | None = None) -> Player:
    return Player(
        game_id="g1",
        session_id=f"session-{nickname}",
        nickname=nickname,
        joined_at=100.0,
        points=points,
        marks=points // POINTS_PER_WORD,
        last_mark_at=last_mark_at,
    )


def nicknames(players: list[Player]) -> list[str]:
    return [p.nickname for p in players]


def test_a_word_is_worth_ten_points() -> None:
    assert POINTS_PER_WORD == 10


def test_more_points_rank_first() -> None:
    players = [player("b", 10, 5.0), player("a", 30, 9.0), player("c", 20, 1.0)]
    assert nicknames(ranked(players)) == ["a", "c", "b"]


def test_on_equal_points_the_earlier_last_mark_ranks_first() -> None:
    players = [player("a", 20, 300.0), player("b", 20, 100.0), player("c", 20, 200.0)]
    assert nicknames(ranked(players)) == ["b", "c", "a"]


def test_on_equal_points_and_time_the_nickname_decides_ignoring_case() -> None:
    players = [player("carol", 20, 5.0), player("Bob", 20, 5.0), player("alice", 20, 5.0)]
    # A case-sensitive sort would put "Bob" before "alice".
    assert nicknames(ranked(players)) == ["alice", "Bob", "carol"]


def test_players_without_marks_rank_last_by_nickname() -> None:
    players = [
        player("Zed"),
        player("amy"),
        player("late", 10, 1_000_000.0),
        player("Mia"),
        player("early", 10, 1.0),
    ]
    assert nicknames(ranked(players)) == ["early", "late", "amy", "Mia", "Zed"]


def test_a_player_without_marks_sorts_after_any_mark_time() -> None:
    assert rank_key(player("a")) > rank_key(player("b", 0, 10.0**12))


def test_the_order_does_not_depend_on_the_input_order() -> None:
    players = [
        player("dee", 10, 3.0),
        player("Cy", 10, 3.0),
        player("bo", 20, 7.0),
        player("al"),
        player("Ed", 10, 2.0),
    ]
    expected = ["bo", "Ed", "Cy", "dee", "al"]
    for order in itertools.permutations(players):
        assert nicknames(ranked(order)) == expected


def test_ranked_takes_any_iterable_and_leaves_its_input_alone() -> None:
    players = [player("b", 10, 1.0), player("a", 20, 1.0)]
    assert nicknames(ranked(p for p in players)) == ["a", "b"]
    assert nicknames(players) == ["b", "a"]
    assert ranked([]) == []


# "\uff41\uff4c\uff49\uff43\uff45" is "alice" in fullwidth letters.
@pytest.mark.parametrize("name", ["\uff41\uff4c\uff49\uff43\uff45", "ALICE", "Alice"])
def test_the_nickname_tie_break_uses_the_uniqueness_key(name: str) -> None:
    assert rank_key(player(name, 10, 1.0))[2] == "alice"
