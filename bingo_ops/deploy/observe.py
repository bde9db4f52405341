"""Observe a stage on AWS: read-only calls (Describe*, Get*, List*) -> `plan.Observed`.

Resources are found by the names `resources.Names` gives them; sub-resources (routes,
integrations, stages, mappings) by their key inside their parent. Each observed resource is
shaped like the `Resource.spec` the planner compares it with. Nothing here changes anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from bingo_ops.deploy.plan import Found, Observed
from bingo_ops.deploy.resources import (
    ALL_HANDLERS,
    BROADCASTERS,
    MAPPING_KEY,
    PERMISSION_SID,
    TOKEN_PARAMETERS,
    AwsConfig,
    Names,
    canonical_pattern,
    canonical_policy,
    function_of_uri,
    integration_name,
    management_url,
    mapping_name,
    permission_name,
    route_name,
    stage_name,
)

# Standard retry mode backs off on throttling; API Gateway's control plane throttles route
# and integration calls at a few per second
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "max_attempts": 8})
_MISSING: Final = frozenset(
    {"ResourceNotFoundException", "NoSuchEntity", "NotFoundException", "ParameterNotFound"}
)


class Clients:
    """boto3 clients of one region, created on first use the ordinary way.

    `boto3.client(service, region_name=...)` reads `AWS_ENDPOINT_URL` /
    `AWS_ENDPOINT_URL_<SERVICE>` and the usual credential chain, so the same code talks to AWS,
    a moto server or any AWS-compatible endpoint.
    """

    def __init__(self, region: str) -> None:
        self.region = region
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        """The client of a service (`lambda`, `apigatewayv2`, ...)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, region_name=self.region, config=CLIENT_CONFIG
            )
        return self._clients[service]

    def partition(self) -> str:
        """The ARN partition of the region (`aws`, `aws-cn`, `aws-us-gov`); no call made."""
        return str(boto3.session.Session().get_partition_for_region(self.region))


def missing(error: ClientError) -> bool:
    """Whether an error says the thing asked for does not exist."""
    return error.response.get("Error", {}).get("Code") in _MISSING


def _get(call: Callable[..., Any], **kwargs: Any) -> Any | None:
    """`call(**kwargs)`, or None when it reports the resource missing."""
    try:
        return call(**kwargs)
    except ClientError as error:
        if missing(error):
            return None
        raise


