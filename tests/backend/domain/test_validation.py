"""Tests for backend.domain.validation: untrusted JSON bodies, ids, numbers, text, nicknames."""

from __future__ import annotations

from typing import Any

import pytest

from backend.domain.errors import (
    InvalidNickname,
    InvalidRequest,
    MalformedJson,
    PayloadTooLarge,
)
from backend.domain.validation import (
    MAX_NICKNAME_CHARS,
    identifier,
    integer,
    is_identifier,
    nickname,
    nickname_key,
    optional_boolean,
    optional_identifier,
    parse_json_object,
    text,
)

LIMIT = 1_000_000


# -- parse_json_object --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"nickname": "Ann"}', {"nickname": "Ann"}),
        (b'{"nickname": "Ann"}', {"nickname": "Ann"}),
        (bytearray(b'{"a": 1}'), {"a": 1}),
        ('  {"a": [1, {"b": null}]}\n', {"a": [1, {"b": None}]}),
        ("{}", {}),
        ('{"word": "caf\\u00e9"}', {"word": "caf\u00e9"}),
        ('{"word": "caf\u00e9"}'.encode(), {"word": "caf\u00e9"}),
    ],
    ids=["str", "bytes", "bytearray", "nested-and-blanks", "empty-object", "escape", "utf-8"],
)
def test_parse_json_object_returns_the_object(raw: Any, expected: dict[str, Any]) -> None:
    assert parse_json_object(raw, max_bytes=LIMIT) == expected


@pytest.mark.parametrize(
    "raw",
    [None, "", b"", "   ", "\n"],
    ids=["none", "empty-str", "empty-bytes", "blanks", "newline"],
)
def test_parse_json_object_refuses_a_missing_body(raw: str | bytes | None) -> None:
    with pytest.raises(MalformedJson):
        parse_json_object(raw, max_bytes=LIMIT)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "{",
        "{'a': 1}",
        '{"a": 1,}',
        '{"a": 1} trailing',
        '{"a": 1}{"b": 2}',
        b"\xff\xfe\xfd",
        b'{"a": "\xc3"}',
    ],
    ids=[
        "text",
        "unclosed",
        "single-quotes",
        "trailing-comma",
        "trailing-text",
        "two-objects",
        "not-utf-8",
        "truncated-utf-8",
    ],
)
def test_parse_json_object_refuses_what_is_not_json(raw: str | bytes) -> None:
    with pytest.raises(MalformedJson, match="not valid JSON"):
        parse_json_object(raw, max_bytes=LIMIT)


@pytest.mark.parametrize(
    "raw",
    ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'],
    ids=["nan", "infinity", "minus-infinity"],
)
def test_parse_json_object_refuses_the_non_json_constants_python_would_accept(raw: str) -> None:
    with pytest.raises(MalformedJson):
        parse_json_object(raw, max_bytes=LIMIT)


def test_parse_json_object_refuses_a_string_that_is_not_unicode_text() -> None:
    # A lone surrogate cannot be encoded: a 400, not an UnicodeEncodeError (a 500).
    with pytest.raises(MalformedJson):
        parse_json_object('{"nickname": "\ud800"}', max_bytes=LIMIT)


@pytest.mark.parametrize(
    "raw",
    ["[]", '[{"a": 1}]', '"a string"', "42", "-1.5", "true", "false", "null"],
)
def test_parse_json_object_refuses_json_that_is_not_an_object(raw: str) -> None:
    with pytest.raises(MalformedJson, match="must be a JSON object"):
        parse_json_object(raw, max_bytes=LIMIT)


@pytest.mark.parametrize(
    "raw",
    ["[" * 100_000, '{"a":' * 100_000, "[" * 100_000 + "]" * 100_000],
    ids=["open-arrays", "open-objects", "closed-arrays"],
)
def test_parse_json_object_refuses_deep_nesting_without_crashing(raw: str) -> None:
    with pytest.raises(MalformedJson):
        parse_json_object(raw, max_bytes=LIMIT)


def test_parse_json_object_accepts_exactly_max_bytes_and_refuses_one_more() -> None:
    body = '{"a": "' + "x" * 93 + '"}'
    assert len(body) == 102
    assert parse_json_object(body, max_bytes=102) == {"a": "x" * 93}
    with pytest.raises(PayloadTooLarge, match="103 bytes; at most 102"):
        parse_json_object(body[:-2] + 'x"}', max_bytes=102)


def test_parse_json_object_counts_utf_8_bytes_not_characters() -> None:
    body = '{"a": "' + "\u00e9" * 50 + '"}'  # 59 characters, 109 bytes
    with pytest.raises(PayloadTooLarge):
        parse_json_object(body, max_bytes=100)
    with pytest.raises(PayloadTooLarge):
        parse_json_object(body.encode(), max_bytes=100)


