"""The default word list for games created without one."""

from __future__ import annotations

DEFAULT_WORDS: tuple[str, ...] = (
    "synergy", "paradigm shift", "leverage", "deep dive", "circle back", "low-hanging fruit",
    "move the needle", "bandwidth", "scalable", "serverless", "cloud-native", "AI-powered",
    "blockchain", "digital transformation", "disruptive", "best practice", "agile", "pivot",
    "north star", "actionable insights", "holistic", "stakeholder", "ecosystem", "game changer",
    "thought leadership", "value add", "touch base", "win-win", "single source of truth",
    "shift left", "observability", "microservices", "zero trust", "data-driven", "at scale",
    "mission-critical", "next-gen", "frictionless", "hyper-personalised", "empower",
    "growth hacking", "omnichannel", "future-proof", "seamless", "robust", "innovation",
    "big data", "edge computing", "DevOps", "GenAI",
)  # fmt: skip
