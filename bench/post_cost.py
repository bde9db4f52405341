"""CPU cost of one API Gateway Management API post from Python, as a broadcaster makes it.

A players' window posts one personal view per player. On AWS the broadcaster posts through
boto3 (`backend.adapters.gateway_management_api.ManagementApiGateway`), and a Lambda function
with 1,769 MB has one vCPU, so client CPU per post bounds how fast one invocation can post
however many posts it keeps in flight. Two measurements, each over `--posts` posts:

- `signed`: the adapter's own client with a botocore `before-send` hook that answers 200 at
  once: request building, SigV4 signing and response parsing, no socket;
- `http`: the adapter against a local stack's `@connections` endpoint over loopback HTTP, to
  connection ids that do not exist (the stack answers 410 Gone, which the adapter reports as
  gone): the above plus the HTTP client and the error path.

Prints JSON: CPU milliseconds per post (this process) and wall seconds per batch, per
concurrency. Usage: python bench/post_cost.py [--posts 2000] [--concurrency 16,64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any

from backend.adapters.gateway_management_api import ManagementApiGateway


def _measure(gateway: ManagementApiGateway, posts: int) -> dict[str, Any]:
    messages = [(f"Bench{i:06d}=", b'{"type":"leaderboard_update","seq":1}') for i in range(posts)]
    gateway.post_each(messages[: min(100, posts)])  # warm the pool and the client
    cpu, wall = time.process_time(), time.perf_counter()
    delivery = gateway.post_each(messages)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "posts": posts,
        "delivered": len(delivery.delivered),
        "gone": len(delivery.gone),
        "failed": len(delivery.failed),
        "wallS": round(wall, 3),
        "cpuMsPerPost": round(cpu / posts * 1000, 3),
    }


def _answer_ok(**_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    class _Raw:
        def stream(self, **_: Any) -> Any:
            yield b""

    return AWSResponse("https://local", 200, {}, _Raw())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--concurrency", default="16,64", help="comma-separated")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    results: dict[str, Any] = {"signed": [], "http": []}
    for concurrency in levels:
        gateway = ManagementApiGateway(
            "https://bench.execute-api.us-east-1.amazonaws.com/dev", concurrency=concurrency
        )
        gateway._client.meta.events.register("before-send", _answer_ok)
        results["signed"].append({"concurrency": concurrency, **_measure(gateway, args.posts)})
        gateway.close()

    from bingo_ops.deploy.stack import open_stack

    with (
        tempfile.TemporaryDirectory(prefix="bingo-post-cost-") as state,
        open_stack("", state_dir=state) as stack,
    ):
        for concurrency in levels:
            gateway = ManagementApiGateway(stack.outputs["managementUrl"], concurrency=concurrency)
            results["http"].append({"concurrency": concurrency, **_measure(gateway, args.posts)})
            gateway.close()
    print(
        json.dumps(
            {
                "benchmark": "post_cost",
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                **results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
