"""Fixtures of the notebook tests: a local stack of the test's own to run a notebook against."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bingo_ops.deploy.local import OUTPUTS_FILE
from bingo_ops.deploy.stack import StackHandle, open_stack


@pytest.fixture
def started_stack(tmp_path: Path) -> Iterator[tuple[StackHandle, Path]]:
    """A fresh local stack in tmp_path/state and its outputs file, stopped after the test.

    The outputs file is the one the stack wrote in its state dir, as `bingo-ops serve
    --outputs` leaves one; a notebook given it attaches to the stack and leaves it running.
    """
    with open_stack("", state_dir=tmp_path / "state") as handle:
        assert handle.state_dir is not None
        outputs = handle.state_dir / OUTPUTS_FILE
        assert json.loads(outputs.read_text()) == handle.outputs
        yield handle, outputs
