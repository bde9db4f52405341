"""Metering of the local stack, in the units AWS bills.

Lambda: invocations, cold starts and billed milliseconds per function. Cold starts are modelled
by concurrency: an invocation reuses an idle warm container of its function, or else starts a
new one (a cold start); containers idle longer than `container_idle_s` are reclaimed.
Event source mappings (the emulated DynamoDB stream): batches, records, retries and skips per
mapping; their invocations are metered as those of any other function.
API Gateway: WebSocket messages in and out counted in 32 KB units, connection-minutes, HTTP API
requests in 512 KB units, and `@connections` management calls by result
(https://aws.amazon.com/api-gateway/pricing/, https://aws.amazon.com/lambda/pricing/).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WS_UNIT_BYTES = 32 * 1024
HTTP_UNIT_BYTES = 512 * 1024
DEFAULT_CONTAINER_IDLE_S = 600.0


def ws_units(size: int) -> int:
    """WebSocket messages are billed in 32 KB increments (a 33 KB message counts as 2)."""
    return max(1, math.ceil(size / WS_UNIT_BYTES))


def http_units(size: int) -> int:
    """HTTP API requests are metered in 512 KB increments."""
    return max(1, math.ceil(size / HTTP_UNIT_BYTES))


@dataclass
class _Container:
    busy: bool
    last_used: float


@dataclass
class FunctionMeter:
    """Counts for one Lambda function."""

    memory_mb: int
    invocations: int = 0
    cold_starts: int = 0
    errors: int = 0
    billed_ms: int = 0
    duration_ms: float = 0.0
    routes: Counter[str] = field(default_factory=Counter)
    containers: list[_Container] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """JSON view."""
        return {
            "invocations": self.invocations,
            "coldStarts": self.cold_starts,
            "errors": self.errors,
            "billedMs": self.billed_ms,
            "durationMs": round(self.duration_ms, 3),
            "gbSeconds": round(self.billed_ms / 1000 * self.memory_mb / 1024, 6),
            "memoryMb": self.memory_mb,
            "warmContainers": len(self.containers),
            "routes": dict(sorted(self.routes.items())),
        }


@dataclass
class MappingMeter:
    """Counts for one event source mapping."""

    batches: int = 0
    records: int = 0
    retries: int = 0
    skipped_batches: int = 0
    skipped_records: int = 0

    def view(self) -> dict[str, Any]:
        """JSON view."""
        return {
            "batches": self.batches,
            "records": self.records,
            "retries": self.retries,
            "skippedBatches": self.skipped_batches,
            "skippedRecords": self.skipped_records,
        }


class Meter:
    """Thread-safe counters of everything the local stack would be billed for.

    Args:
        memory_mb: Memory configured for every function (billing uses GB-seconds).
        container_idle_s: Idle time after which a warm container is reclaimed.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        memory_mb: int = 256,
        container_idle_s: float = DEFAULT_CONTAINER_IDLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.memory_mb = memory_mb
        self.container_idle_s = container_idle_s
        self.clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self.functions: dict[str, FunctionMeter] = {}
        self.messages_in = 0
        self.message_units_in = 0
        self.messages_out = 0
        self.message_units_out = 0
        self.connections_opened = 0
        self.connections_rejected: Counter[int] = Counter()
        self._open: dict[str, float] = {}
        self._closed_seconds = 0.0
        self.http_requests = 0
        self.http_units = 0
        self.management_calls: Counter[str] = Counter()
        self.mappings: dict[str, MappingMeter] = {}

    # -- Lambda -------------------------------------------------------------------------------
    def start_invocation(self, function: str) -> tuple[object, bool]:
        """Take a warm container or start a new one; returns (container, cold)."""
        now = self.clock()
        with self._lock:
            meter = self.functions.setdefault(function, FunctionMeter(self.memory_mb))
            meter.containers = [
                c for c in meter.containers if c.busy or now - c.last_used < self.container_idle_s
            ]
            for container in meter.containers:
                if not container.busy:
                    container.busy = True
                    return container, False
            container = _Container(busy=True, last_used=now)
            meter.containers.append(container)
            meter.cold_starts += 1
            return container, True

    def end_invocation(
        self,
        function: str,
        container: object,
        duration_s: float,
        *,
        error: bool = False,
        route: str | None = None,
    ) -> None:
        """Record a finished invocation; Lambda bills duration rounded up to the millisecond."""
        with self._lock:
            meter = self.functions[function]
            assert isinstance(container, _Container)
            container.busy = False
            container.last_used = self.clock()
            meter.invocations += 1
            meter.errors += int(error)
            meter.duration_ms += duration_s * 1000
            meter.billed_ms += max(1, math.ceil(duration_s * 1000))
            if route is not None:
                meter.routes[route] += 1

    def stream_batch(
        self, mapping: str, *, records: int = 0, retried: bool = False, skipped: int = 0
    ) -> None:
        """An event source mapping delivered `records`, retried a batch, or skipped one."""
        with self._lock:
            meter = self.mappings.setdefault(mapping, MappingMeter())
            if records:
                meter.batches += 1
                meter.records += records
            meter.retries += int(retried)
            if skipped:
                meter.skipped_batches += 1
                meter.skipped_records += skipped

    # -- API Gateway ------------------------------------------------------------------------
    def connection_opened(self, connection_id: str) -> None:
        """A WebSocket upgrade succeeded."""
        with self._lock:
            self.connections_opened += 1
            self._open[connection_id] = self.clock()

    def connection_rejected(self, status: int) -> None:
        """A WebSocket upgrade was refused with `status`."""
        with self._lock:
            self.connections_rejected[status] += 1

    def connection_closed(self, connection_id: str) -> None:
        """A WebSocket connection ended."""
        with self._lock:
            opened = self._open.pop(connection_id, None)
            if opened is not None:
                self._closed_seconds += self.clock() - opened

    def message_in(self, size: int) -> None:
        """A client sent a data message."""
        with self._lock:
            self.messages_in += 1
            self.message_units_in += ws_units(size)

    def message_out(self, size: int) -> None:
        """A message was delivered to a client."""
        with self._lock:
            self.messages_out += 1
            self.message_units_out += ws_units(size)

    def http_request(self, size: int) -> None:
        """An HTTP API request (the management API and metrics are not billed as such)."""
        with self._lock:
            self.http_requests += 1
            self.http_units += http_units(size)

    def management_call(self, operation: str, status: int) -> None:
        """A call to the `@connections` API, by operation and HTTP status."""
        with self._lock:
            self.management_calls[f"{operation} {status}"] += 1

    def connection_minutes(self) -> float:
        """Minutes of connection time, closed connections and the open ones so far."""
        now = self.clock()
        with self._lock:
            seconds = self._closed_seconds + sum(now - t for t in self._open.values())
        return seconds / 60

    def snapshot(self) -> dict[str, Any]:
        """Everything metered so far, as JSON-able data."""
        minutes = self.connection_minutes()
        with self._lock:
            functions = {name: m.view() for name, m in sorted(self.functions.items())}
            snapshot: dict[str, Any] = {
                "elapsedSeconds": round(self.clock() - self._started, 3),
                "lambda": {
                    "functions": functions,
                    "invocations": sum(m["invocations"] for m in functions.values()),
                    "coldStarts": sum(m["coldStarts"] for m in functions.values()),
                    "billedMs": sum(m["billedMs"] for m in functions.values()),
                    "gbSeconds": round(sum(m["gbSeconds"] for m in functions.values()), 6),
                },
                "websocket": {
                    "messagesIn": self.messages_in,
                    "messageUnitsIn": self.message_units_in,
                    "messagesOut": self.messages_out,
                    "messageUnitsOut": self.message_units_out,
                    "connectionsOpened": self.connections_opened,
                    "connectionsOpen": len(self._open),
                    "connectionsRejected": {
                        str(k): v for k, v in self.connections_rejected.items()
                    },
                    "connectionMinutes": round(minutes, 6),
                },
                "http": {"requests": self.http_requests, "units": self.http_units},
                "managementApi": dict(sorted(self.management_calls.items())),
            }
            # Only a stack with stream fan-out has mappings; others keep their usual snapshot.
            if self.mappings:
                snapshot["eventSourceMappings"] = {
                    name: m.view() for name, m in sorted(self.mappings.items())
                }
            return snapshot
