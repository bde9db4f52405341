"""Cards: drawing them without bias, the free centre, and the lines that make a bingo."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from functools import cache

from backend.domain.errors import InvalidRequest, InvalidWordList, NoBingo, WordNotOnCard
from backend.domain.model import Card

GRID_SIZES = (3, 4, 5)
MAX_WORDS = 500
MAX_WORD_CHARS = 40

# A source of uniform integers in [0, n): `secrets.randbelow` in production,
# `random.Random(seed).randrange` in tests and replays.
RandBelow = Callable[[int], int]


def check_grid_size(size: object) -> int:
    """Return `size` if it is a supported grid size.

    Raises:
        InvalidRequest: not one of 3, 4 or 5.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size not in GRID_SIZES:
        raise InvalidRequest(f"gridSize must be one of {', '.join(map(str, GRID_SIZES))}")
    return size


def has_free_centre(size: int) -> bool:
    """Odd grids have a free centre cell that counts as marked."""
    return size % 2 == 1


def free_index(size: int) -> int | None:
    """Index of the free centre cell in row-major order, or None for even sizes."""
    return (size * size) // 2 if has_free_centre(size) else None


def words_needed(size: int) -> int:
    """How many distinct words a card of this size holds."""
    return size * size - (1 if has_free_centre(size) else 0)


def normalise_word(word: str) -> str:
    """Comparison key for words: case and surrounding blanks do not matter."""
    return " ".join(word.split()).casefold()


def check_word_list(words: object, size: int) -> tuple[str, ...]:
    """Validate an organiser's word list for cards of `size`.

    Returns:
        The words, trimmed, in the given order.

    Raises:
        InvalidWordList: not a list of distinct, printable, non-empty strings of at most 40
            characters, or too few to fill a card, or more than 500.
    """
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise InvalidWordList("words must be a list of strings")
    cleaned = tuple(" ".join(w.split()) for w in words)
    if any(not w or len(w) > MAX_WORD_CHARS or not w.isprintable() for w in cleaned):
        raise InvalidWordList(f"each word must be 1-{MAX_WORD_CHARS} printable characters")
    if len({normalise_word(w) for w in cleaned}) != len(cleaned):
        raise InvalidWordList("words must be distinct (ignoring case)")
    if len(cleaned) > MAX_WORDS:
        raise InvalidWordList(f"at most {MAX_WORDS} words")
    if len(cleaned) < words_needed(size):
        raise InvalidWordList(
            f"a {size}x{size} card needs at least {words_needed(size)} words, got {len(cleaned)}"
        )
    return cleaned


def draw_cells(words: Sequence[str], size: int, randbelow: RandBelow) -> tuple[str | None, ...]:
    """Draw a card's cells: a uniformly random arrangement of distinct words.

    A partial Fisher-Yates shuffle: each of the first k positions takes a uniform pick from the
    words not yet placed, so every ordered k-subset is equally likely (Knuth, TAOCP vol. 2,
    3.4.2, Algorithm P). `randbelow(n)` must be uniform on [0, n).
    """
    k = words_needed(size)
    if len(words) < k:
        raise InvalidWordList(f"a {size}x{size} card needs {k} words, the game has {len(words)}")
    pool = list(words)
    for i in range(k):
        j = i + randbelow(len(pool) - i)
        pool[i], pool[j] = pool[j], pool[i]
    cells: list[str | None] = list(pool[:k])
    centre = free_index(size)
    if centre is not None:
        cells.insert(centre, None)
    return tuple(cells)


@cache
def lines(size: int) -> tuple[tuple[int, ...], ...]:
    """Every row, column and both diagonals of a `size` grid, as cell indexes."""
    rows = [tuple(r * size + c for c in range(size)) for r in range(size)]
    cols = [tuple(r * size + c for r in range(size)) for c in range(size)]
    diagonals = [
        tuple(i * size + i for i in range(size)),
        tuple(i * size + (size - 1 - i) for i in range(size)),
    ]
    return (*rows, *cols, *diagonals)


def find_word(card: Card, word: str) -> str:
    """Return the card's own spelling of `word`.

    Raises:
        WordNotOnCard: the word is not on this card.
    """
    key = normalise_word(word)
    for cell in card.cells:
        if cell is not None and normalise_word(cell) == key:
            return cell
    raise WordNotOnCard("that word is not on your card")


def marked_cells(card: Card, marked: Collection[str]) -> frozenset[int]:
    """Indexes of the marked cells, the free centre included."""
    keys = {normalise_word(w) for w in marked}
    return frozenset(
        i for i, cell in enumerate(card.cells) if cell is None or normalise_word(cell) in keys
    )


def complete_lines(card: Card, marked: Collection[str]) -> list[tuple[int, ...]]:
    """Every line of the card whose cells are all marked."""
    done = marked_cells(card, marked)
    return [line for line in lines(card.size) if done.issuperset(line)]


def winning_line(card: Card, marked: Collection[str]) -> tuple[int, ...]:
    """The first complete line, for a claim.

    Raises:
        NoBingo: no row, column or diagonal is complete.
    """
    found = complete_lines(card, marked)
    if not found:
        raise NoBingo("no complete row, column or diagonal on your card")
    return found[0]
