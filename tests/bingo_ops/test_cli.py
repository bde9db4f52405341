"""The `bingo-ops` console script, run as an operator runs it: a separate process."""

from __future__ import annotations

import base64
import json
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend import wiring
from backend.domain.tokens import TokenKind
from bingo_ops.state import DATABASE_FILE, SECRETS_FILE, StateDir

BINGO_OPS = Path(sys.executable).parent / "bingo-ops"
START_TIMEOUT_S = 20.0
OUTPUT_KEYS = {
    "target",
    "stage",
    "httpUrl",
    "wsUrl",
    "managementUrl",
    "metricsUrl",
    "stateDir",
    "database",
    "pid",
    "fanout",  # inline by default: no windows, no stream
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BINGO_OPS), *args], capture_output=True, text=True, timeout=60, check=False
    )


@contextmanager
def _serving(state_dir: Path, outputs: Path) -> Iterator[tuple[subprocess.Popen[str], Any]]:
    """`bingo-ops serve` on free ports; yields the process and its outputs once listening."""
    outputs.unlink(missing_ok=True)
    command = [
        str(BINGO_OPS),
        "serve",
        "--http-port",
        "0",
        "--ws-port",
        "0",
        "--state-dir",
        str(state_dir),
        "--outputs",
        str(outputs),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not outputs.exists():
                if proc.poll() is not None:
                    raise AssertionError(f"serve exited early: {proc.communicate()}")
                if time.monotonic() > deadline:
                    raise AssertionError("serve did not write its outputs in time")
                time.sleep(0.05)
            yield proc, json.loads(outputs.read_text())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM the server; returns what it printed, after checking it exited cleanly."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return out


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_writes_outputs_keeps_state_private_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    state_dir, outputs = tmp_path / "state", tmp_path / "out" / "outputs.json"
    with _serving(state_dir, outputs) as (proc, found):
        assert set(found) == OUTPUT_KEYS
        assert found["target"] == "local"
        assert found["pid"] == proc.pid
        assert found["wsUrl"].startswith("ws://127.0.0.1:")
        assert found["wsUrl"].endswith(f"/{found['stage']}")
        assert found["managementUrl"] == f"{found['httpUrl']}/{found['stage']}"
        assert Path(found["database"]) == state_dir / DATABASE_FILE

        assert _mode(state_dir) == 0o700
        assert _mode(state_dir / DATABASE_FILE) == 0o600
        assert _mode(state_dir / SECRETS_FILE) == 0o600
        # SQLite's -wal and -shm files take the database's mode: nothing is group/world readable.
        assert {p.name: _mode(p) & 0o077 for p in state_dir.iterdir()} == {
            p.name: 0 for p in state_dir.iterdir()
        }

        with httpx.Client(timeout=5) as client:
            metrics = client.get(found["metricsUrl"])
            assert metrics.status_code == 200
            assert metrics.json()["http"]["requests"] == 0
            token = client.post(f"{found['httpUrl']}/public/token", json={"deviceId": "cli"})
            assert token.status_code == 201
        out = _stop(proc)
    for key in ("httpUrl", "wsUrl", "managementUrl", "metricsUrl"):
        assert found[key] in out
    summary = out[out.index("Metered:") :]
    assert "http_api" in summary
    assert "1 requests" in summary


def test_a_restart_reuses_the_secrets_so_earlier_tokens_still_work(tmp_path: Path) -> None:
    state_dir, outputs = tmp_path / "state", tmp_path / "outputs.json"
    minted = _run("token", "admin", "--state-dir", str(state_dir))
    assert minted.returncode == 0, minted.stderr
    admin = minted.stdout.strip()
    secrets = (state_dir / SECRETS_FILE).read_text()
    headers = {"authorization": f"Bearer {admin}"}

    for _ in range(2):
        with _serving(state_dir, outputs) as (proc, found), httpx.Client(timeout=5) as client:
            created = client.post(
                f"{found['httpUrl']}/admin/games", json={"gridSize": 3}, headers=headers
            )
            assert created.status_code == 201, created.text
            _stop(proc)
        assert (state_dir / SECRETS_FILE).read_text() == secrets


def _jwt_header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return decoded


def test_token_public_prints_a_jwt_signed_with_the_state_dirs_secrets(tmp_path: Path) -> None:
    printed = _run("token", "public", "--state-dir", str(tmp_path), "--subject", "screen-1")
    assert printed.returncode == 0, printed.stderr
    token = printed.stdout.strip()
    assert token.count(".") == 2
    assert _jwt_header(token)["alg"] == "HS256"
    service = wiring.build_tokens(StateDir(tmp_path).environment())
    claims = service.verify(token, now=time.time(), accept=(TokenKind.PUBLIC,))
    assert claims.subject == "screen-1"
    assert _mode(tmp_path / SECRETS_FILE) == 0o600


def test_help_exits_zero() -> None:
    top = _run("--help")
    assert top.returncode == 0
    for command in ("demo", "serve", "token"):
        assert command in top.stdout
    serve = _run("serve", "--help")
    assert serve.returncode == 0
    for option in ("--http-port", "--ws-port", "--state-dir", "--outputs", "--management-api"):
        assert option in serve.stdout


def test_demo_in_process_plays_a_scripted_game_to_its_winner(tmp_path: Path) -> None:
    played = _run("demo", "--in-process", "--state-dir", str(tmp_path))
    assert played.returncode == 0, played.stderr
    assert "winner: alice" in played.stdout
    assert "alice claims bingo" in played.stdout


def test_demo_plays_a_live_game_over_the_local_stack(tmp_path: Path) -> None:
    played = _run("demo", "--state-dir", str(tmp_path), "--pace", "0", "--players", "2")
    assert played.returncode == 0, played.stderr
    assert "claims bingo on cells" in played.stdout
    assert "the board's leaderboard matches the server's" in played.stdout
    assert "Metered:" in played.stdout


def test_serve_on_a_taken_port_fails_with_one_line_and_exit_1(tmp_path: Path) -> None:
    with closing(socket.create_server(("127.0.0.1", 0))) as taken:
        port = str(taken.getsockname()[1])
        failed = _run("serve", "--http-port", port, "--ws-port", "0", "--state-dir", str(tmp_path))
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.startswith("bingo-ops serve: ")
    assert "in use" in failed.stderr


# -- bench conference ------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]


def _module(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # `python -m` from the repository root: this checkout's code, whatever the venv points at.
    return subprocess.run(
        [sys.executable, "-m", "bingo_ops.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
    )


def test_bench_conference_help_lists_the_issues_options() -> None:
    done = _module("bench", "conference", "--help")
    assert done.returncode == 0
    for option in (
        "--players",
        "--games",
        "--boards",
        "--marks-per-minute",
        "--duration",
        "--configs",
        "--board-window",
        "--player-window",
        "--poll-interval",
        "--seed",
    ):
        assert option in done.stdout


def test_bench_conference_rejects_an_unknown_configuration_before_starting_anything() -> None:
    done = _module("bench", "conference", "--configs", "stream,carrier-pigeon", "--quiet")
    assert done.returncode == 2
    assert "carrier-pigeon" in done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_bench_conference_prints_the_runs_json(tmp_path: Path) -> None:
    done = _module(
        "bench",
        "conference",
        "--players",
        "4",
        "--games",
        "1",
        "--boards",
        "1",
        "--marks-per-minute",
        "20",
        "--duration",
        "3",
        "--configs",
        "polling",
        "--poll-interval",
        "1",
        "--seed",
        "5",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["benchmark"] == "conference"
    assert report["scale"]["players"] == 4
    assert set(report["configs"]) == {"polling"}
    polling = report["configs"]["polling"]
    assert polling["metered"]["invocations"]["http_api"] == (
        polling["marks"]["events"] + polling["polls"]["count"]
    )
    assert "stream" in report["summary"]["verdict"]
