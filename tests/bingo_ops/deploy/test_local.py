"""`bingo-ops deploy/teardown --target local`, run as an operator runs them: separate processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bingo_ops.deploy.local import LOG_FILE, OUTPUTS_FILE, PID_FILE, process_alive, teardown_local

BINGO_OPS = Path(sys.executable).parent / "bingo-ops"
URL_KEYS = ("httpUrl", "wsUrl", "managementUrl", "metricsUrl")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BINGO_OPS), *args], capture_output=True, text=True, timeout=60, check=False
    )


def _port_open(url: str) -> bool:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    try:
        with closing(socket.create_connection((parts.hostname, parts.port), timeout=1)):
            return True
    except OSError:
        return False


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state dir whose background stack is stopped after the test, whatever happened."""
    folder = tmp_path / "state"
    yield folder
    teardown_local(folder)


def _deploy(state_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _run(
        "deploy",
        "--target",
        "local",
        "--state-dir",
        str(state_dir),
        "--http-port",
        "0",
        "--ws-port",
        "0",
        *extra,
    )


@pytest.mark.slow
def test_deploy_starts_a_background_stack_once_and_teardown_stops_it(
    state_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "out" / "stack.json"
    first = _deploy(state_dir, "--outputs", str(copy))
    assert first.returncode == 0, first.stderr
    assert "Started the local stack" in first.stdout

    outputs = json.loads((state_dir / OUTPUTS_FILE).read_text())
    pid = int((state_dir / PID_FILE).read_text())
    assert outputs["pid"] == pid
    assert process_alive(pid)
    assert set(URL_KEYS) <= set(outputs)
    assert json.loads(copy.read_text()) == outputs
    assert (state_dir / LOG_FILE).exists()
    # The CLI process has exited; the stack outlives it and serves.
    with httpx.Client(timeout=5) as client:
        assert client.get(outputs["metricsUrl"]).status_code == 200

    second = _deploy(state_dir)
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stdout
    assert f"pid {pid}" in second.stdout
    assert json.loads((state_dir / OUTPUTS_FILE).read_text()) == outputs
    assert int((state_dir / PID_FILE).read_text()) == pid

    stopped = _run("teardown", "--target", "local", "--state-dir", str(state_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert "Stopped the local stack" in stopped.stdout
    assert "Metered:" in stopped.stdout
    assert not process_alive(pid)
    assert not _port_open(outputs["httpUrl"])
    assert not _port_open(outputs["wsUrl"])
    assert not (state_dir / PID_FILE).exists()
    assert not (state_dir / OUTPUTS_FILE).exists()

    again = _run("teardown", "--target", "local", "--state-dir", str(state_dir))
    assert again.returncode == 0, again.stderr
    assert "nothing to stop" in again.stdout


def test_a_stack_that_cannot_listen_fails_with_its_log_and_leaves_no_pid(
    state_dir: Path,
) -> None:
    with closing(socket.create_server(("127.0.0.1", 0))) as taken:
        port = str(taken.getsockname()[1])
        failed = _run(
            "deploy", "--state-dir", str(state_dir), "--http-port", port, "--ws-port", "0"
        )
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert "exited before it listened" in failed.stderr
    assert "in use" in failed.stderr  # the end of the stack's log says why
    assert not (state_dir / PID_FILE).exists()


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs procfs")
def test_a_stale_pid_file_naming_another_process_is_ignored_and_that_process_spared(
    state_dir: Path,
) -> None:
    state_dir.mkdir(parents=True)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as bystander:
        try:
            (state_dir / PID_FILE).write_text(f"{bystander.pid}\n")

            nothing = _run("teardown", "--state-dir", str(state_dir))
            assert nothing.returncode == 0, nothing.stderr
            assert "nothing to stop" in nothing.stdout
            time.sleep(0.2)
            assert bystander.poll() is None

            (state_dir / PID_FILE).write_text(f"{bystander.pid}\n")
            started = _deploy(state_dir)
            assert started.returncode == 0, started.stderr
            assert "Started the local stack" in started.stdout
            assert int((state_dir / PID_FILE).read_text()) != bystander.pid
        finally:
            bystander.kill()


def test_dry_run_starts_nothing(state_dir: Path) -> None:
    planned = _deploy(state_dir, "--dry-run")

    assert planned.returncode == 0, planned.stderr
    assert "start" in planned.stdout
    assert "Dry run" in planned.stdout
    assert not (state_dir / PID_FILE).exists()
    assert not (state_dir / OUTPUTS_FILE).exists()
