"""The stream fan-out on AWS: table stream, broadcaster functions and their event source mappings.

Against a moto server over HTTP: what deploy creates, that a second deploy does nothing, that a
window change updates only its mapping, that `inline` removes the broadcasters, and that
teardown removes mappings before functions.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from backend.adapters.store_dynamodb import table_definition
from bingo_ops.deploy.aws import AwsConfig, deploy_aws, plan_aws, teardown_aws

REGION = "us-east-1"
STREAM = AwsConfig(stage="dev", region=REGION)
INLINE = dataclasses.replace(STREAM, fanout="inline")
MUTATING = ("Create", "Put", "Update", "Delete", "Add", "Tag", "Attach", "Detach", "Remove")
API_FUNCTIONS = ("ws-authorizer", "ws-connect", "ws-disconnect", "ws-message", "http-api")
BOARDS, PLAYERS = "bingo-dev-broadcast-boards", "bingo-dev-broadcast-players"
POSTER = "bingo-dev-post-players"
EVENT_FILTER = {
    "eventName": ["INSERT"],
    "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "EVENT#"}]}}},
}


def _bundle() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("backend/__init__.py", (2024, 1, 1, 0, 0, 0)), "")
    return buffer.getvalue()


BUNDLE = _bundle()


@pytest.fixture
def calls(aws: dict[str, str]) -> Iterator[list[str]]:
    """Every AWS operation any boto3 client of this test makes, by name, in order."""
    boto3.setup_default_session()
    seen: list[str] = []
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register(
        "before-call.*.*", lambda model, **_: seen.append(model.name)
    )
    yield seen
    boto3.DEFAULT_SESSION = None


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def mutating(operations: list[str]) -> list[str]:
    return [op for op in operations if op.startswith(MUTATING)]


def mappings() -> dict[str, dict[str, Any]]:
    """Every event source mapping, by the name of the function it invokes."""
    found = client("lambda").list_event_source_mappings()["EventSourceMappings"]
    return {m["FunctionArn"].rsplit(":", 1)[1]: m for m in found}


def functions() -> set[str]:
    return {f["FunctionName"] for f in client("lambda").list_functions()["Functions"]}


def fanout_variable(function: str) -> str:
    configuration = client("lambda").get_function_configuration(FunctionName=function)
    return str(configuration["Environment"]["Variables"]["BINGO_FANOUT"])


def test_stream_fanout_creates_the_stream_two_broadcasters_and_their_mappings(
    calls: list[str],
) -> None:
    result = deploy_aws(STREAM, BUNDLE)

    table = client("dynamodb").describe_table(TableName="bingo-dev")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    stream_arn = table["LatestStreamArn"]
    assert {BOARDS, PLAYERS, POSTER} <= functions()
    lambda_ = client("lambda")
    assert lambda_.get_function_configuration(FunctionName=POSTER)["Handler"] == (
        "backend.handlers.stream_broadcast.post_players_handler"
    )
    assert lambda_.get_function_configuration(FunctionName=BOARDS)["Handler"] == (
        "backend.handlers.stream_broadcast.boards_handler"
    )
    assert lambda_.get_function_configuration(FunctionName=PLAYERS)["Handler"] == (
        "backend.handlers.stream_broadcast.players_handler"
    )
    assert {fanout_variable(f"bingo-dev-{f}") for f in API_FUNCTIONS} == {"stream"}

    found = mappings()
    assert set(found) == {BOARDS, PLAYERS}
    for function, window in ((BOARDS, 0), (PLAYERS, 2)):
        mapping = found[function]
        assert mapping["EventSourceArn"] == stream_arn
        assert mapping["StartingPosition"] == "LATEST"
        assert mapping["BatchSize"] == 100
        assert mapping["MaximumBatchingWindowInSeconds"] == window
        (pattern,) = mapping["FilterCriteria"]["Filters"]
        assert json.loads(pattern["Pattern"]) == EVENT_FILTER
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BisectBatchOnFunctionError"] is True
        assert mapping["MaximumRetryAttempts"] == 3
        assert mapping["MaximumRecordAgeInSeconds"] == 60
        assert mapping["ParallelizationFactor"] == 1
        assert mapping["State"] == "Enabled"

    # The role reads exactly this table's streams.
    document = client("iam").get_role_policy(
        RoleName="bingo-dev-lambda", PolicyName="bingo-dev-lambda"
    )["PolicyDocument"]
    (stream,) = [s for s in document["Statement"] if s.get("Sid") == "Stream"]
    assert sorted(stream["Action"]) == [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    ]
    assert stream["Resource"] == [f"{table['TableArn']}/stream/*"]

    assert result.outputs is not None
    assert result.outputs["functions"]["broadcast_players"] == PLAYERS
    assert result.outputs["batchingWindowS"] == {"boards": 0, "players": 2}

    # A second deploy plans nothing and changes nothing.
    before = len(calls)
    assert deploy_aws(STREAM, BUNDLE).plan == []
    assert mutating(calls[before:]) == []
    assert "ListEventSourceMappings" in calls[before:]


def test_the_plan_shows_the_mappings_and_the_rounding_of_the_windows(aws: dict[str, str]) -> None:
    out = io.StringIO()

    result = deploy_aws(STREAM, BUNDLE, dry_run=True, out=out)

    rows = {a.name: a.view()["summary"] for a in result.plan if a.kind == "event_source_mapping"}
    assert rows == {
        f"bingo-dev/stream -> {BOARDS}": "boards window 0 s -> 0 s: as soon as the poller "
        "reads the shard, about 4 times a second; INSERT of EVENT#* items, batch 100, "
        "window 0 s, LATEST",
        f"bingo-dev/stream -> {PLAYERS}": "players window 2 s -> 2 s; INSERT of EVENT#* items, "
        "batch 100, window 2 s, LATEST",
    }
    printed = out.getvalue()
    assert "boards window 0 s -> 0 s: as soon as the poller reads the shard" in printed
    (boards,) = [a for a in result.plan if a.name == f"bingo-dev/stream -> {BOARDS}"]
    assert str(boards.details["EventSourceArn"]) == "<bingo-dev.LatestStreamArn>"
    assert mappings() == {}


def test_a_table_without_a_stream_gets_one_and_the_mappings_follow(calls: list[str]) -> None:
    dynamodb = client("dynamodb")
    dynamodb.create_table(**table_definition("bingo-dev"))

    plan = plan_aws(STREAM, BUNDLE)

    (table,) = [a for a in plan if a.kind == "dynamodb_table"]
    assert (table.verb, table.details["changed"]) == ("update", ["StreamSpecification"])
    assert table.details["previous"] == {"StreamSpecification": {"StreamEnabled": False}}
    assert table.view()["summary"] == "update StreamSpecification"
    before = len(calls)

    deploy_aws(STREAM, BUNDLE)

    assert "UpdateTable" in calls[before:]
    stream_arn = dynamodb.describe_table(TableName="bingo-dev")["Table"]["LatestStreamArn"]
    assert {m["EventSourceArn"] for m in mappings().values()} == {stream_arn}
    assert plan_aws(STREAM, BUNDLE) == []


def test_a_new_window_updates_only_its_mapping(calls: list[str]) -> None:
    deploy_aws(STREAM, BUNDLE)
    slower = dataclasses.replace(STREAM, player_window_s=5.5)

    plan = plan_aws(slower, BUNDLE)

    assert [(a.verb, a.kind, a.name, a.details["changed"]) for a in plan] == [
        (
            "update",
            "event_source_mapping",
            f"bingo-dev/stream -> {PLAYERS}",
            ["MaximumBatchingWindowInSeconds"],
        )
    ]
    assert plan[0].view()["summary"] == (
        "update MaximumBatchingWindowInSeconds 2 -> 5; "
        "players window 5.5 s -> 5 s (whole seconds, rounded down)"
    )
    uuid = mappings()[PLAYERS]["UUID"]
    before = len(calls)

    deploy_aws(slower, BUNDLE)

    assert mutating(calls[before:]) == ["UpdateEventSourceMapping"]
    after = mappings()
    assert after[PLAYERS]["UUID"] == uuid
    assert after[PLAYERS]["MaximumBatchingWindowInSeconds"] == 5
    assert after[BOARDS]["MaximumBatchingWindowInSeconds"] == 0
    assert plan_aws(slower, BUNDLE) == []


def test_inline_fanout_removes_the_mappings_then_the_broadcasters(calls: list[str]) -> None:
    deploy_aws(STREAM, BUNDLE)

    plan = plan_aws(INLINE, BUNDLE)

    updates = [(a.kind, tuple(a.details["changed"])) for a in plan if a.verb == "update"]
    assert (
        updates == [("iam_role", ("PolicyDocument",))] + [("lambda_function", ("Environment",))] * 5
    )
    deletes = [(a.kind, a.name) for a in plan if a.verb == "delete"]
    assert deletes == [
        ("event_source_mapping", f"bingo-dev/stream -> {BOARDS}"),
        ("event_source_mapping", f"bingo-dev/stream -> {PLAYERS}"),
        ("lambda_function", BOARDS),
        ("lambda_function", PLAYERS),
        ("lambda_function", POSTER),
    ]
    # The writers switch to inline before the broadcasters stop: news is never lost meanwhile.
    assert [a.verb for a in plan] == ["update"] * 6 + ["delete"] * 5
    before = len(calls)

    deploy_aws(INLINE, BUNDLE)

    done = mutating(calls[before:])
    assert done.count("DeleteEventSourceMapping") == 2
    assert done.index("DeleteFunction") > max(
        i for i, op in enumerate(done) if op == "DeleteEventSourceMapping"
    )
    assert mappings() == {}
    assert {BOARDS, PLAYERS, POSTER}.isdisjoint(functions())
    assert {fanout_variable(f"bingo-dev-{f}") for f in API_FUNCTIONS} == {"inline"}
    document = client("iam").get_role_policy(
        RoleName="bingo-dev-lambda", PolicyName="bingo-dev-lambda"
    )["PolicyDocument"]
    assert "Stream" not in {s.get("Sid") for s in document["Statement"]}
    # The stream stays: switching back needs no new stream.
    table = client("dynamodb").describe_table(TableName="bingo-dev")["Table"]
    assert table["StreamSpecification"]["StreamEnabled"] is True
    assert plan_aws(INLINE, BUNDLE) == []

    # And back: the broadcasters and their mappings return.
    deploy_aws(STREAM, BUNDLE)
    assert set(mappings()) == {BOARDS, PLAYERS}
    assert plan_aws(STREAM, BUNDLE) == []


def test_inline_fanout_on_a_fresh_account_creates_no_broadcaster(aws: dict[str, str]) -> None:
    result = deploy_aws(INLINE, BUNDLE)

    assert {a.kind for a in result.plan if a.verb != "create"} == set()
    assert "event_source_mapping" not in {a.kind for a in result.plan}
    assert {BOARDS, PLAYERS, POSTER}.isdisjoint(functions())
    assert result.outputs is not None
    assert result.outputs["fanout"] == "inline"
    assert "batchingWindowS" not in result.outputs
    assert plan_aws(INLINE, BUNDLE) == []


def test_teardown_removes_the_mappings_before_the_functions(calls: list[str]) -> None:
    deploy_aws(STREAM, BUNDLE)
    # A mapping made by hand on the broadcaster is torn down too, never left dangling.
    stream_arn = client("dynamodb").describe_table(TableName="bingo-dev")["Table"][
        "LatestStreamArn"
    ]
    client("lambda").create_event_source_mapping(
        FunctionName=PLAYERS, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON"
    )
    # Teardown finds the broadcasters whatever the fan-out mode it is given.
    dry = teardown_aws(INLINE, dry_run=True, out=io.StringIO())
    kinds = [a.kind for a in dry.plan]
    assert kinds.count("event_source_mapping") == 3
    assert max(i for i, k in enumerate(kinds) if k == "event_source_mapping") < kinds.index(
        "lambda_function"
    )
    before = len(calls)

    result = teardown_aws(INLINE)

    done = mutating(calls[before:])
    assert done.count("DeleteEventSourceMapping") == 3
    assert done.count("DeleteFunction") == 8
    assert max(i for i, op in enumerate(done) if op == "DeleteEventSourceMapping") < done.index(
        "DeleteFunction"
    )
    assert mappings() == {}
    assert functions() == set()
    assert result.outputs is not None
    assert teardown_aws(STREAM).plan == []
