"""The planner and the resource model, as plain data: no AWS, no moto."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from backend.adapters import store_dynamodb
from bingo_ops.deploy.plan import (
    Action,
    DriftError,
    Found,
    Observed,
    UnresolvedError,
    plan_deploy,
    plan_teardown,
    resolve,
    same,
)
from bingo_ops.deploy.resources import (
    DYNAMODB_ACTIONS,
    EVENT_FILTER,
    KIND_ORDER,
    TEARDOWN_KINDS,
    AwsConfig,
    Join,
    Names,
    Ref,
    Resource,
    batching_window,
    desired_resources,
    event_filter_pattern,
    management_url,
    outputs,
    role_policy,
    websocket_url,
    window_note,
)

ACCOUNT = "123456789012"
SHA = "c2hhLW9uZQ=="
CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
CONFIG = AwsConfig(stage="dev", region="eu-west-1")
DOMAIN_CONFIG = AwsConfig(
    stage="dev", region="eu-west-1", domain="example.com", certificate_arn=CERT
)


def desired(config: AwsConfig = CONFIG, sha: str = SHA) -> list[Resource]:
    return desired_resources(config, code_sha256=sha, account=ACCOUNT, partition="aws")


def empty() -> Observed:
    return Observed(account=ACCOUNT, partition="aws", resources={})


def fake_attributes(resource: Resource, region: str) -> dict[str, Any]:
    """What AWS would report for a created resource (ids made up, shapes real)."""
    short = re.sub(r"[^a-z0-9]", "", resource.name.lower())[-8:]
    if resource.kind in ("websocket_api", "http_api"):
        endpoint = f"wss://{short}.execute-api.{region}.amazonaws.com"
        if resource.kind == "http_api":
            endpoint = endpoint.replace("wss://", "https://")
        attributes = {"ApiId": short, "ApiEndpoint": endpoint, "Name": resource.name}
        if resource.kind == "websocket_api":
            attributes["ManagementUrl"] = management_url(endpoint, CONFIG.stage)
        return attributes
    table_arn = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{resource.name}"
    return {
        "dynamodb_table": {"TableArn": table_arn, "LatestStreamArn": f"{table_arn}/stream/2024"},
        "event_source_mapping": {"UUID": f"uuid-{short}"},
        "iam_role": {"Arn": f"arn:aws:iam::{ACCOUNT}:role/{resource.name}"},
        "lambda_function": {"Arn": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{resource.name}"},
        "authorizer": {"AuthorizerId": f"au{short}"},
        "integration": {"IntegrationId": f"in{short}"},
        "ws_route": {"RouteId": f"ro{short}"},
        "http_route": {"RouteId": f"ro{short}"},
        "api_mapping": {"ApiMappingId": f"am{short}", "ApiMappingKey": ""},
    }.get(resource.kind, {})


def deployed(resources: list[Resource], region: str = "eu-west-1") -> Observed:
    """The observed state right after applying `resources` (what a perfect executor leaves)."""
    found: dict[tuple[str, str], Found] = {}
    known: dict[tuple[str, str], Mapping[str, Any]] = {}
    for resource in resources:
        attributes = {**resolve(resource.identity, known), **fake_attributes(resource, region)}
        known[(resource.kind, resource.name)] = attributes
        found[(resource.kind, resource.name)] = Found(attributes, resolve(resource.spec, known))
    return Observed(account=ACCOUNT, partition="aws", resources=found)


def by_kind(plan: list[Action]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action in plan:
        counts[action.kind] = counts.get(action.kind, 0) + 1
    return counts


# -- full plan, idempotence, drift ----------------------------------------------------------------


def test_empty_account_plans_every_resource_kind_in_dependency_order() -> None:
    plan = plan_deploy(desired(DOMAIN_CONFIG), empty())

    assert {a.verb for a in plan} == {"create"}
    assert by_kind(plan) == {
        "dynamodb_table": 1,
        "ttl": 1,
        "ssm_parameter": 3,
        "websocket_api": 1,
        "http_api": 1,
        "stage": 2,
        "iam_role": 1,
        "log_group": 8,
        "lambda_function": 8,
        "event_source_mapping": 2,
        "authorizer": 1,
        "integration": 4,
        "ws_route": 8,
        "http_route": 13,
        "permission": 5,
        "domain_name": 2,
        "api_mapping": 2,
    }
    order = [KIND_ORDER.index(a.kind) for a in plan]
    assert order == sorted(order)


def test_without_a_domain_there_are_no_domains_or_mappings() -> None:
    kinds = by_kind(plan_deploy(desired(CONFIG), empty()))
    assert "domain_name" not in kinds
    assert "api_mapping" not in kinds


def test_a_stage_that_matches_plans_nothing() -> None:
    resources = desired(DOMAIN_CONFIG)
    assert plan_deploy(resources, deployed(resources)) == []


def test_a_new_bundle_plans_exactly_the_eight_code_updates() -> None:
    observed = deployed(desired())

    plan = plan_deploy(desired(sha="bmV3LWNvZGU="), observed)

    assert [(a.verb, a.kind) for a in plan] == [("update", "lambda_function")] * 8
    assert all(a.details["changed"] == ["CodeSha256"] for a in plan)
    assert all(a.details["previous"] == {"CodeSha256": SHA} for a in plan)
    assert plan[0].view()["summary"] == "update code c2hhLW9u… -> bmV3LWNv…"


def test_environment_drift_is_an_update_of_that_property_only() -> None:
    resources = desired()
    observed = deployed(resources)
    name = Names(CONFIG).function("ws_message")
    found = observed.resources[("lambda_function", name)]
    drifted = {**found.spec, "Environment": {"Variables": {"BINGO_STORE": "sqlite"}}}
    resources_found = {
        **observed.resources,
        ("lambda_function", name): Found(found.attributes, drifted),
    }

    plan = plan_deploy(resources, Observed(ACCOUNT, "aws", resources_found))

    assert [(a.verb, a.name) for a in plan] == [("update", name)]
    assert plan[0].details["changed"] == ["Environment"]
    variables = plan[0].details["Environment"]["Variables"]
    assert variables["BINGO_STORE"] == "dynamodb"
    assert variables["BINGO_MANAGEMENT_ENDPOINT"].startswith("https://")


def test_a_recreated_websocket_api_updates_what_refers_to_its_id() -> None:
    # The API was deleted out of band: everything naming its id or URL must follow the new one.
    resources = desired()
    observed = deployed(resources)
    ws = Names(CONFIG).websocket_api
    ws_id = observed.resources[("websocket_api", ws)].attributes["ApiId"]
    kept = {
        key: found
        for key, found in observed.resources.items()
        if key != ("websocket_api", ws) and found.attributes.get("ApiId") != ws_id
    }

    plan = plan_deploy(resources, Observed(ACCOUNT, "aws", kept))

    creates = {a.kind for a in plan if a.verb == "create"}
    updates = {(a.kind, tuple(a.details["changed"])) for a in plan if a.verb == "update"}
    assert creates == {"websocket_api", "stage", "authorizer", "integration", "ws_route"}
    assert ("iam_role", ("PolicyDocument",)) in updates  # ManageConnections on the new API
    assert ("lambda_function", ("Environment",)) in updates  # the new management URL
    assert {a.name for a in plan if a.kind == "permission"} == {
        f"{Names(CONFIG).function(h)} apigateway-invoke"
        for h in ("ws_authorizer", "ws_connect", "ws_disconnect", "ws_message")
    }
    # The unknown id stays a reference for the executor to fill in.
    role_update = next(a for a in plan if a.kind == "iam_role")
    connections = role_update.details["PolicyDocument"]["Statement"][1]["Resource"][0]
    assert isinstance(connections, Join)


def test_a_changed_key_schema_is_refused_not_updated() -> None:
    resources = desired()
    observed = deployed(resources)
    key = ("dynamodb_table", Names(CONFIG).table)
    found = observed.resources[key]
    other = {**found.spec, "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}
    changed = Observed(ACCOUNT, "aws", {**observed.resources, key: Found(found.attributes, other)})

    with pytest.raises(DriftError, match="KeySchema"):
        plan_deploy(resources, changed)


def test_a_table_without_the_leaderboard_index_is_refused_not_updated() -> None:
    """A local secondary index can only be made with the table, so its absence is drift."""
    resources = desired()
    observed = deployed(resources)
    key = ("dynamodb_table", Names(CONFIG).table)
    found = observed.resources[key]
    assert found.spec["LocalIndexNames"]
    other = {**found.spec, "LocalIndexNames": []}
    changed = Observed(ACCOUNT, "aws", {**observed.resources, key: Found(found.attributes, other)})

    with pytest.raises(DriftError, match="LocalIndexNames"):
        plan_deploy(resources, changed)


def test_deploy_never_deletes_what_it_does_not_manage() -> None:
    resources = desired()
    observed = deployed(resources)
    extra = {
        ("ws_route", "bingo-dev-ws legacy"): Found({"RouteId": "x"}, {"Target": "integrations/y"})
    }
    assert plan_deploy(resources, Observed(ACCOUNT, "aws", {**observed.resources, **extra})) == []


# -- teardown -------------------------------------------------------------------------------------


def test_teardown_deletes_top_level_resources_dependents_first() -> None:
    plan = plan_teardown(deployed(desired(DOMAIN_CONFIG)))

    assert {a.verb for a in plan} == {"delete"}
    kinds = [a.kind for a in plan]
    assert kinds == sorted(kinds, key=TEARDOWN_KINDS.index)
    assert set(kinds) == set(TEARDOWN_KINDS)
    assert len(plan) == 2 + 2 + 2 + 2 + 8 + 8 + 1 + 3 + 1
    assert plan_teardown(empty()) == []


# -- references -----------------------------------------------------------------------------------


def test_resolve_fills_in_what_is_known_and_keeps_the_rest() -> None:
    known = {("websocket_api", "ws"): {"ApiId": "abc"}}
    value = {
        "a": Join(("arn:", Ref("websocket_api", "ws", "ApiId"), "/*")),
        "b": [Ref("authorizer", "t", "AuthorizerId")],
    }

    resolved = resolve(value, known)

    assert resolved["a"] == "arn:abc/*"
    assert resolved["b"] == [Ref("authorizer", "t", "AuthorizerId")]
    with pytest.raises(UnresolvedError, match="AuthorizerId"):
        resolve(value, known, strict=True)


def test_same_ignores_the_order_of_string_lists_and_never_matches_a_reference() -> None:
    assert same({"Action": ["b", "a"]}, {"Action": ["a", "b"]})
    assert not same({"Action": ["a"]}, {"Action": ["a", "b"]})
    assert not same(Ref("k", "n", "Arn"), "arn:whatever")
    assert same([{"x": 1}, {"y": 2}], [{"x": 1}, {"y": 2}])


# -- URLs: moto reports https://, AWS wss:// ------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "wss://abc123.execute-api.eu-west-1.amazonaws.com",
        "https://abc123.execute-api.eu-west-1.amazonaws.com",
    ],
)
def test_the_management_url_is_https_whatever_getapi_reports(endpoint: str) -> None:
    assert (
        management_url(endpoint, "dev") == "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
    )
    assert websocket_url(endpoint, "dev") == "wss://abc123.execute-api.eu-west-1.amazonaws.com/dev"


def outputs_known(config: AwsConfig) -> dict[tuple[str, str], Mapping[str, Any]]:
    return dict(deployed(desired(config)).known())


def test_outputs_use_the_execute_api_endpoints_without_a_domain() -> None:
    found = outputs(CONFIG, outputs_known(CONFIG))

    ws_id, http_id = found["websocketApiId"], found["httpApiId"]
    assert found["target"] == "aws"
    assert found["wsUrl"] == f"wss://{ws_id}.execute-api.eu-west-1.amazonaws.com/dev"
    assert found["managementUrl"] == f"https://{ws_id}.execute-api.eu-west-1.amazonaws.com/dev"
    assert found["httpUrl"] == f"https://{http_id}.execute-api.eu-west-1.amazonaws.com"
    assert found["metricsUrl"] is None
    assert found["functions"]["ws_message"] == "bingo-dev-ws-message"
    assert found["parameters"]["admin"] == "/bingo/dev/admin-token-keys"


def test_outputs_use_the_custom_domains_and_their_mappings() -> None:
    known = outputs_known(DOMAIN_CONFIG)
    found = outputs(DOMAIN_CONFIG, known)
    assert found["wsUrl"] == "wss://ws-dev.example.com"
    assert found["httpUrl"] == "https://api-dev.example.com"
    assert found["managementUrl"] == "https://ws-dev.example.com"

    # A mapping under a path puts the management API under that path too.
    mapping = ("api_mapping", "ws-dev.example.com/")
    known[mapping] = {**known[mapping], "ApiMappingKey": "live"}
    found = outputs(DOMAIN_CONFIG, known)
    assert found["wsUrl"] == "wss://ws-dev.example.com/live"
    assert found["managementUrl"] == "https://ws-dev.example.com/live"


# -- the role's policy ----------------------------------------------------------------------------


def test_the_role_may_do_only_what_the_handlers_do_on_this_stage() -> None:
    known = {("websocket_api", "bingo-dev-ws"): {"ApiId": "wsid"}}
    policy = resolve(role_policy(CONFIG, account=ACCOUNT, partition="aws"), known, strict=True)
    statements = {s["Sid"]: s for s in policy["Statement"]}

    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert statements["Table"]["Resource"] == [
        f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/bingo-dev",
        f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/bingo-dev/index/*",
    ]
    assert "dynamodb:Scan" not in statements["Table"]["Action"]
    assert statements["Connections"] == {
        "Sid": "Connections",
        "Effect": "Allow",
        "Action": ["execute-api:ManageConnections"],
        "Resource": [f"arn:aws:execute-api:eu-west-1:{ACCOUNT}:wsid/dev/*/@connections/*"],
    }
    assert statements["TokenKeys"]["Resource"] == [
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/bingo/dev/{kind}-token-keys"
        for kind in ("user", "public", "admin")
    ]
    assert all(
        r.startswith(f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/bingo-dev-")
        for r in statements["Logs"]["Resource"]
    )
    assert not any(r == "*" for s in statements.values() for r in s["Resource"])


def _adapter_dynamodb_actions() -> set[str]:
    """The IAM actions the DynamoDB adapter's calls and transaction entries need."""
    source = Path(store_dynamodb.__file__).read_text()
    calls = set(re.findall(r'_call\(\s*"([a-z_]+)"', source))
    # Transaction entries: `_Write({"Put": ...})` and `_keyed("Delete", ...)`.
    entries = set(
        re.findall(r'(?:_Write\(\{|_keyed\(\s*)"(Put|Update|Delete|ConditionCheck)"', source)
    )
    assert calls, "the adapter no longer calls DynamoDB the way this test reads it"
    assert entries, "the adapter no longer builds transactions the way this test reads it"
    operations = {"".join(part.title() for part in call.split("_")) for call in calls}
    operations |= {"ConditionCheckItem" if e == "ConditionCheck" else f"{e}Item" for e in entries}
    return {f"dynamodb:{op}" for op in operations}


