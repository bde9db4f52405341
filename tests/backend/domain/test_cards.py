"""Tests for backend.domain.cards: grid sizes, word lists, drawing cards, lines and bingo."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.domain.cards import (
    GRID_SIZES,
    MAX_WORD_CHARS,
    MAX_WORDS,
    RandBelow,
    check_grid_size,
    check_word_list,
    complete_lines,
    draw_cells,
    find_word,
    free_index,
    has_free_centre,
    lines,
    marked_cells,
    normalise_word,
    winning_line,
    words_needed,
)
from backend.domain.errors import InvalidRequest, InvalidWordList, NoBingo, WordNotOnCard
from backend.domain.model import Card
from backend.domain.words import DEFAULT_WORDS

CENTRE = {3: 4, 4: None, 5: 12}
NEEDED = {3: 8, 4: 16, 5: 24}


# -- helpers ------------------------------------------------------------------------------------
def expected_lines(size: int) -> dict[str, tuple[int, ...]]:
    """Rows, columns and diagonals built from a 2-D grid of indexes, independently of `lines`."""
    grid = [[r * size + c for c in range(size)] for r in range(size)]
    named: dict[str, tuple[int, ...]] = {}
    for r, row in enumerate(grid):
        named[f"row{r}"] = tuple(row)
    for c, column in enumerate(zip(*grid, strict=True)):
        named[f"col{c}"] = tuple(column)
    named["diagonal"] = tuple(grid[i][i] for i in range(size))
    named["anti-diagonal"] = tuple(grid[i][size - 1 - i] for i in range(size))
    return named


EVERY_LINE = [
    pytest.param(size, line, id=f"{size}x{size}-{name}")
    for size in GRID_SIZES
    for name, line in expected_lines(size).items()
]


def make_card(size: int, session_id: str = "s1") -> Card:
    """A card whose cell `i` holds the word `w{i}`; the centre of odd sizes is free."""
    cells = tuple(None if i == CENTRE[size] else f"w{i}" for i in range(size * size))
    return Card(game_id="g1", session_id=session_id, size=size, cells=cells)


def words_at(card: Card, indexes: tuple[int, ...]) -> set[str]:
    return {cell for i in indexes if (cell := card.cells[i]) is not None}


def scripted(results: Iterator[int], calls: list[int]) -> RandBelow:
    """A `randbelow` that returns the given results in turn and records its arguments."""

    def randbelow(n: int) -> int:
        calls.append(n)
        value = next(results)
        assert 0 <= value < n
        return value

    return randbelow


# -- grid sizes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [3, 4, 5])
def test_check_grid_size_accepts_3_4_and_5(size: int) -> None:
    assert check_grid_size(size) == size


@pytest.mark.parametrize("size", [True, False, 0, 1, 2, 6, 7, -3, "4", 4.0, None, [4]])
def test_check_grid_size_refuses_anything_else(size: object) -> None:
    with pytest.raises(InvalidRequest, match="gridSize"):
        check_grid_size(size)


@pytest.mark.parametrize("size", GRID_SIZES)
def test_odd_sizes_have_a_free_centre_and_4_has_none(size: int) -> None:
    assert has_free_centre(size) is (size != 4)
    assert free_index(size) == CENTRE[size]
    assert words_needed(size) == NEEDED[size]


# -- lines --------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", GRID_SIZES)
def test_lines_are_every_row_column_and_both_diagonals(size: int) -> None:
    found = lines(size)

    assert len(found) == 2 * size + 2
    assert all(len(line) == size for line in found)
    assert len(set(found)) == len(found)
    assert set(found) == set(expected_lines(size).values())


def test_lines_of_a_3x3_grid_spelled_out() -> None:
    assert set(lines(3)) == {
        (0, 1, 2),
        (3, 4, 5),
        (6, 7, 8),
        (0, 3, 6),
        (1, 4, 7),
        (2, 5, 8),
        (0, 4, 8),
        (2, 4, 6),
    }


@pytest.mark.parametrize("size", GRID_SIZES)
def test_every_cell_index_lies_on_the_grid(size: int) -> None:
    covered = {i for line in lines(size) for i in line}
    assert covered == set(range(size * size))


# -- word lists ---------------------------------------------------------------------------------
def word_list(n: int) -> list[str]:
    return [f"word {i}" for i in range(n)]


@pytest.mark.parametrize("size", GRID_SIZES)
def test_check_word_list_accepts_exactly_enough_words(size: int) -> None:
    words = word_list(NEEDED[size])
    assert check_word_list(words, size) == tuple(words)


@pytest.mark.parametrize("size", GRID_SIZES)
def test_check_word_list_refuses_one_word_too_few(size: int) -> None:
    with pytest.raises(InvalidWordList, match=f"needs at least {NEEDED[size]} words"):
        check_word_list(word_list(NEEDED[size] - 1), size)


@pytest.mark.parametrize("size", GRID_SIZES)
def test_check_word_list_refuses_an_empty_list(size: int) -> None:
    with pytest.raises(InvalidWordList):
        check_word_list([], size)


def test_check_word_list_accepts_500_words_and_refuses_501() -> None:
    assert len(check_word_list(word_list(MAX_WORDS), 5)) == MAX_WORDS
    with pytest.raises(InvalidWordList, match="at most 500"):
        check_word_list(word_list(MAX_WORDS + 1), 5)


@pytest.mark.parametrize(
    "words",
    [None, "synergy", tuple(word_list(30)), {"a": 1}, set(word_list(30)), 42],
    ids=["none", "string", "tuple", "dict", "set", "int"],
)
def test_check_word_list_refuses_anything_but_a_list(words: object) -> None:
    with pytest.raises(InvalidWordList, match="list of strings"):
        check_word_list(words, 3)


@pytest.mark.parametrize("intruder", [1, None, b"bytes", ["nested"], 2.5, True])
def test_check_word_list_refuses_non_string_words(intruder: object) -> None:
    with pytest.raises(InvalidWordList, match="list of strings"):
        check_word_list([*word_list(10), intruder], 3)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Synergy", "synergy"),
        ("AGILE", "agile"),
        ("deep dive", "  Deep   DIVE "),
        ("Straße", "STRASSE"),
    ],
)
def test_check_word_list_refuses_duplicates_ignoring_case_and_blanks(
    first: str, second: str
) -> None:
    with pytest.raises(InvalidWordList, match="distinct"):
        check_word_list([first, *word_list(10), second], 3)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "x" * (MAX_WORD_CHARS + 1),
        "nul\x00byte",
        "bell\x07",
        "zero\u200bwidth",
        "\u202eevil",
    ],
    ids=["empty", "blank", "too-long", "nul", "bell", "zero-width-space", "bidi-override"],
)
def test_check_word_list_refuses_empty_too_long_or_unprintable_words(bad: str) -> None:
    with pytest.raises(InvalidWordList, match="printable"):
        check_word_list([*word_list(10), bad], 3)


def test_check_word_list_accepts_a_word_of_exactly_40_characters() -> None:
    longest = "x" * MAX_WORD_CHARS
    assert check_word_list([*word_list(10), longest], 3)[-1] == longest


def test_check_word_list_trims_and_collapses_blanks_and_keeps_the_order() -> None:
    words = ["  zeta ", "alpha\t beta", *word_list(8)]
    assert check_word_list(words, 3) == ("zeta", "alpha beta", *word_list(8))


def test_invalid_word_list_is_an_invalid_request_with_its_own_code() -> None:
    assert issubclass(InvalidWordList, InvalidRequest)
    assert InvalidWordList.code == "invalid_word_list"


# -- drawing cards ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", GRID_SIZES)
@pytest.mark.parametrize("seed", [0, 1, 2, 12345])
def test_draw_cells_fills_the_grid_with_distinct_words_of_the_list(size: int, seed: int) -> None:
    cells = draw_cells(DEFAULT_WORDS, size, random.Random(seed).randrange)

    assert len(cells) == size * size
    words = [c for c in cells if c is not None]
    assert len(words) == NEEDED[size]
    assert len(set(words)) == len(words)
    assert set(words) <= set(DEFAULT_WORDS)
    free = [i for i, c in enumerate(cells) if c is None]
    assert free == ([] if CENTRE[size] is None else [CENTRE[size]])


@pytest.mark.parametrize("size", GRID_SIZES)
def test_draw_cells_is_deterministic_for_a_seed(size: int) -> None:
    first = draw_cells(DEFAULT_WORDS, size, random.Random(7).randrange)
    again = draw_cells(DEFAULT_WORDS, size, random.Random(7).randrange)
    assert first == again


@pytest.mark.parametrize("size", GRID_SIZES)
def test_draw_cells_differs_between_seeds(size: int) -> None:
    cards = {draw_cells(DEFAULT_WORDS, size, random.Random(seed).randrange) for seed in range(5)}
    assert len(cards) == 5


@pytest.mark.parametrize("size", GRID_SIZES)
def test_draw_cells_refuses_a_list_too_short_for_the_card(size: int) -> None:
    with pytest.raises(InvalidWordList):
        draw_cells(word_list(NEEDED[size] - 1), size, random.Random(0).randrange)


def test_draw_cells_does_not_change_the_word_list() -> None:
    words = word_list(30)
    before = list(words)
    draw_cells(words, 5, random.Random(3).randrange)
    assert words == before


@pytest.mark.parametrize(
    ("size", "n_words", "expected_calls"),
    [
        (3, 9, [9, 8, 7, 6, 5, 4, 3, 2]),
        (3, 8, [8, 7, 6, 5, 4, 3, 2, 1]),
        (4, 16, list(range(16, 0, -1))),
        (4, 50, list(range(50, 34, -1))),
        (5, 24, list(range(24, 0, -1))),
        (5, 30, list(range(30, 6, -1))),
    ],
)
def test_draw_cells_asks_randbelow_for_one_pick_from_each_shrinking_pool(
    size: int, n_words: int, expected_calls: list[int]
) -> None:
    calls: list[int] = []
    draw_cells(word_list(n_words), size, scripted(itertools.repeat(0), calls))
    assert calls == expected_calls


def test_draw_cells_with_every_pick_zero_keeps_the_list_order() -> None:
    cells = draw_cells(word_list(9), 3, scripted(itertools.repeat(0), []))
    assert cells == (*word_list(4), None, *word_list(8)[4:])


def test_draw_cells_maps_every_random_sequence_to_a_different_card() -> None:
    """8 words on a 3x3 card: each of the 8! pick sequences must give its own arrangement.

    Since `randbelow` is uniform and the map is a bijection onto the 8! arrangements, every
    arrangement is exactly equally likely: the shuffle has no bias at all.
    """
    words = word_list(8)
    cards = set()
    for picks in itertools.product(*(range(n) for n in range(8, 0, -1))):
        cards.add(draw_cells(words, 3, _Replay(picks)))
    assert len(cards) == 40320


class _Replay:
    """A lean `randbelow` returning `picks` in turn: the exhaustive test makes 322,560 calls."""

    __slots__ = ("_next",)

    def __init__(self, picks: tuple[int, ...]) -> None:
        self._next = iter(picks).__next__

    def __call__(self, _n: int) -> int:
        return self._next()


def position_chi_squares(randbelow: RandBelow, draws: int) -> list[float]:
    """For 8-of-9 words on 3x3 cards: per non-free position, the chi-square of word counts."""
    words = word_list(9)
    index = {w: i for i, w in enumerate(words)}
    counts = [[0] * len(words) for _ in range(NEEDED[3])]
    for _ in range(draws):
        placed = [c for c in draw_cells(words, 3, randbelow) if c is not None]
        for position, word in enumerate(placed):
            counts[position][index[word]] += 1
    expected = draws / len(words)
    return [sum((o - expected) ** 2 / expected for o in row) for row in counts]


# Chi-square with 8 degrees of freedom: P(X > 40) = e^-20 * (1 + 20 + 200 + 4000/3) ~ 3e-6.
CHI_SQUARE_BOUND_8_DF = 40.0


def test_draw_cells_puts_each_word_in_each_position_uniformly() -> None:
    statistics = position_chi_squares(random.Random(2024).randrange, draws=20_000)
    assert max(statistics) < CHI_SQUARE_BOUND_8_DF, statistics


def test_the_uniformity_check_detects_a_biased_shuffle() -> None:
    """Off by one (the classic Sattolo slip): the last word can never be drawn first."""
    rng = random.Random(2024)

    def biased(n: int) -> int:
        return rng.randrange(n - 1) if n > 1 else 0

    statistics = position_chi_squares(biased, draws=2_000)
    assert min(statistics) > CHI_SQUARE_BOUND_8_DF


def test_draw_cells_draws_pairs_of_positions_uniformly() -> None:
    """The first two positions jointly: all 72 ordered pairs of 9 words equally often."""
    rng = random.Random(99)
    words = word_list(9)
    draws = 14_400
    counts = dict.fromkeys(itertools.permutations(words, 2), 0)
    for _ in range(draws):
        first, second, *_ = draw_cells(words, 3, rng.randrange)
        assert first is not None
        assert second is not None
        counts[first, second] += 1
    expected = draws / len(counts)
    statistic = sum((o - expected) ** 2 / expected for o in counts.values())
    # 71 degrees of freedom: mean 71, standard deviation ~12; 150 is more than 6 sd out.
    assert statistic < 150, statistic


# -- finding words ------------------------------------------------------------------------------
def test_find_word_returns_the_cards_own_spelling_ignoring_case_and_blanks() -> None:
    card = Card("g1", "s1", 3, ("DevOps", "deep dive", *word_list(2), None, *word_list(6)[2:]))

    assert find_word(card, "devops") == "DevOps"
    assert find_word(card, "  DEVOPS ") == "DevOps"
    assert find_word(card, "Deep   Dive") == "deep dive"
    assert find_word(card, "deep\tdive\n") == "deep dive"


@pytest.mark.parametrize("size", GRID_SIZES)
@pytest.mark.parametrize("word", ["nope", "", "   ", "w", "w1 w2", "None"])
def test_find_word_refuses_a_word_not_on_the_card(size: int, word: str) -> None:
    with pytest.raises(WordNotOnCard, match="not on your card"):
        find_word(make_card(size), word)


def test_find_word_refuses_a_word_of_the_game_that_is_not_on_this_card() -> None:
    words = word_list(9)
    cells = draw_cells(words, 3, random.Random(5).randrange)
    card = Card("g1", "s1", 3, cells)
    (left_out,) = set(words) - set(cells)

    with pytest.raises(WordNotOnCard):
        find_word(card, left_out)
    for word in set(words) - {left_out}:
        assert find_word(card, word) == word


def test_find_word_does_not_look_at_another_players_card() -> None:
    mine = Card("g1", "mine", 3, (*word_list(4), None, *word_list(8)[4:]))
    theirs = Card("g1", "theirs", 3, (*word_list(12)[4:8], None, *word_list(12)[8:11], "extra"))
    assert find_word(theirs, "extra") == "extra"
    with pytest.raises(WordNotOnCard):
        find_word(mine, "extra")


def test_word_not_on_card_is_an_invalid_request_with_its_own_code() -> None:
    assert issubclass(WordNotOnCard, InvalidRequest)
    assert WordNotOnCard.code == "word_not_on_card"


def test_normalise_word_ignores_case_and_blanks() -> None:
    assert normalise_word("  Deep \t DIVE ") == normalise_word("deep dive") == "deep dive"


# -- marks and bingo ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", GRID_SIZES)
def test_the_free_centre_counts_as_marked_with_nothing_marked(size: int) -> None:
    expected = frozenset() if CENTRE[size] is None else frozenset({CENTRE[size]})
    assert marked_cells(make_card(size), []) == expected


@pytest.mark.parametrize("size", GRID_SIZES)
def test_no_marks_is_no_bingo(size: int) -> None:
    card = make_card(size)
    assert complete_lines(card, []) == []
    with pytest.raises(NoBingo, match="no complete row, column or diagonal"):
        winning_line(card, [])


@pytest.mark.parametrize(("size", "line"), EVERY_LINE)
def test_marking_exactly_one_lines_words_completes_that_line(
    size: int, line: tuple[int, ...]
) -> None:
    card = make_card(size)
    marked = words_at(card, line)

    assert complete_lines(card, marked) == [line]
    assert winning_line(card, marked) == line


@pytest.mark.parametrize(("size", "line"), EVERY_LINE)
def test_a_line_missing_any_one_cell_is_no_bingo(size: int, line: tuple[int, ...]) -> None:
    card = make_card(size)
    for missing in line:
        if card.cells[missing] is None:
            continue  # the free centre cannot be unmarked
        marked = words_at(card, line) - {card.cells[missing]}
        assert complete_lines(card, marked) == [], missing
        with pytest.raises(NoBingo):
            winning_line(card, marked)


@pytest.mark.parametrize(("size", "line"), EVERY_LINE)
def test_a_line_marked_in_other_spellings_still_counts(size: int, line: tuple[int, ...]) -> None:
    card = make_card(size)
    marked = {f"  {word.upper()} " for word in words_at(card, line)}
    assert winning_line(card, marked) == line


def test_the_middle_row_of_a_3x3_card_needs_only_two_words() -> None:
    card = make_card(3)
    assert winning_line(card, ["w3", "w5"]) == (3, 4, 5)


def test_both_diagonals_and_the_middle_column_of_a_5x5_card_need_only_four_words() -> None:
    card = make_card(5)
    assert winning_line(card, ["w0", "w6", "w18", "w24"]) == (0, 6, 12, 18, 24)
    assert winning_line(card, ["w4", "w8", "w16", "w20"]) == (4, 8, 12, 16, 20)
    assert winning_line(card, ["w2", "w7", "w17", "w22"]) == (2, 7, 12, 17, 22)


def test_the_4x4_card_has_no_free_cell() -> None:
    card = make_card(4)
    with pytest.raises(NoBingo):
        winning_line(card, ["w0", "w5", "w10"])
    assert winning_line(card, ["w0", "w5", "w10", "w15"]) == (0, 5, 10, 15)


@pytest.mark.parametrize("size", GRID_SIZES)
def test_a_fully_marked_card_completes_every_line(size: int) -> None:
    card = make_card(size)
    everything = words_at(card, tuple(range(size * size)))
    assert complete_lines(card, everything) == list(lines(size))


@pytest.mark.parametrize("size", GRID_SIZES)
def test_words_not_on_the_card_mark_nothing(size: int) -> None:
    card = make_card(size)
    foreign = {f"x{i}" for i in range(size * size)} | {"", "None"}
    assert marked_cells(card, foreign) == marked_cells(card, [])
    with pytest.raises(NoBingo):
        winning_line(card, foreign)


def test_marking_a_word_twice_marks_it_once() -> None:
    card = make_card(4)
    assert marked_cells(card, ["w1", "w1", "W1 "]) == frozenset({1})


def test_no_bingo_has_its_own_code() -> None:
    assert NoBingo.code == "no_bingo_line"


# -- properties ---------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**64),
    size=st.sampled_from(GRID_SIZES),
    mask=st.lists(st.booleans(), min_size=24, max_size=24),
)
def test_a_drawn_card_is_bingo_exactly_when_a_line_is_fully_marked(
    seed: int, size: int, mask: list[bool]
) -> None:
    cells = draw_cells(DEFAULT_WORDS, size, random.Random(seed).randrange)
    card = Card("g1", "s1", size, cells)
    words = [c for c in cells if c is not None]
    assert len(set(words)) == len(words) == NEEDED[size]
    marked = {word for word, on in zip(words, mask, strict=False) if on}

    full = [
        line
        for line in expected_lines(size).values()
        if all(cells[i] is None or cells[i] in marked for i in line)
    ]
    assert sorted(complete_lines(card, marked)) == sorted(full)
    if full:
        assert winning_line(card, marked) in full
    else:
        with pytest.raises(NoBingo):
            winning_line(card, marked)
