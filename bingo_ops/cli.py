"""`bingo-ops`: each subcommand parses its arguments and calls one library function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from bingo_ops import demo  # keep `bingo-ops --help` fast

    result = demo.play(Path(args.state_dir), seed=args.seed)
    demo.render(result, sys.stdout)
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
        help="play a scripted game through the real handlers on a SQLite file",
        description="Play a scripted game in-process through the real Lambda handlers (join, "
        "cards, marks, a refused and a real bingo claim, verification) on a SQLite file, "
        "then print the leaderboard and the event log.",
    )
    demo.add_argument("--state-dir", default=".bingo", help="where the database and secrets live")
    demo.add_argument("--seed", type=int, default=7, help="seed for cards and players' choices")
    demo.set_defaults(run=_demo)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bingo-ops` console script."""
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
