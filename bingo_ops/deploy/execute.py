"""Executors: `Executor` is the one place that changes AWS; `DisplayExecutor` only prints.

`Executor` has one method per (verb, kind) of action. It resolves each action's `Ref`s from
what it observed and what it created so far, makes the calls, waits where AWS needs a resource
settled before the next call, and records the new resource's attributes for later actions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TextIO

from botocore.exceptions import ClientError

from backend.domain.tokens import generate_spec
from bingo_ops.deploy.observe import Clients, api_attributes, domain_attributes, missing
from bingo_ops.deploy.plan import Action, resolve
from bingo_ops.deploy.resources import AwsConfig, code_sha256

# A new IAM role takes seconds to be usable by Lambda ("The role defined for the function
# cannot be assumed by Lambda"): IAM is eventually consistent
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency).
ROLE_PROPAGATION_S: Final = 90.0
_RETRY_DELAY_S: Final = 3.0
_WAIT: Final = {"Delay": 2, "MaxAttempts": 150}
_LAMBDA_CONFIGURATION: Final = (
    "Runtime",
    "Handler",
    "Role",
    "MemorySize",
    "Timeout",
    "Environment",
)
# What UpdateEventSourceMapping can change; the stream and the starting position cannot be
# (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html).
_MAPPING_UPDATABLE: Final = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "FilterCriteria",
    "FunctionResponseTypes",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "ParallelizationFactor",
    "Enabled",
)
_MAPPING_SETTLED: Final = frozenset({"Enabled", "Disabled"})
_SETTLE_TIMEOUT_S: Final = 300.0


class DeployError(RuntimeError):
    """A step of the plan could not be carried out as planned."""


def format_plan(plan: Sequence[Action]) -> str:
    """The plan as a text table (verb, kind, name, summary), or a line saying it is empty."""
    if not plan:
        return "Nothing to do: everything is as it should be.\n"
    rows = [action.view() for action in plan]
    columns = ("verb", "kind", "name", "summary")
    widths = {c: max(len(c), *(len(str(row[c])) for row in rows)) for c in columns[:-1]}

    def line(values: Mapping[str, Any]) -> str:
        cells = [f"{values[c]!s:<{widths[c]}}" for c in columns[:-1]]
        return "  ".join([*cells, str(values["summary"])]).rstrip() + "\n"

    header = line({c: c.upper() for c in columns})
    counts = {
        verb: sum(1 for a in plan if a.verb == verb) for verb in ("create", "update", "delete")
    }
    total = ", ".join(f"{n} to {verb}" for verb, n in counts.items() if n)
    return header + "".join(line(row) for row in rows) + f"\nPlan: {total}.\n"


class DisplayExecutor:
    """The dry-run executor: prints the plan and calls nothing.

    Args:
        out: Where the table goes.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def execute(self, plan: Sequence[Action]) -> None:
        """Print the plan."""
        self.out.write(format_plan(plan))


