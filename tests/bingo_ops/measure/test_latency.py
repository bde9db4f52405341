"""Push latency vs polling staleness: the pure summaries and verdict, and one real local run."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bingo_ops.client.http import BingoHttp
from bingo_ops.deploy.stack import StackHandle, open_stack
from bingo_ops.measure.latency import (
    LatencyResult,
    LatencySample,
    MarkRecord,
    Missing,
    judge,
    measure_latency,
    measure_latency_sync,
    mode_stats,
    percentile_table,
)
from bingo_ops.measure.latency_figures import cdf_figure, histogram_figure

# -- pure parts -----------------------------------------------------------------------------


def _sample(mode: Any, ms: float, seq: int = 1, client: str = "c") -> LatencySample:
    return LatencySample(mode, client, seq, ms, received=1000.0 + ms / 1000, event_ms=1_000_000)


def test_mode_stats_are_nearest_rank_percentiles_and_none_without_samples() -> None:
    hundred = [float(v) for v in range(100, 0, -1)]  # 100..1, unsorted on purpose
    assert mode_stats(hundred) == {
        "count": 100,
        "p50": 50.0,
        "p95": 95.0,
        "p99": 99.0,
        "max": 100.0,
    }
    assert mode_stats([]) == {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}


def test_percentile_table_has_one_row_per_mode() -> None:
    samples = [_sample("push", float(v)) for v in range(1, 21)]
    samples += [_sample("polling", 1000.0 * v) for v in (1, 2, 3)]

    table = percentile_table(samples)

    assert list(table.index) == ["push", "polling"]
    assert table.loc["push"].to_dict() == {
        "count": 20,
        "p50_ms": 10.0,
        "p95_ms": 19.0,
        "p99_ms": 20.0,
        "max_ms": 20.0,
    }
    assert table.loc["polling", "p50_ms"] == 2000.0
    assert table.loc["polling", "max_ms"] == 3000.0


@pytest.mark.parametrize(
    ("push_p99", "poll_p99", "opening", "fragments"),
    [
        (12.0, 2_950.0, "The claim holds", ["12 ms (under 100 ms)", "2.95 s (within 0-3 s)"]),
        (99.9, 3_000.0, "The claim holds", ["(under 100 ms)", "(within 0-3 s)"]),
        (100.0, 1_500.0, "The claim does not hold", ["100 ms (not under 100 ms)"]),
        (
            20.0,
            3_080.0,
            "The claim holds",
            ["3.08 s (within 0-3 s plus a round trip)"],
        ),
        (
            20.0,
            3_200.0,
            "The push half of the claim holds",
            ["but the polling baseline differs", "3.20 s (beyond 0-3 s)"],
        ),
    ],
)
def test_verdict_thresholds(
    push_p99: float, poll_p99: float, opening: str, fragments: list[str]
) -> None:
    verdict = judge(push_p99, poll_p99, 3.0, scale="5 players")

    assert verdict.startswith(f"{opening} at this scale (5 players)")
    for fragment in fragments:
        assert fragment in verdict
    assert "assumes 3 s polling" not in verdict


def test_verdict_with_another_interval_judges_polling_against_that_interval() -> None:
    verdict = judge(5.0, 950.0, 1.0)

    assert verdict.startswith("The claim holds at this scale:")
    assert "polling every 1 s had p99 staleness 950 ms (within 0-1 s)" in verdict
    assert "assumes 3 s polling, so the baseline is judged against 0-1 s" in verdict


def test_verdict_counts_lost_deliveries_as_unbounded_and_refuses_without_samples() -> None:
    lost = judge(5.0, 2_000.0, 3.0, push_missing_share=0.02)
    assert lost.startswith("The claim does not hold")
    assert "2.0% of WebSocket push deliveries never arrived" in lost
    tolerated = judge(5.0, 2_000.0, 3.0, push_missing_share=0.01)
    assert tolerated.startswith("The claim holds")
    assert judge(None, 2_000.0, 3.0) == "No verdict at this scale: no push samples were measured."


def _result() -> LatencyResult:
    parameters = {
        "players": 2,
        "push_subscribers": 2,
        "pollers": 1,
        "poll_interval_s": 3.0,
        "duration_s": 1.0,
        "marks_per_second": 2.0,
    }
    result = LatencyResult("g1", parameters, push_clients=["b0", "b1"], pollers=["p0"])
    result.marks = [MarkRecord(5, "player-0", 100.0, 9.0), MarkRecord(6, "player-1", 100.5, 8.0)]
    result.samples = [
        _sample("push", 4.0, 5, "b0"),
        _sample("push", 6.0, 6, "b0"),
        _sample("push", 5.0, 5, "b1"),
        _sample("polling", 1_200.0, 5, "p0"),
        _sample("polling", 700.0, 6, "p0"),
    ]
    result.missing = [Missing("push", "b1", 6)]
    return result


def test_a_result_summarises_counts_missing_and_verdict() -> None:
    result = _result()

    summary = result.as_results()

    assert summary["marks"] == 2
    assert summary["markSeqs"] == [5, 6]
    assert summary["push"] == {
        "count": 3,
        "expected": 4,
        "missing": 1,
        "p50": 5.0,
        "p95": 6.0,
        "p99": 6.0,
        "max": 6.0,
    }
    assert summary["polling"]["count"] == summary["polling"]["expected"] == 1 * 2
    # A quarter of the push deliveries were lost: far over the 1% a p99 tolerates.
    assert summary["verdict"].startswith("The claim does not hold at this scale (2 players")
    assert "25.0% of WebSocket push deliveries never arrived" in summary["verdict"]
    table = result.percentile_table()
    assert table.loc["push", "missing"] == 1
    assert table.loc["polling", "expected"] == 2


def test_frame_and_figures_carry_every_sample() -> None:
    frame = _result().frame()

    assert len(frame) == 5
    assert {"mode", "client", "seq", "ms", "event_ms", "since_event_ms"} <= set(frame.columns)
    cdf = cdf_figure(frame, poll_interval_s=3.0, log_x=True)
    assert [len(trace.x) for trace in cdf.data] == [3, 2]
    assert list(cdf.data[0].y) == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert cdf.layout.xaxis.type == "log"
    histogram = histogram_figure(frame)
    assert sorted(len(trace.x) for trace in histogram.data) == [2, 3]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"players": 1, "duration_s": 30, "marks_per_second": 1}, "30 marks need more words"),
        ({"grid_size": 6}, "grid_size must be one of"),
        ({"poll_interval_s": 0}, "must be positive"),
        ({"push_kind": "fax"}, "push_kind must be"),
    ],
)
def test_impossible_runs_are_refused_before_touching_the_stack(
    options: dict[str, Any], message: str
) -> None:
    nowhere = {"httpUrl": "http://127.0.0.1:9", "wsUrl": "ws://127.0.0.1:9"}
    with pytest.raises(ValueError, match=message):
        asyncio.run(measure_latency(nowhere, "token", progress=False, **options))


# -- a real run -----------------------------------------------------------------------------

POLL_INTERVAL_S = 1.0
# Scheduling slack of one event loop carrying every client on a 2-core machine.
LOOP_SLACK_MS = 500.0


@pytest.fixture(scope="module")
def stack() -> Iterator[StackHandle]:
    with open_stack("") as handle:
        yield handle


async def _events(stack: StackHandle, game_id: str) -> tuple[list[dict[str, Any]], str]:
    async with BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as admin:
        return await admin.all_events(game_id), (await admin.game(game_id))["state"]


@pytest.mark.slow
def test_one_run_delivers_every_mark_to_every_client_within_physical_bounds(
    stack: StackHandle,
) -> None:
    result = measure_latency_sync(
        stack.outputs,
        stack.admin_token(),
        players=3,
        push_subscribers=3,
        pollers=2,
        poll_interval_s=POLL_INTERVAL_S,
        duration_s=3.0,
        marks_per_second=4.0,
        seed=7,
        progress=False,
    )
    log, state = asyncio.run(_events(stack, result.game_id))

    # The driver's marks are exactly the stack's own word_marked events.
    marked = {e["seq"]: e for e in log if e["type"] == "word_marked"}
    assert len(result.marks) == 12
    assert result.mark_seqs == sorted(marked)
    assert not result.mark_errors
    assert not result.poll_errors
    assert state == "ended"

    # Every push subscriber got every mark's event exactly once, and so did every poller.
    assert result.missing == []
    assert result.push_clients == ["board-0", "player-1-phone-1", "board-2"]
    for mode, clients in (("push", result.push_clients), ("polling", result.pollers)):
        seen = Counter((s.client, s.seq) for s in result.samples if s.mode == mode)
        assert seen == Counter({(c, seq): 1 for c in clients for seq in result.mark_seqs})
    stats = result.stats()
    assert stats["push"]["count"] == len(result.marks) * 3
    assert stats["polling"]["count"] == len(result.marks) * 2

    # Each sample keeps the server's own timestamp of its event.
    assert all(s.event_ms == marked[s.seq]["timestamp"] for s in result.samples)

    # Physical bounds: nothing arrives before its mark was requested; a poll delivers an event
    # at most T after it was stored, plus the mark's and the poll's own round trips.
    rtt = {m.seq: m.rtt_ms for m in result.marks}
    assert all(s.ms >= 0 for s in result.samples)
    for sample in (s for s in result.samples if s.mode == "polling"):
        assert sample.poll_rtt_ms is not None
        bound = POLL_INTERVAL_S * 1000 + rtt[sample.seq] + sample.poll_rtt_ms + LOOP_SLACK_MS
        assert sample.ms <= bound, sample
    assert sum(result.polls.values()) >= 2 * 3  # each poller polled through the ~3 s of marks
    assert result.verdict().startswith(("The claim", "The push half"))
