"""The Lambda dispatcher: one asynchronous `Invoke` per posting job, failures reported per job.

boto3's own Stubber checks the requests (function, `InvocationType=Event`, payload) without a
network; Lambda answers 202 to an accepted asynchronous invocation.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from backend.adapters.dispatch_lambda import LambdaDispatcher

FUNCTION = "bingo-dev-post-players"


def _job(game: str) -> dict[str, Any]:
    return {"postJob": {"audience": "player", "gameId": game, "fromSeq": 1, "toSeq": 3}}


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_each_job_is_one_event_invocation_of_the_posting_function(client: Any) -> None:
    stubber = Stubber(client)
    for game in ("g1", "g2"):
        stubber.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": FUNCTION,
                "InvocationType": "Event",
                "Payload": json.dumps(_job(game), separators=(",", ":")).encode(),
            },
        )
    # One at a time, so the stubbed answers come in the order they were queued.
    dispatcher = LambdaDispatcher(FUNCTION, concurrency=1, client=client)
    with stubber:
        assert dispatcher.dispatch([_job("g1"), _job("g2")]) == [None, None]
    stubber.assert_no_pending_responses()
    dispatcher.close()


def test_a_refused_invocation_is_reported_for_its_job_only(client: Any) -> None:
    stubber = Stubber(client)
    stubber.add_client_error(
        "invoke", "TooManyRequestsException", "Rate exceeded", http_status_code=429
    )
    stubber.add_response("invoke", {"StatusCode": 202})
    dispatcher = LambdaDispatcher(FUNCTION, concurrency=1, client=client)
    with stubber:
        answers = dispatcher.dispatch([_job("g1"), _job("g2")])
    assert answers == ["TooManyRequestsException: Rate exceeded", None]
    assert dispatcher.dispatch([]) == []
    dispatcher.close()