def _items(call: Callable[..., Any], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paginated apigatewayv2 `Get*` call (`Items` + `NextToken`)."""
    while True:
        page = call(**kwargs)
        yield from page.get("Items", [])
        token = page.get("NextToken")
        if not token:
            return
        kwargs["NextToken"] = token


# -- attributes: what a resource's create/get response says others need -------------------------


def api_attributes(api: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """Attributes of an API from CreateApi/GetApi(s).

    Its id, name and endpoint, and for a WebSocket API the management URL of `stage`.
    """
    attributes = {"ApiId": api["ApiId"], "ApiEndpoint": api["ApiEndpoint"], "Name": api["Name"]}
    if api.get("ProtocolType") == "WEBSOCKET":
        attributes["ManagementUrl"] = management_url(api["ApiEndpoint"], stage)
    return attributes


def domain_attributes(domain: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes of a custom domain: its name and the DNS target to point it at."""
    configuration = (domain.get("DomainNameConfigurations") or [{}])[0]
    attributes = {"DomainName": domain["DomainName"]}
    for key in ("ApiGatewayDomainName", "HostedZoneId"):
        if configuration.get(key):
            attributes[key] = configuration[key]
    return attributes


# -- observe ----------------------------------------------------------------------------------


def observe(clients: Clients, config: AwsConfig, *, every_mapping: bool = False) -> Observed:
    """Everything of the stage that exists.

    Args:
        clients: The region's clients.
        config: The stage.
        every_mapping: Also find API mappings to this stage's APIs on any custom domain (for
            teardown, which must remove them before the APIs even when run without --domain).

    Returns:
        The observed state.

    Raises:
        LookupError: Two APIs carry this stage's API name, so which one is ours is unclear.
    """
    names = Names(config)
    account = str(clients("sts").get_caller_identity()["Account"])
    found: dict[tuple[str, str], Found] = {}
    _observe_table(clients, names, found)
    _observe_parameters(clients, names, found)
    _observe_role(clients, names, found)
    _observe_log_groups(clients, names, found)
    _observe_functions(clients, names, found)
    _observe_apis(clients, config, found)
    _observe_domains(clients, config, found, every_mapping=every_mapping)
    return Observed(account=account, partition=clients.partition(), resources=found)


def _observe_table(clients: Clients, names: Names, found: dict[tuple[str, str], Found]) -> None:
    dynamodb = clients("dynamodb")
    described = _get(dynamodb.describe_table, TableName=names.table)
    if described is None:
        return
    table = described["Table"]
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    attributes = {"TableName": names.table, "TableArn": table["TableArn"]}
    # A disabled stream keeps its LatestStreamArn (readable for 24 hours) but gets no new
    # records: only an enabled stream is one to map.
    stream = table.get("StreamSpecification") or {}
    if stream.get("StreamEnabled") and table.get("LatestStreamArn"):
        stream_spec = {"StreamEnabled": True, "StreamViewType": stream.get("StreamViewType")}
        attributes["LatestStreamArn"] = table["LatestStreamArn"]
    else:
        stream_spec = {"StreamEnabled": False}
    found[("dynamodb_table", names.table)] = Found(
        attributes=attributes,
        spec={
            "KeySchema": table["KeySchema"],
            "BillingMode": billing,
            "IndexNames": sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])),
            "LocalIndexNames": sorted(
                i["IndexName"] for i in table.get("LocalSecondaryIndexes", [])
            ),
            "StreamSpecification": stream_spec,
        },
    )
    ttl = dynamodb.describe_time_to_live(TableName=names.table)["TimeToLiveDescription"]
    status = ttl.get("TimeToLiveStatus", "DISABLED")
    if status != "DISABLED":
        found[("ttl", names.table)] = Found(
            attributes={"TableName": names.table},
            spec={
                "AttributeName": ttl.get("AttributeName"),
                # ENABLING is on its way; asking again would fail with a ValidationException.
                "Enabled": status in ("ENABLED", "ENABLING"),
            },
        )


def _observe_parameters(
    clients: Clients, names: Names, found: dict[tuple[str, str], Found]
) -> None:
    # DescribeParameters returns metadata only: the secrets are never read to plan.
    wanted = [names.parameter(kind) for kind in TOKEN_PARAMETERS]
    paginator = clients("ssm").get_paginator("describe_parameters")
    filters = [{"Key": "Name", "Option": "Equals", "Values": wanted}]
    for page in paginator.paginate(ParameterFilters=filters):
        for parameter in page.get("Parameters", []):
            if parameter["Name"] in wanted:
                found[("ssm_parameter", parameter["Name"])] = Found(
                    attributes={"Name": parameter["Name"]}, spec={"Type": parameter["Type"]}
                )


def _observe_role(clients: Clients, names: Names, found: dict[tuple[str, str], Found]) -> None:
    iam = clients("iam")
    got = _get(iam.get_role, RoleName=names.role)
    if got is None:
        return
    role = got["Role"]
    inline = [
        name
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=names.role)
        for name in page["PolicyNames"]
    ]
    attached = [
        policy["PolicyArn"]
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=names.role)
        for policy in page["AttachedPolicies"]
    ]
    document = None
    if names.role in inline:
        # boto3 hands IAM policy documents back URL-decoded and parsed.
        policy = iam.get_role_policy(RoleName=names.role, PolicyName=names.role)
        document = canonical_policy(_document(policy["PolicyDocument"]))
    found[("iam_role", names.role)] = Found(
        attributes={
            "RoleName": names.role,
            "Arn": role["Arn"],
            "InlinePolicies": inline,
            "AttachedPolicies": attached,
        },
        spec={
            "AssumeRolePolicyDocument": canonical_policy(
                _document(role["AssumeRolePolicyDocument"])
            ),
            "PolicyDocument": document,
        },
    )


