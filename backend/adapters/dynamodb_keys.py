"""Keys of the DynamoDB table's event items, shared by the store, the broadcaster and the stream.

Pure string work, no AWS SDK: the broadcaster Lambda and the emulator's stream read the keys of
stream records with it, and neither should pay boto3's import for that.

A stream with the `KEYS_ONLY` view type carries, per record, only the key attributes of the
item that changed, in DynamoDB's attribute-value JSON: `{"pk": {"S": ...}, "sk": {"S": ...}}`
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html).
An event item's keys name its game and sequence number, which is all the broadcaster needs.
`EVENT_FILTER` is the event source mapping filter that lets only those inserts through, shared
by the deployer (on AWS) and the emulator's poller (locally).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

GAME_PK_PREFIX: Final = "GAME#"
"""Every item of a game lives in the partition `GAME#{game id}`."""
EVENT_SK_PREFIX: Final = "EVENT#"
"""Event items sort as `EVENT#{seq}`: an event source mapping filters on this prefix."""
SEQ_DIGITS: Final = 12
"""Sequence numbers are zero-padded, so string order is numeric order."""
MAX_SEQ: Final = 10**SEQ_DIGITS - 1
EVENT_FILTER: Final[Mapping[str, Any]] = {
    "eventName": ["INSERT"],
    "dynamodb": {"Keys": {"sk": {"S": [{"prefix": EVENT_SK_PREFIX}]}}},
}
"""The event source mapping's filter pattern: only inserts of event items reach a broadcaster.

Lambda drops the other records before invoking, for free
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html).
"""


def game_pk(game_id: str) -> str:
    """The partition key of a game's items."""
    return f"{GAME_PK_PREFIX}{game_id}"


def seq_sk(prefix: str, seq: int) -> str:
    """A sort key of `prefix` and `seq` zero-padded to `SEQ_DIGITS` (string order = numeric)."""
    return f"{prefix}{seq:0{SEQ_DIGITS}d}"


def event_item_keys(game_id: str, seq: int) -> dict[str, dict[str, str]]:
    """The key of event `seq` of `game_id`, in attribute-value JSON.

    Args:
        game_id: The game.
        seq: The event's sequence number (1 or more).

    Returns:
        `{"pk": {"S": "GAME#{game_id}"}, "sk": {"S": "EVENT#{seq:012d}"}}`, the shape of a
        `Key` parameter and of a stream record's `Keys`.

    Raises:
        ValueError: `seq` outside 1..MAX_SEQ (it would not sort as a number).
    """
    if not 1 <= seq <= MAX_SEQ:
        raise ValueError(f"sequence number {seq} is outside 1..{MAX_SEQ}")
    return {"pk": {"S": game_pk(game_id)}, "sk": {"S": seq_sk(EVENT_SK_PREFIX, seq)}}


def parse_event_item_keys(keys: Mapping[str, object]) -> tuple[str, int] | None:
    """The (game id, seq) an event item's keys name; None for the key of any other item.

    Stream records arrive from outside the program, so anything that is not exactly the shape
    `event_item_keys` writes (another item type, a missing or non-string attribute, a sequence
    number that is not 12 digits or is 0) is None rather than an error.

    Args:
        keys: A stream record's `Keys` (or an item) in attribute-value JSON.
    """
    pk, sk = _string(keys, "pk"), _string(keys, "sk")
    if pk is None or sk is None:
        return None
    if not pk.startswith(GAME_PK_PREFIX) or not sk.startswith(EVENT_SK_PREFIX):
        return None
    game_id = pk[len(GAME_PK_PREFIX) :]
    digits = sk[len(EVENT_SK_PREFIX) :]
    # isascii: str.isdigit also accepts other scripts' digits, which the writer never produces.
    if not game_id or len(digits) != SEQ_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    seq = int(digits)
    return (game_id, seq) if seq >= 1 else None


def _string(keys: Mapping[str, object], name: str) -> str | None:
    value = keys.get(name)
    if not isinstance(value, Mapping):
        return None
    text = value.get("S")
    return text if isinstance(text, str) else None
