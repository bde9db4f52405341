"""Runs a benchmark script the way its docstring says, and reads the JSON it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    """`python bench/<script> <args>` from the repository root; its stdout parsed as JSON.

    Raises:
        AssertionError: it exited with an error (its stderr is the message).
    """
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)  # stdout is the JSON and nothing else
    return result