def _document(value: Any) -> dict[str, Any]:
    # Some AWS-compatible endpoints return the document as a JSON string (URL-encoded on AWS).
    if isinstance(value, str):
        parsed: dict[str, Any] = json.loads(unquote(value))
        return parsed
    return dict(value)


def _observe_log_groups(
    clients: Clients, names: Names, found: dict[tuple[str, str], Found]
) -> None:
    wanted = {names.log_group(handler) for handler in ALL_HANDLERS}
    paginator = clients("logs").get_paginator("describe_log_groups")
    for page in paginator.paginate(logGroupNamePrefix=f"/aws/lambda/{names.base}-"):
        for group in page.get("logGroups", []):
            if group["logGroupName"] in wanted:
                found[("log_group", group["logGroupName"])] = Found(
                    attributes={"LogGroupName": group["logGroupName"]},
                    spec={"RetentionInDays": group.get("retentionInDays")},
                )


def _observe_functions(clients: Clients, names: Names, found: dict[tuple[str, str], Found]) -> None:
    lambda_ = clients("lambda")
    for handler in ALL_HANDLERS:
        name = names.function(handler)
        configuration = _get(lambda_.get_function_configuration, FunctionName=name)
        if configuration is None:
            continue
        if handler in BROADCASTERS:
            _observe_mappings(lambda_, names, handler, found)
        variables = configuration.get("Environment", {}).get("Variables", {})
        found[("lambda_function", name)] = Found(
            attributes={"FunctionName": name, "Arn": configuration["FunctionArn"]},
            spec={
                "Runtime": configuration.get("Runtime"),
                "Handler": configuration.get("Handler"),
                "Role": configuration.get("Role"),
                "MemorySize": configuration.get("MemorySize"),
                "Timeout": configuration.get("Timeout"),
                "Environment": {"Variables": dict(variables)},
                "CodeSha256": configuration.get("CodeSha256"),
            },
        )
        policy = _get(lambda_.get_policy, FunctionName=name)
        if policy is None:  # no resource policy at all yet
            continue
        for statement in json.loads(policy["Policy"]).get("Statement", []):
            if statement.get("Sid") != PERMISSION_SID:
                continue
            principal = statement.get("Principal", {})
            found[("permission", permission_name(name))] = Found(
                attributes={"FunctionName": name, "StatementId": PERMISSION_SID},
                spec={
                    "Action": statement.get("Action"),
                    "Principal": principal.get("Service")
                    if isinstance(principal, Mapping)
                    else principal,
                    "SourceArn": statement.get("Condition", {})
                    .get("ArnLike", {})
                    .get("AWS:SourceArn"),
                },
            )


# How GetEventSourceMapping reports a mapping's settings when it was created without them
# (defaults: https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html).
_MAPPING_DEFAULTS: Final[Mapping[str, Any]] = {
    "FunctionResponseTypes": [],
    "BisectBatchOnFunctionError": False,
    "MaximumRetryAttempts": -1,
    "MaximumRecordAgeInSeconds": -1,
    "ParallelizationFactor": 1,
    "MaximumBatchingWindowInSeconds": 0,
}
# States of a mapping that is, or is about to be, enabled.
_ENABLED_STATES: Final = frozenset({"Creating", "Enabling", "Enabled", "Updating"})


