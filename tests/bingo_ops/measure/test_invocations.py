"""Metering deltas over a real local stack's snapshots, and the CloudWatch reader on moto."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import boto3
import httpx
import pytest

from bingo_ops.deploy.stack import open_stack
from bingo_ops.measure.invocations import cloudwatch_counts, metered, metering_delta

REGION = "us-east-1"


def test_delta_subtracts_counters_keeps_gauges_and_counts_new_functions() -> None:
    before = {
        "elapsedSeconds": 10.0,
        "lambda": {"functions": {"http_api": {"invocations": 4, "memoryMb": 256}}},
        "websocket": {"connectionsOpen": 3, "connectionMinutes": 1.5},
    }
    after = {
        "elapsedSeconds": 12.5,
        "lambda": {
            "functions": {
                "http_api": {"invocations": 9, "memoryMb": 256, "routes": {"GET /x": 2}},
                "ws_connect": {"invocations": 2, "memoryMb": 256},
            }
        },
        "websocket": {"connectionsOpen": 1, "connectionMinutes": 2.0},
    }
    assert metering_delta(before, after) == {
        "elapsedSeconds": 2.5,
        "lambda": {
            "functions": {
                "http_api": {"invocations": 5, "memoryMb": 256, "routes": {"GET /x": 2}},
                "ws_connect": {"invocations": 2, "memoryMb": 256},
            }
        },
        "websocket": {"connectionsOpen": 1, "connectionMinutes": 0.5},
    }


@pytest.mark.slow
def test_delta_of_a_real_stack_counts_exactly_the_requests_made(tmp_path: Path) -> None:
    with open_stack("", state_dir=tmp_path / "state") as handle:
        url = handle.outputs["httpUrl"]
        httpx.get(f"{url}/games/current", timeout=5)  # traffic before the window
        with metered(handle.metrics) as window:
            for _ in range(3):
                httpx.post(f"{url}/public/token", json={}, timeout=5)
        delta = window.delta
    assert delta["http"]["requests"] == 3
    assert delta["lambda"]["functions"]["http_api"]["invocations"] == 3
    routes = delta["lambda"]["functions"]["http_api"]["routes"]
    assert {route: n for route, n in routes.items() if n} == {"POST /public/token": 3}
    assert delta["lambda"]["invocations"] == 3


def test_cloudwatch_reader_sums_what_was_put(aws: dict[str, str]) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    outputs = {
        "region": REGION,
        "stage": "prod",
        "functions": {"http_api": "bingo-prod-http_api", "ws_connect": "bingo-prod-ws_connect"},
        "websocketApiId": "ws123",
        "httpApiId": "http456",
    }

    def put(namespace: str, name: str, dims: dict[str, str], values: list[float]) -> None:
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    "Timestamp": now - dt.timedelta(seconds=30 * i),
                    "Value": value,
                    "Unit": "Count",
                }
                for i, value in enumerate(values)
            ],
        )

    put("AWS/Lambda", "Invocations", {"FunctionName": "bingo-prod-http_api"}, [5, 7])
    put("AWS/Lambda", "Invocations", {"FunctionName": "bingo-prod-ws_connect"}, [2])
    put("AWS/Lambda", "Invocations", {"FunctionName": "someone-else"}, [100])
    ws = {"ApiId": "ws123", "Stage": "prod"}
    put("AWS/ApiGateway", "MessageCount", ws, [40, 2])
    put("AWS/ApiGateway", "ConnectCount", ws, [2])
    put("AWS/ApiGateway", "Count", {"ApiId": "http456", "Stage": "$default"}, [12])

    counts = cloudwatch_counts(
        outputs, now - dt.timedelta(minutes=10), now + dt.timedelta(minutes=1), client=cloudwatch
    )
    assert counts["lambda"]["functions"] == {
        "http_api": {"invocations": 12},
        "ws_connect": {"invocations": 2},
    }
    assert counts["lambda"]["invocations"] == 14
    assert counts["websocket"] == {"messages": 42, "connectionsOpened": 2}
    assert counts["http"] == {"requests": 12}
