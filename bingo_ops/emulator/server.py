"""The local stack: WebSocket API, HTTP API and `@connections` in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TextIO

import uvicorn
from websockets.asyncio.server import Server, serve

from backend import wiring
from backend.adapters.dynamodb_keys import EVENT_FILTER
from backend.adapters.gateway_management_api import ManagementApiGateway
from backend.adapters.store_dynamodb import DynamoStore
from backend.adapters.store_sqlite import SqliteStore
from backend.handlers import stream_broadcast
from backend.ports.gateway import ConnectionGateway
from backend.ports.store import Store
from backend.services.context import Deps, FanoutMode
from bingo_ops.emulator.connections import InProcessGateway, Registry
from bingo_ops.emulator.dispatch import InProcessDispatcher
from bingo_ops.emulator.dynamodb_stream import DynamoDBStream
from bingo_ops.emulator.events import StreamSite, WsSite
from bingo_ops.emulator.http_app import METRICS_PATH, HttpApp
from bingo_ops.emulator.lambdas import LambdaRuntime
from bingo_ops.emulator.metering import DEFAULT_CONTAINER_IDLE_S, Meter
from bingo_ops.emulator.streams import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_POLL_S,
    ChangeLogSource,
    EventSourceMapping,
    MappingConfig,
    StreamSource,
)
from bingo_ops.emulator.websocket_api import (
    HARD_TIMEOUT_S,
    IDLE_TIMEOUT_S,
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
    WebSocketApi,
)
from bingo_ops.state import StateDir

ManagementMode = Literal["inprocess", "http"]
FanoutOption = Literal["inline", "stream"]
# The broadcaster functions and the event source mapping of each (one per audience).
BOARDS_FUNCTION = "broadcast_boards"
PLAYERS_FUNCTION = "broadcast_players"
POST_FUNCTION = "post_players"


@dataclass(frozen=True)
class StackOptions:
    """How to run the local stack.

    Attributes:
        state_dir: Holds the SQLite file and the token secrets (created on first start).
        host: Interface to listen on.
        http_port: HTTP API + `@connections` + metrics port; 0 picks a free one.
        ws_port: WebSocket API port; 0 picks a free one.
        management_api: `inprocess` posts straight to sockets; `http` sends handlers' posts
            through backend's boto3 management-API adapter to this stack's `@connections`.
        idle_timeout_s: API Gateway closes connections idle this long (10 min).
        hard_timeout_s: API Gateway closes any connection after this long (2 h).
        stage: The WebSocket stage name in URLs and events.
        lambda_workers: Handler threads (concurrent invocations).
        memory_mb: Memory per function, for GB-second billing.
        container_idle_s: Idle time after which a warm container is reclaimed.
        outputs: Where to write the outputs JSON once listening.
        store_env: Build the store from these `backend.wiring` variables instead of the
            state dir's SQLite file (e.g. `BINGO_STORE=dynamodb`, `BINGO_TABLE=...`), so the
            same handlers run over the DynamoDB adapter.
        fanout: `inline` (the writing invocation posts to every subscriber, per event) or
            `stream` (writers only write; `broadcast_boards` and `broadcast_players` run from
            event source mappings, as DynamoDB Streams triggers them on AWS, with AWS's
            filter; see `bingo_ops.emulator.streams`). The mappings read the SQLite store's
            change log or, with a DynamoDB `store_env`, the table's own stream, which must be
            enabled (KEYS_ONLY, as the deployer creates it); `AWS_ENDPOINT_URL` points both
            the store and the stream reader at a local server such as moto.
        board_window_s: The boards mapping's batching window (MaximumBatchingWindowInSeconds;
            AWS takes whole seconds, the emulator any fraction).
        player_window_s: The players mapping's batching window.
        stream_poll_s: How often the emulated stream is read while idle. AWS's poller reads a
            shard about 4 times a second; reading more often here makes a window of 0 mean
            "at once" and keeps tests quick.
        stream_batch_size: Records per invocation at most (BatchSize; 100 is AWS's default
            for DynamoDB streams).
        stream_max_retries: Retries of a failed batch before it is skipped
            (MaximumRetryAttempts).
        post_jobs: With `stream`, the players' broadcaster hands each game's posting to an
            asynchronous invocation of `post_players` (as the deployer sets it up on AWS,
            `BINGO_POST_FUNCTION`). Off by default: the emulator's invocations share one
            process, so spreading posts over them gains nothing and bursts them together.
    """

    state_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 8000
    ws_port: int = 8001
    management_api: ManagementMode = "inprocess"
    idle_timeout_s: float = IDLE_TIMEOUT_S
    hard_timeout_s: float = HARD_TIMEOUT_S
    stage: str = "local"
    lambda_workers: int = 32
    memory_mb: int = 256
    container_idle_s: float = DEFAULT_CONTAINER_IDLE_S
    outputs: Path | None = None
    store_env: Mapping[str, str] | None = None
    fanout: FanoutOption = "inline"
    board_window_s: float = 0.0
    player_window_s: float = 2.0
    stream_poll_s: float = DEFAULT_POLL_S
    stream_batch_size: int = DEFAULT_BATCH_SIZE
    stream_max_retries: int = DEFAULT_MAX_RETRIES
    post_jobs: bool = False

    def mapping_configs(self) -> list[MappingConfig]:
        """The event source mappings `fanout="stream"` starts (none for `inline`).

        Raises:
            ValueError: a window, batch size or poll interval out of range.
        """
        if self.fanout == "inline":
            return []
        common: dict[str, Any] = {
            "batch_size": self.stream_batch_size,
            "poll_s": self.stream_poll_s,
            "max_retries": self.stream_max_retries,
            "filter_pattern": EVENT_FILTER,  # the deployer's FilterCriteria
        }
        return [
            MappingConfig(
                BOARDS_FUNCTION, stream_broadcast.boards_handler, self.board_window_s, **common
            ),
            MappingConfig(
                PLAYERS_FUNCTION, stream_broadcast.players_handler, self.player_window_s, **common
            ),
        ]


class _EmbeddedUvicorn(uvicorn.Server):
    # The stack owns SIGINT/SIGTERM; uvicorn must not install handlers of its own.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP listening socket whose accepted connections asyncio will set TCP_NODELAY on.

    asyncio sets TCP_NODELAY only on sockets whose `proto` is IPPROTO_TCP, and
    `socket.create_server` leaves it 0. Without TCP_NODELAY a keep-alive response written in
    two parts (headers, body) waits for the client's delayed ACK: about 40 ms per request.

    Raises:
        OSError: the address is taken or cannot be bound.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


def write_outputs(path: Path, outputs: dict[str, Any]) -> None:
    """Write an outputs file atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(outputs, indent=2) + "\n")
    partial.replace(path)


