"""The asyncio loop of `BingoClient`: connects, sleeps and moves frames; `policy` decides."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidMessage,
    InvalidStatus,
)

from bingo_ops.client.http import ApiError, PublicTokenSource
from bingo_ops.client.policy import (
    DEFAULT_GAP_GRACE_S,
    DEFAULT_HEARTBEAT_S,
    DEFAULT_RESUME_TIMEOUT_S,
    Backoff,
    ClientKind,
    ClientState,
    Failure,
    Heartbeat,
    ReconnectPolicy,
    Send,
)
from bingo_ops.client.token_cache import TokenCache

log = logging.getLogger(__name__)

Message = dict[str, Any]
OnMessage = Callable[[Message], Awaitable[None] | None]

# API Gateway's limits: 128 KB per message, 32 KB per frame (websockets takes both as a tuple).
# https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024
DEFAULT_OPEN_TIMEOUT_S = 10.0
# Messages an unread `messages()` iterator holds before dropping its oldest.
DEFAULT_MAX_QUEUE = 10_000


class TokenProvider(Protocol):
    """Supplies the token for each connection; `refresh=True` after the server refused one."""

    def __call__(self, refresh: bool = False) -> Awaitable[str]:
        """The token to connect with."""
        ...


class ClientStopped(Exception):
    """The client stopped for good: it gave up reconnecting, or it was closed."""


class NotConnected(Exception):
    """A message could not be sent because no connection is open."""


def url_with_token(ws_url: str, token: str) -> str:
    """`ws_url` with `?token=JWT` (browsers cannot set headers on a WebSocket upgrade)."""
    parts = urlsplit(ws_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "token"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("token", token)])))


def failure_of(exc: BaseException, secret: str | None = None) -> Failure:
    """Describe a failed connection attempt for the policy, like websockets' `process_exception`.

    Network errors, timeouts, a handshake cut short and 5xx answers may pass; a refused
    upgrade (401, 403, other 4xx) or a malformed URL will not.

    Args:
        exc: What the attempt raised.
        secret: The token, removed from the description (it sits in the URL).
    """
    detail = f"{type(exc).__name__}: {exc}"
    if secret:
        detail = detail.replace(secret, "<token>")
    if isinstance(exc, InvalidStatus):
        return Failure(status=exc.response.status_code, detail=detail)
    if isinstance(exc, ApiError):
        return Failure(status=exc.status, detail=detail)
    if isinstance(exc, OSError | TimeoutError | httpx.TransportError | ConnectionClosed):
        return Failure(detail=detail)
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return Failure(detail=detail)  # the server closed during the handshake (restarting)
    return Failure(fatal=True, detail=detail)


class MessageStream:
    """Async iterator over the messages a client delivers from the moment it was made.

    Ends when the client stops; raises the client's error if it gave up.
    """

    def __init__(self, client: BingoClient, max_queue: int) -> None:
        self._client = client
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self._max_queue = max_queue
        self.dropped = 0

    def _put(self, message: Message | None) -> None:
        if message is not None and self._queue.qsize() >= self._max_queue:
            # Nobody is reading; keep the newest, which is what a live view wants.
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> Message:
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # stay ended for every later call
            self.close()
            if self._client.error is not None:
                raise self._client.error
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        """Stop receiving messages."""
        self._client._streams.discard(self)


class BingoClient:
    """A player's or a status board's live connection to one or more games.

    The rules live in `policy` (reconnect, backoff, seq order, resume, state); this class only
    connects, sleeps, sends and receives. After every (re)connection it subscribes to each game
    and resumes from the last `seq` it saw, so the application gets every event exactly once,
    in order, through `on_message` or `messages()`, and `state` mirrors the server.

    Use as `async with BingoClient(...) as client:` (starts and closes it), or `await
    client.run()` until `close()`.

    Args:
        ws_url: The WebSocket API URL (the stack's `wsUrl`).
        token: A JWT, or a `TokenProvider` asked on every connection (see `board`).
        games: Game ids to follow.
        kind: `user` (a player) or `public` (a status board); sets the reconnect default.
        max_attempts: Failed attempts in a row before giving up; `"default"` is 10 for a player
            and unlimited (None) for a board.
        heartbeat_s: Seconds without sending after which to send `ping` (API Gateway closes
            idle connections after 10 minutes).
        open_timeout: Seconds allowed for the opening handshake.
        on_message: Called with every delivered message (may be a coroutine function).
        backoff: Delays between attempts; full jitter, 1 s base, 30 s cap by default.
        after_seq: Deliver every event after this seq (0: the whole log); None starts with
            the last 50 events before subscribing.
        gap_grace_s: Seconds an out-of-order gap may last before resuming.
        resume_timeout_s: Seconds after which an unanswered resume is sent again.
        ping_interval: websockets' protocol-level keepalive, which notices dead TCP connections
            (None disables it).
        clock: Epoch seconds; injectable for tests.
        max_queue: Messages a `messages()` iterator buffers before dropping its oldest.
        feed: Subscribe to every game event (the activity feed); False asks for leaderboards
            and state changes only (a player's phone at conference scale).
    """

    def __init__(
        self,
        ws_url: str,
        token: str | TokenProvider,
        *,
        games: Iterable[str] = (),
        kind: ClientKind = "user",
        max_attempts: int | Literal["default"] | None = "default",
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        open_timeout: float = DEFAULT_OPEN_TIMEOUT_S,
        on_message: OnMessage | None = None,
        backoff: Backoff | None = None,
        after_seq: int | None = None,
        gap_grace_s: float = DEFAULT_GAP_GRACE_S,
        resume_timeout_s: float = DEFAULT_RESUME_TIMEOUT_S,
        ping_interval: float | None = 20.0,
        clock: Callable[[], float] = time.time,
        max_queue: int = DEFAULT_MAX_QUEUE,
        feed: bool = True,
    ) -> None:
        self.ws_url = ws_url
        self.kind = kind
        self.policy = ReconnectPolicy.for_kind(kind, max_attempts, backoff)
        self.state = ClientState(
            games,
            after_seq=after_seq,
            gap_grace_s=gap_grace_s,
            resume_timeout_s=resume_timeout_s,
            feed=feed,
        )
        self.heartbeat_s = heartbeat_s
        self.open_timeout = open_timeout
        self.on_message = on_message
        self.ping_interval = ping_interval
        self.clock = clock
        self.max_queue = max_queue
        self.error: BaseException | None = None
        self._token = token
        self._ws: ClientConnection | None = None
        self._heartbeat = Heartbeat(heartbeat_s)  # validates the interval up front
        self._closing = asyncio.Event()
        self._changed = asyncio.Condition()
        self._streams: set[MessageStream] = set()
        self._task: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[Any] | None = None
        self._finished = False
        self._cancelled_by_close = False

    @classmethod
    def board(
        cls,
        http_url: str,
        ws_url: str,
        *,
        games: Iterable[str],
        cache: TokenCache | None = None,
        **options: Any,
    ) -> BingoClient:
        """A status board: a public token from the cache (fetched when missing or expiring).

        Args:
            http_url: The stack's HTTP API URL, where public tokens come from.
            ws_url: The stack's WebSocket API URL.
            games: Game ids to show.
            cache: Token cache; the user cache directory by default.
            **options: Any other `BingoClient` argument.
        """
        source = PublicTokenSource(http_url, cache=cache)
        return cls(ws_url, source, games=games, kind="public", **options)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        """Run the client in a task; its failure is kept in `error`, never raised by the task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run_quietly(), name="bingo-client")
        return self._task

    async def _run_quietly(self) -> None:
        with contextlib.suppress(Exception):
            await self.run()

    async def run(self) -> None:
        """Connect, and reconnect, until `close()` or the policy gives up.

        Raises:
            ClientStopped: the policy gave up (the cause is chained).
        """
        if self._runner is not None:
            raise RuntimeError("the client is already running")
        self._runner = asyncio.current_task()
        try:
            await self._loop()
        except asyncio.CancelledError as error:
            if self._cancelled_by_close and self._runner is not None:
                self._runner.uncancel()
                await self._finish(None)
                return
            await self._finish(error)
            raise
        except BaseException as error:
            await self._finish(error)
            raise
        await self._finish(None)

    async def close(self) -> None:
        """Stop: close the connection cleanly, or interrupt connecting or sleeping."""
        self._closing.set()
        if self._ws is not None:
            await self._ws.close()
        elif self._runner is not None and not self._finished:
            # Connecting (up to `open_timeout`) or backing off (up to 30 s): interrupt it.
            self._cancelled_by_close = True
            self._runner.cancel()
        if asyncio.current_task() in (self._task, self._runner):
            return  # called from on_message: the loop ends once this callback returns
        if self._task is not None:
            await asyncio.wait({self._task})
        elif self._runner is not None:
            await self.wait_for(lambda _: self._finished, swallow_error=True)

    async def __aenter__(self) -> BingoClient:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether the client has stopped."""
        return self._finished

    async def _finish(self, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, asyncio.CancelledError):
            self.error = error
            self.state.last_error = str(error)
        self._finished = True
        self.state.connected = False
        for stream in list(self._streams):
            stream._put(None)
        await self._notify()

    # -- what the application calls -----------------------------------------------------------
    def messages(self) -> MessageStream:
        """An async iterator over every message delivered from now on.

        Create it before `start()` to see the first messages too.
        """
        stream = MessageStream(self, self.max_queue)
        if self._finished:
            stream._put(None)
        else:
            self._streams.add(stream)
        return stream

    async def send_action(self, action: str, **fields: Any) -> None:
        """Send `{"action": action, **fields}`; `subscribe`/`unsubscribe` also (un)follow the game.

        Raises:
            NotConnected: no connection is open.
        """
        game_id = fields.get("gameId")
        if action == "subscribe" and isinstance(game_id, str):
            await self.subscribe(game_id)
        elif action == "unsubscribe" and isinstance(game_id, str):
            await self.unsubscribe(game_id)
        else:
            await self._send({"action": action, **fields})

    async def subscribe(self, game_id: str) -> None:
        """Follow another game, now and after every reconnection."""
        await self._send_all(self.state.add_game(game_id))

    async def unsubscribe(self, game_id: str) -> None:
        """Stop following a game."""
        await self._send_all(self.state.remove_game(game_id))

    async def wait_for(
        self,
        predicate: Callable[[ClientState], bool],
        timeout: float | None = None,
        *,
        swallow_error: bool = False,
    ) -> None:
        """Wait until `predicate(state)` holds (checked after every change).

        Raises:
            TimeoutError: it did not hold within `timeout` seconds.
            ClientStopped: the client stopped before it held.
        """
        async with asyncio.timeout(timeout), self._changed:
            while not predicate(self.state):
                if self._finished:
                    if swallow_error:
                        return
                    raise ClientStopped(str(self.error or "the client was closed"))
                await self._changed.wait()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a connection is open and the games are subscribed to."""
        await self.wait_for(lambda state: state.connected, timeout)

    # -- the loop ---------------------------------------------------------------------------
    async def _get_token(self, refresh: bool) -> str:
        if isinstance(self._token, str):
            return self._token
        return await self._token(refresh=refresh)

    async def _loop(self) -> None:
        failed = 0
        refresh = refreshed = False
        while not self._closing.is_set():
            secret: str | None = self._token if isinstance(self._token, str) else None
            try:
                secret = await self._get_token(refresh)
                ws = await connect(
                    url_with_token(self.ws_url, secret),
                    open_timeout=self.open_timeout,
                    ping_interval=self.ping_interval,
                    compression=None,  # API Gateway negotiates no extensions
                    max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
                    proxy=None,
                )
            except Exception as exc:
                failed += 1
                failure = failure_of(exc, secret)
                self.state.connection_failed(failure.detail)
                await self._notify()
                can_refresh = not isinstance(self._token, str) and not refreshed
                decision = self.policy.decide(failure, failed, can_refresh_token=can_refresh)
                if not decision.retry:
                    raise ClientStopped(decision.reason) from exc
                refresh = refreshed = refreshed or decision.refresh_token
                log.info("connect failed (%s); retrying in %.2f s", failure.detail, decision.delay)
                await self._sleep(decision.delay)
                continue
            failed = 0
            refresh = refreshed = False
            failure = await self._serve(ws)
            if self._closing.is_set():
                break
            self.state.connection_lost(failure.detail)
            await self._notify()
            decision = self.policy.decide(failure, 0)
            if not decision.retry:
                raise ClientStopped(decision.reason)
            log.info("connection lost (%s); reconnecting in %.2f s", failure.detail, decision.delay)
            await self._sleep(decision.delay)

    async def _sleep(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    async def _serve(self, ws: ClientConnection) -> Failure:
        """Move frames until the connection ends; returns why it ended."""
        heartbeat = Heartbeat(self.heartbeat_s)
        self._ws = ws
        self._heartbeat = heartbeat
        try:
            if self._closing.is_set():
                return Failure(detail="closed")
            now = self.clock()
            heartbeat.sent(now)  # the upgrade itself was traffic
            await self._send_all(self.state.connection_opened(now))
            await self._notify()
            while True:
                now = self.clock()
                await self._send_all(self.state.tick(now))
                if heartbeat.due(now):
                    await self._send({"action": "ping"})
                wake = [t for t in (heartbeat.due_at(), self.state.deadline()) if t is not None]
                timeout = max(0.0, min(wake) - self.clock()) if wake else None
                try:
                    async with asyncio.timeout(timeout):
                        raw = await ws.recv()  # cancelling recv() loses nothing
                except TimeoutError:
                    continue
                await self._receive(raw)
        except ConnectionClosed as closed:
            return Failure(detail=f"connection closed: {closed}")
        finally:
            # Cleared only once closed, so a concurrent close() closes too, never cancels.
            await ws.close()
            self._ws = None

    async def _receive(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            self.state.last_error = "ignored a binary frame (the API sends JSON text)"
            return
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self.state.last_error = f"ignored a frame that is not a JSON object: {raw[:80]!r}"
            return
        try:
            step = self.state.apply(message, self.clock())
        except (KeyError, TypeError, ValueError) as error:
            # A malformed message must not cost the connection; the next resume heals state.
            self.state.last_error = (
                f"ignored a malformed {message.get('type')!r} message: {error!r}"
            )
            return
        for delivered in step.messages:
            await self._deliver(delivered)
        await self._notify()
        await self._send_all(step.commands)

    async def _deliver(self, message: Message) -> None:
        if self.on_message is not None:
            try:
                result = self.on_message(message)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                # The application's bug must not cost the connection and its place in the log.
                log.exception("on_message failed for %s", message.get("type"))
        for stream in list(self._streams):
            stream._put(message)

    async def _send(self, message: Message) -> None:
        ws = self._ws
        if ws is None:
            raise NotConnected(f"cannot send {message.get('action')!r}: not connected")
        await ws.send(json.dumps(message, separators=(",", ":")))
        self._heartbeat.sent(self.clock())

    async def _send_all(self, commands: Iterable[Send]) -> None:
        for command in commands:
            await self._send(command.message)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