def test_the_dynamodb_actions_are_exactly_those_the_adapter_uses() -> None:
    assert set(DYNAMODB_ACTIONS) == _adapter_dynamodb_actions()


# -- configuration and names ----------------------------------------------------------------------


def test_names_derive_from_prefix_and_stage() -> None:
    names = Names(DOMAIN_CONFIG)
    assert (names.table, names.role) == ("bingo-dev", "bingo-dev-lambda")
    assert (names.websocket_api, names.http_api) == ("bingo-dev-ws", "bingo-dev-http")
    assert names.function("ws_authorizer") == "bingo-dev-ws-authorizer"
    assert names.parameter("user") == "/bingo/dev/user-token-keys"
    assert (names.websocket_domain, names.http_domain) == (
        "ws-dev.example.com",
        "api-dev.example.com",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stage": "dev_1"}, "stage"),
        ({"stage": "Dev"}, "lower-case"),
        ({"prefix": ""}, "prefix"),
        ({"region": ""}, "region"),
        ({"domain": "example.com"}, "go together"),
        ({"certificate_arn": CERT}, "go together"),
        ({"domain": "Example..com", "certificate_arn": CERT}, "domain"),
        ({"memory_mb": 64}, "memory"),
        ({"timeout_s": 0}, "timeout"),
        ({"prefix": "p" * 31, "stage": "s" * 31}, "too long"),
        ({"fanout": "coalesced"}, "fanout"),
        ({"board_window_s": -0.5}, "board_window_s"),
        ({"player_window_s": 301}, "player_window_s"),
        ({"player_window_s": float("nan")}, "player_window_s"),
    ],
)
def test_a_bad_configuration_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AwsConfig(**{"stage": "dev", "region": "eu-west-1", **kwargs})


