"""Cold start: no handler pulls boto3 or botocore in unless its configuration needs AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = [
    "backend.handlers.ws_authorizer",
    "backend.handlers.ws_connect",
    "backend.handlers.ws_disconnect",
    "backend.handlers.ws_message",
    "backend.handlers.http_api",
    "backend.handlers.stream_broadcast",
]
# Modules of the AWS path that must still import without boto3: the DynamoDB adapter imports it
# when its first store is built, and the stream key helpers never need it.
AWS_FREE_ADAPTERS = [
    "backend.adapters.store_dynamodb",
    "backend.adapters.dynamodb_keys",
]
AWS_MODULES = ("boto3", "botocore")


def _loaded_after(
    code: str, tmp_path: Path, modules: tuple[str, ...] = AWS_MODULES
) -> dict[str, bool]:
    """Run `code` in a fresh interpreter; which of `modules` it left imported."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BINGO_", "PYTHON", "AWS_"))
    }
    env.update(
        {
            "BINGO_STORE": "sqlite",
            "BINGO_SQLITE_PATH": str(tmp_path / "cold.sqlite3"),
            "BINGO_GATEWAY": "memory",
            "BINGO_USER_TOKEN_KEYS": "t1:" + "u" * 40,
            "BINGO_PUBLIC_TOKEN_KEYS": "t1:" + "p" * 40,
            "BINGO_ADMIN_TOKEN_KEYS": "t1:" + "a" * 40,
            "PYTHONPATH": str(ROOT),
        }
    )
    report = f"print(json.dumps({{m: m in sys.modules for m in {modules!r}}}))"
    probe = "\n".join([textwrap.dedent(code).strip(), "import json, sys", report])
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("module", [*HANDLERS, *AWS_FREE_ADAPTERS])
def test_importing_a_handler_does_not_import_boto3(module: str, tmp_path: Path) -> None:
    loaded = _loaded_after(f"import {module}", tmp_path)

    assert loaded == dict.fromkeys(AWS_MODULES, False)


def test_building_the_sqlite_and_memory_wiring_does_not_import_boto3(tmp_path: Path) -> None:
    code = """
        import os
        from backend import wiring
        from backend.handlers import http_api, ws_authorizer, ws_connect, ws_disconnect, ws_message
        deps = wiring.build(os.environ)
        assert type(deps.store).__name__ == "SqliteStore", deps.store
        assert type(deps.gateway).__name__ == "InMemoryGateway", deps.gateway
        assert wiring.deps() is not None
    """

    loaded = _loaded_after(code, tmp_path)

    assert loaded == dict.fromkeys(AWS_MODULES, False)


def test_the_probe_does_see_boto3_when_it_is_imported(tmp_path: Path) -> None:
    """The check above is not vacuous: an import of botocore is noticed."""
    pytest.importorskip("botocore")

    loaded = _loaded_after("import botocore.config", tmp_path)

    assert loaded["botocore"] is True


@pytest.mark.parametrize(
    "module",
    [
        "backend.handlers.ws_connect",
        "backend.handlers.ws_disconnect",
        "backend.handlers.ws_message",
    ],
)
def test_handlers_that_never_check_a_token_never_load_pyjwt(module: str, tmp_path: Path) -> None:
    """PyJWT's import costs ~50 ms of a cold start; these handlers read the authorizer context."""
    code = f"""
        import os
        import {module}
        from backend import wiring
        wiring.build(os.environ)
    """

    assert _loaded_after(code, tmp_path, ("jwt",)) == {"jwt": False}


def test_the_authorizer_loads_pyjwt_when_it_verifies(tmp_path: Path) -> None:
    code = """
        from backend.handlers import ws_authorizer
        try:
            ws_authorizer.handler({"queryStringParameters": {"token": "x.y.z"}}, None)
        except Exception as exc:
            assert str(exc) == "Unauthorized"
    """

    assert _loaded_after(code, tmp_path, ("jwt",)) == {"jwt": True}
