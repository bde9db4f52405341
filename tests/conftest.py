"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto_kit import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server process for the session (started on first use)."""
    server = MotoServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: MotoServer) -> Iterator[dict[str, str]]:
    """A clean moto server and boto3 pointed at it through AWS_ENDPOINT_URL."""
    moto_server.reset()
    with moto_server.environment() as values:
        yield values
