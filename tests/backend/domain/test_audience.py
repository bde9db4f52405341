"""Bounded leaderboard views: boards see the top N, players also their neighbourhood; 32 KB."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain import events, messages
from backend.domain.audience import (
    MESSAGE_UNIT_BYTES,
    activity_batches,
    bounded_leaderboard_update,
    encoded_size,
    player_window,
)
from backend.domain.model import Event, Player
from backend.domain.scoring import POINTS_PER_WORD, ranked
from backend.domain.validation import MAX_NICKNAME_CHARS

NOW = 1_800_000_000.0


def _players(count: int, nickname_of: Callable[[int], str] | None = None) -> list[Player]:
    players = []
    for i in range(count):
        nickname = nickname_of(i) if nickname_of else f"p{i:05d}"
        marks = (i * 7919) % 24
        players.append(
            Player(
                game_id="g",
                session_id=f"s{i}",
                nickname=nickname,
                joined_at=NOW - 600,
                points=marks * POINTS_PER_WORD,
                marks=marks,
                last_mark_at=NOW - i if marks else None,
            )
        )
    return ranked(players)


def test_a_board_sees_the_top_n_with_the_total() -> None:
    board = _players(50)

    message = bounded_leaderboard_update("g", 7, board, NOW, top_n=10)

    assert [row["rank"] for row in message["leaderboard"]] == list(range(1, 11))
    assert [row["nickname"] for row in message["leaderboard"]] == [p.nickname for p in board[:10]]
    assert message["totalPlayers"] == 50
    assert message["seq"] == 7
    assert all("isYou" not in row for row in message["leaderboard"])


def test_a_player_outside_the_top_sees_their_row_and_neighbours_with_real_ranks() -> None:
    board = _players(100)
    me = board[41]

    message = bounded_leaderboard_update(
        "g", 3, board, NOW, viewer_session_id=me.session_id, top_n=10, neighbours=2
    )

    ranks = [row["rank"] for row in message["leaderboard"]]
    assert ranks == [*range(1, 11), 40, 41, 42, 43, 44]
    mine = [row for row in message["leaderboard"] if row.get("isYou")]
    assert mine == [row for row in message["leaderboard"] if row["nickname"] == me.nickname]
    assert mine[0]["rank"] == 42


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (0, list(range(10))),
        (10, list(range(13))),  # right under the top: the window joins it
        (99, [*range(10), 97, 98, 99]),  # last: no neighbours below
    ],
)
def test_windows_at_the_edges(position: int, expected: list[int]) -> None:
    board = _players(100)

    assert player_window(board, board[position].session_id, top_n=10, neighbours=2) == expected


def test_an_unknown_viewer_or_a_small_game_sees_what_there_is() -> None:
    assert player_window(_players(3), "nobody", top_n=10, neighbours=2) == [0, 1, 2]
    assert player_window([], "nobody", top_n=10, neighbours=2) == []


def _widest(i: int) -> str:
    # The widest nickname validation lets in: every character a 4-byte UTF-8 emoji, with a
    # counter so that nicknames stay unique.
    return f"{i:05d}" + "\N{GRINNING FACE}" * (MAX_NICKNAME_CHARS - 5)


def test_every_view_fits_one_billing_unit_with_10000_players_of_the_widest_nicknames() -> None:
    board = _players(10_000, _widest)

    sizes = [encoded_size(bounded_leaderboard_update("g", 10**9, board, NOW))]
    # The viewer whose window adds the most rows (anyone with two neighbours each side outside
    # the top), plus the first, the last and a sample in between.
    for position in (0, 12, 5_000, 9_998, 9_999, *range(0, 10_000, 997)):
        message = bounded_leaderboard_update(
            "g", 10**9, board, NOW, viewer_session_id=board[position].session_id
        )
        sizes.append(encoded_size(message))

    assert max(sizes) <= MESSAGE_UNIT_BYTES
    # And with a wide margin: the bound does not depend on the number of players.
    assert max(sizes) < MESSAGE_UNIT_BYTES / 4


@given(
    count=st.integers(min_value=0, max_value=300),
    viewer=st.integers(min_value=0, max_value=299),
    top_n=st.integers(min_value=0, max_value=20),
    neighbours=st.integers(min_value=0, max_value=5),
)
def test_a_window_is_the_top_plus_the_viewers_neighbourhood(
    count: int, viewer: int, top_n: int, neighbours: int
) -> None:
    board = _players(count)
    session = board[viewer].session_id if viewer < count else "nobody"

    shown = player_window(board, session, top_n=top_n, neighbours=neighbours)

    expected = set(range(min(top_n, count)))
    if viewer < count:
        expected |= set(range(max(0, viewer - neighbours), min(count, viewer + neighbours + 1)))
    assert shown == sorted(expected)
    assert len(shown) <= top_n + 2 * neighbours + 1


def _marks(count: int, nickname: str = "ann") -> list[Event]:
    return [
        Event("g", seq, events.WORD_MARKED, {"nickname": nickname, "points": seq * 10}, NOW + seq)
        for seq in range(1, count + 1)
    ]


def test_a_windows_events_go_out_as_one_batch_in_seq_order() -> None:
    window = _marks(5)

    (batch,) = activity_batches("g", window)

    assert batch["type"] == "activity_batch"
    assert batch["seq"] == 5
    assert [m["seq"] for m in batch["events"]] == [1, 2, 3, 4, 5]
    assert batch["events"] == [messages.event_message(e) for e in window]
    assert activity_batches("g", []) == []


@pytest.mark.parametrize("limit", [600, 2_000, MESSAGE_UNIT_BYTES])
def test_batches_are_split_exactly_at_the_size_limit(limit: int) -> None:
    window = _marks(500, nickname=_widest(1))

    batches = activity_batches("g", window, max_bytes=limit)

    sizes = [encoded_size(b) for b in batches]
    assert max(sizes) <= limit
    # Every event once, in order, and no batch could have taken the next event.
    assert [m["seq"] for b in batches for m in b["events"]] == list(range(1, 501))
    for current, following in itertools.pairwise(batches):
        grown = {**current, "events": [*current["events"], following["events"][0]]}
        grown["seq"] = following["events"][0]["seq"]
        assert encoded_size(grown) > limit
    assert all(b["seq"] == b["events"][-1]["seq"] for b in batches)