def test_no_action_of_a_plan_carries_a_secret_value() -> None:
    for action in plan_deploy(desired(DOMAIN_CONFIG), empty()):
        if action.kind == "ssm_parameter":
            assert "Value" not in action.details
        assert set(action.view()) == {"verb", "kind", "name", "summary"}


# -- the stream fan-out ---------------------------------------------------------------------------

INLINE = AwsConfig(stage="dev", region="eu-west-1", fanout="inline")
TABLE_ARN = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/bingo-dev"


def mapping_actions(plan: list[Action]) -> dict[str, Action]:
    return {a.name: a for a in plan if a.kind == "event_source_mapping"}


def test_every_function_gets_the_fanout_mode_and_stream_adds_two_mappings() -> None:
    plan = plan_deploy(desired(), empty())

    functions = {a.name: a for a in plan if a.kind == "lambda_function"}
    assert {a.details["Environment"]["Variables"]["BINGO_FANOUT"] for a in functions.values()} == {
        "stream"
    }
    assert functions["bingo-dev-broadcast-boards"].details["Handler"] == (
        "backend.handlers.stream_broadcast.boards_handler"
    )
    assert functions["bingo-dev-post-players"].details["Handler"] == (
        "backend.handlers.stream_broadcast.post_players_handler"
    )
    assert {
        a.details["Environment"]["Variables"]["BINGO_POST_FUNCTION"] for a in functions.values()
    } == {"bingo-dev-post-players"}
    table = next(a for a in plan if a.kind == "dynamodb_table")
    assert table.details["Definition"]["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "KEYS_ONLY",
    }
    found = mapping_actions(plan)
    assert set(found) == {
        "bingo-dev/stream -> bingo-dev-broadcast-boards",
        "bingo-dev/stream -> bingo-dev-broadcast-players",
    }
    boards = found["bingo-dev/stream -> bingo-dev-broadcast-boards"].details
    assert boards["EventSourceArn"] == Ref("dynamodb_table", "bingo-dev", "LatestStreamArn")
    assert boards["MaximumBatchingWindowInSeconds"] == 0
    assert (
        found["bingo-dev/stream -> bingo-dev-broadcast-players"].details[
            "MaximumBatchingWindowInSeconds"
        ]
        == 2
    )
    assert boards["FilterCriteria"] == {"Filters": [{"Pattern": event_filter_pattern()}]}
    assert boards["note"].startswith("boards window 0 s -> 0 s: as soon as the poller")


