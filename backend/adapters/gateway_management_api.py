"""The `ConnectionGateway` port on API Gateway's `@connections` management API (boto3).

boto3 is imported when the first gateway is built, so handlers configured for another gateway
never pay for it at cold start.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from backend.ports.gateway import Delivery

DEFAULT_CONCURRENCY = 16


def management_endpoint(url: str) -> str:
    """The HTTPS endpoint of the management API for a WebSocket API's URL.

    The management API speaks HTTPS at the same host and stage as the `wss://` URL clients
    use; posting to `wss://` is what broke the original (every post failed). See
    https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html

    Raises:
        ValueError: not an http(s) or ws(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    scheme = {"wss": "https", "ws": "http", "https": "https", "http": "http"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not a WebSocket or HTTP URL: {url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def aws_management_endpoint(api_id: str, region: str, stage: str) -> str:
    """The default execute-api management endpoint of a WebSocket API stage."""
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"


class ManagementApiGateway:
    """Posts through `apigatewaymanagementapi.post_to_connection`, fanned out on a thread pool.

    Only a 410 (`GoneException`) reports a connection gone. Throttling and 5xx are retried by
    botocore's standard retry mode and, if they persist, reported as failures: a connection is
    never deleted on a guess.

    Args:
        endpoint: The management API URL; `wss://` is turned into `https://`.
        concurrency: Posts in flight at once.
        client: A ready boto3 client (tests); built from the endpoint when None.
    """

    def __init__(
        self, endpoint: str, *, concurrency: int = DEFAULT_CONCURRENCY, client: Any = None
    ) -> None:
        self.endpoint = management_endpoint(endpoint)
        self.concurrency = concurrency
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": 4},
                max_pool_connections=concurrency,
                connect_timeout=2,
                read_timeout=5,
            )
            client = boto3.client(
                "apigatewaymanagementapi", endpoint_url=self.endpoint, config=config
            )
        self._client = client
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="fanout")

    def _post(self, connection_id: str, data: bytes) -> tuple[str, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") == "GoneException" or status == 410:
                return connection_id, "gone"
            return connection_id, f"{error.get('Code', 'error')} (HTTP {status})"
        except BotoCoreError as exc:
            return connection_id, type(exc).__name__
        return connection_id, None

    def close(self) -> None:
        """Stop the fan-out threads and close the client's connection pool."""
        self._pool.shutdown(wait=True)
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def post_many(self, connection_ids: Sequence[str], data: bytes) -> Delivery:
        """See `ConnectionGateway.post_many`."""
        return self.post_each([(cid, data) for cid in dict.fromkeys(connection_ids)])

    def post_each(self, messages: Sequence[tuple[str, bytes]]) -> Delivery:
        """See `ConnectionGateway.post_each`: every post on the pool, `concurrency` at a time."""
        delivered, gone, failed = [], [], {}
        for cid, problem in self._pool.map(lambda m: self._post(*m), messages):
            if problem is None:
                delivered.append(cid)
            elif problem == "gone":
                gone.append(cid)
            else:
                failed[cid] = problem
        return Delivery(delivered=tuple(delivered), gone=tuple(dict.fromkeys(gone)), failed=failed)
