"""Deploy, redeploy, drift, dry run and teardown against a moto server over HTTP."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from backend.domain.tokens import Keyring, TokenKind
from backend.handlers import http_api, ws_message
from bingo_ops.deploy.aws import AwsConfig, deploy_aws, plan_aws, teardown_aws
from bingo_ops.deploy.resources import code_sha256

REGION = "us-east-1"
CONFIG = AwsConfig(stage="dev", region=REGION)
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234"
DOMAIN_CONFIG = AwsConfig(stage="dev", region=REGION, domain="example.com", certificate_arn=CERT)
MUTATING = ("Create", "Put", "Update", "Delete", "Add", "Tag", "Attach", "Detach", "Remove")
HANDLERS = ("ws_authorizer", "ws_connect", "ws_disconnect", "ws_message", "http_api")
BROADCASTERS = {
    "broadcast_boards": "backend.handlers.stream_broadcast.boards_handler",
    "broadcast_players": "backend.handlers.stream_broadcast.players_handler",
    # Invoked by the players' broadcaster, one posting job per game.
    "post_players": "backend.handlers.stream_broadcast.post_players_handler",
}
FUNCTIONS = (*HANDLERS, *BROADCASTERS)
# 51 for the APIs, table, keyrings, role and five functions; the broadcasters and the posting
# function add three log groups, three functions and two event source mappings.
PLANNED = 51 + 8


def bundle(marker: str = "v1") -> bytes:
    """A small valid Lambda zip; the same marker gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in (
            ("backend/__init__.py", ""),
            ("backend/version.py", f"V = {marker!r}\n"),
        ):
            archive.writestr(zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


BUNDLE = bundle()


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


_clients: dict[tuple[int, str], Any] = {}


def client(service: str) -> Any:
    """A client of the test's own session (created once: building one takes ~50 ms)."""
    key = (id(boto3.DEFAULT_SESSION), service)
    if key not in _clients:
        _clients[key] = boto3.client(service, region_name=REGION)
    return _clients[key]


def mutating(operations: list[str]) -> list[str]:
    return [op for op in operations if op.startswith(MUTATING)]


def api_named(name: str) -> dict[str, Any]:
    (api,) = [a for a in client("apigatewayv2").get_apis()["Items"] if a["Name"] == name]
    return dict(api)


def secrets() -> list[str]:
    ssm = client("ssm")
    return [
        ssm.get_parameter(Name=f"/bingo/dev/{kind}-token-keys", WithDecryption=True)["Parameter"][
            "Value"
        ].split(":", 1)[1]
        for kind in ("user", "public", "admin")
    ]


# -- apply ----------------------------------------------------------------------------------------


def test_deploy_creates_the_stage_as_planned(calls: list[str]) -> None:
    out = io.StringIO()
    result = deploy_aws(CONFIG, BUNDLE, out=out)

    assert result.outputs is not None
    assert len(result.plan) == PLANNED
    ws, http = api_named("bingo-dev-ws"), api_named("bingo-dev-http")
    apigw = client("apigatewayv2")

    # The WebSocket API: routes on `action`, every route to its function, $connect authorized.
    assert ws["ProtocolType"] == "WEBSOCKET"
    assert ws["RouteSelectionExpression"] == "$request.body.action"
    integrations = {
        i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=ws["ApiId"])["Items"]
    }
    routes = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=ws["ApiId"])["Items"]}
    assert set(routes) == {"$connect", "$disconnect", "$default", *ws_message.ROUTES}
    for key, route in routes.items():
        integration = integrations[route["Target"].removeprefix("integrations/")]
        assert integration["IntegrationType"] == "AWS_PROXY"
        handler = {"$connect": "ws-connect", "$disconnect": "ws-disconnect"}.get(key, "ws-message")
        assert integration["IntegrationUri"].endswith(f":function:bingo-dev-{handler}/invocations")
    connect = routes["$connect"]
    assert connect["AuthorizationType"] == "CUSTOM"
    authorizer = apigw.get_authorizer(ApiId=ws["ApiId"], AuthorizerId=connect["AuthorizerId"])
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    assert ":function:bingo-dev-ws-authorizer/invocations" in authorizer["AuthorizerUri"]
    assert all(routes[k]["AuthorizationType"] == "NONE" for k in routes if k != "$connect")
    (stage,) = apigw.get_stages(ApiId=ws["ApiId"])["Items"]
    assert (stage["StageName"], stage["AutoDeploy"]) == ("dev", True)

    # The HTTP API: every route of the handler, to one payload-2.0 integration.
    (integration,) = apigw.get_integrations(ApiId=http["ApiId"])["Items"]
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"].endswith(":function:bingo-dev-http-api")
    http_routes = apigw.get_routes(ApiId=http["ApiId"])["Items"]
    assert sorted(r["RouteKey"] for r in http_routes) == sorted(k for k, _ in http_api.ROUTE_KEYS)
    assert {r["Target"] for r in http_routes} == {f"integrations/{integration['IntegrationId']}"}
    (stage,) = apigw.get_stages(ApiId=http["ApiId"])["Items"]
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)

    # The table, with TTL on expiresAt and a KEYS_ONLY stream.
    dynamodb = client("dynamodb")
    table = dynamodb.describe_table(TableName="bingo-dev")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    ttl = dynamodb.describe_time_to_live(TableName="bingo-dev")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiresAt")

    # The keyrings: SecureStrings holding valid keyrings.
    parameters = client("ssm").describe_parameters()["Parameters"]
    assert {(p["Name"], p["Type"]) for p in parameters} == {
        (f"/bingo/dev/{kind}-token-keys", "SecureString") for kind in ("user", "public", "admin")
    }
    for kind in TokenKind:
        spec = client("ssm").get_parameter(
            Name=f"/bingo/dev/{kind}-token-keys", WithDecryption=True
        )["Parameter"]["Value"]
        assert Keyring.parse(kind, spec).active_kid == "k1"

    # The role: only Lambda assumes it; its inline policy names this stage's resources.
    iam = client("iam")
    role = iam.get_role(RoleName="bingo-dev-lambda")["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    document = iam.get_role_policy(RoleName="bingo-dev-lambda", PolicyName="bingo-dev-lambda")[
        "PolicyDocument"
    ]
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert set(statements) == {"Table", "Connections", "TokenKeys", "Logs", "Stream", "PostJobs"}
    assert statements["PostJobs"]["Action"] == ["lambda:InvokeFunction"]
    assert statements["PostJobs"]["Resource"] == [
        "arn:aws:lambda:us-east-1:123456789012:function:bingo-dev-post-players"
    ]
    assert statements["Stream"]["Resource"] == [f"{table['TableArn']}/stream/*"]
    assert statements["Connections"]["Resource"] == [
        f"arn:aws:execute-api:us-east-1:123456789012:{ws['ApiId']}/dev/*/@connections/*"
    ]
    assert statements["Table"]["Resource"][0] == table["TableArn"]

    # The functions: handler, runtime, role, environment, code, and who may invoke them.
    lambda_ = client("lambda")
    management = f"https://{ws['ApiId']}.execute-api.us-east-1.amazonaws.com/dev"
    for handler in FUNCTIONS:
        name = f"bingo-dev-{handler.replace('_', '-')}"
        configuration = lambda_.get_function_configuration(FunctionName=name)
        assert configuration["Handler"] == BROADCASTERS.get(
            handler, f"backend.handlers.{handler}.handler"
        )
        assert configuration["Runtime"] == "python3.12"
        assert configuration["Role"] == role["Arn"]
        assert (configuration["MemorySize"], configuration["Timeout"]) == (256, 10)
        assert configuration["CodeSha256"] == code_sha256(BUNDLE)
        assert configuration["Environment"]["Variables"] == {
            "BINGO_STORE": "dynamodb",
            "BINGO_TABLE": "bingo-dev",
            "BINGO_GATEWAY": "management_api",
            "BINGO_MANAGEMENT_ENDPOINT": management,
            "BINGO_TOKEN_SSM_PREFIX": "/bingo/dev/",
            "BINGO_FANOUT": "stream",
            "BINGO_POST_FUNCTION": "bingo-dev-post-players",
        }
        if handler in BROADCASTERS:  # invoked by a stream mapping or a broadcaster, not API GW
            continue
        (statement,) = json.loads(lambda_.get_policy(FunctionName=name)["Policy"])["Statement"]
        assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
        api_id = http["ApiId"] if handler == "http_api" else ws["ApiId"]
        source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
        assert source.startswith(f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/")
    groups = client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/bingo-dev-")
    assert {g["retentionInDays"] for g in groups["logGroups"]} == {30}
    assert len(groups["logGroups"]) == 8

    # Outputs: moto's GetApi says https://, clients get wss:// and the management API https://.
    assert result.outputs == {
        "target": "aws",
        "stage": "dev",
        "region": REGION,
        "httpUrl": http["ApiEndpoint"],
        "wsUrl": f"wss://{ws['ApiId']}.execute-api.us-east-1.amazonaws.com/dev",
        "managementUrl": management,
        "metricsUrl": None,
        "table": "bingo-dev",
        "role": "bingo-dev-lambda",
        "functions": {h: f"bingo-dev-{h.replace('_', '-')}" for h in FUNCTIONS},
        "fanout": "stream",
        "batchingWindowS": {"boards": 0, "players": 2},
        "websocketApiId": ws["ApiId"],
        "httpApiId": http["ApiId"],
        "parameters": {k: f"/bingo/dev/{k}-token-keys" for k in ("user", "public", "admin")},
    }
    # The secrets were never shown.
    shown = out.getvalue() + repr(result)
    assert all(secret not in shown for secret in secrets())

    # Deploying the same thing again plans nothing and changes nothing.
    before = len(calls)
    again = deploy_aws(CONFIG, BUNDLE)
    assert again.plan == []
    assert mutating(calls[before:]) == []
    assert again.outputs == result.outputs


def test_a_new_bundle_updates_exactly_the_function_code(calls: list[str]) -> None:
    deploy_aws(CONFIG, BUNDLE)
    new = bundle("v2")
    before = len(calls)
    out = io.StringIO()

    # Dry runs of the update and of a teardown change nothing.
    dry = deploy_aws(CONFIG, new, dry_run=True, out=out)
    teardown = teardown_aws(CONFIG, dry_run=True, out=out)
    assert (dry.outputs, teardown.outputs) == (None, None)
    assert len(teardown.plan) == 2 + 2 + 8 + 8 + 1 + 3 + 1
    assert mutating(calls[before:]) == []
    assert "Plan: 8 to update." in out.getvalue()
    assert "Plan: 25 to delete." in out.getvalue()
    assert all(secret not in out.getvalue() for secret in secrets())

    assert [(a.verb, a.kind, a.details["changed"]) for a in dry.plan] == [
        ("update", "lambda_function", ["CodeSha256"])
    ] * 8
    before = len(calls)
    deploy_aws(CONFIG, new)

    assert sorted(set(mutating(calls[before:]))) == ["UpdateFunctionCode"]
    lambda_ = client("lambda")
    for handler in FUNCTIONS:
        name = f"bingo-dev-{handler.replace('_', '-')}"
        assert lambda_.get_function_configuration(FunctionName=name)["CodeSha256"] == code_sha256(
            new
        )
    assert plan_aws(CONFIG, new) == []


# -- dry run --------------------------------------------------------------------------------------


def test_a_dry_run_prints_the_plan_and_calls_nothing_that_mutates(calls: list[str]) -> None:
    out = io.StringIO()

    result = deploy_aws(CONFIG, BUNDLE, dry_run=True, out=out)

    assert result.outputs is None
    assert len(result.plan) == PLANNED
    assert calls  # it did observe
    assert mutating(calls) == []
    printed = out.getvalue()
    assert f"Plan: {PLANNED} to create." in printed
    rows = [line.split()[:3] for line in printed.splitlines()]
    assert ["create", "ssm_parameter", "/bingo/dev/admin-token-keys"] in rows
    assert client("apigatewayv2").get_apis()["Items"] == []
    assert client("dynamodb").list_tables()["TableNames"] == []


# -- drift ----------------------------------------------------------------------------------------


def test_changes_made_outside_are_planned_and_repaired(calls: list[str]) -> None:
    deploy_aws(CONFIG, BUNDLE)
    ws = api_named("bingo-dev-ws")
    apigw, lambda_, iam = client("apigatewayv2"), client("lambda"), client("iam")
    # Someone edits an environment, widens the role and re-targets a route by hand.
    lambda_.update_function_configuration(
        FunctionName="bingo-dev-ws-message",
        Environment={"Variables": {"BINGO_STORE": "sqlite"}},
    )
    iam.put_role_policy(
        RoleName="bingo-dev-lambda",
        PolicyName="bingo-dev-lambda",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
            }
        ),
    )
    routes = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=ws["ApiId"])["Items"]}
    apigw.update_route(
        ApiId=ws["ApiId"], RouteId=routes["ping"]["RouteId"], Target=routes["$connect"]["Target"]
    )
    # ... and deletes a function (its permission goes with it; the integration stays).
    lambda_.delete_function(FunctionName="bingo-dev-ws-connect")

    plan = plan_aws(CONFIG, BUNDLE)

    assert [(a.verb, a.kind, a.name, a.details.get("changed")) for a in plan] == [
        ("update", "iam_role", "bingo-dev-lambda", ["PolicyDocument"]),
        ("create", "lambda_function", "bingo-dev-ws-connect", None),
        ("update", "lambda_function", "bingo-dev-ws-message", ["Environment"]),
        ("update", "ws_route", "bingo-dev-ws ping", ["Target"]),
        ("create", "permission", "bingo-dev-ws-connect apigateway-invoke", None),
    ]
    deploy_aws(CONFIG, BUNDLE)
    assert plan_aws(CONFIG, BUNDLE) == []
    variables = lambda_.get_function_configuration(FunctionName="bingo-dev-ws-message")[
        "Environment"
    ]["Variables"]
    assert variables["BINGO_STORE"] == "dynamodb"