def test_parse_json_object_checks_the_size_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_json_object("[" * 2_000, max_bytes=1_000)
    with pytest.raises(PayloadTooLarge):
        parse_json_object(b"\xff" * 2_000, max_bytes=1_000)


def test_json_errors_are_invalid_requests_with_their_own_codes() -> None:
    assert issubclass(MalformedJson, InvalidRequest)
    assert issubclass(PayloadTooLarge, InvalidRequest)
    assert MalformedJson.code == "malformed_json"
    assert PayloadTooLarge.code == "payload_too_large"


# -- identifiers --------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["a", "game-1", "A_b-9", "x" * 64, "0123456789"])
def test_identifier_accepts_letters_digits_underscore_and_dash(value: str) -> None:
    assert identifier({"gameId": value}, "gameId") == value
    assert optional_identifier({"gameId": value}, "gameId") == value
    assert is_identifier(value)


@pytest.mark.parametrize(
    "value",
    ["", "x" * 65, "a b", "a/b", "a.b", "caf\u00e9", "abc\n", "\nabc", "a\x00", "../etc", 1, True],
)
def test_identifier_refuses_anything_else(value: object) -> None:
    with pytest.raises(InvalidRequest, match="gameId must be an id of 1-64"):
        identifier({"gameId": value}, "gameId")
    with pytest.raises(InvalidRequest):
        optional_identifier({"gameId": value}, "gameId")
    if isinstance(value, str):
        assert not is_identifier(value)


@pytest.mark.parametrize("body", [{}, {"gameId": None}])
def test_identifier_is_required_and_optional_identifier_is_not(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        identifier(body, "gameId")
    assert optional_identifier(body, "gameId") is None


# -- integers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [3, 4, 5])
def test_integer_accepts_values_within_the_bounds_inclusive(value: int) -> None:
    assert integer({"gridSize": value}, "gridSize", minimum=3, maximum=5) == value


@pytest.mark.parametrize("value", [2, 6, -4, True, False, 4.0, 4.5, "4", None, [4], float("nan")])
def test_integer_refuses_out_of_bounds_booleans_and_non_integers(value: object) -> None:
    with pytest.raises(InvalidRequest, match="gridSize must be an integer from 3 to 5"):
        integer({"gridSize": value}, "gridSize", minimum=3, maximum=5)


def test_integer_is_required() -> None:
    with pytest.raises(InvalidRequest):
        integer({}, "limit", minimum=0, maximum=10)


# -- text ---------------------------------------------------------------------------------------
def test_text_returns_the_trimmed_string() -> None:
    assert text({"reason": "  verified by Ann  "}, "reason", max_chars=200) == "verified by Ann"


def test_text_accepts_exactly_max_chars_and_refuses_one_more() -> None:
    assert text({"reason": "x" * 10}, "reason", max_chars=10) == "x" * 10
    with pytest.raises(InvalidRequest, match="at most 10 printable"):
        text({"reason": "x" * 11}, "reason", max_chars=10)


@pytest.mark.parametrize("value", [None, "", "   ", 5, ["a"], b"a"])
def test_required_text_refuses_missing_blank_or_non_string(value: object) -> None:
    with pytest.raises(InvalidRequest, match="reason must be a non-empty string"):
        text({"reason": value}, "reason", max_chars=200)
    with pytest.raises(InvalidRequest):
        text({}, "reason", max_chars=200)


@pytest.mark.parametrize("value", ["line\nbreak", "nul\x00", "tab\there", "\u202eevil", "\x1b[31m"])
def test_text_refuses_unprintable_characters(value: str) -> None:
    with pytest.raises(InvalidRequest, match="printable"):
        text({"reason": value}, "reason", max_chars=200)


def test_optional_text_may_be_missing_or_null_but_not_wrong() -> None:
    assert text({}, "reason", max_chars=200, required=False) == ""
    assert text({"reason": None}, "reason", max_chars=200, required=False) == ""
    assert text({"reason": " ok "}, "reason", max_chars=200, required=False) == "ok"
    with pytest.raises(InvalidRequest):
        text({"reason": 5}, "reason", max_chars=200, required=False)
    with pytest.raises(InvalidRequest):
        text({"reason": "x\x00"}, "reason", max_chars=200, required=False)


# -- nicknames ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ann", "Ann"),
        ("  Ann  ", "Ann"),
        ("\tAnn\n", "Ann"),
        ("A", "A"),
        ("x" * MAX_NICKNAME_CHARS, "x" * MAX_NICKNAME_CHARS),
        ("   " + "x" * MAX_NICKNAME_CHARS + "   ", "x" * MAX_NICKNAME_CHARS),
        ("Ann Lee", "Ann Lee"),
        ("Z\u00f6e", "Z\u00f6e"),
        ("\U0001f389 Party", "\U0001f389 Party"),
        ("\U0001f600" * MAX_NICKNAME_CHARS, "\U0001f600" * MAX_NICKNAME_CHARS),
        ("\U0001f1ec\U0001f1e7", "\U0001f1ec\U0001f1e7"),
        ("\u5f20\u4f1f", "\u5f20\u4f1f"),
    ],
    ids=[
        "plain",
        "padded",
        "padded-with-tab-and-newline",
        "one-char",
        "twenty-chars",
        "twenty-chars-padded",
        "inner-space",
        "accent",
        "emoji",
        "twenty-emoji",
        "flag",
        "cjk",
    ],
)
def test_nickname_is_trimmed_and_accepted(raw: str, expected: str) -> None:
    assert nickname(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "\t\n", "x" * (MAX_NICKNAME_CHARS + 1), "\U0001f600" * (MAX_NICKNAME_CHARS + 1)],
    ids=["empty", "blank", "whitespace", "twenty-one-chars", "twenty-one-emoji"],
)
def test_nickname_must_have_1_to_20_characters(raw: str) -> None:
    with pytest.raises(InvalidNickname, match="1-20 characters"):
        nickname(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "An\x00n",
        "An\nn",
        "An\tn",
        "An\rn",
        "An\x1bn",
        "An\x7fn",
        "An\x85n",
        "An\u200bn",
        "An\u200cn",
        "An\u200dn",
        "\u202eAnn",
        "An\u2066n",
        "An\ufeffn",
        "\u00adAnn",
        "An\ud800n",
        "An\ue000n",
        "An\u2028n",
        "An\u2029n",
    ],
    ids=[
        "nul",
        "newline",
        "tab",
        "carriage-return",
        "escape",
        "delete",
        "c1-next-line",
        "zero-width-space",
        "zero-width-non-joiner",
        "zero-width-joiner",
        "bidi-override",
        "bidi-isolate",
        "byte-order-mark",
        "soft-hyphen",
        "lone-surrogate",
        "private-use",
        "line-separator",
        "paragraph-separator",
    ],
)
def test_nickname_refuses_control_and_invisible_characters(raw: str) -> None:
    with pytest.raises(InvalidNickname, match="control or invisible"):
        nickname(raw)