def mapping_spec(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """An event source mapping's managed settings, shaped like its `Resource.spec`."""
    spec: dict[str, Any] = {
        key: mapping.get(key, default) for key, default in _MAPPING_DEFAULTS.items()
    }
    spec["EventSourceArn"] = mapping.get("EventSourceArn")
    spec["StartingPosition"] = mapping.get("StartingPosition")
    spec["BatchSize"] = mapping.get("BatchSize")
    filters = (mapping.get("FilterCriteria") or {}).get("Filters") or []
    spec["FilterCriteria"] = {
        "Filters": [{"Pattern": canonical_pattern(f["Pattern"])} for f in filters if "Pattern" in f]
    }
    spec["Enabled"] = mapping.get("State") in _ENABLED_STATES
    return spec


def _observe_mappings(
    lambda_: Any, names: Names, handler: str, found: dict[tuple[str, str], Found]
) -> None:
    """The broadcaster's event source mappings: the one on this table's stream is ours.

    Should there be several (made by hand), the one on the table's current stream, else the
    newest, is compared with the plan; the others are found under their UUID, so teardown
    removes them too and deploy leaves them alone.
    """
    function = names.function(handler)
    table = found.get(("dynamodb_table", names.table))
    current = table.attributes.get("LatestStreamArn") if table is not None else None
    mappings: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"FunctionName": function}
    while True:
        page = _get(lambda_.list_event_source_mappings, **kwargs)
        if page is None:
            break
        mappings.extend(page.get("EventSourceMappings", []))
        if not page.get("NextMarker"):
            break
        kwargs["Marker"] = page["NextMarker"]
    ours = [m for m in mappings if f":table/{names.table}/stream/" in m.get("EventSourceArn", "")]
    ours.sort(key=lambda m: (m.get("EventSourceArn") == current, str(m.get("LastModified", ""))))
    primary = ours[-1] if ours else None
    for mapping in mappings:
        name = names.stream_mapping(handler)
        if mapping is not primary:
            name = f"{name} {mapping['UUID']}"
        found[("event_source_mapping", name)] = Found(
            attributes={"FunctionName": function, "UUID": mapping["UUID"]},
            spec=mapping_spec(mapping),
        )


def _observe_apis(clients: Clients, config: AwsConfig, found: dict[tuple[str, str], Found]) -> None:
    names = Names(config)
    apigw = clients("apigatewayv2")
    ours = {names.websocket_api: "websocket_api", names.http_api: "http_api"}
    apis: dict[str, dict[str, Any]] = {}
    for api in _items(apigw.get_apis):
        if api["Name"] in ours:
            if api["Name"] in apis:
                raise LookupError(
                    f"two APIs are named {api['Name']!r} ({apis[api['Name']]['ApiId']}, "
                    f"{api['ApiId']}); delete the stray one"
                )
            apis[api["Name"]] = api
    for api_name, api in apis.items():
        kind = ours[api_name]
        is_ws = kind == "websocket_api"
        api_id = api["ApiId"]
        spec: dict[str, Any] = {"ProtocolType": api.get("ProtocolType")}
        if is_ws:
            spec["RouteSelectionExpression"] = api.get("RouteSelectionExpression")
        else:
            cors = api.get("CorsConfiguration") or {}
            spec["CorsConfiguration"] = {
                key: cors[key]
                for key in ("AllowOrigins", "AllowMethods", "AllowHeaders", "MaxAge")
                if key in cors
            }
        found[(kind, api_name)] = Found(attributes=api_attributes(api, config.stage), spec=spec)
        for stage in _items(apigw.get_stages, ApiId=api_id):
            found[("stage", stage_name(api_name, stage["StageName"]))] = Found(
                attributes={"ApiId": api_id, "StageName": stage["StageName"]},
                spec={"AutoDeploy": bool(stage.get("AutoDeploy", False))},
            )
        for integration in _items(apigw.get_integrations, ApiId=api_id):
            function = function_of_uri(integration.get("IntegrationUri", ""))
            if function is None:
                continue
            spec = {"IntegrationType": integration.get("IntegrationType")}
            spec["IntegrationUri"] = integration.get("IntegrationUri")
            if is_ws:
                spec["IntegrationMethod"] = integration.get("IntegrationMethod")
            else:
                spec["PayloadFormatVersion"] = integration.get("PayloadFormatVersion")
            found[("integration", integration_name(api_name, function))] = Found(
                attributes={"ApiId": api_id, "IntegrationId": integration["IntegrationId"]},
                spec=spec,
            )
        kind_of_route = "ws_route" if is_ws else "http_route"
        for route in _items(apigw.get_routes, ApiId=api_id):
            spec = {
                "Target": route.get("Target"),
                "AuthorizationType": route.get("AuthorizationType", "NONE"),
            }
            if route.get("AuthorizerId"):
                spec["AuthorizerId"] = route["AuthorizerId"]
            found[(kind_of_route, route_name(api_name, route["RouteKey"]))] = Found(
                attributes={
                    "ApiId": api_id,
                    "RouteKey": route["RouteKey"],
                    "RouteId": route["RouteId"],
                },
                spec=spec,
            )
            if is_ws and route["RouteKey"] == "$connect" and route.get("AuthorizerId"):
                _observe_authorizer(apigw, names, api_id, route["AuthorizerId"], found)


