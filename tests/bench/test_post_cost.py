"""bench/post_cost.py runs with a few posts and prints one JSON document with both paths.

Timings are the benchmark's to report; what is checked is that every post went through the
adapter and came back as the path says: delivered (the signed-only path answers 200) or gone
(the local stack has no such connections).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_post_cost_prints_json_for_both_paths() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "post_cost.py"), "--posts", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["benchmark"] == "post_cost"
    for row in result["signed"]:
        assert (row["posts"], row["delivered"], row["gone"], row["failed"]) == (20, 20, 0, 0)
        assert row["cpuMsPerPost"] > 0
    for row in result["http"]:
        assert (row["posts"], row["delivered"], row["gone"], row["failed"]) == (20, 0, 20, 0)
    assert [r["concurrency"] for r in result["http"]] == [16, 64]
