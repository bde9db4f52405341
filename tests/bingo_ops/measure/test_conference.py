"""The conference benchmark, reduced: the same code path as the full run, small numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from bingo_ops.measure.conference import (
    CONFIGS,
    DYNAMODB_KEYS,
    ConferenceSpec,
    Config,
    PhaseShape,
    metered_counts,
    predict_span,
    run_conference,
    summarise,
)
from bingo_ops.measure.invocations import metering_delta
from bingo_ops.measure.run_model import agreement

SPEC = ConferenceSpec(
    players=12,
    games=2,
    boards=2,
    marks_per_minute=6.0,
    duration_s=10.0,
    board_window_s=0.1,
    player_window_s=0.5,
    poll_interval_s=1.0,
    seed=3,
    sample_players=0,
    settle_s=5.0,
    wall_cap_s=60.0,
)
# Physical bounds, generous for a loaded CI machine: the round trips of a mark and of a poll
# (or the stream's read interval and the broadcaster's posts) on top of the window.
ALLOWANCE_S = 1.5


# -- the model, no stack ---------------------------------------------------------------------------
# `predict_span` is `run_model.predict_run` over the span minus the same sessions' set-up: every
# session is open from before the span to its end, so its authorizer, `$connect`, `$disconnect`,
# subscribe (and pings) cancel out, and what is left is what the marks and polls caused.


def test_inline_prediction_posts_two_messages_per_mark_to_every_subscriber_of_its_game() -> None:
    shape = PhaseShape(
        config="inline",
        span_s=60.0,
        marks=((1.0, 0), (2.0, 1), (3.0, 1)),
        boards_per_game=(1, 2),
        players_per_game=(5, 10),
    )
    counts = predict_span(shape)
    # The session set-up is outside the span: only the marks' own invocations are left.
    assert counts["invocations.http_api"] == 3
    assert counts["invocations.total"] == 3
    # A mark is an activity_event and a leaderboard_update (one unit each) to every session of
    # its game: game 0 has 1 + 5 of them, game 1 (two marks) 2 + 10.
    assert counts["ws_message_units_out"] == 2 * 6 + 2 * 2 * 12
    assert counts["ws_message_units_in"] == 0
    # 18 connections open for the whole minute.
    assert counts["ws_connection_minutes"] == pytest.approx(18.0)
    assert counts["http_requests"] == 3


def test_stream_prediction_coalesces_marks_of_one_window_into_one_invocation() -> None:
    # Two bursts, far apart: one invocation per audience and burst (the first burst's records
    # are written within 0.03 s, well inside either window; the second comes 10 s later, after
    # both windows have closed and inside the 20 s span).
    marks = ((0.0, 0), (0.01, 0), (0.02, 1), (10.0, 0))
    shape = PhaseShape(
        config="stream",
        span_s=20.0,
        marks=marks,
        boards_per_game=(1, 1),
        players_per_game=(3, 4),
        board_window_s=0.25,
        player_window_s=2.0,
        post_jobs=True,
    )
    counts = predict_span(shape)
    assert counts["invocations.broadcast_boards"] == 2
    assert counts["invocations.broadcast_players"] == 2
    # The players' broadcaster hands each game of its window to a posting job: two games in
    # the first window, one in the second.
    assert counts["invocations.post_players"] == 2 + 1
    assert counts["invocations.http_api"] == 4
    assert counts["invocations.total"] == 4 + 2 + 2 + 3
    # Boards (feed): activity_batch + leaderboard per game with news (2 games, then 1);
    # players (no feed, marks are no state changes): one leaderboard each.
    assert counts["ws_message_units_out"] == (2 + 2) + 2 + (3 + 4) + 3
    assert counts["ws_connection_minutes"] == pytest.approx(9 * 20.0 / 60)


def test_stream_prediction_sends_fewer_messages_than_inline_and_nothing_when_idle() -> None:
    def span(config: Config, marks: tuple[tuple[float, int], ...]) -> dict[str, float]:
        return predict_span(
            PhaseShape(
                config=config,
                span_s=30.0,
                marks=marks,
                boards_per_game=(2, 2),
                players_per_game=(50, 50),
            )
        )

    marks = tuple((i * 0.1, i % 2) for i in range(20))
    inline, stream = span("inline", marks), span("stream", marks)
    assert 0 < stream["ws_message_units_out"] < inline["ws_message_units_out"]
    assert inline["invocations.broadcast_boards"] == inline["invocations.broadcast_players"] == 0
    idle = span("stream", ())
    assert idle["invocations.broadcast_boards"] == idle["invocations.broadcast_players"] == 0
    assert idle["invocations.total"] == idle["ws_message_units_out"] == 0
    assert idle["ws_connection_minutes"] == pytest.approx(104 * 30.0 / 60)


def test_polling_prediction_counts_every_poll_and_mark_as_one_request() -> None:
    shape = PhaseShape(
        config="polling",
        span_s=30.0,
        marks=((1.0, 0),),
        boards_per_game=(0,),
        players_per_game=(0,),
        polls=100,
    )
    counts = predict_span(shape)
    assert counts["invocations.http_api"] == counts["http_requests"] == 101
    assert {k for k, v in counts.items() if k.startswith("invocations.") and v} == {
        "invocations.http_api",
        "invocations.total",
    }
    assert counts["ws_message_units_out"] == counts["ws_connection_minutes"] == 0


def test_agreement_reports_relative_errors_and_zero_quantities() -> None:
    found = agreement({"a": 105.0, "b": 0.0, "c": 1.0}, {"a": 100.0, "b": 0.0, "c": 0.0})
    assert found["a"]["relative_error"] == pytest.approx(0.05)
    assert found["a"]["within"]
    assert found["b"] == {"predicted": 0.0, "metered": 0.0, "relative_error": 0.0, "within": True}
    assert found["c"]["relative_error"] is None
    assert not found["c"]["within"]
    # A quantity the metering lacks counts as metered 0.
    assert agreement({"d": 0.0}, {})["d"]["within"]


def test_the_prediction_has_the_quantities_of_the_metering() -> None:
    shape = PhaseShape(
        config="stream", span_s=20.0, marks=((0.0, 0),), boards_per_game=(1,), players_per_game=(2,)
    )
    predicted = predict_span(shape)
    idle_delta = {
        "lambda": {"invocations": 0, "functions": {}},
        "websocket": {"messageUnitsIn": 0, "messageUnitsOut": 0, "connectionMinutes": 0.0},
        "http": {"units": 0},
    }
    metered = metered_counts(idle_delta)
    # DynamoDB is the model's alone: the local stack's SQLite store meters none.
    assert set(predicted) == set(metered) | set(DYNAMODB_KEYS)
    rows = agreement({k: predicted[k] for k in metered}, metered)
    assert rows["ws_message_units_in"]["within"]
    assert rows["invocations.http_api"]["relative_error"] is None
    # One mark: its transaction (4 items, 2 units each); each audience's window reads the
    # game's 3 subscriptions, its rows and the one event, a unit each.
    assert predicted["dynamodb_write_units"] == 8
    assert predicted["dynamodb_read_units"] == 2 * 3


def test_each_poll_reads_its_games_leaderboard_and_recent_events() -> None:
    # 200 players a game: 20 KB of rows, 5 units strongly consistent; the events of one
    # interval fit one unit.
    shape = PhaseShape(
        config="polling",
        span_s=20.0,
        marks=((0.0, 0),),
        boards_per_game=(0,),
        players_per_game=(0,),
        polls=10,
        players_in_game=200,
    )
    predicted = predict_span(shape)
    assert predicted["dynamodb_read_units"] == 10 * (5 + 1)
    assert predicted["dynamodb_write_units"] == 8


def test_spec_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="games"):
        ConferenceSpec(games=0)
    with pytest.raises(ValueError, match="windows"):
        ConferenceSpec(player_window_s=-1)


# -- the reduced conference, for real --------------------------------------------------------------


def _run(config: Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one configuration; also read the stack's metering ourselves at the span's ends."""
    seen: dict[str, Mapping[str, Any]] = {}

    def observe(moment: str, outputs: Mapping[str, Any]) -> None:
        seen[moment] = httpx.get(str(outputs["metricsUrl"]), timeout=10).json()

    result = run_conference(config, SPEC, progress=False, observer=observe)
    return result, metering_delta(seen["start"], seen["end"])


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {config: _run(config) for config in CONFIGS}


