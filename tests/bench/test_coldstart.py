"""bench/coldstart.py runs (one run per case) and prints one JSON document with every case.

Timings are the benchmark's to report, never this test's to judge; what is checked is that the
output is complete and that no handler on the SQLite wiring imported boto3.
"""

from __future__ import annotations

import pytest
from bench_kit import run_bench

HANDLERS = {"ws_authorizer", "ws_connect", "ws_disconnect", "ws_message", "http_api"}


@pytest.mark.slow
def test_coldstart_prints_json_for_every_handler_and_case() -> None:
    result = run_bench("coldstart.py", "--runs", "1")

    assert result["runs"] == 1
    assert result["layout"] == "bundle"
    assert result["bare"]["wallMs"] > 0
    assert set(result["handlers"]) == HANDLERS
    for cases in result["handlers"].values():
        assert set(cases) == {"import", "sqlite", "dynamodb"}
        for case in ("import", "sqlite"):
            assert cases[case]["boto3"] is False
            assert cases[case]["botocore"] is False
        assert cases["sqlite"]["buildError"] is None
    assert result["target"]["boto3WhereNotNeeded"] == []
