"""Composition root: environment variables -> adapters, built lazily, once per container.

Lambda keeps a module's globals between invocations of a warm container, so the store, the
gateway client and the keyrings are built on first use and reused. Adapters are imported
inside `build`, so a handler never imports boto3 unless its configuration needs AWS.

Environment:
    BINGO_STORE: `sqlite` (default).
    BINGO_SQLITE_PATH: the database file (default `/tmp/bingo.sqlite3`, Lambda's writable dir).
    BINGO_GATEWAY: `management_api` (default) or `memory` (in-process, for tests and demos).
    BINGO_MANAGEMENT_ENDPOINT: the WebSocket API's management URL (`wss://` is accepted and
        turned into `https://`).
    BINGO_USER_TOKEN_KEYS, BINGO_PUBLIC_TOKEN_KEYS, BINGO_ADMIN_TOKEN_KEYS: keyrings as
        `kid:secret[,kid:secret...]`, the first signing; secrets of at least 32 bytes.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Mapping

from backend.domain.tokens import Keyring, TokenKind, TokenService
from backend.ports.gateway import ConnectionGateway
from backend.ports.store import Store
from backend.services.context import Deps

KEY_VARIABLES: Mapping[TokenKind, str] = {
    TokenKind.USER: "BINGO_USER_TOKEN_KEYS",
    TokenKind.PUBLIC: "BINGO_PUBLIC_TOKEN_KEYS",
    TokenKind.ADMIN: "BINGO_ADMIN_TOKEN_KEYS",
}


class ConfigurationError(RuntimeError):
    """The environment does not describe a working backend."""


def new_id() -> str:
    """A fresh unguessable id (122 random bits)."""
    return uuid.uuid4().hex


def build_store(env: Mapping[str, str]) -> Store:
    """The store the environment names."""
    kind = env.get("BINGO_STORE", "sqlite")
    if kind == "sqlite":
        from backend.adapters.store_sqlite import SqliteStore

        return SqliteStore(env.get("BINGO_SQLITE_PATH", "/tmp/bingo.sqlite3"))  # noqa: S108
    raise ConfigurationError(f"BINGO_STORE={kind!r} is not supported (use 'sqlite')")


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
    """The token service from the three keyring variables."""
    rings = {}
    for kind, variable in KEY_VARIABLES.items():
        spec = env.get(variable)
        if not spec:
            raise ConfigurationError(f"{variable} is not set")
        rings[kind] = Keyring.parse(kind, spec)
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
    )


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