class Executor:
    """Carries out a plan with mutating boto3 calls, in order, stopping at the first failure.

    Args:
        clients: The region's clients.
        config: The stage.
        known: Attributes of existing resources by (kind, name), from observing; grows as
            resources are created.
        bundle: The Lambda zip (needed when the plan creates or updates function code).
        out: Where a line per action goes; silent when None.
        sleep: How to wait between retries (tests pass a fake).
    """

    def __init__(
        self,
        clients: Clients,
        config: AwsConfig,
        *,
        known: Mapping[tuple[str, str], Mapping[str, Any]],
        bundle: bytes | None = None,
        out: TextIO | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clients = clients
        self.config = config
        self.known: dict[tuple[str, str], dict[str, Any]] = {k: dict(v) for k, v in known.items()}
        self.bundle = bundle
        self.out = out
        self.sleep = sleep

    def execute(self, plan: Sequence[Action]) -> None:
        """Carry out every action.

        Raises:
            DeployError: An action cannot be carried out (unknown kind, bundle mismatch).
            botocore.exceptions.ClientError: AWS refused a call; earlier actions stay done and
                the next deploy plans only what is still missing.
        """
        # Every action must be one this executor knows before the first call is made.
        for action in plan:
            if not hasattr(self, f"_{action.verb}_{action.kind}"):
                raise DeployError(f"no way to {action.verb} a {action.kind}")
        for action in plan:
            method = getattr(self, f"_{action.verb}_{action.kind}")
            if self.out is not None:
                self.out.write(f"{action.verb:<6} {action.kind:<16} {action.name}\n")
            params = resolve(action.details, self.known, strict=True)
            attributes = method(params)
            key = (action.kind, action.name)
            if action.verb == "delete":
                self.known.pop(key, None)
            else:
                self.known[key] = {**self.known.get(key, {}), **(attributes or {})}

    # -- DynamoDB ---------------------------------------------------------------------------

    def _create_dynamodb_table(self, p: dict[str, Any]) -> dict[str, Any]:
        dynamodb = self.clients("dynamodb")
        definition = {**p["Definition"], "TableName": p["TableName"]}
        created = dynamodb.create_table(**definition, Tags=_tag_list(p["Tags"]))
        # TTL and writes need an ACTIVE table.
        dynamodb.get_waiter("table_exists").wait(TableName=p["TableName"], WaiterConfig=_WAIT)
        table = created["TableDescription"]
        attributes = {"TableName": p["TableName"], "TableArn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            self._wait_stream(table["LatestStreamArn"])
            attributes["LatestStreamArn"] = table["LatestStreamArn"]
        return attributes

    def _update_dynamodb_table(self, p: dict[str, Any]) -> dict[str, Any]:
        dynamodb = self.clients("dynamodb")
        attributes: dict[str, Any] = {}
        if "StreamSpecification" in p["changed"]:
            attributes.update(self._update_stream(p))
        if "BillingMode" in p["changed"]:
            dynamodb.update_table(TableName=p["TableName"], BillingMode=p["BillingMode"])
            self._wait_table(p["TableName"])
        if "IndexNames" in p["changed"]:
            existing = set(p["previous"].get("IndexNames") or [])
            definition = p["Definition"]
            by_name = {a["AttributeName"]: a for a in definition["AttributeDefinitions"]}
            for index in definition.get("GlobalSecondaryIndexes", []):
                if index["IndexName"] in existing:
                    continue
                keys = [k["AttributeName"] for k in index["KeySchema"]]
                # One new index per UpdateTable call
                # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.OnlineOps.html).
                dynamodb.update_table(
                    TableName=p["TableName"],
                    AttributeDefinitions=[by_name[k] for k in keys],
                    GlobalSecondaryIndexUpdates=[{"Create": index}],
                )
                self._wait_table(p["TableName"])
        return attributes

    def _update_stream(self, p: dict[str, Any]) -> dict[str, Any]:
        """Turn the table's stream on with the planned view type; returns its new ARN."""
        dynamodb = self.clients("dynamodb")
        wanted = p["StreamSpecification"]
        if not wanted.get("StreamEnabled"):
            raise DeployError("deploy only ever turns a table's stream on")
        before = (p.get("previous") or {}).get("StreamSpecification") or {}
        if before.get("StreamEnabled"):
            # A stream's view type cannot change: turn it off, then on again as a new stream
            # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html).
            dynamodb.update_table(
                TableName=p["TableName"], StreamSpecification={"StreamEnabled": False}
            )
            self._wait_table(p["TableName"])
        dynamodb.update_table(TableName=p["TableName"], StreamSpecification=wanted)
        self._wait_table(p["TableName"])
        arn = dynamodb.describe_table(TableName=p["TableName"])["Table"].get("LatestStreamArn")
        if not arn:
            raise DeployError(f"table {p['TableName']} reports no stream after enabling it")
        self._wait_stream(arn)
        return {"LatestStreamArn": arn}

    def _wait_stream(self, arn: str) -> None:
        # A mapping needs a stream that is ENABLED, not still ENABLING.
        streams = self.clients("dynamodbstreams")
        deadline = time.monotonic() + _SETTLE_TIMEOUT_S
        while True:
            status = streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"]
            if status == "ENABLED":
                return
            if time.monotonic() > deadline:
                raise DeployError(f"stream {arn} is still {status}")
            self.sleep(_RETRY_DELAY_S)

    def _wait_table(self, table: str) -> None:
        dynamodb = self.clients("dynamodb")
        deadline = time.monotonic() + 1800
        while True:
            described = dynamodb.describe_table(TableName=table)["Table"]
            indexes = described.get("GlobalSecondaryIndexes", [])
            if described["TableStatus"] == "ACTIVE" and all(
                i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes
            ):
                return
            if time.monotonic() > deadline:
                raise DeployError(f"table {table} did not become ACTIVE")
            self.sleep(_RETRY_DELAY_S)

    def _delete_dynamodb_table(self, p: dict[str, Any]) -> None:
        dynamodb = self.clients("dynamodb")
        if self._tolerate_missing(dynamodb.delete_table, TableName=p["TableName"]):
            dynamodb.get_waiter("table_not_exists").wait(
                TableName=p["TableName"], WaiterConfig=_WAIT
            )

    def _create_ttl(self, p: dict[str, Any]) -> None:
        # Reads filter on the attribute too: DynamoDB deletes expired items only within days
        # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html).
        self.clients("dynamodb").update_time_to_live(
            TableName=p["TableName"],
            TimeToLiveSpecification={"Enabled": p["Enabled"], "AttributeName": p["AttributeName"]},
        )

    _update_ttl = _create_ttl

    # -- SSM --------------------------------------------------------------------------------

    def _create_ssm_parameter(self, p: dict[str, Any]) -> dict[str, Any]:
        # The secret is made here, sent once, and never printed, logged or returned.
        self.clients("ssm").put_parameter(
            Name=p["Name"],
            Value=generate_spec(),
            Type="SecureString",
            Description=p["Description"],
            Tags=_tag_list(p["Tags"]),
        )
        return {"Name": p["Name"]}

    def _update_ssm_parameter(self, p: dict[str, Any]) -> None:
        # A plain String holding a keyring becomes a SecureString with the same value, so
        # tokens signed so far keep verifying.
        ssm = self.clients("ssm")
        value = ssm.get_parameter(Name=p["Name"], WithDecryption=True)["Parameter"]["Value"]
        ssm.put_parameter(Name=p["Name"], Value=value, Type="SecureString", Overwrite=True)

    def _delete_ssm_parameter(self, p: dict[str, Any]) -> None:
        self._tolerate_missing(self.clients("ssm").delete_parameter, Name=p["Name"])

    # -- IAM and logs -----------------------------------------------------------------------

    def _create_iam_role(self, p: dict[str, Any]) -> dict[str, Any]:
        iam = self.clients("iam")
        role = iam.create_role(
            RoleName=p["RoleName"],
            AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]),
            Description=f"Lambda execution role of bingo-ops stage {self.config.stage}",
            Tags=_tag_list(p["Tags"]),
        )["Role"]
        iam.put_role_policy(
            RoleName=p["RoleName"],
            PolicyName=p["PolicyName"],
            PolicyDocument=json.dumps(p["PolicyDocument"]),
        )
        return {
            "RoleName": p["RoleName"],
            "Arn": role["Arn"],
            "InlinePolicies": [p["PolicyName"]],
            "AttachedPolicies": [],
        }

    def _update_iam_role(self, p: dict[str, Any]) -> None:
        iam = self.clients("iam")
        if "AssumeRolePolicyDocument" in p["changed"]:
            iam.update_assume_role_policy(
                RoleName=p["RoleName"], PolicyDocument=json.dumps(p["AssumeRolePolicyDocument"])
            )
        if "PolicyDocument" in p["changed"]:
            iam.put_role_policy(
                RoleName=p["RoleName"],
                PolicyName=p["PolicyName"],
                PolicyDocument=json.dumps(p["PolicyDocument"]),
            )

    def _delete_iam_role(self, p: dict[str, Any]) -> None:
        # DeleteRole fails while policies are attached or inline
        # (https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteRole.html).
        iam = self.clients("iam")
        for name in p.get("InlinePolicies", []):
            self._tolerate_missing(iam.delete_role_policy, RoleName=p["RoleName"], PolicyName=name)
        for arn in p.get("AttachedPolicies", []):
            self._tolerate_missing(iam.detach_role_policy, RoleName=p["RoleName"], PolicyArn=arn)
        self._tolerate_missing(iam.delete_role, RoleName=p["RoleName"])

    def _create_log_group(self, p: dict[str, Any]) -> dict[str, Any]:
        logs = self.clients("logs")
        logs.create_log_group(logGroupName=p["LogGroupName"], tags=dict(p["Tags"]))
        logs.put_retention_policy(
            logGroupName=p["LogGroupName"], retentionInDays=p["RetentionInDays"]
        )
        return {"LogGroupName": p["LogGroupName"]}

    def _update_log_group(self, p: dict[str, Any]) -> None:
        self.clients("logs").put_retention_policy(
            logGroupName=p["LogGroupName"], retentionInDays=p["RetentionInDays"]
        )

    def _delete_log_group(self, p: dict[str, Any]) -> None:
        self._tolerate_missing(
            self.clients("logs").delete_log_group, logGroupName=p["LogGroupName"]
        )

    # -- Lambda -----------------------------------------------------------------------------

    def _code(self, expected: str) -> bytes:
        if self.bundle is None or code_sha256(self.bundle) != expected:
            raise DeployError("the bundle is not the one the plan was made for")
        return self.bundle

    def _create_lambda_function(self, p: dict[str, Any]) -> dict[str, Any]:
        lambda_ = self.clients("lambda")
        created = self._retry_while_role_propagates(
            lambda_.create_function,
            FunctionName=p["FunctionName"],
            Runtime=p["Runtime"],
            Role=p["Role"],
            Handler=p["Handler"],
            Code={"ZipFile": self._code(p["CodeSha256"])},
            MemorySize=p["MemorySize"],
            Timeout=p["Timeout"],
            Environment=p["Environment"],
            Tags=dict(p["Tags"]),
        )
        # A new function is Pending until its execution environment is ready; updates to it
        # fail until then (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html).
        lambda_.get_waiter("function_active_v2").wait(
            FunctionName=p["FunctionName"], WaiterConfig=_WAIT
        )
        return {"FunctionName": p["FunctionName"], "Arn": created["FunctionArn"]}

    def _update_lambda_function(self, p: dict[str, Any]) -> None:
        lambda_ = self.clients("lambda")
        waiter = lambda_.get_waiter("function_updated_v2")
        if "CodeSha256" in p["changed"]:
            lambda_.update_function_code(
                FunctionName=p["FunctionName"], ZipFile=self._code(p["CodeSha256"])
            )
            # Only one update at a time: the next one fails with ResourceConflictException
            # while LastUpdateStatus is InProgress.
            waiter.wait(FunctionName=p["FunctionName"], WaiterConfig=_WAIT)
        configuration = {k: p[k] for k in _LAMBDA_CONFIGURATION if k in p["changed"]}
        if configuration:
            self._retry_while_role_propagates(
                lambda_.update_function_configuration,
                FunctionName=p["FunctionName"],
                **configuration,
            )
            waiter.wait(FunctionName=p["FunctionName"], WaiterConfig=_WAIT)

    def _delete_lambda_function(self, p: dict[str, Any]) -> None:
        self._tolerate_missing(
            self.clients("lambda").delete_function, FunctionName=p["FunctionName"]
        )

    def _create_event_source_mapping(self, p: dict[str, Any]) -> dict[str, Any]:
        lambda_ = self.clients("lambda")
        settings = {k: p[k] for k in _MAPPING_UPDATABLE if k in p}
        created = self._retry_while_role_propagates(
            lambda_.create_event_source_mapping,
            FunctionName=p["FunctionName"],
            EventSourceArn=p["EventSourceArn"],
            StartingPosition=p["StartingPosition"],
            **settings,
        )
        self._wait_mapping(created["UUID"])
        return {"FunctionName": p["FunctionName"], "UUID": created["UUID"]}

    def _update_event_source_mapping(self, p: dict[str, Any]) -> dict[str, Any] | None:
        if {"EventSourceArn", "StartingPosition"} & set(p["changed"]):
            # Only a new mapping reads another stream (after the table's stream was replaced)
            # or starts elsewhere.
            self._delete_event_source_mapping(p)
            return self._create_event_source_mapping(p)
        # Updates fail while the mapping is still Creating or Updating.
        self._wait_mapping(p["UUID"])
        changed = {k: p[k] for k in _MAPPING_UPDATABLE if k in p["changed"]}
        self.clients("lambda").update_event_source_mapping(UUID=p["UUID"], **changed)
        self._wait_mapping(p["UUID"])
        return None

    def _delete_event_source_mapping(self, p: dict[str, Any]) -> None:
        # Deleting is asynchronous (State Deleting); the function can go meanwhile.
        self._tolerate_missing(self.clients("lambda").delete_event_source_mapping, UUID=p["UUID"])

    def _wait_mapping(self, uuid: str) -> None:
        lambda_ = self.clients("lambda")
        deadline = time.monotonic() + _SETTLE_TIMEOUT_S
        while True:
            state = lambda_.get_event_source_mapping(UUID=uuid).get("State")
            if state in _MAPPING_SETTLED:
                return
            if time.monotonic() > deadline:
                raise DeployError(f"event source mapping {uuid} is still {state}")
            self.sleep(_RETRY_DELAY_S)

    def _create_permission(self, p: dict[str, Any]) -> dict[str, Any]:
        self.clients("lambda").add_permission(
            FunctionName=p["FunctionName"],
            StatementId=p["StatementId"],
            Action=p["Action"],
            Principal=p["Principal"],
            SourceArn=p["SourceArn"],
        )
        return {"FunctionName": p["FunctionName"], "StatementId": p["StatementId"]}

    def _update_permission(self, p: dict[str, Any]) -> None:
        # A statement cannot be edited: replace it.
        self._tolerate_missing(
            self.clients("lambda").remove_permission,
            FunctionName=p["FunctionName"],
            StatementId=p["StatementId"],
        )
        self._create_permission(p)

    # -- API Gateway ------------------------------------------------------------------------

    def _create_api(self, p: dict[str, Any]) -> dict[str, Any]:
        extra = {k: p[k] for k in ("RouteSelectionExpression", "CorsConfiguration") if k in p}
        api = self.clients("apigatewayv2").create_api(
            Name=p["Name"], ProtocolType=p["ProtocolType"], Tags=dict(p["Tags"]), **extra
        )
        return api_attributes(api, self.config.stage)

    def _update_api(self, p: dict[str, Any]) -> None:
        changed = {k: p[k] for k in p["changed"]}
        self.clients("apigatewayv2").update_api(ApiId=p["ApiId"], **changed)

    def _delete_api(self, p: dict[str, Any]) -> None:
        self._tolerate_missing(self.clients("apigatewayv2").delete_api, ApiId=p["ApiId"])

    _create_websocket_api = _create_http_api = _create_api
    _update_websocket_api = _update_http_api = _update_api
    _delete_websocket_api = _delete_http_api = _delete_api

    def _create_stage(self, p: dict[str, Any]) -> dict[str, Any]:
        self.clients("apigatewayv2").create_stage(
            ApiId=p["ApiId"],
            StageName=p["StageName"],
            AutoDeploy=p["AutoDeploy"],
            Tags=dict(p["Tags"]),
        )
        return {"ApiId": p["ApiId"], "StageName": p["StageName"]}

    def _update_stage(self, p: dict[str, Any]) -> None:
        self.clients("apigatewayv2").update_stage(
            ApiId=p["ApiId"], StageName=p["StageName"], AutoDeploy=p["AutoDeploy"]
        )

    def _create_authorizer(self, p: dict[str, Any]) -> dict[str, Any]:
        created = self.clients("apigatewayv2").create_authorizer(
            ApiId=p["ApiId"],
            Name=p["Name"],
            AuthorizerType=p["AuthorizerType"],
            AuthorizerUri=p["AuthorizerUri"],
            IdentitySource=p["IdentitySource"],
        )
        return {"ApiId": p["ApiId"], "Name": p["Name"], "AuthorizerId": created["AuthorizerId"]}

    def _update_authorizer(self, p: dict[str, Any]) -> None:
        changed = {k: p[k] for k in p["changed"]}
        self.clients("apigatewayv2").update_authorizer(
            ApiId=p["ApiId"], AuthorizerId=p["AuthorizerId"], **changed
        )

    _INTEGRATION_FIELDS: Final = (
        "IntegrationType",
        "IntegrationUri",
        "IntegrationMethod",
        "PayloadFormatVersion",
    )

    def _create_integration(self, p: dict[str, Any]) -> dict[str, Any]:
        fields = {k: p[k] for k in self._INTEGRATION_FIELDS if k in p}
        created = self.clients("apigatewayv2").create_integration(ApiId=p["ApiId"], **fields)
        return {"ApiId": p["ApiId"], "IntegrationId": created["IntegrationId"]}

    def _update_integration(self, p: dict[str, Any]) -> None:
        changed = {k: p[k] for k in p["changed"]}
        self.clients("apigatewayv2").update_integration(
            ApiId=p["ApiId"], IntegrationId=p["IntegrationId"], **changed
        )

    def _create_route(self, p: dict[str, Any]) -> dict[str, Any]:
        fields = {k: p[k] for k in ("Target", "AuthorizationType", "AuthorizerId") if k in p}
        created = self.clients("apigatewayv2").create_route(
            ApiId=p["ApiId"], RouteKey=p["RouteKey"], **fields
        )
        return {"ApiId": p["ApiId"], "RouteKey": p["RouteKey"], "RouteId": created["RouteId"]}

    def _update_route(self, p: dict[str, Any]) -> None:
        changed = {k: p[k] for k in p["changed"]}
        self.clients("apigatewayv2").update_route(ApiId=p["ApiId"], RouteId=p["RouteId"], **changed)

    _create_ws_route = _create_http_route = _create_route
    _update_ws_route = _update_http_route = _update_route

    def _domain_configuration(self, p: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [{k: p[k] for k in ("CertificateArn", "EndpointType", "SecurityPolicy")}]

    def _create_domain_name(self, p: dict[str, Any]) -> dict[str, Any]:
        created = self.clients("apigatewayv2").create_domain_name(
            DomainName=p["DomainName"],
            DomainNameConfigurations=self._domain_configuration(p),
            Tags=dict(p["Tags"]),
        )
        return domain_attributes(created)

    def _update_domain_name(self, p: dict[str, Any]) -> dict[str, Any]:
        updated = self.clients("apigatewayv2").update_domain_name(
            DomainName=p["DomainName"], DomainNameConfigurations=self._domain_configuration(p)
        )
        return domain_attributes(updated)

    def _delete_domain_name(self, p: dict[str, Any]) -> None:
        self._tolerate_missing(
            self.clients("apigatewayv2").delete_domain_name, DomainName=p["DomainName"]
        )

    def _create_api_mapping(self, p: dict[str, Any]) -> dict[str, Any]:
        key = {"ApiMappingKey": p["ApiMappingKey"]} if p["ApiMappingKey"] else {}
        created = self.clients("apigatewayv2").create_api_mapping(
            DomainName=p["DomainName"], ApiId=p["ApiId"], Stage=p["Stage"], **key
        )
        return {
            "DomainName": p["DomainName"],
            "ApiMappingKey": p["ApiMappingKey"],
            "ApiMappingId": created["ApiMappingId"],
        }

    def _update_api_mapping(self, p: dict[str, Any]) -> None:
        key = {"ApiMappingKey": p["ApiMappingKey"]} if p["ApiMappingKey"] else {}
        self.clients("apigatewayv2").update_api_mapping(
            DomainName=p["DomainName"],
            ApiMappingId=p["ApiMappingId"],
            ApiId=p["ApiId"],
            Stage=p["Stage"],
            **key,
        )

    def _delete_api_mapping(self, p: dict[str, Any]) -> None:
        self._tolerate_missing(
            self.clients("apigatewayv2").delete_api_mapping,
            DomainName=p["DomainName"],
            ApiMappingId=p["ApiMappingId"],
        )

    # -- helpers ----------------------------------------------------------------------------

    def _retry_while_role_propagates(self, call: Callable[..., Any], **kwargs: Any) -> Any:
        deadline = time.monotonic() + ROLE_PROPAGATION_S
        while True:
            try:
                return call(**kwargs)
            except ClientError as error:
                detail = error.response.get("Error", {})
                role_not_ready = (
                    detail.get("Code") == "InvalidParameterValueException"
                    and "role" in str(detail.get("Message", "")).lower()
                )
                if not role_not_ready or time.monotonic() > deadline:
                    raise
                self.sleep(_RETRY_DELAY_S)

    @staticmethod
    def _tolerate_missing(call: Callable[..., Any], **kwargs: Any) -> bool:
        """Make a delete call; False when the thing was already gone."""
        try:
            call(**kwargs)
        except ClientError as error:
            if missing(error):
                return False
            raise
        return True


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as the `[{"Key", "Value"}]` list DynamoDB, IAM and SSM take."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]
