"""The `Store` contract (backend.ports.store), run against every adapter by the `store` fixture.

Each test states one promise of the port's docstrings: ordering, idempotency, the typed error
and that a refused write leaves nothing behind. The race tests line threads up on a barrier
against one real store, so conditional writes are proven under contention, not assumed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

import pytest
from store_builders import (
    ACTIVE,
    EVENT_TTL_S,
    FINISHED,
    LINE,
    NOT_PLAYING,
    T0,
    all_events,
    create,
    game_with_players,
    join,
    make_card,
    make_connection,
    make_game,
    make_player,
    mark,
    move,
)

from backend.domain import events
from backend.domain.errors import (
    BingoError,
    ClaimPending,
    Conflict,
    GameNotAccepting,
    GameNotFound,
    InvalidTransition,
    NicknameTaken,
    PlayerNotFound,
)
from backend.domain.game import GameState
from backend.domain.model import (
    Audience,
    Card,
    Claim,
    ClaimStatus,
    Event,
    Game,
    Player,
    Subscription,
    Winner,
)
from backend.domain.scoring import POINTS_PER_WORD, ranked
from backend.domain.validation import nickname_key
from backend.ports.store import Store

T = TypeVar("T")
RACERS = 16


def race(store: Store, fn: Callable[[int], T], *, racers: int = RACERS) -> list[T | BingoError]:
    """Run `fn(0..racers-1)` in as many threads, released together; typed errors are results."""
    barrier = threading.Barrier(racers)

    def run(i: int) -> T | BingoError:
        try:
            barrier.wait(timeout=10)
            return fn(i)
        except BingoError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=racers) as pool:
        return list(pool.map(run, range(racers)))


def snapshot(store: Store, game_id: str = "game-1") -> tuple[Game, list[Event], int]:
    """What a refused write must leave untouched: the game, its log and its player count."""
    total = store.leaderboard(game_id, limit=1).total_players
    return store.get_game(game_id), all_events(store, game_id), total


# -- games ---------------------------------------------------------------------------------------
def test_create_game_logs_game_created_with_seq_1(store: Store) -> None:
    game = make_game(state=GameState.OPEN, grid_size=5)

    event = store.create_game(game)

    assert event == Event(
        game_id="game-1",
        seq=1,
        type=events.GAME_CREATED,
        data={"name": "Room game-1", "gridSize": 5},
        created_at=T0,
    )
    assert all_events(store, "game-1") == [event]


@pytest.mark.parametrize("state", list(GameState))
def test_get_game_returns_the_created_game_with_its_last_seq(
    store: Store, state: GameState
) -> None:
    game = make_game(state=state, grid_size=3)
    store.create_game(game)

    assert store.get_game("game-1") == replace(game, last_seq=1)


def test_get_game_of_an_unknown_id_raises_game_not_found(store: Store) -> None:
    create(store, "game-1")

    with pytest.raises(GameNotFound):
        store.get_game("game-2")


def test_creating_a_game_twice_raises_conflict_and_keeps_the_first(store: Store) -> None:
    first = create(store, "game-1", state=GameState.OPEN)
    before = all_events(store, "game-1")

    with pytest.raises(Conflict):
        store.create_game(make_game("game-1", state=GameState.PLAYING, created_at=T0 + 5))

    assert store.get_game("game-1") == first
    assert all_events(store, "game-1") == before


@pytest.mark.parametrize("state", ACTIVE)
def test_current_game_is_the_newest_active_game(store: Store, state: GameState) -> None:
    create(store, "older", state=GameState.PLAYING, created_at=T0)
    create(store, "newest-active", state=state, created_at=T0 + 20)
    create(store, "oldest", state=GameState.OPEN, created_at=T0 - 20)

    current = store.current_game()

    assert current is not None
    assert current.game_id == "newest-active"


@pytest.mark.parametrize("finished", FINISHED)
def test_current_game_ignores_newer_finished_games(store: Store, finished: GameState) -> None:
    create(store, "active", state=GameState.PAUSED, created_at=T0)
    create(store, "finished", state=finished, created_at=T0 + 10)

    current = store.current_game()

    assert current is not None
    assert current.game_id == "active"


def test_current_game_follows_a_state_change(store: Store) -> None:
    create(store, "older", state=GameState.PLAYING, created_at=T0)
    create(store, "newer", state=GameState.PLAYING, created_at=T0 + 10)

    move(store, "newer", GameState.ENDED)

    current = store.current_game()
    assert current is not None
    assert current.game_id == "older"


@pytest.mark.parametrize("finished", [(), (GameState.ENDED,), FINISHED])
def test_current_game_is_none_without_an_active_game(
    store: Store, finished: tuple[GameState, ...]
) -> None:
    for i, state in enumerate(finished):
        create(store, f"game-{i}", state=state, created_at=T0 + i)

    assert store.current_game() is None


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({GameState.ENDED}, ["e3", "e2", "e1"]),
        ({GameState.ENDED, GameState.CANCELLED}, ["e3", "c1", "e2", "e1"]),
        (set(ACTIVE), ["p2", "o1", "p1"]),
        ({GameState.BINGO}, []),
    ],
)
def test_list_games_returns_games_in_the_states_newest_first(
    store: Store, states: set[GameState], expected: list[str]
) -> None:
    layout = [
        ("e1", GameState.ENDED),
        ("p1", GameState.PLAYING),
        ("e2", GameState.ENDED),
        ("o1", GameState.OPEN),
        ("c1", GameState.CANCELLED),
        ("p2", GameState.PLAYING),
        ("e3", GameState.ENDED),
    ]
    # Created out of order, so "newest first" cannot come from insertion order.
    for index in (3, 0, 6, 1, 5, 2, 4):
        game_id, state = layout[index]
        create(store, game_id, state=state, created_at=T0 + index)

    games = store.list_games(states, limit=10)

    assert [g.game_id for g in games] == expected
    assert all(g.state in states for g in games)


@pytest.mark.parametrize("limit", [1, 2, 4, 5, 50])
def test_list_games_returns_at_most_limit_games(store: Store, limit: int) -> None:
    for i in range(5):
        create(store, f"game-{i}", state=GameState.ENDED, created_at=T0 + i)

    games = store.list_games({GameState.ENDED}, limit=limit)

    assert [g.game_id for g in games] == [f"game-{i}" for i in (4, 3, 2, 1, 0)][:limit]


# -- state changes --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expected", "new_state"),
    [
        (GameState.OPEN, GameState.PLAYING),
        (GameState.OPEN, GameState.CANCELLED),
        (GameState.PLAYING, GameState.PAUSED),
        (GameState.PAUSED, GameState.PLAYING),
        (GameState.PLAYING, GameState.ENDED),
        (GameState.PAUSED, GameState.CANCELLED),
    ],
)
def test_change_state_moves_the_game_and_logs_state_changed(
    store: Store, expected: GameState, new_state: GameState
) -> None:
    create(store, state=expected)

    game, event = store.change_state(
        "game-1", expected=expected, new_state=new_state, now=T0 + 7, reason="the keynote"
    )

    assert game.state is new_state
    assert game.last_seq == event.seq == 2
    assert game.updated_at == T0 + 7
    assert game.winner is None
    assert event == Event(
        "game-1",
        2,
        events.STATE_CHANGED,
        {"previousState": str(expected), "newState": str(new_state), "reason": "the keynote"},
        T0 + 7,
    )
    assert store.get_game("game-1") == game
    assert all_events(store)[-1] == event


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (GameState.PLAYING, GameState.OPEN),
        (GameState.PAUSED, GameState.PLAYING),
        (GameState.ENDED, GameState.PLAYING),
        (GameState.BINGO, GameState.PLAYING),
    ],
)
def test_change_state_from_a_stale_expected_state_raises_and_changes_nothing(
    store: Store, actual: GameState, expected: GameState
) -> None:
    create(store, state=actual)
    before = snapshot(store)

    with pytest.raises(InvalidTransition):
        store.change_state(
            "game-1", expected=expected, new_state=GameState.CANCELLED, now=T0 + 1, reason="x"
        )

    assert snapshot(store) == before


def test_change_state_of_an_unknown_game_raises_game_not_found(store: Store) -> None:
    with pytest.raises(GameNotFound):
        store.change_state(
            "nope", expected=GameState.OPEN, new_state=GameState.PLAYING, now=T0, reason="x"
        )


def test_verifying_a_claim_ends_the_game_with_the_claimant_as_winner(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1", "s2", "s3"])
    store.claim_bingo("game-1", "s2", line=LINE, now=T0 + 5)

    game, event = store.change_state(
        "game-1",
        expected=GameState.BINGO,
        new_state=GameState.ENDED,
        now=T0 + 9,
        reason="verified",
        resolve_claim=ClaimStatus.VERIFIED,
    )

    winner = Winner("s2", "nick-s2")
    assert game.state is GameState.ENDED
    assert game.winner == winner
    assert store.get_game("game-1").winner == winner
    assert event.data == events.state_changed(GameState.BINGO, GameState.ENDED, "verified", winner)
    assert store.pending_claim("game-1") is None


@pytest.mark.parametrize("new_state", [GameState.PLAYING, GameState.CANCELLED])
def test_rejecting_a_claim_clears_it_without_a_winner(store: Store, new_state: GameState) -> None:
    game_with_players(store, GameState.PLAYING, ["s1", "s2"])
    store.claim_bingo("game-1", "s1", line=LINE, now=T0 + 5)

    game, event = store.change_state(
        "game-1",
        expected=GameState.BINGO,
        new_state=new_state,
        now=T0 + 9,
        reason="no such line",
        resolve_claim=ClaimStatus.REJECTED,
    )

    assert game.state is new_state
    assert game.winner is None
    assert "winner" not in event.data
    assert store.pending_claim("game-1") is None


def test_after_a_rejected_claim_another_player_can_claim(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1", "s2"])
    store.claim_bingo("game-1", "s1", line=LINE, now=T0 + 5)
    store.change_state(
        "game-1",
        expected=GameState.BINGO,
        new_state=GameState.PLAYING,
        now=T0 + 6,
        reason="rejected",
        resolve_claim=ClaimStatus.REJECTED,
    )

    game, claim, _, _ = store.claim_bingo("game-1", "s2", line=(0, 5, 10, 15), now=T0 + 7)

    assert game.state is GameState.BINGO
    assert store.pending_claim("game-1") == claim
    assert claim.session_id == "s2"


# -- players --------------------------------------------------------------------------------------
def test_add_player_logs_player_joined_and_counts_the_player(store: Store) -> None:
    create(store, state=GameState.OPEN)
    player = make_player("game-1", "s1", "Ada", joined_at=T0 + 3)

    event = store.add_player(player, nickname_key("Ada"))

    assert event == Event(
        "game-1", 2, events.PLAYER_JOINED, {"sessionId": "s1", "nickname": "Ada"}, T0 + 3
    )
    assert store.get_player("game-1", "s1") == player
    assert store.get_game("game-1").last_seq == 2
    board = store.leaderboard("game-1", limit=10)
    assert board.entries == (player,)
    assert board.total_players == 1


@pytest.mark.parametrize("state", ACTIVE)
def test_add_player_accepts_every_unfinished_state(store: Store, state: GameState) -> None:
    create(store, state=state)

    join(store, "game-1", "s1")

    assert store.get_player("game-1", "s1").nickname == "nick-s1"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Ada", "Ada"),
        ("Ada", "ada"),
        ("ada", "ADA"),
        ("Straße", "STRASSE"),
        ("Ada", "\uff21\uff44\uff41"),  # fullwidth "Ada": NFKC makes it plain "Ada"
    ],
)
def test_a_nickname_taken_ignoring_case_is_refused_and_nothing_is_written(
    store: Store, first: str, second: str
) -> None:
    create(store, state=GameState.OPEN)
    join(store, "game-1", "s1", first)
    before = snapshot(store)

    with pytest.raises(NicknameTaken):
        join(store, "game-1", "s2", second)

    assert snapshot(store) == before
    with pytest.raises(PlayerNotFound):
        store.get_player("game-1", "s2")


def test_the_same_nickname_may_play_in_another_game(store: Store) -> None:
    create(store, "game-1", state=GameState.OPEN)
    create(store, "game-2", state=GameState.OPEN)
    join(store, "game-1", "s1", "Ada")

    join(store, "game-2", "s2", "ada")

    assert store.get_player("game-2", "s2").nickname == "ada"


@pytest.mark.parametrize("state", FINISHED)
def test_add_player_to_a_finished_game_raises_game_not_accepting(
    store: Store, state: GameState
) -> None:
    create(store, state=state)
    before = snapshot(store)

    with pytest.raises(GameNotAccepting):
        join(store, "game-1", "s1")

    assert snapshot(store) == before
    with pytest.raises(PlayerNotFound):
        store.get_player("game-1", "s1")


def test_add_player_to_an_unknown_game_raises_game_not_found(store: Store) -> None:
    with pytest.raises(GameNotFound):
        join(store, "nope", "s1")


@pytest.mark.parametrize(("game_id", "session_id"), [("game-1", "s2"), ("game-2", "s1")])
def test_get_player_of_a_session_not_in_the_game_raises_player_not_found(
    store: Store, game_id: str, session_id: str
) -> None:
    create(store, "game-1")
    create(store, "game-2")
    join(store, "game-1", "s1")

    with pytest.raises(PlayerNotFound):
        store.get_player(game_id, session_id)


# -- cards ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [3, 4, 5])
def test_put_card_once_stores_the_card(store: Store, size: int) -> None:
    create(store)
    join(store, "game-1", "s1")
    card = make_card("game-1", "s1", size=size)

    assert store.put_card_once(card) == card
    assert store.get_card("game-1", "s1") == card


def test_put_card_once_keeps_the_first_card(store: Store) -> None:
    create(store)
    join(store, "game-1", "s1")
    first = make_card("game-1", "s1", offset=0)

    store.put_card_once(first)
    again = store.put_card_once(make_card("game-1", "s1", offset=7))

    assert again == first
    assert store.get_card("game-1", "s1") == first


def test_cards_are_per_player_and_game(store: Store) -> None:
    create(store, "game-1")
    create(store, "game-2")
    cards = [
        make_card("game-1", "s1", offset=1),
        make_card("game-1", "s2", offset=2),
        make_card("game-2", "s1", offset=3),
    ]
    for card in cards:
        store.put_card_once(card)

    assert [store.get_card(c.game_id, c.session_id) for c in cards] == cards
    assert store.get_card("game-2", "s2") is None


def test_get_card_is_none_before_the_card_is_drawn(store: Store) -> None:
    create(store)
    join(store, "game-1", "s1")

    assert store.get_card("game-1", "s1") is None


# -- marks ----------------------------------------------------------------------------------------
def test_add_mark_returns_the_new_standing_and_a_word_marked_event(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1"])
    seq = store.get_game("game-1").last_seq

    result = store.add_mark("game-1", "s1", "synergy", points=POINTS_PER_WORD, now=T0 + 4)

    assert result is not None
    player, event = result
    assert player == replace(
        make_player("game-1", "s1"), points=POINTS_PER_WORD, marks=1, last_mark_at=T0 + 4
    )
    assert event == Event(
        "game-1",
        seq + 1,
        events.WORD_MARKED,
        events.word_marked("s1", "nick-s1", "synergy", POINTS_PER_WORD, 1),
        T0 + 4,
    )
    assert store.get_player("game-1", "s1") == player
    assert store.marked_words("game-1", "s1") == frozenset({"synergy"})


def test_marks_accumulate_points_and_the_last_mark_time(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1"])

    for i, word in enumerate(["a", "b", "c"]):
        mark(store, "game-1", "s1", word, now=T0 + i)

    player = store.get_player("game-1", "s1")
    assert (player.points, player.marks, player.last_mark_at) == (30, 3, T0 + 2)
    assert store.marked_words("game-1", "s1") == frozenset({"a", "b", "c"})


def test_marking_a_word_twice_returns_none_and_changes_nothing(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1"])
    mark(store, "game-1", "s1", "synergy", now=T0 + 1)
    before = snapshot(store), store.get_player("game-1", "s1")

    again = store.add_mark("game-1", "s1", "synergy", points=POINTS_PER_WORD, now=T0 + 2)

    assert again is None
    assert (snapshot(store), store.get_player("game-1", "s1")) == before
    assert store.marked_words("game-1", "s1") == frozenset({"synergy"})


def test_marks_are_per_player(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1", "s2"])

    assert mark(store, "game-1", "s1", "synergy") is not None
    assert mark(store, "game-1", "s2", "synergy") is not None

    assert store.marked_words("game-1", "s2") == frozenset({"synergy"})
    assert store.marked_words("game-1", "s3") == frozenset()


@pytest.mark.parametrize("state", NOT_PLAYING)
def test_add_mark_outside_playing_raises_game_not_accepting_and_writes_nothing(
    store: Store, state: GameState
) -> None:
    game_with_players(store, state, ["s1"])
    before = snapshot(store), store.get_player("game-1", "s1")

    with pytest.raises(GameNotAccepting):
        mark(store, "game-1", "s1", "synergy", now=T0 + 1)

    assert (snapshot(store), store.get_player("game-1", "s1")) == before
    assert store.marked_words("game-1", "s1") == frozenset()


def test_add_mark_for_a_session_not_in_the_game_raises_player_not_found(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1"])
    before = snapshot(store)

    with pytest.raises(PlayerNotFound):
        mark(store, "game-1", "stranger", "synergy")

    assert snapshot(store) == before
    assert store.marked_words("game-1", "stranger") == frozenset()


# -- claims ---------------------------------------------------------------------------------------
def test_claim_bingo_moves_playing_to_bingo_with_two_events(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1", "s2"])
    seq = store.get_game("game-1").last_seq

    game, claim, claimed, changed = store.claim_bingo("game-1", "s2", line=LINE, now=T0 + 8)

    assert game.state is GameState.BINGO
    assert game.last_seq == seq + 2
    assert claim == Claim("game-1", "s2", "nick-s2", LINE, T0 + 8, ClaimStatus.PENDING)
    assert claimed == Event(
        "game-1", seq + 1, events.BINGO_CLAIMED, events.bingo_claimed("s2", "nick-s2", LINE), T0 + 8
    )
    assert changed.seq == seq + 2
    assert changed.type == events.STATE_CHANGED
    assert changed.data["previousState"] == GameState.PLAYING
    assert changed.data["newState"] == GameState.BINGO
    assert all_events(store)[-2:] == [claimed, changed]
    assert store.get_game("game-1") == game
    assert store.pending_claim("game-1") == claim


@pytest.mark.parametrize("second", ["s1", "s2"])
def test_a_second_claim_raises_claim_pending_and_keeps_the_first(store: Store, second: str) -> None:
    game_with_players(store, GameState.PLAYING, ["s1", "s2"])
    _, first, _, _ = store.claim_bingo("game-1", "s1", line=LINE, now=T0 + 1)
    before = snapshot(store)

    with pytest.raises(ClaimPending):
        store.claim_bingo("game-1", second, line=(0, 5, 10, 15), now=T0 + 2)

    assert snapshot(store) == before
    assert store.pending_claim("game-1") == first


@pytest.mark.parametrize("state", [s for s in NOT_PLAYING if s is not GameState.BINGO])
def test_claim_outside_playing_raises_game_not_accepting(store: Store, state: GameState) -> None:
    game_with_players(store, state, ["s1"])
    before = snapshot(store)

    with pytest.raises(GameNotAccepting):
        store.claim_bingo("game-1", "s1", line=LINE, now=T0 + 1)

    assert snapshot(store) == before
    assert store.pending_claim("game-1") is None


def test_claim_by_a_session_not_in_the_game_raises_player_not_found(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1"])
    before = snapshot(store)

    with pytest.raises(PlayerNotFound):
        store.claim_bingo("game-1", "stranger", line=LINE, now=T0 + 1)

    assert snapshot(store) == before
    assert store.pending_claim("game-1") is None


def test_pending_claim_is_none_without_a_claim(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1"])

    assert store.pending_claim("game-1") is None


def test_pending_claim_is_per_game(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1"], game_id="game-1")
    game_with_players(store, GameState.PLAYING, ["s1"], game_id="game-2")

    store.claim_bingo("game-1", "s1", line=LINE, now=T0 + 1)

    assert store.pending_claim("game-2") is None
    assert store.get_game("game-2").state is GameState.PLAYING


# -- leaderboard ----------------------------------------------------------------------------------
# (nickname, times of their marks): points come from the number of marks.
STANDINGS: dict[str, tuple[float, ...]] = {
    "carol": (1, 2, 30),
    "alice": (3, 20),
    "bob": (4, 10),  # as many points as alice, but reached them earlier
    "Erin": (5,),
    "dave": (5,),  # ties with Erin on time: "dave" < "erin" ignoring case
    "zed": (),
    "Amy": (),  # no marks: ordered by nickname ignoring case
}
EXPECTED_ORDER = ["carol", "bob", "alice", "dave", "Erin", "Amy", "zed"]


def _play_standings(store: Store) -> list[Player]:
    create(store, state=GameState.PLAYING)
    players = []
    for i, (nickname, times) in enumerate(STANDINGS.items()):
        session = f"p{i}"
        join(store, "game-1", session, nickname)
        for n, t in enumerate(times):
            mark(store, "game-1", session, f"w{n}", now=T0 + t)
        players.append(store.get_player("game-1", session))
    return players


def test_leaderboard_orders_by_points_then_earlier_last_mark_then_nickname(store: Store) -> None:
    players = _play_standings(store)

    board = store.leaderboard("game-1", limit=100)

    assert [p.nickname for p in board.entries] == EXPECTED_ORDER
    assert list(board.entries) == ranked(players)


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_leaderboard_returns_the_top_limit_and_counts_every_player(
    store: Store, limit: int
) -> None:
    players = _play_standings(store)

    board = store.leaderboard("game-1", limit=limit)

    assert list(board.entries) == ranked(players)[:limit]
    assert board.total_players == len(players) == 7
    assert board.game_id == "game-1"


def test_leaderboard_seq_is_the_games_last_seq(store: Store) -> None:
    _play_standings(store)

    board = store.leaderboard("game-1", limit=3)

    assert board.seq == store.get_game("game-1").last_seq == all_events(store)[-1].seq


def test_leaderboard_of_a_game_without_players_is_empty(store: Store) -> None:
    create(store, state=GameState.OPEN)

    board = store.leaderboard("game-1", limit=10)

    assert (board.entries, board.total_players, board.seq) == ((), 0, 1)


def test_leaderboard_is_per_game(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["a1", "a2"], game_id="game-1")
    game_with_players(store, GameState.PLAYING, ["b1"], game_id="game-2")
    mark(store, "game-2", "b1", "synergy")

    board = store.leaderboard("game-1", limit=10)

    assert {p.session_id for p in board.entries} == {"a1", "a2"}
    assert board.total_players == 2
    assert store.leaderboard("game-2", limit=10).total_players == 1


# -- the event log --------------------------------------------------------------------------------
def _change(
    store: Store, expected: GameState, new_state: GameState, resolve: ClaimStatus | None = None
) -> Event:
    return store.change_state(
        "game-1",
        expected=expected,
        new_state=new_state,
        now=T0,
        reason="next",
        resolve_claim=resolve,
    )[1]


def test_sequence_numbers_are_gap_free_from_1_across_mixed_operations(store: Store) -> None:
    logged = [store.create_game(make_game(state=GameState.OPEN))]
    logged.append(join(store, "game-1", "s1", "Ada"))
    logged.append(join(store, "game-1", "s2", "Bob"))
    with pytest.raises(NicknameTaken):
        join(store, "game-1", "s3", "ada")
    logged.append(_change(store, GameState.OPEN, GameState.PLAYING))
    for word in ("a", "b"):
        result = mark(store, "game-1", "s1", word)
        assert result is not None
        logged.append(result[1])
    assert mark(store, "game-1", "s1", "a") is None
    with pytest.raises(PlayerNotFound):
        mark(store, "game-1", "s3", "a")
    logged.extend(store.claim_bingo("game-1", "s2", line=LINE, now=T0)[2:])
    with pytest.raises(ClaimPending):
        store.claim_bingo("game-1", "s1", line=LINE, now=T0)
    with pytest.raises(GameNotAccepting):
        mark(store, "game-1", "s1", "c")
    logged.append(_change(store, GameState.BINGO, GameState.PLAYING, ClaimStatus.REJECTED))
    with pytest.raises(InvalidTransition):
        _change(store, GameState.PAUSED, GameState.PLAYING)
    store.put_card_once(make_card("game-1", "s1"))  # cards are not logged
    logged.append(join(store, "game-1", "s3", "Cy"))

    assert [e.seq for e in logged] == list(range(1, 11))
    assert all_events(store) == logged
    assert store.get_game("game-1").last_seq == 10


def test_sequence_numbers_are_per_game(store: Store) -> None:
    create(store, "game-1", state=GameState.OPEN)
    create(store, "game-2", state=GameState.OPEN)
    for i in range(3):
        join(store, "game-1", f"a{i}")
        join(store, "game-2", f"b{i}")
    join(store, "game-2", "b3")

    assert [e.seq for e in all_events(store, "game-1")] == [1, 2, 3, 4]
    assert [e.seq for e in all_events(store, "game-2")] == [1, 2, 3, 4, 5]
    assert {e.game_id for e in all_events(store, "game-2")} == {"game-2"}


@pytest.mark.parametrize(
    ("after", "limit", "expected"),
    [
        (0, 100, range(1, 9)),
        (3, 100, range(4, 9)),
        (0, 3, range(1, 4)),
        (5, 2, range(6, 8)),
        (7, 5, range(8, 9)),
        (8, 10, range(0)),
        (20, 10, range(0)),
    ],
)
def test_events_after_returns_later_events_ascending_up_to_limit(
    store: Store, after: int, limit: int, expected: range
) -> None:
    logged = [store.create_game(make_game(state=GameState.OPEN))]
    logged += [join(store, "game-1", f"s{i}", joined_at=T0 + i) for i in range(7)]

    found = store.events_after("game-1", after, limit=limit, now=T0)

    assert [e.seq for e in found] == list(expected)
    assert found == [e for e in logged if e.seq in expected]


# -- expiry ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T0, [1, 2, 3]),
        (T0 + EVENT_TTL_S - 1, [1, 2, 3]),
        (T0 + EVENT_TTL_S + 150, [3]),
        (T0 + EVENT_TTL_S + 1_000, []),
        (T0 + 365 * 86_400, []),
    ],
)
def test_events_past_their_ttl_are_not_returned(
    store: Store, now: float, expected: list[int]
) -> None:
    create(store, state=GameState.OPEN, created_at=T0)  # seq 1 at T0
    join(store, "game-1", "s1", joined_at=T0 + 100)  # seq 2
    join(store, "game-1", "s2", joined_at=T0 + 200)  # seq 3

    found = store.events_after("game-1", 0, limit=10, now=now)

    assert [e.seq for e in found] == expected


@pytest.mark.parametrize("kind", ["user", "public"])
def test_get_connection_returns_the_recorded_connection(store: Store, kind: str) -> None:
    connection = make_connection("c1", kind=kind, permissions={"read_leaderboard", "read_events"})
    store.put_connection(connection)

    assert store.get_connection("c1", now=T0) == connection


def test_put_connection_replaces_a_connection_with_the_same_id(store: Store) -> None:
    store.put_connection(make_connection("c1", expires_at=T0 + 10))
    newer = make_connection("c1", kind="public", expires_at=T0 + 100, permissions={"read_events"})

    store.put_connection(newer)

    assert store.get_connection("c1", now=T0 + 50) == newer


@pytest.mark.parametrize(("now", "alive"), [(T0, True), (T0 + 59, True), (T0 + 61, False)])
def test_get_connection_ignores_an_expired_connection(
    store: Store, now: float, alive: bool
) -> None:
    connection = make_connection("c1", expires_at=T0 + 60)
    store.put_connection(connection)

    assert store.get_connection("c1", now=now) == (connection if alive else None)


def test_get_connection_of_an_unknown_id_is_none(store: Store) -> None:
    store.put_connection(make_connection("c1"))

    assert store.get_connection("c2", now=T0) is None


def _subscribed(store: Store, subscriptions: dict[str, list[str]], *, expires_at: float) -> None:
    """Create the games, record the connections and subscribe them: game id -> connection ids."""
    for game_id, connection_ids in subscriptions.items():
        create(store, game_id)
        for connection_id in connection_ids:
            store.put_connection(make_connection(connection_id, expires_at=expires_at))
            store.subscribe(game_id, connection_id, now=T0, expires_at=expires_at)


@pytest.mark.parametrize(
    ("now", "expected"), [(T0, ["c1", "c2"]), (T0 + 99, ["c1", "c2"]), (T0 + 101, ["c2"])]
)
def test_subscribers_ignores_expired_subscriptions(
    store: Store, now: float, expected: list[str]
) -> None:
    create(store)
    store.subscribe("game-1", "c1", now=T0, expires_at=T0 + 100)
    store.subscribe("game-1", "c2", now=T0, expires_at=T0 + 1_000)

    assert sorted(store.subscribers("game-1", now=now)) == expected


def test_subscribe_is_idempotent_and_refreshes_the_ttl(store: Store) -> None:
    create(store)
    store.subscribe("game-1", "c1", now=T0, expires_at=T0 + 100)

    store.subscribe("game-1", "c1", now=T0 + 50, expires_at=T0 + 500)
    store.subscribe("game-1", "c1", now=T0 + 60, expires_at=T0 + 500)

    assert store.subscribers("game-1", now=T0 + 1) == ["c1"]
    assert store.subscribers("game-1", now=T0 + 300) == ["c1"]
    assert store.subscribers("game-1", now=T0 + 501) == []


def test_subscribers_are_per_game(store: Store) -> None:
    _subscribed(
        store,
        {"game-1": ["c1", "c2"], "game-2": ["c3", "c4"], "game-3": ["c5"]},
        expires_at=T0 + 100,
    )
    store.subscribe("game-2", "c1", now=T0, expires_at=T0 + 100)

    assert sorted(store.subscribers("game-1", now=T0)) == ["c1", "c2"]
    assert sorted(store.subscribers("game-2", now=T0)) == ["c1", "c3", "c4"]
    assert store.subscribers("game-3", now=T0) == ["c5"]


def test_unsubscribe_is_idempotent_and_leaves_other_games_alone(store: Store) -> None:
    _subscribed(store, {"game-1": ["c1", "c2"], "game-2": ["c1"]}, expires_at=T0 + 100)

    store.unsubscribe("game-1", "c1")
    store.unsubscribe("game-1", "c1")
    store.unsubscribe("game-1", "never-subscribed")

    assert store.subscribers("game-1", now=T0) == ["c2"]
    assert store.subscribers("game-2", now=T0) == ["c1"]
    assert store.get_connection("c1", now=T0) is not None


def test_delete_connection_removes_its_subscriptions_in_every_game(store: Store) -> None:
    _subscribed(store, {"game-1": ["c1", "c2"], "game-2": ["c3"]}, expires_at=T0 + 100)
    store.subscribe("game-2", "c1", now=T0, expires_at=T0 + 100)

    store.delete_connection("c1")
    store.delete_connection("c1")
    store.delete_connection("never-connected")

    assert store.get_connection("c1", now=T0) is None
    assert store.subscribers("game-1", now=T0) == ["c2"]
    assert store.subscribers("game-2", now=T0) == ["c3"]
    assert store.get_connection("c2", now=T0) is not None


@pytest.mark.parametrize(
    "gone", [[], ["c1"], ["c1", "c3"], ["c1", "c1", "unknown"], ["c1", "c2", "c3", "c4"]]
)
def test_delete_connections_forgets_exactly_those_connections(
    store: Store, gone: list[str]
) -> None:
    everyone = ["c1", "c2", "c3", "c4"]
    _subscribed(store, {"game-1": everyone}, expires_at=T0 + 100)

    store.delete_connections(gone)
    store.delete_connections(gone)

    kept = [c for c in everyone if c not in gone]
    assert sorted(store.subscribers("game-1", now=T0)) == kept
    assert [c for c in everyone if store.get_connection(c, now=T0) is not None] == kept


# -- audiences and standings (the coalesced fan-out's reads) ---------------------------------------
def test_subscriptions_record_audience_viewer_and_feed_in_connection_order(store: Store) -> None:
    create(store)
    # Subscribed out of order: the order comes from the store, not from the writes.
    store.subscribe("game-1", "c3", now=T0, expires_at=T0 + 100)
    store.subscribe(
        "game-1",
        "c1",
        now=T0,
        expires_at=T0 + 200,
        audience=Audience.PLAYER,
        viewer="s1",
        feed=False,
    )
    store.subscribe(
        "game-1", "c2", now=T0, expires_at=T0 + 300, audience=Audience.PLAYER, viewer="s2"
    )

    found = store.subscriptions("game-1", now=T0)

    assert found == [
        Subscription("game-1", "c1", Audience.PLAYER, "s1", False, T0 + 200),
        Subscription("game-1", "c2", Audience.PLAYER, "s2", True, T0 + 300),
        Subscription("game-1", "c3", Audience.BOARD, None, True, T0 + 100),
    ]
    assert store.subscribers("game-1", now=T0) == ["c1", "c2", "c3"]


@pytest.mark.parametrize(
    ("now", "expected"),
    [(T0, ["c1", "c2"]), (T0 + 99.5, ["c1", "c2"]), (T0 + 100.5, ["c2"]), (T0 + 1_000, [])],
)
def test_subscriptions_ignore_expired_subscriptions(
    store: Store, now: float, expected: list[str]
) -> None:
    create(store)
    store.subscribe("game-1", "c1", now=T0, expires_at=T0 + 100)
    store.subscribe("game-1", "c2", now=T0, expires_at=T0 + 1_000, feed=False)

    assert [s.connection_id for s in store.subscriptions("game-1", now=now)] == expected


def test_subscribing_again_replaces_the_audience_and_feed_and_refreshes_the_ttl(
    store: Store,
) -> None:
    create(store)
    store.subscribe(
        "game-1",
        "c1",
        now=T0,
        expires_at=T0 + 100,
        audience=Audience.PLAYER,
        viewer="s1",
        feed=False,
    )

    store.subscribe(
        "game-1",
        "c1",
        now=T0 + 50,
        expires_at=T0 + 500,
        audience=Audience.PLAYER,
        viewer="s1",
        feed=True,
    )

    assert store.subscriptions("game-1", now=T0 + 300) == [
        Subscription("game-1", "c1", Audience.PLAYER, "s1", True, T0 + 500)
    ]

    store.subscribe("game-1", "c1", now=T0 + 60, expires_at=T0 + 600, feed=False)

    # A board has no viewer: the player's is not left behind.
    assert store.subscriptions("game-1", now=T0 + 550) == [
        Subscription("game-1", "c1", Audience.BOARD, None, False, T0 + 600)
    ]
    assert store.subscriptions("game-1", now=T0 + 601) == []


def test_subscriptions_are_per_game(store: Store) -> None:
    _subscribed(store, {"game-1": ["c1", "c2"], "game-2": ["c3"]}, expires_at=T0 + 100)
    store.subscribe(
        "game-2", "c1", now=T0, expires_at=T0 + 100, audience=Audience.PLAYER, viewer="s9"
    )

    assert [(s.game_id, s.connection_id) for s in store.subscriptions("game-1", now=T0)] == [
        ("game-1", "c1"),
        ("game-1", "c2"),
    ]
    assert [(s.connection_id, s.audience) for s in store.subscriptions("game-2", now=T0)] == [
        ("c1", Audience.PLAYER),
        ("c3", Audience.BOARD),
    ]
    # The game-1 subscription of c1 kept its own audience.
    assert store.subscriptions("game-1", now=T0)[0].audience is Audience.BOARD


def test_subscribing_to_an_unknown_game_raises_game_not_found_and_writes_nothing(
    store: Store,
) -> None:
    create(store)

    with pytest.raises(GameNotFound):
        store.subscribe("game-2", "c1", now=T0, expires_at=T0 + 100, audience=Audience.PLAYER)

    assert store.subscriptions("game-2", now=T0) == []
    assert store.subscriptions("game-1", now=T0) == []


def test_unsubscribed_and_deleted_connections_leave_the_subscriptions(store: Store) -> None:
    _subscribed(store, {"game-1": ["c1", "c2", "c3"]}, expires_at=T0 + 100)

    store.unsubscribe("game-1", "c1")
    store.delete_connection("c3")

    assert [s.connection_id for s in store.subscriptions("game-1", now=T0)] == ["c2"]


def test_standings_are_every_player_in_leaderboard_order(store: Store) -> None:
    players = _play_standings(store)

    board = store.standings("game-1")

    assert [p.nickname for p in board.entries] == EXPECTED_ORDER
    assert list(board.entries) == ranked(players)
    assert board.total_players == len(players)
    assert board.seq == store.get_game("game-1").last_seq
    assert board == store.leaderboard("game-1", limit=len(players))


def test_standings_of_many_players_include_them_all(store: Store) -> None:
    create(store, state=GameState.OPEN)
    sessions = [f"s{i:03d}" for i in range(60)]
    for session in sessions:
        join(store, "game-1", session)

    board = store.standings("game-1")

    # No marks yet: the nickname decides the order.
    assert [p.session_id for p in board.entries] == sessions
    assert board.total_players == 60
    assert board.seq == 61


def test_standings_of_a_game_without_players_are_empty(store: Store) -> None:
    create(store, state=GameState.OPEN)

    board = store.standings("game-1")

    assert (board.game_id, board.entries, board.total_players, board.seq) == ("game-1", (), 0, 1)


def test_standings_are_per_game(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["a1", "a2"], game_id="game-1")
    game_with_players(store, GameState.PLAYING, ["b1"], game_id="game-2")
    mark(store, "game-2", "b1", "synergy")

    assert {p.session_id for p in store.standings("game-1").entries} == {"a1", "a2"}
    assert [p.points for p in store.standings("game-2").entries] == [POINTS_PER_WORD]


def test_standings_of_an_unknown_game_raise_game_not_found(store: Store) -> None:
    create(store)

    with pytest.raises(GameNotFound):
        store.standings("game-2")


# -- races ----------------------------------------------------------------------------------------
# Each racer repeats the race over several rounds (words, games, players) in the same order, so
# the racers collide many times per test rather than once.
ROUNDS = 6


def test_racing_identical_marks_count_once(store: Store) -> None:
    game_with_players(store, GameState.PLAYING, ["s1"])
    seq = store.get_game("game-1").last_seq
    words = [f"w{n}" for n in range(ROUNDS)]

    def mark_all(i: int) -> list[bool]:
        return [mark(store, "game-1", "s1", word, now=T0 + i) is not None for word in words]

    outcomes = race(store, mark_all)

    assert all(isinstance(o, list) for o in outcomes), outcomes
    written_per_word = [sum(o[n] for o in outcomes if isinstance(o, list)) for n in range(ROUNDS)]
    assert written_per_word == [1] * ROUNDS
    player = store.get_player("game-1", "s1")
    assert (player.points, player.marks) == (ROUNDS * POINTS_PER_WORD, ROUNDS)
    logged = all_events(store)[seq:]
    assert [e.type for e in logged] == [events.WORD_MARKED] * ROUNDS
    assert sorted(e.data["word"] for e in logged) == words


def test_racing_card_draws_all_get_the_first_written_card(store: Store) -> None:
    sessions = [f"s{n}" for n in range(ROUNDS)]
    game_with_players(store, GameState.PLAYING, sessions)

    def draw_all(i: int) -> list[Card]:
        return [store.put_card_once(make_card("game-1", s, offset=i)) for s in sessions]

    outcomes = race(store, draw_all)

    for n, session in enumerate(sessions):
        stored = store.get_card("game-1", session)
        assert stored in [make_card("game-1", session, offset=i) for i in range(RACERS)]
        assert [o[n] for o in outcomes if isinstance(o, list)] == [stored] * RACERS


def test_racing_claims_leave_exactly_one_pending_claim(store: Store) -> None:
    sessions = [f"s{i}" for i in range(RACERS)]
    games = [f"game-{n}" for n in range(ROUNDS)]
    for game_id in games:
        game_with_players(store, GameState.PLAYING, sessions, game_id=game_id)

    def claim_all(i: int) -> list[Claim | BingoError]:
        claims: list[Claim | BingoError] = []
        for game_id in games:
            try:
                claims.append(store.claim_bingo(game_id, sessions[i], line=LINE, now=T0 + i)[1])
            except BingoError as exc:
                claims.append(exc)
        return claims

    outcomes = race(store, claim_all)

    assert all(isinstance(o, list) for o in outcomes), outcomes
    for n, game_id in enumerate(games):
        results = [o[n] for o in outcomes if isinstance(o, list)]
        won = [r for r in results if isinstance(r, Claim)]
        lost = [r for r in results if not isinstance(r, Claim)]
        assert len(won) == 1, results
        assert all(isinstance(r, ClaimPending | GameNotAccepting) for r in lost), lost
        assert store.pending_claim(game_id) == won[0]
        assert store.get_game(game_id).state is GameState.BINGO
        claimed = [e for e in all_events(store, game_id) if e.type == events.BINGO_CLAIMED]
        assert [e.data["sessionId"] for e in claimed] == [won[0].session_id]


@pytest.mark.parametrize(("players", "words_each"), [(1, ROUNDS), (4, ROUNDS)])
def test_racing_marks_of_different_words_get_gap_free_sequence_numbers(
    store: Store, players: int, words_each: int
) -> None:
    sessions = [f"s{i}" for i in range(players)]
    game_with_players(store, GameState.PLAYING, sessions)
    start = store.get_game("game-1").last_seq

    def mark_words(i: int) -> list[int]:
        seqs = []
        for n in range(words_each):
            result = mark(store, "game-1", sessions[i % players], f"w{i}-{n}", now=T0 + n)
            assert result is not None
            seqs.append(result[1].seq)
        return seqs

    outcomes = race(store, mark_words)

    total = RACERS * words_each
    seqs = sorted(s for o in outcomes if isinstance(o, list) for s in o)
    assert seqs == list(range(start + 1, start + total + 1))
    assert [e.seq for e in all_events(store)] == list(range(1, start + total + 1))
    assert store.get_game("game-1").last_seq == start + total
    points = sum(store.get_player("game-1", s).points for s in sessions)
    assert points == total * POINTS_PER_WORD


def _case_variant(word: str, bits: int) -> str:
    return "".join(c.upper() if bits >> i & 1 else c for i, c in enumerate(word))


def test_racing_joins_under_one_nickname_in_different_cases_admit_exactly_one(
    store: Store,
) -> None:
    create(store, state=GameState.OPEN)
    nicknames = [f"buzzword{n}" for n in range(ROUNDS)]

    def join_all(i: int) -> list[Event | BingoError]:
        joined: list[Event | BingoError] = []
        for n, nickname in enumerate(nicknames):
            try:
                joined.append(join(store, "game-1", f"s{i}-{n}", _case_variant(nickname, i)))
            except BingoError as exc:
                joined.append(exc)
        return joined

    outcomes = race(store, join_all)

    assert all(isinstance(o, list) for o in outcomes), outcomes
    for n in range(ROUNDS):
        results = [o[n] for o in outcomes if isinstance(o, list)]
        joined = [r for r in results if isinstance(r, Event)]
        assert len(joined) == 1, results
        assert all(isinstance(r, NicknameTaken) for r in results if r is not joined[0]), results
    board = store.leaderboard("game-1", limit=RACERS * ROUNDS)
    assert board.total_players == len(board.entries) == ROUNDS
    assert sorted(nickname_key(p.nickname) for p in board.entries) == nicknames
    assert board.seq == 1 + ROUNDS


def test_racing_joins_under_different_nicknames_all_count(store: Store) -> None:
    create(store, state=GameState.OPEN)

    outcomes = race(store, lambda i: join(store, "game-1", f"s{i}", f"player {i}"))

    assert all(isinstance(o, Event) for o in outcomes), outcomes
    board = store.leaderboard("game-1", limit=RACERS)
    assert board.total_players == len(board.entries) == RACERS
    assert sorted(e.seq for e in outcomes if isinstance(e, Event)) == list(range(2, RACERS + 2))
