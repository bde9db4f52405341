"""A handle on a running stack for notebooks and scripts: its outputs, an admin token, metering.

`open_stack("")` starts a throwaway local stack in the background for one run (and stops it on
`close()`); `open_stack("path/outputs.json")` attaches to a stack someone else deployed, local or
on AWS, and leaves it running.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from backend import wiring
from backend.domain.tokens import TokenKind
from bingo_ops.deploy.fanout import (
    DEFAULT_BOARD_WINDOW_S,
    DEFAULT_FANOUT,
    DEFAULT_PLAYER_WINDOW_S,
)


class StackError(RuntimeError):
    """The stack's outputs are missing or incomplete, or the stack cannot do what was asked."""


def aws_keyrings(outputs: Mapping[str, Any], region: str | None = None) -> dict[str, str]:
    """The token keyrings of an AWS stage, read from SSM Parameter Store (decrypted).

    Args:
        outputs: The deploy's outputs (`parameters` names the SSM parameters, `region`).
        region: Overrides the outputs' region.

    Returns:
        `backend.wiring` keyring variables -> their values.
    """
    import boto3

    ssm = boto3.client("ssm", region_name=region or str(outputs["region"]))
    parameters = outputs["parameters"]
    return {
        wiring.KEY_VARIABLES[kind]: ssm.get_parameter(
            Name=parameters[kind.value], WithDecryption=True
        )["Parameter"]["Value"]
        for kind in TokenKind
    }


def admin_token(
    outputs: Mapping[str, Any],
    *,
    state_dir: str | os.PathLike[str] | None = None,
    subject: str = "bingo-ops",
) -> str:
    """An admin token the stack accepts: from the local state dir's secrets, or SSM on AWS.

    Args:
        outputs: The stack's outputs (`target` says which kind of stack).
        state_dir: The local stack's state dir (default: the outputs' `stateDir`).
        subject: Who the token is for (shows in the stack's logs).

    Raises:
        StackError: The outputs name no target this knows, or a local stack's state dir.
    """
    target = outputs.get("target")
    if target == "local":
        from bingo_ops import tokens

        folder = state_dir if state_dir is not None else outputs.get("stateDir")
        if not folder:
            raise StackError("the local stack's outputs have no stateDir to mint a token from")
        return tokens.mint(Path(folder), "admin", subject=subject)
    if target == "aws":
        service = wiring.build_tokens(aws_keyrings(outputs))
        return service.issue_admin(subject, now=time.time())
    raise StackError(f"unknown target {target!r} in the stack's outputs")


@dataclass
class StackHandle:
    """A stack to run against.

    Attributes:
        outputs: `httpUrl`, `wsUrl`, `target` and the rest of the deploy's outputs.
        owned: True when `open_stack` started this stack and `close()` stops it.
        state_dir: The local stack's state dir (None on AWS).
    """

    outputs: dict[str, Any]
    owned: bool = False
    state_dir: Path | None = None
    _closed: bool = field(default=False, repr=False)
    _temporary: Path | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        """`local` or `aws`."""
        return str(self.outputs.get("target", "local"))

    @property
    def is_local(self) -> bool:
        """Whether this is the local emulator (which meters itself)."""
        return self.target == "local"

    def admin_token(self, subject: str = "bingo-ops") -> str:
        """A fresh admin token for this stack (see `admin_token`)."""
        return admin_token(self.outputs, state_dir=self.state_dir, subject=subject)

    def metrics(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """The local stack's metering now (`GET /_local/metrics`, `Meter.snapshot()` shape).

        Raises:
            StackError: The stack is not local (read CloudWatch instead).
            httpx.HTTPError: The stack did not answer.
        """
        url = self.outputs.get("metricsUrl")
        if not self.is_local or not url:
            raise StackError("only the local stack serves its metering; on AWS read CloudWatch")
        response = httpx.get(str(url), timeout=timeout_s)
        response.raise_for_status()
        snapshot: dict[str, Any] = response.json()
        return snapshot

    def close(self) -> None:
        """Stop the stack if `open_stack` started it; attached stacks keep running."""
        if self._closed:
            return
        self._closed = True
        if self.owned and self.state_dir is not None:
            from bingo_ops.deploy.local import teardown_local

            teardown_local(self.state_dir)
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)

    def __enter__(self) -> StackHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_stack(
    stack: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    fanout: str = DEFAULT_FANOUT,
    board_window_s: float = DEFAULT_BOARD_WINDOW_S,
    player_window_s: float = DEFAULT_PLAYER_WINDOW_S,
    post_jobs: bool = False,
) -> StackHandle:
    """Attach to a deployed stack, or start a local one for this run.

    Args:
        stack: An outputs file (from `bingo-ops deploy`/`serve --outputs`), the outputs
            themselves, or empty/None to start a local stack in the background on free ports.
        state_dir: Where a started stack keeps its state (default: a temporary directory,
            removed on close); for an attached local stack, its state dir if the outputs do
            not say.
        fanout: A started stack's fan-out, `inline` or `stream` (an attached stack keeps its
            own; see `bingo-ops serve --help`).
        board_window_s: A started stream stack's boards window.
        player_window_s: A started stream stack's players window.
        post_jobs: A started stream stack posts players' views in one job per game.

    Returns:
        The handle; use it as a context manager, or call `close()`. A started stack is also
        stopped when the interpreter exits, so a notebook that stops half-way leaks nothing.

    Raises:
        StackError: The outputs file is missing or lacks the URLs.
        bingo_ops.deploy.local.LocalStackError: The local stack did not start.
    """
    if stack is None or (isinstance(stack, str) and not stack.strip()):
        from bingo_ops.deploy.local import LocalOptions, deploy_local

        temporary = None
        if state_dir is None:
            temporary = Path(tempfile.mkdtemp(prefix="bingo-stack-"))
            folder = temporary
        else:
            folder = Path(state_dir)
        options = LocalOptions(
            state_dir=folder,
            http_port=0,
            ws_port=0,
            fanout=fanout,
            board_window_s=board_window_s,
            player_window_s=player_window_s,
            post_jobs=post_jobs,
        )
        deployment = deploy_local(options)
        handle = StackHandle(
            dict(deployment.outputs), owned=deployment.started, state_dir=folder.resolve()
        )
        handle._temporary = temporary
        atexit.register(handle.close)
        return handle
    if isinstance(stack, Mapping):
        outputs = dict(stack)
    else:
        path = Path(stack)
        if not path.is_file():
            raise StackError(f"no outputs file at {path}; deploy first or pass stack=''")
        outputs = json.loads(path.read_text())
    missing = [key for key in ("httpUrl", "wsUrl") if not outputs.get(key)]
    if missing:
        raise StackError(f"the stack's outputs lack {', '.join(missing)}")
    folder_name = state_dir if state_dir is not None else outputs.get("stateDir")
    return StackHandle(outputs, owned=False, state_dir=Path(folder_name) if folder_name else None)
