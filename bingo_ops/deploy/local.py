"""The local stack as a background service: `deploy --target local` starts it, `teardown` stops it.

The stack is `bingo-ops serve` detached from the terminal (its own session, output to
`stack.log`), its pid in `stack.pid` and its outputs in `outputs.json`, all in the state dir.
A second deploy finds it running and reports the same outputs instead of starting another.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bingo_ops.deploy.fanout import (
    DEFAULT_BOARD_WINDOW_S,
    DEFAULT_FANOUT,
    DEFAULT_PLAYER_WINDOW_S,
)

PID_FILE: Final = "stack.pid"
LOG_FILE: Final = "stack.log"
OUTPUTS_FILE: Final = "outputs.json"
LOCK_FILE: Final = "stack.lock"
DEFAULT_START_TIMEOUT_S: Final = 30.0
DEFAULT_STOP_TIMEOUT_S: Final = 15.0
_POLL_S: Final = 0.05
_LOG_TAIL_LINES: Final = 20

# Runs in a throwaway interpreter: starts the stack in a new session and exits at once, so the
# stack is nobody's child (no zombie in a long-lived caller such as a Jupyter kernel, and no
# "still running" warning when the caller's Popen object is collected). `os._exit` skips that
# interpreter's finalisers for the same reason.
_LAUNCHER: Final = """\
import os, subprocess, sys
log = open(sys.argv[1], "ab", buffering=0)
child = subprocess.Popen(
    sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
)
print(child.pid, flush=True)
os._exit(0)
"""


class LocalStackError(RuntimeError):
    """The background stack did not start, or could not be stopped."""


@dataclass(frozen=True)
class LocalOptions:
    """How to run the background stack.

    Attributes:
        state_dir: The stack's state dir: SQLite file, secrets, pid, log and outputs.
        host: Interface to listen on.
        http_port: HTTP API port (0: any free one).
        ws_port: WebSocket API port (0: any free one).
        outputs: Another place to copy the outputs JSON to (it is always in the state dir).
        start_timeout_s: How long to wait for the stack to listen.
        fanout: `inline` or `stream` (see `bingo-ops serve --help`).
        board_window_s: The boards' batching window with `stream`.
        player_window_s: The players' batching window with `stream`.
        post_jobs: With `stream`, post players' views in one job per game (as on AWS).
    """

    state_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 8000
    ws_port: int = 8001
    outputs: Path | None = None
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    fanout: str = DEFAULT_FANOUT
    board_window_s: float = DEFAULT_BOARD_WINDOW_S
    player_window_s: float = DEFAULT_PLAYER_WINDOW_S
    post_jobs: bool = False


@dataclass(frozen=True)
class LocalDeployment:
    """A running background stack.

    Attributes:
        outputs: `httpUrl`, `wsUrl`, `managementUrl`, `metricsUrl` and the rest, as
            `bingo-ops serve --outputs` writes them.
        pid: The stack's process id.
        started: True if this call started it, False if it was already running.
        log: The stack's log file.
        outputs_path: The outputs file in the state dir.
    """

    outputs: dict[str, Any]
    pid: int
    started: bool
    log: Path
    outputs_path: Path


@dataclass(frozen=True)
class LocalTeardown:
    """What stopping the background stack did.

    Attributes:
        pid: The process that was stopped; None when nothing was running.
        forced: True if it ignored SIGTERM and had to be killed.
        summary: What the stack metered, from the end of its log ("" if it printed nothing).
    """

    pid: int | None
    forced: bool = False
    summary: str = ""


@dataclass(frozen=True)
class Paths:
    """The files of a background stack in its state dir."""

    state_dir: Path

    @property
    def pid(self) -> Path:
        """Holds the stack's process id while it runs."""
        return self.state_dir / PID_FILE

    @property
    def log(self) -> Path:
        """The stack's stdout and stderr."""
        return self.state_dir / LOG_FILE

    @property
    def outputs(self) -> Path:
        """The stack's outputs JSON."""
        return self.state_dir / OUTPUTS_FILE

    @property
    def lock(self) -> Path:
        """Serialises deploys and teardowns of this state dir."""
        return self.state_dir / LOCK_FILE


