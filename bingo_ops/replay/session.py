"""Replay sessions for notebooks and the CLI: scenario in, replay, the stack's own record out."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bingo_ops.deploy.smoke import run_sync
from bingo_ops.deploy.stack import StackHandle, open_stack
from bingo_ops.replay import export
from bingo_ops.replay.replayer import DEFAULT_SETTLE_TIMEOUT_S, ReplaySummary, replay
from bingo_ops.replay.scenario import (
    Action,
    JoinCurve,
    ScenarioSpec,
    generate,
    read_scenario,
    summary,
    write_jsonl,
)

if TYPE_CHECKING:
    import pandas as pd

SCENARIO_FILE: Final = "scenario.jsonl"
EVENTS_FILE: Final = "events.jsonl"
EVENT_TYPES: Final = (
    "game_created",
    "player_joined",
    "word_marked",
    "bingo_claimed",
    "state_changed",
)
DEMO_SPEED: Final = 5.0
"""A speed at which `demo_conference_spec` replays in about ten seconds."""


# -- scenarios --------------------------------------------------------------------------------
def conference_spec(
    *,
    games: int = 1,
    players: int = 8,
    boards: int = 1,
    grid_size: int = 4,
    marks_per_player_per_minute: float = 10.0,
    duration_s: float = 60.0,
    seed: int = 1,
    join_curve: JoinCurve = "front_loaded",
    bingo_claims: bool = True,
) -> ScenarioSpec:
    """A `ScenarioSpec` whose timings follow from its duration, for short notebook runs.

    Players join over the first third of the games (most of them early, `front_loaded`), and
    the organiser verifies a claim after a tenth of the duration (at most 5 s), so a short
    duration still has a join wave, a marking phase and an ending.

    Args:
        games: Games (rooms) played at once.
        players: Players, spread round-robin over the games.
        boards: Public status boards, spread round-robin over the games.
        grid_size: Card size, 3, 4 or 5.
        marks_per_player_per_minute: How busy each player is.
        duration_s: Scenario seconds until games without a bingo are ended.
        seed: The scenario's seed.
        join_curve: How joins spread over the join window.
        bingo_claims: Whether players claim a completed line.

    Raises:
        ScenarioError: invalid values.
    """
    return ScenarioSpec(
        games=games,
        grid_size=grid_size,
        players=players,
        boards=boards,
        marks_per_player_per_minute=marks_per_player_per_minute,
        join_curve=join_curve,
        join_window_s=duration_s / 3,
        duration_s=duration_s,
        bingo_claims=bingo_claims,
        verify_delay_s=min(5.0, duration_s / 10),
        seed=seed,
    )


def demo_conference_spec() -> ScenarioSpec:
    """A small but lively conference: three rooms, six players and a status board each.

    Each room's players mark about every six seconds, so each game reaches a bingo within a
    minute of scenario time; at `DEMO_SPEED` the replay takes about ten seconds.
    """
    return conference_spec(
        games=3,
        players=18,
        boards=3,
        grid_size=4,
        marks_per_player_per_minute=10.0,
        duration_s=60.0,
        seed=2024,
    )


@dataclass(frozen=True)
class PreparedScenario:
    """A scenario ready to replay, saved as JSONL.

    Attributes:
        spec: The spec it was generated from (None for a file without one).
        actions: The actions, in time order.
        path: Where it was written (`output_dir/scenario.jsonl`).
        source: `"generated"`, or the file it was read from.
    """

    spec: ScenarioSpec | None
    actions: list[Action]
    path: Path
    source: str

    @property
    def summary(self) -> dict[str, Any]:
        """`bingo_ops.replay.scenario.summary` of the actions."""
        return summary(self.actions)

    def by_game(self) -> list[dict[str, Any]]:
        """Per game, what the scenario asks for (see `scenario_by_game`)."""
        return scenario_by_game(self.actions)

    def frame(self) -> pd.DataFrame:
        """`by_game` as a pandas frame, one row per game."""
        import pandas as pd

        return pd.DataFrame(self.by_game())


def prepare_scenario(
    scenario: ScenarioSpec | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    spec: ScenarioSpec | None = None,
) -> PreparedScenario:
    """Generate or load a scenario and write it to `output_dir/scenario.jsonl`.

    Args:
        scenario: A spec to generate from; a scenario JSONL path to load; or `""` to generate
            from `spec` (a notebook's "no file given").
        output_dir: Where the scenario file goes (created).
        spec: What to generate when `scenario` is `""`.

    Returns:
        The scenario. Generating is deterministic, so one spec always writes the same bytes.

    Raises:
        ValueError: `scenario` is `""` and there is no `spec`.
        ScenarioError: the file is not a scenario.
        FileNotFoundError: no file at the path.
    """
    if isinstance(scenario, ScenarioSpec):
        spec, actions, source = scenario, generate(scenario), "generated"
    elif not os.fspath(scenario).strip():
        if spec is None:
            raise ValueError("give a scenario file or a spec to generate one from")
        actions, source = generate(spec), "generated"
    else:
        path = Path(scenario)
        if not path.is_file():
            raise FileNotFoundError(f"no scenario file at {path}")
        spec, actions = read_scenario(path)
        source = str(path)
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SCENARIO_FILE
    write_jsonl(actions, target, spec)
    return PreparedScenario(spec, sorted(actions, key=lambda a: a.t), target, source)


def scenario_by_game(actions: Iterable[Action]) -> list[dict[str, Any]]:
    """Per game of a scenario: its joins, marks, claims, model winner and how it ends.

    Returns:
        One row per game index, in order: `game`, `joins`, `marks`, `claims`, `winner` (the
        verified claimant of the model, None without one) and `end` (scenario seconds of the
        game's verify or end action, None if it has neither).
    """
    rows: dict[int, dict[str, Any]] = {}
    for a in actions:
        row = rows.setdefault(
            a.game,
            {"game": a.game, "joins": 0, "marks": 0, "claims": 0, "winner": None, "end": None},
        )
        if a.kind == "join":
            row["joins"] += 1
        elif a.kind == "mark":
            row["marks"] += 1
        elif a.kind == "claim":
            row["claims"] += 1
        elif a.kind == "verify":
            row["winner"] = a.data.get("winner")
        if a.kind in ("verify", "end") and row["end"] is None:
            row["end"] = a.t
    return [rows[g] for g in sorted(rows)]


# -- what the stack recorded ------------------------------------------------------------------
def recorded_by_game(
    events: Iterable[Mapping[str, Any]], games: Mapping[int, str] | None = None
) -> list[dict[str, Any]]:
    """Per game, what its event log holds.

    Args:
        events: Event views with their `gameId` (`export.load_events`).
        games: Game index -> gameId (a replay's `games`), to number the rows; games of the
            log not in it get no index.

    Returns:
        One row per game, games in order of first appearance: `game` (index or None),
        `gameId`, `events`, a count per event type (`EVENT_TYPES`, zeros kept), `players`
        (distinct nicknames that joined), `marks` (`word_marked` events), `claims`
        (`bingo_claimed` events), `top_points` (the highest total a mark reported), `winner`
        (of the change to `ended`, None without a verified claim) and `final_state` (the last
        state change's new state; `open` when none).
    """
    index = {gid: i for i, gid in (games or {}).items()}
    rows: dict[str, dict[str, Any]] = {}
    players: dict[str, set[str]] = {}
    for event in events:
        gid = export.event_game_id(event)
        row = rows.get(gid)
        if row is None:
            row = rows[gid] = {
                "game": index.get(gid),
                "gameId": gid,
                "events": 0,
                **dict.fromkeys(EVENT_TYPES, 0),
                "players": 0,
                "marks": 0,
                "claims": 0,
                "top_points": 0,
                "winner": None,
                "final_state": "open",
            }
            players[gid] = set()
        kind, data = str(event["type"]), event.get("data") or {}
        row["events"] += 1
        row[kind] = row.get(kind, 0) + 1
        if kind == "player_joined":
            players[gid].add(str(data.get("nickname")))
        elif kind == "word_marked":
            row["marks"] += 1
            row["top_points"] = max(row["top_points"], int(data.get("points") or 0))
        elif kind == "bingo_claimed":
            row["claims"] += 1
        elif kind == "state_changed":
            row["final_state"] = data.get("newState", row["final_state"])
            if data.get("winner") is not None:
                row["winner"] = data["winner"]
    for gid, row in rows.items():
        row["players"] = len(players[gid])
    return list(rows.values())


def totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The counts of `recorded_by_game` rows summed over games."""
    keys = ("events", *EVENT_TYPES, "players", "marks", "claims")
    out: Counter[str] = Counter()
    for row in rows:
        for key in keys:
            out[key] += int(row.get(key, 0))
    return {key: out[key] for key in keys}


def compare(
    planned: Sequence[Mapping[str, Any]], recorded: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Side by side, per game index: what the scenario asked for and what the stack recorded.

    Marks can fall short of the scenario when a real card fills up before the model's did;
    claims and winners differ because the stack draws the real cards.

    Args:
        planned: `scenario_by_game` rows.
        recorded: `recorded_by_game` rows with their game index.
    """
    by_index = {r["game"]: r for r in recorded if r.get("game") is not None}
    out = []
    for plan in planned:
        got = by_index.get(plan["game"], {})
        out.append(
            {
                "game": plan["game"],
                "gameId": got.get("gameId"),
                "scenario_joins": plan["joins"],
                "recorded_joins": got.get("player_joined", 0),
                "scenario_marks": plan["marks"],
                "recorded_marks": got.get("marks", 0),
                "scenario_claims": plan["claims"],
                "recorded_claims": got.get("claims", 0),
                "scenario_winner": plan["winner"],
                "recorded_winner": got.get("winner"),
                "final_state": got.get("final_state"),
            }
        )
    return out


@dataclass
class SessionResult:
    """What a replay session did and what the stack recorded.

    Attributes:
        scenario: The scenario replayed.
        replay: The replayer's summary.
        events: The stack's event log of the replayed games (views with `gameId`).
        events_path: Where the log was written (`output_dir/events.jsonl`).
        speed: The speed factor.
        recorded: `recorded_by_game` of `events`, numbered by game index.
        comparison: `compare` of the scenario with `recorded`.
    """

    scenario: PreparedScenario
    replay: ReplaySummary
    events: list[dict[str, Any]]
    events_path: Path
    speed: float
    recorded: list[dict[str, Any]] = field(default_factory=list)
    comparison: list[dict[str, Any]] = field(default_factory=list)

    def checks(self) -> dict[str, bool]:
        """Whether the stack's log agrees with what the replay did.

        `marks`: `word_marked` events equal the marks the server accepted as new; `joins`:
        `player_joined` events equal the scenario's joins (no join failed); `claims`:
        `bingo_claimed` events equal the claims sent; `ended`: every game ended.
        """
        total = totals(self.recorded)
        return {
            "marks": total["word_marked"] == self.replay.marks_ok,
            "joins": total["player_joined"] == self.scenario.summary["counts"]["join"],
            "claims": total["bingo_claimed"] == self.replay.claims_sent,
            "ended": all(r["final_state"] == "ended" for r in self.recorded),
        }

    def frame(self) -> pd.DataFrame:
        """The event log as an `analytics.frames.events_frame`."""
        return export.events_frame(self.events)

    def recorded_frame(self) -> pd.DataFrame:
        """`recorded`, one row per game."""
        import pandas as pd

        return pd.DataFrame(self.recorded)

    def comparison_frame(self) -> pd.DataFrame:
        """`comparison`, one row per game."""
        import pandas as pd

        return pd.DataFrame(self.comparison)

    def results(self) -> dict[str, Any]:
        """Headline figures for `results.json`: scenario, replay, recorded counts, checks."""
        spec = self.scenario.spec
        return {
            "speed": self.speed,
            "scenario": {
                "source": self.scenario.source,
                "spec": None if spec is None else spec.to_dict(),
                **self.scenario.summary,
            },
            "replay": self.replay.as_dict(),
            "recorded": {row["gameId"]: row for row in self.recorded},
            "recorded_totals": totals(self.recorded),
            "comparison": self.comparison,
            "checks": self.checks(),
            "files": {"scenario": str(self.scenario.path), "events": str(self.events_path)},
        }


async def replay_session(
    stack: StackHandle,
    scenario: ScenarioSpec | PreparedScenario | str | os.PathLike[str],
    *,
    speed: float,
    output_dir: str | os.PathLike[str],
    spec: ScenarioSpec | None = None,
    progress: bool = True,
    connect_players: bool = True,
    settle_timeout_s: float = DEFAULT_SETTLE_TIMEOUT_S,
) -> SessionResult:
    """Replay a scenario on a stack and read back what the stack recorded.

    Generates or loads the scenario (`prepare_scenario`, unless already prepared), replays it
    at `speed`, exports the event log of the games it created to `output_dir/events.jsonl`,
    and compares the two.

    Args:
        stack: The stack (its outputs and an admin token).
        scenario: A prepared scenario, a spec, a scenario JSONL path, or `""` with `spec`.
        speed: Time compression (10 plays a 60 s scenario in 6 s).
        output_dir: Where the scenario and the event log are written.
        spec: What to generate when `scenario` is `""`.
        progress: Show the replay's progress bar.
        connect_players: Whether each player also opens a WebSocket.
        settle_timeout_s: How long boards may take to catch up at the end.

    Raises:
        ValueError: `speed` is not positive, or nothing to generate from.
        ScenarioError: a bad scenario file.
        httpx.HTTPError: the stack could not be reached.
    """
    prepared = (
        scenario
        if isinstance(scenario, PreparedScenario)
        else prepare_scenario(scenario, output_dir, spec)
    )
    token = stack.admin_token(subject="bingo-ops replay")
    outcome = await replay(
        prepared.actions,
        stack.outputs,
        admin_token=token,
        speed=speed,
        connect_players=connect_players,
        progress=progress,
        settle_timeout_s=settle_timeout_s,
    )
    game_ids = [outcome.games[i] for i in sorted(outcome.games)]
    events = await export.fetch_stack_events(stack.outputs, token=token, game_ids=game_ids)
    events_path = export.write_events(events, Path(output_dir) / EVENTS_FILE)
    recorded = recorded_by_game(events, outcome.games)
    return SessionResult(
        scenario=prepared,
        replay=outcome,
        events=events,
        events_path=events_path,
        speed=speed,
        recorded=recorded,
        comparison=compare(prepared.by_game(), recorded),
    )


def run_session(
    stack: StackHandle,
    scenario: ScenarioSpec | PreparedScenario | str | os.PathLike[str],
    *,
    speed: float,
    output_dir: str | os.PathLike[str],
    **options: Any,
) -> SessionResult:
    """`replay_session` from synchronous code (the CLI, a script, a notebook cell).

    Takes the same arguments; see `replay_session`.
    """
    return run_sync(
        lambda: replay_session(stack, scenario, speed=speed, output_dir=output_dir, **options)
    )


# -- the engagement notebook's input ----------------------------------------------------------
def engagement_spec(seed: int = 1) -> ScenarioSpec:
    """The small scenario replayed when the engagement notebook is given no event log."""
    return conference_spec(
        games=2,
        players=10,
        boards=1,
        grid_size=4,
        marks_per_player_per_minute=20.0,
        duration_s=40.0,
        seed=seed,
    )


@dataclass
class EngagementLog:
    """An event log to chart, with the scenario behind it when there is one.

    Attributes:
        events: Event views with their `gameId`.
        source: Where they came from (a description).
        events_path: The log as written to the output dir (`events.jsonl`).
        scenario_path: The scenario JSONL for word popularity (events carry no words).
        session: The replay that produced the log, when one was run for it.
    """

    events: list[dict[str, Any]]
    source: str
    events_path: Path
    scenario_path: Path | None = None
    session: SessionResult | None = None
    _frame: Any = field(default=None, repr=False)

    def frame(self) -> pd.DataFrame:
        """The log as an `analytics.frames.events_frame` (computed once)."""
        if self._frame is None:
            self._frame = export.events_frame(self.events)
        return self._frame

    def popularity(self) -> pd.DataFrame:
        """Word popularity from the scenario; an empty frame without one."""
        from bingo_ops.analytics import frames

        return frames.word_popularity([] if self.scenario_path is None else self.scenario_path)

    def busiest_game(self) -> str | None:
        """The game with the most marks (for the leaderboard race), None without marks."""
        counts = Counter(export.event_game_id(e) for e in self.events if e["type"] == "word_marked")
        return min(counts, key=lambda g: (-counts[g], g)) if counts else None

    def results(self, freq: str = "1min", top: int = 10) -> dict[str, Any]:
        """The headline engagement figures for `results.json`.

        Args:
            freq: The interval of the active-player counts.
            top: How many words to list.

        Returns:
            `source`, `games`, `events`, `active_players_peak` (most distinct players marking in
            one interval, all games together) and `active_players_peak_by_game`,
            `marks_by_game`, `time_to_first_bingo_s` (per game, None without a claim),
            `funnel` (per game) and `funnel_totals`, `top_words`.
        """
        from bingo_ops.analytics import frames

        data = self.frame()
        active = frames.active_players(data, freq)
        overall = active.groupby("interval")["players"].sum()
        first_bingo = frames.time_to_first_bingo(data)
        funnel = frames.funnel(data)
        stages = [c for c in funnel.columns if c != "gameId"]
        marks = Counter(export.event_game_id(e) for e in self.events if e["type"] == "word_marked")
        games = sorted({export.event_game_id(e) for e in self.events})
        return {
            "source": self.source,
            "games": len(games),
            "events": len(self.events),
            "active_players_freq": freq,
            "active_players_peak": int(overall.max()) if len(overall) else 0,
            "active_players_peak_by_game": {
                str(g): int(v) for g, v in active.groupby("gameId")["players"].max().items()
            },
            "marks_by_game": {g: marks.get(g, 0) for g in games},
            "time_to_first_bingo_s": dict(
                zip(first_bingo["gameId"], first_bingo["seconds"], strict=True)
            ),
            "funnel": {
                row["gameId"]: {s: int(row[s]) for s in stages} for row in funnel.to_dict("records")
            },
            "funnel_totals": {s: int(funnel[s].sum()) for s in stages},
            "top_words": self.popularity().head(top).to_dict("records"),
        }


def load_engagement(
    stack: str | os.PathLike[str] | StackHandle = "",
    events: str | os.PathLike[str] = "",
    scenario: str | os.PathLike[str] = "",
    *,
    output_dir: str | os.PathLike[str],
    spec: ScenarioSpec | None = None,
    speed: float = 20.0,
    progress: bool = True,
) -> EngagementLog:
    """The engagement notebook's event log, from wherever it is, saved to the output dir.

    `events` wins: `"dynamodb:TABLE"`, a JSONL export, or a stack outputs file
    (`export.load_events`). Otherwise `stack` is read over HTTP (`export.load_events`). With
    neither, `spec` (default `engagement_spec()`) is replayed at `speed` on a fresh local
    stack started for the purpose and stopped afterwards, so the notebook always has data.

    Args:
        stack: A stack outputs file or handle; `""` for none.
        events: An event source as above; `""` for none.
        scenario: A scenario JSONL for word popularity; `""` for none (the generated one when
            a scenario is replayed here).
        output_dir: Where `events.jsonl` (and a replayed scenario) go.
        spec: What to replay when there is neither `events` nor `stack`.
        speed: The replay's speed.
        progress: Show the replay's progress bar.
    """
    folder = Path(output_dir)
    scenario_path = Path(scenario) if os.fspath(scenario).strip() else None
    session = None
    if os.fspath(events).strip():
        found, source = export.load_events(events), os.fspath(events)
    elif isinstance(stack, StackHandle) or os.fspath(stack).strip():
        handle = stack if isinstance(stack, StackHandle) else open_stack(stack)
        try:
            found = export.load_events(handle)
        finally:
            if handle is not stack:
                handle.close()
        source = f"stack {handle.outputs.get('httpUrl')}"
    else:
        with open_stack("") as handle:
            session = run_session(
                handle,
                spec or engagement_spec(),
                speed=speed,
                output_dir=folder,
                progress=progress,
            )
        found, source = session.events, "a scenario replayed on a fresh local stack"
        scenario_path = scenario_path or session.scenario.path
    path = export.write_events(found, folder / EVENTS_FILE)
    return EngagementLog(found, source, path, scenario_path, session)
