"""notebooks/01_deploy.ipynb, executed headlessly with papermill as CI runs it.

Each run's results.json is checked against facts gathered independently: the local stack's
URLs answer and its metrics count the smoke test's WebSocket connection; on AWS (a moto server)
every resource the plan created is found again with boto3 list calls.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from notebook_kit import run_notebook
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bingo_ops.deploy.local import teardown_local

REGION = "us-east-1"


def _run(tmp_path: Path, **parameters: Any) -> dict[str, Any]:
    run = run_notebook("01_deploy", tmp_path, state_dir=str(tmp_path / "state"), **parameters)
    return run.results


@pytest.fixture
def local_state(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state"
    teardown_local(tmp_path / "state")


@pytest.mark.slow
def test_local_target_deploys_and_a_public_board_gets_a_leaderboard(
    tmp_path: Path, local_state: Path
) -> None:
    results = _run(tmp_path, target="local")

    assert results["dryRun"] is False
    assert results["plan"]["byVerb"] == {"start": 1}
    outputs = results["outputs"]
    assert outputs == json.loads((local_state / "outputs.json").read_text())
    smoke = results["smoke"]
    assert smoke["status"] == "passed", smoke
    assert "subscribed" in smoke["messages"]
    assert smoke["messages"][-1] == "leaderboard_update"

    with httpx.Client(timeout=5) as client:
        metrics = client.get(outputs["metricsUrl"]).json()
        game = client.get(
            f"{outputs['httpUrl']}/games/{smoke['gameId']}",
            headers={"authorization": f"Bearer {_public_token(client, outputs['httpUrl'])}"},
        )
    functions = metrics["lambda"]["functions"]
    assert functions["ws_connect"]["invocations"] >= 1
    assert functions["ws_authorizer"]["invocations"] >= 1
    assert functions["ws_message"]["invocations"] >= 1  # the subscribe
    assert game.status_code == 200
    assert game.json()["state"] == "cancelled"  # the smoke game never stays current
    with pytest.raises(InvalidStatus) as refused, connect(outputs["wsUrl"], open_timeout=5):
        pass
    assert refused.value.response.status_code == 401  # the WebSocket API answers: no token


def _public_token(client: httpx.Client, http_url: str) -> str:
    token: str = client.post(f"{http_url}/public/token", json={}).json()["publicToken"]
    return token


def _policy_statements(lambda_: Any, function: str) -> list[Any]:
    """A function's resource policy; the stream broadcasters have none (nothing invokes them)."""
    try:
        statements: list[Any] = json.loads(lambda_.get_policy(FunctionName=function)["Policy"])[
            "Statement"
        ]
    except lambda_.exceptions.ResourceNotFoundException:
        return []
    return statements


def _held(region: str) -> Counter[str]:
    """What the moto account holds, counted by the deploy plan's resource kinds."""
    apis = boto3.client("apigatewayv2", region_name=region)
    lambda_ = boto3.client("lambda", region_name=region)
    dynamodb = boto3.client("dynamodb", region_name=region)
    held: Counter[str] = Counter()
    tables = dynamodb.list_tables()["TableNames"]
    held["dynamodb_table"] = len(tables)
    held["ttl"] = sum(
        dynamodb.describe_time_to_live(TableName=t)["TimeToLiveDescription"]["TimeToLiveStatus"]
        == "ENABLED"
        for t in tables
    )
    held["ssm_parameter"] = len(
        boto3.client("ssm", region_name=region).describe_parameters()["Parameters"]
    )
    held["iam_role"] = len(boto3.client("iam", region_name=region).list_roles()["Roles"])
    held["log_group"] = len(
        boto3.client("logs", region_name=region).describe_log_groups()["logGroups"]
    )
    functions = [f["FunctionName"] for f in lambda_.list_functions()["Functions"]]
    held["lambda_function"] = len(functions)
    held["permission"] = sum(len(_policy_statements(lambda_, f)) for f in functions)
    mappings = lambda_.list_event_source_mappings()["EventSourceMappings"]
    if mappings:
        held["event_source_mapping"] = len(mappings)
    for api in apis.get_apis()["Items"]:
        api_id, websocket = api["ApiId"], api["ProtocolType"] == "WEBSOCKET"
        held["websocket_api" if websocket else "http_api"] += 1
        routes = apis.get_routes(ApiId=api_id)["Items"]
        held["ws_route" if websocket else "http_route"] += len(routes)
        held["integration"] += len(apis.get_integrations(ApiId=api_id)["Items"])
        held["stage"] += len(apis.get_stages(ApiId=api_id)["Items"])
        # moto's server has no GetAuthorizers: find them through the routes that use them.
        for authorizer in {r["AuthorizerId"] for r in routes if r.get("AuthorizerId")}:
            apis.get_authorizer(ApiId=api_id, AuthorizerId=authorizer)
            held["authorizer"] += 1
    return +held


@pytest.mark.slow
def test_aws_target_on_moto_creates_what_it_planned_and_says_the_smoke_test_is_skipped(
    aws: dict[str, str], tmp_path: Path
) -> None:
    results = _run(tmp_path, target="aws", stage="nb", region=REGION)

    plan = results["plan"]
    assert set(plan["byVerb"]) == {"create"}
    assert Counter(plan["byKind"]) == _held(REGION)
    assert sum(plan["byKind"].values()) == plan["total"] == len(results["actions"])
    outputs = results["outputs"]
    assert {"httpUrl", "wsUrl", "managementUrl", "metricsUrl"} <= set(outputs)
    assert outputs["stage"] == "nb"
    smoke = results["smoke"]
    assert smoke["status"] == "skipped"
    assert "moto runs no Lambda functions" in smoke["reason"]
    assert smoke["checks"]
    assert set(smoke["checks"].values()) == {"ok"}


@pytest.mark.slow
def test_aws_dry_run_plans_without_creating_anything(aws: dict[str, str], tmp_path: Path) -> None:
    results = _run(tmp_path, target="aws", dry_run=True)

    assert results["dryRun"] is True
    assert results["plan"]["byVerb"]["create"] == results["plan"]["total"] > 0
    assert results["outputs"] is None
    assert results["smoke"]["status"] == "skipped"
    assert _held(REGION) == Counter()
