"""The conference benchmark: inline, stream and 3 s polling on the local stack; prints JSON.

Each configuration runs on its own fresh local stack (see `bingo_ops.measure.conference`):
players join and mark at the given rate, every player and board follows its game (WebSocket
push, or polling every T s), and the JSON reports the metered counts of the steady-state span,
staleness per audience, $ per hour, the model's agreement with the metering and the targets.

Usage: python bench/conference.py [--players 2000] [--games 10] [--boards 20]
    [--marks-per-minute 1] [--duration 120] [--configs inline,stream,polling]
    [--board-window 0.25] [--player-window 2.0] [--poll-interval 3] [--seed 1]
    [--sample-players 200]
Run it from the repository root with PYTHONPATH=. so the stack runs this checkout's code.
"""

from __future__ import annotations

import argparse
import json

from bingo_ops.measure.conference import ConferenceSpec, run_conferences

if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--players", type=int, default=2000)
    cli.add_argument("--games", type=int, default=10)
    cli.add_argument("--boards", type=int, default=20)
    cli.add_argument("--marks-per-minute", type=float, default=1.0)
    cli.add_argument("--duration", type=float, default=120.0)
    cli.add_argument("--configs", default="inline,stream,polling")
    cli.add_argument("--board-window", type=float, default=0.25)
    cli.add_argument("--player-window", type=float, default=2.0)
    cli.add_argument("--poll-interval", type=float, default=3.0)
    cli.add_argument("--seed", type=int, default=1)
    cli.add_argument("--sample-players", type=int, default=200)
    cli.add_argument("--wall-cap", type=float, default=600.0, help="seconds per configuration")
    cli.add_argument("--quiet", action="store_true", help="no progress bars")
    args = cli.parse_args()
    spec = ConferenceSpec(
        players=args.players,
        games=args.games,
        boards=args.boards,
        marks_per_minute=args.marks_per_minute,
        duration_s=args.duration,
        board_window_s=args.board_window,
        player_window_s=args.player_window,
        poll_interval_s=args.poll_interval,
        seed=args.seed,
        sample_players=args.sample_players,
        wall_cap_s=args.wall_cap,
    )
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    print(json.dumps(run_conferences(spec, configs, progress=not args.quiet), indent=2))
