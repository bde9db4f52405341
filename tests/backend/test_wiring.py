"""The composition root: which adapters an environment builds, and where keyrings come from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from backend import wiring
from backend.adapters.dispatch_lambda import LambdaDispatcher
from backend.adapters.gateway_memory import InMemoryGateway
from backend.adapters.store_dynamodb import DynamoStore, table_definition
from backend.adapters.store_sqlite import SqliteStore
from backend.domain.game import GameState
from backend.domain.model import Game
from backend.domain.tokens import Keyring, TokenKind, TokenService, generate_spec
from backend.wiring import ConfigurationError

T0 = 1_700_000_000.0
PREFIX = "/bingo/test/"
SPECS = {kind: generate_spec(f"{kind}-1") for kind in TokenKind}
KEY_ENV = {variable: SPECS[kind] for kind, variable in wiring.KEY_VARIABLES.items()}


def _game() -> Game:
    return Game("game-1", "Room 1", 4, tuple(f"w{i}" for i in range(20)), GameState.OPEN, T0, T0)


def _close(store: object) -> None:
    close = getattr(store, "close", None)
    if close is not None:
        close()


@pytest.fixture
def table(aws: dict[str, str]) -> str:
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("bingo-wiring"))
    client.close()
    return "bingo-wiring"


@pytest.fixture
def ssm(aws: dict[str, str]) -> Iterator[Any]:
    client = boto3.client("ssm")
    yield client
    client.close()


def _put_keyrings(ssm: Any, kinds: list[TokenKind], specs: dict[TokenKind, str]) -> None:
    for kind in kinds:
        ssm.put_parameter(
            Name=f"{PREFIX}{wiring.KEY_PARAMETERS[kind]}", Value=specs[kind], Type="SecureString"
        )


def _verifies_with(token: str, kind: TokenKind, spec: str) -> bool:
    """Whether `token` verifies against a keyring built straight from `spec`."""
    rings = {k: Keyring.parse(k, SPECS[k]) for k in TokenKind}
    rings[kind] = Keyring.parse(kind, spec)
    return TokenService(rings).verify(token, now=T0, accept=[kind]).subject == "s1"


# -- stores ----------------------------------------------------------------------------------------
def test_sqlite_and_memory_build_a_working_backend(tmp_path: Path) -> None:
    env = {
        "BINGO_STORE": "sqlite",
        "BINGO_SQLITE_PATH": str(tmp_path / "bingo.sqlite3"),
        "BINGO_GATEWAY": "memory",
        **KEY_ENV,
    }

    deps = wiring.build(env)

    assert isinstance(deps.store, SqliteStore)
    assert isinstance(deps.gateway, InMemoryGateway)
    assert deps.dispatcher is None  # no posting function: the broadcaster posts itself
    deps.store.create_game(_game())
    assert deps.store.get_game("game-1").name == "Room 1"
    _close(deps.store)


def test_a_posting_function_gives_the_broadcaster_a_lambda_dispatcher() -> None:
    dispatcher = wiring.build_dispatcher({"BINGO_POST_FUNCTION": "bingo-dev-post-players"})

    assert isinstance(dispatcher, LambdaDispatcher)
    assert dispatcher.function_name == "bingo-dev-post-players"
    assert wiring.build_dispatcher({"BINGO_POST_FUNCTION": ""}) is None


@pytest.mark.parametrize("region_variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_dynamodb_builds_a_store_on_the_named_table(table: str, region_variable: str) -> None:
    env = {
        "BINGO_STORE": "dynamodb",
        "BINGO_TABLE": table,
        region_variable: "us-east-1",
        "BINGO_GATEWAY": "memory",
        **KEY_ENV,
    }

    deps = wiring.build(env)

    assert isinstance(deps.store, DynamoStore)
    assert deps.store.table_name == table
    deps.store.create_game(_game())
    assert deps.store.get_game("game-1").last_seq == 1
    _close(deps.store)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"BINGO_STORE": "dynamodb", "AWS_REGION": "us-east-1"}, "BINGO_TABLE"),
        ({"BINGO_STORE": "dynamodb", "BINGO_TABLE": "t"}, "AWS_REGION"),
        ({"BINGO_STORE": "postgres"}, "BINGO_STORE"),
    ],
)
def test_an_incomplete_store_configuration_names_what_is_missing(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        wiring.build_store(env)


# -- keyrings --------------------------------------------------------------------------------------
@pytest.mark.parametrize("variable", list(wiring.KEY_VARIABLES.values()))
def test_a_missing_keyring_variable_is_named(variable: str) -> None:
    env = {k: v for k, v in KEY_ENV.items() if k != variable}

    with pytest.raises(ConfigurationError, match=variable):
        wiring.build_tokens(env)


def test_keyrings_come_from_ssm_securestring_parameters(ssm: Any) -> None:
    _put_keyrings(ssm, list(TokenKind), SPECS)
    env = {"BINGO_TOKEN_SSM_PREFIX": PREFIX, "AWS_REGION": "us-east-1"}

    tokens = wiring.build_tokens(env)

    token = tokens.issue_user("s1", "game-1", "Ada", now=T0)
    assert tokens.verify(token, now=T0, accept=[TokenKind.USER]).subject == "s1"
    assert _verifies_with(token, TokenKind.USER, SPECS[TokenKind.USER])
    admin = tokens.issue_admin("s1", now=T0)
    assert _verifies_with(admin, TokenKind.ADMIN, SPECS[TokenKind.ADMIN])


def test_a_variable_wins_over_its_ssm_parameter(ssm: Any) -> None:
    _put_keyrings(ssm, list(TokenKind), SPECS)
    mine = generate_spec("local-1")
    env = {
        "BINGO_TOKEN_SSM_PREFIX": PREFIX,
        "AWS_REGION": "us-east-1",
        "BINGO_USER_TOKEN_KEYS": mine,
    }

    tokens = wiring.build_tokens(env)

    token = tokens.issue_user("s1", "game-1", "Ada", now=T0)
    assert _verifies_with(token, TokenKind.USER, mine)
    admin = tokens.issue_admin("s1", now=T0)
    assert _verifies_with(admin, TokenKind.ADMIN, SPECS[TokenKind.ADMIN])  # from SSM


def test_with_every_variable_set_ssm_is_never_asked() -> None:
    # No AWS region and no moto: asking SSM would fail with a ConfigurationError.
    env = {"BINGO_TOKEN_SSM_PREFIX": PREFIX, **KEY_ENV}

    tokens = wiring.build_tokens(env)

    assert tokens.verify(tokens.issue_admin("s1", now=T0), now=T0, accept=[TokenKind.ADMIN])


def test_a_missing_ssm_parameter_names_the_variable_and_the_parameter(ssm: Any) -> None:
    _put_keyrings(ssm, [TokenKind.USER, TokenKind.ADMIN], SPECS)
    env = {"BINGO_TOKEN_SSM_PREFIX": PREFIX, "AWS_REGION": "us-east-1"}

    with pytest.raises(ConfigurationError) as raised:
        wiring.build_tokens(env)

    assert "BINGO_PUBLIC_TOKEN_KEYS" in str(raised.value)
    assert f"{PREFIX}public-token-keys" in str(raised.value)


def test_unreadable_ssm_is_a_configuration_error(aws: dict[str, str]) -> None:
    env = {"BINGO_TOKEN_SSM_PREFIX": PREFIX, "AWS_REGION": "us-east-1"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
        with pytest.raises(ConfigurationError, match="SSM did not answer"):
            wiring.build_tokens(env)
