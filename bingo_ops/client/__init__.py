"""Async WebSocket and HTTP client of bingo-ops: players and status boards, reconnect and resume."""

from __future__ import annotations

from bingo_ops.client.http import ApiError, BingoHttp, PublicTokenSource
from bingo_ops.client.policy import Backoff, ClientState, GameFeed, ReconnectPolicy
from bingo_ops.client.token_cache import PublicToken, TokenCache
from bingo_ops.client.ws import (
    BingoClient,
    ClientStopped,
    MessageStream,
    NotConnected,
    TokenProvider,
)

__all__ = [
    "ApiError",
    "Backoff",
    "BingoClient",
    "BingoHttp",
    "ClientState",
    "ClientStopped",
    "GameFeed",
    "MessageStream",
    "NotConnected",
    "PublicToken",
    "PublicTokenSource",
    "ReconnectPolicy",
    "TokenCache",
    "TokenProvider",
]
