"""`open_stack`: a throwaway local stack for one run, or an attached one that is left running."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path

import boto3
import pytest

from backend import wiring
from backend.domain.tokens import TokenKind
from bingo_ops.client.http import BingoHttp
from bingo_ops.deploy.local import process_alive, running_pid
from bingo_ops.deploy.stack import StackError, admin_token, open_stack


async def _create_game(http_url: str, token: str) -> str:
    async with BingoHttp(http_url, token=token) as admin:
        created = await admin.create_game(name="stack handle")
        return str(created["gameId"])


@pytest.mark.slow
def test_an_empty_stack_starts_a_local_stack_that_close_stops(tmp_path: Path) -> None:
    handle = open_stack("")
    try:
        assert handle.owned
        assert handle.is_local
        assert handle.state_dir is not None
        pid = running_pid(handle.state_dir)
        assert pid is not None
        assert process_alive(pid)
        before = handle.metrics()["http"]["requests"]

        game_id = asyncio.run(_create_game(handle.outputs["httpUrl"], handle.admin_token()))

        assert game_id
        # The metering counts the request the admin token made.
        assert handle.metrics()["http"]["requests"] == before + 1
        # Attaching to the same stack through its outputs file does not own it.
        outputs_file = tmp_path / "outputs.json"
        outputs_file.write_text(json.dumps(handle.outputs))
        with open_stack(outputs_file) as attached:
            assert not attached.owned
            assert attached.outputs == handle.outputs
            assert attached.admin_token()
        assert process_alive(pid), "closing an attached handle must leave the stack running"
    finally:
        handle.close()
    assert not process_alive(pid)
    assert not handle.state_dir.exists(), "the temporary state dir is removed"
    handle.close()  # closing twice is harmless


def test_bad_outputs_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="no outputs file"):
        open_stack(tmp_path / "missing.json")
    with pytest.raises(StackError, match="lack wsUrl"):
        open_stack({"httpUrl": "http://127.0.0.1:1", "target": "local"})
    with pytest.raises(StackError, match="unknown target"):
        admin_token({"target": "gcp"})
    with pytest.raises(StackError, match="no stateDir"):
        admin_token({"target": "local"})
    aws = open_stack({"httpUrl": "https://h", "wsUrl": "wss://w", "target": "aws"})
    with pytest.raises(StackError, match="CloudWatch"):
        aws.metrics()


def test_an_aws_admin_token_is_signed_with_the_keyring_in_ssm(aws: dict[str, str]) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    keyrings = {kind: f"k1:{secrets.token_urlsafe(40)}" for kind in TokenKind}
    names = {}
    for kind, value in keyrings.items():
        names[kind.value] = f"/bingo/test/{kind.value}"
        ssm.put_parameter(Name=names[kind.value], Value=value, Type="SecureString")
    outputs = {"target": "aws", "region": "us-east-1", "parameters": names}

    token = admin_token(outputs, subject="tester")

    service = wiring.build_tokens({wiring.KEY_VARIABLES[k]: v for k, v in keyrings.items()})
    claims = service.verify(token, now=time.time(), accept=(TokenKind.ADMIN,))
    assert claims.subject == "tester"