@pytest.mark.parametrize(
    ("window", "seconds", "note"),
    [
        (0.25, 0, "boards window 0.25 s -> 0 s: as soon as the poller reads the shard, about 4"),
        (2.0, 2, "boards window 2 s -> 2 s"),
        (2.9, 2, "boards window 2.9 s -> 2 s (whole seconds, rounded down)"),
        (300, 300, "boards window 300 s -> 300 s"),
    ],
)
def test_windows_round_down_to_whole_seconds_and_say_so(
    window: float, seconds: int, note: str
) -> None:
    assert batching_window(window) == seconds
    assert window_note("boards", window).startswith(note)


def test_the_filter_passes_only_inserts_of_event_items() -> None:
    assert EVENT_FILTER == {
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "EVENT#"}]}}},
    }
    assert event_filter_pattern() == (
        '{"dynamodb":{"Keys":{"sk":{"S":[{"prefix":"EVENT#"}]}}},"eventName":["INSERT"]}'
    )


def test_the_role_reads_only_this_tables_streams_and_only_with_stream_fanout() -> None:
    known = {("websocket_api", "bingo-dev-ws"): {"ApiId": "wsid"}}
    streaming = resolve(role_policy(CONFIG, account=ACCOUNT, partition="aws"), known, strict=True)
    inline = resolve(role_policy(INLINE, account=ACCOUNT, partition="aws"), known, strict=True)

    (stream,) = [s for s in streaming["Statement"] if s["Sid"] == "Stream"]
    assert stream["Resource"] == [f"{TABLE_ARN}/stream/*"]
    assert set(stream["Action"]) == {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }
    assert "Stream" not in {s["Sid"] for s in inline["Statement"]}
    logs = next(s for s in streaming["Statement"] if s["Sid"] == "Logs")["Resource"]
    assert any("bingo-dev-broadcast-players" in r for r in logs)
    assert any("bingo-dev-post-players" in r for r in logs)
    # The players' broadcaster may start its posting jobs, and nothing else.
    (jobs,) = [s for s in streaming["Statement"] if s["Sid"] == "PostJobs"]
    assert jobs["Action"] == ["lambda:InvokeFunction"]
    assert jobs["Resource"] == [
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:bingo-dev-post-players"
    ]
    assert "PostJobs" not in {s["Sid"] for s in inline["Statement"]}


