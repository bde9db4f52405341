"""Tokens signed with a local state dir's secrets, for operators and scripts."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from backend import wiring
from bingo_ops.state import StateDir


def mint(state_dir: Path, kind: str, *, subject: str | None = None) -> str:
    """An admin or public token from the secrets in `state_dir` (created on first use).

    Raises:
        ValueError: `kind` is neither `admin` nor `public`.
    """
    service = wiring.build_tokens(StateDir(state_dir).environment())
    now = time.time()
    if kind == "admin":
        return service.issue_admin(subject or "cli-admin", now=now)
    if kind == "public":
        return service.issue_public(subject or uuid.uuid4().hex, now=now)[0]
    raise ValueError(f"unknown token kind {kind!r}; use admin or public")
