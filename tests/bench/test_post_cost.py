"""bench/post_cost.py runs with a few posts and prints one JSON document with both paths.

Timings are the benchmark's to report; what is checked is that every post went through the
adapter and came back as the path says: delivered (the signed-only path answers 200) or gone
(the local stack has no such connections).
"""

from __future__ import annotations

import pytest
from bench_kit import run_bench


@pytest.mark.slow
def test_post_cost_prints_json_for_both_paths() -> None:
    result = run_bench("post_cost.py", "--posts", "20")

    assert result["benchmark"] == "post_cost"
    for row in result["signed"]:
        assert (row["posts"], row["delivered"], row["gone"], row["failed"]) == (20, 20, 0, 0)
        assert row["cpuMsPerPost"] > 0
    for row in result["http"]:
        assert (row["posts"], row["delivered"], row["gone"], row["failed"]) == (20, 0, 20, 0)
    assert [r["concurrency"] for r in result["http"]] == [16, 64]
