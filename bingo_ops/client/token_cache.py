"""Public tokens kept per stack in the user's cache directory, so a board keeps its device id."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "bingo-ops"
CACHE_FILE = "public-tokens.json"
# Public tokens live 30 days; one is replaced a day before it expires so a board that starts
# just before expiry does not lose its connection at the next reconnect.
REFRESH_BEFORE_S = 24 * 3600.0

# Asks the server for a token: takes the device id to keep (None for a new one) and returns the
# JSON body of `POST /public/token`.
Fetcher = Callable[[str | None], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class PublicToken:
    """A public (status board) token and the device id it was issued for.

    Attributes:
        device_id: Stable id of this board; kept across refreshes.
        token: The JWT.
        expires_at: Expiry in epoch seconds.
        permissions: What the token may read.
    """

    device_id: str
    token: str
    expires_at: float
    permissions: tuple[str, ...] = ()

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> PublicToken:
        """Read the body of `POST /public/token` (`expiresAt` in milliseconds)."""
        return cls(
            device_id=str(body["deviceId"]),
            token=str(body["publicToken"]),
            expires_at=float(body["expiresAt"]) / 1000.0,
            permissions=tuple(body.get("permissions", ())),
        )

    def fresh(self, now: float) -> bool:
        """Whether the token can still be used at `now` without refreshing."""
        return now < self.expires_at - REFRESH_BEFORE_S

    def to_json(self) -> dict[str, Any]:
        """The cache file's record."""
        return {
            "deviceId": self.device_id,
            "publicToken": self.token,
            "expiresAt": round(self.expires_at * 1000),
            "permissions": list(self.permissions),
        }


def _key(http_url: str) -> str:
    # One token per stack: the secrets differ between stacks, so tokens do too.
    return http_url.rstrip("/")


class TokenCache:
    """A JSON file of public tokens keyed by the stack's HTTP URL, readable by its owner only.

    Args:
        directory: Where the file lives; the user cache directory of `bingo-ops` by default
            (e.g. `~/.cache/bingo-ops` on Linux).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(
            directory if directory is not None else platformdirs.user_cache_dir(APP_NAME)
        )
        self.path = self.directory / CACHE_FILE

    def _read_all(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # a damaged cache only costs a new token; it is overwritten below
        return loaded if isinstance(loaded, dict) else {}

    def load(self, http_url: str) -> PublicToken | None:
        """The cached token of a stack, fresh or not (None when there is none)."""
        record = self._read_all().get(_key(http_url))
        if not isinstance(record, dict):
            return None
        try:
            return PublicToken.from_response(record)
        except (KeyError, TypeError, ValueError):
            return None

    def store(self, http_url: str, token: PublicToken) -> None:
        """Save a stack's token, replacing the file atomically with one of mode 0600."""
        records = self._read_all()
        records[_key(http_url)] = token.to_json()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file with 0600 from the first byte (the token is a credential);
        # os.replace then swaps it in whole, so a reader never sees half a file.
        fd, temp = tempfile.mkstemp(prefix=".public-tokens-", dir=self.directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(records, out, indent=2, sort_keys=True)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    async def get(
        self,
        http_url: str,
        fetch: Fetcher,
        *,
        now: float | None = None,
        refresh: bool = False,
    ) -> PublicToken:
        """A usable token for a stack: the cached one, or a new one for the same device id.

        Args:
            http_url: The stack's HTTP API URL (the cache key).
            fetch: Asks the server for a token (only called when needed).
            now: Epoch seconds; the current time by default.
            refresh: Fetch a new token even if the cached one looks fresh (it was rejected).
        """
        now = time.time() if now is None else now
        cached = self.load(http_url)
        if cached is not None and cached.fresh(now) and not refresh:
            return cached
        token = PublicToken.from_response(await fetch(cached.device_id if cached else None))
        self.store(http_url, token)
        return token