def _observe_authorizer(
    apigw: Any, names: Names, api_id: str, authorizer_id: str, found: dict[tuple[str, str], Found]
) -> None:
    # Found through the $connect route that uses it: GetAuthorizers would list them directly,
    # but moto's server does not implement it, and an authorizer no route uses does nothing.
    authorizer = _get(apigw.get_authorizer, ApiId=api_id, AuthorizerId=authorizer_id)
    if authorizer is None or authorizer.get("Name") != names.authorizer:
        return
    found[("authorizer", names.authorizer)] = Found(
        attributes={"ApiId": api_id, "Name": names.authorizer, "AuthorizerId": authorizer_id},
        spec={
            "AuthorizerType": authorizer.get("AuthorizerType"),
            "AuthorizerUri": authorizer.get("AuthorizerUri"),
            "IdentitySource": list(authorizer.get("IdentitySource", [])),
        },
    )


def _observe_domains(
    clients: Clients,
    config: AwsConfig,
    found: dict[tuple[str, str], Found],
    *,
    every_mapping: bool,
) -> None:
    names = Names(config)
    apigw = clients("apigatewayv2")
    ours = {names.websocket_domain, names.http_domain} - {None}
    api_ids = {
        str(f.attributes["ApiId"]): key[1]
        for key, f in found.items()
        if key[0] in ("websocket_api", "http_api")
    }
    domains: list[dict[str, Any]] = []
    if every_mapping:
        domains = list(_items(apigw.get_domain_names))
    else:
        for domain_name in sorted(d for d in ours if d):
            got = _get(apigw.get_domain_name, DomainName=domain_name)
            if got is not None:
                domains.append(got)
    for domain in domains:
        domain_name = domain["DomainName"]
        if domain_name in ours:
            configuration = (domain.get("DomainNameConfigurations") or [{}])[0]
            found[("domain_name", domain_name)] = Found(
                attributes=domain_attributes(domain),
                spec={
                    key: configuration.get(key)
                    for key in ("CertificateArn", "EndpointType", "SecurityPolicy")
                },
            )
        for mapping in _items(apigw.get_api_mappings, DomainName=domain_name):
            key = mapping.get("ApiMappingKey") or MAPPING_KEY
            mine = domain_name in ours and key == MAPPING_KEY
            if not mine and str(mapping.get("ApiId")) not in api_ids:
                continue
            found[("api_mapping", mapping_name(domain_name, key))] = Found(
                attributes={
                    "DomainName": domain_name,
                    "ApiMappingKey": key,
                    "ApiMappingId": mapping["ApiMappingId"],
                },
                spec={"ApiId": mapping.get("ApiId"), "Stage": mapping.get("Stage")},
            )
