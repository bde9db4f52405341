"""Invocation and message counts of a run: emulator metering deltas, or CloudWatch on AWS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "GAUGES",
    "MetricsSource",
    "cloudwatch_counts",
    "metered",
    "metering_delta",
]

# Snapshot values that are levels, not running totals: a delta keeps the later value.
GAUGES = frozenset({"memoryMb", "warmContainers", "connectionsOpen"})

MetricsSource = Callable[[], Mapping[str, Any]]


def metering_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What was metered between two `Meter.snapshot()`s of the same stack.

    The emulator's meter is cumulative for the life of the stack, and other notebooks or
    replays may share it, so a run's usage is always `after - before`. Counters (including
    per-function and per-route counts that first appear in `after`) are subtracted; the gauges
    in `GAUGES` keep their `after` value; `elapsedSeconds` becomes the interval's length.

    Args:
        before: The snapshot taken before the run.
        after: The snapshot taken after it.

    Returns:
        A dict of `after`'s shape.
    """
    out: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key) if isinstance(before, Mapping) else None
        if isinstance(value, Mapping):
            out[key] = metering_delta(old if isinstance(old, Mapping) else {}, value)
        elif isinstance(value, bool) or not isinstance(value, int | float) or key in GAUGES:
            out[key] = value
        else:
            base = old if isinstance(old, int | float) and not isinstance(old, bool) else 0
            delta = value - base
            out[key] = round(delta, 6) if isinstance(delta, float) else delta
    return out


def metered(meter: MetricsSource) -> _Metered:
    """A context manager that snapshots `meter` on entry and exit; `.delta` is the difference.

    `meter` is e.g. `handle.metrics` of a local `StackHandle`.
    """
    return _Metered(meter)


class _Metered:
    def __init__(self, meter: MetricsSource) -> None:
        self.meter = meter
        self.before: Mapping[str, Any] = {}
        self.after: Mapping[str, Any] = {}
        self.delta: dict[str, Any] = {}

    def __enter__(self) -> _Metered:
        self.before = self.meter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.after = self.meter()
        self.delta = metering_delta(self.before, self.after)


def _query_id(index: int) -> str:
    # get_metric_data ids must start with a lower-case letter and be unique in the request.
    return f"m{index}"


def cloudwatch_counts(
    outputs: Mapping[str, Any],
    start: dt.datetime,
    end: dt.datetime,
    *,
    period_s: int = 60,
    client: Any = None,
) -> dict[str, Any]:
    """Invocations and API Gateway counts of an AWS stage over `[start, end)`, from CloudWatch.

    Reads `AWS/Lambda` `Invocations` for every function in the deploy outputs' `functions`,
    `AWS/ApiGateway` `MessageCount` and `ConnectCount` for the WebSocket API (`ApiId`, `Stage`)
    and `Count` for the HTTP API (`ApiId`, `Stage` `$default`), each summed over the window
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-logging.html,
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html). CloudWatch
    has no split of messages by direction, no message units and no connection-minutes: the
    result has the emulator snapshot's shape where a metric exists (`lambda.functions.<name>
    .invocations`, `lambda.invocations`, `websocket.connectionsOpened`, `http.requests`) and
    `websocket.messages` (in and out together) instead of the per-direction counts.

    Args:
        outputs: The AWS deploy's outputs (`functions`, `websocketApiId`, `httpApiId`,
            `stage`, `region`).
        start: Start of the window (timezone-aware).
        end: End of the window.
        period_s: CloudWatch period to sum over (60 s for data older than 15 days is fine).
        client: A boto3 `cloudwatch` client (default: one for the outputs' region).

    Returns:
        The counts, by the emulator's names.
    """
    if client is None:
        import boto3

        client = boto3.client("cloudwatch", region_name=outputs.get("region"))
    queries: list[dict[str, Any]] = []
    names: list[tuple[str, ...]] = []

    def ask(where: tuple[str, ...], namespace: str, metric: str, dims: dict[str, str]) -> None:
        queries.append(
            {
                "Id": _query_id(len(queries)),
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    },
                    "Period": period_s,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
        )
        names.append(where)

    functions: Mapping[str, str] = outputs.get("functions") or {}
    for handler, function_name in functions.items():
        ask(("lambda", handler), "AWS/Lambda", "Invocations", {"FunctionName": function_name})
    ws_api, http_api = outputs.get("websocketApiId"), outputs.get("httpApiId")
    stage = str(outputs.get("stage", ""))
    if ws_api:
        ws_dims = {"ApiId": str(ws_api), "Stage": stage}
        ask(("websocket", "messages"), "AWS/ApiGateway", "MessageCount", ws_dims)
        ask(("websocket", "connectionsOpened"), "AWS/ApiGateway", "ConnectCount", ws_dims)
    if http_api:
        http_dims = {"ApiId": str(http_api), "Stage": "$default"}
        ask(("http", "requests"), "AWS/ApiGateway", "Count", http_dims)

    sums = [0.0] * len(queries)
    # get_metric_data takes at most 500 queries per call; a stage has 8.
    token: str | None = None
    while queries:
        request: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start}
        request["EndTime"] = end
        if token:
            request["NextToken"] = token
        page = client.get_metric_data(**request)
        for result in page.get("MetricDataResults", []):
            index = int(str(result["Id"])[1:])
            sums[index] += float(sum(result.get("Values", [])))
        token = page.get("NextToken")
        if not token:
            break

    per_function = {
        where[1]: {"invocations": int(total)}
        for where, total in zip(names, sums, strict=True)
        if where[0] == "lambda"
    }
    found = dict(zip(names, sums, strict=True))
    return {
        "source": "cloudwatch",
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "lambda": {
            "functions": per_function,
            "invocations": sum(f["invocations"] for f in per_function.values()),
        },
        "websocket": {
            "messages": int(found.get(("websocket", "messages"), 0)),
            "connectionsOpened": int(found.get(("websocket", "connectionsOpened"), 0)),
        },
        "http": {"requests": int(found.get(("http", "requests"), 0))},
    }
