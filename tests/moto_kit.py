"""A moto server process over HTTP for the AWS paths' tests (not in-process patching).

`MotoServer.start()` runs `moto_server` on a free loopback port and waits until it answers;
`reset()` wipes its state between tests (moto's `/moto-api/reset`). Tests point boto3 at it
with `AWS_ENDPOINT_URL`, the standard variable every boto3 client honours.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MotoServer:
    """One moto server process."""

    process: subprocess.Popen[bytes]
    endpoint: str

    @classmethod
    def start(cls, timeout: float = 30.0) -> MotoServer:
        """Start `moto_server` on a free port and wait until it serves."""
        port = free_port()
        binary = Path(sys.executable).parent / "moto_server"
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **CREDENTIALS},
        )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        return cls(process, endpoint)

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        url = f"{self.endpoint}/moto-api/reset"
        request = urllib.request.Request(url, method="POST")  # noqa: S310 - http only
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def stop(self) -> None:
        """Stop the process."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @contextlib.contextmanager
    def environment(self) -> Iterator[dict[str, str]]:
        """Point every boto3 client of this process at the server (and restore afterwards)."""
        values = {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield values
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old