@pytest.mark.slow
def test_metered_counts_are_the_stacks_own_metering_delta(
    runs: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    for config, (result, independent) in runs.items():
        functions = independent["lambda"]["functions"]
        assert result["metered"]["invocations"] == {
            name: f["invocations"] for name, f in functions.items()
        }, config
        assert result["metered"]["invocationsTotal"] == independent["lambda"]["invocations"]
        assert result["metered"]["messagesOut"] == independent["websocket"]["messagesOut"]
        assert result["metered"]["httpRequests"] == independent["http"]["requests"]
        # The agreement compares the model with these very counts.
        counts = metered_counts(independent)
        assert result["agreement"]["invocations.total"]["metered"] == counts["invocations.total"]


@pytest.mark.slow
def test_every_mark_makes_one_event_and_one_http_api_invocation(
    runs: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    events = {config: result["marks"]["events"] for config, (result, _) in runs.items()}
    assert len(set(events.values())) == 1  # seeded: the same marks in every configuration
    for config, (result, _) in runs.items():
        marks = result["marks"]
        assert marks["scheduled"] == marks["sent"] == marks["events"] > 0, config
        assert marks["errors"] == {}
        polls = result["polls"]["count"]
        assert result["metered"]["invocations"]["http_api"] == marks["events"] + polls
        assert result["metered"]["httpRequests"] == marks["events"] + polls
        for audience in ("boards", "players"):
            staleness = result["staleness"][audience]
            assert staleness["missing"] == 0, (config, audience)
            # Every measured client follows one game: at most every event, each once.
            assert 0 < staleness["samples"] <= marks["events"] * staleness["measuredClients"]


@pytest.mark.slow
def test_stream_sends_from_broadcasters_and_fewer_messages_than_inline(
    runs: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    inline, stream = runs["inline"][0]["metered"], runs["stream"][0]["metered"]
    assert inline["invocations"].get("broadcast_boards", 0) == 0
    assert stream["invocations"]["broadcast_boards"] > 0
    assert stream["invocations"]["broadcast_players"] > 0
    assert stream["messagesOut"] < inline["messagesOut"]
    mappings = stream["eventSourceMappings"]
    marks = runs["stream"][0]["marks"]["events"]
    assert mappings["broadcast_boards"]["records"] == marks
    assert mappings["broadcast_players"]["records"] == marks


@pytest.mark.slow
def test_polling_invokes_only_the_http_api(
    runs: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    metered = runs["polling"][0]["metered"]
    assert {k for k, v in metered["invocations"].items() if v} == {"http_api"}
    assert metered["messagesOut"] == metered["messagesIn"] == 0
    assert metered["connectionMinutes"] == 0
    assert runs["polling"][0]["polls"]["count"] > 0


@pytest.mark.slow
def test_staleness_lies_within_physical_bounds(
    runs: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    for config, (result, _) in runs.items():
        for audience in ("boards", "players"):
            assert result["staleness"][audience]["minS"] >= 0, (config, audience)
    polling = runs["polling"][0]["staleness"]
    for audience in ("boards", "players"):
        assert polling[audience]["maxS"] <= SPEC.poll_interval_s + ALLOWANCE_S
    stream = runs["stream"][0]["staleness"]
    assert stream["boards"]["maxS"] <= SPEC.board_window_s + ALLOWANCE_S
    assert stream["players"]["maxS"] <= SPEC.player_window_s + ALLOWANCE_S


@pytest.mark.slow
def test_summary_compares_stream_with_polling(
    runs: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    summary = summarise({config: result for config, (result, _) in runs.items()})
    ratio = summary["streamUsdPerHour"] / summary["pollingUsdPerHour"]
    assert summary["costRatioStreamOverPolling"] == pytest.approx(ratio, rel=1e-3)
    assert set(summary["verdicts"]) == {"cost", "boardStaleness", "playerStaleness", "agreement"}
    for result, _ in runs.values():
        assert result["usdPerHour"]["total"] > 0
        assert not result["health"]["hitWallCap"]
