"""notebooks/05_invocations.ipynb, executed headlessly with papermill as CI runs it.

The test starts its own local stack, reads the stack's metering before and after the notebook
runs against it, and checks results.json against that delta: nothing else uses the stack, so
the two modes' invocations must add up to exactly what the stack metered.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from bingo_ops.deploy.local import OUTPUTS_FILE
from bingo_ops.deploy.stack import open_stack
from bingo_ops.measure.invocations import metering_delta
from bingo_ops.notebooks.execute import execute_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "05_invocations.ipynb"
PARAMETERS = {
    "stack",
    "output_dir",
    "players",
    "games",
    "boards",
    "marks_per_player_per_minute",
    "duration_s",
    "speed",
    "poll_interval_s",
    "seed",
    "fanout",
    "board_window_s",
    "player_window_s",
}
FUNCTIONS = (
    "ws_authorizer",
    "ws_connect",
    "ws_disconnect",
    "ws_message",
    "http_api",
    "broadcast_boards",
    "broadcast_players",
)
FIGURES = ("invocations_per_user_hour", "usd_per_hour", "model_vs_metered", "frontier")


def test_the_committed_notebook_has_parameters_first_and_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert "parameters" in notebook.cells[0].metadata.get("tags", [])
    names = {line.split("=")[0].strip() for line in code[0].source.splitlines() if "=" in line}
    assert names == PARAMETERS
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_results_match_the_stacks_own_metering(tmp_path: Path) -> None:
    output_dir = tmp_path / "reports"
    with open_stack("", state_dir=tmp_path / "state") as handle:
        outputs_file = tmp_path / "state" / OUTPUTS_FILE
        before = handle.metrics()
        execute_notebook(
            NOTEBOOK,
            tmp_path / "executed.ipynb",
            {
                "stack": str(outputs_file),
                "output_dir": str(output_dir),
                "players": 6,
                "games": 2,
                "boards": 2,
                "marks_per_player_per_minute": 12.0,
                "duration_s": 3.0,
                "speed": 1.0,
                "poll_interval_s": 1.0,
                "seed": 3,
            },
            cwd=tmp_path,
        )
        delta = metering_delta(before, handle.metrics())
    results = json.loads((output_dir / "results.json").read_text())
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
        assert (output_dir / f"{name}.html").is_file()
        figure = json.loads((output_dir / f"{name}.json").read_text())
        assert figure["data"]
