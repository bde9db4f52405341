"""Running the local stack in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any, TextIO

from bingo_ops.emulator.server import FanoutOption, ManagementMode, StackOptions, serve_forever


def options_from(
    *,
    state_dir: Path,
    host: str,
    http_port: int,
    ws_port: int,
    management_api: ManagementMode,
    idle_timeout_s: float,
    hard_timeout_s: float,
    outputs: Path | None,
    fanout: FanoutOption = "inline",
    board_window_s: float = 0.0,
    player_window_s: float = 2.0,
    post_jobs: bool = False,
) -> StackOptions:
    """Stack options from the CLI's values."""
    return StackOptions(
        state_dir=state_dir,
        host=host,
        http_port=http_port,
        ws_port=ws_port,
        management_api=management_api,
        idle_timeout_s=idle_timeout_s,
        hard_timeout_s=hard_timeout_s,
        outputs=outputs,
        fanout=fanout,
        board_window_s=board_window_s,
        player_window_s=player_window_s,
        post_jobs=post_jobs,
    )


def summary(snapshot: dict[str, Any]) -> str:
    """A few lines of what the stack metered."""
    lam, ws = snapshot["lambda"], snapshot["websocket"]
    lines = ["Metered:"]
    for name, f in lam["functions"].items():
        lines.append(
            f"  {name:<14} {f['invocations']:>7} invocations  {f['coldStarts']:>3} cold  "
            f"{f['billedMs']:>8} billed ms"
        )
    lines.append(
        f"  WebSocket: {ws['messagesIn']} messages in, {ws['messagesOut']} out, "
        f"{ws['connectionMinutes']:.2f} connection-minutes; HTTP: {snapshot['http']['requests']} "
        "requests"
    )
    for name, m in snapshot.get("eventSourceMappings", {}).items():
        lines.append(
            f"  stream -> {name}: {m['records']} records in {m['batches']} batches, "
            f"{m['retries']} retries, {m['skippedRecords']} records skipped"
        )
    return "\n".join(lines)


def serve_until_signalled(options: StackOptions, out: TextIO) -> dict[str, Any]:
    """Serve until SIGINT or SIGTERM, print the URLs and, at the end, the metering summary."""

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(serve_forever(options, stop, announce=out))
        return await task

    snapshot = asyncio.run(main())
    out.write(summary(snapshot) + "\n")
    return snapshot