def test_a_table_without_a_stream_is_updated_and_the_mappings_wait_for_its_arn() -> None:
    resources = desired()
    observed = deployed(resources)
    key = ("dynamodb_table", "bingo-dev")
    found = observed.resources[key]
    no_stream = Found(
        {k: v for k, v in found.attributes.items() if k != "LatestStreamArn"},
        {**found.spec, "StreamSpecification": {"StreamEnabled": False}},
    )
    kept = {k: f for k, f in observed.resources.items() if k[0] != "event_source_mapping"}

    plan = plan_deploy(resources, Observed(ACCOUNT, "aws", {**kept, key: no_stream}))

    assert [(a.verb, a.kind) for a in plan] == [
        ("update", "dynamodb_table"),
        ("create", "event_source_mapping"),
        ("create", "event_source_mapping"),
    ]
    assert plan[0].details["changed"] == ["StreamSpecification"]
    assert isinstance(plan[1].details["EventSourceArn"], Ref)


def test_a_stream_of_another_view_type_is_replaced_and_the_mappings_move_with_it() -> None:
    resources = desired()
    observed = deployed(resources)
    key = ("dynamodb_table", "bingo-dev")
    found = observed.resources[key]
    images = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    changed = {
        **observed.resources,
        key: Found(found.attributes, {**found.spec, "StreamSpecification": images}),
    }

    plan = plan_deploy(resources, Observed(ACCOUNT, "aws", changed))

    assert [(a.verb, a.kind, a.details["changed"]) for a in plan] == [
        ("update", "dynamodb_table", ["StreamSpecification"]),
        ("update", "event_source_mapping", ["EventSourceArn"]),
        ("update", "event_source_mapping", ["EventSourceArn"]),
    ]
    # The new stream's ARN is known only once the executor has replaced the stream.
    assert plan[1].details["EventSourceArn"] == Ref(
        "dynamodb_table", "bingo-dev", "LatestStreamArn"
    )


