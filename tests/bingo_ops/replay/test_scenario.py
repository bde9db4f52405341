"""Tests of the scenario generator: determinism, shape, marks, claims and the file format."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from backend.domain.cards import complete_lines
from backend.domain.model import Card
from backend.domain.words import DEFAULT_WORDS
from bingo_ops.replay import (
    ACTION_KINDS,
    Action,
    ScenarioError,
    ScenarioSpec,
    generate,
    read_jsonl,
    read_scenario,
    summary,
    write_jsonl,
)

# Busy enough that several games end in a verified bingo.
BUSY = ScenarioSpec(games=3, players=30, boards=2, marks_per_player_per_minute=12.0, seed=7)


def _card(join: Action) -> Card:
    cells = tuple(join.data["card"])
    size = math.isqrt(len(cells))
    return Card(game_id=str(join.game), session_id=join.actor, size=size, cells=cells)


def _joins(actions: list[Action]) -> dict[tuple[int, str], Action]:
    return {(a.game, a.actor): a for a in actions if a.kind == "join"}


def _game_end(actions: list[Action]) -> dict[int, float]:
    """When each game stops taking marks: its claim, else its `end`."""
    out: dict[int, float] = {}
    for a in actions:
        if a.kind in ("claim", "end"):
            out.setdefault(a.game, a.t)
    return out


# -- determinism -------------------------------------------------------------------------------
def test_same_seed_gives_identical_actions_and_bytes(tmp_path: Path) -> None:
    spec = ScenarioSpec(games=2, players=15, boards=3, seed=42)
    first, second = generate(spec), generate(spec)
    assert first == second
    write_jsonl(first, tmp_path / "a.jsonl", spec)
    write_jsonl(second, tmp_path / "b.jsonl", spec)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_other_seed_gives_other_actions() -> None:
    assert generate(ScenarioSpec(seed=1)) != generate(ScenarioSpec(seed=2))


# -- shape -------------------------------------------------------------------------------------
def test_counts_of_games_players_and_boards() -> None:
    spec = ScenarioSpec(games=3, players=10, boards=4)
    actions = generate(spec)
    by_kind: Counter[str] = Counter(a.kind for a in actions)
    assert by_kind["create_game"] == by_kind["start_game"] == 3
    assert by_kind["join"] == 10
    assert by_kind["connect_board"] == 4
    # Round-robin: players 4/3/3, boards 2/1/1.
    assert Counter(a.game for a in actions if a.kind == "join") == {0: 4, 1: 3, 2: 3}
    assert Counter(a.game for a in actions if a.kind == "connect_board") == {0: 2, 1: 1, 2: 1}
    nicknames = [a.actor for a in actions if a.kind == "join"]
    assert len(set(nicknames)) == 10
    assert all(1 <= len(n) <= 20 for n in nicknames)
    info = summary(actions)
    assert (info["games"], info["players"], info["boards"]) == (3, 10, 4)
    assert info["counts"] == {kind: by_kind.get(kind, 0) for kind in ACTION_KINDS}


def test_sorted_by_time_with_games_set_up_first() -> None:
    actions = generate(BUSY)
    times = [a.t for a in actions]
    assert times == sorted(times)
    assert [a.kind for a in actions[:2]] == ["create_game", "start_game"]
    for g in range(BUSY.games):
        kinds = [a.kind for a in actions if a.game == g]
        assert kinds.index("create_game") < kinds.index("start_game") < kinds.index("join")


@pytest.mark.parametrize("curve", ["instant", "linear", "front_loaded"])
def test_joins_fall_in_the_join_window(curve: str) -> None:
    spec = ScenarioSpec(players=50, join_curve=curve, join_window_s=30.0)  # type: ignore[arg-type]
    joins = [a.t for a in generate(spec) if a.kind == "join"]
    assert len(joins) == 50
    assert all(0.0 <= t <= 30.0 for t in joins)


def test_instant_joins_all_at_zero() -> None:
    joins = [a.t for a in generate(ScenarioSpec(join_curve="instant")) if a.kind == "join"]
    assert joins == [0.0] * 20


def test_front_loaded_joins_earlier_than_linear() -> None:
    def median_join(curve: str) -> float:
        spec = ScenarioSpec(players=400, join_curve=curve, bingo_claims=False)  # type: ignore[arg-type]
        return statistics.median(a.t for a in generate(spec) if a.kind == "join")

    linear, front = median_join("linear"), median_join("front_loaded")
    # Medians of the two curves: 50% and ~29% of the 60 s window.
    assert linear == pytest.approx(30.0, abs=6.0)
    assert front == pytest.approx(60.0 * (1 - 0.5**0.5), abs=6.0)
    assert front < linear


# -- the mark process --------------------------------------------------------------------------
def test_mark_rate_matches_the_poisson_model() -> None:
    # 5x5 cards hold 24 words, far more than anyone marks here, so no card fills up early.
    spec = ScenarioSpec(
        players=1000, grid_size=5, marks_per_player_per_minute=2.0, bingo_claims=False, seed=3
    )
    actions = generate(spec)
    info = summary(actions)
    joins = [a.t for a in actions if a.kind == "join"]
    expected = sum(2.0 * (spec.duration_s - t) / 60.0 for t in joins)
    assert info["expected_marks"] == pytest.approx(expected)
    # About 1000 x 2/min x 1.5 active minutes = 3000; a Poisson count's sd is its square root.
    assert expected == pytest.approx(3000.0, rel=0.1)
    assert abs(info["marks"] - expected) < 5 * math.sqrt(expected)


def test_marks_only_between_join_and_game_end_and_picks_index_remaining_words() -> None:
    actions = generate(BUSY)
    joins, ends = _joins(actions), _game_end(actions)
    marked: dict[tuple[int, str], list[str]] = defaultdict(list)
    stopped: set[int] = set()
    assert sum(a.kind == "mark" for a in actions) > 0
    for a in actions:
        if a.kind in ("claim", "end"):
            stopped.add(a.game)
        if a.kind != "mark":
            continue
        key = (a.game, a.actor)
        assert a.game not in stopped
        assert joins[key].t <= a.t <= ends[a.game]
        assert a.t < BUSY.duration_s
        done = marked[key]
        remaining = [w for w in joins[key].data["card"] if w is not None and w not in done]
        assert remaining[a.data["pick"]] == a.data["word"]
        done.append(a.data["word"])


@pytest.mark.parametrize("grid_size", [3, 4, 5])
def test_every_claim_is_a_complete_line_on_the_model_card(grid_size: int) -> None:
    spec = ScenarioSpec(
        games=4, players=40, grid_size=grid_size, marks_per_player_per_minute=12.0, seed=11
    )
    actions = generate(spec)
    joins = _joins(actions)
    marked: dict[tuple[int, str], list[str]] = defaultdict(list)
    claims = 0
    previous: Action | None = None
    for a in actions:
        key = (a.game, a.actor)
        # A mark completing a line is claimed at once: nobody plays on with a bingo unclaimed.
        if previous is not None and previous.kind == "mark":
            before = (previous.game, previous.actor)
            if complete_lines(_card(joins[before]), marked[before]):
                assert (a.kind, a.actor) == ("claim", previous.actor)
        if a.kind == "mark":
            marked[key].append(a.data["word"])
        if a.kind == "claim":
            claims += 1
            card = _card(joins[key])
            lines = complete_lines(card, marked[key])
            assert tuple(a.data["line"]) in lines
            # Claimed at the mark that completed it.
            assert previous is not None
            assert (previous.kind, previous.actor, previous.t) == ("mark", a.actor, a.t)
            assert not complete_lines(card, marked[key][:-1])
        previous = a
    assert claims >= 1


def test_each_game_ends_exactly_once_and_is_verified_at_most_once() -> None:
    actions = generate(BUSY)
    verifies = Counter(a.game for a in actions if a.kind == "verify")
    ends = Counter(a.game for a in actions if a.kind == "end")
    assert sum(verifies.values()) >= 1
    for g in range(BUSY.games):
        assert verifies[g] <= 1
        assert verifies[g] + ends[g] == 1
    claims = {a.game: a for a in actions if a.kind == "claim"}
    assert set(claims) == set(verifies)
    for a in actions:
        if a.kind == "verify":
            assert a.actor == "organiser"
            assert a.data["winner"] == claims[a.game].actor
            assert a.t == pytest.approx(claims[a.game].t + BUSY.verify_delay_s)
        if a.kind == "end":
            assert a.t == BUSY.duration_s


def test_no_claims_when_disabled() -> None:
    spec = ScenarioSpec(players=30, marks_per_player_per_minute=30.0, bingo_claims=False)
    actions = generate(spec)
    kinds = Counter(a.kind for a in actions)
    assert kinds["claim"] == kinds["verify"] == 0
    assert kinds["end"] == 1
    # At 30 marks a minute every 16-word card fills up and then its player stops.
    per_player = Counter(a.actor for a in actions if a.kind == "mark")
    assert max(per_player.values()) == 16


def test_default_words_are_the_domain_defaults() -> None:
    assert ScenarioSpec().word_list == DEFAULT_WORDS
    words = tuple(f"word {i}" for i in range(9))
    actions = generate(ScenarioSpec(grid_size=3, words=words))
    cards = [a.data["card"] for a in actions if a.kind == "join"]
    assert len(cards) == 20
    for cells in cards:
        assert cells[4] is None
        assert len(set(cells) - {None}) == 8
        assert set(cells) - {None} <= set(words)


def test_summary_of_nothing() -> None:
    info = summary([])
    assert info["duration_s"] == 0.0
    assert info["marks"] == info["players"] == info["games"] == 0
    assert info["expected_marks"] == 0.0


# -- the file format ---------------------------------------------------------------------------
def test_jsonl_round_trip_is_exact(tmp_path: Path) -> None:
    spec = ScenarioSpec(
        games=2, grid_size=3, players=12, words=tuple(f"w{i}" for i in range(12)), seed=5
    )
    actions = generate(spec)
    path = tmp_path / "scenario.jsonl"
    write_jsonl(actions, path, spec)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(actions) + 1
    header = json.loads(lines[0])
    assert header["type"] == "scenario"
    assert header["spec"]["players"] == 12
    assert read_jsonl(path) == actions
    assert read_scenario(path) == (spec, actions)
    # Writing what was read gives the same bytes.
    again = tmp_path / "again.jsonl"
    write_jsonl(read_jsonl(path), again, spec)
    assert again.read_bytes() == path.read_bytes()


def test_jsonl_without_spec_still_has_a_header(tmp_path: Path) -> None:
    actions = generate(ScenarioSpec(players=3))
    path = tmp_path / "s.jsonl"
    write_jsonl(actions, path)
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0]) == {
        "type": "scenario",
        "spec": None,
    }
    assert read_scenario(path) == (None, actions)


@pytest.mark.parametrize(
    "content",
    [
        "",
        '{"t": 0, "kind": "join", "game": 0, "actor": "a", "data": {}}\n',
        '{"type": "scenario", "spec": null}\n{"t": 0, "kind": "dance", "game": 0, "actor": "a"}\n',
        '{"type": "scenario", "spec": null}\n{"kind": "join"}\n',
        '{"type": "scenario", "spec": null}\nnot json\n',
        '{"type": "scenario", "spec": {"players": 3, "colour": "red"}}\n',
    ],
)
def test_malformed_files_are_rejected(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ScenarioError):
        read_jsonl(path)


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes",
    [
        {"grid_size": 6},
        {"grid_size": True},
        {"games": 0},
        {"players": 0},
        {"players": 2.5},
        {"boards": -1},
        {"marks_per_player_per_minute": 0.0},
        {"marks_per_player_per_minute": "fast"},
        {"join_curve": "sudden"},
        {"join_window_s": -1.0},
        {"join_window_s": 200.0},
        {"duration_s": 0.0},
        {"duration_s": math.inf},
        {"verify_delay_s": -0.5},
        {"words": ("a", "b", "c")},
        {"words": tuple(["same", "SAME"] + [f"w{i}" for i in range(20)])},
    ],
)
def test_invalid_specs_are_rejected(changes: dict[str, object]) -> None:
    with pytest.raises(ScenarioError):
        ScenarioSpec(**changes)  # type: ignore[arg-type]


def test_boards_may_be_zero() -> None:
    actions = generate(ScenarioSpec(boards=0))
    assert not any(a.kind == "connect_board" for a in actions)
