"""The HTTP side of the local stack, as one ASGI app: the HTTP API, `@connections`, metrics."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from backend.handlers import http_api
from bingo_ops.emulator import events
from bingo_ops.emulator.connections import Registry, close_connection
from bingo_ops.emulator.lambdas import LambdaRuntime
from bingo_ops.emulator.metering import Meter

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# HTTP API's payload limit (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
MAX_HTTP_BODY = 10 * 1024 * 1024
MANAGEMENT_PATH = re.compile(r"(?:/[^/@]+)?/@connections/(?P<id>[^/]+)")
METRICS_PATH = "/_local/metrics"


def route_label(method: str, path: str) -> str:
    """The route a request matches, for per-route metering (`unmatched` when none)."""
    return http_api.route_key(method, path) or "unmatched"


class HttpApp:
    """ASGI application serving the HTTP API, the management API and `/_local/metrics`."""

    def __init__(self, runtime: LambdaRuntime, registry: Registry, meter: Meter) -> None:
        self.runtime = runtime
        self.registry = registry
        self.meter = meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_HTTP_BODY:
                await _respond(send, 413, {"message": "Request Entity Too Large"})
                return
            if not message.get("more_body"):
                break
        method, path = scope["method"], scope["path"]
        managed = MANAGEMENT_PATH.fullmatch(path)
        if managed:
            await self._management(send, method, managed["id"], body)
        elif path == METRICS_PATH and method == "GET":
            await _respond(send, 200, self.meter.snapshot())
        else:
            await self._api(scope, send, method, path, body)

    async def _api(self, scope: Scope, send: Send, method: str, path: str, body: bytes) -> None:
        self.meter.http_request(len(body))
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            # Payload 2.0 joins repeated headers with commas.
            headers[name] = f"{headers[name]},{text}" if name in headers else text
        client = scope.get("client") or ("127.0.0.1", 0)
        raw_body: str | bytes | None = None
        if body:
            try:
                raw_body = body.decode()
            except UnicodeDecodeError:
                raw_body = body
        event = events.http_event(
            method,
            path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=raw_body,
            domain_name=headers.get("host", "localhost").split(":")[0],
            source_ip=str(client[0]),
        )
        label = route_label(method, path)
        try:
            result = await self.runtime.invoke("http_api", http_api.handler, event, route=label)
        except Exception:
            log.exception("http_api failed")
            await _respond(send, 500, {"message": "Internal Server Error"})
            return
        await _lambda_response(send, result)

    async def _management(self, send: Send, method: str, connection_id: str, body: bytes) -> None:
        conn = self.registry.get(connection_id)
        if method == "POST":
            status = self.registry.post(connection_id, body)
            if status == 200:
                await _respond(send, 200, None)
            elif status == 413:
                await _respond(
                    send,
                    413,
                    {"message": "Payload too large"},
                    {"x-amzn-errortype": "PayloadTooLargeException"},
                )
            else:
                await _gone(send)
            return
        operation = {"GET": "GetConnection", "DELETE": "DeleteConnection"}.get(method)
        if operation is None:
            await _respond(send, 405, {"message": "Method Not Allowed"})
            return
        if conn is None:
            self.meter.management_call(operation, 410)
            await _gone(send)
            return
        if method == "GET":
            self.meter.management_call(operation, 200)
            await _respond(send, 200, conn.view())
        else:
            self.meter.management_call(operation, 204)
            await close_connection(conn, 1000, "")
            await _respond(send, 204, None)


async def _gone(send: Send) -> None:
    # botocore reads the error code from this header (rest-json protocol).
    await _respond(send, 410, {"message": None}, {"x-amzn-errortype": "GoneException"})


async def _respond(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    payload = b"" if body is None else json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json")]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def _lambda_response(send: Send, result: Any) -> None:
    # Payload 2.0: a dict without statusCode is a 200 JSON body
    # (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
    if not isinstance(result, dict) or "statusCode" not in result:
        await _respond(send, 200, result)
        return
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = [
        (str(k).lower().encode(), str(v).encode()) for k, v in (result.get("headers") or {}).items()
    ]
    headers += [(b"set-cookie", str(c).encode()) for c in result.get("cookies") or []]
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    await send(
        {"type": "http.response.start", "status": int(result["statusCode"]), "headers": headers}
    )
    await send({"type": "http.response.body", "body": payload})
