"""`bingo-ops`: each subcommand parses its arguments and calls one library function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# Heavy imports happen inside each command, so `bingo-ops --help` stays instant.


def _demo(args: argparse.Namespace) -> int:
    if args.in_process:
        from bingo_ops import demo

        result = demo.play(Path(args.state_dir), seed=args.seed)
        demo.render(result, sys.stdout)
        return 0
    import asyncio

    from bingo_ops import demo_live

    asyncio.run(
        demo_live.play(
            Path(args.state_dir),
            sys.stdout,
            players=args.players,
            seed=args.seed,
            pace_s=args.pace,
        )
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from bingo_ops.emulator import run

    options = run.options_from(
        state_dir=Path(args.state_dir),
        host=args.host,
        http_port=args.http_port,
        ws_port=args.ws_port,
        management_api=args.management_api,
        idle_timeout_s=args.idle_timeout,
        hard_timeout_s=args.hard_timeout,
        outputs=Path(args.outputs) if args.outputs else None,
    )
    try:
        run.serve_until_signalled(options, sys.stdout)
    except OSError as exc:  # a taken port, an unwritable state dir: the operator's to fix
        print(f"bingo-ops serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _token(args: argparse.Namespace) -> int:
    from bingo_ops import tokens

    print(tokens.mint(Path(args.state_dir), args.kind, subject=args.subject))
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    top = argparse.ArgumentParser(
        prog="bingo-ops",
        description="Run, watch, replay, measure and deploy Buzzword Bingo.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="play a short game over real sockets on the local stack, watched by a board",
        description="Start the local stack, let players (real WebSocket + HTTP clients) play a "
        "short game while a public board shows the live leaderboard, then print what the stack "
        "metered. With --in-process, play a scripted game straight through the handlers "
        "instead (no sockets) and print the leaderboard and the event log.",
    )
    demo.add_argument("--state-dir", default=".bingo", help="where the database and secrets live")
    demo.add_argument("--seed", type=int, default=7, help="seed for cards and players' choices")
    demo.add_argument("--players", type=int, default=6, choices=range(2, 9), metavar="2..8")
    demo.add_argument("--pace", type=float, default=0.25, help="seconds between spoken words")
    demo.add_argument(
        "--in-process", action="store_true", help="drive the handlers directly, no sockets"
    )
    demo.set_defaults(run=_demo)

    serve = sub.add_parser(
        "serve",
        help="run the local stack: WebSocket API, HTTP API and @connections over SQLite",
        description="Run the real handlers behind a local API Gateway: the WebSocket API "
        "(authorizer, $connect, $disconnect, routes on `action`), the HTTP API, the "
        "@connections management API and GET /_local/metrics. Stops cleanly on Ctrl-C or "
        "SIGTERM and prints what was metered.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument("--http-port", type=int, default=8000, help="HTTP port (0: any free)")
    serve.add_argument("--ws-port", type=int, default=8001, help="WebSocket port (0: any free)")
    serve.add_argument(
        "--state-dir",
        default=".bingo",
        help="SQLite file and token secrets (0600), created on first start, reused later",
    )
    serve.add_argument("--outputs", help="write httpUrl, wsUrl, managementUrl, metricsUrl here")
    serve.add_argument(
        "--management-api",
        choices=("inprocess", "http"),
        default="inprocess",
        help="how handlers reach sockets: in-process (fast) or backend's boto3 adapter over "
        "this stack's @connections endpoint (the AWS code path)",
    )
    serve.add_argument(
        "--idle-timeout", type=float, default=600.0, help="seconds (API Gateway: 600)"
    )
    serve.add_argument(
        "--hard-timeout", type=float, default=7200.0, help="seconds (API Gateway: 7200)"
    )
    serve.set_defaults(run=_serve)

    token = sub.add_parser(
        "token",
        help="print an admin or public token signed with the local stack's secrets",
        description="Print a token signed with the secrets in the state dir (created if absent).",
    )
    token.add_argument("kind", choices=("admin", "public"))
    token.add_argument("--state-dir", default=".bingo", help="where the secrets live")
    token.add_argument("--subject", default=None, help="admin name or device id")
    token.set_defaults(run=_token)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bingo-ops` console script."""
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
