"""notebooks/05_invocations.ipynb, executed headlessly with papermill as CI runs it.

The test starts its own local stack, reads the stack's metering before and after the notebook
runs against it, and checks results.json against that delta: nothing else uses the stack, so
the two modes' invocations must add up to exactly what the stack metered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_kit import read_figure, run_notebook

from bingo_ops.deploy.stack import StackHandle
from bingo_ops.measure.invocations import metering_delta
from bingo_ops.measure.run_model import FUNCTIONS

FIGURES = ("invocations_per_user_hour", "usd_per_hour", "model_vs_metered", "frontier")


@pytest.mark.slow
def test_results_match_the_stacks_own_metering(
    tmp_path: Path, started_stack: tuple[StackHandle, Path]
) -> None:
    handle, outputs = started_stack
    before = handle.metrics()
    run = run_notebook(
        "05_invocations",
        tmp_path,
        stack=str(outputs),
        players=6,
        games=2,
        boards=2,
        marks_per_player_per_minute=12.0,
        duration_s=3.0,
        speed=1.0,
        poll_interval_s=1.0,
        seed=3,
    )
    delta = metering_delta(before, handle.metrics())
    results = run.results
    push, polling = results["modes"]["push"], results["modes"]["polling"]

    # Invocation counts: both modes together are what the stack metered, function by function.
    functions = delta["lambda"]["functions"]
    for name in FUNCTIONS:
        metered = functions.get(name, {}).get("invocations", 0)
        assert push["invocations"][name] + polling["invocations"][name] == metered, name
    assert (
        push["invocations"]["total"] + polling["invocations"]["total"]
        == (delta["lambda"]["invocations"])
    )
    # Polling opens no WebSocket; push opens one per player and board.
    assert polling["invocations"]["ws_connect"] == 0
    assert push["sessions"] == push["clients"] == 6 + 2
    assert push["messages"]["in"] + polling["messages"]["in"] == delta["websocket"]["messagesIn"]
    assert push["http_requests"] + polling["http_requests"] == delta["http"]["units"]
    assert push["connection_minutes"] == pytest.approx(
        delta["websocket"]["connectionMinutes"], rel=0.02
    )

    # Per-user-hour arithmetic.
    for mode in (push, polling):
        assert mode["user_hours"] > 0
        assert mode["invocations_per_user_hour"] == pytest.approx(
            mode["invocations"]["total"] / mode["user_hours"]
        )
        assert mode["polls_per_user_hour"] == pytest.approx(mode["polls"] / mode["user_hours"])
        assert mode["usd_per_hour"]["total"] > 0
        assert set(mode["model"]["agreement"]) >= {"invocations.total", "http_requests"}
    # A 1 s interval is 3,600 polls per user-hour, plus the boards' final checks.
    assert 3000 < polling["polls_per_user_hour"] < 4500
    assert results["claims"]["seed"]["reduction_percent"] == 99.75
    assert results["conference"]["usd_per_hour"]["push"]["total"] > 0
    # Inline by default: no broadcaster ran.
    assert results["fanout"]["mode"] == "inline"
    assert push["invocations"]["broadcast_boards"] == push["invocations"]["broadcast_players"] == 0
    # The frontier at both scales: inline, stream windows and polling intervals, and the pick.
    for scale in ("run_scale", "conference"):
        rows = results["frontier"][scale]
        assert {r["design"] for r in rows} == {"push-inline", "push-stream", "polling"}
        assert all(r["usd_per_hour"] > 0 and r["board_p99_s"] > 0 for r in rows)
        pick = results["chosen"][scale]
        if pick["chosen"] is not None:
            assert pick["chosen"]["board_p99_s"] <= 0.5
            assert pick["chosen"]["player_p99_s"] <= 3.0
    conference = results["chosen"]["conference"]
    assert conference["meets_staleness"]
    assert conference["within_budget"] == (conference["ratio_to_polling"] <= 0.85)

    for name in FIGURES:
        assert read_figure(run.output_dir, name)["data"]
