"""AWS list prices and billable usage: what a quantity of Lambda, API Gateway and DynamoDB costs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

_PER_MILLION = 1e-6


@dataclass(frozen=True)
class PriceTable:
    """List prices, in US dollars per billed unit, of everything the game is billed for.

    List prices change and differ by region: the table is a parameter of every function here,
    and `US_EAST_1` is only a dated default. Pass your own table (region, negotiated rates) to
    price the same usage differently. Free tiers and volume tiers are ignored (first tier only).

    Attributes:
        region: AWS region the prices apply to.
        as_of: Date (ISO 8601) the prices were checked.
        source: Pricing pages the figures come from.
        lambda_request: Per Lambda request.
        lambda_gb_second: Per GB-second of Lambda duration (x86).
        ws_message: Per WebSocket message unit (32 KB), sent or received.
        ws_connection_minute: Per WebSocket connection-minute.
        http_request: Per HTTP API request unit (512 KB).
        dynamodb_write_unit: Per on-demand DynamoDB write request unit.
        dynamodb_read_unit: Per on-demand DynamoDB read request unit.
    """

    region: str
    as_of: str
    source: tuple[str, ...]
    lambda_request: float
    lambda_gb_second: float
    ws_message: float
    ws_connection_minute: float
    http_request: float
    dynamodb_write_unit: float
    dynamodb_read_unit: float


US_EAST_1 = PriceTable(
    region="us-east-1",
    as_of="2026-11-29",
    source=(
        # $1.00 per million WebSocket messages (32 KB units, both directions), $0.25 per million
        # connection-minutes, $1.00 per million HTTP API requests (512 KB units), first tiers.
        "https://aws.amazon.com/api-gateway/pricing/",
        # $0.20 per million requests, $0.0000166667 per GB-second (x86, first 6 billion GB-s).
        "https://aws.amazon.com/lambda/pricing/",
        # On-demand after the 1 November 2024 price cut (50% off throughput):
        # $0.625 per million write request units, $0.125 per million read request units.
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        # Secondary confirmations of the same figures.
        "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html",
        "https://amnic.com/blogs/aws-api-gateway-pricing",
        "https://airbyte.com/data-engineering-resources/dynamodb-pricing",
    ),
    lambda_request=0.20 * _PER_MILLION,
    lambda_gb_second=0.0000166667,
    ws_message=1.00 * _PER_MILLION,
    ws_connection_minute=0.25 * _PER_MILLION,
    http_request=1.00 * _PER_MILLION,
    dynamodb_write_unit=0.625 * _PER_MILLION,
    dynamodb_read_unit=0.125 * _PER_MILLION,
)


@dataclass(frozen=True)
class Usage:
    """Billable quantities, already in the units AWS bills (32 KB messages, 512 KB requests).

    Attributes:
        lambda_requests: Lambda invocations.
        lambda_gb_seconds: Billed duration times configured memory, in GB-seconds.
        ws_message_units: WebSocket message units, in and out together.
        ws_connection_minutes: WebSocket connection-minutes.
        http_request_units: HTTP API request units.
        dynamodb_write_units: DynamoDB write request units.
        dynamodb_read_units: DynamoDB read request units.
    """

    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    ws_message_units: float = 0.0
    ws_connection_minutes: float = 0.0
    http_request_units: float = 0.0
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(Usage)),
        )

    def scale(self, factor: float) -> Usage:
        """Every quantity multiplied by `factor` (e.g. hours, or a share of the traffic)."""
        return Usage(*(getattr(self, f.name) * factor for f in fields(Usage)))


@dataclass(frozen=True)
class CostBreakdown:
    """Dollars per line item of a `Usage` priced with a `PriceTable`."""

    lambda_requests: float
    lambda_duration: float
    ws_messages: float
    ws_connection_minutes: float
    http_requests: float
    dynamodb_writes: float
    dynamodb_reads: float

    @property
    def total(self) -> float:
        """Sum of every line item, in dollars."""
        return float(sum(getattr(self, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, float]:
        """The line items and `total`, as plain data."""
        return {**asdict(self), "total": self.total}


def cost(usage: Usage, prices: PriceTable = US_EAST_1) -> CostBreakdown:
    """Price `usage` at `prices` (first-tier list prices, no free tier).

    Args:
        usage: Billable quantities.
        prices: The price table; `US_EAST_1` by default.

    Returns:
        Dollars per line item.
    """
    return CostBreakdown(
        lambda_requests=usage.lambda_requests * prices.lambda_request,
        lambda_duration=usage.lambda_gb_seconds * prices.lambda_gb_second,
        ws_messages=usage.ws_message_units * prices.ws_message,
        ws_connection_minutes=usage.ws_connection_minutes * prices.ws_connection_minute,
        http_requests=usage.http_request_units * prices.http_request,
        dynamodb_writes=usage.dynamodb_write_units * prices.dynamodb_write_unit,
        dynamodb_reads=usage.dynamodb_read_units * prices.dynamodb_read_unit,
    )


def metric(snapshot: Mapping[str, Any], path: str) -> float:
    """A number in a metering snapshot by its dotted path (e.g. `lambda.invocations`).

    Raises:
        KeyError: The snapshot has no such metric.
    """
    node: Any = snapshot
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(f"metering snapshot has no {path!r}")
        node = node[key]
    return float(node)


def usage_from_metering(
    snapshot: Mapping[str, Any],
    *,
    dynamodb_write_units: float = 0.0,
    dynamodb_read_units: float = 0.0,
) -> Usage:
    """The billable usage in an emulator `Meter.snapshot()`.

    The meter already counts WebSocket messages in 32 KB units and HTTP requests in 512 KB
    units. API Gateway bills WebSocket messages in both directions, so the billable units are
    units in plus units out. The emulator runs over SQLite and does not meter DynamoDB, so its
    units are 0 unless given here.

    Args:
        snapshot: `Meter.snapshot()` (or the `/_local/metrics` JSON).
        dynamodb_write_units: DynamoDB write request units measured or modelled elsewhere.
        dynamodb_read_units: DynamoDB read request units measured or modelled elsewhere.

    Returns:
        The usage.

    Raises:
        KeyError: A metric is missing from `snapshot`.
    """
    return Usage(
        lambda_requests=metric(snapshot, "lambda.invocations"),
        lambda_gb_seconds=metric(snapshot, "lambda.gbSeconds"),
        ws_message_units=metric(snapshot, "websocket.messageUnitsIn")
        + metric(snapshot, "websocket.messageUnitsOut"),
        ws_connection_minutes=metric(snapshot, "websocket.connectionMinutes"),
        http_request_units=metric(snapshot, "http.units"),
        dynamodb_write_units=dynamodb_write_units,
        dynamodb_read_units=dynamodb_read_units,
    )