@pytest.mark.parametrize("raw", [None, 5, b"Ann", ["Ann"], {"nickname": "Ann"}])
def test_nickname_must_be_a_string(raw: object) -> None:
    with pytest.raises(InvalidNickname, match="must be a string"):
        nickname(raw)


def test_invalid_nickname_is_an_invalid_request_with_its_own_code() -> None:
    assert issubclass(InvalidNickname, InvalidRequest)
    assert InvalidNickname.code == "invalid_nickname"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ann", "ann"),
        ("ANN", "aNn"),
        ("Stra\u00dfe", "STRASSE"),
        ("\uff21\uff4e\uff4e", "Ann"),  # fullwidth letters
        ("\ufb01sh", "FISH"),  # the "fi" ligature
        ("Zoe\u0301", "Zo\u00e9"),  # combining accent vs precomposed
        ("\u2460", "1"),  # circled digit one
    ],
)
def test_nickname_key_equates_names_that_differ_in_case_or_compatibility_form(
    a: str, b: str
) -> None:
    assert nickname_key(a) == nickname_key(b)


@pytest.mark.parametrize(("a", "b"), [("Ann", "Anne"), ("Ann", "An n"), ("Zoe", "Zo\u00e9")])
def test_nickname_key_keeps_different_names_apart(a: str, b: str) -> None:
    assert nickname_key(a) != nickname_key(b)


@pytest.mark.parametrize("value", [True, False])
def test_optional_boolean_reads_a_json_boolean(value: bool) -> None:
    assert optional_boolean({"feed": value}, "feed") is value


def test_optional_boolean_is_none_when_absent() -> None:
    assert optional_boolean({"gameId": "g"}, "feed") is None


@pytest.mark.parametrize("value", [None, 0, 1, "true", "false", "", [], {}, 1.0])
def test_optional_boolean_refuses_anything_but_a_boolean(value: Any) -> None:
    with pytest.raises(InvalidRequest, match="feed must be true or false"):
        optional_boolean({"feed": value}, "feed")
