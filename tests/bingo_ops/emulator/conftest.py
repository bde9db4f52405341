"""Fixtures of the emulator's fidelity tests: a stack factory over the test's own state dir."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from gateway_kit import running_stack

from backend import wiring
from bingo_ops.emulator.server import LocalStack

StartStack = Callable[..., AbstractAsyncContextManager[LocalStack]]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """The stack's state dir (SQLite file and secrets), fresh per test."""
    return tmp_path / "state"


@pytest.fixture
def start_stack(state_dir: Path) -> StartStack:
    """`async with start_stack(**options) as stack:` inside the test's own event loop."""
    start: Callable[..., Any] = functools.partial(running_stack, state_dir)
    return start


@pytest.fixture(autouse=True)
def _unwired() -> Iterator[None]:
    # Handlers find their dependencies in one global; no test may leave its stack's there.
    yield
    wiring.install(None)
