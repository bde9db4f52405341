"""Tests for backend.domain.errors: one tree, one stable code per error."""

from __future__ import annotations

import re

import backend.ports.store  # noqa: F401 - its errors join the tree; the codes must stay unique
from backend.domain import errors


def every_error() -> list[type[errors.BingoError]]:
    found: list[type[errors.BingoError]] = []
    pending = [errors.BingoError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_in_the_module_belongs_to_the_tree() -> None:
    defined = {
        obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, Exception)
    }
    # Ports add errors of their own (StoreUnavailable); the domain module defines the rest.
    assert defined == {cls for cls in every_error() if cls.__module__ == errors.__name__}


def test_every_error_has_its_own_snake_case_code() -> None:
    codes = [cls.code for cls in every_error()]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)


def test_an_error_keeps_its_message() -> None:
    error = errors.WordNotOnCard("that word is not on your card")
    assert error.message == str(error) == "that word is not on your card"
    assert error.code == "word_not_on_card"