# -- custom domains, teardown ---------------------------------------------------------------------


def leftovers() -> list[str]:
    """Everything of prefix `bingo` / stage `dev` the list calls can still see."""
    found: list[str] = []
    found += [t for t in client("dynamodb").list_tables()["TableNames"] if t.startswith("bingo")]
    found += [
        f["FunctionName"]
        for f in client("lambda").list_functions()["Functions"]
        if f["FunctionName"].startswith("bingo-dev")
    ]
    found += [
        m["UUID"] for m in client("lambda").list_event_source_mappings()["EventSourceMappings"]
    ]
    found += [
        r["RoleName"]
        for r in client("iam").list_roles()["Roles"]
        if r["RoleName"].startswith("bingo")
    ]
    found += [p["Name"] for p in client("ssm").describe_parameters()["Parameters"]]
    found += [a["Name"] for a in client("apigatewayv2").get_apis()["Items"]]
    found += [d["DomainName"] for d in client("apigatewayv2").get_domain_names()["Items"]]
    groups = client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/bingo-dev")
    found += [g["logGroupName"] for g in groups["logGroups"]]
    return found


def test_custom_domains_serve_both_apis_and_teardown_removes_everything(calls: list[str]) -> None:
    result = deploy_aws(DOMAIN_CONFIG, BUNDLE)

    assert result.outputs is not None
    assert result.outputs["wsUrl"] == "wss://ws-dev.example.com"
    assert result.outputs["httpUrl"] == "https://api-dev.example.com"
    assert result.outputs["managementUrl"] == "https://ws-dev.example.com"
    apigw = client("apigatewayv2")
    for domain, api, stage in (
        ("ws-dev.example.com", "bingo-dev-ws", "dev"),
        ("api-dev.example.com", "bingo-dev-http", "$default"),
    ):
        configuration = apigw.get_domain_name(DomainName=domain)["DomainNameConfigurations"][0]
        assert configuration["CertificateArn"] == CERT
        assert configuration["EndpointType"] == "REGIONAL"
        (mapping,) = apigw.get_api_mappings(DomainName=domain)["Items"]
        assert (mapping["ApiId"], mapping["Stage"]) == (api_named(api)["ApiId"], stage)
        assert mapping.get("ApiMappingKey", "") == ""
    # Lambda still posts through the execute-api endpoint: it works before DNS does.
    variables = client("lambda").get_function_configuration(FunctionName="bingo-dev-ws-message")[
        "Environment"
    ]["Variables"]
    ws_id = result.outputs["websocketApiId"]
    assert variables["BINGO_MANAGEMENT_ENDPOINT"] == (
        f"https://{ws_id}.execute-api.us-east-1.amazonaws.com/dev"
    )
    assert plan_aws(DOMAIN_CONFIG, BUNDLE) == []
    assert len(leftovers()) == 1 + 8 + 2 + 1 + 3 + 2 + 2 + 8

    # Torn down without --domain, the APIs still come off the domains they are mapped on...
    first = teardown_aws(CONFIG)

    assert [a.kind for a in first.plan][:2] == ["api_mapping"] * 2
    assert "domain_name" not in {a.kind for a in first.plan}
    assert sorted(leftovers()) == ["api-dev.example.com", "ws-dev.example.com"]
    for domain in ("ws-dev.example.com", "api-dev.example.com"):
        assert apigw.get_api_mappings(DomainName=domain)["Items"] == []

    # ... and with it, the domains go too: nothing of the stage is left.
    second = teardown_aws(DOMAIN_CONFIG)

    assert [(a.verb, a.kind) for a in second.plan] == [("delete", "domain_name")] * 2
    assert leftovers() == []
    assert first.outputs is not None
    assert len(first.outputs["removed"]) == len(first.plan) == 2 + 2 + 2 + 8 + 8 + 1 + 3 + 1
    assert teardown_aws(DOMAIN_CONFIG).plan == []
