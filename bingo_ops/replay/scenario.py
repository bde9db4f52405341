"""Scenario generator: a seeded, deterministic schedule of players joining, marking and claiming."""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from backend.domain.cards import check_grid_size, check_word_list, complete_lines, draw_cells
from backend.domain.errors import BingoError
from backend.domain.model import Card
from backend.domain.words import DEFAULT_WORDS

JoinCurve = Literal["instant", "linear", "front_loaded"]
ActionKind = Literal[
    "create_game", "start_game", "join", "connect_board", "mark", "claim", "verify", "end"
]
ACTION_KINDS: tuple[str, ...] = get_args(ActionKind)
JOIN_CURVES: tuple[str, ...] = get_args(JoinCurve)

ORGANISER = "organiser"
HEADER_TYPE = "scenario"


class ScenarioError(ValueError):
    """A scenario spec or scenario file is invalid."""


@dataclass(frozen=True)
class ScenarioSpec:
    """What to generate: how many games, players and boards, and how busy they are.

    Attributes:
        games: Number of games, all created and started at t=0.
        grid_size: Card size, 3, 4 or 5.
        players: Total players, assigned round-robin to games (player i plays game i % games).
        boards: Public status boards, assigned round-robin to games; 0 means none.
        marks_per_player_per_minute: Rate of each player's Poisson mark process.
        join_curve: How join times spread over the join window: all at t=0 (`instant`),
            uniformly (`linear`), or with density falling linearly to zero (`front_loaded`).
        join_window_s: Joins happen in [0, join_window_s]; at most `duration_s`.
        duration_s: Games without a verified bingo are ended by the organiser at this time.
        bingo_claims: Whether a player whose card has a complete line claims; the organiser
            verifies `verify_delay_s` later, ending the game.
        verify_delay_s: Delay between a claim and its verification.
        seed: Seed of the only source of randomness, `random.Random(seed)`.
        words: The games' word list; None means `backend.domain.words.DEFAULT_WORDS`.
    """

    games: int = 1
    grid_size: int = 4
    players: int = 20
    boards: int = 1
    marks_per_player_per_minute: float = 1.0
    join_curve: JoinCurve = "linear"
    join_window_s: float = 60.0
    duration_s: float = 120.0
    bingo_claims: bool = True
    verify_delay_s: float = 5.0
    seed: int = 1
    words: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        try:
            check_grid_size(self.grid_size)
            # The server validates word lists the same way, so a scenario never asks for a game
            # the stack would refuse.
            check_word_list(list(self.word_list), self.grid_size)
        except BingoError as exc:
            raise ScenarioError(exc.message) from exc
        for name in ("games", "players", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ScenarioError(f"{name} must be an integer")
        for name in (
            "marks_per_player_per_minute",
            "join_window_s",
            "duration_s",
            "verify_delay_s",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError(f"{name} must be a number")
            # An infinite duration would never end a game and cannot be written as JSON.
            if not math.isfinite(value):
                raise ScenarioError(f"{name} must be finite")
        if isinstance(self.boards, bool) or not isinstance(self.boards, int) or self.boards < 0:
            raise ScenarioError("boards must be a non-negative integer")
        if self.games < 1:
            raise ScenarioError("games must be at least 1")
        if self.players < 1:
            raise ScenarioError("players must be at least 1")
        if not self.marks_per_player_per_minute > 0:
            raise ScenarioError("marks_per_player_per_minute must be positive")
        if self.join_curve not in JOIN_CURVES:
            raise ScenarioError(f"join_curve must be one of {', '.join(JOIN_CURVES)}")
        if not self.duration_s > 0:
            raise ScenarioError("duration_s must be positive")
        if not 0 <= self.join_window_s <= self.duration_s:
            raise ScenarioError("join_window_s must be between 0 and duration_s")
        if not self.verify_delay_s >= 0:
            raise ScenarioError("verify_delay_s must not be negative")

    @property
    def word_list(self) -> tuple[str, ...]:
        """The word list in effect: `words`, or the default list."""
        return DEFAULT_WORDS if self.words is None else tuple(self.words)

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready values (the word list, if any, as a list)."""
        out = dataclasses.asdict(self)
        out["words"] = None if self.words is None else list(self.words)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioSpec:
        """Rebuild a spec written by `to_dict`.

        Raises:
            ScenarioError: unknown fields or invalid values.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ScenarioError(f"unknown spec fields: {', '.join(sorted(unknown))}")
        values = dict(data)
        if values.get("words") is not None:
            values["words"] = tuple(values["words"])
        return cls(**values)


@dataclass(frozen=True)
class Action:
    """One step of a scenario.

    Attributes:
        t: Seconds from the start of the scenario.
        kind: What happens (one of `ACTION_KINDS`).
        game: Index of the game, 0-based.
        actor: The player's nickname, the board's name, or "organiser".
        data: JSON-native details: for `join` the model card (`card`, `null` for the free
            centre) and the player's `marks_per_minute`; for `mark` the `pick` and the model's
            `word`; for `claim` the completed `line` (cell indexes); for `verify` the `winner`.
    """

    t: float
    kind: ActionKind
    game: int
    actor: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The action as one JSON object."""
        return {
            "t": self.t,
            "kind": self.kind,
            "game": self.game,
            "actor": self.actor,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        """Rebuild an action written by `to_dict`.

        Raises:
            ScenarioError: missing fields or an unknown kind.
        """
        try:
            kind = data["kind"]
            if kind not in ACTION_KINDS:
                raise ScenarioError(f"unknown action kind {kind!r}")
            return cls(
                t=float(data["t"]),
                kind=kind,
                game=int(data["game"]),
                actor=str(data["actor"]),
                data=dict(data.get("data") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise ScenarioError(f"malformed action: {exc}") from exc


def _join_times(spec: ScenarioSpec, rng: random.Random) -> list[float]:
    """Join times, sorted, so player 1 is the first to arrive."""
    window = spec.join_window_s
    if spec.join_curve == "instant" or window == 0:
        return [0.0] * spec.players
    if spec.join_curve == "linear":
        times = [window * rng.random() for _ in range(spec.players)]
    else:
        # Inverse CDF of the density 2(1 - x) on [0, 1]: arrivals taper off linearly, so half
        # the players are in by ~29% of the window instead of 50%.
        times = [window * (1.0 - (1.0 - rng.random()) ** 0.5) for _ in range(spec.players)]
    return sorted(times)


def _nickname(i: int) -> str:
    return f"player-{i + 1:04d}"


def _board_name(i: int) -> str:
    return f"board-{i + 1:02d}"


@dataclass
class _Player:
    """Simulation state of one player (mutable, private to `generate`)."""

    nickname: str
    game: int
    joined_at: float
    card: Card
    marked: list[str] = field(default_factory=list)

    def remaining(self) -> list[str]:
        """Unmarked words in row-major order: the list a mark's `pick` indexes."""
        done = set(self.marked)
        return [w for w in self.card.cells if w is not None and w not in done]


def generate(spec: ScenarioSpec) -> list[Action]:
    """Generate the scenario for `spec`.

    It models games the way `bingo_ops.demo` plays them: the organiser creates and starts each
    game at t=0, public boards connect, players join over the join window, each player marks
    words on their card as a Poisson process from their join on, and (with `bingo_claims`) the
    first mark completing a line is claimed at once and verified `verify_delay_s` later, which
    ends that game; no marks follow a claim. Games without a claim are ended at `duration_s`.
    A player whose card is fully marked stops marking.

    The cards are a *model*: they are drawn here with `backend.domain.cards.draw_cells` so the
    generator knows when a line completes, but a real stack draws each card on the server. A
    replayer therefore reads the player's real card and maps each mark through `data["pick"]`,
    the index into that player's remaining unmarked words in row-major order of the card (free
    centre skipped); `data["word"]` is the model card's word at that pick. On a real stack,
    claims follow the real cards, so the model's claims give the shape of a run, not its times.

    Deterministic: all randomness comes from `random.Random(spec.seed)`, drawn in a fixed order
    (join times, then cards in player order, then marks game by game).

    Args:
        spec: What to generate.

    Returns:
        The actions, sorted by `t`; actions at the same time keep their causal order (a game is
        created before it is started, a player joins before marking, a mark precedes its claim).
    """
    rng = random.Random(spec.seed)
    words = spec.word_list
    actions: list[Action] = []
    for g in range(spec.games):
        actions.append(Action(0.0, "create_game", g, ORGANISER, {"grid_size": spec.grid_size}))
        actions.append(Action(0.0, "start_game", g, ORGANISER))
    for b in range(spec.boards):
        actions.append(Action(0.0, "connect_board", b % spec.games, _board_name(b)))

    rate_per_s = spec.marks_per_player_per_minute / 60.0
    players: list[_Player] = []
    for i, joined_at in enumerate(_join_times(spec, rng)):
        game, nickname = i % spec.games, _nickname(i)
        cells = draw_cells(words, spec.grid_size, rng.randrange)
        card = Card(game_id=str(game), session_id=nickname, size=spec.grid_size, cells=cells)
        players.append(_Player(nickname, game, joined_at, card))
        data = {"card": list(cells), "marks_per_minute": spec.marks_per_player_per_minute}
        actions.append(Action(joined_at, "join", game, nickname, data))

    for g in range(spec.games):
        actions.extend(_play_game(spec, g, [p for p in players if p.game == g], rate_per_s, rng))
    # Stable: ties keep the causal order in which they were appended.
    actions.sort(key=lambda a: a.t)
    return actions


def _play_game(
    spec: ScenarioSpec, game: int, players: list[_Player], rate_per_s: float, rng: random.Random
) -> list[Action]:
    """Merge the game's players' Poisson mark streams in time order until the game ends."""
    out: list[Action] = []
    # (time, player index): the index breaks ties deterministically.
    queue = [(p.joined_at + rng.expovariate(rate_per_s), i) for i, p in enumerate(players)]
    heapq.heapify(queue)
    while queue:
        t, i = heapq.heappop(queue)
        if t >= spec.duration_s:
            break
        player = players[i]
        remaining = player.remaining()
        pick = rng.randrange(len(remaining))
        word = remaining[pick]
        player.marked.append(word)
        out.append(Action(t, "mark", game, player.nickname, {"pick": pick, "word": word}))
        if spec.bingo_claims:
            done = complete_lines(player.card, player.marked)
            if done:
                # The claim puts the game in `bingo`, which accepts no marks, and the verify
                # ends it: nobody in this game marks again.
                out.append(Action(t, "claim", game, player.nickname, {"line": list(done[0])}))
                verify_at = t + spec.verify_delay_s
                out.append(
                    Action(verify_at, "verify", game, ORGANISER, {"winner": player.nickname})
                )
                return out
        if len(remaining) > 1:
            heapq.heappush(queue, (t + rng.expovariate(rate_per_s), i))
    out.append(Action(spec.duration_s, "end", game, ORGANISER))
    return out


def write_jsonl(
    actions: Iterable[Action], path: str | Path, spec: ScenarioSpec | None = None
) -> None:
    """Write a scenario file: a header line, then one JSON object per action.

    Args:
        actions: The actions, in order.
        path: File to write (overwritten).
        spec: The spec that generated the actions, stored in the header (`null` if omitted).
    """
    header = {"type": HEADER_TYPE, "spec": None if spec is None else spec.to_dict()}
    with Path(path).open("w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(header, sort_keys=True, allow_nan=False) + "\n")
        for action in actions:
            f.write(json.dumps(action.to_dict(), sort_keys=True, allow_nan=False) + "\n")


def read_scenario(path: str | Path) -> tuple[ScenarioSpec | None, list[Action]]:
    """Read a file written by `write_jsonl`.

    Returns:
        The header's spec (None if it had none) and the actions.

    Raises:
        ScenarioError: no scenario header, or a malformed line.
    """
    with Path(path).open(encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    if not lines:
        raise ScenarioError("empty scenario file")
    try:
        header = json.loads(lines[0])
        rows = [json.loads(line) for line in lines[1:]]
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"not JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("type") != HEADER_TYPE:
        raise ScenarioError("first line is not a scenario header")
    spec = None if header.get("spec") is None else ScenarioSpec.from_dict(header["spec"])
    if not all(isinstance(row, dict) for row in rows):
        raise ScenarioError("every action line must be a JSON object")
    return spec, [Action.from_dict(row) for row in rows]


def read_jsonl(path: str | Path) -> list[Action]:
    """Read the actions of a file written by `write_jsonl`.

    Raises:
        ScenarioError: no scenario header, or a malformed line.
    """
    return read_scenario(path)[1]


def summary(actions: Iterable[Action]) -> dict[str, Any]:
    """Summarise a scenario.

    Returns:
        `counts` (actions by kind, every kind present), `games`, `players`, `boards`,
        `duration_s` (time of the last action), `marks`, and `expected_marks`: the sum over
        players of rate x minutes between joining and their game's end (its claim, else its
        `end` action, else the last action), the mean of the model's mark count when no card
        fills up.
    """
    items = list(actions)
    counts: Counter[str] = Counter(a.kind for a in items)
    duration = max((a.t for a in items), default=0.0)
    game_end: dict[int, float] = {}
    for a in items:
        if a.kind in ("claim", "end") and a.game not in game_end:
            game_end[a.game] = a.t
    expected = 0.0
    for a in items:
        if a.kind == "join":
            active_s = max(0.0, game_end.get(a.game, duration) - a.t)
            expected += float(a.data.get("marks_per_minute", 0.0)) * active_s / 60.0
    return {
        "counts": {kind: counts.get(kind, 0) for kind in ACTION_KINDS},
        "games": len({a.game for a in items if a.kind == "create_game"}),
        "players": len({(a.game, a.actor) for a in items if a.kind == "join"}),
        "boards": len({a.actor for a in items if a.kind == "connect_board"}),
        "duration_s": duration,
        "marks": counts.get("mark", 0),
        "expected_marks": expected,
    }
