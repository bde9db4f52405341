"""The executors on their own: the calls behind rarer actions, retries, and the plan table."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bingo_ops.deploy.execute import DeployError, DisplayExecutor, Executor, format_plan
from bingo_ops.deploy.observe import Clients
from bingo_ops.deploy.plan import Action
from bingo_ops.deploy.resources import AwsConfig

REGION = "us-east-1"
CONFIG = AwsConfig(stage="dev", region=REGION)


def executor(**kwargs: Any) -> Executor:
    return Executor(Clients(REGION), CONFIG, known={}, **kwargs)


def update(kind: str, name: str, changed: list[str], **details: Any) -> Action:
    return Action("update", kind, name, {**details, "changed": changed, "label": ""})


def test_a_missing_index_is_added_to_an_existing_table(aws: dict[str, str]) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    keys = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    dynamodb.create_table(TableName="bingo-dev", **keys)
    index = {
        "IndexName": "byGame",
        "KeySchema": [{"AttributeName": "gameId", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
    definition = {
        **keys,
        "AttributeDefinitions": [
            *keys["AttributeDefinitions"],
            {"AttributeName": "gameId", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [index],
    }

    executor().execute(
        [
            update(
                "dynamodb_table",
                "bingo-dev",
                ["IndexNames"],
                TableName="bingo-dev",
                Definition=definition,
                IndexNames=["byGame"],
                previous={"IndexNames": []},
            )
        ]
    )

    table = dynamodb.describe_table(TableName="bingo-dev")["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["byGame"]


def test_a_plain_string_keyring_becomes_a_securestring_with_the_same_value(
    aws: dict[str, str],
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    name = "/bingo/dev/user-token-keys"
    ssm.put_parameter(Name=name, Value="k1:" + "s" * 64, Type="String")

    executor().execute(
        [update("ssm_parameter", name, ["Type"], Name=name, Type="SecureString", previous={})]
    )

    parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert (parameter["Type"], parameter["Value"]) == ("SecureString", "k1:" + "s" * 64)


def role_not_ready() -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "InvalidParameterValueException",
                "Message": "The role defined for the function cannot be assumed by Lambda.",
            }
        },
        "CreateFunction",
    )


def test_creating_a_function_waits_for_a_new_role_to_propagate() -> None:
    attempts: list[dict[str, Any]] = []
    slept: list[float] = []

    def create_function(**kwargs: Any) -> dict[str, str]:
        attempts.append(kwargs)
        if len(attempts) < 3:
            raise role_not_ready()
        return {"FunctionArn": "arn"}

    run = executor(sleep=slept.append)
    assert run._retry_while_role_propagates(create_function, FunctionName="f") == {
        "FunctionArn": "arn"
    }
    assert len(attempts) == 3
    assert len(slept) == 2


def test_other_errors_are_not_retried() -> None:
    def create_function(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException"}}, "CreateFunction")

    slept: list[float] = []
    with pytest.raises(ClientError, match="AccessDenied"):
        executor(sleep=slept.append)._retry_while_role_propagates(create_function)
    assert slept == []


def test_code_is_only_uploaded_when_it_is_the_planned_bundle() -> None:
    run = executor(bundle=b"zip bytes")
    with pytest.raises(DeployError, match="bundle"):
        run._code("c29tZXRoaW5nIGVsc2U=")


def test_an_unknown_action_is_refused_before_any_call() -> None:
    # The first action would need AWS (no endpoint is set here): it must never be attempted.
    plan = [
        Action("create", "ssm_parameter", "/bingo/dev/user-token-keys", {}),
        Action("create", "widget", "w", {}),
    ]
    with pytest.raises(DeployError, match="no way to create a widget"):
        executor().execute(plan)


def test_the_plan_table_lines_up_and_counts() -> None:
    plan = [
        Action("create", "dynamodb_table", "bingo-dev", {"label": "PAY_PER_REQUEST"}),
        Action(
            "update",
            "lambda_function",
            "bingo-dev-ws-message",
            {"CodeSha256": "bmV3", "changed": ["CodeSha256"], "previous": {"CodeSha256": "b2xk"}},
        ),
    ]
    out = io.StringIO()

    DisplayExecutor(out).execute(plan)

    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["VERB", "KIND", "NAME", "SUMMARY"]
    assert lines[1].index("bingo-dev") == lines[2].index("bingo-dev-ws-message")
    assert lines[2].endswith("update code b2xk… -> bmV3…")
    assert lines[-1] == "Plan: 1 to create, 1 to update."
    assert format_plan([]) == "Nothing to do: everything is as it should be.\n"


def test_a_mapping_whose_stream_was_replaced_is_recreated_on_the_new_one(
    aws: dict[str, str],
) -> None:
    # Two streams stand for the table's old and new stream (moto cannot re-enable one).
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    arns = []
    for table in ("old", "new"):
        described = dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        arns.append(described["TableDescription"]["LatestStreamArn"])
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="r", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "")
    lambda_ = boto3.client("lambda", region_name=REGION)
    lambda_.create_function(
        FunctionName="f",
        Runtime="python3.12",
        Role=role,
        Handler="handler.h",
        Code={"ZipFile": buffer.getvalue()},
    )
    old = lambda_.create_event_source_mapping(
        FunctionName="f", EventSourceArn=arns[0], StartingPosition="LATEST", BatchSize=100
    )
    run = executor()

    run.execute(
        [
            update(
                "event_source_mapping",
                "m",
                ["EventSourceArn"],
                FunctionName="f",
                UUID=old["UUID"],
                EventSourceArn=arns[1],
                StartingPosition="LATEST",
                BatchSize=100,
                MaximumBatchingWindowInSeconds=2,
                previous={"EventSourceArn": arns[0]},
            )
        ]
    )

    (mapping,) = lambda_.list_event_source_mappings(FunctionName="f")["EventSourceMappings"]
    assert mapping["EventSourceArn"] == arns[1]
    assert mapping["MaximumBatchingWindowInSeconds"] == 2
    assert run.known[("event_source_mapping", "m")]["UUID"] == mapping["UUID"] != old["UUID"]
