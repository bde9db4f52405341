"""The public token cache: a 0600 file, reused across runs, refreshed near expiry."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from bingo_ops.client.token_cache import (
    APP_NAME,
    CACHE_FILE,
    REFRESH_BEFORE_S,
    PublicToken,
    TokenCache,
)

URL = "http://127.0.0.1:8000"
DAY = 24 * 3600.0
NOW = 1_750_000_000.0


class FakeServer:
    """Stands in for `POST /public/token`: issues 30-day tokens, a new device id when asked."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.calls: list[str | None] = []

    async def fetch(self, device_id: str | None) -> Mapping[str, Any]:
        self.calls.append(device_id)
        device = device_id or f"device-{len(self.calls)}"
        return {
            "deviceId": device,
            "publicToken": f"token-{len(self.calls)}",
            "permissions": ["read_events", "read_leaderboard"],
            "expiresAt": round((self.now + 30 * DAY) * 1000),
        }


def get(cache: TokenCache, server: FakeServer, now: float, **kw: Any) -> PublicToken:
    return asyncio.run(cache.get(URL, server.fetch, now=now, **kw))


def test_the_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "cache")
    get(cache, FakeServer(), NOW)
    assert cache.path == tmp_path / "cache" / CACHE_FILE
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700
    assert [p.name for p in cache.path.parent.iterdir()] == [CACHE_FILE]  # no temp files left


def test_a_rewrite_keeps_mode_0600_even_if_the_file_was_loosened(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    server = FakeServer()
    get(cache, server, NOW)
    cache.path.chmod(0o644)
    get(cache, server, NOW, refresh=True)
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600


def test_a_fresh_token_is_reused_across_runs(tmp_path: Path) -> None:
    server = FakeServer()
    first = get(TokenCache(tmp_path), server, NOW)
    # A new TokenCache is a new run of the program reading the same file.
    again = get(TokenCache(tmp_path), server, NOW + 28 * DAY)
    assert again == first
    assert server.calls == [None]
    assert first.permissions == ("read_events", "read_leaderboard")
    assert first.expires_at == NOW + 30 * DAY


def test_a_token_near_expiry_is_refreshed_for_the_same_device(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    server = FakeServer()
    first = get(cache, server, NOW)
    later = NOW + 30 * DAY - REFRESH_BEFORE_S  # one day before expiry
    server.now = later
    refreshed = get(cache, server, later)
    assert server.calls == [None, first.device_id]
    assert refreshed.device_id == first.device_id
    assert refreshed.token != first.token
    assert cache.load(URL) == refreshed
    # The refreshed token is good for another 29 days.
    assert get(cache, server, later + 28 * DAY) == refreshed
    assert len(server.calls) == 2


def test_a_rejected_token_can_be_refreshed_before_expiry(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    server = FakeServer()
    first = get(cache, server, NOW)
    second = get(cache, server, NOW + 60, refresh=True)
    assert second.device_id == first.device_id
    assert second.token != first.token


def test_tokens_are_kept_per_stack(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    server = FakeServer()
    a = asyncio.run(cache.get("http://a.example/", server.fetch, now=NOW))
    b = asyncio.run(cache.get("http://b.example", server.fetch, now=NOW))
    assert a.device_id != b.device_id
    assert cache.load("http://a.example") == a  # a trailing slash is the same stack
    assert sorted(json.loads(cache.path.read_text())) == ["http://a.example", "http://b.example"]


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"http://127.0.0.1:8000": 5}'])
def test_a_damaged_file_costs_only_a_new_token(tmp_path: Path, content: str) -> None:
    cache = TokenCache(tmp_path)
    cache.path.write_text(content)
    token = get(cache, FakeServer(), NOW)
    assert cache.load(URL) == token


def test_the_default_directory_is_the_user_cache_dir() -> None:
    assert TokenCache().directory == Path(platformdirs.user_cache_dir(APP_NAME))


def test_the_file_stores_what_the_server_said(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    token = get(cache, FakeServer(), NOW)
    record = json.loads(cache.path.read_text())[URL]
    assert record == {
        "deviceId": token.device_id,
        "publicToken": token.token,
        "expiresAt": round((NOW + 30 * DAY) * 1000),
        "permissions": ["read_events", "read_leaderboard"],
    }
