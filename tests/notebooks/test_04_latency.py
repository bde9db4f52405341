"""notebooks/04_latency.ipynb, executed headlessly with papermill as CI runs it.

The run's results.json is checked against the stack's own event log (the marks it counted are
the game's `word_marked` events) and against physical bounds: push and polling both deliver
every mark to every client, nothing before its mark, and a poll no later than the interval
plus round trips.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from notebook_kit import read_figure, run_notebook

from bingo_ops.deploy.stack import StackHandle

SMALL = {
    "players": 3,
    "push_subscribers": 3,
    "pollers": 2,
    "poll_interval_s": 1.0,
    "duration_s": 3.0,
    "marks_per_second": 4.0,
    "seed": 3,
}
# Scheduling slack of one event loop carrying every client on a 2-core machine.
LOOP_SLACK_MS = 500.0


def _word_marked_seqs(handle: StackHandle, game_id: str) -> tuple[list[int], str]:
    headers = {"authorization": f"Bearer {handle.admin_token()}"}
    base = handle.outputs["httpUrl"]
    seqs: list[int] = []
    after = 0
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        while True:
            page = client.get(f"/games/{game_id}/events", params={"after": after}).json()
            seqs += [e["seq"] for e in page["events"] if e["type"] == "word_marked"]
            if not page["events"]:
                break
            after = page["nextAfter"]
        state = client.get(f"/games/{game_id}").json()["state"]
    return seqs, state


@pytest.mark.slow
def test_latency_notebook_measures_push_and_polling_of_the_same_marks(
    tmp_path: Path, started_stack: tuple[StackHandle, Path]
) -> None:
    handle, outputs = started_stack
    run = run_notebook("04_latency", tmp_path, stack=str(outputs), **SMALL)
    results = run.results

    seqs, state = _word_marked_seqs(handle, results["gameId"])
    marks = round(SMALL["duration_s"] * SMALL["marks_per_second"])
    assert results["marks"] == len(seqs) == marks
    assert results["markSeqs"] == sorted(seqs)
    assert state == "ended"  # the notebook ended its game; the attached stack keeps running
    assert results["parameters"] | SMALL == results["parameters"]

    push, polling = results["push"], results["polling"]
    assert push["count"] == push["expected"] == marks * SMALL["push_subscribers"]
    assert polling["count"] == polling["expected"] == marks * SMALL["pollers"]
    assert push["missing"] == polling["missing"] == 0
    for stats in (push, polling):
        assert 0 <= stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"]
    allowance = results["markRttMs"]["max"] + results["pollRttMs"]["max"] + LOOP_SLACK_MS
    assert polling["max"] <= SMALL["poll_interval_s"] * 1000 + allowance
    assert results["verdict"].startswith(("The claim", "The push half"))
    assert f"{marks} marks" in results["verdict"]

    for name in ("latency_cdf", "latency_histogram"):
        figure = read_figure(run.output_dir, name)
        assert sum(len(trace["x"]) for trace in figure["data"]) == push["count"] + polling["count"]
