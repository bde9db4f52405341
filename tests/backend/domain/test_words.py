"""Tests for backend.domain.words: the default word list fills a card of every size."""

from __future__ import annotations

import pytest

from backend.domain.cards import GRID_SIZES, check_word_list
from backend.domain.words import DEFAULT_WORDS


@pytest.mark.parametrize("size", GRID_SIZES)
def test_the_default_words_are_a_valid_list_for_every_size(size: int) -> None:
    assert check_word_list(list(DEFAULT_WORDS), size) == DEFAULT_WORDS
