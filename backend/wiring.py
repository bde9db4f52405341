"""Composition root: environment variables -> adapters, built lazily, once per container.

Lambda keeps a module's globals between invocations of a warm container, so the store, the
gateway client and the keyrings are built on first use and reused. Adapters are imported
inside `build`, so a handler never imports boto3 unless its configuration needs AWS.

Environment:
    BINGO_STORE: `sqlite` (default) or `dynamodb`.
    BINGO_SQLITE_PATH: the database file (default `/tmp/bingo.sqlite3`, Lambda's writable dir).
    BINGO_TABLE: the DynamoDB table (required with `BINGO_STORE=dynamodb`), created from
        `backend.adapters.store_dynamodb.table_definition`.
    AWS_REGION (or AWS_DEFAULT_REGION): the region of the DynamoDB table and of the SSM
        parameters (Lambda sets AWS_REGION).
    BINGO_GATEWAY: `management_api` (default) or `memory` (in-process, for tests and demos).
    BINGO_MANAGEMENT_ENDPOINT: the WebSocket API's management URL (`wss://` is accepted and
        turned into `https://`).
    BINGO_USER_TOKEN_KEYS, BINGO_PUBLIC_TOKEN_KEYS, BINGO_ADMIN_TOKEN_KEYS: keyrings as
        `kid:secret[,kid:secret...]`, the first signing; secrets of at least 32 bytes.
    BINGO_TOKEN_SSM_PREFIX: where to find the keyrings the three variables above leave unset:
        SecureString parameters `{prefix}user-token-keys`, `{prefix}public-token-keys` and
        `{prefix}admin-token-keys` (e.g. prefix `/bingo/dev/`), same format, read with one
        `GetParameters` call at cold start. A variable that is set wins over its parameter, so
        secrets stay out of the function's configuration, and a developer can still override.
    BINGO_FANOUT: `inline` (default: the writing invocation posts to every subscriber, per
        event) or `stream` (writers only write; the broadcaster functions fan out from the
        table's change stream, coalesced per audience; see `backend.services.fanout`).
    BINGO_POST_FUNCTION: the function the players' broadcaster hands each game's posting to,
        asynchronously (unset: it posts every game's views itself).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Mapping

from backend.domain.tokens import Keyring, TokenKind, TokenService
from backend.ports.dispatch import Dispatcher
from backend.ports.gateway import ConnectionGateway
from backend.ports.store import Store
from backend.services.context import Deps, FanoutMode

KEY_VARIABLES: Mapping[TokenKind, str] = {
    TokenKind.USER: "BINGO_USER_TOKEN_KEYS",
    TokenKind.PUBLIC: "BINGO_PUBLIC_TOKEN_KEYS",
    TokenKind.ADMIN: "BINGO_ADMIN_TOKEN_KEYS",
}
# Name of each keyring's SSM parameter after BINGO_TOKEN_SSM_PREFIX.
KEY_PARAMETERS: Mapping[TokenKind, str] = {
    TokenKind.USER: "user-token-keys",
    TokenKind.PUBLIC: "public-token-keys",
    TokenKind.ADMIN: "admin-token-keys",
}


class ConfigurationError(RuntimeError):
    """The environment does not describe a working backend."""


def new_id() -> str:
    """A fresh unguessable id (122 random bits)."""
    return uuid.uuid4().hex


def aws_region(env: Mapping[str, str]) -> str:
    """The AWS region the environment names (Lambda sets AWS_REGION)."""
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigurationError("AWS_REGION (or AWS_DEFAULT_REGION) is not set")
    return region


def build_store(env: Mapping[str, str]) -> Store:
    """The store the environment names."""
    kind = env.get("BINGO_STORE", "sqlite")
    if kind == "sqlite":
        from backend.adapters.store_sqlite import SqliteStore

        return SqliteStore(env.get("BINGO_SQLITE_PATH", "/tmp/bingo.sqlite3"))  # noqa: S108
    if kind == "dynamodb":
        table = env.get("BINGO_TABLE")
        if not table:
            raise ConfigurationError("BINGO_TABLE is not set (BINGO_STORE=dynamodb needs it)")
        region = aws_region(env)
        from backend.adapters.store_dynamodb import DynamoStore

        return DynamoStore(table, region=region)
    raise ConfigurationError(f"BINGO_STORE={kind!r} is not supported (use 'sqlite' or 'dynamodb')")


def build_gateway(env: Mapping[str, str]) -> ConnectionGateway:
    """The connection gateway the environment names."""
    kind = env.get("BINGO_GATEWAY", "management_api")
    if kind == "memory":
        from backend.adapters.gateway_memory import InMemoryGateway

        return InMemoryGateway()
    if kind == "management_api":
        endpoint = env.get("BINGO_MANAGEMENT_ENDPOINT")
        if not endpoint:
            raise ConfigurationError("BINGO_MANAGEMENT_ENDPOINT is not set")
        from backend.adapters.gateway_management_api import (
            ManagementApiGateway,
        )

        return ManagementApiGateway(endpoint)
    raise ConfigurationError(f"BINGO_GATEWAY={kind!r} is not supported")


def build_tokens(env: Mapping[str, str]) -> TokenService:
    """The token service from the three keyring variables, or SSM for those left unset."""
    specs = {kind: env.get(variable, "") for kind, variable in KEY_VARIABLES.items()}
    parameters: dict[TokenKind, str] = {}
    prefix = env.get("BINGO_TOKEN_SSM_PREFIX")
    if prefix:
        parameters = {k: f"{prefix}{KEY_PARAMETERS[k]}" for k, spec in specs.items() if not spec}
    if parameters:
        # Imported only here: a container configured by variables never loads boto3 for this.
        from backend.adapters.store_dynamodb import ParameterStoreError, read_parameters

        try:
            values = read_parameters(list(parameters.values()), region=aws_region(env))
        except ParameterStoreError as exc:
            raise ConfigurationError(f"cannot read the token keyrings from SSM: {exc}") from exc
        specs.update({k: values.get(name, "") for k, name in parameters.items()})
    rings = {}
    for kind, variable in KEY_VARIABLES.items():
        if not specs[kind]:
            where = f" and SSM parameter {parameters[kind]} does not exist" if parameters else ""
            raise ConfigurationError(f"{variable} is not set{where}")
        rings[kind] = Keyring.parse(kind, specs[kind])
    return TokenService(rings)


def build(env: Mapping[str, str]) -> Deps:
    """Everything the services need, from an environment mapping."""
    return Deps(
        store=build_store(env),
        gateway=build_gateway(env),
        tokens=build_tokens(env),
        clock=time.time,
        randbelow=secrets.randbelow,
        new_id=new_id,
        fanout=build_fanout(env),
        dispatcher=build_dispatcher(env),
    )


def build_dispatcher(env: Mapping[str, str]) -> Dispatcher | None:
    """The posting jobs' dispatcher, when the environment names a posting function."""
    function = env.get("BINGO_POST_FUNCTION")
    if not function:
        return None
    from backend.adapters.dispatch_lambda import LambdaDispatcher

    return LambdaDispatcher(function)


def build_fanout(env: Mapping[str, str]) -> FanoutMode:
    """The fan-out mode the environment names."""
    value = env.get("BINGO_FANOUT", FanoutMode.INLINE.value)
    try:
        return FanoutMode(value)
    except ValueError:
        modes = ", ".join(repr(m.value) for m in FanoutMode)
        raise ConfigurationError(f"BINGO_FANOUT={value!r} is not supported (use {modes})") from None


_lock = threading.Lock()
_deps: Deps | None = None


def deps() -> Deps:
    """This container's dependencies, built from `os.environ` on first use."""
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = build(os.environ)
    return _deps


def install(replacement: Deps | None) -> None:
    """Use `replacement` from now on (the emulator, demos, tests); None rebuilds from the env."""
    global _deps
    with _lock:
        _deps = replacement