# The stack running in this process, if any: handlers reach their Deps through one global.
_running: LocalStack | None = None


class LocalStack:
    """The embedded default: the real handlers behind a faithful local API Gateway.

    Use as `async with LocalStack(options) as stack:`; `stack.outputs` has the URLs.
    Only one stack per process: handlers find their dependencies through `backend.wiring`.
    """

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.state = StateDir(options.state_dir)
        self.meter = Meter(memory_mb=options.memory_mb, container_idle_s=options.container_idle_s)
        self.outputs: dict[str, Any] = {}
        self._uvicorn: _EmbeddedUvicorn | None = None
        self._uvicorn_task: asyncio.Task[None] | None = None
        self._ws_server: Server | None = None
        self._runtime: LambdaRuntime | None = None
        self._store: Store | None = None
        self._registry: Registry | None = None
        self._management: ManagementApiGateway | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._http_socket: socket.socket | None = None
        self._mappings: list[EventSourceMapping] = []
        self._stream: DynamoDBStream | None = None

    async def __aenter__(self) -> LocalStack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def registry(self) -> Registry:
        """The open connections."""
        assert self._registry is not None, "the stack is not running"
        return self._registry

    @property
    def mappings(self) -> list[EventSourceMapping]:
        """The running event source mappings (none with `fanout="inline"`)."""
        return list(self._mappings)

    def admin_token(self, subject: str = "local-admin") -> str:
        """An admin token signed with this stack's secrets."""
        return wiring.build_tokens(self.state.environment()).issue_admin(subject, now=time.time())

    async def start(self) -> None:
        """Listen on both ports, wire the handlers and write the outputs file.

        Raises:
            OSError: a port is taken; whatever had started is stopped again first.
            RuntimeError: another stack is running in this process.
        """
        global _running
        if _running is not None:
            # Its handlers would start using this stack's store and sockets, and stopping
            # either stack would unwire both.
            raise RuntimeError("a local stack is already running in this process; stop it first")
        _running = self
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        options = self.options
        if options.fanout not in ("inline", "stream"):
            raise ValueError(
                f"fanout={options.fanout!r} is not supported (use 'inline' or 'stream')"
            )
        configs = options.mapping_configs()  # validates the windows before anything listens
        loop = asyncio.get_running_loop()
        env = self.state.environment()
        self._registry = Registry(loop, self.meter)
        self._runtime = LambdaRuntime(self.meter, workers=options.lambda_workers)
        self._store = (
            SqliteStore(self.state.database)
            if options.store_env is None
            else wiring.build_store(options.store_env)
        )

        app = HttpApp(self._runtime, self._registry, self.meter)
        config = uvicorn.Config(
            app,
            host=options.host,
            port=options.http_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
        )
        # Bound here rather than by uvicorn, which answers a taken port with sys.exit() inside
        # its task: that would escape the event loop instead of raising OSError to the caller.
        self._http_socket = listening_socket(options.host, options.http_port)
        http_port = self._http_socket.getsockname()[1]
        self._uvicorn = _EmbeddedUvicorn(config)
        self._uvicorn_task = asyncio.create_task(
            self._uvicorn.serve(sockets=[self._http_socket]), name="uvicorn"
        )
        while not self._uvicorn.started:
            if self._uvicorn_task.done():
                self._uvicorn_task.result()
                raise OSError(f"the HTTP server could not listen on port {http_port}")
            await asyncio.sleep(0.01)
        http_url = f"http://{options.host}:{http_port}"
        management_url = f"{http_url}/{options.stage}"

        site = WsSite(domain_name=options.host, stage=options.stage)
        api = WebSocketApi(
            self._runtime,
            self._registry,
            self.meter,
            site,
            idle_timeout_s=options.idle_timeout_s,
            hard_timeout_s=options.hard_timeout_s,
        )
        self._ws_server = await serve(
            api.handler,
            options.host,
            options.ws_port,
            process_request=api.process_request,
            compression=None,  # API Gateway negotiates no permessage-deflate
            max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
            ping_interval=None,  # API Gateway sends no pings; clients keep alive themselves
            server_header="bingo-ops local API Gateway",
        )
        ws_port = self._ws_server.sockets[0].getsockname()[1]
        self._sweeper = asyncio.create_task(api.sweep_forever(), name="timeouts")

        gateway: ConnectionGateway
        if options.management_api == "http":
            _local_aws_credentials()
            gateway = self._management = ManagementApiGateway(management_url)
        else:
            gateway = InProcessGateway(self._registry)
        wiring.install(
            Deps(
                store=self._store,
                gateway=gateway,
                tokens=wiring.build_tokens(env),
                clock=time.time,
                randbelow=secrets.randbelow,
                new_id=wiring.new_id,
                fanout=FanoutMode(options.fanout),
                dispatcher=(
                    InProcessDispatcher(
                        self._runtime, POST_FUNCTION, stream_broadcast.post_players_handler
                    )
                    if configs and options.post_jobs
                    else None
                ),
            )
        )
        if configs:
            sources = await self._stream_sources(len(configs))
            for mapping_config, source in zip(configs, sources, strict=True):
                mapping = EventSourceMapping(mapping_config, source, self._runtime, self.meter)
                self._mappings.append(mapping)
                await mapping.start()
        self.outputs = {
            "target": "local",
            "stage": options.stage,
            "httpUrl": http_url,
            "wsUrl": f"ws://{options.host}:{ws_port}/{options.stage}",
            "managementUrl": management_url,
            "metricsUrl": f"{http_url}{METRICS_PATH}",
            "stateDir": str(options.state_dir),
            "database": str(self.state.database),
            "pid": os.getpid(),
            "fanout": options.fanout,
        }
        if configs:
            self.outputs["boardWindowS"] = options.board_window_s
            self.outputs["playerWindowS"] = options.player_window_s
            self.outputs["postJobs"] = options.post_jobs
            self.outputs["streamArn"] = self._mappings[0].source.arn
        if options.outputs is not None:
            write_outputs(options.outputs, self.outputs)

    async def _stream_sources(self, count: int) -> list[StreamSource]:
        """One source per mapping, over the store's change log or the table's stream.

        Raises:
            ValueError: a DynamoDB table without a stream, or a store with neither.
        """
        store = self._store
        if isinstance(store, SqliteStore):
            site = StreamSite()
            return [ChangeLogSource(store, site) for _ in range(count)]
        if isinstance(store, DynamoStore):
            region = wiring.aws_region(self.options.store_env or {})
            self._stream = await asyncio.to_thread(DynamoDBStream.open, store.table_name, region)
            return [self._stream.reader() for _ in range(count)]
        raise ValueError(f"fanout='stream' cannot read the changes of a {type(store).__name__}")

    async def stop(self) -> None:
        """Stop the stream pollers, close every connection (running $disconnect), unwire."""
        mappings, self._mappings = self._mappings, []
        for mapping in mappings:
            await mapping.stop()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._ws_server is not None:
            self._ws_server.close(close_connections=True)
            await self._ws_server.wait_closed()
            self._ws_server = None
        if self._uvicorn is not None and self._uvicorn_task is not None:
            self._uvicorn.should_exit = True
            await self._uvicorn_task
            self._uvicorn = None
        if self._http_socket is not None:
            self._http_socket.close()  # uvicorn closed it if it started; if not, this does
            self._http_socket = None
        if self._runtime is not None:
            await asyncio.to_thread(self._runtime.close)
            self._runtime = None
        if self._management is not None:
            self._management.close()
            self._management = None
        global _running
        if _running is self:
            wiring.install(None)
            _running = None
        close = getattr(self._store, "close", None)
        if callable(close):
            close()
        self._store = None


def _local_aws_credentials() -> None:
    # botocore signs every request; the emulator accepts any signature, but there must be one.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


async def serve_forever(
    options: StackOptions, stop: asyncio.Event, announce: TextIO | None = None
) -> dict[str, Any]:
    """Run a stack until `stop` is set; returns the final metering snapshot."""
    async with LocalStack(options) as stack:
        if announce is not None:
            for key in ("httpUrl", "wsUrl", "managementUrl", "metricsUrl"):
                announce.write(f"{key:<14} {stack.outputs[key]}\n")
            announce.write("Serving; Ctrl-C or SIGTERM stops.\n")
            announce.flush()
        await stop.wait()
        return stack.meter.snapshot()