def test_inline_fanout_deletes_the_mappings_then_the_broadcasters_last() -> None:
    observed = deployed(desired())

    plan = plan_deploy(desired(INLINE), observed)

    assert [(a.verb, a.kind, a.name) for a in plan if a.verb == "delete"] == [
        ("delete", "event_source_mapping", "bingo-dev/stream -> bingo-dev-broadcast-boards"),
        ("delete", "event_source_mapping", "bingo-dev/stream -> bingo-dev-broadcast-players"),
        ("delete", "lambda_function", "bingo-dev-broadcast-boards"),
        ("delete", "lambda_function", "bingo-dev-broadcast-players"),
        ("delete", "lambda_function", "bingo-dev-post-players"),
    ]
    assert [a.verb for a in plan][-5:] == ["delete"] * 5
    assert {a.details["UUID"] for a in plan if a.kind == "event_source_mapping"} <= {
        f.attributes["UUID"]
        for k, f in observed.resources.items()
        if k[0] == "event_source_mapping"
    }
    # On an account without broadcasters, inline plans nothing about them.
    fresh = plan_deploy(desired(INLINE), empty())
    assert {a.verb for a in fresh} == {"create"}
    assert not {"event_source_mapping"} & {a.kind for a in fresh}
    assert not [a for a in fresh if "broadcast" in a.name]
    inline_desired = desired(INLINE)
    assert plan_deploy(inline_desired, deployed([r for r in inline_desired if not r.absent])) == []
