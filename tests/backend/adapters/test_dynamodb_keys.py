"""The event item keys the DynamoDB store writes and the stream's readers parse back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.adapters.dynamodb_keys import (
    EVENT_SK_PREFIX,
    MAX_SEQ,
    event_item_keys,
    parse_event_item_keys,
)

ROOT = Path(__file__).resolve().parents[3]
game_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


def test_event_item_keys_are_the_partition_of_the_game_and_a_padded_seq() -> None:
    assert event_item_keys("g-1", 42) == {
        "pk": {"S": "GAME#g-1"},
        "sk": {"S": "EVENT#000000000042"},
    }


@given(game_ids, st.integers(min_value=1, max_value=MAX_SEQ))
def test_parse_reads_back_what_event_item_keys_wrote(game_id: str, seq: int) -> None:
    assert parse_event_item_keys(event_item_keys(game_id, seq)) == (game_id, seq)


@given(st.integers(min_value=1, max_value=MAX_SEQ), st.integers(min_value=1, max_value=MAX_SEQ))
def test_event_sort_keys_order_as_their_sequence_numbers(a: int, b: int) -> None:
    key_a, key_b = (event_item_keys("g", n)["sk"]["S"] for n in (a, b))

    assert (key_a < key_b) == (a < b)


@pytest.mark.parametrize("seq", [0, -1, MAX_SEQ + 1])
def test_event_item_keys_refuse_a_seq_that_cannot_sort(seq: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        event_item_keys("g", seq)


@pytest.mark.parametrize(
    "keys",
    [
        {"pk": {"S": "GAME#g"}, "sk": {"S": "GAME"}},  # the game item
        {"pk": {"S": "GAME#g"}, "sk": {"S": "PLAYER#s1"}},
        {"pk": {"S": "GAME#g"}, "sk": {"S": "SUB#c1"}},
        {"pk": {"S": "GAME#g"}, "sk": {"S": "CLAIM#000000000003"}},
        {"pk": {"S": "CONN#c1"}, "sk": {"S": "EVENT#000000000001"}},
        {"pk": {"S": "STATE#open"}, "sk": {"S": "x#g"}},
        {"pk": {"S": "GAME#"}, "sk": {"S": "EVENT#000000000001"}},  # no game id
        {"pk": {"S": "GAME#g"}, "sk": {"S": "EVENT#000000000000"}},  # seq 0
        {"pk": {"S": "GAME#g"}, "sk": {"S": "EVENT#1"}},  # not padded
        {"pk": {"S": "GAME#g"}, "sk": {"S": "EVENT#0000000000001"}},  # 13 digits
        {"pk": {"S": "GAME#g"}, "sk": {"S": "EVENT#00000000000x"}},
        {"pk": {"S": "GAME#g"}, "sk": {"S": "EVENT#-00000000001"}},
        {"pk": {"S": "GAME#g"}, "sk": {"S": "EVENT#\u0661" + "0" * 11}},  # Arabic-Indic 1
        {"pk": {"S": "GAME#g"}, "sk": {"N": "1"}},  # not a string
        {"pk": {"S": "GAME#g"}},  # no sort key
        {"pk": "GAME#g", "sk": "EVENT#000000000001"},  # not attribute values
        {},
    ],
)
def test_keys_of_other_items_or_of_no_item_parse_to_none(keys: dict[str, Any]) -> None:
    assert parse_event_item_keys(keys) is None


def test_a_stream_records_keys_parse_with_other_attributes_around() -> None:
    # A KEYS_ONLY record of DynamoDB Streams, as a Lambda event source mapping delivers it.
    record: dict[str, Any] = {
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": {"sk": {"S": f"{EVENT_SK_PREFIX}000000000007"}, "pk": {"S": "GAME#room-2"}},
            "SequenceNumber": "4421584500000000017450439091",
            "StreamViewType": "KEYS_ONLY",
        },
    }

    assert parse_event_item_keys(record["dynamodb"]["Keys"]) == ("room-2", 7)