def process_alive(pid: int) -> bool:
    """Whether `pid` exists and has not exited (a zombie has), whatever it runs."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return not (Path("/proc") / "self").exists()  # no procfs (macOS): the signal said yes
    except (OSError, IndexError):
        return False  # it exited while we looked


def _is_stack(pid: int) -> bool:
    """Whether `pid` is a live `bingo-ops serve` process (not a zombie, not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # somebody else's process: the pid was reused
    proc = Path("/proc") / str(pid)
    if not proc.exists():
        return True  # no procfs (macOS): the signal check is all there is
    try:
        # The state follows the parenthesised command name; "Z" is a zombie: it has exited
        # but nobody has reaped it yet (proc(5)).
        state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        command = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False  # it exited while we looked
    arguments = command.split(b"\0")
    return state != "Z" and b"bingo_ops.cli" in arguments and b"serve" in arguments


def running_pid(state_dir: Path) -> int | None:
    """The pid of the background stack of `state_dir` if it is running, else None."""
    try:
        pid = int(Paths(state_dir).pid.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_stack(pid) else None


def read_outputs(path: Path) -> dict[str, Any] | None:
    """An outputs file's JSON object, or None when missing or not (yet) complete."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


@contextlib.contextmanager
def _locked(paths: Paths) -> Iterator[None]:
    # Two deploys at once would both see no stack and start two; flock makes them take turns.
    paths.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines of a log file ("" when there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _copy_outputs(outputs_path: Path, extra: Path | None) -> None:
    if extra is not None and extra.resolve() != outputs_path.resolve():
        extra.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(outputs_path, extra)


def _serve_command(options: LocalOptions, paths: Paths) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bingo_ops.cli",
        "serve",
        "--host",
        options.host,
        "--http-port",
        str(options.http_port),
        "--ws-port",
        str(options.ws_port),
        "--state-dir",
        str(paths.state_dir),
        "--outputs",
        str(paths.outputs),
        "--fanout",
        options.fanout,
        "--board-window",
        str(options.board_window_s),
        "--player-window",
        str(options.player_window_s),
        *(["--post-jobs"] if options.post_jobs else []),
    ]


def _launch(command: list[str], log: Path) -> int:
    """Start `command` detached, its output appended to `log`; returns its pid."""
    launched = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-c", _LAUNCHER, str(log), *command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if launched.returncode != 0:
        raise LocalStackError(f"could not launch the stack: {launched.stderr.strip()}")
    return int(launched.stdout.strip())


def _exiting(pid: int) -> bool:
    """Whether `pid` is still alive but has released its memory, command line included.

    A process on its way out reads as an empty `cmdline` before it turns zombie; it is not
    gone yet, and not somebody else's either.
    """
    try:
        return process_alive(pid) and not (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _is_stack(pid) or _exiting(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return True


def _wait_started(pid: int, paths: Paths, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = read_outputs(paths.outputs)
        if found is not None and found.get("pid") == pid:
            return found
        # Alive is enough here: a process just started may not show its final command line
        # yet, and calling it gone would orphan a stack that is about to listen.
        if not process_alive(pid):
            raise LocalStackError(
                f"the local stack exited before it listened; the end of {paths.log}:\n"
                + log_tail(paths.log)
            )
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            raise LocalStackError(
                f"the local stack did not listen within {timeout_s:.0f} s; the end of "
                f"{paths.log}:\n" + log_tail(paths.log)
            )
        time.sleep(_POLL_S)


def deploy_local(options: LocalOptions) -> LocalDeployment:
    """Start the local stack in the background, or report the one already running.

    Args:
        options: Where its state lives and which ports it listens on.

    Returns:
        Its outputs and pid; `started` says whether this call started it.

    Raises:
        LocalStackError: It exited before listening (a taken port, say) or did not listen in
            time; the message ends with its log's last lines.
    """
    paths = Paths(options.state_dir.resolve())
    with _locked(paths):
        pid = running_pid(paths.state_dir)
        if pid is not None:
            found = _wait_started(pid, paths, options.start_timeout_s)
            _copy_outputs(paths.outputs, options.outputs)
            return LocalDeployment(found, pid, False, paths.log, paths.outputs)
        # Whatever is left describes a stack that is gone.
        paths.pid.unlink(missing_ok=True)
        paths.outputs.unlink(missing_ok=True)
        paths.log.write_bytes(b"")
        paths.log.chmod(0o600)
        pid = _launch(_serve_command(options, paths), paths.log)
        paths.pid.write_text(f"{pid}\n")
        try:
            found = _wait_started(pid, paths, options.start_timeout_s)
        except LocalStackError:
            paths.pid.unlink(missing_ok=True)
            raise
        _copy_outputs(paths.outputs, options.outputs)
        return LocalDeployment(found, pid, True, paths.log, paths.outputs)


def teardown_local(state_dir: Path, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> LocalTeardown:
    """Stop the background stack of `state_dir` (SIGTERM, then SIGKILL after `timeout_s`).

    Stopping what is not running is not an error: the pid file is cleaned up and the result's
    `pid` is None. The state dir's database and secrets stay for the next deploy.

    Args:
        state_dir: The stack's state dir.
        timeout_s: How long it may take to close its connections and exit.

    Raises:
        LocalStackError: It survived SIGKILL.
    """
    paths = Paths(state_dir.resolve())
    with _locked(paths):
        pid = running_pid(paths.state_dir)
        if pid is None:
            paths.pid.unlink(missing_ok=True)
            paths.outputs.unlink(missing_ok=True)
            return LocalTeardown(pid=None)
        # SIGTERM lets it close every connection ($disconnect runs) and print its metering.
        os.kill(pid, signal.SIGTERM)
        forced = not _wait_gone(pid, timeout_s)
        if forced:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not _wait_gone(pid, 5.0):
                raise LocalStackError(f"the local stack (pid {pid}) survived SIGKILL")
        paths.pid.unlink(missing_ok=True)
        paths.outputs.unlink(missing_ok=True)
        return LocalTeardown(pid=pid, forced=forced, summary=_metering(paths.log))


def _metering(log: Path) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    start = text.rfind("Metered:")
    return text[start:].rstrip() if start >= 0 else ""
