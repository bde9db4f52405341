"""Checks of untrusted input: JSON bodies, identifiers and nicknames."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, NoReturn

from backend.domain.errors import InvalidNickname, InvalidRequest, MalformedJson, PayloadTooLarge

MAX_NICKNAME_CHARS = 20
MAX_REASON_CHARS = 200
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def parse_json_object(raw: str | bytes | None, *, max_bytes: int) -> dict[str, Any]:
    """Parse a request body that must be one JSON object of at most `max_bytes`.

    Raises:
        PayloadTooLarge: the body is bigger than `max_bytes`.
        MalformedJson: not JSON, or JSON that is not an object.
    """
    if raw is None or raw in ("", b""):
        raise MalformedJson("the body must be a JSON object")
    try:
        size = len(raw.encode() if isinstance(raw, str) else raw)
    except UnicodeEncodeError:  # a lone surrogate: not Unicode text, so not JSON either
        raise MalformedJson("the body is not valid JSON") from None
    if size > max_bytes:
        raise PayloadTooLarge(f"the body is {size} bytes; at most {max_bytes} are accepted")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise MalformedJson("the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedJson("the body must be a JSON object")
    return value


def _reject_constant(name: str) -> NoReturn:
    """`NaN`, `Infinity` and `-Infinity` are Python's extensions, not JSON (RFC 8259 §6)."""
    raise ValueError(f"{name} is not JSON")


def identifier(body: Mapping[str, Any], field: str) -> str:
    """A required id field (game, session, device): 1-64 of `A-Z a-z 0-9 _ -`.

    Raises:
        InvalidRequest: missing, not a string, or not an id.
    """
    value = body.get(field)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidRequest(f"{field} must be an id of 1-64 letters, digits, '_' or '-'")
    return value


def optional_identifier(body: Mapping[str, Any], field: str) -> str | None:
    """Like `identifier`, but absent or null gives None."""
    return None if body.get(field) is None else identifier(body, field)


def is_identifier(value: str) -> bool:
    """True if `value` has the shape of an id."""
    return bool(_ID.fullmatch(value))


def text(body: Mapping[str, Any], field: str, *, max_chars: int, required: bool = True) -> str:
    """A string field of at most `max_chars` printable characters.

    Raises:
        InvalidRequest: missing (when required), not a string, too long or unprintable.
    """
    value = body.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidRequest(f"{field} must be a non-empty string")
    if len(value) > max_chars or not value.isprintable():
        raise InvalidRequest(f"{field} must be at most {max_chars} printable characters")
    return value.strip()


def integer(body: Mapping[str, Any], field: str, *, minimum: int, maximum: int) -> int:
    """An integer field within bounds (booleans are not integers here).

    Raises:
        InvalidRequest: missing, not an integer, or out of bounds.
    """
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidRequest(f"{field} must be an integer from {minimum} to {maximum}")
    return value


def optional_boolean(body: Mapping[str, Any], field: str) -> bool | None:
    """An optional flag: absent gives None, otherwise it must be `true` or `false`.

    `null`, numbers and strings such as "true" are refused rather than read as truthy: a
    client that sends them has a bug worth hearing about.

    Raises:
        InvalidRequest: present and not a JSON boolean.
    """
    if field not in body:
        return None
    value = body[field]
    if not isinstance(value, bool):
        raise InvalidRequest(f"{field} must be true or false when given")
    return value


def nickname(value: object) -> str:
    """A player's nickname, trimmed: 1-20 characters, no control characters.

    Raises:
        InvalidNickname: otherwise.
    """
    if not isinstance(value, str):
        raise InvalidNickname("nickname must be a string")
    trimmed = value.strip()
    if not 1 <= len(trimmed) <= MAX_NICKNAME_CHARS:
        raise InvalidNickname(f"nickname must be 1-{MAX_NICKNAME_CHARS} characters")
    # Category C* covers control, format (bidi overrides, zero-width), surrogate and unassigned
    # characters, Zl/Zp the line and paragraph separators: all ways to make two nicknames look
    # alike or break a board's layout.
    if any(unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" for ch in trimmed):
        raise InvalidNickname("nickname must not contain control or invisible characters")
    return trimmed


def nickname_key(name: str) -> str:
    """Uniqueness key: nicknames are unique per game ignoring case."""
    return unicodedata.normalize("NFKC", name).casefold()
