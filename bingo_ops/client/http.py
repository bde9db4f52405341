"""Async helpers for the HTTP API routes, one method per route, errors raised as `ApiError`."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from bingo_ops.client.token_cache import PublicToken, TokenCache

DEFAULT_TIMEOUT_S = 10.0


class ApiError(Exception):
    """The HTTP API answered with a 4xx/5xx.

    Attributes:
        status: HTTP status.
        code: The stable error code from `{"error": {"code", "message"}}` (or `http_<status>`
            when the body had none, e.g. a gateway's own error page).
        message: Human-readable explanation.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read the error body of a response."""
        code, message = f"http_{response.status_code}", response.reason_phrase
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                code = str(error.get("code", code))
                message = str(error.get("message", message))
            elif "message" in body:  # API Gateway's own `{"message": "..."}`
                message = str(body["message"])
        return cls(response.status_code, code, message)


class BingoHttp:
    """Client of the HTTP API.

    Use as `async with BingoHttp(url, token=...) as http:`; `with_token` makes siblings that
    share the connection pool (a player's and the organiser's calls in one notebook).

    Args:
        http_url: Base URL of the HTTP API (the stack's `httpUrl` output).
        token: Bearer token (user, public or admin) for the routes that need one.
        timeout: Seconds per request.
        cache: Where `public_token` keeps tokens; the user cache directory by default.
        transport: An httpx transport, e.g. `httpx.MockTransport` in tests.
    """

    def __init__(
        self,
        http_url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        cache: TokenCache | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        _client: httpx.AsyncClient | None = None,
    ) -> None:
        self.http_url = http_url.rstrip("/")
        self.token = token
        self.cache = cache
        self._owns_client = _client is None
        self._client = _client or httpx.AsyncClient(
            base_url=self.http_url, timeout=timeout, transport=transport
        )

    def with_token(self, token: str | None) -> BingoHttp:
        """A client for the same API with another token, sharing this one's connections."""
        return BingoHttp(self.http_url, token=token, cache=self.cache, _client=self._client)

    async def aclose(self) -> None:
        """Close the connection pool (only the client that created it closes it)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> BingoHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        """One request; returns the JSON body.

        Raises:
            ApiError: on a 4xx/5xx answer.
            httpx.HTTPError: when the request could not be made.
        """
        headers = {"accept": "application/json"}
        bearer = token or self.token
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        response = await self._client.request(
            method, path, json=json, params=query, headers=headers
        )
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response.json() if response.content else None

    # -- players --------------------------------------------------------------------------
    async def join(self, nickname: str, game_id: str | None = None) -> dict[str, Any]:
        """`POST /join`: `{sessionId, nickname, gameId, token}` (a user token)."""
        body: dict[str, Any] = {"nickname": nickname}
        if game_id is not None:
            body["gameId"] = game_id
        result: dict[str, Any] = await self.request("POST", "/join", json=body)
        return result

    async def card(self, game_id: str) -> dict[str, Any]:
        """`GET /games/{gameId}/card` (user token)."""
        result: dict[str, Any] = await self.request("GET", f"/games/{game_id}/card")
        return result

    async def mark(self, game_id: str, word: str) -> dict[str, Any]:
        """`POST /games/{gameId}/marks {word}` (user token); marking twice changes nothing."""
        result: dict[str, Any] = await self.request(
            "POST", f"/games/{game_id}/marks", json={"word": word}
        )
        return result

    async def claim_bingo(self, game_id: str) -> dict[str, Any]:
        """`POST /games/{gameId}/bingo` (user token)."""
        result: dict[str, Any] = await self.request("POST", f"/games/{game_id}/bingo")
        return result

    # -- public reads -----------------------------------------------------------------------
    async def request_public_token(self, device_id: str | None = None) -> dict[str, Any]:
        """`POST /public/token {deviceId?}`, bypassing the cache."""
        body = {"deviceId": device_id} if device_id else {}
        result: dict[str, Any] = await self.request("POST", "/public/token", json=body)
        return result

    async def public_token(self, *, refresh: bool = False) -> PublicToken:
        """A public token for this stack, from the cache or, when missing or near expiry, anew.

        A refreshed token keeps the cached device id, so a board stays the same device.

        Args:
            refresh: Fetch a new one even if the cached one looks fresh (it was rejected).
        """
        cache = self.cache if self.cache is not None else TokenCache()
        return await cache.get(self.http_url, self.request_public_token, refresh=refresh)

    async def current_game(self) -> dict[str, Any]:
        """`GET /games/current`: the newest active game."""
        result: dict[str, Any] = await self.request("GET", "/games/current")
        return result

    async def game(self, game_id: str) -> dict[str, Any]:
        """`GET /games/{gameId}`."""
        result: dict[str, Any] = await self.request("GET", f"/games/{game_id}")
        return result

    async def history(self, limit: int | None = None) -> dict[str, Any]:
        """`GET /games/history`: finished games, newest first."""
        result: dict[str, Any] = await self.request(
            "GET", "/games/history", params={"limit": limit}
        )
        return result

    async def leaderboard(self, game_id: str, limit: int | None = None) -> dict[str, Any]:
        """`GET /games/{gameId}/leaderboard?limit=`."""
        result: dict[str, Any] = await self.request(
            "GET", f"/games/{game_id}/leaderboard", params={"limit": limit}
        )
        return result

    async def events(
        self, game_id: str, after: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        """`GET /games/{gameId}/events?after=&limit=`: one page of the log."""
        result: dict[str, Any] = await self.request(
            "GET", f"/games/{game_id}/events", params={"after": after, "limit": limit}
        )
        return result

    async def all_events(self, game_id: str, after: int = 0) -> list[dict[str, Any]]:
        """Every event after `after`, following `nextAfter` page by page."""
        found: list[dict[str, Any]] = []
        while True:
            page = await self.events(game_id, after=after)
            found.extend(page["events"])
            if not page["events"] or page["nextAfter"] >= page["seq"]:
                return found
            after = page["nextAfter"]

    async def poll_stream(self, game_id: str, after: int = 0) -> dict[str, Any]:
        """`GET /leaderboard/{gameId}/stream?after=`: the deprecated 3 s polling endpoint (JSON)."""
        result: dict[str, Any] = await self.request(
            "GET", f"/leaderboard/{game_id}/stream", params={"after": after}
        )
        return result

    # -- organisers (admin token) -----------------------------------------------------------
    async def create_game(
        self, *, name: str | None = None, grid_size: int = 5, words: list[str] | None = None
    ) -> dict[str, Any]:
        """`POST /admin/games {name, gridSize, words?}`: a new game in state `open`."""
        body: dict[str, Any] = {"gridSize": grid_size}
        if name is not None:
            body["name"] = name
        if words is not None:
            body["words"] = words
        result: dict[str, Any] = await self.request("POST", "/admin/games", json=body)
        return result

    async def change_state(self, game_id: str, state: str, reason: str = "") -> dict[str, Any]:
        """`POST /admin/games/{gameId}/state {state, reason}`."""
        result: dict[str, Any] = await self.request(
            "POST", f"/admin/games/{game_id}/state", json={"state": state, "reason": reason}
        )
        return result


class PublicTokenSource:
    """Supplies a board's public token on every (re)connection, from the cache when fresh.

    Args:
        http_url: The stack's HTTP API URL.
        cache: Token cache; the user cache directory by default.
        timeout: Seconds per HTTP request.
        transport: An httpx transport, for tests.
    """

    def __init__(
        self,
        http_url: str,
        *,
        cache: TokenCache | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http_url = http_url.rstrip("/")
        self.cache = cache if cache is not None else TokenCache()
        self.timeout = timeout
        self.transport = transport
        self.current: PublicToken | None = None

    async def __call__(self, refresh: bool = False) -> str:
        """The token to connect with; `refresh` after the server rejected the last one."""

        async def fetch(device_id: str | None) -> Mapping[str, Any]:
            # A client per fetch: a board fetches about once a month, and nothing stays open.
            async with BingoHttp(
                self.http_url, timeout=self.timeout, transport=self.transport
            ) as http:
                return await http.request_public_token(device_id)

        self.current = await self.cache.get(self.http_url, fetch, refresh=refresh)
        return self.current.token
