"""Load scenarios for replay against a stack: a seeded, deterministic schedule of game actions."""

from __future__ import annotations

from bingo_ops.replay.scenario import (
    ACTION_KINDS,
    Action,
    ActionKind,
    JoinCurve,
    ScenarioError,
    ScenarioSpec,
    generate,
    read_jsonl,
    read_scenario,
    summary,
    write_jsonl,
)

__all__ = [
    "ACTION_KINDS",
    "Action",
    "ActionKind",
    "JoinCurve",
    "ScenarioError",
    "ScenarioSpec",
    "generate",
    "read_jsonl",
    "read_scenario",
    "summary",
    "write_jsonl",
]
